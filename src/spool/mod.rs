//! The spool: where uploads live on disk, safe under any number of processes
//! and hosts sharing the directory.
//!
//! Layout below the spool root (documented in the README for applications):
//!
//! ```text
//! incoming/<id>             bytes of an unfinished upload, written at their offsets
//! incoming/<id>.json        its record (see `Record`); the upload exists while this does
//! complete/<id>             a finished upload's bytes
//! complete/<id>.json        its record, put in place last: an upload is complete
//!                           exactly when this file exists
//! complete/<id>.variant-N   extra files (FilePond variants), in place before the record
//! locks/<xy>                lock files (flock), one per last two characters of the id,
//!                           held only for the milliseconds a record changes
//! tmp/                      files still streaming in, and records being written
//! ```
//!
//! An entry is two files side by side rather than a directory holding them:
//! creating an inode is the most expensive step of a small upload on some
//! filesystems (ext4 without a journal spends about 0.3 ms of CPU on each),
//! and a directory per entry made it three inodes instead of two
//! (docs/decisions.md, "Spool entries are files, not directories").
//!
//! Every change to an entry's record or location happens under the id's lock
//! ([`Spool::lock`]); bytes of a part are written without the lock, at their
//! offset, into the one data file, so concurrent parts of one upload proceed in
//! parallel and completion is an fsync plus two renames (data, then record),
//! never a copy. A stream that appends for minutes (a tus `PATCH`) is instead
//! the upload's one [`Writer`]: it holds a `flock` on the upload's own data
//! file, which no other upload shares, and records its progress under the
//! id's lock for a moment at a time ([`Writer::append`]). This module knows
//! nothing of HTTP or of any widget.

#![forbid(unsafe_code)]

mod gate;
mod gc;
mod id;
mod record;
mod writer;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use gate::{Gate, HEAD_BYTES, Refusal};
pub use gc::GcPolicy;
pub use id::Id;
pub use record::{Parts, Protocol, Record, Variant, unix_now};
pub use writer::Writer;

const INCOMING: &str = "incoming";
const COMPLETE: &str = "complete";
const LOCKS: &str = "locks";
const TMP: &str = "tmp";
/// What an entry's record file adds to the id.
const RECORD_SUFFIX: &str = ".json";

/// Size of the copy buffer between a request body and a data file.
const COPY_BUFFER: usize = 256 * 1024;
/// The copy buffer's size until a body proves larger: most single-request
/// uploads are small, and a 256 KiB buffer costs a CGI process an mmap, its
/// page faults and an munmap.
const FIRST_COPY_BUFFER: usize = 16 * 1024;

/// While a body streams in, its bytes are handed to the disk every this many
/// bytes (without waiting), so the disk writes while the network delivers and
/// the fsync that ends each part waits only for the tail.
const WRITEBACK_STEP: u64 = 1024 * 1024;

/// What can go wrong in the store. Messages never contain absolute paths.
#[derive(Debug)]
pub enum SpoolError {
    /// The spool directory cannot be created or used.
    Setup { what: String, source: io::Error },
    /// The filesystem is full or the quota is exhausted.
    Full,
    /// Another request held the upload's lock for longer than the lock timeout.
    Busy,
    /// The upload was removed or completed by another request while this
    /// one wrote to it.
    Gone,
    /// An entry's record cannot be read.
    Corrupt { id: String, reason: String },
    /// The record belongs to another owner (another token's `sub`).
    NotYours,
    /// The request's gate refused the upload (its reason is the caller's).
    Refused(Refusal),
    /// Any other I/O failure, with what was being done.
    Io {
        action: &'static str,
        source: io::Error,
    },
}

impl std::fmt::Display for SpoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpoolError::Setup { what, source } => write!(f, "the spool directory {what}: {source}"),
            SpoolError::Full => {
                f.write_str("the spool is full (no space left on the device or quota exceeded)")
            }
            SpoolError::Busy => f.write_str("the upload is busy with another request; try again"),
            SpoolError::Gone => f.write_str("the upload was removed while it was being written"),
            SpoolError::Corrupt { id, reason } => {
                write!(f, "the record of upload {id} is unreadable: {reason}")
            }
            SpoolError::NotYours => f.write_str("the upload belongs to another owner"),
            SpoolError::Refused(why) => write!(f, "the upload was refused: {why}"),
            SpoolError::Io { action, source } => write!(f, "could not {action}: {source}"),
        }
    }
}

