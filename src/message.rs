//! The message layer: one request and one response type that every gateway
//! produces and consumes and every protocol reads and writes, owned by
//! neither. Built on the `http` crate's `Method`, `StatusCode` and
//! `HeaderMap`, so that a header value holding CR or LF cannot be
//! constructed (no call site has to remember to check), and FilePond's raw
//! UTF-8 `Upload-Name` still fits (`HeaderValue` keeps opaque bytes).
//!
//! The body streams: a request body is a `Read` that ends at its declared
//! length; a response body is bytes or an open file sent from its position.
//! [`Service`] is the interface a gateway calls; the protocol layer
//! implements it, so gateways never name a protocol.

use std::fs::File;
use std::io::{self, Read};

pub use http::header::{self, HeaderName};
pub use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// What a gateway calls: one request in, one response out.
pub trait Service: Send + Sync {
    /// Answers one request.
    fn handle(&self, request: Request<'_>) -> Response;

    /// Housekeeping a gateway runs after the answer has been sent, outside
    /// the request's latency (the opportunistic expiry sweep).
    fn after_response(&self) {}
}

/// Text access to request headers: the first value of a header decoded as
/// UTF-8, invalid sequences replaced.
pub trait HeaderText {
    fn text(&self, name: &str) -> Option<String>;
    fn bytes(&self, name: &str) -> Option<&[u8]>;

    /// Whether `Content-Type`'s media type (parameters aside) is `media_type`,
    /// compared without regard to case.
    fn media_type_is(&self, media_type: &str) -> bool {
        self.bytes("content-type").is_some_and(|ct| {
            ct.split(|&b| b == b';')
                .next()
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(media_type.as_bytes()))
        })
    }
}

impl HeaderText for HeaderMap {
    fn text(&self, name: &str) -> Option<String> {
        self.bytes(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }
}

/// Why a header from the wire or a gateway environment was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadHeader {
    /// The name is not an HTTP token.
    Name(String),
    /// The value holds control characters (CR, LF, NUL, …).
    Value(HeaderName),
}

impl std::fmt::Display for BadHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadHeader::Name(name) => write!(f, "the header name {name:?} is not valid"),
            BadHeader::Value(name) => write!(f, "the {name} header holds control characters"),
        }
    }
}

/// Appends a header received from a client; refuses names that are not
/// tokens and values with control characters (CR, LF, NUL), which no
/// conforming client sends and which must never be echoed.
pub fn append_header(headers: &mut HeaderMap, name: &str, value: &[u8]) -> Result<(), BadHeader> {
    let name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| BadHeader::Name(name.to_owned()))?;
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return Err(BadHeader::Value(name));
    };
    headers.append(name, value);
    Ok(())
}

/// One request, whatever the transport.
pub struct Request<'a> {
    pub method: Method,
    /// The part of the path after the endpoint (CGI's `PATH_INFO`),
    /// percent-decoded; empty if none.
    pub path_info: String,
    /// The path the endpoint is mounted at (CGI's `SCRIPT_NAME`; `serve`'s
    /// `/upload`), as the client addressed it; tus's `Location` is built on it.
    pub script_name: String,
    /// The raw query string (without `?`).
    pub query: String,
    pub headers: HeaderMap,
    /// Declared body length, if the transport knows it.
    pub content_length: Option<u64>,
    /// The body, ending at its declared length; it fails with
    /// [`io::ErrorKind::UnexpectedEof`] if the peer sends fewer bytes.
    pub body: Box<dyn Read + Send + 'a>,
}

