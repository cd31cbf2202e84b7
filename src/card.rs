//! The model card: everything a model needs to be used correctly, travelling with it.
//!
//! A card sits in the metadata of every checkpoint (safetensors key
//! [`CARD_KEY`]) and every exported ONNX model (`metadata_props`, same key).
//! It names the input bands in order with their normalisation, the class legend
//! (output index i is `classes[i]`), the architecture, the inner-loop settings that
//! adaptation should use, and where the model came from.

use crate::bands::Normalisation;
use crate::legend::ClassInfo;
use crate::model::spec::ModelSpec;
use serde::{Deserialize, Serialize};

/// Metadata key under which the card is stored, as JSON.
pub const CARD_KEY: &str = "geomaml.card";

/// Version of the card layout; bumped when fields change meaning.
pub const CARD_VERSION: u32 = 1;

/// How a model was trained (or that it was not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Provenance {
    /// `maml`, `pretrain` or `random`.
    pub method: String,
    /// The catalog trained on, if any.
    pub catalog: Option<String>,
    /// Meta-steps / gradient steps taken.
    pub steps: u64,
    /// The full training configuration as JSON.
    pub config: serde_json::Value,
    /// geomaml version that produced the model.
    pub geomaml_version: String,
    /// UTC time of creation (RFC 3339).
    pub created: String,
}

/// Labels a model was adapted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AdaptationRecord {
    /// The label file.
    pub labels: String,
    /// SHA-256 of the label file (empty when the labels are not one file: a
    /// folder, a database).
    pub labels_sha256: String,
    /// The scene the shots were cut from.
    pub scene: String,
    /// Number of shots per class id.
    pub shots_per_class: std::collections::BTreeMap<u16, usize>,
    /// Inner-loop step size used.
    pub inner_lr: f64,
    /// Inner-loop steps used.
    pub inner_steps: usize,
    /// The label file's attribute the classes came from.
    #[serde(default)]
    pub class_field: String,
    /// The `.qml`/`.clr` style beside the label file that named and coloured them.
    #[serde(default)]
    pub style: Option<String>,
    /// Classes whose output rows were new, not rows of the model's head.
    #[serde(default)]
    pub new_head_rows: Vec<String>,
    /// Whether the head's labelled rows started from the labels' class prototypes
    /// ([`crate::model::prototype_head`]) rather than the model's own rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prototype_head: bool,
}

/// Inner-loop settings: meta-training's (an adapted card: the adaptation's).
/// `adapt` takes this step size and [`ModelCard::adapt_steps`] steps by default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InnerLoop {
    /// Step size alpha.
    pub lr: f64,
    /// Number of gradient steps.
    pub steps: usize,
    /// Steps chosen at the end of MAML meta-training as the most accurate of
    /// [`ADAPT_STEP_CANDIDATES`] on the meta-validation tasks (absent for other
    /// models: then [`MIN_ADAPT_STEPS`] is the floor); `adapt` takes them by default,
    /// at least [`PROTOTYPE_ADAPT_STEPS`] for a per-pixel network started from class
    /// prototypes ([`ModelCard::adapt_steps`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_steps: Option<usize>,
    /// Whether meta-training started each task's head from the support's class
    /// prototypes (Proto-MAML, [`crate::model::prototype_head`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prototype_head: bool,
}

/// Fewest inner steps `adapt` takes by default for a model without a count chosen
/// on meta-validation ([`InnerLoop::chosen_steps`]), whatever the architecture. Models
/// are meta-trained with one inner step (the paper's setting) to keep meta-training
/// cheap, but one step on an analyst's labels is far from enough: on the sample
/// scene a meta-trained tile classifier maps 60.1 % after one step and 71.3 % after
/// 20, a pretrained one 26.9 % (its support loss rose) and 70.4 %; a pixel network
/// maps the demo scene at 70.6 % after one step, 95.9 % after 10, 95.7 % after 50.
/// The command line, the QGIS algorithm and the card (`geomaml info`) all use it.
pub const MIN_ADAPT_STEPS: usize = 20;

/// Step counts compared on meta-validation tasks at the end of MAML meta-training.
pub const ADAPT_STEP_CANDIDATES: [usize; 4] = [5, 10, 20, 50];

