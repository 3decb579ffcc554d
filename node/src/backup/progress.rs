//! How far a restore has come, for whoever runs it: `safeport-admin backup restore` draws it
//! on the operator's terminal, other callers pass [`NoProgress`]. Plain callbacks, so the node
//! library stays free of terminal code.
//!
//! Every step carries cumulative counts, so an observer needs no state of its own to show
//! them, and the totals in [`RestoreStep::Planned`] come from the manifest the restore checks
//! against: a restore that succeeds ends with copied bytes equal to the planned bytes and
//! checked records equal to the planned records.

/// One step of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreStep {
    /// The manifest and the backup's files agree: this much is copied and checked next.
    Planned {
        /// Files to copy (database files and blobs).
        files: usize,
        /// Their bytes, as the manifest lists them.
        bytes: u64,
        /// Records to verify, as the manifest lists them.
        records: u64,
    },
    /// Copying into the staging directory, each byte hashed on the way.
    Copied {
        /// Files copied and checked so far.
        files: usize,
        /// Bytes copied so far, the file being copied included.
        bytes: u64,
    },
    /// Verifying the records of the copy.
    Checked {
        /// Records checked so far, whether they verified or not.
        records: u64,
        /// How many of them did not verify.
        failed: u64,
    },
    /// Every record is checked: the outboxes are fenced and the copy is moved into place.
    Finishing,
}

/// Receives the steps of a restore, in order, on the restoring thread. It should return
/// quickly: it is called for every record and for every megabyte copied.
pub trait RestoreProgress {
    /// Called at each step.
    fn step(&self, step: RestoreStep);
}

/// Ignores every step (for restores nobody watches).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl RestoreProgress for NoProgress {
    fn step(&self, _step: RestoreStep) {}
}

impl<F: Fn(RestoreStep)> RestoreProgress for F {
    fn step(&self, step: RestoreStep) {
        self(step);
    }
}
