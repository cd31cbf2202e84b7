//! Progress of long work: a bar when stderr is a terminal; plain lines
//! `progress: DONE/TOTAL` on stderr when `GEOMAML_PROGRESS=lines` (for programs that
//! run geomaml and show progress their own way, such as the QGIS Processing
//! provider in `plugin/qgis`); nothing otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// The environment variable that asks for plain progress lines.
pub const ENV: &str = "GEOMAML_PROGRESS";

/// A progress bar over `len` units with indicatif's `template` on a terminal, or
/// plain `progress: DONE/TOTAL` lines when [`ENV`] is `lines`; hidden when
/// `enabled` is false or neither applies.
pub fn bar(len: u64, template: &str, message: String, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(len);
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        bar.set_message(message);
        return bar;
    }
    if std::env::var(ENV).is_ok_and(|v| v == "lines") {
        let target = ProgressDrawTarget::term_like(Box::new(Lines::default()));
        let bar = ProgressBar::with_draw_target(Some(len), target);
        bar.set_style(ProgressStyle::with_template("progress: {pos}/{len}").expect("valid"));
        return bar;
    }
    ProgressBar::hidden()
}

/// A "terminal" that writes each distinct progress line once, without cursor moves.
#[derive(Debug, Default)]
struct Lines {
    last: Mutex<String>,
}

impl Lines {
    fn emit(&self, s: &str) -> std::io::Result<()> {
        let s = s.trim();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_empty() || *last == s {
            return Ok(());
        }
        *last = s.to_string();
        let mut err = std::io::stderr().lock();
        writeln!(err, "{s}")?;
        err.flush()
    }
}

impl TermLike for Lines {
    fn width(&self) -> u16 {
        200
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.emit(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.emit(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}
