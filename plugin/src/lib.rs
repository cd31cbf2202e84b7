//! `gdal_GeoMAML.so`: a GDAL plugin registering the raster driver `GEOMAML`, which
//! opens `GEOMAML:MODEL.onnx:SCENE.tif` as the land-cover map `geomaml map` would
//! write, computing each block when GDAL reads it.
//!
//! Layout:
//!
//! - `src/shim.cpp` holds the GDALDataset/GDALRasterBand subclasses (GDAL's driver
//!   model is C++) and the driver registration. It reaches Rust only through the
//!   `geomaml_gdal_*` functions below and an opaque [`Handle`], whose description
//!   of the map (`describe.rs`) is in the layout `geomaml map` writes.
//! - This file exports GDAL's entry points (`GDALRegisterMe`, `GDALRegister_GeoMAML`;
//!   a Rust cdylib exports only its own `#[no_mangle]` functions, so they forward to
//!   the shim) and the handle functions. Blocks are computed by
//!   [`geomaml::infer::WindowMapper`], the same engine as `geomaml map`.
//!
//! Rules: every exported function runs its body in [`guarded`] (`catch_unwind`
//! with a panic hook that keeps the driver's panics off the host's stderr), so no
//! panic crosses into GDAL or prints; failures, panics included, come back as a
//! message that the shim reports with `CPLError(CE_Failure, ...)`. A handle is used by one GDAL dataset; GDAL may call
//! it from several threads one after another, so the mapper sits behind a mutex.

#![deny(unsafe_op_in_unsafe_fn)]
// The crate name is fixed by GDAL: the plugin file must be `gdal_<Name>.so`.
#![allow(non_snake_case)]

mod cache;
mod describe;
use describe::{cstring, open, GeoMamlInfo, Handle};
use geomaml::infer::descriptor::{driver_request, read_descriptor};
use geomaml::infer::{BlockOutput, WindowMapper};
use std::ffi::{c_char, c_int, c_uchar, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

extern "C" {
    /// Registers the GEOMAML driver with GDAL's driver manager (idempotent).
    fn geomaml_gdal_shim_register();
    /// GDAL's debug log (shown with `CPL_DEBUG=GEOMAML` or `CPL_DEBUG=ON`).
    fn CPLDebug(category: *const c_char, format: *const c_char, ...);
}

/// Logs `msg` under GDAL's debug category `GEOMAML`.
fn debug(msg: &str) {
    let msg = cstring(msg);
    // SAFETY: three valid NUL-terminated strings; the format consumes one `%s`.
    unsafe { CPLDebug(c"GEOMAML".as_ptr(), c"%s".as_ptr(), msg.as_ptr()) };
}

/// The mapper is shared between GDAL's threads behind a mutex, which needs `Send`.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<WindowMapper>();
};

thread_local! {
    /// Whether this thread is inside one of the driver's entry points ([`guarded`]).
    static IN_DRIVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the last panic inside the driver happened (`file:line`).
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Installs, once, a panic hook that keeps panics inside the driver quiet: the
/// default hook prints the message (and a backtrace with `RUST_BACKTRACE`) on the
/// host's stderr, where a GDAL application neither expects nor shows it; the
/// driver reports the panic through `CPLError` instead. Panics elsewhere in the
/// process (a host written in Rust) still go to the hook that was there before.
fn quiet_panics_inside_the_driver() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_DRIVER.with(|d| d.get()) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs an entry point's body with panics caught and kept off stderr; a panic
/// becomes an `Err` message for `CPLError`.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    quiet_panics_inside_the_driver();
    let outer = IN_DRIVER.with(|d| d.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_message(p)));
    IN_DRIVER.with(|d| d.set(outer));
    result
}

/// Turns a panic payload (and where it happened) into a message.
fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    match PANIC_AT.with(|a| a.borrow_mut().take()) {
        Some(at) => format!("GEOMAML: internal error: {what} (at {at})"),
        None => format!("GEOMAML: internal error: {what}"),
    }
}

/// Stores `msg` in `*err` (when `err` is not null) for the shim to report.
///
/// # Safety
/// `err` is null or points to a writable `char*`.
unsafe fn set_error(err: *mut *mut c_char, msg: &str) {
    if err.is_null() {
        return;
    }
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the caller guarantees `err` points to a writable `char*`; the string
    // is freed by `geomaml_gdal_free_string`.
    unsafe { *err = c.into_raw() };
}

/// # Safety
/// `err` is null or writable.
unsafe fn into_handle(result: Result<Box<Handle>, String>, err: *mut *mut c_char) -> *mut Handle {
    match result {
        Ok(h) => Box::into_raw(h),
        Err(msg) => {
            // SAFETY: `err` is null or writable (caller contract).
            unsafe { set_error(err, &msg) };
            std::ptr::null_mut()
        }
    }
}

