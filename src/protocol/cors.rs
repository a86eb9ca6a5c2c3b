//! CORS for the whole endpoint (filepond.md §11, fine-uploader.md B.10): one
//! mechanism, whichever widget asks.
//!
//! No `Access-Control-*` header is ever sent for an origin that is not
//! configured; a listed origin is echoed exactly, with credentials; `*` never
//! goes with credentials.

use crate::config::{Config, Origins};
use crate::message::{HeaderText, HeaderValue, Request, Response, StatusCode, header};

/// Methods the endpoint serves.
pub const METHODS: HeaderValue =
    HeaderValue::from_static("GET, HEAD, POST, PATCH, DELETE, OPTIONS");
/// Response headers the widgets and tus clients read cross-origin (tus.md §12).
const EXPOSE: HeaderValue = HeaderValue::from_static(
    "Upload-Offset, Upload-Length, Content-Disposition, Content-Length, Content-Type, X-Content-Transfer-Id, \
     Location, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Expires, \
     Upload-Complete, Upload-Incomplete, Upload-Draft-Interop-Version, Upload-Limit, \
     Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm",
);

/// How a request's origin relates to the configuration.
enum Allowed {
    No,
    Any,
    Exact(HeaderValue),
}

fn allowed(config: &Config, origin: Option<&HeaderValue>) -> Allowed {
    let Some(value) = origin else {
        return Allowed::No;
    };
    let Ok(origin) = value.to_str() else {
        return Allowed::No;
    };
    match &config.cors_origins {
        Origins::None => Allowed::No,
        Origins::Any => Allowed::Any,
        Origins::List(list) if list.iter().any(|o| o == origin) => Allowed::Exact(value.clone()),
        Origins::List(_) => Allowed::No,
    }
}

/// Adds the CORS headers for `origin` to any response, errors included.
pub fn decorate(config: &Config, origin: Option<&HeaderValue>, response: &mut Response) {
    match allowed(config, origin) {
        Allowed::No => return,
        Allowed::Any => response.set_header(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
        Allowed::Exact(o) => {
            response.set_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            response.set_header(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            response.set_header(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    response.set_header(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE);
}

/// Answers `OPTIONS`: a preflight (with `Origin` and
/// `Access-Control-Request-Method`), or a plain capability query.
pub fn options(config: &Config, request: &Request<'_>) -> Response {
    let origin = request.headers.get(header::ORIGIN);
    let preflight = origin.is_some()
        && request
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !preflight {
        return Response::new(StatusCode::NO_CONTENT).header(header::ALLOW, METHODS);
    }
    if let Allowed::No = allowed(config, origin) {
        // Not decorated later either: `decorate` finds the origin not allowed.
        return Response::text(
            StatusCode::FORBIDDEN,
            "This origin is not allowed to use the upload endpoint.",
        );
    }
    let requested = request
        .headers
        .text("access-control-request-headers")
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
    let mut response = Response::new(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS)
        .header(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("7200"),
        )
        .header(header::ALLOW, METHODS);
    // Only token characters were kept, so the joined list is a valid value.
    if let Ok(value) = HeaderValue::try_from(echoed.join(", "))
        && !echoed.is_empty()
    {
        response.set_header(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    response
}
