//! A blocking, streaming `multipart/form-data` reader over a request body.
//!
//! Parsing is done by the maintained `multer` crate, driven from blocking
//! code by a tiny executor: the body stream reads one buffer per poll and
//! then reports `Pending`, so multer never pulls more than one buffer ahead
//! and memory stays flat whatever the size of a part. Part headers
//! (`Content-Disposition` parameters) are parsed here, literally, the way
//! browsers write them (no backslash escapes; `filename*` preferred).

use std::future::Future;
use std::io::{self, Read};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::Stream;

/// Most bytes read from the body per poll.
const READ_SIZE: usize = 64 * 1024;
/// Bytes asked for by the first read. The buffer grows to `READ_SIZE` only
/// while reads fill it, so a small form (the common CGI request) allocates
/// and zeroes a few KiB instead of 64 KiB, which is measurable in a process
/// that lives for one request.
const FIRST_READ_SIZE: usize = 8 * 1024;
/// Most bytes the body may carry between two parts (headers, preamble) before
/// the request is refused; stops a header that never ends from filling memory.
const MAX_OVERHEAD: u64 = 256 * 1024;
/// Most parts in one request.
pub const MAX_PARTS: usize = 1000;

/// Why a multipart body cannot be read; the text is for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The content type names no boundary.
    NoBoundary,
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
    /// A part without `Content-Disposition`.
    NoDisposition,
    /// A text field longer than the limit given (bytes).
    FieldTooLong(usize),
    /// The body ends before its closing boundary.
    Truncated,
    /// A part's header block is malformed or too large.
    BadHeaders,
    /// Reading the request body failed (the transport's words).
    Read(String),
    /// Anything else the parser refuses, in its words.
    Malformed(String),
}

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MultipartError::NoBoundary => {
                f.write_str("the multipart Content-Type has no boundary parameter")
            }
            MultipartError::TooManyParts => {
                write!(f, "the request has more than {MAX_PARTS} multipart parts")
            }
            MultipartError::NoDisposition => {
                f.write_str("a multipart part has no Content-Disposition header")
            }
            MultipartError::FieldTooLong(max) => {
                write!(f, "a form field is longer than {max} bytes")
            }
            MultipartError::Truncated => f.write_str(
                "the multipart body ends before its closing boundary (truncated, or the boundary is wrong)",
            ),
            MultipartError::BadHeaders => f.write_str("a multipart part has malformed headers"),
            MultipartError::Read(m) | MultipartError::Malformed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for MultipartError {}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    multer::parse_boundary(content_type).map_err(|_| MultipartError::NoBoundary)
}

/// A multipart body being read part by part.
pub struct Multipart<'r> {
    inner: multer::Multipart<'r>,
    overhead: Arc<AtomicU64>,
    parts: usize,
}

/// One part: its header parameters and a reader over its bytes.
pub struct Part<'r> {
    /// `name` parameter (`None` if the part has no Content-Disposition name).
    pub name: Option<String>,
    /// `filename*` (decoded) or `filename`, literally; `None` for a text field.
    pub filename: Option<Vec<u8>>,
    pub content_type: Option<String>,
    field: multer::Field<'r>,
    pending: Bytes,
    overhead: Arc<AtomicU64>,
}

impl<'r> Multipart<'r> {
    pub fn new(body: Box<dyn Read + Send + 'r>, boundary: String) -> Multipart<'r> {
        let overhead = Arc::new(AtomicU64::new(0));
        let stream = BodyStream {
            body,
            ready: false,
            overhead: overhead.clone(),
            read_size: FIRST_READ_SIZE,
        };
        Multipart {
            inner: multer::Multipart::new(stream, boundary),
            overhead,
            parts: 0,
        }
    }

    /// The next part, or `None` after the closing delimiter.
    pub fn next_part(&mut self) -> Result<Option<Part<'r>>, MultipartError> {
        self.overhead.store(0, Ordering::Relaxed);
        let field = block_on(self.inner.next_field()).map_err(describe)?;
        let Some(field) = field else { return Ok(None) };
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        let disposition = field
            .headers()
            .get("content-disposition")
            .map(|v| v.as_bytes().to_vec())
            .ok_or(MultipartError::NoDisposition)?;
        let params = disposition_params(&disposition);
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let filename = disposition_filename(&params);
        let name = get("name").map(|n| String::from_utf8_lossy(&n).into_owned());
        let content_type = field
            .headers()
            .get("content-type")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Ok(Some(Part {
            name,
            filename,
            content_type,
            field,
            pending: Bytes::new(),
            overhead: self.overhead.clone(),
        }))
    }
}

