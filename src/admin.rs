//! Admin and app-integration commands: `info`, `claim`, `gc`. They print
//! JSON on stdout and a sentence on stderr when they fail (exit 1).

use std::path::Path;

use crate::config::Config;
use crate::spool::{Claimed, Entry, GcPolicy, Id, Spool};

/// A failed command: its message for stderr.
pub struct Failed(pub String);

fn open(config: &Config) -> Result<Spool, Failed> {
    Spool::open(&config.spool_dir, config.lock_timeout).map_err(|e| Failed(e.to_string()))
}

fn parse_id(text: &str) -> Result<Id, Failed> {
    Id::parse(text).map_err(|e| Failed(format!("{text:?} is not an upload id: {e}")))
}

/// `upspool info ID`.
pub fn info(config: &Config, id: &str) -> Result<String, Failed> {
    let id = parse_id(id)?;
    match open(config)?
        .lookup(&id)
        .map_err(|e| Failed(e.to_string()))?
    {
        Entry::Absent => Err(Failed(format!("there is no upload with id {id}"))),
        Entry::Incoming(r) | Entry::Complete(r) => Ok(r.info_json().to_string()),
    }
}

/// `upspool claim ID DEST`.
pub fn claim(config: &Config, id: &str, dest: &Path) -> Result<String, Failed> {
    let id = parse_id(id)?;
    let spool = open(config)?;
    let lock = spool.lock(&id).map_err(|e| Failed(e.to_string()))?;
    match lock.claim(dest).map_err(|e| Failed(e.to_string()))? {
        Claimed::Done(r) => Ok(r.info_json().to_string()),
        Claimed::Incomplete => Err(Failed(format!(
            "upload {id} is not complete yet; nothing was moved"
        ))),
        Claimed::Partial => Err(Failed(format!(
            "upload {id} is a tus partial upload, a piece of a final upload; claim the final upload instead"
        ))),
        Claimed::Unknown => Err(Failed(format!("there is no upload with id {id}"))),
    }
}

/// `upspool gc`: one full expiry pass.
pub fn gc(config: &Config) -> Result<String, Failed> {
    let policy = GcPolicy {
        incomplete_after: config.expire_incomplete,
        complete_after: config.expire_complete,
        sample: None,
    };
    let r = open(config)?
        .gc(&policy)
        .map_err(|e| Failed(e.to_string()))?;
    Ok(serde_json::json!({
        "incomplete": r.incomplete, "complete": r.complete, "scratch": r.scratch, "orphans": r.orphans,
        "busy": r.busy,
    })
    .to_string())
}
