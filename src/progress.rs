//! Progress of long work, behind one small interface the library owns.
//!
//! Library code (training, evaluation, catalog scans, synthetic writers, maps)
//! reports through a [`Progress`]: [`Progress::start`] with a total and a message,
//! [`Progress::inc`], [`Progress::set_message`], [`Progress::finish`]. It never sees
//! how progress is shown; the front end picks a [`Sink`]:
//!
//! - [`Lines`]: plain `progress: DONE/TOTAL` lines on stderr, each distinct line
//!   once, at most about a thousand per run (for programs that run geomaml and show
//!   progress their own way, such as the QGIS Processing provider in
//!   `plugin/qgis`, which reads exactly that format);
//! - a bar drawn by indicatif, only when stderr is a terminal;
//! - nothing ([`Progress::hidden`]).
//!
//! [`Progress::for_stderr`] is the command line's choice: lines when [`ENV`] is
//! `lines`, a bar on a terminal, nothing otherwise. indicatif is used only here.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

/// The environment variable that asks for plain progress lines.
pub const ENV: &str = "GEOMAML_PROGRESS";

/// Where progress goes. Implementations are shared between threads (a scan
/// advances from rayon workers), so every method takes `&self`.
pub trait Sink: Send + Sync {
    /// Begins a piece of work of `total` units (0 when unknown), none done yet.
    fn start(&self, total: u64, message: &str);
    /// Units done so far (a resumed run starts past 0).
    fn set_position(&self, done: u64);
    /// `n` more units done.
    fn inc(&self, n: u64);
    /// What is being done now (a terminal shows it; lines leave it out).
    fn set_message(&self, message: &str);
    /// The work is over; `clear` removes a terminal bar instead of leaving it.
    fn finish(&self, clear: bool);
}

/// A handle on a progress sink: cheap to clone, shared between threads; hidden
/// (reports nothing) by default.
#[derive(Clone, Default)]
pub struct Progress {
    sink: Option<Arc<dyn Sink>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.sink.is_some() {
            "Progress(shown)"
        } else {
            "Progress(hidden)"
        })
    }
}

impl Progress {
    /// Progress that goes nowhere.
    pub fn hidden() -> Self {
        Progress { sink: None }
    }

    /// Progress into `sink`.
    pub fn new(sink: impl Sink + 'static) -> Self {
        Progress {
            sink: Some(Arc::new(sink)),
        }
    }

    /// The command line's choice: [`Lines`] on stderr when [`ENV`] is `lines`, else a
    /// bar in indicatif's `template` when stderr is a terminal, else hidden.
    pub fn for_stderr(template: &str) -> Self {
        if std::env::var(ENV).is_ok_and(|v| v == "lines") {
            return Progress::new(Lines::stderr());
        }
        if std::io::stderr().is_terminal() {
            return Progress::new(Terminal::new(template));
        }
        Progress::hidden()
    }

    /// [`Lines`] on stderr when [`ENV`] is `lines`, else hidden: for work that
    /// already prints a line per unit on a terminal (batch mapping).
    pub fn lines_only() -> Self {
        if std::env::var(ENV).is_ok_and(|v| v == "lines") {
            return Progress::new(Lines::stderr());
        }
        Progress::hidden()
    }

    /// Begins a piece of work of `total` units; see [`Sink::start`].
    pub fn start(&self, total: u64, message: impl AsRef<str>) {
        if let Some(s) = &self.sink {
            s.start(total, message.as_ref());
        }
    }

    /// Units done so far; see [`Sink::set_position`].
    pub fn set_position(&self, done: u64) {
        if let Some(s) = &self.sink {
            s.set_position(done);
        }
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        if let Some(s) = &self.sink {
            s.inc(n);
        }
    }

    /// What is being done now.
    pub fn set_message(&self, message: impl AsRef<str>) {
        if let Some(s) = &self.sink {
            s.set_message(message.as_ref());
        }
    }

    /// The work is over; a terminal bar stays in its final state.
    pub fn finish(&self) {
        if let Some(s) = &self.sink {
            s.finish(false);
        }
    }

    /// The work is over; a terminal bar is removed.
    pub fn finish_and_clear(&self) {
        if let Some(s) = &self.sink {
            s.finish(true);
        }
    }
}

/// Progress over `len` units with indicatif's `template` on a terminal, or plain
/// lines when [`ENV`] is `lines` ([`Progress::for_stderr`]), started with `message`;
/// hidden when `enabled` is false.
pub fn bar(len: u64, template: &str, message: String, enabled: bool) -> Progress {
    if !enabled {
        return Progress::hidden();
    }
    let progress = Progress::for_stderr(template);
    progress.start(len, message);
    progress
}

