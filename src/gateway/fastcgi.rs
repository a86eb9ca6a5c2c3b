//! FastCGI responder: the record codec and the connection state machine,
//! written against any `BufRead` and `Write`, so that a connection can be
//! driven from bytes in memory (tests, `fuzz/fuzz_targets/fastcgi_connection.rs`)
//! as well as from a socket. Sockets, timeouts and workers are elsewhere:
//! [`super::listen`] (the socket side, through [`Transport`]) and
//! [`super::pool`] (accepting, panics, SIGTERM and SIGHUP).
//!
//! Written here rather than taken from the `fastcgi` crate, which spawns a
//! thread per connection without bound, panics on accept errors and unwraps
//! malformed records (docs/decisions.md). A connection:
//!
//! - reads `FCGI_STDIN` record by record as the request body streams, never
//!   buffering it whole; `FCGI_ABORT_REQUEST` ends the body with an error, so the
//!   part being received is not recorded and the upload stays resumable;
//! - honours `FCGI_KEEP_CONN`, answers `FCGI_GET_VALUES` truthfully (one request
//!   per connection, `workers` connections);
//! - ends with an error for the log on malformed records, oversized params or
//!   a vanished peer, never with a panic.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;
use std::time::Duration;

use super::cgi;
use super::listen::{Listener, Stream};
use super::pool::{Pool, PoolState, Signals};
use crate::log;
use crate::message::Service;

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const ABORT_REQUEST: u8 = 2;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const GET_VALUES: u8 = 9;
const GET_VALUES_RESULT: u8 = 10;
const UNKNOWN_TYPE: u8 = 11;
const RESPONDER: u16 = 1;
const KEEP_CONN: u8 = 1;
const REQUEST_COMPLETE: u8 = 0;
const CANT_MPX_CONN: u8 = 1;
const UNKNOWN_ROLE: u8 = 3;

/// Largest total size of one request's params (names and values).
const MAX_PARAMS: usize = 128 * 1024;
/// Unread request body discarded to keep a connection usable.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
/// What a closing connection still reads from the peer, at most.
const LINGER_LIMIT: u64 = 1024 * 1024;

/// Where a connection is, for its transport's timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the next request (a short wait).
    Idle,
    /// Receiving or answering a request (the web server may pause long).
    Active,
    /// Closing: reading what the peer still sends, briefly.
    Closing,
}

/// The socket-specific side of a connection. Bytes in memory need none of
/// it (`()`); a socket sets read timeouts per phase and half-closes.
pub trait Transport {
    fn set_phase(&mut self, _phase: Phase) -> io::Result<()> {
        Ok(())
    }
    /// Stops sending (the peer sees the end of the stream) before the last
    /// reads of a closing connection.
    fn shutdown_write(&mut self) {}
}

impl Transport for () {}

/// What a connection asks of whoever runs it.
pub trait Host {
    /// The service for the next request (SIGHUP may swap it in between).
    fn service(&self) -> Arc<dyn Service>;
    /// True once the server is stopping: a kept connection is closed after
    /// its current request.
    fn stopping(&self) -> bool {
        false
    }
    /// A request begins; `request_ended` follows, even if the service
    /// panics (graceful stop waits for requests in flight).
    fn request_started(&self) {}
    fn request_ended(&self) {}
}

/// One record header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub kind: u8,
    pub id: u16,
    pub length: u16,
    pub padding: u8,
}

/// A connection error: the message goes to the log.
#[derive(Debug)]
pub struct ConnError(String);

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError(match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                "the web server closed the connection mid-record".into()
            }
            _ => e.to_string(),
        })
    }
}

