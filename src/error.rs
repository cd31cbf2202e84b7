//! Typed errors of the geomaml library.
//!
//! Every variant names the thing a user can fix: the file, the band, the option.
//! The binary prints one `geomaml: {err:#}` line and owns the exit code.
//!
//! # Causes: shown by `Display`, kept by `source()`
//!
//! An error built on another one (GDAL's, PROJ's, ONNX Runtime's, I/O, serde's, a
//! module's own error type, or another [`Error`]) keeps it whole as its
//! [`std::error::Error::source`], so a caller can inspect its type, and never
//! formats it into a string first. The [`Display`](std::fmt::Display) of an error
//! is the whole message: what failed and where (the file, band, option, tile or STAC
//! item first), then the cause's own text after `": "`. Since every error in a
//! chain does the same, printing the outermost error once shows each cause exactly
//! once. So nothing walks `source()` to print the chain again: the binary prints
//! `Display` alone (`cli::entry::failure_line`), and so do the batch
//! summary and the GDAL driver. Module error types that wrap an underlying error
//! (`StyleError`, `CardError`, `SessionError`, ...) follow the same rule.

use std::path::PathBuf;

/// The underlying error of an [`Error`] (GDAL's, PROJ's, ONNX Runtime's, ...), kept
/// as its [`std::error::Error::source`] so callers can walk the chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A name that is not one of the accepted ones (a season, a split, a dataset kind).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected {expected})")]
pub struct UnknownName {
    /// What the name should name (`season`).
    pub what: &'static str,
    /// The name given.
    pub value: String,
    /// The accepted names, in words.
    pub expected: &'static str,
}

