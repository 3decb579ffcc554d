//! Progress of long operations (uploads and exports through the admin API, backups, restores,
//! hashing many files), drawn with indicatif on standard error and never on standard output,
//! which carries the results scripts and tests read.
//!
//! Whether anything is drawn is decided once, in [`Progress::new`]: not with `--json` or
//! `--no-progress`, and not unless standard error is a terminal (indicatif's stderr target
//! hides itself otherwise, and when `TERM` is `dumb`). A hidden [`Progress`] hands out hidden
//! bars and no transfer observer, so the client then sends its requests exactly as without
//! progress. Every bar is cleared when its guard is dropped, on success and on error alike.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use safeport_node::backup::{RestoreProgress, RestoreStep};

use crate::client::{TransferProgress, TransferStep};

/// How often a spinner (and its elapsed time) is redrawn while nothing else moves.
const TICK: Duration = Duration::from_millis(120);

/// Work without a measure: a spinner and the time elapsed.
const SPINNER_TEMPLATE: &str = "{spinner} {msg} ({elapsed})";
/// Bytes of a known total.
const BYTES_TEMPLATE: &str =
    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta} left)";
/// Bytes of an unknown total.
const OPEN_BYTES_TEMPLATE: &str = "{spinner} {msg} {binary_bytes} ({binary_bytes_per_sec})";
/// Items of a known total.
const COUNT_TEMPLATE: &str = "{msg} [{bar:30}] {human_pos}/{human_len} ({elapsed})";

/// The bar styles, by what they measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Nothing,
    Bytes,
    OpenBytes,
    Count,
}

impl Measure {
    fn template(self) -> &'static str {
        match self {
            Measure::Nothing => SPINNER_TEMPLATE,
            Measure::Bytes => BYTES_TEMPLATE,
            Measure::OpenBytes => OPEN_BYTES_TEMPLATE,
            Measure::Count => COUNT_TEMPLATE,
        }
    }

    fn style(self) -> ProgressStyle {
        // The templates are constants (a test parses each); indicatif's default is a safe
        // fallback that cannot fail.
        ProgressStyle::with_template(self.template())
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
    }
}

/// Where progress goes: standard error when it is shown, nowhere otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Progress as asked: `wanted` is false for `--json` and `--no-progress`. Even when
    /// wanted, it is shown only when standard error is a terminal.
    pub fn new(wanted: bool) -> Self {
        Self {
            visible: wanted && !ProgressDrawTarget::stderr().is_hidden(),
        }
    }

    /// Progress that is never shown.
    pub fn hidden() -> Self {
        Self { visible: false }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.visible
    }

    fn bar(&self, measure: Measure, message: Cow<'static, str>) -> Bar {
        let bar = if self.visible {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(measure.style());
        bar.set_message(message);
        if self.visible {
            // Drawn at once, so that even a short wait shows what it is waiting for; then the
            // ticker thread keeps spinners and elapsed times moving between updates.
            bar.tick();
            bar.enable_steady_tick(TICK);
        }
        Bar(bar)
    }

    /// A spinner with the time elapsed, for work that tells nothing of its progress (the
    /// node making a backup, a file being read and checked).
    pub fn spinner(&self, message: impl Into<Cow<'static, str>>) -> Bar {
        self.bar(Measure::Nothing, message.into())
    }

    /// A bar counting `total` items (files hashed).
    pub fn count(&self, message: impl Into<Cow<'static, str>>, total: u64) -> Bar {
        let bar = self.bar(Measure::Count, message.into());
        bar.0.set_length(total);
        bar
    }

    /// A bar for the requests of one client: bytes sent, waiting for the node, bytes
    /// received ([`Transfer::observer`] goes to [`crate::client::NodeClient::observed_by`]).
    pub fn transfer(&self, label: impl Into<Cow<'static, str>>) -> Transfer {
        let label = label.into();
        let bar = self.bar(Measure::Nothing, waiting_message(&label).into());
        Transfer {
            observer: Arc::new(TransferBar {
                bar: bar.0.clone(),
                label,
                measure: Mutex::new(Measure::Nothing),
            }),
            visible: self.visible,
            _bar: bar,
        }
    }

    /// A bar for a restore: bytes copied and checked, then records verified.
    pub fn restore(&self) -> RestoreBar {
        RestoreBar {
            bar: self.bar(Measure::Nothing, "reading the backup".into()),
            records: Cell::new(0),
            failed: Cell::new(0),
            measure: Cell::new(Measure::Nothing),
        }
    }
}

