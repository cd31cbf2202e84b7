//! Compiles the C++ driver classes (src/shim.cpp) against the system GDAL's headers.
//!
//! The headers must be those of the GDAL the host tools load (C++ ABI of
//! GDALDataset/GDALRasterBand), so the include flags come from `pkg-config gdal`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rerun-if-changed=build.rs");
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "gdal"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_else(|| {
            println!("cargo:warning=pkg-config --cflags gdal failed; trying /usr/include/gdal");
            "-I/usr/include/gdal".into()
        });
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("src/shim.cpp")
        .flag("-fvisibility=hidden")
        .warnings(true);
    for flag in cflags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-I") {
            build.include(dir);
        } else {
            build.flag(flag);
        }
    }
    build.compile("geomaml_gdal_shim");
    println!("cargo:rustc-link-lib=gdal");
}
