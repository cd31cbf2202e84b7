//! Matching a scene's bands to the bands a model card lists.
//!
//! Without `--bands`, each card band is looked up by name among the scene's band
//! descriptions (case-insensitive; GDAL colour interpretations `Red`, `Green`,
//! `Blue` stand for `R`, `G`, `B`). A scene whose bands carry no names at all is
//! taken in order when it has exactly as many bands as the card. `--bands` lists
//! scene bands (1-based indices or names) in the card's order.
//!
//! An alpha band (colour interpretation `Alpha`, as `gdalbuildvrt -addalpha` and
//! RGBA images have) is the scene's mask, read by the pixel pipeline
//! ([`crate::pixels::mask`]), never a model input: it is neither matched by name nor
//! counted when bands are taken in order.

use crate::error::{Error, Result};

/// A scene band as the matcher sees it: its description and colour interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SceneBand {
    /// GDAL band description (may be empty).
    pub description: String,
    /// GDAL colour interpretation name (`Red`, `Gray`, `Undefined`, ...).
    pub color: String,
}

impl SceneBand {
    /// Whether the band is an alpha band (a mask, not data).
    pub fn is_alpha(&self) -> bool {
        self.color.eq_ignore_ascii_case("alpha")
    }

    fn names(&self) -> Vec<String> {
        if self.is_alpha() {
            return Vec::new();
        }
        let alias = match self.color.to_ascii_lowercase().as_str() {
            "red" => "R",
            "green" => "G",
            "blue" => "B",
            _ => "",
        };
        [self.description.as_str(), alias]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_uppercase())
            .collect()
    }

    fn label(&self) -> String {
        if self.description.is_empty() {
            self.color.clone()
        } else {
            self.description.clone()
        }
    }
}

/// The bands of `raster` as the matcher sees them.
pub fn scene_bands(raster: &super::Raster) -> Vec<SceneBand> {
    let names = raster.band_descriptions();
    (1..=raster.band_count())
        .map(|b| SceneBand {
            description: names[b - 1].clone(),
            color: raster
                .dataset()
                .rasterband(b)
                .map(|band| band.color_interpretation().name())
                .unwrap_or_default(),
        })
        .collect()
}

/// Whether [`resolve_bands`] takes the scene's bands by position: no `--bands`,
/// and some card band has no scene band of its name. Nothing then says that band 1
/// is the card's first band, so `map` and `adapt` warn ([`crate::pixels::checks`]).
pub fn taken_by_position(card_bands: &[String], scene: &[SceneBand], spec: Option<&str>) -> bool {
    spec.is_none()
        && !card_bands.iter().all(|name| {
            let name = name.to_ascii_uppercase();
            scene.iter().any(|b| b.names().contains(&name))
        })
}