impl std::error::Error for SpoolError {}

impl SpoolError {
    fn io(action: &'static str) -> impl FnOnce(io::Error) -> SpoolError {
        move |source| {
            if matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EDQUOT)
            ) {
                SpoolError::Full
            } else {
                SpoolError::Io { action, source }
            }
        }
    }
}

/// An error while copying request bytes into the spool: either side may fail.
#[derive(Debug)]
pub enum WriteError {
    /// Reading the request body failed (truncated, malformed, connection gone).
    Source(io::Error),
    /// Writing to the spool failed.
    Spool(SpoolError),
}

impl From<SpoolError> for WriteError {
    fn from(e: SpoolError) -> Self {
        WriteError::Spool(e)
    }
}

/// How many bytes a bounded copy stored, and whether the source had more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub len: u64,
    /// The source held more than the allowed number of bytes (they were not stored).
    pub overflow: bool,
}

/// Where an id stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Absent,
    Incoming(Record),
    Complete(Record),
}

/// Result of installing a finished scratch upload under an id.
#[derive(Debug)]
pub enum Installed {
    /// The scratch became the complete upload.
    New(Record),
    /// The id already held a complete upload, which was kept unchanged.
    Kept(Record),
}

/// Result of a claim.
#[derive(Debug)]
pub enum Claimed {
    Done(Box<Record>),
    Incomplete,
    /// A tus partial upload: only a final upload made of it is the file.
    Partial,
    Unknown,
}

/// A spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
    lock_timeout: Duration,
    /// A request's owner and gate (`gate.rs`); empty for everyone else.
    scope: gate::Scope,
}

impl Spool {
    /// Opens (creating if needed) the spool at `root`.
    pub fn open(root: &Path, lock_timeout: Duration) -> Result<Spool, SpoolError> {
        make_layout(root)?;
        // Keep a web server from listing or running anything if the spool ends up
        // below a document root (Apache reads .htaccess; others ignore it).
        let guard = root.join(".htaccess");
        if !guard.exists() {
            let _ = write_new(&guard, b"Require all denied\nOptions -ExecCGI -Indexes\n");
        }
        Ok(Spool {
            root: root.to_owned(),
            lock_timeout,
            scope: gate::Scope::default(),
        })
    }

    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An entry's data file. Opened only with `O_NOFOLLOW`: a symlink planted
    /// in the spool in place of an entry is never followed.
    fn data_path(&self, state: &str, id: &Id) -> PathBuf {
        self.root.join(state).join(id.as_str())
    }

    /// An entry's record file, beside its data.
    fn record_path(&self, state: &str, id: &Id) -> PathBuf {
        self.root.join(state).join(format!("{id}{RECORD_SUFFIX}"))
    }

    /// Variant `n` (from 1) of a complete upload.
    fn variant_path(&self, id: &Id, n: usize) -> PathBuf {
        self.root.join(COMPLETE).join(format!("{id}.variant-{n}"))
    }

    /// A fresh name in `tmp/`, ending in `suffix`.
    fn tmp_path(&self, suffix: &str) -> Result<PathBuf, SpoolError> {
        let name = id::random_hex::<12>().map_err(SpoolError::io("make a scratch name"))?;
        Ok(self.root.join(TMP).join(format!("{name}{suffix}")))
    }

