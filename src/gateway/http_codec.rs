//! HTTP/1.1 message framing (RFC 9112) over any `BufRead` and `Write`: the
//! request-head reader, the body decoders (`Content-Length` and chunked),
//! the response writer and the keep-alive loop that ties them together.
//! No sockets here, so unit tests and the `http_request` fuzz target drive
//! it from a `Cursor` and a `Vec<u8>`; `http.rs` adds the socket glue
//! (timeouts, `TCP_NODELAY`, shutdown) and the routing.
//!
//! Framing is strict, because a request whose length two parties read
//! differently is how requests get smuggled past a front server:
//! `Content-Length` is digits only and appears once, never beside
//! `Transfer-Encoding`; the only transfer coding is `chunked` alone; chunk
//! sizes are hex digits only, lines end in CRLF, and chunk extensions and
//! trailers are bounded. Any framing error is answered with
//! `Connection: close`, and the connection ends.

use std::io::{self, BufRead, Read, Write};

use crate::log;
use crate::message::{
    HeaderMap, HeaderText, LimitedBody, Method, Request, Response, StatusCode, append_header,
    header, parse_content_length,
};

/// Largest request head (request line and headers).
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most headers in one request.
pub(crate) const MAX_HEADERS: usize = 100;
/// Longest chunk-size line, extensions included.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;
/// Most chunk-extension bytes in one body (all chunks together).
pub(crate) const MAX_CHUNK_EXTENSIONS: usize = 64 * 1024;
/// Largest trailer section of a chunked body.
pub(crate) const MAX_TRAILERS: usize = 16 * 1024;
/// Unread body bytes discarded after the answer is decided, so that the
/// connection can carry the next request (or the client sees the answer).
pub(crate) const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

/// How the length of a request body is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The parsed head of one request, its framing decided.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: HeaderMap,
    /// The client allows another request on this connection.
    pub keep_alive: bool,
    pub framing: Framing,
    /// The client waits for `100 Continue` before sending the body.
    pub expects_continue: bool,
}

impl Head {
    /// The target split into path and query (without `?`).
    pub fn path_and_query(&self) -> (&str, &str) {
        self.target
            .split_once('?')
            .unwrap_or((self.target.as_str(), ""))
    }

    /// The request for a [`crate::message::Service`], its body read by `body`.
    pub fn into_request<'a>(
        self,
        script_name: &str,
        path_info: String,
        query: String,
        body: &'a mut (dyn Read + Send),
    ) -> Request<'a> {
        Request {
            method: self.method,
            path_info,
            script_name: script_name.to_owned(),
            query,
            headers: self.headers,
            content_length: match self.framing {
                Framing::Length(n) => Some(n),
                Framing::Empty | Framing::Chunked => None,
            },
            body: Box::new(body),
        }
    }
}

/// A request refused from its head alone; answered, then the connection
/// is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, message: &'static str) -> Refusal {
        Refusal { status, message }
    }

    fn bad(message: &'static str) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn response(&self) -> Response {
        Response::text(self.status, self.message)
    }
}

/// Reads one request head; `None` on a clean end of the connection (or an
/// idle timeout before any byte), a [`Refusal`] for a malformed, oversized
/// or ambiguously framed one.
pub fn read_head<R: BufRead>(reader: &mut R) -> io::Result<Option<Result<Head, Refusal>>> {
    let mut buf = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e)
                if buf.is_empty()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        // Take bytes up to the end of the head only.
        let start = buf.len();
        buf.extend_from_slice(available);
        let end = find_head_end(&buf, start.saturating_sub(3));
        let used = match end {
            Some(e) => e - start,
            None => available.len(),
        };
        reader.consume(used);
        if let Some(e) = end {
            if e > MAX_HEAD {
                return Ok(Some(Err(too_large())));
            }
            buf.truncate(e);
            return Ok(Some(parse_head(&buf)));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Some(Err(too_large())));
        }
    }
}

fn too_large() -> Refusal {
    Refusal::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "The request head is too large.\n",
    )
}

fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| from + p + 4)
}

fn parse_head(buf: &[u8]) -> Result<Head, Refusal> {
    let malformed = || Refusal::bad("Malformed request.\n");
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(malformed()),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large()),
        Err(_) => return Err(malformed()),
    }
    let mut headers = HeaderMap::new();
    for h in parsed.headers.iter() {
        append_header(&mut headers, h.name, h.value).map_err(|_| malformed())?;
    }
    let version = parsed.version.unwrap_or(1);
    let connection = headers
        .text("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let keep_alive = if version == 0 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let method = Method::from_bytes(parsed.method.unwrap_or("").to_ascii_uppercase().as_bytes())
        .map_err(|_| malformed())?;
    let framing = framing(version, &headers)?;
    let expects_continue = headers
        .text("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    Ok(Head {
        method,
        target: parsed.path.unwrap_or("/").to_owned(),
        headers,
        keep_alive,
        framing,
        expects_continue,
    })
}

/// Decides how the body is delimited (RFC 9112 §6.1–6.3), refusing every
/// head a front server could read differently.
///
/// Statuses: a `Transfer-Encoding` whose last coding is not `chunked`
/// (`identity`, `chunked, gzip`, `gzip`) leaves the body's length unknown,
/// for which §6.3 ¶4 requires 400 and closing the connection, so that is
/// 400, not 501; `chunked` applied twice is forbidden by §7 (400). Only a
/// coding we do not implement *before* a final `chunked` (`gzip, chunked`)
/// is a well-framed request we cannot serve: 501, as §6.1 recommends.
pub(crate) fn framing(version: u8, headers: &HeaderMap) -> Result<Framing, Refusal> {
    let lengths: Vec<&[u8]> = headers
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let mut codings = Vec::new();
    let mut has_te = false;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        has_te = true;
        for coding in value.as_bytes().split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if !coding.is_empty() {
                codings.push(coding.to_ascii_lowercase());
            }
        }
    }
    if has_te {
        if !lengths.is_empty() {
            return Err(Refusal::bad(
                "A request must not carry both Transfer-Encoding and Content-Length.\n",
            ));
        }
        if version == 0 {
            return Err(Refusal::bad(
                "An HTTP/1.0 request must not carry Transfer-Encoding.\n",
            ));
        }
        match codings.split_last() {
            Some((last, before)) if last == b"chunked" => {
                if before.iter().any(|c| c == b"chunked") {
                    return Err(Refusal::bad(
                        "The chunked transfer coding must be applied only once.\n",
                    ));
                }
                if !before.is_empty() {
                    return Err(Refusal::new(
                        StatusCode::NOT_IMPLEMENTED,
                        "Only Transfer-Encoding: chunked is supported; send the body without \
                         other transfer codings.\n",
                    ));
                }
                Ok(Framing::Chunked)
            }
            _ => Err(Refusal::bad(
                "Transfer-Encoding must end with chunked: the length of this request's body \
                 cannot be determined.\n",
            )),
        }
    } else {
        match lengths.as_slice() {
            [] => Ok(Framing::Empty),
            [one] => parse_content_length(one)
                .map(Framing::Length)
                .ok_or_else(|| Refusal::bad("Content-Length is not a number of bytes.\n")),
            _ => Err(Refusal::bad(
                "A request must carry at most one Content-Length.\n",
            )),
        }
    }
}

/// What reading the rest of a body found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// The body was read to its end: the connection may carry another request.
    Complete,
    /// The body's framing is broken (bad chunk size, missing CRLF, …).
    Malformed,
    /// The body was cut short, too long to drain, or the peer went silent.
    Incomplete,
}

/// A request body: `Content-Length` bytes, chunked, or none. Once a read
/// has failed, every later read fails the same way, so a handler that
/// ignores an error cannot resynchronise on a broken stream.
pub struct RequestBody<R> {
    inner: Decoder<R>,
    failed: Option<io::ErrorKind>,
}

