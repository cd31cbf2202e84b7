//! Input files as GDAL sees them: through its virtual file systems (VSI).
//!
//! A user may hand geomaml any path GDAL opens: a file in a zip (`/vsizip/...`),
//! on a web server (`/vsicurl/...`), in a bucket, or a plain file whose name holds
//! spaces and accented letters. Asking the operating system about such a path
//! (`Path::exists`, `std::fs::read`) answers "no such file" for every `/vsi...`
//! path GDAL would read without trouble, so checks and reads of inputs go through
//! GDAL's own `VSIStatExL` and `VSIFOpenL`/`VSIFReadL` here. Outputs are local files
//! and stay with `std::fs` ([`crate::output`]).

use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What GDAL's file system layer says is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nature {
    /// A file (inside an archive or on a server included).
    File,
    /// A folder (a Shapefile folder, a File Geodatabase, a folder in a zip).
    Folder,
}

/// `VSI_STAT_EXISTS_FLAG | VSI_STAT_NATURE_FLAG` of `cpl_vsi.h` (macros, so not in
/// the bindings): whether the path exists and whether it is a folder, nothing more
/// (no size, which a `/vsicurl/` file would fetch).
const STAT_EXISTS_AND_NATURE: std::ffi::c_int = 0x1 | 0x2;

fn c_path(path: &Path) -> Option<CString> {
    CString::new(path.as_os_str().as_bytes()).ok()
}

/// What is at `path` according to GDAL's `VSIStatExL` (`None`: nothing GDAL's file
/// systems know of, e.g. a missing file or a database connection string).
#[allow(unsafe_code)]
pub fn stat(path: &Path) -> Option<Nature> {
    let c = c_path(path)?;
    // SAFETY: VSIStatBufL is `struct stat64` on Linux (opaque in the bindings, so
    // libc's definition is used), a plain C struct valid when zeroed; GDAL fills it
    // and keeps no pointer to it or to the path.
    let (rv, mode) = unsafe {
        let mut buf: libc::stat64 = std::mem::zeroed();
        let rv = gdal_sys::VSIStatExL(
            c.as_ptr(),
            (&mut buf as *mut libc::stat64).cast(),
            STAT_EXISTS_AND_NATURE,
        );
        (rv, buf.st_mode)
    };
    let nature = if mode & libc::S_IFMT == libc::S_IFDIR {
        Nature::Folder
    } else {
        Nature::File
    };
    (rv == 0).then_some(nature)
}

/// Whether GDAL's file systems find something at `path` (a file or a folder).
pub fn exists(path: &Path) -> bool {
    stat(path).is_some()
}

/// Hex SHA-256 of the bytes of the file at `path`, read through GDAL's file
/// systems (so a file inside a zip hashes as the file, not the archive); `None`
/// when `path` is not a file GDAL can read as bytes (a folder, a connection
/// string): such a source is identified by its path alone.
#[allow(unsafe_code)]
pub fn sha256(path: &Path) -> Option<String> {
    if stat(path)? != Nature::File {
        return None;
    }
    let c = c_path(path)?;
    // SAFETY: both arguments are valid NUL-terminated strings.
    let fp = unsafe { gdal_sys::VSIFOpenL(c.as_ptr(), c"rb".as_ptr()) };
    if fp.is_null() {
        return None;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        // SAFETY: `buf` holds `buf.len()` writable bytes; `fp` is open.
        let n = unsafe { gdal_sys::VSIFReadL(buf.as_mut_ptr().cast(), 1, buf.len(), fp) };
        hasher.update(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    // SAFETY: `fp` came from VSIFOpenL and is closed once.
    unsafe { gdal_sys::VSIFCloseL(fp) };
    Some(format!("{:x}", hasher.finalize()))
}

/// The files GDAL reads to open the raster `path` (`GDALGetFileList`): the file
/// itself and, for a VRT or another dataset that points elsewhere, the files it
/// reads (a VRT's sources), plus sidecars such as `.aux.xml`. Empty when GDAL
/// cannot open it; callers use it to refuse an output that would replace a file
/// an input reaches indirectly.
pub fn raster_files(path: &Path) -> Vec<std::path::PathBuf> {
    let Ok(ds) = gdal::Dataset::open(path) else {
        return Vec::new();
    };
    dataset_files(&ds)
}

/// `GDALGetFileList` of an open dataset.
#[allow(unsafe_code)]
fn dataset_files(ds: &gdal::Dataset) -> Vec<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut files = Vec::new();
    // SAFETY: `c_dataset` is a live handle borrowed from `ds`; GDALGetFileList
    // returns a NULL-terminated list of NUL-terminated strings (or null) owned by
    // the caller, read here before CSLDestroy frees it once.
    unsafe {
        let list = gdal_sys::GDALGetFileList(ds.c_dataset());
        if list.is_null() {
            return files;
        }
        let mut p = list;
        while !(*p).is_null() {
            let bytes = std::ffi::CStr::from_ptr(*p).to_bytes();
            files.push(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes)));
            p = p.add(1);
        }
        gdal_sys::CSLDestroy(list);
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Writes an empty GeoJSON layer at `path` (plain or `/vsizip/`: GDAL writes
    /// into zip archives), byte for byte the same wherever it goes.
    fn geojson(path: &Path) {
        let drv = gdal::DriverManager::get_driver_by_name("GeoJSON").unwrap();
        let mut ds = drv.create_vector_only(path).unwrap();
        ds.create_layer(Default::default()).unwrap();
    }

    #[test]
    fn files_in_a_zip_are_seen_and_hashed_as_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("données été");
        std::fs::create_dir(&folder).unwrap();
        let plain = folder.join("points terrain.geojson");
        geojson(&plain);
        let zip = dir.path().join("archive été.zip");
        let inside = PathBuf::from(format!(
            "/vsizip/{}/données été/points terrain.geojson",
            zip.display()
        ));
        geojson(&inside);
        assert_eq!(stat(&plain), Some(Nature::File));
        assert_eq!(stat(&inside), Some(Nature::File));
        assert_eq!(stat(&folder), Some(Nature::Folder));
        assert!(!exists(&dir.path().join("missing.geojson")));
        assert!(!exists(&inside.with_file_name("missing.geojson")));
        let want = format!("{:x}", Sha256::digest(std::fs::read(&plain).unwrap()));
        assert_eq!(sha256(&plain).as_deref(), Some(want.as_str()));
        assert_eq!(sha256(&inside).as_deref(), Some(want.as_str()));
        assert_ne!(sha256(&zip).as_deref(), Some(want.as_str()));
        assert_eq!(sha256(&folder), None);
    }
}