/// Fewest inner steps `adapt` takes by default when it starts a per-pixel network's
/// head from the class prototypes. Meta-validation's point tasks do not tell 20
/// steps from 50 there (the six-band network of docs/maps_from_points.md: 58.0 %
/// against 57.9 %, so its card chose 20); maps do: on 512 px scenes of four
/// meta-validation regions (1, 26, 30, 40; 5 draws of 5 points per class each),
/// 50 steps mapped +1.7 points [-0.0, +3.3] better than 20 per pixel, and 100 steps
/// no better than 50. It costs time: 7.0 s of adaptation instead of 3.0 s for 37
/// points on 2 cores.
pub const PROTOTYPE_ADAPT_STEPS: usize = 50;

/// Where an adaptation's head started, in words (`info`, `adapt`'s report).
pub fn head_start(prototype_head: bool) -> &'static str {
    if prototype_head {
        "class prototypes"
    } else {
        "the model's head"
    }
}

impl ModelCard {
    /// Whether `adapt` starts the head from the labels' class prototypes unless told
    /// otherwise: for a model meta-trained that way, and for a per-pixel network
    /// meta-trained with MAML, whose head rows stand for no particular class (each
    /// task deals its classes to them anew). A pretrained head's rows are its
    /// legend's classes, and tile classifiers keep the paper's adaptation.
    pub fn adapts_from_prototypes(&self) -> bool {
        self.inner_loop.prototype_head
            || (self.spec.arch == crate::model::Arch::Pixel && self.provenance.method == "maml")
    }

    /// Inner steps `adapt` takes when `--inner-steps` is not given, its head started
    /// from the class prototypes (`prototype_head`) or not: the card's
    /// ([`InnerLoop::adapt_steps`]), and for a per-pixel network started from the
    /// prototypes at least [`PROTOTYPE_ADAPT_STEPS`].
    pub fn adapt_steps(&self, prototype_head: bool) -> usize {
        let steps = self.inner_loop.adapt_steps();
        if prototype_head && self.spec.arch == crate::model::Arch::Pixel {
            steps.max(PROTOTYPE_ADAPT_STEPS)
        } else {
            steps
        }
    }
}

impl InnerLoop {
    /// The count meta-validation chose, else the card's and at least
    /// [`MIN_ADAPT_STEPS`]: the steps `adapt` takes by default before the floor for
    /// per-pixel networks started from class prototypes ([`ModelCard::adapt_steps`]).
    pub fn adapt_steps(&self) -> usize {
        self.chosen_steps
            .unwrap_or_else(|| self.steps.max(MIN_ADAPT_STEPS))
    }
}

/// The model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelCard {
    /// Layout version, [`CARD_VERSION`].
    pub version: u32,
    /// Architecture and shapes.
    pub spec: ModelSpec,
    /// Input band names, in the order the model reads them.
    pub bands: Vec<String>,
    /// Normalisation per band, same order as `bands`.
    pub normalisation: Vec<Normalisation>,
    /// Whether the network reads each band standardised over its scene (zero mean,
    /// unit standard deviation, after `normalisation`): over each task's support and
    /// query tiles while meta-training, over the scene's valid pixels when adapting
    /// or mapping; `adapt` folds the scene's statistics into
    /// `normalisation` and clears this, so an adapted model reads fixed values like
    /// any other; a map made with it unadapted (`suggest`) standardises over the
    /// scene it maps ([`crate::pixels::standardise`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standardise_bands: bool,
    /// Class legend: output index i is `classes[i]`.
    pub classes: Vec<ClassInfo>,
    /// Ground sampling distance the model was trained at, in metres.
    pub resolution_m: f64,
    /// Inner-loop settings for adaptation.
    pub inner_loop: InnerLoop,
    /// Whether batch-norm running statistics are frozen (estimated) rather than
    /// taken from each batch.
    pub bn_frozen: bool,
    /// Training provenance.
    pub provenance: Provenance,
    /// Set when the model was adapted to a scene.
    pub adaptation: Option<AdaptationRecord>,
}