enum Decoder<R> {
    Sized(LimitedBody<R>),
    Chunked(Chunked<R>),
}

impl<R: BufRead> RequestBody<R> {
    pub fn new(reader: R, framing: Framing) -> Self {
        let inner = match framing {
            Framing::Chunked => Decoder::Chunked(Chunked {
                reader,
                left: 0,
                state: ChunkState::Size,
                extensions: 0,
            }),
            Framing::Length(n) => Decoder::Sized(LimitedBody::new(reader, n)),
            Framing::Empty => Decoder::Sized(LimitedBody::new(reader, 0)),
        };
        RequestBody {
            inner,
            failed: None,
        }
    }

    /// Whether a read found the framing broken.
    pub fn is_malformed(&self) -> bool {
        self.failed == Some(io::ErrorKind::InvalidData)
    }

    /// Reads and discards what is left, up to `limit` bytes.
    pub fn drain(&mut self, limit: u64) -> Drained {
        let copied = io::copy(&mut self.take(limit), &mut io::sink());
        let at_end = copied.is_ok() && matches!(self.read(&mut [0u8; 1]), Ok(0));
        if self.is_malformed() {
            Drained::Malformed
        } else if at_end {
            Drained::Complete
        } else {
            Drained::Incomplete
        }
    }
}

impl<R: BufRead> Read for RequestBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(io::Error::new(
                kind,
                "the request body already failed to read",
            ));
        }
        let result = match &mut self.inner {
            Decoder::Sized(b) => b.read(buf),
            Decoder::Chunked(c) => c.read(buf),
        };
        if let Err(e) = &result
            && e.kind() != io::ErrorKind::Interrupted
        {
            self.failed = Some(e.kind());
        }
        result
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Before a chunk-size line.
    Size,
    /// Inside chunk data, `left` bytes to go.
    Data,
    /// After chunk data, before its CRLF.
    DataEnd,
    /// After the last chunk and the trailers.
    Done,
}

/// `Transfer-Encoding: chunked` decoding (RFC 9112 §7.1).
struct Chunked<R> {
    reader: R,
    left: u64,
    state: ChunkState,
    /// Chunk-extension bytes seen so far.
    extensions: usize,
}

fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn ended_early() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the chunked request body ended early",
    )
}

impl<R: BufRead> Chunked<R> {
    /// One line ending in CRLF, at most `limit` bytes with its CRLF; without
    /// the CRLF.
    fn line(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        (&mut self.reader)
            .take(limit as u64)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(if line.len() >= limit {
                invalid("a line of the chunked request body is too long")
            } else {
                ended_early()
            });
        }
        if !line.ends_with(b"\r\n") {
            return Err(invalid(
                "a line of the chunked request body does not end in CRLF",
            ));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn trailers(&mut self) -> io::Result<()> {
        let mut budget = MAX_TRAILERS;
        loop {
            let line = self.line(budget.max(2))?;
            if line.is_empty() {
                return Ok(());
            }
            budget = budget.saturating_sub(line.len() + 2);
            if budget == 0 {
                return Err(invalid("the chunked request body's trailers are too large"));
            }
            if !valid_field_line(&line) {
                return Err(invalid("a malformed trailer in a chunked request body"));
            }
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                ChunkState::Done => return Ok(0),
                ChunkState::Size => {
                    let line = self.line(MAX_CHUNK_LINE)?;
                    let (size, extensions) = parse_chunk_size(&line).map_err(invalid)?;
                    self.extensions += extensions;
                    if self.extensions > MAX_CHUNK_EXTENSIONS {
                        return Err(invalid(
                            "the chunked request body carries too many chunk extensions",
                        ));
                    }
                    if size == 0 {
                        self.trailers()?;
                        self.state = ChunkState::Done;
                        return Ok(0);
                    }
                    self.left = size;
                    self.state = ChunkState::Data;
                }
                ChunkState::Data => {
                    let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
                    let n = self.reader.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(ended_early());
                    }
                    self.left -= n as u64;
                    if self.left == 0 {
                        self.state = ChunkState::DataEnd;
                    }
                    return Ok(n);
                }
                ChunkState::DataEnd => {
                    if !self.line(2)?.is_empty() {
                        return Err(invalid("chunk data is not followed by CRLF"));
                    }
                    self.state = ChunkState::Size;
                }
            }
        }
    }
}

