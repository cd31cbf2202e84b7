//! Batch-norm statistics to freeze, estimated on data the user has.
//!
//! MAML trains with batch statistics (Russwurm et al. 2020 keep them at test time
//! too), but an exported model normalises with fixed running statistics. They are
//! estimated here with frozen weights: each batch runs forward with batch
//! statistics (exactly what the network saw while adapting) and the per-layer batch
//! mean and biased variance are averaged over the batches.

use crate::error::{Error, Result};
use crate::model::functional::forward;
use crate::model::layers::{BnMode, BnRecord};
use crate::model::params::Params;
use std::collections::BTreeMap;
use tch::Tensor;

/// Returns a copy of `params` whose `*.running_{mean,var}` are the averages of the
/// per-layer batch statistics over `batches` (each `[n, bands, h, w]`).
pub fn estimate_bn_stats(params: &Params, batches: &[Tensor]) -> Result<Params> {
    if batches.is_empty() {
        return Err(Error::runtime(
            "estimating batch-norm statistics needs at least one batch",
        ));
    }
    let mut sums: BTreeMap<String, (Tensor, Tensor)> = BTreeMap::new();
    tch::no_grad(|| {
        for x in batches {
            let record = BnRecord::default();
            let x = x.to_device(params.device()).to_kind(params.kind());
            let _ = forward(params, &x, BnMode::Record(&record));
            for (prefix, mean, var) in record.into_inner() {
                match sums.get_mut(&prefix) {
                    Some((m, v)) => {
                        *m += mean;
                        *v += var;
                    }
                    None => {
                        sums.insert(prefix, (mean, var));
                    }
                }
            }
        }
    });
    let mut out = params.to(params.device(), params.kind());
    let n = batches.len() as f64;
    for (prefix, (m, v)) in sums {
        out.set(
            &format!("{prefix}.running_mean"),
            &(m / n).to_kind(params.kind()),
        );
        out.set(
            &format!("{prefix}.running_var"),
            &(v / n).to_kind(params.kind()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ModelSpec;
    use tch::{Device, Kind};

    #[test]
    fn frozen_statistics_reproduce_batch_statistics_on_the_same_batch() {
        let spec = ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 5)
        };
        let p = Params::init(&spec, Device::Cpu, Kind::Double, 5).unwrap();
        let x = Tensor::randn([6, 3, 8, 8], (Kind::Double, Device::Cpu)) * 3.0 + 1.0;
        let est = estimate_bn_stats(&p, std::slice::from_ref(&x)).unwrap();
        let frozen = tch::no_grad(|| forward(&est, &x, BnMode::Frozen));
        let batch = tch::no_grad(|| forward(&p, &x, BnMode::Batch));
        let diff = f64::try_from((frozen - batch).abs().max()).unwrap();
        assert!(diff < 1e-9, "frozen and batch statistics differ by {diff}");
        // The input parameters are untouched.
        assert_eq!(
            f64::try_from(p.get("blocks.0.bn.running_var").sum(Kind::Double)).unwrap(),
            4.0
        );
    }
}