    /// Runs `op`, a step that creates or moves a file in a layout directory.
    /// If it fails with "not found" because a layout directory vanished
    /// while the process ran (an operator's `rm -rf spool/*`,
    /// systemd-tmpfiles cleaning an old empty `tmp/`, a remount), the layout
    /// is made again, with a log line, and `op` runs once more: a
    /// long-running server goes on instead of failing every upload until it
    /// is restarted.
    fn in_layout<T>(&self, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match make_layout(&self.root) {
                Ok(true) => {
                    crate::log::warn(format_args!(
                        "spool: layout directories were missing (removed while running?); made them again"
                    ));
                    op()
                }
                _ => Err(e),
            },
            other => other,
        }
    }

    /// Takes the id's lock, waiting at most the lock timeout.
    pub fn lock(&self, id: &Id) -> Result<Locked<'_>, SpoolError> {
        self.acquire(id, Some(Instant::now() + self.lock_timeout))?
            .ok_or(SpoolError::Busy)
    }

    /// Takes the id's lock only if it is free now.
    pub fn try_lock(&self, id: &Id) -> Result<Option<Locked<'_>>, SpoolError> {
        self.acquire(id, None)
    }

    fn acquire(
        &self,
        id: &Id,
        deadline: Option<Instant>,
    ) -> Result<Option<Locked<'_>>, SpoolError> {
        let path = self.root.join(LOCKS).join(id.lock_name());
        let mut pause = Duration::from_millis(1);
        loop {
            let file = self
                .in_layout(|| {
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                        .mode(0o660)
                        .open(&path)
                })
                .map_err(SpoolError::io("open a lock file"))?;
            match flock_at(&file, &path, deadline, &mut pause)? {
                Flock::Held => {
                    return Ok(Some(Locked {
                        spool: self,
                        id: id.clone(),
                        _file: file,
                    }));
                }
                Flock::Busy => return Ok(None),
                // Lock files are never removed by upspool, but an operator
                // may clean the directory: lock the file now at `path`.
                Flock::Moved { .. } => continue,
            }
        }
    }

    /// Where an id stands, read without the lock (records are replaced atomically).
    pub fn lookup(&self, id: &Id) -> Result<Entry, SpoolError> {
        if let Some(r) = self.read_record(COMPLETE, id)? {
            return Ok(Entry::Complete(r));
        }
        if let Some(r) = self.read_record(INCOMING, id)? {
            return Ok(Entry::Incoming(r));
        }
        // A completion may have moved the entry between our two reads.
        Ok(match self.read_record(COMPLETE, id)? {
            Some(r) => Entry::Complete(r),
            None => Entry::Absent,
        })
    }

    fn read_record(&self, state: &str, id: &Id) -> Result<Option<Record>, SpoolError> {
        let text = match read_nofollow(&self.record_path(state, id)) {
            Ok(t) => t,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(SpoolError::io("read an upload record")(e)),
        };
        let record: Record = serde_json::from_slice(&text).map_err(|e| SpoolError::Corrupt {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
        self.check_owner(&record)?;
        Ok(Some(record))
    }

    /// Where a complete upload's data lives relative to the spool directory,
    /// in the documented layout (`complete/<id>`). For a web server that
    /// serves the spool itself (`accel_redirect`); never a path to open.
    pub fn complete_data_name(id: &Id) -> String {
        format!("{COMPLETE}/{id}")
    }

    /// A complete upload's record and its data, opened for reading. The open
    /// file stays readable even if the entry is deleted or claimed meanwhile.
    pub fn open_complete(&self, id: &Id) -> Result<Option<(Record, File)>, SpoolError> {
        let Some(record) = self.read_record(COMPLETE, id)? else {
            return Ok(None);
        };
        match open_nofollow(&self.data_path(COMPLETE, id)) {
            Ok(file) => Ok(Some((record, file))),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(SpoolError::io("open an upload")(e)),
        }
    }

    /// Writes at most `max` bytes from `src` into the incoming upload's data
    /// file at `offset`, then makes them durable. Needs no lock: callers write
    /// only the byte range their request owns, and record it afterwards under
    /// the lock. Returns `Ok(None)` when the id has no incoming upload.
    pub fn write_at(
        &self,
        id: &Id,
        offset: u64,
        max: u64,
        src: &mut dyn Read,
    ) -> Result<Option<Written>, WriteError> {
        let file = match open_data_for_writing(&self.data_path(INCOMING, id)) {
            Ok(f) => f,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(SpoolError::io("open upload data")(e).into()),
        };
        let written = copy_bounded(src, &file, offset, max, None)?;
        file.sync_data()
            .map_err(SpoolError::io("store upload data"))?;
        if offset == 0 {
            self.check_first_bytes(id)?;
        }
        Ok(Some(written))
    }

    /// A scratch area for files whose id or validity is not known yet.
    pub fn scratch(&self) -> Result<Scratch<'_>, SpoolError> {
        Ok(Scratch {
            spool: self,
            base: self.tmp_path("")?,
            files: Vec::new(),
            kept: false,
        })
    }

    /// Writes `record` to a new file in `tmp/` and makes it durable, ready to
    /// be renamed into place.
    fn stage_record(&self, record: &Record) -> Result<PathBuf, SpoolError> {
        self.stage_record_after(record, || Ok(()))
    }

    /// `stage_record`, running `sync_data` (the fsync of the upload's data)
    /// between writing the record and fsyncing it. Both new files are then
    /// in the page cache when the first fsync runs, so it writes their shared
    /// inode and directory blocks once and the record's fsync has less left
    /// to wait for (on the benchmark disk a C program doing the same saved
    /// 0.05–0.15 ms per upload, about a tenth of a CGI request).
    fn stage_record_after(
        &self,
        record: &Record,
        sync_data: impl FnOnce() -> Result<(), SpoolError>,
    ) -> Result<PathBuf, SpoolError> {
        let text = serde_json::to_vec(record).map_err(|e| SpoolError::Io {
            action: "encode a record",
            source: io::Error::other(e),
        })?;
        let tmp = self.tmp_path(RECORD_SUFFIX)?;
        let staged = self
            .in_layout(|| create_new(&tmp))
            .and_then(|mut f| f.write_all(&text).map(|()| f))
            .map_err(SpoolError::io("write an upload record"))
            .and_then(|f| {
                sync_data()?;
                f.sync_all()
                    .map_err(SpoolError::io("write an upload record"))
            });
        if let Err(e) = staged {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(tmp)
    }

    /// Replaces the record of `id` in `state` (one rename).
    fn write_record(&self, state: &str, id: &Id, record: &Record) -> Result<(), SpoolError> {
        let staged = self.stage_record(record)?;
        fs::rename(&staged, self.record_path(state, id)).map_err(|e| {
            let _ = fs::remove_file(&staged);
            SpoolError::io("write an upload record")(e)
        })
    }

    /// Ids of complete uploads among `ids`, with their records, in the
    /// given order; another owner's are left out.
    pub fn complete_records(&self, ids: &[Id]) -> Result<Vec<Record>, SpoolError> {
        let mut out = Vec::new();
        for id in ids {
            match self.read_record(COMPLETE, id) {
                Ok(Some(r)) => out.push(r),
                Ok(None) | Err(SpoolError::NotYours) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Lets the gate, if any, look at an incoming upload's first bytes
    /// once they are stored; an upload it refuses is removed here.
    fn check_first_bytes(&self, id: &Id) -> Result<(), SpoolError> {
        let Some(gate) = self.gate() else {
            return Ok(());
        };
        // Completed (and checked) or removed meanwhile: nothing to do.
        let Some(record) = self.read_record(INCOMING, id)? else {
            return Ok(());
        };
        let head = match read_head(&self.data_path(INCOMING, id)) {
            Ok(head) => head,
            Err(e) if missing(&e) => return Ok(()),
            Err(e) => return Err(SpoolError::io("read upload data")(e)),
        };
        if let Err(why) = gate.first_bytes(&record, &head) {
            self.lock(id)?.remove()?;
            return Err(SpoolError::Refused(why));
        }
        Ok(())
    }

    /// Lets the gate, if any, check an upload about to become complete:
    /// reads its first bytes from `data`. A refusal is returned as
    /// [`SpoolError::Refused`]; the caller removes what it refused.
    fn completing(&self, record: &mut Record, data: &Path) -> Result<(), SpoolError> {
        let Some(gate) = self.gate() else {
            return Ok(());
        };
        let head = read_head(data).map_err(SpoolError::io("read upload data"))?;
        let len = fs::symlink_metadata(data)
            .map_err(SpoolError::io("read upload data"))?
            .len();
        let len = record.size.unwrap_or(len).min(len);
        gate.completing(record, &head, len)
            .map_err(SpoolError::Refused)
    }

    /// Tells the gate, if any, that an upload is complete.
    fn completed(&self, record: &Record) -> Result<(), SpoolError> {
        crate::metrics::upload("completed");
        match self.gate() {
            Some(gate) => gate.completed(self, record),
            None => Ok(()),
        }
    }
}

/// Proof that this process holds an id's lock; every change to an entry needs one.
pub struct Locked<'s> {
    spool: &'s Spool,
    id: Id,
    _file: File,
}

impl Locked<'_> {
    /// Where the id stands (read under the lock). A completion interrupted
    /// between its two renames (data moved, record not yet) is rolled back
    /// here, so the upload is resumable again.
    pub fn entry(&self) -> Result<Entry, SpoolError> {
        let entry = self.spool.lookup(&self.id)?;
        if let Entry::Incoming(_) = entry {
            self.recover_interrupted_completion()?;
        }
        Ok(entry)
    }

    fn recover_interrupted_completion(&self) -> Result<(), SpoolError> {
        let incoming = self.spool.data_path(INCOMING, &self.id);
        match fs::symlink_metadata(&incoming) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            _ => return Ok(()),
        }
        let moved = self.spool.data_path(COMPLETE, &self.id);
        let moved_is_file = fs::symlink_metadata(&moved).is_ok_and(|m| m.is_file());
        let no_record = matches!(
            fs::symlink_metadata(self.spool.record_path(COMPLETE, &self.id)),
            Err(e) if e.kind() == io::ErrorKind::NotFound
        );
        if moved_is_file && no_record {
            fs::rename(&moved, &incoming).map_err(SpoolError::io("resume an upload"))?;
        }
        Ok(())
    }

    /// Starts a new incoming upload with an empty data file; replaces any
    /// incoming upload of this id. The upload exists once its record does.
    pub fn create(&self, record: &mut Record) -> Result<(), SpoolError> {
        self.spool.creating(record)?;
        self.remove_state(INCOMING)?;
        let data = self.spool.data_path(INCOMING, &self.id);
        self.spool
            .in_layout(|| write_new(&data, b""))
            .map_err(SpoolError::io("create upload data"))?;
        let made = self.spool.write_record(INCOMING, &self.id, record);
        if made.is_err() {
            let _ = fs::remove_file(&data);
        } else {
            crate::metrics::upload("created");
        }
        made
    }

    /// Replaces the record of the incoming upload.
    pub fn save(&self, record: &Record) -> Result<(), SpoolError> {
        self.spool.write_record(INCOMING, &self.id, record)
    }

    /// Records a part stored by [`Spool::write_at`] in `record` (the incoming
    /// record read under this lock) and saves it; completes the upload when
    /// the parts tile its size. Returns true when this call completed it.
    pub fn record_part(
        &self,
        record: &mut Record,
        index: u64,
        offset: u64,
        len: u64,
    ) -> Result<bool, SpoolError> {
        let Some(parts) = record.parts.as_mut() else {
            return Err(SpoolError::Corrupt {
                id: self.id.to_string(),
                reason: "no part list".into(),
            });
        };
        parts.stored.insert(index, (offset, len));
        record.received = parts.bytes();
        record.updated = unix_now();
        if record.size.is_some_and(|size| parts.tile(size)) {
            self.complete(record)?;
            Ok(true)
        } else {
            self.save(record)?;
            Ok(false)
        }
    }

    /// Makes the incoming upload complete: data made durable and renamed
    /// into `complete/`, then the record marked complete renamed beside it
    /// (the step that makes it complete), then the incoming record removed.
    pub fn complete(&self, record: &mut Record) -> Result<(), SpoolError> {
        let data = self.spool.data_path(INCOMING, &self.id);
        if let Err(e) = self.spool.completing(record, &data) {
            if matches!(e, SpoolError::Refused(_)) {
                self.remove_state(INCOMING)?;
            }
            return Err(e);
        }
        let data_file =
            open_data_for_writing(&data).map_err(SpoolError::io("store upload data"))?;
        // Bytes past the length (a refused chunk written before its checksum
        // failed, with a length fixed later) are not the upload's.
        if let Some(size) = record.size
            && data_file.metadata().is_ok_and(|m| m.len() > size)
        {
            data_file
                .set_len(size)
                .map_err(SpoolError::io("store upload data"))?;
        }
        record.complete = true;
        record.updated = unix_now();
        let staged = self.spool.stage_record_after(record, || {
            data_file
                .sync_all()
                .map_err(SpoolError::io("store upload data"))
        })?;
        let placed = self.spool.in_layout(|| {
            fs::rename(&data, self.spool.data_path(COMPLETE, &self.id))
                .and_then(|()| fs::rename(&staged, self.spool.record_path(COMPLETE, &self.id)))
        });
        if let Err(e) = placed {
            let _ = fs::remove_file(&staged);
            return Err(SpoolError::io("complete an upload")(e));
        }
        // A stale incoming record left by a crash here is harmless: the
        // complete record wins every lookup, and gc removes it.
        remove_if_present(&self.spool.record_path(INCOMING, &self.id))?;
        sync_dir(&self.spool.root.join(COMPLETE))?;
        self.spool.completed(record)
    }

    /// Installs a finished scratch upload as this id's complete upload. An
    /// existing complete upload is kept (the first finished wins; a retried or
    /// duplicated upload of the same id gets success either way); an incoming
    /// one is replaced.
    pub fn install(
        &self,
        mut scratch: Scratch<'_>,
        record: &mut Record,
    ) -> Result<Installed, SpoolError> {
        if let Entry::Complete(existing) = self.entry()? {
            return Ok(Installed::Kept(existing));
        }
        self.spool.creating(record)?;
        if let Some((data, _)) = scratch.files.first() {
            // A refused scratch file goes with the scratch area.
            self.spool.completing(record, data)?;
        }
        self.remove_state(INCOMING)?;
        record.complete = true;
        record.updated = unix_now();
        let staged = self.spool.stage_record_after(record, || scratch.sync())?;
        // Data and variants first, the record last: until the record's rename
        // the id is not complete, and leftovers of a crash are replaced by the
        // next upload of the id or removed by gc.
        let placed = self.spool.in_layout(|| {
            scratch
                .files
                .iter()
                .enumerate()
                .try_for_each(|(n, (path, _))| {
                    let to = match n {
                        0 => self.spool.data_path(COMPLETE, &self.id),
                        n => self.spool.variant_path(&self.id, n),
                    };
                    fs::rename(path, to)
                })
                .and_then(|()| fs::rename(&staged, self.spool.record_path(COMPLETE, &self.id)))
        });
        if let Err(e) = placed {
            let _ = fs::remove_file(&staged);
            return Err(SpoolError::io("complete an upload")(e));
        }
        scratch.kept = true;
        sync_dir(&self.spool.root.join(COMPLETE))?;
        crate::metrics::upload("created");
        self.spool.completed(record)?;
        Ok(Installed::New(record.clone()))
    }

    /// Removes everything stored for the id; returns the record it had
    /// (`None`: nothing was there). Another owner's upload is left alone
    /// ([`SpoolError::NotYours`]).
    pub fn remove(self) -> Result<Option<Record>, SpoolError> {
        let record = match self.spool.lookup(&self.id) {
            Ok(Entry::Incoming(r) | Entry::Complete(r)) => Some(r),
            Ok(Entry::Absent) => None,
            // An unreadable record is still removed (by an unscoped or the
            // owner's request); an owner mismatch is not.
            Err(SpoolError::Corrupt { .. }) if self.spool.scope.owner.is_none() => None,
            Err(e) => return Err(e),
        };
        let incoming = self.remove_state(INCOMING)?;
        let complete = self.remove_state(COMPLETE)?;
        Ok(record.filter(|_| incoming || complete))
    }

    /// Removes the id's entry in one state: the record first, so the entry
    /// is gone at once, then its files. Returns whether a record was there.
    fn remove_state(&self, state: &str) -> Result<bool, SpoolError> {
        let existed = remove_if_present(&self.spool.record_path(state, &self.id))?;
        remove_if_present(&self.spool.data_path(state, &self.id))?;
        if state == COMPLETE {
            for n in 1.. {
                if !remove_if_present(&self.spool.variant_path(&self.id, n))? {
                    break;
                }
            }
        }
        Ok(existed)
    }

    /// Moves a complete upload's data to `dest` (rename on the same
    /// filesystem, else copy + fsync + rename) and removes the entry.
    pub fn claim(self, dest: &Path) -> Result<Claimed, SpoolError> {
        let record = match self.entry()? {
            Entry::Absent => return Ok(Claimed::Unknown),
            Entry::Incoming(_) => return Ok(Claimed::Incomplete),
            Entry::Complete(r) if r.partial => return Ok(Claimed::Partial),
            Entry::Complete(r) => r,
        };
        move_file(&self.spool.data_path(COMPLETE, &self.id), dest)?;
        for n in 1..=record.variants.len() {
            let mut name = dest.as_os_str().to_owned();
            name.push(format!(".variant-{n}"));
            move_file(&self.spool.variant_path(&self.id, n), Path::new(&name))?;
        }
        self.remove_state(COMPLETE)?;
        Ok(Claimed::Done(Box::new(record)))
    }
}

/// Files written before their upload's id or validity is known, in `tmp/`.
/// Removed on drop unless installed.
pub struct Scratch<'s> {
    spool: &'s Spool,
    /// The first file's path; variants add `.variant-N`.
    base: PathBuf,
    /// The files written so far, kept open to be fsynced at install.
    files: Vec<(PathBuf, File)>,
    kept: bool,
}

