//! The one writer of an incoming upload: an append that streams for as
//! long as its request lasts (a tus `PATCH`), holding a `flock` on the
//! upload's own data file rather than a lock file other ids share, and
//! recording durable progress from a thread beside the copy so that a
//! stream cut at 90 % resumes at 90 % (docs/decisions.md, "One writer per
//! upload" and "An interrupted PATCH keeps what arrived").

use std::fs::File;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::{
    COPY_BUFFER, Entry, Flock, INCOMING, Id, Spool, SpoolError, WriteError, Written, copy_bounded,
    flock_at, missing, open_data_for_writing, unix_now,
};

/// A recording [`Writer`] makes its bytes durable and records the offset at
/// least every this many bytes (tus.md §7)...
const PROGRESS_BYTES: u64 = 8 * 1024 * 1024;
/// ...or this often, whichever comes first.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl Spool {
    /// Becomes the one writer of the incoming upload `id`: an exclusive
    /// `flock` on its data file, waiting at most the lock timeout
    /// ([`SpoolError::Busy`] after it). The lock is the upload's own (no
    /// other id shares the file), so a writer may hold it for as long as its
    /// stream lasts without delaying any other upload; it goes when the
    /// writer is dropped or its process dies. `Ok(None)`: the id has no
    /// incoming upload (never had, or completed or removed meanwhile).
    pub fn writer(&self, id: &Id) -> Result<Option<Writer<'_>>, SpoolError> {
        let path = self.data_path(INCOMING, id);
        let deadline = Instant::now() + self.lock_timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            let file = match open_data_for_writing(&path) {
                Ok(f) => f,
                Err(e) if missing(&e) => return Ok(None),
                Err(e) => return Err(SpoolError::io("open upload data")(e)),
            };
            // While this waited, the writer before may have completed the
            // upload (its data renamed away) or the upload may have been
            // removed: only a lock on the file still in `incoming/` counts.
            match flock_at(&file, &path, Some(deadline), &mut pause)? {
                Flock::Held => {
                    return Ok(Some(Writer {
                        spool: self,
                        id: id.clone(),
                        file,
                    }));
                }
                Flock::Busy => return Err(SpoolError::Busy),
                Flock::Moved { gone: true } => return Ok(None),
                Flock::Moved { gone: false } => continue,
            }
        }
    }

    /// Whether a [`Writer`] may hold the incoming upload `id` now (gc
    /// leaves such an upload alone whatever its age). Opened for writing as
    /// the writer opens it: NFS carries `flock` as a byte-range lock, which
    /// a read-only descriptor cannot take. When in doubt, yes.
    pub(super) fn is_being_written(&self, id: &Id) -> bool {
        match open_data_for_writing(&self.data_path(INCOMING, id)) {
            Ok(file) => file.try_lock().is_err(),
            Err(e) => !missing(&e),
        }
    }
}

/// The one writer of an incoming upload ([`Spool::writer`]).
pub struct Writer<'s> {
    spool: &'s Spool,
    id: Id,
    /// The data file, `flock`ed for as long as this lives.
    file: File,
}

