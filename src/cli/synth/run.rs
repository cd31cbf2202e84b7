//! `geomaml synth` run: each data set written by the library, then one summary
//! line.

use super::*;

impl SynthArgs {
    /// Generates the requested data set.
    pub fn run(&self) -> Result<ExitCode> {
        match &self.what {
            What::Sen12ms(a) => {
                let opts = sen12ms::Sen12msOptions {
                    regions: choice::choose_regions(&a.regions, a.seed)?,
                    seasons: choice::choose_seasons(&a.seasons)?,
                    patches: a.patches,
                    size: a.size,
                    seed: a.seed,
                    appearance: Appearance::parse(&a.appearance, "--appearance")?,
                };
                let n = sen12ms::generate(&a.out, &opts, a.overwrite, &progress())?;
                let ids: Vec<String> = opts.regions.iter().map(u32::to_string).collect();
                eprintln!(
                    "wrote {n} Sen12MS patch triplets ({} regions: {}; {} seasons; {} px) to {}",
                    opts.regions.len(),
                    ids.join(","),
                    opts.seasons.len(),
                    a.size,
                    a.out.display()
                );
            }
            What::Deepglobe(a) => {
                let n = deepglobe::generate(
                    &a.out,
                    a.images,
                    a.size,
                    a.seed,
                    a.overwrite,
                    &progress(),
                )?;
                eprintln!(
                    "wrote {n} DeepGlobe image/mask pairs ({} px) to {}",
                    a.size,
                    a.out.display()
                );
            }
            What::Scene(a) => {
                let season = choice::choose_seasons(&a.season)?;
                if season.len() != 1 {
                    return Err(crate::Error::config("--season", "give exactly one season"));
                }
                let opts = scene::SceneOptions {
                    region: a.region,
                    season: season[0],
                    size: a.size,
                    points_per_class: a.points,
                    seed: a.seed,
                    appearance: Appearance::parse(&a.appearance, "--appearance")?,
                };
                let s = scene::generate(&a.out, &opts, a.overwrite)?;
                eprintln!(
                    "wrote scene of region {} ({} px, {} classes, {} labelled points, {} nodata px) to {}",
                    a.region,
                    a.size,
                    s.classes.len(),
                    s.points,
                    s.nodata_pixels,
                    a.out.display()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
