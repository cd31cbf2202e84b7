//! A panic is never the user's answer: the command-line process turns one into a
//! single `geomaml: ...` line and exit 1, with its temporaries removed as for any
//! failure (the unwinding drops them).
//!
//! libtorch reports a failed allocation by an error that `tch` unwraps, so running
//! out of memory (a `ulimit -v`, a small container) arrives here as a panic; it is
//! said as what it is, with what to change.

use std::sync::Mutex;

/// The last panic's message and place, kept by the hook for [`message`].
static LAST: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Replaces the default hook (which prints the message and a backtrace on
/// stderr) by one that keeps them for [`message`].
pub(super) fn keep_quiet() {
    std::panic::set_hook(Box::new(|info| {
        let text = payload_text(info.payload());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some((text, at));
    }));
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The line (without `geomaml: `) for the last panic.
pub(super) fn message() -> String {
    let (text, at) = LAST
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_else(|| ("unknown panic".into(), String::new()));
    line(&text, &at)
}

/// What a panic with `text`, raised at `at`, says to the user.
pub(super) fn line(text: &str, at: &str) -> String {
    // libtorch's message: "... can't allocate memory: you tried to allocate N
    // bytes. Error code 12 (Cannot allocate memory)\nframe #0 ...".
    if let Some(i) = text.find("can't allocate memory") {
        let what = text[i..]
            .lines()
            .next()
            .unwrap_or("")
            .trim_end_matches("\\n");
        let what = what.split("\\nframe").next().unwrap_or(what);
        return format!(
            "out of memory: libtorch {what}; give the process more memory, or ask for less \
             work at once (a smaller --meta-batch, --bn-windows or --batch-size, or smaller \
             tiles)"
        );
    }
    let first = text.lines().next().unwrap_or("");
    let first = first.split("\\n").next().unwrap_or(first);
    let short: String = first.chars().take(300).collect();
    format!("internal error: {short} (at {at}); this is a bug in geomaml, please report it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_out_of_memory_is_said_as_such_in_one_line() {
        let torch = "called `Result::unwrap()` on an `Err` value: Torch(\"[enforce fail at \
                     alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: \
                     you tried to allocate 1703936 bytes. Error code 12 (Cannot allocate \
                     memory)\\nframe #0: c10::ThrowEnforceNotMet\")";
        let l = line(torch, "tch/src/wrappers/tensor_generated.rs:15581");
        assert_eq!(
            l.split(';').next().unwrap(),
            "out of memory: libtorch can't allocate memory: you tried to allocate 1703936 \
             bytes. Error code 12 (Cannot allocate memory)"
        );
        assert!(!l.contains('\n') && !l.contains("frame"), "{l}");
    }

    #[test]
    fn other_panics_say_where_in_one_line() {
        let l = line("index out of bounds\nmore", "src/x.rs:3");
        assert_eq!(
            l,
            "internal error: index out of bounds (at src/x.rs:3); this is a bug in geomaml, \
             please report it"
        );
    }
}
