//! Admin and app-integration commands: `info`, `claim`, `gc`, `token`. They
//! print JSON (a token: the token alone) on stdout and a sentence on stderr
//! when they fail (exit 1).

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

/// `upspool token [--sub S] [--ttl 1h] [--max-size N] [--allowed-extensions
/// a,b] [--allowed-types image/*,…]`: an upload token signed with the
/// configured `auth_secret`, for scripts and tests (applications mint their
/// own; see the README).
pub fn token(config: &Config, args: &[&str]) -> Result<String, Failed> {
    let Some(secret) = &config.auth_secret else {
        return Err(Failed(
            "no auth_secret is configured (UPSPOOL_AUTH_SECRET or auth_secret in the configuration file)".into(),
        ));
    };
    let mut ttl = std::time::Duration::from_secs(3600);
    let mut claims = crate::auth::Claims::default();
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| Failed(format!("{flag} needs a value")))?;
        match *flag {
            "--sub" => claims.sub = Some(value.to_string()),
            "--ttl" => {
                ttl = crate::config::parse_duration(value).ok_or_else(|| {
                    Failed(format!(
                        "--ttl: `{value}` is not a duration (like 90s, 1h, 2d)"
                    ))
                })?
            }
            "--max-size" => {
                claims.max_size = Some(crate::config::parse_size(value).ok_or_else(|| {
                    Failed(format!(
                        "--max-size: `{value}` is not a size (like 1000, 512K, 10G)"
                    ))
                })?)
            }
            "--allowed-extensions" => claims.allowed_extensions = Some(list(value)),
            "--allowed-types" => claims.allowed_types = Some(list(value)),
            other => {
                return Err(Failed(format!(
                    "unknown option {other}; options: --sub, --ttl, --max-size, --allowed-extensions, --allowed-types"
                )));
            }
        }
    }
    claims.exp = crate::spool::unix_now().saturating_add(ttl.as_secs());
    crate::auth::mint(secret, &claims).map_err(Failed)
}
