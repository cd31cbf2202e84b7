//! Meta-training (MAML) and the pretraining baseline through libtorch (feature `train`).
//!
//! The data flow: a [`TaskSource`] yields few-shot [`TaskBatch`](crate::tasks::TaskBatch)es;
//! [`maml`] turns a meta-batch into a meta-gradient (Finn et al. 2017) and
//! [`optim::Adam`] applies it; [`pretrain`] trains on the same batches with support
//! and query merged; [`trainer`] runs the loop with meta-validation, the best
//! checkpoint, resumption, a JSONL [`log`] and a progress bar; [`checkpoint`] writes
//! safetensors with the model card.

pub mod batched;
pub mod catalog_source;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod log;
pub mod maml;
pub mod optim;
pub mod prefetch;
pub mod pretrain;
pub mod run;
pub mod source;
pub mod trainer;

pub use batched::meta_gradient_batched;
pub use catalog_source::CatalogSource;
pub use config::{Method, TrainConfig};
pub use device::parse_device;
pub use maml::{adapt, evaluate_tasks, meta_gradient, InnerSettings, TaskStats};
pub use run::{train_catalog, TrainPlan};
pub use source::{DataInfo, Split, TaskSource};
pub use trainer::{train, ChosenSteps, RunOptions, TrainSummary};
