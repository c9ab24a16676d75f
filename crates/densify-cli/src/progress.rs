//! Progress display (indicatif) for long commands.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    /// Shared with [`Bars::line_sink`]'s closures, which print from other threads.
    current: Arc<Mutex<Option<ProgressBar>>>,
}

/// Prints `line` on stderr, clearing `bar` around it when there is one (a hidden bar's
/// `println` would print nothing; `suspend` prints whether or not stderr is a terminal).
fn print_above(bar: Option<&ProgressBar>, line: &str) {
    match bar {
        Some(b) => b.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

impl Bars {
    /// A sink for lines from any thread (an LLM client's retries): each is prefixed with
    /// `prefix`, its whitespace collapsed, and printed above whichever bar is current.
    pub fn line_sink(&self, prefix: &'static str) -> impl Fn(&str) + Send + Sync + 'static {
        let current = Arc::clone(&self.current);
        move |line: &str| {
            let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
            let bar = current.lock().unwrap_or_else(PoisonError::into_inner);
            print_above(bar.as_ref(), &format!("{prefix}{line}"));
        }
    }

    fn current(&self) -> MutexGuard<'_, Option<ProgressBar>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl densify::core::Progress for Bars {
    fn start(&mut self, label: &str, total: Option<u64>) {
        self.finish();
        *self.current() = Some(match total {
            Some(n) => bar(n as usize, label),
            None => spinner(label),
        });
    }

    fn set(&mut self, done: u64) {
        if let Some(b) = self.current().as_ref() {
            b.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.current().take() {
            b.finish_and_clear();
        }
    }

    fn note(&mut self, line: &str) {
        print_above(self.current().as_ref(), line);
    }
}
