//! GDAL's own messages, routed into geomaml's errors instead of printed raw.
//!
//! GDAL prints `ERROR n: ...` lines on stderr unless an error handler is installed,
//! so a failing command used to show GDAL's lines and then geomaml's. The binary
//! installs [`route_to_geomaml`]: failures are kept (the last [`KEEP`]) for the
//! code that checks them ([`take_failures`], e.g. after writing a file, where GDAL
//! reports write errors such as a full disk only through this channel; a writer
//! empties the list when it starts), and warnings and debug output are dropped. `GEOMAML_GDAL_MESSAGES=1` prints
//! everything as GDAL would, for debugging.

use std::sync::Mutex;

/// How many recent messages are kept.
pub const KEEP: usize = 16;

static FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn failures() -> std::sync::MutexGuard<'static, Vec<String>> {
    FAILURES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the handler (once, in `main`; a library caller such as the GDAL
/// plugin keeps its host's handler).
pub fn route_to_geomaml() {
    if std::env::var_os("GEOMAML_GDAL_MESSAGES").is_some() {
        return;
    }
    gdal::config::set_error_handler(|class, _code, msg| {
        use gdal::errors::CplErrType;
        if matches!(class, CplErrType::Failure | CplErrType::Fatal) {
            let mut f = failures();
            if f.len() == KEEP {
                f.remove(0);
            }
            f.push(msg.trim().to_string());
        }
    });
}

/// The failures GDAL reported since the last call, oldest first.
pub fn take_failures() -> Vec<String> {
    std::mem::take(&mut *failures())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_taken_once() {
        failures().push("TIFFAppendToStrip: write error".into());
        let got = take_failures();
        assert!(got.iter().any(|m| m.contains("write error")));
        assert!(!take_failures().iter().any(|m| m.contains("write error")));
    }
}