/// Reads one record header; `None` on a clean end of the connection (or a
/// read timeout between records).
pub fn read_header(r: &mut impl Read) -> Result<Option<Header>, ConnError> {
    let mut h = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(ConnError(
                    "the web server closed the connection mid-record".into(),
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if got == 0
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if h[0] != VERSION {
        return Err(ConnError(format!(
            "a record of FastCGI version {} (only 1 exists)",
            h[0]
        )));
    }
    Ok(Some(Header {
        kind: h[1],
        id: u16::from_be_bytes([h[2], h[3]]),
        length: u16::from_be_bytes([h[4], h[5]]),
        padding: h[6],
    }))
}

/// Reads a record's content and skips its padding.
pub fn read_content(r: &mut impl Read, h: &Header) -> Result<Vec<u8>, ConnError> {
    let mut content = vec![0u8; h.length as usize + h.padding as usize];
    r.read_exact(&mut content)?;
    content.truncate(h.length as usize);
    Ok(content)
}

/// The largest record content that needs no padding (a multiple of 8).
const FULL_RECORD: usize = u16::MAX as usize & !7;

fn write_record(w: &mut impl Write, kind: u8, id: u16, content: &[u8]) -> io::Result<()> {
    for piece in content
        .chunks(u16::MAX as usize)
        .chain(if content.is_empty() {
            Some(&[][..])
        } else {
            None
        })
    {
        let len = piece.len() as u16;
        let padding = (8 - (piece.len() % 8)) % 8;
        let h = [
            VERSION,
            kind,
            (id >> 8) as u8,
            id as u8,
            (len >> 8) as u8,
            len as u8,
            padding as u8,
            0,
        ];
        w.write_all(&h)?;
        w.write_all(piece)?;
        w.write_all(&[0u8; 8][..padding])?;
    }
    Ok(())
}

fn end_request(w: &mut impl Write, id: u16, protocol_status: u8) -> io::Result<()> {
    write_record(w, END_REQUEST, id, &[0, 0, 0, 0, protocol_status, 0, 0, 0])
}

/// One name-value pair, as bytes.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Decodes FastCGI name-value pairs (lengths of 1 or 4 bytes).
pub fn decode_pairs(mut data: &[u8]) -> Result<Vec<Pair>, ConnError> {
    fn length(data: &mut &[u8]) -> Result<usize, ConnError> {
        let bad = || ConnError("a malformed FastCGI name-value pair".into());
        let first = *data.first().ok_or_else(bad)?;
        if first & 0x80 == 0 {
            *data = &data[1..];
            return Ok(first as usize);
        }
        let b = data.get(..4).ok_or_else(bad)?;
        let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]) as usize;
        *data = &data[4..];
        Ok(n)
    }
    let mut out = Vec::new();
    while !data.is_empty() {
        let n = length(&mut data)?;
        let v = length(&mut data)?;
        if data.len() < n.saturating_add(v) {
            return Err(ConnError(
                "a FastCGI name-value pair longer than its record".into(),
            ));
        }
        out.push((data[..n].to_vec(), data[n..n + v].to_vec()));
        data = &data[n + v..];
    }
    Ok(out)
}

/// Encodes FastCGI name-value pairs: a length below 128 in one byte, any
/// other in four with the high bit set (FastCGI 1.0, section 3.4).
pub(crate) fn encode_pairs(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let len = u32::try_from(len).unwrap_or(u32::MAX) & 0x7fff_ffff;
            out.extend_from_slice(&(len | 0x8000_0000).to_be_bytes());
        }
    }
    let mut out = Vec::new();
    for (n, v) in pairs {
        length(n.len(), &mut out);
        length(v.len(), &mut out);
        out.extend_from_slice(n);
        out.extend_from_slice(v);
    }
    out
}

/// Marks a request in flight for as long as it lives, panics included.
struct InFlight<'h>(&'h dyn Host);