/// `chunk-size [ chunk-ext ]` (the line without its CRLF): the size, and
/// the length of the extensions.
pub(crate) fn parse_chunk_size(line: &[u8]) -> Result<(u64, usize), &'static str> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err("a chunk size is not hexadecimal digits");
    }
    if digits > 16 {
        return Err("a chunk size has more than 16 hexadecimal digits");
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| "unreachable")?;
    let size = u64::from_str_radix(text, 16).map_err(|_| "a chunk size is too large")?;
    let rest = &line[digits..];
    if !valid_chunk_extensions(rest) {
        return Err("a malformed chunk extension");
    }
    Ok((size, rest.len()))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn token(s: &[u8]) -> Option<&[u8]> {
    let n = s.iter().take_while(|&&b| is_tchar(b)).count();
    (n > 0).then(|| &s[n..])
}

/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
fn valid_chunk_extensions(mut s: &[u8]) -> bool {
    while !s.is_empty() {
        s = skip_ws(s);
        let Some(rest) = s.strip_prefix(b";") else {
            return false;
        };
        let Some(rest) = token(skip_ws(rest)) else {
            return false;
        };
        s = rest;
        let after = skip_ws(s);
        if let Some(value) = after.strip_prefix(b"=") {
            let value = skip_ws(value);
            let rest = if value.first() == Some(&b'"') {
                quoted_string(&value[1..])
            } else {
                token(value)
            };
            match rest {
                Some(rest) => s = rest,
                None => return false,
            }
        }
    }
    true
}

/// The rest after a quoted string whose opening quote is already taken.
fn quoted_string(s: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(&s[i + 1..]),
            b'\\' => {
                let next = *s.get(i + 1)?;
                if next != b'\t' && (next < 0x20 || next == 0x7f) {
                    return None;
                }
                i += 2;
            }
            b if b != b'\t' && (b < 0x20 || b == 0x7f) => return None,
            _ => i += 1,
        }
    }
    None
}

/// `field-name ":" OWS field-value OWS`, no obsolete line folding.
fn valid_field_line(line: &[u8]) -> bool {
    match token(line).and_then(|rest| rest.strip_prefix(b":")) {
        Some(value) => value
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
        None => false,
    }
}

/// Writes an answer: status line, headers, `Connection:`, and the body
/// unless it answers a HEAD request.
pub fn write_response<W: Write>(
    out: &mut W,
    response: Response,
    head: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let mut text = Vec::with_capacity(512);
    let connection: &[u8] = if keep_alive {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    };
    response.write_head("HTTP/1.1 ", connection, &mut text);
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    out.write_all(&text)?;
    if !head {
        response.body.write_to(&mut out)?;
    }
    out.flush()
}

/// What the connection loop is about to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The next request head (the connection is idle).
    Head,
    /// The body of the request just read.
    Body,
}

/// What the connection loop needs from its owner besides bytes.
pub trait Exchange<R> {
    /// Called before each wait (a socket sets its read timeout here).
    fn waiting(&mut self, _reader: &mut R, _wait: Wait) -> io::Result<()> {
        Ok(())
    }

    /// The answer to one request; what it leaves of `body` is drained.
    fn respond(&mut self, head: Head, body: &mut (dyn Read + Send)) -> Response;

    /// Runs after an answer has been written.
    fn after_response(&mut self) {}
}

/// Why a connection loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The peer closed, went idle, or asked to close after a request read
    /// whole: nothing is left unread.
    Finished,
    /// We stopped reading while the peer may still be sending (a refused
    /// head, a broken or undrained body): close gently so it sees the answer.
    Abandoned,
}