/// A response body.
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// A file streamed from its current position, `len` bytes.
    File(File, u64),
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, len) => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the body to `out`. Generic on purpose: with the concrete writer
    /// known, `io::copy` reads a file straight into a `BufWriter`'s buffer,
    /// and sends it with `sendfile(2)` when `out` is a socket (`serve`).
    pub fn write_to<W: io::Write + ?Sized>(self, out: &mut W) -> io::Result<()> {
        match self {
            Body::Empty => Ok(()),
            Body::Bytes(b) => out.write_all(&b),
            Body::File(f, len) => {
                let copied = io::copy(&mut f.take(len), out)?;
                if copied < len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than announced",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// One response, whatever the transport. `Content-Length` is added by the
/// gateway from the body.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
}

impl Response {
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// Adds a header. The value is a [`HeaderValue`], so it cannot carry CR
    /// or LF; numbers convert with `HeaderValue::from`.
    pub fn header(mut self, name: HeaderName, value: impl Into<HeaderValue>) -> Response {
        self.headers.append(name, value.into());
        self
    }

    pub fn set_header(&mut self, name: HeaderName, value: impl Into<HeaderValue>) {
        self.headers.append(name, value.into());
    }

    pub fn body(mut self, body: Body) -> Response {
        self.body = body;
        self
    }

    /// A `text/plain` answer with the headers every answer of ours carries.
    pub fn text(status: StatusCode, message: &str) -> Response {
        Response::new(status)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )
            .header(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            )
            .body(Body::Bytes(message.as_bytes().to_vec()))
    }

    /// Writes the header block every transport sends: the status line given
    /// by `status_line` (HTTP's `HTTP/1.1 200 OK`, CGI's `Status: 200 OK`),
    /// the handler's headers with their usual capitalisation, and
    /// `Content-Length` (unless the handler set one, as HEAD answers do).
    /// Ends with the blank line unless `extra` is given, whose lines come
    /// last (`Connection:`).
    pub fn write_head(&self, status_prefix: &str, extra: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(status_prefix.as_bytes());
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(
            self.status
                .canonical_reason()
                // tus's checksum extension names its own status.
                .or_else(|| (self.status.as_u16() == 460).then_some("Checksum Mismatch"))
                .unwrap_or("Unknown")
                .as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            push_title_case(name.as_str(), out);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self.headers.contains_key(header::CONTENT_LENGTH)
            && self.status != StatusCode::NO_CONTENT
            && self.status != StatusCode::NOT_MODIFIED
        {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(self.body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(extra);
        out.extend_from_slice(b"\r\n");
    }
}

/// `x-content-type-options` → `X-Content-Type-Options`: header names are
/// case-insensitive, but the wire keeps the spelling people and old
/// clients expect.
fn push_title_case(name: &str, out: &mut Vec<u8>) {
    let mut upper = true;
    for b in name.bytes() {
        out.push(if upper { b.to_ascii_uppercase() } else { b });
        upper = b == b'-';
    }
}

/// A body reader that ends after `remaining` bytes, and reports an early end
/// of the underlying stream as [`io::ErrorKind::UnexpectedEof`].
pub struct LimitedBody<R> {
    inner: R,
    remaining: u64,
    declared: u64,
}

impl<R: Read> LimitedBody<R> {
    pub fn new(inner: R, length: u64) -> Self {
        LimitedBody {
            inner,
            remaining: length,
            declared: length,
        }
    }
}

impl<R: Read> Read for LimitedBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the request body ended after {} of the {} bytes announced by Content-Length",
                    self.declared - self.remaining,
                    self.declared
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A `Content-Length` value as RFC 9112 §6.3 allows it: one or more ASCII
/// digits and nothing else (no sign, no spaces inside, no list). CGI's
/// `CONTENT_LENGTH` and HTTP's header are judged by this one rule.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Percent-decodes a URL path (no `+` handling), lossy UTF-8.
pub fn percent_decode_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_body_reports_truncation() {
        let mut r = LimitedBody::new(&b"abc"[..], 5);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let mut r = LimitedBody::new(&b"abcdef"[..], 5);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcde");
    }

    #[test]
    fn path_decoding() {
        assert_eq!(percent_decode_path("/%2e%2e"), "/..");
        assert_eq!(percent_decode_path("/a%2"), "/a%2");
        assert_eq!(percent_decode_path("/a+b"), "/a+b");
    }

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"12"), Some(12));
        for bad in [
            &b"+5"[..],
            b"-1",
            b" 5",
            b"5 ",
            b"5,5",
            b"",
            b"0x10",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_content_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn header_values_with_line_breaks_are_refused() {
        let mut h = HeaderMap::new();
        assert!(append_header(&mut h, "x-a", b"ok \xc3\xa9").is_ok());
        assert!(append_header(&mut h, "x-b", b"a\r\nSet-Cookie: x").is_err());
        assert!(append_header(&mut h, "bad name", b"v").is_err());
        assert_eq!(h.text("x-a").as_deref(), Some("ok é"));
    }

    #[test]
    fn head_is_title_cased_with_a_length() {
        let r = Response::new(StatusCode::CREATED)
            .header(HeaderName::from_static("upload-offset"), 5u64)
            .body(Body::Bytes(b"abc".to_vec()));
        let mut out = Vec::new();
        r.write_head("HTTP/1.1 ", b"", &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 201 Created\r\nUpload-Offset: 5\r\nContent-Length: 3\r\n\r\n"
        );
    }
}
