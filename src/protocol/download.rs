//! Serving stored files back (restore, load, fetch): headers that let the
//! widget read name, size and type, and keep a browser from running them.

use std::fs::File;

use super::names::normalize_type;
use super::private;
use crate::message::{Body, HeaderName, HeaderValue, Response, StatusCode, header};

/// Types a browser may show inline; everything else is an attachment with a
/// sandboxing CSP (filepond.md §10).
fn inline_safe(media_type: &str) -> bool {
    matches!(
        media_type,
        "text/plain"
            | "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "image/bmp"
            | "application/pdf"
    ) || media_type.starts_with("audio/")
        || media_type.starts_with("video/")
}

/// A `200` answer streaming `len` bytes of `file`.
pub fn file_response(name: &str, media_type: Option<&str>, file: File, len: u64) -> Response {
    file_headers(name, media_type)
        .header(header::CONTENT_LENGTH, len)
        .body(Body::File(file, len))
}

/// A `200` answer whose body nginx sends itself from the internal location
/// `location` (`X-Accel-Redirect`, for `accel_redirect`). nginx keeps only
/// `Content-Type`, `Content-Disposition` and `Cache-Control` from it; the
/// internal location in `deploy/nginx-accel-redirect.conf` adds the others
/// back from `$upstream_http_*`.
pub fn accel_response(name: &str, media_type: Option<&str>, location: HeaderValue) -> Response {
    file_headers(name, media_type).header(HeaderName::from_static("x-accel-redirect"), location)
}

/// The headers of a stored file's answer: its type, its name, and, for any
/// type a browser could run, `attachment` with a sandboxing CSP.
fn file_headers(name: &str, media_type: Option<&str>) -> Response {
    let media_type = media_type
        .and_then(normalize_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    let safe = inline_safe(&media_type);
    // A normalized type is a token/token pair: a valid header value.
    let media_type = HeaderValue::try_from(media_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = private(Response::new(StatusCode::OK))
        .header(header::CONTENT_TYPE, media_type)
        .header(
            header::CONTENT_DISPOSITION,
            content_disposition(if safe { "inline" } else { "attachment" }, name),
        );
    if !safe {
        response.set_header(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
    }
    response
}

/// `<type>; filename="<ascii fallback>"; filename*=UTF-8''<RFC 8187>` (RFC 6266).
pub fn content_disposition(kind: &str, name: &str) -> HeaderValue {
    let text = content_disposition_text(kind, name);
    // Every byte above is printable ASCII (the rest is percent-encoded).
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("attachment"))
}

fn content_disposition_text(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encode(name, b"!#$&+-.^_`|~");
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// `text` with every byte but ASCII letters, digits and `keep` as `%XX`.
pub(super) fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_has_a_safe_fallback_and_the_exact_name() {
        let d = content_disposition_text("inline", "we\"ird; 100% =,@ name.txt");
        assert_eq!(
            d,
            "inline; filename=\"we_ird; 100_ =,@ name.txt\"; filename*=UTF-8''we%22ird%3B%20100%25%20%3D%2C%40%20name.txt"
        );
        let d = content_disposition_text("attachment", "Grüße #1 & co+$.txt");
        assert!(
            d.ends_with("filename*=UTF-8''Gr%C3%BC%C3%9Fe%20#1%20&%20co+$.txt"),
            "{d}"
        );
    }
}
