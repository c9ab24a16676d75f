//! One progress interface for long library calls: a stage starts with a label and (when known)
//! a total, advances, and finishes; notes are lines a person should read (a retry, a warning).
//! The CLI implements it with indicatif bars; library users pass [`NoProgress`] or their own.

/// Progress of long work.
pub trait Progress {
    /// A new piece of work begins: `label` (`"encoding the corpus"`), `total` units when known.
    fn start(&mut self, label: &str, total: Option<u64>);
    /// `done` units of the current piece are finished.
    fn set(&mut self, done: u64);
    /// The current piece is finished.
    fn finish(&mut self);
    /// A line for the person running the work.
    fn note(&mut self, line: &str);
}

/// Progress that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: Option<u64>) {}
    fn set(&mut self, _: u64) {}
    fn finish(&mut self) {}
    fn note(&mut self, _: &str) {}
}

/// Progress as plain lines on stderr: each piece of work when it starts and when it ends (with
/// its time), and every note. For logs and programs without a terminal.
#[derive(Debug, Clone)]
pub struct LineProgress {
    label: String,
    started: std::time::Instant,
}

impl Default for LineProgress {
    fn default() -> Self {
        Self {
            label: String::new(),
            started: std::time::Instant::now(),
        }
    }
}

impl Progress for LineProgress {
    fn start(&mut self, label: &str, total: Option<u64>) {
        label.clone_into(&mut self.label);
        self.started = std::time::Instant::now();
        match total {
            Some(n) => eprintln!("{label} ({n}) ..."),
            None => eprintln!("{label} ..."),
        }
    }
    fn set(&mut self, _: u64) {}
    fn finish(&mut self) {
        eprintln!(
            "{} done in {:.1} s",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
    }
    fn note(&mut self, line: &str) {
        eprintln!("{line}");
    }
}
