//! The widget protocols behind the one endpoint: request in, spool
//! operations, response out. No file paths and no `std::fs` here; the spool
//! is reached only through `crate::spool`.
//!
//! [`Handler::handle`] dispatches by `route::route`: tus first (a request
//! with `Tus-Resumable` or `Upload-Draft-Interop-Version`), then in the
//! order of fine-uploader.md B.1: anything that is not Fine Uploader's
//! belongs to FilePond.

#![forbid(unsafe_code)]

mod access;
mod cors;
mod download;
mod error;
mod filepond;
mod fine_uploader;
pub mod multipart;
pub mod names;
pub mod params;
mod remote;
mod route;
mod tus;

use std::io::{Cursor, Read};
use std::sync::Arc;

use crate::config::Config;
use crate::log;
use crate::message::{
    Body, HeaderMap, HeaderText, HeaderValue, Request, Response, Service, StatusCode, header,
};
use crate::spool::{GcPolicy, Spool, SpoolError};
use error::{Failure, Kind};
use multipart::Multipart;
use params::Params;
use route::{Action, Fp, Fu, Owner};

/// Largest urlencoded body read to find `_method=DELETE` or success-request fields.
const MAX_FORM_BODY: u64 = 64 * 1024;

/// The request handler shared by every transport.
pub struct Handler {
    pub(crate) config: Arc<Config>,
    /// The spool; a request's own handler has it scoped to the token's
    /// owner, with the request's gate (`access`).
    pub(crate) spool: Spool,
    /// The configured hooks, if any (issue 16).
    pub(crate) hooks: Option<Arc<crate::hooks::Hooks>>,
    /// A request's token claims (`access`); `None` without `auth_secret`.
    pub(crate) claims: Option<Arc<crate::auth::Claims>>,
    /// A request's headers named by `hook_forward_headers`.
    pub(crate) forwarded: serde_json::Map<String, serde_json::Value>,
}

impl Service for Handler {
    fn handle(&self, request: Request<'_>) -> Response {
        let origin = request.headers.get(header::ORIGIN).cloned();
        let mut response = self.dispatch(request);
        cors::decorate(&self.config, origin.as_ref(), &mut response);
        response
    }

    fn after_response(&self) {
        self.maybe_sweep();
    }
}

impl Handler {
    /// Opens the configured spool.
    pub fn new(config: Config) -> Result<Handler, SpoolError> {
        let spool = Spool::open(&config.spool_dir, config.lock_timeout)?;
        let hooks = crate::hooks::Hooks::from_config(&config).map(Arc::new);
        Ok(Handler {
            config: Arc::new(config),
            spool,
            hooks,
            claims: None,
            forwarded: serde_json::Map::new(),
        })
    }

    fn dispatch(&self, mut request: Request<'_>) -> Response {
        request.body = Box::new(Counted(request.body));
        let query = Params::parse(request.query.as_bytes());
        let form = read_small_form(&mut request);
        let action = route::route(&route::Head {
            method: &request.method,
            path_info: &request.path_info,
            query: &query,
            headers: &request.headers,
            form: &form,
        });
        // A multipart form's owner is known only from its parts: it is
        // authorized once `dispatch_form` has read that far.
        let (protocol, name) = action.labels();
        let response = if !self.needs_scope() || matches!(action, Action::Form { .. }) {
            self.act(action, query, request)
        } else {
            match self.authorize(&action, &request.headers, &query) {
                Ok(claims) => self
                    .for_request(claims, &request.headers)
                    .act(action, query, request),
                Err(failure) => unauthorized(render_for(&action, &request.headers, failure)),
            }
        };
        crate::metrics::request(protocol, name, response.status.as_u16());
        response
    }

    /// Runs the routed action.
    fn act(&self, action: Action, query: Params, request: Request<'_>) -> Response {
        match action {
            Action::Options => {
                let mut response = cors::options(&self.config, &request);
                if response.status == StatusCode::NO_CONTENT {
                    tus::discovery(self, &request, &mut response);
                }
                response
            }
            Action::Tus(action) => tus::handle(self, action, request),
            Action::FineUploader(Fu::Done) => fine_uploader::done(self, &query, request),
            Action::FineUploader(Fu::Delete(id)) => fine_uploader::delete(self, &id),
            Action::FineUploader(Fu::Session) => fine_uploader::session(self, &query),
            Action::FineUploader(Fu::UploadRaw) => fine_uploader::upload_raw(self, query, request),
            Action::Form { errors } => self.dispatch_form(query, errors, request),
            Action::FilePond(Fp::PostWithoutForm) => filepond::post_without_form(self, request),
            Action::FilePond(Fp::Patch) => filepond::patch(self, &query, request),
            Action::FilePond(Fp::Revert) => filepond::revert(self, request),
            Action::FilePond(action) => filepond::get(self, action),
            Action::MethodNotAllowed => filepond::method_not_allowed(),
        }
    }

