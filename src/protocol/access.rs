//! Who may do what, per request (issue 16): the upload token, the limits it
//! narrows, the checks by content, and the hooks at an upload's turning
//! points.
//!
//! With none of `auth_secret`, hooks, `allowed_types` or `min_size`
//! configured, requests run on the server's own [`Handler`] and nothing here
//! runs. Otherwise each request gets a [`Handler`] of its own: the token's
//! claims, and a spool scoped to the token's `sub` with a [`RequestGate`],
//! which the spool calls as an upload is created (pre-create hook), before
//! it becomes complete (type by content, smallest size) and once it is
//! complete (post-finish event). Because the spool calls the gate, every
//! protocol path that creates or completes an upload passes through it.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::{Failure, Kind};
use super::names::{clean_name, extension, extension_allowed};
use super::params::Params;
use super::{Handler, route::Action};
use crate::auth::{self, Claims, TokenError};
use crate::config::{Config, HookEvent};
use crate::hooks::Hooks;
use crate::message::{HeaderMap, HeaderText};
use crate::spool::{Gate, Record, Refusal, Spool, SpoolError};

/// Bytes `infer` cannot name are text when they are UTF-8 without NULs
/// (what `text/plain` in `allowed_types` means), else octet-stream.
fn sniff(head: &[u8]) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_owned();
    }
    // The head may end inside a multi-byte character.
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if text && !head.contains(&0) {
        "text/plain".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// `image/*` matches `image/png`; `application/pdf` only itself.
fn type_matches(pattern: &str, media_type: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(major) => media_type
            .split_once('/')
            .is_some_and(|(m, _)| m.eq_ignore_ascii_case(major)),
        None => pattern.eq_ignore_ascii_case(media_type),
    }
}

fn refused_type(found: &str, allowed: &str) -> Failure {
    Failure::new(
        Kind::TypeRefused,
        format!("The file's content is {found}, which is not accepted here (allowed: {allowed})."),
    )
}

/// What the spool asks of a request (see the module).
pub(crate) struct RequestGate {
    config: Arc<Config>,
    hooks: Option<Arc<Hooks>>,
    /// The token's own `allowed_types`, checked beside the server's.
    token_types: Option<Vec<String>>,
    /// The request headers `hook_forward_headers` names, lowercase.
    forwarded: Map<String, Value>,
}

impl RequestGate {
    fn types_refused(&self, media_type: &str) -> Option<String> {
        let lists = [Some(&self.config.allowed_types), self.token_types.as_ref()];
        for list in lists.into_iter().flatten() {
            if !list.is_empty() && !list.iter().any(|p| type_matches(p, media_type)) {
                return Some(list.join(", "));
            }
        }
        None
    }

    fn checks_types(&self) -> bool {
        !self.config.allowed_types.is_empty() || self.token_types.is_some()
    }

    fn wants(&self, event: HookEvent) -> Option<&Hooks> {
        self.hooks.as_deref().filter(|h| h.wants(event))
    }
}

impl Gate for RequestGate {
    fn creating(&self, record: &mut Record) -> Result<(), Refusal> {
        let Some(hooks) = self.wants(HookEvent::PreCreate) else {
            return Ok(());
        };
        match hooks.pre_create(&record.info_json(), record.sub.as_deref(), &self.forwarded) {
            Ok(answer) => {
                if let Some(name) = answer.name {
                    record.name = Some(clean_name(name.as_bytes()));
                }
                record.metadata.extend(answer.metadata);
                Ok(())
            }
            Err(refusal) => Err(Box::new(Failure::new(
                Kind::Hook(refusal.status),
                refusal.message,
            ))),
        }
    }

    fn completing(&self, record: &mut Record, head: &[u8], len: u64) -> Result<(), Refusal> {
        if record.partial {
            return Ok(());
        }
        if len < self.config.min_size {
            return Err(Box::new(Failure::new(
                Kind::TooSmall,
                format!(
                    "The file is {len} bytes; the smallest accepted is {} bytes.",
                    self.config.min_size
                ),
            )));
        }
        if self.checks_types() {
            let found = sniff(head);
            if let Some(allowed) = self.types_refused(&found) {
                return Err(Box::new(refused_type(&found, &allowed)));
            }
            // What the bytes are, not what the client said, is what
            // restore and download serve.
            record.media_type = Some(found);
        }
        Ok(())
    }

    fn first_bytes(&self, record: &Record, head: &[u8]) -> Result<(), Refusal> {
        // A tus partial upload is a piece of a file: the final upload made
        // of the pieces is what is checked.
        if !self.checks_types() || record.partial {
            return Ok(());
        }
        // Only a type the bytes name for sure (a magic number), or a head
        // as long as the one completion will look at, decides this early.
        let found = match infer::get(head) {
            Some(t) => t.mime_type().to_owned(),
            None if head.len() >= crate::spool::HEAD_BYTES => sniff(head),
            None => return Ok(()),
        };
        match self.types_refused(&found) {
            Some(allowed) => Err(Box::new(refused_type(&found, &allowed))),
            None => Ok(()),
        }
    }