/// Why a stored model card is unusable.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// Not a card's JSON.
    #[error("invalid model card: {0}")]
    Json(#[from] serde_json::Error),
    /// A card whose fields contradict each other (see [`ModelCard::validate`]).
    #[error("{0}")]
    Invalid(String),
    /// A spec no network can have, or tensors that do not fit the spec.
    #[error(transparent)]
    Model(#[from] crate::model::spec::InvalidModel),
}

impl ModelCard {
    /// The card of an untrained model: `spec` reading `bands` (normalised as the
    /// paper does) into `classes`, with the paper's inner loop (0.32 x 1 step) and
    /// provenance `random`. For models built in code (tests, benchmarks).
    pub fn untrained(spec: ModelSpec, bands: &[&str], classes: Vec<ClassInfo>) -> Self {
        ModelCard {
            version: CARD_VERSION,
            spec,
            bands: bands.iter().map(|b| b.to_string()).collect(),
            normalisation: bands
                .iter()
                .map(|b| crate::bands::default_normalisation(b))
                .collect(),
            standardise_bands: false,
            classes,
            resolution_m: 10.0,
            inner_loop: InnerLoop {
                lr: 0.32,
                steps: 1,
                chosen_steps: None,
                prototype_head: false,
            },
            bn_frozen: false,
            provenance: Provenance {
                method: "random".into(),
                catalog: None,
                steps: 0,
                config: serde_json::json!({}),
                geomaml_version: env!("CARGO_PKG_VERSION").into(),
                created: now_rfc3339(),
            },
            adaptation: None,
        }
    }

    /// Checks internal consistency: band and class counts match the spec.
    pub fn validate(&self) -> Result<(), CardError> {
        self.spec.validate()?;
        if self.bands.len() != self.spec.in_channels || self.normalisation.len() != self.bands.len()
        {
            return Err(CardError::Invalid(format!(
                "card lists {} bands and {} normalisations for a model of {} input channels",
                self.bands.len(),
                self.normalisation.len(),
                self.spec.in_channels
            )));
        }
        let mut ids: Vec<u16> = self.classes.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(CardError::Invalid(format!(
                "card lists class id {} twice",
                w[0]
            )));
        }
        if self.classes.len() != self.spec.num_classes {
            return Err(CardError::Invalid(format!(
                "card lists {} classes for a model of {} outputs",
                self.classes.len(),
                self.spec.num_classes
            )));
        }
        Ok(())
    }

    /// Serialises to the JSON stored under [`CARD_KEY`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model card always serialises")
    }

    /// Parses a card stored under [`CARD_KEY`] and validates it.
    pub fn from_json(s: &str) -> Result<Self, CardError> {
        let card: ModelCard = serde_json::from_str(s)?;
        card.validate()?;
        Ok(card)
    }

    /// A short human summary for `geomaml info`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "architecture  {:?}, {} -> {} classes, width {}, depth {}, {} px tiles, {} parameters\n",
            self.spec.arch,
            self.spec.in_channels,
            self.spec.num_classes,
            self.spec.width,
            self.spec.depth,
            self.spec.tile_size,
            self.spec.parameter_count()
        );
        s += &format!("bands         {}\n", self.bands.join(","));
        if self.standardise_bands {
            s += "input         each band standardised over the scene (adapt folds the scene's mean and standard deviation in)\n";
        }
        s += &format!(
            "classes       {}\n",
            self.classes
                .iter()
                .map(|c| format!("{}={}", c.id, c.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s += &format!("resolution    {} m\n", self.resolution_m);
        let from_prototypes = self.adapts_from_prototypes();
        let (steps, other) = (
            self.adapt_steps(from_prototypes),
            self.adapt_steps(!from_prototypes),
        );
        s += &format!(
            "inner loop    lr {} x {} steps{}; adapt takes {steps} steps{} unless --inner-steps says otherwise\n",
            self.inner_loop.lr,
            self.inner_loop.steps,
            if self.inner_loop.prototype_head {
                format!(" from {}", head_start(true))
            } else {
                String::new()
            },
            if other != steps {
                format!(" ({other} with --prototype-head {})", !from_prototypes)
            } else {
                String::new()
            },
        );
        s += &format!(
            "batch norm    {}\n",
            if self.bn_frozen {
                "frozen statistics"
            } else {
                "batch statistics"
            }
        );
        s += &format!(
            "trained       {} ({} steps) on {} with geomaml {} at {}\n",
            self.provenance.method,
            self.provenance.steps,
            self.provenance.catalog.as_deref().unwrap_or("-"),
            self.provenance.geomaml_version,
            self.provenance.created
        );
        if let Some(a) = &self.adaptation {
            // A label source that is not a file (a folder) has no hash.
            let hash = match a.labels_sha256.get(..12) {
                Some(h) => format!(" (sha256 {h})"),
                None => String::new(),
            };
            s += &format!(
                "adapted       to {} with {} labels from {}{hash}, {} inner steps of {} from {}\n",
                a.scene,
                a.shots_per_class.values().sum::<usize>(),
                a.labels,
                a.inner_steps,
                a.inner_lr,
                head_start(a.prototype_head),
            );
        }
        s
    }
}

/// Current UTC time as RFC 3339, without pulling in a date crate.
///
/// `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds convention)
/// replaces the clock when set, so two runs of the same training, one of them
/// interrupted and resumed, write byte-identical checkpoints.
pub fn now_rfc3339() -> String {
    let fixed = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok());
    let secs = fixed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bands::{default_normalisation, sen12ms_bands};
    use crate::catalog::classes::dfc2020;

    pub(crate) fn sample_card() -> ModelCard {
        let bands = sen12ms_bands();
        ModelCard {
            version: CARD_VERSION,
            spec: ModelSpec::paper_cnn(15, 10),
            normalisation: bands.iter().map(|b| default_normalisation(b)).collect(),
            standardise_bands: false,
            bands,
            classes: dfc2020(),
            resolution_m: 10.0,
            inner_loop: InnerLoop {
                lr: 0.32,
                steps: 1,
                chosen_steps: None,
                prototype_head: false,
            },
            bn_frozen: false,
            provenance: Provenance {
                method: "maml".into(),
                catalog: None,
                steps: 0,
                config: serde_json::json!({}),
                geomaml_version: env!("CARGO_PKG_VERSION").into(),
                created: now_rfc3339(),
            },
            adaptation: None,
        }
    }

    #[test]
    fn card_round_trips_through_json() {
        let card = sample_card();
        assert_eq!(ModelCard::from_json(&card.to_json()).unwrap(), card);
    }

    #[test]
    fn per_pixel_networks_from_prototypes_take_at_least_fifty_steps() {
        let mut cnn = sample_card();
        cnn.inner_loop.chosen_steps = Some(10);
        // The tile classifier keeps meta-validation's choice either way.
        assert_eq!(cnn.adapt_steps(false), 10);
        assert_eq!(cnn.adapt_steps(true), 10);
        let pixel = ModelCard {
            spec: ModelSpec::default_pixel(15, 10),
            ..cnn
        };
        assert!(pixel.adapts_from_prototypes());
        assert_eq!(pixel.adapt_steps(true), PROTOTYPE_ADAPT_STEPS);
        assert_eq!(pixel.adapt_steps(false), 10);
        // Without a choice: the card's steps, at least MIN_ADAPT_STEPS.
        let unchosen = ModelCard {
            inner_loop: InnerLoop {
                chosen_steps: None,
                ..pixel.inner_loop
            },
            ..pixel.clone()
        };
        assert_eq!(unchosen.adapt_steps(false), MIN_ADAPT_STEPS);
        assert_eq!(unchosen.adapt_steps(true), PROTOTYPE_ADAPT_STEPS);
        // A count chosen above the floor stays.
        let many = ModelCard {
            inner_loop: InnerLoop {
                chosen_steps: Some(80),
                ..pixel.inner_loop
            },
            ..pixel
        };
        assert_eq!(many.adapt_steps(true), 80);
    }

    #[test]
    fn inconsistent_cards_are_rejected() {
        let mut card = sample_card();
        card.bands.pop();
        assert!(ModelCard::from_json(&card.to_json())
            .unwrap_err()
            .to_string()
            .contains("bands"));
    }

    #[test]
    fn timestamps_look_like_rfc3339_and_follow_source_date_epoch() {
        // Run in a child process: the variable is process-wide.
        if std::env::var_os("GEOMAML_TEST_EPOCH_CHILD").is_some() {
            assert_eq!(now_rfc3339(), "2022-01-25T12:00:00Z");
            return;
        }
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "card::tests::timestamps_look_like_rfc3339_and_follow_source_date_epoch",
            ])
            .env("GEOMAML_TEST_EPOCH_CHILD", "1")
            .env("SOURCE_DATE_EPOCH", "1643112000")
            .status()
            .unwrap();
        assert!(status.success());
    }
}
