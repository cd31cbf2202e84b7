//! `--device auto|cpu|cuda:N` to a tch device, failing clearly when CUDA is absent.

use crate::error::{Error, Result};
use tch::{Cuda, Device};

/// Sizes libtorch's CPU thread pools (OpenMP, MKL, oneDNN) the way PyTorch does when
/// it starts (`at::init_num_threads`); a bare libtorch leaves some of them unset and
/// runs the paper's CNN up to 2x slower on two cores. Idempotent.
pub fn init_threads() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| tch::set_num_threads(tch::get_num_threads()));
}

/// Uses `n` CPU threads for libtorch's pools instead of one per core (`--threads`):
/// on a machine busy with other work, fewer threads avoid oversubscription, which can
/// slow small models down many times.
pub fn set_threads(n: usize) -> Result<()> {
    crate::limits::check_range("--threads", n, crate::limits::MAX_THREADS)?;
    let n = crate::limits::check_threads("--threads", n)?;
    tch::set_num_threads(n as i32);
    init_threads();
    Ok(())
}

/// Parses a device name; `auto` picks CUDA device 0 when there is one. Also calls
/// [`init_threads`], since every caller is about to compute.
pub fn parse_device(name: &str) -> Result<Device> {
    init_threads();
    let name = name.trim().to_ascii_lowercase();
    let count = || {
        if Cuda::is_available() {
            Cuda::device_count().max(0) as usize
        } else {
            0
        }
    };
    match name.as_str() {
        "auto" => Ok(if count() > 0 {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        "cpu" => Ok(Device::Cpu),
        _ => {
            let index = match name.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(|| {
                        Error::config("--device", format!("`{name}` is not auto, cpu or cuda:N"))
                    })?,
                None => {
                    return Err(Error::config(
                        "--device",
                        format!("`{name}` is not auto, cpu or cuda:N"),
                    ))
                }
            };
            let n = count();
            if index >= n {
                return Err(Error::config(
                    "--device",
                    format!(
                        "{name} is not available: this machine has {n} CUDA device(s){}; use --device cpu or auto",
                        if n == 0 { " (or this libtorch has no CUDA)" } else { "" }
                    ),
                ));
            }
            Ok(Device::Cuda(index))
        }
    }
}

/// A short name for logs and cards: `cpu`, `cuda:0`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Cpu => "cpu".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_missing_cuda_devices_are_an_error() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(parse_device("gpu")
            .unwrap_err()
            .to_string()
            .contains("--device"));
        let err = parse_device("cuda:99").unwrap_err().to_string();
        assert!(err.contains("cuda:99 is not available"), "{err}");
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
    }
}