    /// A multipart `POST`: reads custom text fields up to the part that
    /// decides the owner (Fine Uploader puts custom fields before its qq*
    /// fields), then hands the form to that protocol.
    fn dispatch_form(&self, query: Params, errors: Owner, request: Request<'_>) -> Response {
        let malformed = |e: multipart::MultipartError| match errors {
            Owner::FineUploader => fine_uploader::render(e.into()),
            Owner::FilePond => filepond::render(e.into()),
        };
        let content_type = request
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let boundary = match multipart::boundary(&content_type) {
            Ok(b) => b,
            Err(e) => return malformed(e),
        };
        let headers = request.headers.clone();
        let mut form = Multipart::new(request.body, boundary);
        let mut leading = Params::default();
        let decided = loop {
            let part = match form.next_part() {
                Ok(p) => p,
                Err(e) => return malformed(e),
            };
            let Some(mut part) = part else { break None };
            let name = part.name.clone().unwrap_or_default();
            if route::part_decides(&name, part.is_file(), filepond::is_field(self, Some(&name))) {
                break Some(part);
            }
            match part.text(fine_uploader::MAX_FIELD) {
                Ok(value) => leading.push(name, value),
                Err(e) => return malformed(e),
            }
        };
        let owner = route::form_owner(&query, decided.as_ref().and_then(|p| p.name.as_deref()));
        let scoped;
        let h = if self.needs_scope() {
            let action = Action::Form { errors: owner };
            match self.authorize(&action, &headers, &query) {
                Ok(claims) => {
                    scoped = self.for_request(claims, &headers);
                    &scoped
                }
                Err(failure) => return unauthorized(render_for(&action, &headers, failure)),
            }
        } else {
            self
        };
        match owner {
            Owner::FineUploader => fine_uploader::upload_form(h, query, leading, form, decided),
            Owner::FilePond => filepond::process(h, &headers, form, decided),
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

/// A request body that counts what is read of it (metrics).
struct Counted<'a>(Box<dyn Read + Send + 'a>);

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        crate::metrics::bytes_received(n as u64);
        Ok(n)
    }
}

/// A 401 says how to authenticate (RFC 9110 §11.6.1).
fn unauthorized(mut response: Response) -> Response {
    if response.status == StatusCode::UNAUTHORIZED {
        response.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"upload\""),
        );
    }
    response
}

/// A failure before any action ran (a refused token), in the format of the
/// protocol the request belongs to.
fn render_for(action: &Action, headers: &HeaderMap, failure: Failure) -> Response {
    match action {
        Action::Tus(_) => tus::render_failure(headers, failure),
        Action::FineUploader(_)
        | Action::Form {
            errors: Owner::FineUploader,
        } => fine_uploader::render(failure),
        _ => filepond::render(failure),
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

/// B.1 rule 4 needs a `POST`'s small urlencoded body (`_method=DELETE`,
/// `qquuid`) before routing: read it, and put it back in front of the rest
/// for whichever action follows. Empty when the body is not such a form.
fn read_small_form(request: &mut Request<'_>) -> Params {
    if request.method != crate::message::Method::POST
        || !route::body_may_hold_fields(&request.headers)
        || !request
            .content_length
            .is_some_and(|n| n > 0 && n <= MAX_FORM_BODY)
    {
        return Params::default();
    }
    let mut bytes = Vec::new();
    let read = (&mut request.body)
        .take(MAX_FORM_BODY)
        .read_to_end(&mut bytes);
    let params = Params::parse(&bytes);
    let body = std::mem::replace(&mut request.body, Box::new(std::io::empty()));
    request.body = Box::new(Cursor::new(bytes).chain(body));
    // A body that broke off is left for the action to report.
    if read.is_err() {
        return Params::default();
    }
    params
}

/// A length or offset header (FilePond's and tus's `Upload-Offset`,
/// `Upload-Length`): 1*DIGIT up to 2^63-1, no sign, no exponent.
pub(crate) fn header_number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, Failure> {
    let Some(raw) = headers.text(name) else {
        return Ok(None);
    };
    let v = raw.trim();
    let Some(n) = crate::message::parse_content_length(v.as_bytes()) else {
        return Err(Failure::new(
            Kind::Invalid,
            format!("{name} must be a whole number of bytes, not {raw:?}."),
        ));
    };
    if n > i64::MAX as u64 {
        return Err(Failure::new(Kind::Invalid, format!("{name} is too large.")));
    }
    Ok(Some(n))
}

/// Headers every protocol answer carries.
fn private(response: Response) -> Response {
    response
        .header(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// A `text/plain` answer.
fn text(status: StatusCode, message: &str) -> Response {
    private(Response::new(status))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )
        .body(Body::Bytes(message.as_bytes().to_vec()))
}