impl Scratch<'_> {
    /// Writes the next file (the upload itself first, then variants) from
    /// `src`, at most `max` bytes.
    pub fn write_file(&mut self, src: &mut dyn Read, max: u64) -> Result<Written, WriteError> {
        let path = match self.files.len() {
            0 => self.base.clone(),
            n => {
                let mut name = self.base.as_os_str().to_owned();
                name.push(format!(".variant-{n}"));
                PathBuf::from(name)
            }
        };
        let file = self
            .spool
            .in_layout(|| create_new(&path))
            .map_err(SpoolError::io("create upload data"))?;
        let written = copy_bounded(src, &file, 0, max, None);
        self.files.push((path, file));
        written
    }

    /// Writes the upload itself as the concatenation of `parts`, in order,
    /// with `copy_file_range` (std's `io::copy` between two files uses it):
    /// the kernel copies, or shares the extents where the filesystem has
    /// reflinks, and memory stays flat. Returns the length.
    pub fn assemble(&mut self, parts: &[File]) -> Result<u64, SpoolError> {
        let path = self.base.clone();
        let file = self
            .spool
            .in_layout(|| create_new(&path))
            .map_err(SpoolError::io("create upload data"))?;
        self.files.push((path, file));
        let mut out = &self.files[0].1;
        let mut total = 0u64;
        for mut part in parts {
            total += io::copy(&mut part, &mut out).map_err(SpoolError::io("assemble an upload"))?;
        }
        Ok(total)
    }

    /// Reopens the main file for reading.
    pub fn data(&self) -> Result<File, SpoolError> {
        open_nofollow(&self.base).map_err(SpoolError::io("read upload data"))
    }

    fn sync(&self) -> Result<(), SpoolError> {
        for (_, file) in &self.files {
            file.sync_all()
                .map_err(SpoolError::io("store upload data"))?;
        }
        Ok(())
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if !self.kept {
            for (path, _) in &self.files {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// How [`flock_at`] ended.
enum Flock {
    /// Locked, and the path still names the locked file.
    Held,
    /// Another holder kept it past the deadline.
    Busy,
    /// Locked, but the path names another file now, or nothing (`gone`).
    Moved { gone: bool },
}

/// Takes an exclusive `flock` on `file`, opened from `path`, retrying with
/// a growing pause until `deadline` (`None`: one try), then checks that
/// `path` still names the same file (device and inode): a lock on a file
/// that was renamed or removed meanwhile protects nothing.
fn flock_at(
    file: &File,
    path: &Path,
    deadline: Option<Instant>,
    pause: &mut Duration,
) -> Result<Flock, SpoolError> {
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => match deadline {
                Some(d) if Instant::now() < d => {
                    std::thread::sleep(*pause);
                    *pause = (*pause * 2).min(Duration::from_millis(20));
                }
                _ => return Ok(Flock::Busy),
            },
            Err(fs::TryLockError::Error(e)) => return Err(SpoolError::io("take a lock")(e)),
        }
    }
    let held = file.metadata().map_err(SpoolError::io("inspect a lock"))?;
    match fs::symlink_metadata(path) {
        Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => Ok(Flock::Held),
        Ok(_) => Ok(Flock::Moved { gone: false }),
        Err(e) if missing(&e) => Ok(Flock::Moved { gone: true }),
        Err(e) => Err(SpoolError::io("inspect a lock")(e)),
    }
}

/// Makes the layout directories below `root` that are missing (and `root`
/// itself); returns whether any was. Most calls find the layout in place, so
/// it looks before it creates anything (this runs on every CGI request).
fn make_layout(root: &Path) -> Result<bool, SpoolError> {
    let setup = |what: &str| {
        let what = what.to_owned();
        move |source| SpoolError::Setup { what, source }
    };
    let mut made = false;
    for sub in [INCOMING, COMPLETE, LOCKS, TMP] {
        let path = root.join(sub);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {
                return Err(SpoolError::Setup {
                    what: format!("has a {sub} that is not a directory"),
                    source: io::Error::from(io::ErrorKind::InvalidData),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(setup("cannot be read")(e)),
        }
        fs::create_dir_all(root).map_err(setup("cannot be created"))?;
        match fs::create_dir(&path) {
            Ok(()) => made = true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(setup(&format!("cannot hold its {sub}/ directory"))(e)),
        }
    }
    Ok(made)
}

/// Removes one file of an entry; a directory planted in its place goes too
/// (never followed: it is inside the spool). Returns whether it was there.
fn remove_if_present(path: &Path) -> Result<bool, SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if missing(&e) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => fs::remove_dir_all(path)
            .map(|()| true)
            .map_err(SpoolError::io("remove an upload")),
        Err(e) => Err(SpoolError::io("remove an upload")(e)),
    }
}

/// Copies at most `max` bytes from `src` to `dst` at `offset`. With
/// `progress`, it is told the end offset of what was written after every
/// write (`false`), and when `src` fails, after what arrived before the
/// failure is written (`true`): bytes that arrived are kept; an error it
/// returns stops the copy. Without it, a failing `src` stores nothing the
/// caller will record.
fn copy_bounded(
    src: &mut dyn Read,
    dst: &File,
    offset: u64,
    max: u64,
    mut progress: Option<&mut dyn FnMut(u64, bool) -> Result<(), SpoolError>>,
) -> Result<Written, WriteError> {
    let mut buf = vec![0u8; FIRST_COPY_BUFFER];
    let mut done = 0u64;
    let mut handed_to_disk = 0u64;
    loop {
        if done > 0 && buf.len() < COPY_BUFFER {
            buf = vec![0u8; COPY_BUFFER];
        }
        // Fill the buffer before writing it: bodies arrive in pieces of a
        // few KiB (FastCGI records, multipart chunks), and one pwrite per
        // piece cost more CPU than the disk takes to store the bytes.
        // Ask for one byte more than allowed, to notice an overlong source.
        let want = (buf.len() as u64).min(max - done + 1) as usize;
        let mut filled = 0;
        let mut ended = false;
        while filled < want {
            match src.read(&mut buf[filled..want]) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Without progress, what was read is not stored: the request
                // fails as a whole and nothing records these bytes. With it,
                // what arrived is kept and recorded.
                Err(e) => {
                    if let Some(record) = progress.as_mut() {
                        let take = (filled as u64).min(max - done) as usize;
                        if take > 0 {
                            dst.write_all_at(&buf[..take], offset + done)
                                .map_err(SpoolError::io("write upload data"))?;
                            done += take as u64;
                        }
                        record(offset + done, true)?;
                    }
                    return Err(WriteError::Source(e));
                }
            }
        }
        let take = (filled as u64).min(max - done) as usize;
        if take > 0 {
            dst.write_all_at(&buf[..take], offset + done)
                .map_err(SpoolError::io("write upload data"))?;
            done += take as u64;
            if done - handed_to_disk >= WRITEBACK_STEP {
                crate::sys::start_writeback(dst, offset + handed_to_disk, done - handed_to_disk);
                handed_to_disk = done;
            }
            if let Some(publish) = progress.as_mut() {
                publish(offset + done, false)?;
            }
        }
        if take < filled || ended {
            return Ok(Written {
                len: done,
                overflow: take < filled,
            });
        }
    }
}