/// Opens `MODEL` and `SCENE` (NUL-terminated paths); returns a handle, or null with
/// a message in `*err` (free it with [`geomaml_gdal_free_string`]).
///
/// # Safety
/// `model` and `scene` are valid NUL-terminated strings; `err` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn geomaml_gdal_open(
    model: *const c_char,
    scene: *const c_char,
    err: *mut *mut c_char,
) -> *mut Handle {
    let result = guarded(|| {
        if model.is_null() || scene.is_null() {
            return Err("GEOMAML: null path".to_string());
        }
        // SAFETY: both pointers are non-null NUL-terminated strings (caller contract)
        // that live for this call.
        let (m, s) = unsafe { (CStr::from_ptr(model), CStr::from_ptr(scene)) };
        let (m, s) = (m.to_string_lossy(), s.to_string_lossy());
        open(&driver_request(Path::new(&*m), Path::new(&*s)))
    });
    // SAFETY: `err` is null or writable (caller contract).
    unsafe { into_handle(result, err) }
}

/// Opens a descriptor file (see [`geomaml::infer::descriptor::Descriptor`]); returns a handle, or null with a
/// message in `*err`.
///
/// # Safety
/// `path` is a valid NUL-terminated string; `err` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn geomaml_gdal_open_descriptor(
    path: *const c_char,
    err: *mut *mut c_char,
) -> *mut Handle {
    let result = guarded(|| {
        if path.is_null() {
            return Err("GEOMAML: null path".to_string());
        }
        // SAFETY: `path` is a non-null NUL-terminated string (caller contract) that
        // lives for this call.
        let p = unsafe { CStr::from_ptr(path) }.to_string_lossy();
        open(&read_descriptor(Path::new(&*p)).map_err(|e| format!("GEOMAML: {e}"))?)
    });
    // SAFETY: `err` is null or writable (caller contract).
    unsafe { into_handle(result, err) }
}

/// The dataset description of an open handle (valid until it is closed).
///
/// # Safety
/// `h` is a live handle from [`geomaml_gdal_open`].
#[no_mangle]
pub unsafe extern "C" fn geomaml_gdal_info(h: *const Handle) -> *const GeoMamlInfo {
    guarded(|| {
        // SAFETY: `h` is null or a live handle (caller contract); `info` is never
        // mutated after opening, so a shared reference is sound from any thread.
        Ok(match unsafe { h.as_ref() } {
            Some(h) => &h.info as *const GeoMamlInfo,
            None => std::ptr::null(),
        })
    })
    .unwrap_or(std::ptr::null())
}

/// The outputs of block `(bx, by)` of `level` (0: the map, `i`: overview `i`),
/// from the process's block cache or computed now; with the block's size.
fn block_outputs(
    h: &Handle,
    level: usize,
    bx: usize,
    by: usize,
) -> Result<(Arc<BlockOutput>, usize, usize), String> {
    let mut mapper = h
        .mapper
        .lock()
        .map_err(|_| "GEOMAML: dataset unusable after an earlier internal error")?;
    let overview = match level {
        0 => None,
        i => Some(
            h.levels
                .get(i - 1)
                .ok_or_else(|| format!("GEOMAML: no overview level {i}"))?,
        ),
    };
    let (across, down) = match overview {
        None => mapper.plan().grid(),
        Some(o) => o.grid(),
    };
    if bx >= across || by >= down {
        return Err(format!(
            "GEOMAML: block ({bx}, {by}) outside the {across} x {down} grid of level {level}"
        ));
    }
    let k = by * across + bx;
    let (edge, (width, height)) = match overview {
        None => (mapper.plan().block, mapper.plan().output),
        Some(o) => (o.block, o.output),
    };
    let (w, hgt) = (edge.min(width - bx * edge), edge.min(height - by * edge));
    let key = cache::Key {
        dataset: h.identity.clone(),
        level,
        block: k,
    };
    let (outputs, fresh) = cache::get_or_compute(key, || {
        let t0 = std::time::Instant::now();
        let out = match overview {
            None => mapper.block_outputs(k),
            Some(o) => mapper.overview_outputs(o, k),
        }
        .map_err(|e| format!("GEOMAML: {e}"))?;
        debug(&format!(
            "computed block ({bx}, {by}) of level {level} in {:.3} s",
            t0.elapsed().as_secs_f64()
        ));
        Ok::<_, String>(out)
    })?;
    if !fresh {
        debug(&format!(
            "block ({bx}, {by}) of level {level} from the cache"
        ));
    }
    Ok((outputs, w, hgt))
}

