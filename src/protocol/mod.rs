//! The widget protocols behind the one endpoint: request in, spool
//! operations, response out. No file paths and no `std::fs` here; the spool
//! is reached only through `crate::spool`.
//!
//! [`Handler::handle`] dispatches in the order of fine-uploader.md B.1:
//! anything that is not Fine Uploader's belongs to FilePond.

mod cors;
mod download;
mod fetch;
mod filepond;
mod fine_uploader;
pub mod multipart;
pub mod names;
pub mod params;

use std::io::{Cursor, Read};

use crate::config::Config;
use crate::gateway::{Body, Request, Response};
use crate::log;
use crate::spool::{GcPolicy, Spool, SpoolError};
use multipart::{Multipart, is_multipart};
use params::Params;

/// Largest urlencoded body read to find `_method=DELETE` or success-request fields.
const MAX_FORM_BODY: u64 = 64 * 1024;

/// The request handler shared by every transport.
pub struct Handler {
    pub config: Config,
    pub spool: Spool,
}

impl Handler {
    /// Opens the configured spool.
    pub fn new(config: Config) -> Result<Handler, SpoolError> {
        let spool = Spool::open(&config.spool_dir, config.lock_timeout)?;
        Ok(Handler { config, spool })
    }

    /// Answers one request.
    pub fn handle(&self, request: Request<'_>) -> Response {
        let origin = request.headers.get("origin");
        let mut response = self.dispatch(request);
        cors::decorate(&self.config, origin.as_deref(), &mut response);
        response
    }

    fn dispatch(&self, mut request: Request<'_>) -> Response {
        let query = Params::parse(request.query.as_bytes());
        let content_type = request.headers.get("content-type");
        match request.method.as_str() {
            "OPTIONS" => cors::options(&self.config, &request),
            "POST" if query.has("done") => fine_uploader::done(self, &query, request),
            "DELETE" if !request.path_info.is_empty() => {
                let segment = request
                    .path_info
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                fine_uploader::delete(self, &segment)
            }
            "POST" => {
                if let Some(id) = self.post_delete(&query, &mut request) {
                    return fine_uploader::delete(self, &id);
                }
                if is_multipart(content_type.as_deref()) {
                    return self.dispatch_multipart(query, request);
                }
                if query.has("qqfile") || query.has("qquuid") {
                    return fine_uploader::upload_raw(self, query, request);
                }
                filepond::post_without_form(self, request)
            }
            "DELETE" => filepond::revert(self, request),
            "GET" if query.has("session") => fine_uploader::session(self, &query),
            "GET" | "HEAD" => filepond::get(self, &query, &request),
            "PATCH" => filepond::patch(self, &query, request),
            _ => filepond::method_not_allowed(),
        }
    }