fn move_file(from: &Path, to: &Path) -> Result<(), SpoolError> {
    match fs::rename(from, to) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {}
        Err(e) => return Err(SpoolError::io("move the upload to its destination")(e)),
    }
    // Another filesystem: copy beside the destination, fsync, rename into place.
    let parent = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(
        ".{name}.upspool-{}",
        id::random_hex::<6>().map_err(SpoolError::io("make a name"))?
    ));
    let copied = (|| {
        let mut src = open_nofollow(from)?;
        let mut dst = create_new(&tmp)?;
        io::copy(&mut src, &mut dst)?;
        dst.sync_all()?;
        fs::rename(&tmp, to)?;
        sync_dir(parent).map_err(|e| io::Error::other(e.to_string()))
    })();
    if copied.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    copied.map_err(SpoolError::io("copy the upload to its destination"))
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SpoolError::io("store a directory"))
}

/// The path (or a directory on the way) does not exist.
///
/// A symlink met with `O_NOFOLLOW` (ELOOP) counts as absent: it is not an entry.
fn missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || e.raw_os_error() == Some(libc::ELOOP)
}

/// Opens an entry's data file for writing (never creating it, never
/// following a symlink): how writers, the one-writer lock and its probe
/// open it.
fn open_data_for_writing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// The first [`HEAD_BYTES`] of a file (fewer if it is shorter).
fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let file = open_nofollow(path)?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    file.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    open_nofollow(path)?.read_to_end(&mut out)?;
    Ok(out)
}

fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    create_new(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests;