    fn completed(&self, spool: &Spool, record: &Record) -> Result<(), SpoolError> {
        // A partial is not a file the application can take; its final
        // upload gets the event.
        if record.partial {
            return Ok(());
        }
        crate::hooks::post(
            spool,
            &self.config,
            HookEvent::PostFinish,
            record,
            &self.forwarded,
        )
    }
}

impl Handler {
    /// Whether requests need a handler of their own (see the module).
    pub(super) fn needs_scope(&self) -> bool {
        self.config.auth_secret.is_some()
            || self.hooks.is_some()
            || !self.config.allowed_types.is_empty()
            || self.config.min_size > 0
    }

    /// The request's token claims, when tokens are required: `None` for a
    /// preflight, which browsers send without credentials.
    pub(super) fn authorize(
        &self,
        action: &Action,
        headers: &HeaderMap,
        query: &Params,
    ) -> Result<Option<Claims>, Failure> {
        let Some(secret) = &self.config.auth_secret else {
            return Ok(None);
        };
        if matches!(action, Action::Options) {
            return Ok(None);
        }
        let authorization = headers.text("authorization");
        let x_upload_token = headers.text("x-upload-token");
        let token = auth::find(
            authorization.as_deref(),
            x_upload_token.as_deref(),
            query.get("token"),
        )
        .ok_or(TokenError::Missing);
        match token.and_then(|t| auth::verify(secret, t)) {
            Ok(claims) => Ok(Some(claims)),
            // The protocol's rendering logs it.
            Err(e) => Err(Failure::new(Kind::Unauthorized, e.to_string())),
        }
    }

    /// A handler for one request: the token's claims, its owner's spool
    /// and the gate.
    pub(super) fn for_request(&self, claims: Option<Claims>, headers: &HeaderMap) -> Handler {
        let forwarded = forwarded_headers(&self.config, self.hooks.is_some(), headers);
        let token_types = claims.as_ref().and_then(|c| c.allowed_types.clone());
        let owner = claims.as_ref().map(|c| c.sub.clone());
        let gate: Option<Arc<dyn Gate>> = (self.hooks.is_some()
            || token_types.is_some()
            || !self.config.allowed_types.is_empty()
            || self.config.min_size > 0)
            .then(|| {
                Arc::new(RequestGate {
                    config: self.config.clone(),
                    hooks: self.hooks.clone(),
                    token_types,
                    forwarded: forwarded.clone(),
                }) as Arc<dyn Gate>
            });
        Handler {
            config: self.config.clone(),
            spool: self.spool.scoped(owner, gate),
            hooks: self.hooks.clone(),
            claims: claims.map(Arc::new),
            forwarded,
        }
    }

    /// The largest file this request may store: the server's limit, or
    /// the token's if smaller.
    pub(crate) fn max_size(&self) -> u64 {
        let token = self.claims.as_ref().and_then(|c| c.max_size);
        token.map_or(self.config.max_size, |t| t.min(self.config.max_size))
    }

    /// Whether `name`'s extension is allowed by the server and the token.
    pub(crate) fn extension_allowed(&self, name: &str) -> bool {
        extension_allowed(&self.config.allowed_extensions, name)
            && self
                .claims
                .as_ref()
                .and_then(|c| c.allowed_extensions.as_ref())
                .is_none_or(|list| {
                    let ext = extension(name);
                    list.iter()
                        .any(|e| e.trim_start_matches('.').eq_ignore_ascii_case(&ext))
                })
    }

    /// The extensions this request may store, for messages (empty: any).
    pub(crate) fn allowed_extensions(&self) -> Vec<String> {
        let server = &self.config.allowed_extensions;
        match self
            .claims
            .as_ref()
            .and_then(|c| c.allowed_extensions.as_ref())
        {
            None => server.clone(),
            Some(token) => token
                .iter()
                .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
                .filter(|e| server.is_empty() || server.contains(e))
                .collect(),
        }
    }

    /// A client ended an upload (revert, delete, termination): counted,
    /// and the post-terminate event written before the answer.
    pub(super) fn terminated(&self, record: &Record) -> Result<(), Failure> {
        crate::metrics::upload("terminated");
        crate::hooks::post(
            &self.spool,
            &self.config,
            HookEvent::PostTerminate,
            record,
            &self.forwarded,
        )
        .map_err(Failure::from)
    }
}

/// The request headers to copy into hook events, lowercase names; a
/// repeated header's values joined with `, `.
fn forwarded_headers(config: &Config, hooks: bool, headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    if !hooks {
        return out;
    }
    for name in &config.hook_forward_headers {
        if let Some(v) = headers.text(name) {
            out.insert(name.clone(), Value::String(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_names_content_not_claims() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(b"<!DOCTYPE html><html><script>"), "text/html");
        assert_eq!(sniff("hello, wörld".as_bytes()), "text/plain");
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain");
        assert_eq!(sniff(b"\0\x01\x02"), "application/octet-stream");
    }

    #[test]
    fn patterns() {
        assert!(type_matches("image/*", "image/png"));
        assert!(!type_matches("image/*", "text/html"));
        assert!(type_matches("application/pdf", "application/pdf"));
        assert!(!type_matches("application/pdf", "application/pdfx"));
    }
}