impl<'h> InFlight<'h> {
    fn new(host: &'h dyn Host) -> Self {
        host.request_started();
        InFlight(host)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// One FastCGI connection: records in from `reader`, records out to
/// `writer`, phases and the half-close through `transport`.
pub struct Connection<R, W, T> {
    reader: R,
    writer: W,
    transport: T,
    /// Announced as `FCGI_MAX_CONNS` and `FCGI_MAX_REQS`.
    workers: usize,
}

impl<R: BufRead + Send, W: Write, T: Transport> Connection<R, W, T> {
    pub fn new(reader: R, writer: W, transport: T, workers: usize) -> Self {
        Connection {
            reader,
            writer,
            transport,
            workers,
        }
    }

    /// The writer, with what was written (tests and fuzzing).
    pub fn into_writer(self) -> W {
        self.writer
    }

    /// Serves requests until the web server closes, a request without
    /// `FCGI_KEEP_CONN` ends, or the host is stopping.
    pub fn serve(&mut self, host: &dyn Host) -> Result<(), ConnError> {
        loop {
            self.transport.set_phase(Phase::Idle)?;
            let Some((id, keep)) = self.next_request()? else {
                return Ok(());
            };
            self.transport.set_phase(Phase::Active)?;
            let clean = {
                let _in_flight = InFlight::new(host);
                self.request(host, id)?
            };
            if !keep || !clean || host.stopping() {
                self.linger();
                return Ok(());
            }
        }
    }

    /// Closes gracefully: stop sending, then read what the peer still sends
    /// for a moment. Closing a socket with unread input makes the kernel send
    /// a reset, which can destroy the end of an answer the peer has not read
    /// yet (some clients send an extra empty `FCGI_STDIN` record).
    fn linger(&mut self) {
        let _ = self.writer.flush();
        self.transport.shutdown_write();
        let _ = self.transport.set_phase(Phase::Closing);
        let _ = io::copy(&mut (&mut self.reader).take(LINGER_LIMIT), &mut io::sink());
    }

    /// Waits for `FCGI_BEGIN_REQUEST`, answering management records meanwhile.
    fn next_request(&mut self) -> Result<Option<(u16, bool)>, ConnError> {
        loop {
            let Some(h) = read_header(&mut self.reader)? else {
                return Ok(None);
            };
            let content = read_content(&mut self.reader, &h)?;
            match (h.kind, h.id) {
                (GET_VALUES, 0) => {
                    let asked = decode_pairs(&content)?;
                    let workers = self.workers.to_string();
                    let mut known: Vec<(&[u8], &[u8])> = Vec::new();
                    for (name, _) in &asked {
                        match name.as_slice() {
                            b"FCGI_MAX_CONNS" => {
                                known.push((b"FCGI_MAX_CONNS", workers.as_bytes()))
                            }
                            b"FCGI_MAX_REQS" => known.push((b"FCGI_MAX_REQS", workers.as_bytes())),
                            b"FCGI_MPXS_CONNS" => known.push((b"FCGI_MPXS_CONNS", b"0")),
                            _ => {}
                        }
                    }
                    write_record(
                        &mut self.writer,
                        GET_VALUES_RESULT,
                        0,
                        &encode_pairs(&known),
                    )?;
                    self.writer.flush()?;
                }
                (kind, 0) => {
                    write_record(
                        &mut self.writer,
                        UNKNOWN_TYPE,
                        0,
                        &[kind, 0, 0, 0, 0, 0, 0, 0],
                    )?;
                    self.writer.flush()?;
                }
                (BEGIN_REQUEST, id) => {
                    if content.len() < 8 {
                        return Err(ConnError("a short FCGI_BEGIN_REQUEST record".into()));
                    }
                    let role = u16::from_be_bytes([content[0], content[1]]);
                    let keep = content[2] & KEEP_CONN != 0;
                    if role != RESPONDER {
                        end_request(&mut self.writer, id, UNKNOWN_ROLE)?;
                        self.writer.flush()?;
                        continue;
                    }
                    return Ok(Some((id, keep)));
                }
                // Records of a request that already ended (an abort that crossed
                // our answer, say) are dropped.
                _ => {}
            }
        }
    }

    /// Reads the params, runs the service with the streamed body, writes the
    /// answer. Returns whether the connection can carry another request.
    fn request(&mut self, host: &dyn Host, id: u16) -> Result<bool, ConnError> {
        let mut params = Vec::new();
        loop {
            let Some(h) = read_header(&mut self.reader)? else {
                return Err(ConnError(
                    "the web server closed the connection before the params ended".into(),
                ));
            };
            let content = read_content(&mut self.reader, &h)?;
            match (h.kind, h.id) {
                (PARAMS, i) if i == id => {
                    if content.is_empty() {
                        break;
                    }
                    if params.len() + content.len() > MAX_PARAMS {
                        return Err(ConnError(format!(
                            "the request params exceed {MAX_PARAMS} bytes"
                        )));
                    }
                    params.extend_from_slice(&content);
                }
                (ABORT_REQUEST, i) if i == id => {
                    end_request(&mut self.writer, id, REQUEST_COMPLETE)?;
                    self.writer.flush()?;
                    return Ok(true);
                }
                // Id 0 is the management channel: no request to refuse there.
                (BEGIN_REQUEST, other) if other != id && other != 0 => {
                    end_request(&mut self.writer, other, CANT_MPX_CONN)?;
                }
                _ => {}
            }
        }
        let env = cgi::Environment::from_pairs(decode_pairs(&params)?.into_iter().map(|(n, v)| {
            (
                std::ffi::OsString::from_vec(n),
                std::ffi::OsString::from_vec(v),
            )
        }));
        let head = env.method().is_some_and(|m| m.eq_ignore_ascii_case("HEAD"));
        let service = host.service();
        let mut body = StdinReader {
            reader: &mut self.reader,
            id,
            left: 0,
            padding: 0,
            done: false,
            aborted: false,
        };
        let response = match cgi::request(&env, &mut body) {
            Ok(request) => super::respond(service.as_ref(), request),
            Err(refused) => {
                log::warn(format_args!("fastcgi: {refused}"));
                cgi::bad_request(&refused.to_string())
            }
        };
        let drained = body.aborted || body.drain(DRAIN_LIMIT);
        let aborted = body.aborted;
        if !aborted {
            // One record's worth: a large body goes out in full-size records.
            let mut out = BufWriter::with_capacity(
                FULL_RECORD,
                RecordWriter {
                    inner: &mut self.writer,
                    id,
                },
            );
            cgi::write_response(&mut out, response, head)?;
            out.flush()?;
            drop(out);
            write_record(&mut self.writer, STDOUT, id, &[])?;
        }
        end_request(&mut self.writer, id, REQUEST_COMPLETE)?;
        self.writer.flush()?;
        service.after_response();
        Ok(drained)
    }
}

/// The request body: the contents of the request's `FCGI_STDIN` records,
/// read as they arrive.
struct StdinReader<'c, R> {
    reader: &'c mut R,
    id: u16,
    left: usize,
    padding: usize,
    done: bool,
    aborted: bool,
}

impl<R: Read> StdinReader<'_, R> {
    /// Reads and discards up to `limit` more bytes; true if the stream ended.
    fn drain(&mut self, limit: u64) -> bool {
        io::copy(&mut self.take(limit), &mut io::sink()).is_ok()
            && matches!(self.read(&mut [0u8; 1]), Ok(0))
    }

