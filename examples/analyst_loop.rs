//! The analyst's loop as a measured experiment: label, adapt, map, choose where to
//! label next, and again, with the next labels chosen by `geomaml suggest` or at
//! random, on scenes whose every pixel's class is known.
//!
//! Each scene folder holds `scene.tif` and `truth.tif` (as `geomaml synth scene`
//! writes them). Per scene and seed, every strategy starts from the same labels (one
//! random pixel per class of the truth that the model knows); each round adds
//! `--per-round` labels whose classes are read from the truth, adapts the
//! meta-trained model on all labels so far (`geomaml adapt`), maps the scene and
//! scores the map against the truth (`geomaml assess`). Writes `rounds.csv` (one
//! line per map), `summary.csv` (mean and standard deviation over scenes and seeds
//! per strategy and nominal labels added), `edges.csv` (accuracy, judged as `geomaml
//! assess` judges it, by the distance of a map cell to the nearest truth pixel of
//! another class: where the errors are; empty where a band has no cell) and
//! `loop.svg`/`loop.png`.
//!
//! ```sh
//! cargo run --release --example analyst_loop -- --model out/demo/maml.safetensors \
//!     --scene out/demo/scene --rounds 4 --per-round 8 --seeds 3 --out out/loop
//! ```
//!
//! Other options: `--geomaml PATH` (default: the `geomaml` beside this example's
//! folder), `--inner-steps N` (default 20), `--strategies suggest,random,oracle`
//! (default `suggest,random`). `oracle` is a reference, not a strategy: it labels
//! random pixels that the last map gets wrong, which only someone holding the truth
//! can do, to show what labelling the map's errors is worth. It is no upper bound:
//! a pixel is wrong when its cell's class differs from its own, so it favours the
//! minority pixels of cells across class edges.

use gdal::Dataset;
use geomaml::eval::plot::{line_chart_svg, Panel, Series};
use geomaml::eval::png::svg_to_png;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

type Fail = Box<dyn std::error::Error>;
/// `(labels added, mean, standard deviation)` points of one strategy.
type Curve = Vec<(f64, f64, f64)>;

struct Args {
    geomaml: PathBuf,
    model: PathBuf,
    scenes: Vec<PathBuf>,
    rounds: usize,
    per_round: usize,
    seeds: u64,
    inner_steps: usize,
    strategies: Vec<String>,
    out: PathBuf,
}

fn parse() -> Result<Args, Fail> {
    let mut a = Args {
        geomaml: std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("geomaml"))
            .unwrap_or_else(|| "geomaml".into()),
        model: PathBuf::new(),
        scenes: Vec::new(),
        rounds: 4,
        per_round: 8,
        seeds: 3,
        inner_steps: 20,
        strategies: vec!["suggest".into(), "random".into()],
        out: "out/loop".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--geomaml" => a.geomaml = value()?.into(),
            "--model" => a.model = value()?.into(),
            "--scene" => a.scenes.push(value()?.into()),
            "--rounds" => a.rounds = value()?.parse()?,
            "--per-round" => a.per_round = value()?.parse()?,
            "--seeds" => a.seeds = value()?.parse()?,
            "--inner-steps" => a.inner_steps = value()?.parse()?,
            "--strategies" => a.strategies = value()?.split(',').map(String::from).collect(),
            "--out" => a.out = value()?.into(),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if let Some(s) = a
        .strategies
        .iter()
        .find(|s| !["suggest", "random", "oracle"].contains(&s.as_str()))
    {
        return Err(
            format!("--strategies: unknown strategy `{s}` (suggest, random, oracle)").into(),
        );
    }
    if a.model.as_os_str().is_empty() || a.scenes.is_empty() {
        return Err("give --model M.safetensors and at least one --scene DIR".into());
    }
    Ok(a)
}

