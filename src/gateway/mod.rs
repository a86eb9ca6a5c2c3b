//! Transports. Each adapter turns its input (CGI environment and stdin, an
//! HTTP connection, FastCGI records) into the same [`Request`] and writes the
//! same [`Response`]; none of them knows a widget protocol.

pub mod cgi;
pub mod fastcgi;
pub mod http;

use std::fs::File;
use std::io::{self, Read};

/// Request headers, names lowercased, values as the raw bytes received.
#[derive(Debug, Default, Clone)]
pub struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    pub fn push(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.0.push((name.to_ascii_lowercase(), value.into()));
    }

    /// The first value of `name` (lowercase), as raw bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name`, decoded as UTF-8 (invalid sequences replaced).
    pub fn get(&self, name: &str) -> Option<String> {
        self.get_bytes(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }
}

/// One request, whatever the transport.
pub struct Request<'a> {
    /// Upper-case method.
    pub method: String,
    /// The part of the path after the script (`SCRIPT_NAME`), percent-decoded; empty if none.
    pub path_info: String,
    /// The raw query string (without `?`).
    pub query: String,
    pub headers: Headers,
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
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body(mut self, body: Body) -> Response {
        self.body = body;
        self
    }

    /// The header lines every transport sends: the handler's headers and
    /// `Content-Length` (unless the handler set one, as HEAD answers do).
    pub fn header_lines(&self) -> Vec<(String, String)> {
        let mut lines = self.headers.clone();
        if self.get_header("content-length").is_none() && self.status != 204 && self.status != 304 {
            lines.push(("Content-Length".into(), self.body.len().to_string()));
        }
        lines
    }
}

/// The standard reason phrase of a status (FilePond shows it to users).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        507 => "Insufficient Storage",
        _ => "Unknown",
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
}