    fn next_record(&mut self) -> io::Result<()> {
        loop {
            let h = read_header(self.reader)
                .map_err(|e| io::Error::new(io::ErrorKind::UnexpectedEof, e.0))?
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the web server closed the connection mid-request",
                    )
                })?;
            match (h.kind, h.id) {
                (STDIN, i) if i == self.id => {
                    if h.length == 0 {
                        let mut pad = vec![0u8; h.padding as usize];
                        self.reader.read_exact(&mut pad)?;
                        self.done = true;
                    } else {
                        self.left = h.length as usize;
                        self.padding = h.padding as usize;
                    }
                    return Ok(());
                }
                (ABORT_REQUEST, i) if i == self.id => {
                    let _ = read_content(self.reader, &h);
                    self.aborted = true;
                    self.done = true;
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the web server aborted the request",
                    ));
                }
                _ => {
                    // Management or foreign records in the middle of a body are skipped.
                    read_content(self.reader, &h)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.0))?;
                }
            }
        }
    }
}

impl<R: Read> Read for StdinReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.aborted {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the web server aborted the request",
            ));
        }
        while self.left == 0 {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            self.next_record()?;
        }
        let want = buf.len().min(self.left);
        let n = self.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the web server closed the connection mid-request",
            ));
        }
        self.left -= n;
        if self.left == 0 && self.padding > 0 {
            let mut pad = [0u8; 255];
            self.reader.read_exact(&mut pad[..self.padding])?;
            self.padding = 0;
        }
        Ok(n)
    }
}

/// Wraps writes into `FCGI_STDOUT` records.
struct RecordWriter<'w, W> {
    inner: &'w mut W,
    id: u16,
}

