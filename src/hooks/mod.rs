//! Hooks: telling the application about uploads (issue 16, tusd's
//! convention). `pre-create` is asked before an upload is created and may
//! refuse it or change its name and metadata; the post-events (`post-finish`,
//! `post-terminate`, `post-expire`) are written durably into the spool's
//! outbox before the request is answered and delivered at least once, later,
//! by whichever upspool process runs.
//!
//! STUB: the interface the protocol layer calls; filled in by the hooks work.

use serde_json::{Map, Value};

use crate::config::{Config, HookEvent};
use crate::spool::{Record, Spool, SpoolError};

/// The configured hook transports (a command, a URL, or both).
pub struct Hooks {
    _private: (),
}

/// What a pre-create hook allowed: a replacement name, metadata to merge.
#[derive(Debug, Default)]
pub struct PreCreate {
    pub name: Option<String>,
    pub metadata: Map<String, Value>,
}

/// Why a pre-create hook stopped an upload: its own refusal (status and
/// message as the hook gave them), or the hook failing (500, a sentence).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Hooks {
    /// `None` when neither `hook_command` nor `hook_url` is configured.
    pub fn from_config(_config: &Config) -> Option<Hooks> {
        None
    }

    /// Whether `event` goes to the hook (`hook_events`).
    pub fn wants(&self, _event: HookEvent) -> bool {
        false
    }

    /// Asks the pre-create hook. `upload` is what is known of the upload so
    /// far (its record as `upspool info` prints it), `headers` the forwarded
    /// request headers (lowercase names).
    pub fn pre_create(
        &self,
        _upload: &Value,
        _sub: Option<&str>,
        _headers: &Map<String, Value>,
    ) -> Result<PreCreate, Refusal> {
        Ok(PreCreate::default())
    }
}

/// Writes a post-event durably into the spool's outbox (when hooks want it).
pub fn post(
    _spool: &Spool,
    _config: &Config,
    _event: HookEvent,
    _record: &Record,
    _headers: &Map<String, Value>,
) -> Result<(), SpoolError> {
    Ok(())
}
