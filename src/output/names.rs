//! The user's names for temporaries: every message shown names the output the
//! user asked for, never a hidden temporary.

use super::*;

/// How many temporary names [`name_outputs`] remembers: enough for every file of
/// the scenes a batch has in flight, bounded so that a batch of a million scenes
/// does not grow without end.
const NAMES_KEPT: usize = 4096;

/// Temporaries of this process and the output the user asked for, newest last.
/// Kept after the temporary is gone: the error that removed it is shown later.
static NAMES: Mutex<std::collections::VecDeque<(String, String)>> =
    Mutex::new(std::collections::VecDeque::new());

/// Registers `temporary` as a name of `shown` (the user's output) for messages.
pub fn name_temporary(temporary: &Path, shown: &Path) {
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let entry = (temporary.display().to_string(), shown.display().to_string());
    if names.contains(&entry) {
        return;
    }
    if names.len() == NAMES_KEPT {
        names.pop_front();
    }
    names.push_back(entry);
}

/// `text` with every temporary of this process replaced by the output the user
/// asked for: what any message about an output must name. Longer names first, so
/// a COG's staging temporary is not half-replaced through the shorter name it
/// contains.
pub fn name_outputs(text: &str) -> String {
    let names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if names.is_empty() {
        return text.to_string();
    }
    let mut by_length: Vec<&(String, String)> = names.iter().collect();
    by_length.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    let mut out = text.to_string();
    for (temp, shown) in by_length {
        if out.contains(temp.as_str()) {
            out = out.replace(temp.as_str(), shown);
        }
    }
    out
}

/// The output the user asked for behind `path`, when `path` is a temporary of
/// this process (or GDAL's `.aux.xml` beside one); else `path`.
pub fn user_path(path: &Path) -> PathBuf {
    PathBuf::from(name_outputs(&path.display().to_string()))
}

/// `err` naming the outputs the user asked for wherever it named a temporary of
/// this process: in its path, its text and its cause's text.
pub fn user_error(err: Error) -> Error {
    let text = |r: String| name_outputs(&r);
    let named = |c: crate::error::Cause| -> crate::error::Cause {
        // A geomaml error keeps its type, its own paths and causes renamed.
        let c = match c.downcast::<Error>() {
            Ok(e) => return Box::new(user_error(*e)),
            Err(c) => c,
        };
        let m = c.to_string();
        let n = name_outputs(&m);
        if n == m {
            c
        } else {
            n.into()
        }
    };
    match err {
        Error::Raster {
            path,
            reason,
            cause,
        } => Error::Raster {
            path: user_path(&path),
            reason: text(reason),
            cause: cause.map(named),
        },
        Error::Model {
            path,
            reason,
            cause,
        } => Error::Model {
            path: user_path(&path),
            reason: text(reason),
            cause: cause.map(named),
        },
        Error::Io { path, source } => Error::Io {
            path: user_path(&path),
            source,
        },
        Error::OutputExists { path } => Error::OutputExists {
            path: user_path(&path),
        },
        Error::Hint { source, hint } => Error::Hint {
            source: named(source),
            hint,
        },
        Error::Resumable {
            source,
            step,
            resume,
        } => Error::Resumable {
            source: named(source),
            step,
            resume,
        },
        Error::Other(m) => Error::Other(text(m)),
        // GDAL's messages name the file it was writing: the temporary.
        Error::Runtime { what, cause } => Error::Runtime {
            what: text(what),
            cause: cause.map(named),
        },
        other => other,
    }
}