impl<W: Write> Write for RecordWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        write_record(self.inner, STDOUT, self.id, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// How the responder runs.
pub struct Options {
    pub workers: usize,
    /// `FCGI_WEB_SERVER_ADDRS`: peers allowed to connect over TCP; `None` = any.
    pub web_server_addrs: Option<Vec<IpAddr>>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub grace: Duration,
}

impl Options {
    /// Reads `FCGI_WEB_SERVER_ADDRS` from the process environment.
    pub fn web_server_addrs_from_env() -> Result<Option<Vec<IpAddr>>, String> {
        match std::env::var("FCGI_WEB_SERVER_ADDRS") {
            Err(_) => Ok(None),
            Ok(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse()
                        .map_err(|_| format!("FCGI_WEB_SERVER_ADDRS: `{s}` is not an IP address"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
}

/// A pool's connections run their requests with its service and count.
impl Host for PoolState {
    fn service(&self) -> Arc<dyn Service> {
        PoolState::service(self)
    }
    fn stopping(&self) -> bool {
        PoolState::stopping(self)
    }
    fn request_started(&self) {
        PoolState::request_started(self)
    }
    fn request_ended(&self) {
        PoolState::request_ended(self)
    }
}

/// Serves until SIGTERM or SIGINT, then lets in-flight requests finish
/// within the grace period. `reload` builds a new service on SIGHUP.
pub fn serve(
    service: Arc<dyn Service>,
    listener: Listener,
    options: Options,
    reload: impl Fn() -> Result<Arc<dyn Service>, String>,
) -> io::Result<()> {
    let signals = Signals::catch()?;
    let grace = options.grace;
    start(service, listener, options).run(signals, grace, reload);
    Ok(())
}

/// The pool of workers serving FastCGI connections from `listener`.
pub(crate) fn start(service: Arc<dyn Service>, listener: Listener, options: Options) -> Pool {
    let workers = options.workers.max(1);
    let allowed = options.web_server_addrs;
    Pool::start(
        "fastcgi",
        listener,
        workers,
        service,
        move |stream: Stream, peer: Option<IpAddr>, state: &PoolState| {
            if let (Some(allowed), Some(ip)) = (&allowed, peer)
                && !allowed.contains(&ip)
            {
                log::warn(format_args!(
                    "fastcgi: refused a connection from {ip}, not in FCGI_WEB_SERVER_ADDRS"
                ));
                return Ok(());
            }
            let writer =
                BufWriter::with_capacity(64 * 1024, stream.try_clone().map_err(|e| e.to_string())?);
            let reader =
                BufReader::with_capacity(64 * 1024, stream.try_clone().map_err(|e| e.to_string())?);
            Connection::new(reader, writer, stream, workers)
                .serve(state)
                .map_err(|e| e.to_string())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_malformed_pairs_fail() {
        let encoded = encode_pairs(&[(b"REQUEST_METHOD", b"POST"), (b"X", b"")]);
        let decoded = decode_pairs(&encoded).unwrap();
        assert_eq!(decoded[0], (b"REQUEST_METHOD".to_vec(), b"POST".to_vec()));
        assert_eq!(decoded[1], (b"X".to_vec(), Vec::new()));
        let mut long = vec![0x80, 0, 1, 0, 1];
        long.extend(vec![b'a'; 257]);
        assert_eq!(decode_pairs(&long).unwrap()[0].0.len(), 256);
        assert!(decode_pairs(&[5, 5, b'a']).is_err());
        assert!(decode_pairs(&[0x80, 0]).is_err());
        assert!(decode_pairs(&[0xff, 0xff, 0xff, 0xff, 0]).is_err());
    }

    /// Regression: lengths of 128 bytes and more were written as one byte.
    #[test]
    fn long_names_and_values_round_trip() {
        let sizes = [0usize, 127, 128, 300, 70_000];
        for n in sizes {
            for v in sizes {
                let name = vec![b'n'; n];
                let value = vec![b'v'; v];
                let encoded = encode_pairs(&[(&name, &value), (b"AFTER", b"x")]);
                let expected = (if n < 128 { 1 } else { 4 }) + (if v < 128 { 1 } else { 4 });
                assert_eq!(encoded.len(), expected + n + v + 8, "{n} {v}");
                let decoded = decode_pairs(&encoded).unwrap();
                assert_eq!(
                    decoded,
                    vec![(name, value), (b"AFTER".to_vec(), b"x".to_vec())],
                    "{n} {v}"
                );
            }
        }
    }

    struct Echo;

    impl Service for Echo {
        fn handle(&self, mut request: crate::message::Request<'_>) -> crate::message::Response {
            let mut body = Vec::new();
            let _ = request.body.read_to_end(&mut body);
            crate::message::Response::new(crate::message::StatusCode::OK)
                .body(crate::message::Body::Bytes(body))
        }
    }

    impl Host for Arc<dyn Service> {
        fn service(&self) -> Arc<dyn Service> {
            self.clone()
        }
    }

    /// Runs a whole connection on `input`; the records written, as
    /// (type, id, content).
    fn converse(input: &[u8]) -> Vec<(u8, u16, Vec<u8>)> {
        let host: Arc<dyn Service> = Arc::new(Echo);
        let mut c = Connection::new(io::Cursor::new(input.to_vec()), Vec::new(), (), 2);
        let _ = c.serve(&host);
        let out = c.into_writer();
        let mut r = &out[..];
        let mut records = Vec::new();
        while let Some(h) = read_header(&mut r).unwrap() {
            records.push((h.kind, h.id, read_content(&mut r, &h).unwrap()));
        }
        records
    }

    fn record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_record(&mut out, kind, id, content).unwrap();
        out
    }

    #[test]
    fn a_connection_runs_from_bytes_in_memory() {
        let mut input = record(BEGIN_REQUEST, 1, &[0, 1, KEEP_CONN, 0, 0, 0, 0, 0]);
        let params = encode_pairs(&[(b"REQUEST_METHOD", b"POST"), (b"CONTENT_LENGTH", b"5")]);
        input.extend(record(PARAMS, 1, &params));
        input.extend(record(PARAMS, 1, &[]));
        input.extend(record(STDIN, 1, b"hello"));
        input.extend(record(STDIN, 1, &[]));
        input.extend(record(
            GET_VALUES,
            0,
            &encode_pairs(&[(b"FCGI_MPXS_CONNS", b"")]),
        ));
        let records = converse(&input);
        let kinds: Vec<(u8, u16)> = records.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            kinds,
            [
                (STDOUT, 1),
                (STDOUT, 1),
                (END_REQUEST, 1),
                (GET_VALUES_RESULT, 0)
            ]
        );
        assert!(records[0].2.starts_with(b"Status: 200 OK\r\n"));
        assert!(records[0].2.ends_with(b"\r\n\r\nhello"));
        assert_eq!(
            decode_pairs(&records[3].2).unwrap(),
            [(b"FCGI_MPXS_CONNS".to_vec(), b"0".to_vec())]
        );
    }

    /// Regression (fuzz/regressions/fastcgi_connection): a BEGIN_REQUEST on
    /// the management id 0 while a request was open was refused with an
    /// FCGI_END_REQUEST for request 0, which does not exist.
    #[test]
    fn no_request_record_goes_to_id_0() {
        let mut input = record(BEGIN_REQUEST, 1, &[0, 1, 0, 0, 0, 0, 0, 0]);
        input.extend(record(BEGIN_REQUEST, 0, &[0, 1, 0, 0, 0, 0, 0, 0]));
        input.extend(record(BEGIN_REQUEST, 2, &[0, 1, 0, 0, 0, 0, 0, 0]));
        input.extend(record(PARAMS, 1, &[]));
        input.extend(record(STDIN, 1, &[]));
        let records = converse(&input);
        let kinds: Vec<(u8, u16)> = records.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            kinds,
            [(END_REQUEST, 2), (STDOUT, 1), (STDOUT, 1), (END_REQUEST, 1)]
        );
        assert_eq!(records[0].2[4], CANT_MPX_CONN);
        let found =
            include_bytes!("../../fuzz/regressions/fastcgi_connection/crash-begin-request-id-0");
        for (kind, id, _) in converse(found) {
            assert!(id != 0 || kind == GET_VALUES_RESULT || kind == UNKNOWN_TYPE);
        }
    }

    #[test]
    fn records_are_split_and_padded() {
        let mut out = Vec::new();
        write_record(&mut out, STDOUT, 1, &vec![7u8; 70_000]).unwrap();
        let mut r = &out[..];
        let h1 = read_header(&mut r).unwrap().unwrap();
        assert_eq!((h1.kind, h1.length), (STDOUT, 65535));
        assert_eq!(read_content(&mut r, &h1).unwrap().len(), 65535);
        let h2 = read_header(&mut r).unwrap().unwrap();
        assert_eq!(h2.length as usize, 70_000 - 65535);
        assert_eq!((h2.length as usize + h2.padding as usize) % 8, 0);
    }
}
