//! A small blocking HTTP/1.1 server for `upspool serve`: the endpoint at
//! `/upload` (and below it, for Fine Uploader's `DELETE /upload/<uuid>`), and
//! whatever other pages the caller's `Site` answers (the demo).
//!
//! Header parsing is `httparse`'s; the rest is here because the usual small
//! servers refuse what FilePond sends (raw UTF-8 bytes in `Upload-Name`).
//! A fixed pool of workers accepts and serves connections, so load waits in
//! the listen backlog instead of spawning threads without bound.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::message::{
    Body, HeaderMap, HeaderText, LimitedBody, Method, Request, Response, Service, StatusCode,
    append_header, percent_decode_path,
};

/// Where the upload endpoint is mounted.
pub const ENDPOINT: &str = "/upload";
/// Largest request head (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 100;
/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(15);
/// Longest silence while a request is being received.
const BODY_SILENCE: Duration = Duration::from_secs(120);
/// Unread body bytes discarded before closing, so the client sees the answer.
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

/// Other pages of the site (the demo): the answer for a GET path, if any.
pub type Site = Arc<dyn Fn(&str) -> Option<Response> + Send + Sync>;

/// Serves connections from `listener` with `workers` threads (the pool of
/// `gateway::pool`: a panic closes only its connection) until SIGTERM or
/// SIGINT, then lets connections in flight finish within `grace`; on SIGHUP
/// swaps in the service `reload` builds.
pub fn serve(
    handler: Arc<dyn Service>,
    listener: TcpListener,
    workers: usize,
    site: Site,
    grace: Duration,
    reload: impl Fn() -> Result<Arc<dyn Service>, String>,
) -> io::Result<()> {
    let signals = super::pool::Signals::catch()?;
    start(handler, listener, workers, site).run(signals, grace, reload);
    Ok(())
}

/// The pool of workers serving HTTP connections from `listener`. A
/// connection counts as in flight from accept to close, and keeps the
/// service it started with.
pub(crate) fn start(
    handler: Arc<dyn Service>,
    listener: TcpListener,
    workers: usize,
    site: Site,
) -> super::pool::Pool {
    use super::listen::{Listener, Stream};
    super::pool::Pool::start(
        "http",
        Listener::Tcp(listener),
        workers,
        handler,
        move |stream, _peer, state| {
            let Stream::Tcp(stream) = stream else {
                return Err("not a TCP connection".into());
            };
            let _busy = state.busy();
            match connection(state.service().as_ref(), stream, &site) {
                Err(e)
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::BrokenPipe
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) =>
                {
                    Err(e.to_string())
                }
                _ => Ok(()),
            }
        },
    )
}

/// The parsed head of one request.
struct Head {
    method: Method,
    target: String,
    headers: HeaderMap,
    keep_alive: bool,
}

/// Serves the requests of one connection.
fn connection(handler: &dyn Service, stream: TcpStream, site: &Site) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    loop {
        reader.get_ref().set_read_timeout(Some(IDLE))?;
        let head = match read_head(&mut reader)? {
            Some(Ok(h)) => h,
            Some(Err(status)) => {
                let r = Response::new(status).body(Body::Bytes(b"Malformed request.\n".to_vec()));
                return write_response(&mut writer, r, false, false);
            }
            None => return Ok(()),
        };
        reader.get_ref().set_read_timeout(Some(BODY_SILENCE))?;
        let is_head = head.method == Method::HEAD;
        let (path, query) = match head.target.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (head.target.clone(), String::new()),
        };
        let chunked = head
            .headers
            .text("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        let content_length = match head.headers.text("content-length") {
            Some(v) if !chunked => match v.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return write_response(
                        &mut writer,
                        Response::new(StatusCode::BAD_REQUEST),
                        false,
                        false,
                    );
                }
            },
            _ => None,
        };
        if head
            .headers
            .text("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut body = RequestBody::new(&mut reader, content_length, chunked);
        let response = if path == ENDPOINT || path.starts_with(&format!("{ENDPOINT}/")) {
            let request = Request {
                method: head.method.clone(),
                path_info: percent_decode_path(&path[ENDPOINT.len()..]),
                query,
                headers: head.headers,
                content_length,
                body: Box::new(&mut body),
            };
            handler.handle(request)
        } else if let Some(page) = (head.method == Method::GET || is_head)
            .then(|| site(&path))
            .flatten()
        {
            page
        } else {
            Response::text(
                StatusCode::NOT_FOUND,
                &format!("Not found. The upload endpoint is {ENDPOINT}.\n"),
            )
        };
        // Whatever the handler left unread must go before the next request.
        let clean = body.drain(DRAIN_LIMIT);
        let keep = head.keep_alive && clean;
        write_response(&mut writer, response, is_head, keep)?;
        handler.after_response();
        if !keep {
            let _ = writer.shutdown(std::net::Shutdown::Write);
            return Ok(());
        }
    }
}

/// Reads one request head; `None` on a clean end of the connection, a status
/// for a malformed or oversized one.
fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Result<Head, StatusCode>>> {
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
                return Ok(Some(Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)));
            }
            buf.truncate(e);
            return Ok(Some(parse_head(&buf)));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Some(Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)));
        }
    }
}

fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| from + p + 4)
}

fn parse_head(buf: &[u8]) -> Result<Head, StatusCode> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(StatusCode::BAD_REQUEST),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(_) => return Err(StatusCode::BAD_REQUEST),
    }
    let mut headers = HeaderMap::new();
    for h in parsed.headers.iter() {
        append_header(&mut headers, h.name, h.value).map_err(|_| StatusCode::BAD_REQUEST)?;
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
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    Ok(Head {
        method,
        target: parsed.path.unwrap_or("/").to_owned(),
        headers,
        keep_alive,
    })
}

/// A request body: `Content-Length` bytes, chunked, or none.
enum RequestBody<'r> {
    Sized(LimitedBody<&'r mut BufReader<TcpStream>>),
    Chunked(Chunked<'r>),
}

impl<'r> RequestBody<'r> {
    fn new(reader: &'r mut BufReader<TcpStream>, length: Option<u64>, chunked: bool) -> Self {
        if chunked {
            RequestBody::Chunked(Chunked {
                reader,
                left: 0,
                done: false,
            })
        } else {
            RequestBody::Sized(LimitedBody::new(reader, length.unwrap_or(0)))
        }
    }

    /// Reads and discards what is left, up to `limit` bytes; true if the body
    /// was read to its end (so the connection may carry another request).
    fn drain(&mut self, limit: u64) -> bool {
        io::copy(&mut self.take(limit), &mut io::sink()).is_ok()
            && matches!(self.read(&mut [0u8; 1]), Ok(0))
    }
}

impl Read for RequestBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RequestBody::Sized(b) => b.read(buf),
            RequestBody::Chunked(c) => c.read(buf),
        }
    }
}

/// `Transfer-Encoding: chunked` decoding.
struct Chunked<'r> {
    reader: &'r mut BufReader<TcpStream>,
    left: u64,
    done: bool,
}

impl Chunked<'_> {
    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut *self.reader)
            .take(4096)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the chunked request body ended early",
            ));
        }
        Ok(String::from_utf8_lossy(&line).trim().to_owned())
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bad chunk size in a chunked request body",
                )
            })?;
            if self.left == 0 {
                while !self.line()?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the chunked request body ended early",
            ));
        }
        self.left -= n as u64;
        if self.left == 0 {
            self.line()?;
        }
        Ok(n)
    }
}

fn write_response(
    out: &mut TcpStream,
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
