//! Progress display (indicatif) for long commands.

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a message, ticking until finished.
pub fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A bar over `len` items with rate and ETA.
pub fn bar(len: usize, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}

/// densify-core's [`densify::core::Progress`] as indicatif bars: one bar (or spinner, when the
/// total is unknown) per piece of work, notes printed above it.
#[derive(Default)]
pub struct Bars {
    current: Option<ProgressBar>,
}

impl densify::core::Progress for Bars {
    fn start(&mut self, label: &str, total: Option<u64>) {
        self.finish();
        self.current = Some(match total {
            Some(n) => bar(n as usize, label),
            None => spinner(label),
        });
    }

    fn set(&mut self, done: u64) {
        if let Some(b) = &self.current {
            b.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.current.take() {
            b.finish_and_clear();
        }
    }

    fn note(&mut self, line: &str) {
        match &self.current {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}