/// `": reason"` and `": cause"`, each when present: the message after the path.
fn detail(reason: &str, cause: &Option<Cause>) -> String {
    let mut s = String::new();
    if !reason.is_empty() {
        s.push_str(": ");
        s.push_str(reason);
    }
    if let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
    }
    s
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A raster could not be opened, read or written.
    #[error("{}{}", path.display(), detail(reason, cause))]
    Raster {
        /// The raster at fault.
        path: PathBuf,
        /// What failed.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// A dataset tree or catalog file is unusable.
    #[error("{}{}", path.display(), detail(reason, cause))]
    Catalog {
        /// The file or folder at fault.
        path: PathBuf,
        /// What failed.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// Labels (GeoJSON or any OGR vector) are unusable.
    #[error("{}{}", path.display(), detail(reason, cause))]
    Labels {
        /// The label file at fault.
        path: PathBuf,
        /// What failed.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// A model file (checkpoint, ONNX) is unusable or does not fit the data.
    #[error("{}{}", path.display(), detail(reason, cause))]
    Model {
        /// The model file at fault.
        path: PathBuf,
        /// What failed.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// Input bands do not match what the model expects.
    #[error("bands do not match the model: expected {expected:?}, got {got:?}")]
    Bands {
        /// Band names the model card lists, in order.
        expected: Vec<String>,
        /// Band names the input provides.
        got: Vec<String>,
    },
    /// An option or configuration value is invalid.
    #[error("{option}{}", detail(reason, cause))]
    Config {
        /// The option (`--shots`, `config.inner_lr`, ...).
        option: String,
        /// Why it is invalid.
        reason: String,
        /// The underlying error (a parser's, a module's own type), when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// A command needs a cargo feature this build lacks.
    #[error("`{command}` needs the `{feature}` feature, which this build of geomaml lacks; rebuild with `cargo build --release --features {feature}`")]
    FeatureMissing {
        /// The command that was asked for.
        command: String,
        /// The missing cargo feature.
        feature: String,
    },
    /// An output exists and overwriting was not allowed.
    #[error("{}: already exists (pass --overwrite to replace it)", path.display())]
    OutputExists {
        /// The output that would be overwritten.
        path: PathBuf,
    },
    /// Any other I/O failure, with the path involved.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Something geomaml builds on (libtorch, ONNX Runtime, GDAL, PROJ, the
    /// operating system) failed at work that is not a user file's fault.
    #[error("{what}{}", detail("", cause))]
    Runtime {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        cause: Option<Cause>,
    },
    /// A training run failed after saving its progress; it can go on from there.
    #[error("{source}; the run's progress (step {step}) is kept: continue it with --resume {}", resume.display())]
    Resumable {
        /// Why the run stopped (an [`Error`]; a `Cause` so that `source()` downcasts
        /// to it).
        source: Cause,
        /// The last step saved.
        step: u64,
        /// The file that continues the run (`--resume`).
        resume: PathBuf,
    },
    /// A failure, and what the user can change to avoid it.
    #[error("{source}; {hint}")]
    Hint {
        /// What failed (an [`Error`], as for [`Error::Resumable`]).
        source: Cause,
        /// What to change (`pass --val-every 0 to ...`).
        hint: String,
    },
    /// Something else, already carrying its context. Prefer a typed variant: this
    /// one names nothing a caller can match on.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Builds a [`Error::Raster`] from a message.
    pub fn raster(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Raster {
            path: path.into(),
            reason: reason.to_string(),
            cause: None,
        }
    }
    /// Builds a [`Error::Raster`] from what was being done (`context`, may be empty)
    /// and the error that stopped it, kept as the source.
    pub fn raster_source(
        path: impl Into<PathBuf>,
        context: impl std::fmt::Display,
        cause: impl Into<Cause>,
    ) -> Self {
        Error::Raster {
            path: path.into(),
            reason: context.to_string(),
            cause: Some(cause.into()),
        }
    }
    /// Builds a [`Error::Catalog`] from a message.
    pub fn catalog(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Catalog {
            path: path.into(),
            reason: reason.to_string(),
            cause: None,
        }
    }
    /// Builds a [`Error::Catalog`] from what was being done (`context`, may be empty)
    /// and the error that stopped it, kept as the source.
    pub fn catalog_source(
        path: impl Into<PathBuf>,
        context: impl std::fmt::Display,
        cause: impl Into<Cause>,
    ) -> Self {
        Error::Catalog {
            path: path.into(),
            reason: context.to_string(),
            cause: Some(cause.into()),
        }
    }
    /// Builds a [`Error::Labels`] from a message.
    pub fn labels(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Labels {
            path: path.into(),
            reason: reason.to_string(),
            cause: None,
        }
    }
    /// Builds a [`Error::Labels`] from what was being done (`context`, may be empty)
    /// and the error that stopped it, kept as the source.
    pub fn labels_source(
        path: impl Into<PathBuf>,
        context: impl std::fmt::Display,
        cause: impl Into<Cause>,
    ) -> Self {
        Error::Labels {
            path: path.into(),
            reason: context.to_string(),
            cause: Some(cause.into()),
        }
    }
    /// Builds a [`Error::Model`] from a message.
    pub fn model(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Model {
            path: path.into(),
            reason: reason.to_string(),
            cause: None,
        }
    }
    /// Builds a [`Error::Model`] from what was being done (`context`, may be empty)
    /// and the error that stopped it, kept as the source.
    pub fn model_source(
        path: impl Into<PathBuf>,
        context: impl std::fmt::Display,
        cause: impl Into<Cause>,
    ) -> Self {
        Error::Model {
            path: path.into(),
            reason: context.to_string(),
            cause: Some(cause.into()),
        }
    }
    /// Builds a [`Error::Runtime`] without an underlying error.
    pub fn runtime(what: impl std::fmt::Display) -> Self {
        Error::Runtime {
            what: what.to_string(),
            cause: None,
        }
    }
    /// Builds a [`Error::Runtime`] keeping `cause` as its source.
    pub fn runtime_source(what: impl std::fmt::Display, cause: impl Into<Cause>) -> Self {
        Error::Runtime {
            what: what.to_string(),
            cause: Some(cause.into()),
        }
    }
    /// Builds a [`Error::Config`] from a message.
    pub fn config(option: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Config {
            option: option.into(),
            reason: reason.to_string(),
            cause: None,
        }
    }
    /// Builds a [`Error::Config`] from what was wrong (`context`, may be empty) and
    /// the error that said so, kept as the source.
    pub fn config_source(
        option: impl Into<String>,
        context: impl std::fmt::Display,
        cause: impl Into<Cause>,
    ) -> Self {
        Error::Config {
            option: option.into(),
            reason: context.to_string(),
            cause: Some(cause.into()),
        }
    }
    /// Builds a [`Error::Hint`]: `source`, then what to change to avoid it.
    pub fn hint(source: Error, hint: impl std::fmt::Display) -> Self {
        Error::Hint {
            source: Box::new(source),
            hint: hint.to_string(),
        }
    }
    /// Builds a [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_and_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Error>();
    }

    #[test]
    fn messages_name_the_file() {
        let e = Error::raster("scene.tif", "band 3 unreadable");
        assert_eq!(e.to_string(), "scene.tif: band 3 unreadable");
    }

    #[test]
    fn causes_are_kept_as_sources_and_shown_once() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Error::model_source("m.onnx", "reading the card", io);
        assert_eq!(e.to_string(), "m.onnx: reading the card: no such file");
        assert_eq!(e.source().unwrap().to_string(), "no such file");
        let e = Error::raster_source("s.tif", "", std::io::Error::other("boom"));
        assert_eq!(e.to_string(), "s.tif: boom");
        assert!(Error::raster("s.tif", "x").source().is_none());
        let e = Error::runtime_source(
            "starting the signal thread",
            std::io::Error::other("EAGAIN"),
        );
        assert_eq!(e.to_string(), "starting the signal thread: EAGAIN");
        assert_eq!(e.source().unwrap().to_string(), "EAGAIN");
        let e = Error::config_source("--split", "", std::io::Error::other("unknown split"));
        assert_eq!(e.to_string(), "--split: unknown split");
        assert!(e.source().is_some());
        assert_eq!(
            Error::config("--shots", "empty").to_string(),
            "--shots: empty"
        );
    }

    #[test]
    fn a_resumable_run_names_its_failure_once_and_the_resume_file() {
        use std::error::Error as _;
        let e = Error::Resumable {
            source: Box::new(Error::config("--inner-lr", "training diverged at step 7")),
            step: 5,
            resume: "run/model.safetensors.last".into(),
        };
        assert_eq!(
            e.to_string(),
            "--inner-lr: training diverged at step 7; the run's progress (step 5) is kept: \
             continue it with --resume run/model.safetensors.last"
        );
        assert!(matches!(
            e.source().and_then(|s| s.downcast_ref::<Error>()),
            Some(Error::Config { .. })
        ));
    }
}