/// Serves the requests arriving on `reader` one after another, answering
/// on `writer`, until the connection should close.
pub fn serve_connection<R, W, E>(
    reader: &mut R,
    writer: &mut W,
    exchange: &mut E,
) -> io::Result<Ended>
where
    R: BufRead + Send,
    W: Write,
    E: Exchange<R>,
{
    loop {
        exchange.waiting(reader, Wait::Head)?;
        let head = match read_head(reader)? {
            Some(Ok(h)) => h,
            Some(Err(refusal)) => {
                log::warn(format_args!(
                    "http: refused a request ({}): {}",
                    refusal.status.as_u16(),
                    refusal.message.trim_end()
                ));
                write_response(writer, refusal.response(), false, false)?;
                return Ok(Ended::Abandoned);
            }
            None => return Ok(Ended::Finished),
        };
        exchange.waiting(reader, Wait::Body)?;
        let is_head = head.method == Method::HEAD;
        let keep_alive = head.keep_alive;
        if head.expects_continue {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        let mut body = RequestBody::new(&mut *reader, head.framing);
        let mut response = exchange.respond(head, &mut body);
        // Whatever the handler left unread must go before the next request;
        // a broken body is never answered as if it were fine, whether the
        // handler noticed or never read it.
        let drained = body.drain(DRAIN_LIMIT);
        if drained == Drained::Malformed {
            log::warn(format_args!(
                "http: a request body's chunked framing is malformed; closing the connection"
            ));
        }
        if drained == Drained::Malformed
            && !(response.status.is_client_error() || response.status.is_server_error())
        {
            response = Response::text(
                StatusCode::BAD_REQUEST,
                "The request body's chunked framing is malformed.\n",
            );
        }
        let keep = keep_alive && drained == Drained::Complete;
        write_response(writer, response, is_head, keep)?;
        exchange.after_response();
        if !keep {
            return Ok(if drained == Drained::Complete {
                Ended::Finished
            } else {
                Ended::Abandoned
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Reads the whole body; answers 200 with its length and bytes, or 400.
    struct Echo {
        bodies: Vec<Result<Vec<u8>, io::ErrorKind>>,
    }

    impl<R> Exchange<R> for Echo {
        fn respond(&mut self, _head: Head, body: &mut (dyn Read + Send)) -> Response {
            let mut all = Vec::new();
            match body.read_to_end(&mut all) {
                Ok(n) => {
                    self.bodies.push(Ok(all));
                    Response::text(StatusCode::OK, &format!("{n}\n"))
                }
                Err(e) => {
                    self.bodies.push(Err(e.kind()));
                    Response::text(StatusCode::BAD_REQUEST, "bad body\n")
                }
            }
        }
    }

    /// Serves `input`; the answers written and the bodies the handler read.
    fn run(input: &[u8]) -> (String, Vec<Result<Vec<u8>, io::ErrorKind>>, Ended) {
        let mut reader = Cursor::new(input.to_vec());
        let mut out = Vec::new();
        let mut echo = Echo { bodies: Vec::new() };
        let ended = serve_connection(&mut reader, &mut out, &mut echo).unwrap_or(Ended::Abandoned);
        (
            String::from_utf8_lossy(&out).into_owned(),
            echo.bodies,
            ended,
        )
    }

    fn statuses(out: &str) -> Vec<&str> {
        out.split("HTTP/1.1 ")
            .skip(1)
            .map(|s| &s[..3])
            .collect::<Vec<_>>()
    }

    fn post(headers: &str, body: &str) -> Vec<u8> {
        format!("POST /upload HTTP/1.1\r\nHost: x\r\n{headers}\r\n{body}").into_bytes()
    }

    #[test]
    fn keep_alive_requests_in_one_stream() {
        let mut input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        input.extend(post("Content-Length: 3\r\n", "abc"));
        input.extend(post(
            "Transfer-Encoding: chunked\r\n",
            "3;a=b;c=\"d e\"\r\nxyz\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n",
        ));
        let (out, bodies, ended) = run(&input);
        assert_eq!(statuses(&out), ["200", "200", "200"], "{out}");
        assert_eq!(
            bodies,
            [Ok(b"".to_vec()), Ok(b"abc".to_vec()), Ok(b"xyz!".to_vec())]
        );
        assert!(out.contains("Connection: keep-alive"));
        assert_eq!(ended, Ended::Finished);
    }

    #[test]
    fn content_length_must_be_one_number() {
        for value in [
            "+5",
            "-1",
            "5 5",
            "5,5",
            "5, 5",
            "0x5",
            "",
            "99999999999999999999",
        ] {
            let (out, bodies, ended) = run(&post(&format!("Content-Length: {value}\r\n"), "abcde"));
            assert_eq!(statuses(&out), ["400"], "{value:?}: {out}");
            assert!(out.contains("Connection: close"), "{out}");
            assert!(bodies.is_empty());
            assert_eq!(ended, Ended::Abandoned);
        }
        // Optional whitespace around the value is not part of it.
        let (out, bodies, _) = run(&post("Content-Length:  5 \r\n", "abcde"));
        assert_eq!(statuses(&out), ["200"], "{out}");
        assert_eq!(bodies, [Ok(b"abcde".to_vec())]);
    }

    #[test]
    fn conflicting_framing_headers_are_refused() {
        for headers in [
            "Content-Length: 5\r\nContent-Length: 5\r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: identity\r\n",
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: \r\n",
            "Transfer-Encoding: chunked;q=1\r\n",
        ] {
            let (out, bodies, _) = run(&post(headers, "5\r\nabcde\r\n0\r\n\r\n"));
            assert_eq!(statuses(&out), ["400"], "{headers:?}: {out}");
            assert!(out.contains("Connection: close"), "{out}");
            assert!(bodies.is_empty());
        }
        for headers in [
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        ] {
            let (out, bodies, _) = run(&post(headers, "5\r\nabcde\r\n0\r\n\r\n"));
            assert_eq!(statuses(&out), ["501"], "{headers:?}: {out}");
            assert!(out.contains("Only Transfer-Encoding: chunked"), "{out}");
            assert!(bodies.is_empty());
        }
        let (out, _, _) =
            run(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n");
        assert_eq!(statuses(&out), ["400"], "{out}");
        // Case does not matter for the one coding we know.
        let (out, _, _) = run(&post("Transfer-Encoding: Chunked\r\n", "0\r\n\r\n"));
        assert_eq!(statuses(&out), ["200"], "{out}");
    }

    #[test]
    fn bad_chunk_sizes_break_the_body() {
        for chunks in [
            "+5\r\nabcde\r\n0\r\n\r\n",
            "-5\r\nabcde\r\n0\r\n\r\n",
            " 5\r\nabcde\r\n0\r\n\r\n",
            "5 \r\nabcde\r\n0\r\n\r\n",
            "0x5\r\nabcde\r\n0\r\n\r\n",
            "\r\nabcde\r\n0\r\n\r\n",
            "00000000000000005\r\nabcde\r\n0\r\n\r\n",
            "5\r\nabcdeXX0\r\n\r\n",
            "5\r\nabcde\n0\r\n\r\n",
            "5\nabcde\r\n0\r\n\r\n",
            "5;\r\nabcde\r\n0\r\n\r\n",
            "5;a=\"b\r\nabcde\r\n0\r\n\r\n",
            "5;a b\r\nabcde\r\n0\r\n\r\n",
            "5\r\nabcde\r\n0\r\nno colon\r\n\r\n",
            "5\r\nabcde\r\n0\r\n folded: x\r\n\r\n",
        ] {
            let (out, bodies, ended) = run(&post("Transfer-Encoding: chunked\r\n", chunks));
            assert_eq!(statuses(&out), ["400"], "{chunks:?}: {out}");
            assert!(out.contains("Connection: close"), "{out}");
            assert_eq!(bodies, [Err(io::ErrorKind::InvalidData)], "{chunks:?}");
            assert_eq!(ended, Ended::Abandoned);
        }
        // Sixteen digits are fine (leading zeros included).
        let (out, bodies, _) = run(&post(
            "Transfer-Encoding: chunked\r\n",
            "0000000000000005\r\nabcde\r\n0\r\n\r\n",
        ));
        assert_eq!(statuses(&out), ["200"], "{out}");
        assert_eq!(bodies, [Ok(b"abcde".to_vec())]);
    }

    #[test]
    fn extensions_and_trailers_are_bounded() {
        let long = format!("5;a={}\r\nabcde\r\n0\r\n\r\n", "x".repeat(MAX_CHUNK_LINE));
        let (out, bodies, _) = run(&post("Transfer-Encoding: chunked\r\n", &long));
        assert_eq!(statuses(&out), ["400"], "{out}");
        assert_eq!(bodies, [Err(io::ErrorKind::InvalidData)]);
        let many = format!("{}0\r\n\r\n", "1;e=xxxxxxxxxxxxxxxx\r\nA\r\n".repeat(5000));
        let (out, _, _) = run(&post("Transfer-Encoding: chunked\r\n", &many));
        assert_eq!(statuses(&out), ["400"], "{out}");
        let trailers = format!(
            "1\r\nA\r\n0\r\n{}\r\n",
            "X-T: yyyyyyyyyyyyyyyy\r\n".repeat(2000)
        );
        let (out, _, _) = run(&post("Transfer-Encoding: chunked\r\n", &trailers));
        assert_eq!(statuses(&out), ["400"], "{out}");
    }

    /// A handler that never reads the body still gets no 200 for a broken
    /// one, and the connection closes.
    #[test]
    fn an_unread_broken_body_is_not_answered_as_fine() {
        struct Ignore;
        impl<R> Exchange<R> for Ignore {
            fn respond(&mut self, _: Head, _: &mut (dyn Read + Send)) -> Response {
                Response::text(StatusCode::OK, "fine\n")
            }
        }
        let mut input = post("Transfer-Encoding: chunked\r\n", "5\r\nabcde\r\nzz\r\n\r\n");
        input.extend(b"GET /second HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        let ended = serve_connection(&mut Cursor::new(input), &mut out, &mut Ignore).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(statuses(&out), ["400"], "{out}");
        assert!(out.contains("Connection: close"));
        assert_eq!(ended, Ended::Abandoned);
    }

    #[test]
    fn truncated_bodies_close_the_connection() {
        let (out, bodies, ended) = run(&post("Content-Length: 10\r\n", "abc"));
        assert_eq!(statuses(&out), ["400"], "{out}");
        assert_eq!(bodies, [Err(io::ErrorKind::UnexpectedEof)]);
        assert_eq!(ended, Ended::Abandoned);
        let (_, bodies, _) = run(&post("Transfer-Encoding: chunked\r\n", "5\r\nab"));
        assert_eq!(bodies, [Err(io::ErrorKind::UnexpectedEof)]);
    }

    #[test]
    fn head_answers_have_no_body_and_continue_is_sent() {
        let (out, _, _) = run(b"HEAD / HTTP/1.1\r\n\r\n");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
        let (out, _, _) = run(&post("Expect: 100-continue\r\nContent-Length: 1\r\n", "a"));
        assert!(
            out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"),
            "{out}"
        );
    }

    #[test]
    fn chunk_size_grammar() {
        assert_eq!(parse_chunk_size(b"1f"), Ok((31, 0)));
        assert_eq!(parse_chunk_size(b"A ; x = \"q\\\"\" ;y"), Ok((10, 15)));
        assert_eq!(
            parse_chunk_size(b"ffffffffffffffff").map(|r| r.0),
            Ok(u64::MAX)
        );
        for bad in [
            &b""[..],
            b"g",
            b"1 ",
            b"1;",
            b"1;=x",
            b"1;a=",
            b"1;a=\"",
            b"1;a=b c",
        ] {
            assert!(parse_chunk_size(bad).is_err(), "{bad:?}");
        }
    }
}