impl Part<'_> {
    /// True for a file part (one with a filename).
    pub fn is_file(&self) -> bool {
        self.filename.is_some()
    }

    /// Reads a text field of at most `max` bytes.
    pub fn text(&mut self, max: usize) -> Result<String, MultipartError> {
        let mut out = Vec::new();
        let mut limited = self.take(max as u64 + 1);
        limited
            .read_to_end(&mut out)
            .map_err(|e| MultipartError::Read(e.to_string()))?;
        if out.len() > max {
            return Err(MultipartError::FieldTooLong(max));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

impl Read for Part<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match block_on(self.field.chunk()) {
                Ok(Some(chunk)) => {
                    self.overhead.store(0, Ordering::Relaxed);
                    self.pending = chunk;
                }
                Ok(None) => return Ok(0),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, describe(e))),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}

/// A message a person can act on, for any multer error.
fn describe(e: multer::Error) -> MultipartError {
    use std::error::Error;
    match &e {
        multer::Error::StreamReadFailed(inner) => MultipartError::Read(inner.to_string()),
        multer::Error::IncompleteStream | multer::Error::IncompleteFieldData { .. } => {
            MultipartError::Truncated
        }
        multer::Error::IncompleteHeaders | multer::Error::ReadHeaderFailed(_) => {
            MultipartError::BadHeaders
        }
        other => MultipartError::Malformed(match other.source() {
            Some(src) => format!("malformed multipart body: {other}: {src}"),
            None => format!("malformed multipart body: {other}"),
        }),
    }
}

/// The request body as the byte stream multer wants: one buffer per poll,
/// then `Pending` (see the module comment).
struct BodyStream<'r> {
    body: Box<dyn Read + Send + 'r>,
    ready: bool,
    overhead: Arc<AtomicU64>,
    read_size: usize,
}

