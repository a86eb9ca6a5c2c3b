//! CORS for the whole endpoint (filepond.md §11, fine-uploader.md B.10): one
//! mechanism, whichever widget asks.
//!
//! No `Access-Control-*` header is ever sent for an origin that is not
//! configured; a listed origin is echoed exactly, with credentials; `*` never
//! goes with credentials.

use crate::config::{Config, Origins};
use crate::gateway::{Request, Response};

/// Methods the endpoint serves.
pub const METHODS: &str = "GET, HEAD, POST, PATCH, DELETE, OPTIONS";
/// Response headers the widgets read cross-origin.
const EXPOSE: &str = "Upload-Offset, Upload-Length, Content-Disposition, Content-Length, Content-Type, X-Content-Transfer-Id";

/// How a request's origin relates to the configuration.
enum Allowed {
    No,
    Any,
    Exact(String),
}

fn allowed(config: &Config, origin: Option<&str>) -> Allowed {
    let Some(origin) = origin else {
        return Allowed::No;
    };
    match &config.cors_origins {
        Origins::None => Allowed::No,
        Origins::Any => Allowed::Any,
        Origins::List(list) if list.iter().any(|o| o == origin) => {
            Allowed::Exact(origin.to_owned())
        }
        Origins::List(_) => Allowed::No,
    }
}

/// Adds the CORS headers for `origin` to any response, errors included.
pub fn decorate(config: &Config, origin: Option<&str>, response: &mut Response) {
    match allowed(config, origin) {
        Allowed::No => return,
        Allowed::Any => response.set_header("Access-Control-Allow-Origin", "*"),
        Allowed::Exact(o) => {
            response.set_header("Access-Control-Allow-Origin", o);
            response.set_header("Access-Control-Allow-Credentials", "true");
            response.set_header("Vary", "Origin");
        }
    }
    response.set_header("Access-Control-Expose-Headers", EXPOSE);
}

/// Answers `OPTIONS`: a preflight (with `Origin` and
/// `Access-Control-Request-Method`), or a plain capability query.
pub fn options(config: &Config, request: &Request<'_>) -> Response {
    let origin = request.headers.get("origin");
    let preflight = origin.is_some()
        && request
            .headers
            .get_bytes("access-control-request-method")
            .is_some();
    if !preflight {
        return Response::new(204).header("Allow", METHODS);
    }
    if let Allowed::No = allowed(config, origin.as_deref()) {
        // Not decorated later either: `decorate` finds the origin not allowed.
        return Response::new(403)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff")
            .body(crate::gateway::Body::Bytes(
                b"This origin is not allowed to use the upload endpoint.".to_vec(),
            ));
    }
    let requested = request
        .headers
        .get("access-control-request-headers")
        .unwrap_or_default();
    let echoed: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        })
        .collect();
    let mut response = Response::new(204)
        .header("Access-Control-Allow-Methods", METHODS)
        .header("Access-Control-Max-Age", "7200")
        .header("Allow", METHODS);
    if !echoed.is_empty() {
        response.set_header("Access-Control-Allow-Headers", echoed.join(", "));
    }
    response
}