/// Computes block `(bx, by)` of overview level `level` (0: the map itself, `i`:
/// the `i`-th overview of [`GeoMamlInfo::overviews`]) of every band into `bufs[b]`
/// (`n_bands` pointers, each to `edge * edge` bytes with `edge` the level's block
/// edge, row-major, padded with nodata past the edge). Returns 0 on success, else
/// -1 with a message in `*err`.
///
/// # Safety
/// `h` is a live handle; `bufs` points to `n_bands` pointers to `edge * edge`
/// writable, non-overlapping bytes each; `err` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn geomaml_gdal_read_block(
    h: *const Handle,
    level: c_int,
    bx: c_int,
    by: c_int,
    bufs: *const *mut c_uchar,
    err: *mut *mut c_char,
) -> c_int {
    let result = guarded(|| -> Result<(), String> {
        // SAFETY: `h` is null or a live handle (caller contract); only `&` access,
        // mutation goes through the mutex.
        let h = unsafe { h.as_ref() }.ok_or("GEOMAML: null dataset handle")?;
        if bufs.is_null() || bx < 0 || by < 0 || level < 0 {
            return Err("GEOMAML: bad block request".into());
        }
        let level = level as usize;
        let edge = match level {
            0 => h.info.block as usize,
            i => h.levels.get(i - 1).map_or(0, |o| o.block),
        };
        let n_bands = h.info.n_bands as usize;
        // SAFETY: `bufs` holds `n_bands` pointers (caller contract).
        let ptrs = unsafe { std::slice::from_raw_parts(bufs, n_bands) };
        if ptrs.iter().any(|p| p.is_null()) {
            return Err("GEOMAML: null block buffer".into());
        }
        let (outputs, w, hgt) = block_outputs(h, level, bx as usize, by as usize)?;
        let planes: Vec<&[u8]> = if h.info.classes != 0 {
            vec![&outputs.classes]
        } else if let Some(c) = outputs.confidence.as_deref() {
            vec![c]
        } else {
            let p = outputs
                .probabilities
                .as_deref()
                .ok_or("GEOMAML: no probabilities computed")?;
            p.chunks_exact(w * hgt).collect()
        };
        if planes.len() != n_bands || planes.iter().any(|p| p.len() != w * hgt) {
            return Err(format!(
                "GEOMAML: {} bands of {} pixels computed, {n_bands} of {w} x {hgt} expected",
                planes.len(),
                planes.first().map_or(0, |p| p.len())
            ));
        }
        for (plane, &ptr) in planes.iter().zip(ptrs) {
            // SAFETY: the shim passes GDAL block buffers of `edge * edge` bytes of
            // Byte bands, distinct and exclusively ours for the call.
            let out = unsafe { std::slice::from_raw_parts_mut(ptr, edge * edge) };
            out.fill(h.info.nodata as u8);
            for r in 0..hgt {
                out[r * edge..r * edge + w].copy_from_slice(&plane[r * w..(r + 1) * w]);
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(msg) => {
            // SAFETY: `err` is null or writable (caller contract).
            unsafe { set_error(err, &msg) };
            -1
        }
    }
}

/// Closes a handle (null is ignored).
///
/// # Safety
/// `h` is null or a handle from [`geomaml_gdal_open`] not closed before and no
/// longer used by anyone.
#[no_mangle]
pub unsafe extern "C" fn geomaml_gdal_close(h: *mut Handle) {
    let _ = guarded(|| {
        if !h.is_null() {
            // SAFETY: `h` came from `Box::into_raw` in `geomaml_gdal_open` and is
            // closed once (caller contract).
            drop(unsafe { Box::from_raw(h) });
        }
        Ok(())
    });
}

/// Frees a message returned through `err`.
///
/// # Safety
/// `s` is null or a string from this library's `err` out-parameters, freed once.
#[no_mangle]
pub unsafe extern "C" fn geomaml_gdal_free_string(s: *mut c_char) {
    let _ = guarded(|| {
        if !s.is_null() {
            // SAFETY: `s` came from `CString::into_raw` in `set_error` (caller contract).
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    });
}

fn register() {
    let _ = guarded(|| {
        // SAFETY: the shim's registration only calls GDAL's driver manager, which
        // GDAL has initialised before loading plugins; it is idempotent.
        unsafe { geomaml_gdal_shim_register() };
        Ok(())
    });
}

/// GDAL's plugin entry point for `gdal_GeoMAML.so`.
#[no_mangle]
pub extern "C" fn GDALRegister_GeoMAML() {
    register();
}

/// GDAL's generic plugin entry point (used when `GDALRegister_<name>` is absent).
#[no_mangle]
pub extern "C" fn GDALRegisterMe() {
    register();
}

#[cfg(test)]
mod tests;