    /// B.1 rule 4: a `POST` asking for a delete with `_method=DELETE`, in the
    /// query or a small urlencoded body. Returns the id text to delete. A
    /// body read here is put back for the next rules.
    fn post_delete(&self, query: &Params, request: &mut Request<'_>) -> Option<String> {
        let ct = request
            .headers
            .get("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let form_like = ct.is_empty()
            || ct.starts_with("application/x-www-form-urlencoded")
            || ct.starts_with("text/plain");
        let mut body_params = Params::default();
        if form_like
            && request
                .content_length
                .is_some_and(|n| n > 0 && n <= MAX_FORM_BODY)
        {
            let mut bytes = Vec::new();
            let read = (&mut request.body)
                .take(MAX_FORM_BODY)
                .read_to_end(&mut bytes);
            body_params = Params::parse(&bytes);
            let body = std::mem::replace(&mut request.body, Box::new(std::io::empty()));
            request.body = Box::new(Cursor::new(bytes).chain(body));
            if read.is_err() {
                return None;
            }
        }
        let wants_delete = |p: &Params| {
            p.get("_method")
                .is_some_and(|m| m.eq_ignore_ascii_case("DELETE"))
        };
        if !wants_delete(query) && !wants_delete(&body_params) {
            return None;
        }
        let from_path = request
            .path_info
            .rsplit('/')
            .next()
            .filter(|_| !request.path_info.is_empty());
        Some(match from_path {
            Some(segment) => segment.to_owned(),
            None => body_params
                .get("qquuid")
                .or(query.get("qquuid"))
                .unwrap_or("")
                .to_owned(),
        })
    }

    /// B.1 rule 5: a multipart `POST` is Fine Uploader's when the query has
    /// `qquuid` or its first part's name starts with `qq`; else FilePond's.
    fn dispatch_multipart(&self, query: Params, request: Request<'_>) -> Response {
        let looks_fine_uploader = query.iter().any(|(k, _)| k.starts_with("qq"))
            || request.headers.get_bytes("x-requested-with").is_some();
        let content_type = request.headers.get("content-type").unwrap_or_default();
        let boundary = match multipart::boundary(&content_type) {
            Ok(b) => b,
            Err(e) if looks_fine_uploader => return fine_uploader::malformed(&e.0),
            Err(e) => return filepond::bad_request(&e.0),
        };
        let headers = request.headers.clone();
        let mut form = Multipart::new(request.body, boundary);
        // Custom fields may come first (Fine Uploader puts them before its qq*
        // fields): read text parts until one that decides.
        let mut leading = Params::default();
        let decided = loop {
            let part = match form.next_part() {
                Ok(p) => p,
                Err(e) if looks_fine_uploader => return fine_uploader::malformed(&e.0),
                Err(e) => return filepond::bad_request(&e.0),
            };
            let Some(mut part) = part else { break None };
            let name = part.name.clone().unwrap_or_default();
            if name.starts_with("qq") || part.is_file() || filepond::is_field(self, Some(&name)) {
                break Some(part);
            }
            match part.text(fine_uploader::MAX_FIELD) {
                Ok(value) => leading.push(name, value),
                Err(e) if looks_fine_uploader => return fine_uploader::malformed(&e.0),
                Err(e) => return filepond::bad_request(&e.0),
            }
        };
        let decided_fu = decided
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .is_some_and(|n| n.starts_with("qq"));
        if query.has("qquuid") || decided_fu {
            fine_uploader::upload_form(self, query, leading, form, decided)
        } else {
            filepond::process(self, &headers, form, decided)
        }
    }

    /// Runs a small expiry pass on a random share of requests (shared hosts
    /// often have no cron). Gateways call it after the response is sent.
    pub fn maybe_sweep(&self) {
        if self.config.gc_probability <= 0.0 {
            return;
        }
        let mut seed = [0u8; 4];
        if getrandom::fill(&mut seed).is_err() {
            return;
        }
        let roll = u32::from_le_bytes(seed) as f64 / u32::MAX as f64;
        if roll >= self.config.gc_probability {
            return;
        }
        let policy = GcPolicy {
            incomplete_after: self.config.expire_incomplete,
            complete_after: self.config.expire_complete,
            sample: Some(64),
        };
        match self.spool.gc(&policy) {
            Ok(r) if r.incomplete + r.complete + r.scratch + r.orphans > 0 => {
                log::info(format_args!(
                    "swept the spool: {} incomplete, {} complete, {} scratch and {} orphaned files removed",
                    r.incomplete, r.complete, r.scratch, r.orphans
                ))
            }
            Ok(_) => {}
            Err(e) => log::warn(format_args!("spool sweep failed: {e}")),
        }
    }
}

/// The log line of a completion, with how long the completing step took
/// (an fsync and a rename: it does not grow with the file).
fn log_completion(widget: &str, id: &crate::spool::Id, bytes: u64, started: std::time::Instant) {
    log::info(format_args!(
        "{widget}: upload {id} complete, {bytes} bytes, completed in {:.2} ms",
        started.elapsed().as_secs_f64() * 1000.0
    ));
}

/// Headers every protocol answer carries.
fn private(response: Response) -> Response {
    response
        .header("X-Content-Type-Options", "nosniff")
        .header("Cache-Control", "no-store")
}

/// A `text/plain` answer.
fn text(status: u16, message: &str) -> Response {
    private(Response::new(status))
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Body::Bytes(message.as_bytes().to_vec()))
}