/// A bar on the terminal (indicatif).
struct Terminal {
    bar: ProgressBar,
}

impl Terminal {
    /// A bar drawn on stderr in indicatif's `template`.
    ///
    /// Panics on a template indicatif cannot parse (templates are constants).
    fn new(template: &str) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        Terminal { bar }
    }
}

impl Sink for Terminal {
    fn start(&self, total: u64, message: &str) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_message(message.to_string());
    }
    fn set_position(&self, done: u64) {
        self.bar.set_position(done);
    }
    fn inc(&self, n: u64) {
        self.bar.inc(n);
    }
    fn set_message(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }
    fn finish(&self, clear: bool) {
        if clear {
            self.bar.finish_and_clear();
        } else {
            self.bar.finish();
        }
    }
}

/// Steps of a run at which [`Lines`] writes: every thousandth of the total, and
/// its end, so a long run writes about a thousand lines, never one per unit.
const LINE_STEPS: u64 = 1000;

/// Plain `progress: DONE/TOTAL` lines, each distinct line once, no cursor moves.
pub struct Lines {
    out: Mutex<LinesState>,
}

struct LinesState {
    writer: Box<dyn Write + Send>,
    total: u64,
    done: u64,
    last: String,
}

impl Lines {
    /// Lines on stderr.
    pub fn stderr() -> Self {
        Lines::to(Box::new(std::io::stderr()))
    }

    /// Lines into `writer` (flushed after each line).
    pub fn to(writer: Box<dyn Write + Send>) -> Self {
        Lines {
            out: Mutex::new(LinesState {
                writer,
                total: 0,
                done: 0,
                last: String::new(),
            }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut LinesState)) {
        let mut s = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let before = s.done;
        f(&mut s);
        let (done, total) = (s.done, s.total);
        let step = |d: u64| d.saturating_mul(LINE_STEPS) / total.max(1);
        let due = done == total || done == 0 || step(done) != step(before);
        let line = format!("progress: {done}/{total}");
        if due && line != s.last {
            // Progress is advisory: a closed stderr must not stop the work.
            let _ = writeln!(s.writer, "{line}").and_then(|_| s.writer.flush());
            s.last = line;
        }
    }
}

impl Sink for Lines {
    fn start(&self, total: u64, _message: &str) {
        self.update(|s| {
            s.total = total;
            s.done = 0;
        });
    }
    fn set_position(&self, done: u64) {
        self.update(|s| s.done = done);
    }
    fn inc(&self, n: u64) {
        self.update(|s| s.done = s.done.saturating_add(n));
    }
    fn set_message(&self, _message: &str) {}
    fn finish(&self, _clear: bool) {
        // The last line is always written: `due` holds at the end, or the count
        // stopped short of the total and this says where.
        let mut s = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let line = format!("progress: {}/{}", s.done, s.total);
        if line != s.last {
            let _ = writeln!(s.writer, "{line}").and_then(|_| s.writer.flush());
            s.last = line;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    #[test]
    fn lines_are_written_once_each_and_end_at_the_total() {
        let out = Shared::default();
        let p = Progress::new(Lines::to(Box::new(out.clone())));
        p.start(3, "work");
        p.set_message("ignored");
        p.inc(0);
        p.inc(1);
        p.set_position(1);
        p.inc(2);
        p.finish();
        p.finish_and_clear();
        assert_eq!(
            out.lines(),
            ["progress: 0/3", "progress: 1/3", "progress: 3/3"]
        );
    }

    #[test]
    fn long_work_writes_about_a_thousand_lines() {
        let out = Shared::default();
        let p = Progress::new(Lines::to(Box::new(out.clone())));
        p.start(100_000, "");
        for _ in 0..100_000 {
            p.inc(1);
        }
        p.finish_and_clear();
        let lines = out.lines();
        assert_eq!(lines.len(), 1001, "{:?}", &lines[..5]);
        assert_eq!(lines.last().unwrap(), "progress: 100000/100000");
        let mut sorted = lines.clone();
        sorted.dedup();
        assert_eq!(sorted, lines);
    }

    #[test]
    fn a_resumed_run_starts_where_it_was() {
        let out = Shared::default();
        let p = Progress::new(Lines::to(Box::new(out.clone())));
        p.start(10, "");
        p.set_position(7);
        p.inc(3);
        p.finish();
        assert_eq!(
            out.lines(),
            ["progress: 0/10", "progress: 7/10", "progress: 10/10"]
        );
    }

    #[test]
    fn hidden_progress_accepts_everything() {
        let p = Progress::hidden();
        p.start(5, "x");
        p.inc(9);
        p.finish();
        assert_eq!(format!("{p:?}"), "Progress(hidden)");
    }
}
