//! `geomaml map` run: a manifest goes to batch mode ([`super::manifest`]); one
//! scene has its outputs checked first, the model adapted when asked, then one
//! library call.

use super::*;

impl MapArgs {
    /// Maps the scene; prints a summary.
    #[cfg(feature = "infer")]
    pub fn run(&self) -> Result<ExitCode> {
        if let Some(manifest) = &self.manifest {
            return self.run_batch(manifest);
        }
        let scene = self.scene()?;
        let mut inputs = vec![self.model.as_path(), scene.as_path()];
        inputs.extend(self.adapt.labels.as_deref());
        crate::infer::mapper::check_outputs(&self.output, self.overwrite, scene, &inputs)?;
        // A .safetensors model is adapted to the scene first; the adapted ONNX model
        // lives beside the output only while mapping.
        let adaptation = self
            .adapt
            .adaptation(&self.model, scene, self.map.bands.clone())?;
        let mut model = crate::cli::adapt_report::resolve_model(
            &self.model,
            adaptation,
            crate::map_model::Unadapted::Refuse,
            &self.output,
        )?;
        let cfg = crate::infer::MapConfig {
            request: crate::infer::MapRequest {
                recorded_model: Some(self.model.clone()),
                ..self.map.request(&model.onnx, scene, self.options())
            },
            output: self.output.clone(),
            cog: self.cog,
            overwrite: self.overwrite,
            progress: true,
        };
        let s = crate::infer::map_scene(&cfg)?;
        eprintln!(
            "mapped {}x{} px into {}x{} ({} windows) in {:.1} s, {:.2} Mpx/s: {}",
            s.scene_size.0,
            s.scene_size.1,
            s.map_size.0,
            s.map_size.1,
            s.windows,
            s.seconds,
            s.megapixels_per_s,
            s.output.display()
        );
        // The adaptation's accuracy estimate, once the map is written.
        crate::cli::adapt_report::report_model_accuracy(&mut model)?;
        if self.json {
            println!("{}", serde_json::to_string(&s).expect("summary serialises"));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The map options the flags ask for.
    #[cfg(feature = "infer")]
    pub(super) fn options(&self) -> crate::infer::MapOptions {
        let outputs = crate::infer::MapOptions {
            probabilities: self.probabilities,
            confidence: self.confidence,
            min_confidence: self.min_confidence,
            ..Default::default()
        };
        self.map.options(self.adapt.min_valid, outputs)
    }

    /// The scene (clap requires it unless --manifest is given).
    #[cfg(feature = "infer")]
    fn scene(&self) -> Result<&PathBuf> {
        self.scene
            .as_ref()
            .ok_or_else(|| crate::Error::config("SCENE", "give the scene to map, or --manifest"))
    }

    /// Without the `infer` feature: a clear error.
    #[cfg(not(feature = "infer"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(crate::cli::feature_missing("map", "infer"))
    }
}