/// The 1-based scene band feeding each card band, in card order.
pub fn resolve_bands(
    card_bands: &[String],
    scene: &[SceneBand],
    spec: Option<&str>,
) -> Result<Vec<usize>> {
    let mismatch = || Error::Bands {
        expected: card_bands.to_vec(),
        got: scene
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{}:{}", i + 1, b.label()))
            .collect(),
    };
    let find = |name: &str| {
        scene
            .iter()
            .position(|b| b.names().contains(&name.to_ascii_uppercase()))
            .map(|i| i + 1)
    };
    if let Some(spec) = spec {
        let items: Vec<&str> = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.len() != card_bands.len() {
            return Err(Error::config(
                "--bands",
                format!(
                    "lists {} bands; the model reads {} ({})",
                    items.len(),
                    card_bands.len(),
                    card_bands.join(",")
                ),
            ));
        }
        return items
            .iter()
            .map(|item| match item.parse::<usize>() {
                Ok(i) if (1..=scene.len()).contains(&i) => Ok(i),
                Ok(i) => Err(Error::config(
                    "--bands",
                    format!(
                        "band {i} does not exist; the scene has {} bands",
                        scene.len()
                    ),
                )),
                Err(_) => find(item).ok_or_else(|| {
                    Error::config("--bands", format!("the scene has no band named {item}"))
                }),
            })
            .collect();
    }
    if let Some(found) = card_bands
        .iter()
        .map(|b| find(b))
        .collect::<Option<Vec<_>>>()
    {
        return Ok(found);
    }
    let data: Vec<usize> = (1..=scene.len())
        .filter(|&i| !scene[i - 1].is_alpha())
        .collect();
    let unnamed = data.iter().all(|&i| scene[i - 1].description.is_empty());
    if unnamed && data.len() == card_bands.len() {
        return Ok(data);
    }
    Err(mismatch())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(d: &str, c: &str) -> SceneBand {
        SceneBand {
            description: d.into(),
            color: c.into(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bands_match_by_name_in_any_order() {
        let scene = [
            band("B04", "Gray"),
            band("B02", "Undefined"),
            band("B03", "Undefined"),
        ];
        assert_eq!(
            resolve_bands(&names(&["b02", "B03", "B04"]), &scene, None).unwrap(),
            vec![2, 3, 1]
        );
    }

    #[test]
    fn colour_interpretation_and_order_stand_in_for_names() {
        let rgb = [band("", "Red"), band("", "Green"), band("", "Blue")];
        assert_eq!(
            resolve_bands(&names(&["B", "G", "R"]), &rgb, None).unwrap(),
            vec![3, 2, 1]
        );
        let anon = [band("", "Gray"), band("", "Undefined")];
        assert_eq!(
            resolve_bands(&names(&["VV", "VH"]), &anon, None).unwrap(),
            vec![1, 2]
        );
    }

    #[test]
    fn only_unnamed_bands_are_taken_by_position() {
        let card = names(&["B02", "B03"]);
        let anon = [band("", "Gray"), band("", "Undefined")];
        assert!(taken_by_position(&card, &anon, None));
        assert!(!taken_by_position(&card, &anon, Some("2,1")));
        let named = [band("B03", ""), band("B02", "")];
        assert!(!taken_by_position(&card, &named, None));
        assert_eq!(resolve_bands(&card, &named, None).unwrap(), vec![2, 1]);
    }

    #[test]
    fn mismatches_and_bad_mappings_are_errors() {
        let scene = [band("B02", ""), band("B03", "")];
        let err = resolve_bands(&names(&["B02", "B08"]), &scene, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("B08") && err.contains("2:B03"), "{err}");
        assert_eq!(
            resolve_bands(&names(&["X", "Y"]), &scene, Some("2, B02")).unwrap(),
            vec![2, 1]
        );
        assert!(resolve_bands(&names(&["X", "Y"]), &scene, Some("3,1"))
            .unwrap_err()
            .to_string()
            .contains("--bands"));
        assert!(resolve_bands(&names(&["X", "Y"]), &scene, Some("1")).is_err());
    }

    #[test]
    fn an_alpha_band_is_never_a_model_band() {
        // gdalbuildvrt -addalpha over unnamed tiles: data bands, then Alpha.
        let mosaic = [band("", "Gray"), band("", "Undefined"), band("", "Alpha")];
        assert_eq!(
            resolve_bands(&names(&["VV", "VH"]), &mosaic, None).unwrap(),
            vec![1, 2]
        );
        let rgba = [
            band("", "Red"),
            band("", "Green"),
            band("", "Blue"),
            band("", "Alpha"),
        ];
        assert_eq!(
            resolve_bands(&names(&["R", "G", "B"]), &rgba, None).unwrap(),
            vec![1, 2, 3]
        );
        // Three data bands do not fit a two-band model, alpha or not.
        let three = [
            band("", "Gray"),
            band("", ""),
            band("", ""),
            band("", "Alpha"),
        ];
        assert!(resolve_bands(&names(&["VV", "VH"]), &three, None).is_err());
    }
}
