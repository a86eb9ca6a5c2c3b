//! What a request may do with the store beyond the store's own rules
//! (issue 16), given to a request's [`Spool`] by the protocol layer:
//!
//! - its *owner*: the `sub` of the request's upload token. Records carry the
//!   owner that created them; a scoped spool reads only its owner's records
//!   (another's is [`SpoolError::NotYours`]) and stamps its owner on every
//!   upload it creates. The check lives where records are read, so no
//!   request path can forget it.
//! - its [`Gate`]: called as an upload is created (the pre-create hook), as
//!   it is about to become complete (content checks: the sniffed type, the
//!   smallest size) and once it is complete (the post-finish event, written
//!   before anyone is answered). A refusal is the caller's own error,
//!   carried through opaquely; the store removes what it refused.
//!
//! An unscoped spool (admin commands, gc, a server without tokens or hooks)
//! has neither and pays nothing.

use std::sync::Arc;

use super::{Record, Spool, SpoolError};

/// The caller's reason for refusing an upload, carried through the store.
pub type Refusal = Box<dyn std::error::Error + Send + Sync>;

/// The protocol layer's checks and events at an upload's turning points.
pub trait Gate: Send + Sync {
    /// Before an upload is created (its record not yet written): may change
    /// the record (name, metadata) or refuse.
    fn creating(&self, record: &mut Record) -> Result<(), Refusal>;
    /// Before an upload becomes complete, with its first bytes (up to
    /// [`HEAD_BYTES`]) and length: may set its type, or refuse it, which
    /// removes it.
    fn completing(&self, record: &mut Record, head: &[u8], len: u64) -> Result<(), Refusal>;
    /// The first bytes of an upload have arrived (a chunk at offset 0):
    /// may refuse it already when they show what it is, which removes it.
    fn first_bytes(&self, record: &Record, head: &[u8]) -> Result<(), Refusal>;
    /// The upload is complete, under its lock, before the request is
    /// answered.
    fn completed(&self, spool: &Spool, record: &Record) -> Result<(), SpoolError>;
}

/// How much of an upload `completing` sees: more than any magic number
/// needs (the longest `infer` reads is a few hundred bytes).
pub const HEAD_BYTES: usize = 8192;

/// A request's scope: whose uploads, and its gate.
#[derive(Clone, Default)]
pub(super) struct Scope {
    /// `Some(sub)`: only uploads created under this owner (`None` = a token
    /// without `sub`).
    pub owner: Option<Option<String>>,
    pub gate: Option<Arc<dyn Gate>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("owner", &self.owner)
            .field("gate", &self.gate.is_some())
            .finish()
    }
}

impl Spool {
    /// This spool as seen by one request: `owner` (see the module) and `gate`.
    pub fn scoped(&self, owner: Option<Option<String>>, gate: Option<Arc<dyn Gate>>) -> Spool {
        let mut s = self.clone();
        s.scope = Scope { owner, gate };
        s
    }

    /// Refuses a record of another owner.
    pub(super) fn check_owner(&self, record: &Record) -> Result<(), SpoolError> {
        match &self.scope.owner {
            Some(owner) if *owner != record.sub => Err(SpoolError::NotYours),
            _ => Ok(()),
        }
    }

    /// Stamps a new upload with the owner and lets the gate see it.
    pub(super) fn creating(&self, record: &mut Record) -> Result<(), SpoolError> {
        if let Some(owner) = &self.scope.owner {
            record.sub = owner.clone();
        }
        match &self.scope.gate {
            Some(g) => g.creating(record).map_err(SpoolError::Refused),
            None => Ok(()),
        }
    }

    pub(super) fn gate(&self) -> Option<&Arc<dyn Gate>> {
        self.scope.gate.as_ref()
    }
}