/// A scene with its truth: pixels per class, and the grid.
struct Truth {
    scene: PathBuf,
    width: usize,
    classes: Vec<u8>,
    gt: [f64; 6],
    wkt: String,
    /// Per pixel, the distance in pixels (Chebyshev) to the nearest pixel of another
    /// class: 1 on a class edge.
    edge_distance: Vec<u32>,
}

/// `part / whole` with 4 decimals, or nothing when `whole` is 0 (a band without
/// cells has no accuracy).
fn share(part: usize, whole: usize) -> String {
    if whole == 0 {
        String::new()
    } else {
        format!("{:.4}", part as f64 / whole as f64)
    }
}

/// Upper bounds (pixels) of the distance-to-edge bands the maps are scored in.
const EDGE_BANDS: [u32; 4] = [2, 5, 10, u32::MAX];

/// Chebyshev distance to the nearest pixel of another class (nodata, 0, is none), by
/// two chamfer passes over the 8-neighbourhood (exact for this metric).
fn edge_distance(classes: &[u8], w: usize) -> Vec<u32> {
    let h = classes.len() / w;
    let at = |x: isize, y: isize| -> Option<usize> {
        (x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h)
            .then(|| y as usize * w + x as usize)
    };
    let mut d = vec![u32::MAX / 2; classes.len()];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            // Nodata (0) is no class: the edge of the scene's valid area is not a
            // class edge.
            let edge = (-1..=1).any(|dy| {
                (-1..=1).any(|dx| {
                    at(x + dx, y + dy).is_some_and(|j| classes[j] != 0 && classes[j] != classes[i])
                })
            });
            if edge {
                d[i] = 1;
            }
        }
    }
    let passes: [(&[(isize, isize)], bool); 2] = [
        (&[(-1, -1), (0, -1), (1, -1), (-1, 0)], false),
        (&[(1, 1), (0, 1), (-1, 1), (1, 0)], true),
    ];
    for (neighbours, backwards) in passes {
        for k in 0..classes.len() {
            let i = if backwards { classes.len() - 1 - k } else { k };
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for &(dx, dy) in neighbours {
                if let Some(j) = at(x + dx, y + dy) {
                    d[i] = d[i].min(d[j] + 1);
                }
            }
        }
    }
    d
}

impl Truth {
    fn open(dir: &Path) -> Result<Self, Fail> {
        let ds = Dataset::open(dir.join("truth.tif"))?;
        let (w, h) = ds.raster_size();
        let classes = ds
            .rasterband(1)?
            .read_as::<u8>((0, 0), (w, h), (w, h), None)?;
        Ok(Truth {
            scene: dir.join("scene.tif"),
            width: w,
            edge_distance: edge_distance(classes.data(), w),
            classes: classes.data().to_vec(),
            gt: ds.geo_transform()?,
            wkt: ds.spatial_ref()?.to_wkt()?,
        })
    }

    /// Index of the truth pixel under world point `(x, y)`, if inside.
    fn index(&self, x: f64, y: f64) -> Option<usize> {
        pixel_index(&self.gt, self.width, self.classes.len() / self.width, x, y)
    }

    fn class_at(&self, x: f64, y: f64) -> Option<u8> {
        self.index(x, y)
            .map(|i| self.classes[i])
            .filter(|&c| c != 0)
    }

