//! The models `geomaml evaluate` compares, loaded from what the command line names
//! (checkpoints, or `random` for a randomly initialised one).

use super::*;

/// The models of `plan` (checkpoints first: they fix the bands; then `random`, with
/// the checkpoints' width and depth), checked against the catalog and each other,
/// and the task loader for their bands.
pub(super) fn load_models<'c>(
    plan: &EvaluatePlan,
    catalog: &'c Catalog,
    classes: &[crate::catalog::classes::ClassInfo],
    segmentation: bool,
    device: tch::Device,
) -> Result<(Vec<EvalModel>, TaskLoader<'c>)> {
    let catalog_name = plan.catalog.display().to_string();
    let mut models: Vec<EvalModel> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let unique = |base: String, names: &mut Vec<String>| {
        let mut name = base.clone();
        let mut i = 2;
        while names.contains(&name) {
            name = format!("{base}-{i}");
            i += 1;
        }
        names.push(name.clone());
        name
    };
    let mut slots: Vec<Option<EvalModel>> = Vec::new();
    for m in &plan.models {
        if m == "random" {
            slots.push(None);
            continue;
        }
        let path = Path::new(m);
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| m.clone());
        let model = EvalModel::from_checkpoint(path, unique(stem, &mut names), device)?;
        let spec = model.params.spec();
        if spec.tile_size != catalog.tile_size as usize {
            return Err(Error::model(
                path,
                format!(
                    "trained on {} px tiles, the catalog has {} px tiles",
                    spec.tile_size, catalog.tile_size
                ),
            ));
        }
        if spec.is_segmentation() != segmentation {
            return Err(Error::model(
                path,
                format!(
                    "a {} model cannot be evaluated on a {} catalog",
                    if spec.is_segmentation() {
                        "segmentation"
                    } else {
                        "classification"
                    },
                    catalog.kind
                ),
            ));
        }
        if let Some(first) = slots.iter().flatten().next() {
            if first.bands != model.bands {
                return Err(Error::model(
                    path,
                    format!(
                        "reads bands {:?}, model `{}` reads {:?}; evaluate models of one band set together",
                        model.bands, first.name, first.bands
                    ),
                ));
            }
            if first.standardise_bands != model.standardise_bands {
                return Err(Error::model(
                    path,
                    format!(
                        "reads bands {}standardised over each task, model `{}` {}; evaluate \
                         models of one input together",
                        if model.standardise_bands { "" } else { "not " },
                        first.name,
                        if first.standardise_bands {
                            "does"
                        } else {
                            "does not"
                        }
                    ),
                ));
            }
        }
        slots.push(Some(model));
    }
    let mut options = LoaderOptions::for_kind(catalog.kind);
    if let Some(first) = slots.iter().flatten().next() {
        options.bands = first.bands.clone();
        options.standardise_bands = first.standardise_bands;
    }
    let standardise_bands = options.standardise_bands;
    let loader = TaskLoader::new(catalog, options)?;
    // `random` starts from the network the checkpoints have (width, depth), so only
    // the weights differ; without checkpoints, from what `train` would build.
    let template = slots
        .iter()
        .flatten()
        .next()
        .map(|m| m.params.spec().clone());
    for slot in slots {
        match slot {
            Some(m) => models.push(m),
            None => {
                let bands = loader.bands().to_vec();
                let info = DataInfo {
                    normalisation: bands.iter().map(|b| default_normalisation(b)).collect(),
                    bands: bands.clone(),
                    classes: classes.to_vec(),
                    tile_size: catalog.tile_size as usize,
                    segmentation,
                    resolution_m: if segmentation { 0.5 } else { 10.0 },
                    catalog: Some(catalog_name.clone()),
                };
                let mut spec = choose_spec(&TrainConfig::default(), &info)?;
                if let Some(t) = &template {
                    spec.arch = t.arch;
                    spec.width = t.width;
                    spec.depth = t.depth;
                }
                let mut m = EvalModel::random(&spec, classes, bands, device, plan.seed)?;
                m.standardise_bands = standardise_bands;
                m.name = unique("random".into(), &mut names);
                models.push(m);
            }
        }
    }

    Ok((models, loader))
}
