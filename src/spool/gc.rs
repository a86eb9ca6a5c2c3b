//! Expiry: removes incomplete and unclaimed uploads older than their age limit,
//! files a crash left without a record, and leftover scratch files. Lock files
//! are shared and kept.
//!
//! Ages are measured against the filesystem's own clock (the mtime of a file
//! touched now), not this host's, because hosts sharing a spool disagree about
//! the time. An entry whose lock is held is in use and skipped.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{COMPLETE, INCOMING, RECORD_SUFFIX, Spool, SpoolError, TMP, remove_if_present};
use crate::spool::Id;

/// What `gc` removes.
#[derive(Debug, Clone)]
pub struct GcPolicy {
    /// Incomplete uploads whose last part is older than this.
    pub incomplete_after: Duration,
    /// Complete uploads nobody claimed within this time.
    pub complete_after: Duration,
    /// Look at no more than this many entries per directory (a random window);
    /// `None` looks at all of them.
    pub sample: Option<usize>,
}

/// What one `gc` pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub incomplete: usize,
    pub complete: usize,
    pub scratch: usize,
    /// Data or variant files a crash left without their record.
    pub orphans: usize,
    /// Expired entries skipped because a request held their lock.
    pub busy: usize,
}

impl Spool {
    /// One expiry pass.
    pub fn gc(&self, policy: &GcPolicy) -> Result<GcReport, SpoolError> {
        let now = self.fs_now()?;
        let mut report = GcReport::default();
        for (state, limit) in [
            (INCOMING, policy.incomplete_after),
            (COMPLETE, policy.complete_after),
        ] {
            let dir = self.root.join(state);
            for name in sample(&dir, policy.sample)? {
                // An entry is its record; a data or variant file is looked at
                // on its own only when its record is missing (a crash orphan).
                let (stem, is_record) = match name.strip_suffix(RECORD_SUFFIX) {
                    Some(stem) => (stem, true),
                    None => (name.split('.').next().unwrap_or_default(), false),
                };
                let Ok(id) = Id::parse(stem) else { continue };
                let path = dir.join(&name);
                let record = self.record_path(state, &id);
                // Orphans are debris, like scratch files: they age as fast as
                // incomplete uploads.
                let expired = || match is_record {
                    true => older(&path, now, limit),
                    false => {
                        older(&path, now, policy.incomplete_after)
                            && fs::symlink_metadata(&record).is_err()
                    }
                };
                if !expired() {
                    continue;
                }
                let Some(lock) = self.try_lock(&id)? else {
                    report.busy += 1;
                    continue;
                };
                // A stream still appending (a tus PATCH) keeps its upload
                // alive however old the record looks. Asked under the id's
                // lock: a writer takes its own lock before the id's, so one
                // that started meanwhile is seen here.
                if state == INCOMING && is_record && self.is_being_written(&id) {
                    report.busy += 1;
                    continue;
                }
                // Re-check under the lock: a part may have arrived meanwhile.
                if !expired() {
                    continue;
                }
                if !is_record {
                    if fs::remove_file(&path).is_ok() {
                        report.orphans += 1;
                    }
                } else if lock.remove_state(state)? {
                    if state == INCOMING {
                        report.incomplete += 1;
                    } else {
                        report.complete += 1;
                    }
                }
            }
        }
        for name in sample(&self.root.join(TMP), policy.sample)? {
            let path = self.root.join(TMP).join(&name);
            if !name.starts_with('.')
                && older(&path, now, policy.incomplete_after)
                && remove_if_present(&path).is_ok_and(|removed| removed)
            {
                report.scratch += 1;
            }
        }
        Ok(report)
    }

    /// The filesystem's idea of now.
    fn fs_now(&self) -> Result<SystemTime, SpoolError> {
        let clock = self.root.join(TMP).join(".clock");
        let touched = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&clock)
            .and_then(|mut f| {
                f.write_all(b"gc clock\n")?;
                f.metadata()?.modified()
            });
        touched.map_err(SpoolError::io("read the spool's clock"))
    }
}

fn older(path: &Path, now: SystemTime, limit: Duration) -> bool {
    match fs::symlink_metadata(path).and_then(|m| m.modified()) {
        Ok(t) => now
            .duration_since(t)
            .map(|age| age > limit)
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Names in `dir`: all of them, or a window of `n` starting at a random place.
fn sample(dir: &Path, n: Option<usize>) -> Result<Vec<String>, SpoolError> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(SpoolError::io("list the spool"))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    if let Some(n) = n
        && names.len() > n
    {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let start = (u64::from_le_bytes(seed) % names.len() as u64) as usize;
        names.rotate_left(start);
        names.truncate(n);
    }
    Ok(names)
}