    /// The map at `map` scored per distance-to-edge band ([`EDGE_BANDS`]): (correct,
    /// scored) cells. As `geomaml assess` does, a cell is judged against the truth
    /// class most of its k x k sample points fall on (k: cell size over truth pixel
    /// size; ties to the lower class id); its distance is the smallest of those
    /// pixels' distances to another class. Map and truth nodata cells are skipped.
    fn by_edge_distance(&self, map: &MapGrid) -> [(usize, usize); 4] {
        let k = ((map.gt[1] / self.gt[1]).abs().round() as usize).clamp(1, 8);
        let mut out = [(0, 0); 4];
        for (cell, &m) in map.cells.iter().enumerate() {
            if map.nodata == Some(f64::from(m)) {
                continue;
            }
            let (mut votes, mut nearest) = (BTreeMap::<u8, usize>::new(), u32::MAX);
            for sy in 0..k {
                for sx in 0..k {
                    let col = (cell % map.width) as f64 + (sx as f64 + 0.5) / k as f64;
                    let row = (cell / map.width) as f64 + (sy as f64 + 0.5) / k as f64;
                    let (x, y) = (map.gt[0] + col * map.gt[1], map.gt[3] + row * map.gt[5]);
                    if let Some(i) = self.index(x, y).filter(|&i| self.classes[i] != 0) {
                        *votes.entry(self.classes[i]).or_default() += 1;
                        nearest = nearest.min(self.edge_distance[i]);
                    }
                }
            }
            let Some(truth) = votes
                .iter()
                .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
                .map(|(id, _)| *id)
            else {
                continue;
            };
            let b = EDGE_BANDS
                .iter()
                .position(|&b| nearest <= b)
                .expect("the last band is unbounded");
            out[b].0 += usize::from(m == truth);
            out[b].1 += 1;
        }
        out
    }

    fn world(&self, i: usize) -> (f64, f64) {
        let (c, r) = ((i % self.width) as f64 + 0.5, (i / self.width) as f64 + 0.5);
        (self.gt[0] + c * self.gt[1], self.gt[3] + r * self.gt[5])
    }
}

/// Index of the pixel under world point `(x, y)` in a `w` x `h` grid with
/// geotransform `gt`, if inside.
fn pixel_index(gt: &[f64; 6], w: usize, h: usize, x: f64, y: f64) -> Option<usize> {
    let col = ((x - gt[0]) / gt[1]).floor();
    let row = ((y - gt[3]) / gt[5]).floor();
    (col >= 0.0 && row >= 0.0 && (col as usize) < w && (row as usize) < h)
        .then(|| row as usize * w + col as usize)
}

/// A written map: its cells, grid and nodata value.
struct MapGrid {
    width: usize,
    height: usize,
    gt: [f64; 6],
    nodata: Option<f64>,
    cells: Vec<u8>,
}

impl MapGrid {
    fn open(path: &Path) -> Result<Self, Fail> {
        let ds = Dataset::open(path)?;
        let (width, height) = ds.raster_size();
        let band = ds.rasterband(1)?;
        Ok(MapGrid {
            width,
            height,
            gt: ds.geo_transform()?,
            nodata: band.no_data_value(),
            cells: band
                .read_as::<u8>((0, 0), (width, height), (width, height), None)?
                .data()
                .to_vec(),
        })
    }

    /// The map's class at world point `(x, y)`; `None` outside or on nodata.
    fn class_at(&self, x: f64, y: f64) -> Option<u8> {
        pixel_index(&self.gt, self.width, self.height, x, y)
            .map(|i| self.cells[i])
            .filter(|&m| self.nodata != Some(f64::from(m)))
    }
}

/// A label: world position and class id.
type Label = (f64, f64, u8);