/// A progress bar that is cleared when dropped.
#[derive(Debug)]
pub struct Bar(ProgressBar);

impl Bar {
    /// Counts one more item.
    pub fn advance(&self) {
        self.0.inc(1);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Restyles `bar`, with `message`, when what it measures changes (only then: restyling on
/// every step would cost a style clone each time).
fn remeasure(
    bar: &ProgressBar,
    current: &mut Measure,
    wanted: Measure,
    message: impl FnOnce() -> Cow<'static, str>,
) {
    if *current != wanted {
        *current = wanted;
        bar.set_style(wanted.style());
        // Rates, estimates and the elapsed time start again with the new measure.
        bar.reset();
        bar.set_message(message());
    }
}

fn waiting_message(label: &str) -> String {
    format!("{label}: waiting for the node")
}

/// The bar of one client's transfers.
#[derive(Debug)]
pub struct Transfer {
    observer: Arc<TransferBar>,
    visible: bool,
    /// Held for its `Drop`, which clears the bar the observer draws on.
    _bar: Bar,
}

impl Transfer {
    /// The observer for [`crate::client::NodeClient::observed_by`]; none when nothing is
    /// shown, so that an unwatched client sends exactly as before.
    pub fn observer(&self) -> Option<Arc<dyn TransferProgress>> {
        self.visible
            .then(|| Arc::clone(&self.observer) as Arc<dyn TransferProgress>)
    }
}

#[derive(Debug)]
struct TransferBar {
    bar: ProgressBar,
    label: Cow<'static, str>,
    measure: Mutex<Measure>,
}

impl TransferProgress for TransferBar {
    fn step(&self, step: TransferStep) {
        // A poisoned lock only means a step panicked elsewhere; the measure is still usable.
        let mut measure = self
            .measure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let label = &self.label;
        match step {
            TransferStep::Waiting => remeasure(&self.bar, &mut measure, Measure::Nothing, || {
                waiting_message(label).into()
            }),
            TransferStep::Sent { bytes, total } => {
                remeasure(&self.bar, &mut measure, Measure::Bytes, || {
                    format!("{label}: sending").into()
                });
                self.bar.set_length(total);
                self.bar.set_position(bytes);
            }
            TransferStep::Received { bytes, total } => {
                let wanted = match total {
                    Some(_) => Measure::Bytes,
                    None => Measure::OpenBytes,
                };
                remeasure(&self.bar, &mut measure, wanted, || {
                    format!("{label}: receiving").into()
                });
                match total {
                    Some(total) => self.bar.set_length(total),
                    None => self.bar.unset_length(),
                }
                self.bar.set_position(bytes);
            }
        }
    }
}

/// The bar of a restore, the [`RestoreProgress`] given to
/// [`safeport_node::backup::restore_with_progress`]: bytes copied and checked, then records
/// verified, then the final steps.
#[derive(Debug)]
pub struct RestoreBar {
    bar: Bar,
    /// Records the manifest lists.
    records: Cell<u64>,
    /// Records that failed so far (the message names them).
    failed: Cell<u64>,
    measure: Cell<Measure>,
}

impl RestoreBar {
    fn switch(&self, wanted: Measure, message: impl FnOnce() -> Cow<'static, str>) {
        let mut measure = self.measure.get();
        remeasure(&self.bar.0, &mut measure, wanted, message);
        self.measure.set(measure);
    }
}

impl RestoreProgress for RestoreBar {
    fn step(&self, step: RestoreStep) {
        let bar = &self.bar.0;
        match step {
            RestoreStep::Planned {
                files,
                bytes,
                records,
            } => {
                self.records.set(records);
                self.switch(Measure::Bytes, || {
                    format!("copying and checking {files} files").into()
                });
                bar.set_length(bytes);
            }
            RestoreStep::Copied { bytes, .. } => bar.set_position(bytes),
            RestoreStep::Checked { records, failed } => {
                self.switch(Measure::Count, || "verifying records".into());
                bar.set_length(self.records.get());
                if failed != self.failed.get() {
                    self.failed.set(failed);
                    bar.set_message(format!("verifying records ({failed} do not verify)"));
                }
                bar.set_position(records);
            }
            // Finishing, and any later step: nothing left to count.
            _ => self.switch(Measure::Nothing, || {
                "fencing the outboxes and moving the copy into place".into()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The bars follow the steps they are given. Hidden bars keep their state, so these
    //! tests read what a terminal would have shown.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn shown(bar: &ProgressBar) -> (u64, Option<u64>, String) {
        (bar.position(), bar.length(), bar.message())
    }

    #[test]
    fn every_template_parses() {
        for measure in [
            Measure::Nothing,
            Measure::Bytes,
            Measure::OpenBytes,
            Measure::Count,
        ] {
            ProgressStyle::with_template(measure.template()).unwrap();
        }
    }

    #[test]
    fn hidden_progress_observes_no_transfer() {
        assert!(!Progress::new(false).is_visible());
        let transfer = Progress::hidden().transfer("export");
        assert!(transfer.observer().is_none());
        assert!(transfer._bar.0.is_hidden());
    }

    #[test]
    fn a_transfer_bar_shows_bytes_sent_then_waits_then_shows_bytes_received() {
        let transfer = Progress::hidden().transfer("hash list");
        let observer = &transfer.observer;
        let bar = &transfer._bar.0;
        assert_eq!(shown(bar).2, "hash list: waiting for the node");
        observer.step(TransferStep::Sent {
            bytes: 4096,
            total: 10_000,
        });
        assert_eq!(
            shown(bar),
            (4096, Some(10_000), "hash list: sending".into())
        );
        observer.step(TransferStep::Waiting);
        assert_eq!(shown(bar).2, "hash list: waiting for the node");
        observer.step(TransferStep::Received {
            bytes: 0,
            total: Some(300),
        });
        observer.step(TransferStep::Received {
            bytes: 300,
            total: Some(300),
        });
        assert_eq!(shown(bar), (300, Some(300), "hash list: receiving".into()));
        assert_eq!(*observer.measure.lock().unwrap(), Measure::Bytes);
        // Without a Content-Length there is no total to show.
        observer.step(TransferStep::Received {
            bytes: 70,
            total: None,
        });
        assert_eq!((bar.position(), bar.length()), (70, None));
        assert_eq!(*observer.measure.lock().unwrap(), Measure::OpenBytes);
    }

    #[test]
    fn a_restore_bar_shows_bytes_then_records_then_the_last_steps() {
        let restore = Progress::hidden().restore();
        let bar = &restore.bar.0;
        restore.step(RestoreStep::Planned {
            files: 7,
            bytes: 5000,
            records: 3,
        });
        assert_eq!(
            shown(bar),
            (0, Some(5000), "copying and checking 7 files".into())
        );
        restore.step(RestoreStep::Copied {
            files: 2,
            bytes: 2500,
        });
        assert_eq!(bar.position(), 2500);
        restore.step(RestoreStep::Checked {
            records: 1,
            failed: 0,
        });
        assert_eq!(shown(bar), (1, Some(3), "verifying records".into()));
        restore.step(RestoreStep::Checked {
            records: 2,
            failed: 1,
        });
        assert_eq!(
            shown(bar),
            (2, Some(3), "verifying records (1 do not verify)".into())
        );
        restore.step(RestoreStep::Finishing);
        assert_eq!(
            shown(bar).2,
            "fencing the outboxes and moving the copy into place"
        );
        assert_eq!(restore.measure.get(), Measure::Nothing);
    }
}