impl Writer<'_> {
    /// Appends at most `max` bytes from `src` at `offset`. The caller has
    /// checked under the id's lock that `offset` is the upload's recorded
    /// `received`; it makes the bytes durable afterwards, with
    /// [`Writer::sync`] or by completing the upload.
    ///
    /// With `record_progress`, a recorder thread beside the copy makes the
    /// bytes written so far durable and advances `received` in the record
    /// (under the id's lock, for a moment) whenever [`PROGRESS_BYTES`] more
    /// have been written or [`PROGRESS_EVERY`] has passed with new bytes,
    /// and once more with what arrived when `src` fails: a stream cut at
    /// 90 % resumes at 90 %. The copy never waits for the recorder, so the
    /// network and the disk keep working while a step is made durable; a
    /// slow disk just makes the steps larger. The recorded offset never
    /// covers a byte that is not durable. Returns what was written and the
    /// offset recorded last (`offset` if none); on an error the record
    /// already holds whatever was recorded.
    pub fn append(
        &self,
        offset: u64,
        max: u64,
        src: &mut dyn Read,
        record_progress: bool,
    ) -> Result<(Written, u64), (WriteError, u64)> {
        let appended = self.append_unchecked(offset, max, src, record_progress);
        // The first bytes may already show an upload that is refused.
        if offset == 0
            && let Ok((_, recorded)) = &appended
            && let Err(e) = self.spool.check_first_bytes(&self.id)
        {
            return Err((e.into(), *recorded));
        }
        appended
    }

    fn append_unchecked(
        &self,
        offset: u64,
        max: u64,
        src: &mut dyn Read,
        record_progress: bool,
    ) -> Result<(Written, u64), (WriteError, u64)> {
        if !record_progress {
            return copy_bounded(src, &self.file, offset, max, None)
                .map(|w| (w, offset))
                .map_err(|e| (e, offset));
        }
        let flow = Flow::new(offset);
        std::thread::scope(|scope| {
            let recorder = scope.spawn(|| self.record_while_copying(&flow, offset));
            let mut publish = |end: u64, early: bool| flow.publish(end, early);
            let copied = copy_bounded(src, &self.file, offset, max, Some(&mut publish));
            flow.finish();
            let recorded = recorder.join();
            match (copied, recorded) {
                (Ok(w), Ok(Ok(recorded))) => Ok((w, recorded)),
                // A step that failed (the upload removed meanwhile, the
                // disk full) is what stopped the copy.
                (_, Ok(Err((e, recorded)))) => Err((e.into(), recorded)),
                (Err(e), Ok(Ok(recorded))) => Err((e, recorded)),
                (_, Err(_)) => Err((
                    SpoolError::Io {
                        action: "record upload progress",
                        source: io::Error::other("the recorder thread panicked"),
                    }
                    .into(),
                    offset,
                )),
            }
        })
    }

    /// The upload this writes.
    pub fn id(&self) -> &Id {
        &self.id
    }

    /// Makes the bytes written so far durable.
    pub fn sync(&self) -> Result<(), SpoolError> {
        self.file
            .sync_data()
            .map_err(SpoolError::io("store upload data"))
    }

    /// The recorder thread of [`Writer::append`]: records steps until the
    /// copy is finished; after an early end, records what arrived. Returns
    /// the offset recorded last.
    fn record_while_copying(&self, flow: &Flow, start: u64) -> Result<u64, (SpoolError, u64)> {
        let mut recorded = start;
        let mut since = Instant::now();
        loop {
            let (end, finished, early) = flow.next_step(recorded, since);
            if end > recorded && (!finished || early) {
                let step = self
                    .sync()
                    .and_then(|()| self.record_received(recorded, end));
                match step {
                    Ok(()) => recorded = end,
                    // Another upload whose id shares the lock file held it
                    // past the lock timeout: this step waits for the next;
                    // the copy goes on.
                    Err(SpoolError::Busy) => {}
                    Err(e) => {
                        flow.fail();
                        return Err((e, recorded));
                    }
                }
                since = Instant::now();
            }
            if finished {
                return Ok(recorded);
            }
        }
    }

    /// Advances the record's `received` from `from` to `to`, under the
    /// lock, after the caller made the bytes durable. Reaching the upload's
    /// length completes it here and now: an upload whose every byte is
    /// stored is never left incoming (its `HEAD` would say offset =
    /// length, and clients take that as done), whatever happens to the
    /// request afterwards.
    fn record_received(&self, from: u64, to: u64) -> Result<(), SpoolError> {
        let lock = self.spool.lock(&self.id)?;
        match lock.entry()? {
            Entry::Incoming(mut r) if r.received == from => {
                r.received = to;
                r.updated = unix_now();
                if r.size == Some(to) {
                    lock.complete(&mut r)
                } else {
                    lock.save(&r)
                }
            }
            _ => Err(SpoolError::Gone),
        }
    }
}

/// What the copy of [`Writer::append`] tells its recorder thread.
struct Flow {
    state: std::sync::Mutex<FlowState>,
    changed: std::sync::Condvar,
}

struct FlowState {
    /// End offset of the bytes written so far.
    end: u64,
    /// The copy is over.
    finished: bool,
    /// The source failed: what arrived is to be recorded.
    early: bool,
    /// A step failed: the copy stops.
    failed: bool,
    /// The recorder waits for any new byte (it had recorded everything).
    idle: bool,
}

impl Flow {
    fn new(start: u64) -> Flow {
        Flow {
            state: std::sync::Mutex::new(FlowState {
                end: start,
                finished: false,
                early: false,
                failed: false,
                idle: false,
            }),
            changed: std::sync::Condvar::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FlowState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The copy wrote up to `end` (`early`: and its source failed). A
    /// failed step stops the copy.
    fn publish(&self, end: u64, early: bool) -> Result<(), SpoolError> {
        let mut state = self.state();
        state.end = end;
        state.early |= early;
        // Wake the recorder when a step of bytes is crossed, or when it
        // waits for any byte at all (its clock runs from then).
        let due = early || state.idle || end % PROGRESS_BYTES < COPY_BUFFER as u64;
        let failed = state.failed;
        drop(state);
        if due {
            self.changed.notify_one();
        }
        if failed {
            Err(SpoolError::Gone)
        } else {
            Ok(())
        }
    }

    fn finish(&self) {
        self.state().finished = true;
        self.changed.notify_one();
    }

    fn fail(&self) {
        self.state().failed = true;
    }

    /// Waits until a step is due after `recorded` (recorded last at
    /// `since`) or the copy is finished; returns the end written so far and
    /// whether the copy is finished, early.
    fn next_step(&self, recorded: u64, since: Instant) -> (u64, bool, bool) {
        let mut state = self.state();
        loop {
            if state.finished {
                return (state.end, true, state.early);
            }
            let new = state.end.saturating_sub(recorded);
            let waited = since.elapsed();
            if new >= PROGRESS_BYTES || (new > 0 && waited >= PROGRESS_EVERY) {
                return (state.end, false, false);
            }
            state = if new > 0 {
                self.changed
                    .wait_timeout(state, PROGRESS_EVERY.saturating_sub(waited))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            } else {
                // Nothing to record until the copy writes more, wherever
                // the clock is.
                state.idle = true;
                let mut woken = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                woken.idle = false;
                woken
            };
        }
    }
}