fn write_labels(path: &Path, labels: &[Label], t: &Truth) -> Result<(), Fail> {
    let srs = gdal::spatial_ref::SpatialRef::from_wkt(&t.wkt)?;
    let crs = match (srs.auth_name(), srs.auth_code()) {
        (Some(n), Ok(c)) => format!(
            r#""crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:{n}::{c}"}}}},"#
        ),
        _ => return Err("the truth raster's CRS has no EPSG code".into()),
    };
    let features: Vec<String> = labels
        .iter()
        .map(|(x, y, c)| {
            format!(r#"{{"type":"Feature","properties":{{"class":{c}}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}"#)
        })
        .collect();
    std::fs::write(
        path,
        format!(
            r#"{{"type":"FeatureCollection",{crs}"features":[{}]}}"#,
            features.join(",")
        ),
    )?;
    Ok(())
}

fn run(cmd: &mut Command) -> Result<String, Fail> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A map's accuracy, kappa, and (correct, scored) cells per distance-to-edge band.
type Score = (f64, f64, [(usize, usize); 4]);

/// Adapts on `labels`, maps, scores; also returns the map.
fn score(a: &Args, t: &Truth, labels: &[Label], work: &Path) -> Result<(Score, MapGrid), Fail> {
    let (lab, onnx, map) = (
        work.join("labels.geojson"),
        work.join("adapted.onnx"),
        work.join("map.tif"),
    );
    write_labels(&lab, labels, t)?;
    run(Command::new(&a.geomaml)
        .args([
            "adapt",
            "--no-cross-validation",
            "--device",
            "cpu",
            "--overwrite",
        ])
        .args(["--inner-steps", &a.inner_steps.to_string(), "--model"])
        .arg(&a.model)
        .arg("--scene")
        .arg(&t.scene)
        .arg("--labels")
        .arg(&lab)
        .arg("-o")
        .arg(&onnx))?;
    run(Command::new(&a.geomaml)
        .args(["map", "--overwrite", "--model"])
        .arg(&onnx)
        .arg(&t.scene)
        .arg("-o")
        .arg(&map))?;
    let json = run(Command::new(&a.geomaml)
        .args(["assess", "--json", "--reference"])
        .arg(t.scene.with_file_name("truth.tif"))
        .arg(&map))?;
    let v: serde_json::Value = serde_json::from_str(&json)?;
    let map = MapGrid::open(&map)?;
    let scored = (
        v["overall_accuracy"].as_f64().unwrap_or(f64::NAN),
        v["kappa"].as_f64().unwrap_or(f64::NAN),
        t.by_edge_distance(&map),
    );
    Ok((scored, map))
}

/// Up to `n` labels at pixels `pick` gives for uniform draws from `0..draws`
/// (`None`: draw again), away from the labels so far, classes read from the truth.
fn draw_labels(
    t: &Truth,
    have: &[Label],
    n: usize,
    draws: usize,
    pick: impl Fn(usize) -> Option<usize>,
    rng: &mut impl Rng,
) -> Vec<Label> {
    let mut out = Vec::new();
    for _ in 0..n * 1000 {
        if out.len() == n || draws == 0 {
            break;
        }
        let Some(i) = pick(rng.random_range(0..draws)) else {
            continue;
        };
        let (x, y) = t.world(i);
        if !have.iter().chain(&out).any(|l| l.0 == x && l.1 == y) {
            out.push((x, y, t.classes[i]));
        }
    }
    out
}

/// `n` random labelled pixels of the truth, away from the labels so far.
fn random_labels(t: &Truth, have: &[Label], n: usize, rng: &mut impl Rng) -> Vec<Label> {
    let pick = |i: usize| (t.classes[i] != 0).then_some(i);
    draw_labels(t, have, n, t.classes.len(), pick, rng)
}

/// `n` random pixels (of the truth's classes) that the last map, where it has a
/// value, gives another class: labels on the map's errors, which only someone
/// holding the truth can place (a reference, not a strategy).
fn oracle_labels(
    t: &Truth,
    have: &[Label],
    n: usize,
    map: &MapGrid,
    rng: &mut impl Rng,
) -> Vec<Label> {
    let wrong: Vec<usize> = (0..t.classes.len())
        .filter(|&i| {
            let (x, y) = t.world(i);
            t.classes[i] != 0 && map.class_at(x, y).is_some_and(|m| m != t.classes[i])
        })
        .collect();
    draw_labels(t, have, n, wrong.len(), |i| Some(wrong[i]), rng)
}

/// `n` places from `geomaml suggest`, their classes read from the truth.
fn suggested_labels(
    a: &Args,
    t: &Truth,
    have: &[Label],
    n: usize,
    seed: u64,
    work: &Path,
) -> Result<Vec<Label>, Fail> {
    let (lab, onnx, next) = (
        work.join("labels.geojson"),
        work.join("adapted.onnx"),
        work.join("next.geojson"),
    );
    write_labels(&lab, have, t)?;
    run(Command::new(&a.geomaml)
        .args([
            "suggest",
            "--overwrite",
            "-n",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
            "--model",
        ])
        .arg(&onnx)
        .arg(&t.scene)
        .arg("--labels")
        .arg(&lab)
        .arg("-o")
        .arg(&next))?;
    let ds = Dataset::open(&next)?;
    let mut layer = ds.layer(0)?;
    use gdal::vector::LayerAccess;
    let mut out = Vec::new();
    for f in layer.features() {
        let (x, y, _) = f
            .geometry()
            .ok_or("a suggestion without a point")?
            .get_point(0);
        if let Some(c) = t.class_at(x, y) {
            out.push((x, y, c));
        }
    }
    Ok(out)
}

fn main() -> Result<(), Fail> {
    let a = parse()?;
    std::fs::create_dir_all(&a.out)?;
    let known: Vec<u8> = geomaml::checkpoint::Checkpoint::load(&a.model)?
        .card
        .classes
        .iter()
        .map(|c| c.id as u8)
        .collect();
    let mut rows = String::from(
        "strategy,scene,seed,round,labels,accuracy,kappa,accuracy_edge_1_2,accuracy_edge_3_5,accuracy_edge_6_10,accuracy_edge_over_10\n",
    );
    // (strategy, round) -> scores over scenes and seeds.
    let mut results: BTreeMap<(String, usize), Vec<Score>> = BTreeMap::new();
    for (s, dir) in a.scenes.iter().enumerate() {
        let t = Truth::open(dir)?;
        for seed in 0..a.seeds {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed * 1000 + s as u64);
            // One random pixel per class of the truth that the model knows.
            let mut start: Vec<Label> = Vec::new();
            for &c in &known {
                let pixels: Vec<usize> = (0..t.classes.len())
                    .filter(|&i| t.classes[i] == c)
                    .collect();
                if !pixels.is_empty() {
                    let (x, y) = t.world(pixels[rng.random_range(0..pixels.len())]);
                    start.push((x, y, c));
                }
            }
            for strategy in a.strategies.iter().map(String::as_str) {
                let work = a.out.join(format!("work_{s}_{seed}_{strategy}"));
                std::fs::create_dir_all(&work)?;
                let mut labels = start.clone();
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed * 7919 + s as u64);
                // The map of the round before, which the oracle reads.
                let mut last_map: Option<MapGrid> = None;
                for round in 0..=a.rounds {
                    if round > 0 {
                        let more = match strategy {
                            "suggest" => {
                                suggested_labels(&a, &t, &labels, a.per_round, seed, &work)?
                            }
                            "oracle" => {
                                let map = last_map.as_ref().expect("round 0 wrote a map");
                                oracle_labels(&t, &labels, a.per_round, map, &mut rng)
                            }
                            _ => random_labels(&t, &labels, a.per_round, &mut rng),
                        };
                        labels.extend(more);
                    }
                    let (scored, map) = score(&a, &t, &labels, &work)?;
                    last_map = Some(map);
                    let (acc, kappa, edges) = scored;
                    eprintln!(
                        "{strategy:8} scene {} seed {seed} round {round}: {} labels, accuracy {:.1} %, kappa {kappa:.3}",
                        dir.display(),
                        labels.len(),
                        100.0 * acc
                    );
                    let by_band: Vec<String> = edges.iter().map(|&(ok, n)| share(ok, n)).collect();
                    writeln!(
                        rows,
                        "{strategy},{},{seed},{round},{},{acc:.4},{kappa:.4},{}",
                        dir.display(),
                        labels.len(),
                        by_band.join(",")
                    )?;
                    results
                        .entry((strategy.into(), round))
                        .or_default()
                        .push(scored);
                }
            }
        }
    }
    std::fs::write(a.out.join("rounds.csv"), &rows)?;
    // Summary: mean and standard deviation per strategy and round.
    let stats = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd =
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt();
        (m, sd)
    };
    let mut summary = String::from(
        "strategy,round,labels_added,accuracy_mean,accuracy_sd,kappa_mean,kappa_sd,runs\n",
    );
    let mut series: BTreeMap<String, (Curve, Curve)> = BTreeMap::new();
    for ((strategy, round), v) in &results {
        let (am, asd) = stats(&v.iter().map(|r| r.0).collect::<Vec<_>>());
        let (km, ksd) = stats(&v.iter().map(|r| r.1).collect::<Vec<_>>());
        let added = round * a.per_round;
        writeln!(
            summary,
            "{strategy},{round},{added},{am:.4},{asd:.4},{km:.4},{ksd:.4},{}",
            v.len()
        )?;
        let e = series.entry(strategy.clone()).or_default();
        e.0.push((added as f64, 100.0 * am, 100.0 * asd));
        e.1.push((added as f64, km, ksd));
    }
    std::fs::write(a.out.join("summary.csv"), &summary)?;
    // Where the errors are: accuracy per distance-to-edge band, cells pooled over
    // scenes and seeds.
    let mut edges = String::from("strategy,round,labels_added,band_px,cells_share,accuracy\n");
    for ((strategy, round), v) in &results {
        let total: usize = v.iter().flat_map(|r| r.2.iter().map(|b| b.1)).sum();
        let mut lower = 1;
        for (b, &upper) in EDGE_BANDS.iter().enumerate() {
            let (ok, n) = v
                .iter()
                .fold((0, 0), |acc, r| (acc.0 + r.2[b].0, acc.1 + r.2[b].1));
            let band = if upper == u32::MAX {
                format!("{lower}+")
            } else {
                format!("{lower}-{upper}")
            };
            writeln!(
                edges,
                "{strategy},{round},{},{band},{},{}",
                round * a.per_round,
                share(n, total),
                share(ok, n)
            )?;
            lower = upper.saturating_add(1);
        }
    }
    std::fs::write(a.out.join("edges.csv"), &edges)?;
    print!("{summary}");
    let panel = |title: &str, range: (f64, f64), pick: &dyn Fn(&(Curve, Curve)) -> Curve| Panel {
        title: title.into(),
        y_range: range,
        series: series
            .iter()
            .map(|(name, s)| Series {
                name: format!("{name} (± 1 sd)"),
                points: pick(s),
            })
            .collect(),
    };
    let svg = line_chart_svg(
        &[
            panel("map accuracy (%)", (0.0, 100.0), &|s| s.0.clone()),
            panel("kappa", (0.0, 1.0), &|s| s.1.clone()),
        ],
        "labels added to one per class",
    );
    std::fs::write(a.out.join("loop.svg"), &svg)?;
    std::fs::write(a.out.join("loop.png"), svg_to_png(&svg)?)?;
    eprintln!(
        "wrote rounds.csv, summary.csv, edges.csv, loop.svg and loop.png to {}",
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::edge_distance;

    #[test]
    fn edge_distance_is_chebyshev_distance_to_another_class() {
        // A 7 x 5 field of class 1 with one pixel of class 2 at (5, 2).
        let (w, h) = (7, 5);
        let mut classes = vec![1u8; w * h];
        classes[2 * w + 5] = 2;
        let d = edge_distance(&classes, w);
        let at = |x: usize, y: usize| d[y * w + x];
        assert_eq!(at(5, 2), 1); // the odd pixel: its neighbours differ
        assert_eq!(at(4, 1), 1); // diagonal neighbour of it
        assert_eq!(at(3, 2), 2);
        assert_eq!(at(3, 0), 2); // max(|3-5|, |0-2|)
        assert_eq!(at(0, 4), 5);
        assert_eq!(at(0, 0), 5);
    }
}