impl Stream for BodyStream<'_> {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.ready {
            this.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.ready = false;
        if this.overhead.load(Ordering::Relaxed) > MAX_OVERHEAD {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a multipart part header or preamble is too long",
            ))));
        }
        let mut buf = vec![0u8; this.read_size];
        loop {
            match this.body.read(&mut buf) {
                Ok(0) => return Poll::Ready(None),
                Ok(n) => {
                    if n == this.read_size {
                        this.read_size = (this.read_size * 2).min(READ_SIZE);
                    }
                    this.overhead.fetch_add(n as u64, Ordering::Relaxed);
                    buf.truncate(n);
                    return Poll::Ready(Some(Ok(Bytes::from(buf))));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

/// Runs a future to completion on this thread. Every `Pending` in this module
/// comes from `BodyStream`, which makes progress on the very next poll, so
/// polling again at once is correct and never spins idle.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Parameters of a `Content-Disposition` value, values unquoted literally
/// (a quoted value ends at the next `"`; backslashes are plain characters).
pub(super) fn disposition_params(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = value;
    // Skip the disposition type.
    match rest.iter().position(|&b| b == b';') {
        Some(i) => rest = &rest[i + 1..],
        None => return out,
    }
    loop {
        rest = trim_start(rest);
        if rest.is_empty() {
            return out;
        }
        let key_end = rest
            .iter()
            .position(|&b| b == b'=' || b == b';')
            .unwrap_or(rest.len());
        let key = String::from_utf8_lossy(&rest[..key_end])
            .trim()
            .to_ascii_lowercase();
        rest = &rest[key_end..];
        if rest.first() != Some(&b'=') {
            rest = rest.get(1..).unwrap_or(&[]);
            continue;
        }
        rest = trim_start(&rest[1..]);
        let value;
        if rest.first() == Some(&b'"') {
            let body = &rest[1..];
            let end = body.iter().position(|&b| b == b'"').unwrap_or(body.len());
            value = body[..end].to_vec();
            rest = body.get(end + 1..).unwrap_or(&[]);
            let next = rest
                .iter()
                .position(|&b| b == b';')
                .map(|i| i + 1)
                .unwrap_or(rest.len());
            rest = &rest[next..];
        } else {
            let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
            value = trim_end(&rest[..end]).to_vec();
            rest = rest.get(end + 1..).unwrap_or(&[]);
        }
        out.push((key, value));
    }
}

/// The file name a `Content-Disposition` value gives: `filename*`
/// (RFC 8187) before `filename`, as raw bytes to be cleaned.
pub(super) fn disposition_filename(params: &[(String, Vec<u8>)]) -> Option<Vec<u8>> {
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    get("filename*")
        .and_then(|v| decode_ext_value(&v))
        .or_else(|| get("filename"))
}

/// Decodes an RFC 8187 `ext-value` (`UTF-8''%e2%82%ac.txt`).
pub(super) fn decode_ext_value(value: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(value).ok()?;
    let mut pieces = text.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let decoded: Vec<u8> = percent_decode(encoded.as_bytes());
    Some(decoded)
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(pair) = bytes.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn trim_start(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[i..]
}

fn trim_end(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|i| i + 1)
        .unwrap_or(0);
    &b[..i]
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (Option<String>, Option<Vec<u8>>, Vec<u8>);

    fn parts(body: &'static [u8]) -> Result<Vec<Parsed>, MultipartError> {
        let mut mp = Multipart::new(Box::new(body), "XB".into());
        let mut out = Vec::new();
        while let Some(mut p) = mp.next_part()? {
            let mut data = Vec::new();
            p.read_to_end(&mut data)
                .map_err(|e| MultipartError::Read(e.to_string()))?;
            out.push((p.name.clone(), p.filename.clone(), data));
        }
        Ok(out)
    }

    #[test]
    fn reads_fields_and_files_literally() {
        let body = b"--XB\r\nContent-Disposition: form-data; name=\"qquuid\"\r\n\r\nabc\r\n--XB\r\nContent-Disposition: form-data; name=\"qqfile\"; filename=\"C:\\dir\\x.txt\"\r\nContent-Type: text/plain\r\n\r\nline\r\n--X\r\n\r\n--XB--\r\n";
        let p = parts(body).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0.as_deref(), Some("qquuid"));
        assert_eq!(p[0].2, b"abc");
        assert_eq!(p[1].1.as_deref(), Some(&b"C:\\dir\\x.txt"[..]));
        assert_eq!(p[1].2, b"line\r\n--X\r\n");
    }

    #[test]
    fn truncated_bodies_fail() {
        assert!(parts(b"--XB\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc").is_err());
        assert!(
            parts(b"--XB\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--XB")
                .is_err()
        );
        assert!(parts(b"no boundary here").is_err());
    }

    #[test]
    fn filename_star_wins() {
        let p = disposition_params(
            b"form-data; name=\"f\"; filename=\"a.txt\"; filename*=UTF-8''%E2%82%AC.txt",
        );
        assert_eq!(p.len(), 3);
        assert_eq!(decode_ext_value(&p[2].1).unwrap(), "€.txt".as_bytes());
    }

    #[test]
    fn a_huge_part_header_is_refused_without_buffering_it() {
        let mut body = b"--XB\r\nContent-Disposition: form-data; name=\"a\"\r\nX: ".to_vec();
        body.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
        let body: &'static [u8] = Box::leak(body.into_boxed_slice());
        assert!(parts(body).is_err());
    }
}
