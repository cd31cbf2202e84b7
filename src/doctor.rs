//! What this installation has (GDAL, PROJ, libtorch, CUDA, ONNX Runtime, the GDAL
//! plugin), and how to fix what it lacks: the checks behind `geomaml doctor`.

use serde::Serialize;

/// One component's status.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Component name (`GDAL`, `CUDA`, ...).
    pub component: &'static str,
    /// Whether it is usable.
    pub ok: bool,
    /// Whether geomaml cannot work without it.
    pub required: bool,
    /// Version, location or what is wrong.
    pub detail: String,
    /// What to do when it is not usable.
    pub fix: Option<String>,
}

/// Every check, in report order.
pub fn checks() -> Vec<Check> {
    vec![
        gdal_check(),
        proj_check(),
        torch_check(),
        cuda_check(),
        ort_check(),
        plugin_check(),
    ]
}

fn gdal_check() -> Check {
    let version = gdal::version::version_info("RELEASE_NAME");
    let drivers = gdal::DriverManager::count();
    let gtiff = gdal::DriverManager::get_driver_by_name("GTiff").is_ok();
    Check {
        component: "GDAL",
        ok: gtiff,
        required: true,
        detail: format!(
            "{version} ({drivers} drivers, GTiff {})",
            if gtiff { "present" } else { "MISSING" }
        ),
        fix: (!gtiff).then(|| "apt-get install libgdal-dev gdal-bin".into()),
    }
}

fn proj_check() -> Check {
    match proj::Proj::new_known_crs("EPSG:32633", "EPSG:4326", None) {
        Ok(p) => {
            let info = p
                .lib_info()
                .map(|i| i.version)
                .unwrap_or_else(|_| "unknown".into());
            Check {
                component: "PROJ",
                ok: true,
                required: true,
                detail: info,
                fix: None,
            }
        }
        Err(e) => Check {
            component: "PROJ",
            ok: false,
            required: true,
            detail: format!("cannot build EPSG:32633 -> EPSG:4326: {e}"),
            fix: Some("apt-get install libproj-dev proj-data".into()),
        },
    }
}

/// Whether GDAL loads the GEOMAML driver (`make plugin`, then GDAL_DRIVER_PATH).
fn plugin_check() -> Check {
    let found = gdal::DriverManager::get_driver_by_name("GEOMAML").is_ok();
    let path = std::env::var("GDAL_DRIVER_PATH").unwrap_or_default();
    Check {
        component: "GDAL plugin",
        ok: found,
        required: false,
        detail: if found {
            format!("driver GEOMAML loaded (GDAL_DRIVER_PATH={path})")
        } else {
            "driver GEOMAML not loaded: GDAL tools cannot read GEOMAML:model.onnx:scene.tif".into()
        },
        fix: (!found)
            .then(|| "make plugin && export GDAL_DRIVER_PATH=$PWD/target/gdalplugins".into()),
    }
}

#[cfg(feature = "train")]
fn torch_check() -> Check {
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0])
        .sum(tch::Kind::Float)
        .double_value(&[]);
    Check {
        component: "libtorch",
        ok: t == 3.0,
        required: true,
        detail: format!(
            "{} (threads {})",
            env!("GEOMAML_LIBTORCH_VERSION"),
            tch::get_num_threads()
        ),
        fix: None,
    }
}

#[cfg(not(feature = "train"))]
fn torch_check() -> Check {
    Check {
        component: "libtorch",
        ok: false,
        required: false,
        detail: "not in this build (feature `train`): train, adapt and evaluate are unavailable"
            .into(),
        fix: Some("cargo build --release --features train (after scripts/setup.sh)".into()),
    }
}

#[cfg(feature = "train")]
fn cuda_check() -> Check {
    let n = tch::Cuda::device_count();
    let names = gpu_names();
    let detail = if n > 0 {
        format!(
            "{n} device(s): {}; cuDNN {}",
            if names.is_empty() {
                "unnamed".into()
            } else {
                names.join(", ")
            },
            if tch::Cuda::cudnn_is_available() {
                "available"
            } else {
                "unavailable"
            }
        )
    } else {
        "no CUDA device: training runs on CPU".into()
    };
    Check {
        component: "CUDA",
        ok: n > 0,
        required: false,
        detail,
        fix: None,
    }
}

#[cfg(not(feature = "train"))]
fn cuda_check() -> Check {
    Check {
        component: "CUDA",
        ok: false,
        required: false,
        detail: "needs feature `train`".into(),
        fix: None,
    }
}

/// GPU model names as the NVIDIA driver reports them.
#[cfg(feature = "train")]
fn gpu_names() -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return Vec::new();
    };
    dirs.filter_map(|d| std::fs::read_to_string(d.ok()?.path().join("information")).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("Model:").map(|m| m.trim().to_string()))
        })
        .collect()
}

#[cfg(feature = "infer")]
fn ort_check() -> Check {
    match crate::infer::runtime::init() {
        Ok(path) => Check {
            component: "ONNX Runtime",
            ok: true,
            required: true,
            detail: format!(
                "{} at {}",
                crate::infer::runtime::version().unwrap_or_else(|_| "?".into()),
                path.display()
            ),
            fix: None,
        },
        Err(e) => Check {
            component: "ONNX Runtime",
            ok: false,
            required: true,
            detail: e.to_string(),
            fix: Some("run scripts/setup.sh, or set ORT_DYLIB_PATH to libonnxruntime.so".into()),
        },
    }
}

#[cfg(not(feature = "infer"))]
fn ort_check() -> Check {
    Check {
        component: "ONNX Runtime",
        ok: false,
        required: false,
        detail: "not in this build (feature `infer`): map is unavailable".into(),
        fix: Some("cargo build --release --features infer".into()),
    }
}
