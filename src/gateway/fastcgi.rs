//! FastCGI responder: the same handler as CGI, behind a long-running socket.
//!
//! Written here rather than taken from the `fastcgi` crate, which spawns a
//! thread per connection without bound, panics on accept errors and unwraps
//! malformed records (docs/decisions.md). This module:
//!
//! - serves connections with a fixed pool of workers that accept in turn, so
//!   load waits in the listen backlog (back-pressure) instead of growing threads;
//! - reads `FCGI_STDIN` record by record as the request body streams, never
//!   buffering it whole; `FCGI_ABORT_REQUEST` ends the body with an error, so the
//!   part being received is not recorded and the upload stays resumable;
//! - honours `FCGI_KEEP_CONN`, answers `FCGI_GET_VALUES` truthfully (one request
//!   per connection, `workers` connections), refuses peers outside
//!   `FCGI_WEB_SERVER_ADDRS`;
//! - ends a connection with a log line on malformed records, oversized params or
//!   a vanished peer, never the process.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::cgi;
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
/// Longest wait for the next request on a kept-alive connection.
const IDLE: Duration = Duration::from_secs(10);
/// Longest silence of the web server while a request is being received.
const SILENCE: Duration = Duration::from_secs(300);
/// Unread request body discarded to keep a connection usable.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// A listening socket: TCP or Unix.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// An accepted connection.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }
}

impl Listener {
    /// `HOST:PORT` or `unix:/path.sock`.
    pub fn bind(spec: &str) -> io::Result<Listener> {
        let socket = match spec.strip_prefix("unix:") {
            Some(path) => {
                // A socket left by an earlier run would make bind fail.
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    std::fs::remove_file(path)?;
                }
                let socket =
                    socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
                socket.bind(&socket2::SockAddr::unix(path)?)?;
                socket
            }
            None => {
                let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(spec)?
                    .next()
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on")
                    })?;
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(addr),
                    socket2::Type::STREAM,
                    None,
                )?;
                socket.set_reuse_address(true)?;
                socket.bind(&addr.into())?;
                socket
            }
        };
        // A deep backlog: connections beyond the worker pool wait here.
        socket.listen(1024)?;
        let fd: std::os::fd::OwnedFd = socket.into();
        Ok(if spec.starts_with("unix:") {
            Listener::Unix(fd.into())
        } else {
            Listener::Tcp(fd.into())
        })
    }

    /// The listening socket handed in on fd 0 (spawn-fcgi, mod_fcgid,
    /// systemd with `StandardInput=socket`), if there is one.
    pub fn from_stdin() -> Option<Listener> {
        use std::os::fd::AsFd;
        let stdin = io::stdin();
        let sock = socket2::SockRef::from(&stdin);
        if !sock.is_listener().unwrap_or(false) {
            return None;
        }
        let domain = sock.domain().ok()?;
        let fd = stdin.as_fd().try_clone_to_owned().ok()?;
        Some(if domain == socket2::Domain::UNIX {
            Listener::Unix(fd.into())
        } else {
            Listener::Tcp(fd.into())
        })
    }

    /// The first socket passed by systemd (`LISTEN_FDS`, `LISTEN_PID`), if any.
    pub fn from_systemd() -> Option<Listener> {
        let pid_ok = std::env::var("LISTEN_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            == Some(std::process::id());
        let count = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        if !pid_ok || count == 0 {
            return None;
        }
        let fd = crate::sys::systemd_listen_fd()?;
        let sock = socket2::SockRef::from(&fd);
        if !sock.is_listener().unwrap_or(false) {
            return None;
        }
        let unix = sock.domain().ok()? == socket2::Domain::UNIX;
        Some(if unix {
            Listener::Unix(fd.into())
        } else {
            Listener::Tcp(fd.into())
        })
    }

    /// A printable address.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix socket".into()),
        }
    }

    fn accept(&self) -> io::Result<(Stream, Option<IpAddr>)> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, a)| (Stream::Tcp(s), Some(a.ip()))),
            Listener::Unix(l) => l.accept().map(|(s, _)| (Stream::Unix(s), None)),
        }
    }

    /// Wakes every worker blocked in `accept` (used at shutdown).
    fn shut(&self) {
        let sock = match self {
            Listener::Tcp(l) => socket2::SockRef::from(l),
            Listener::Unix(l) => socket2::SockRef::from(l),
        };
        let _ = sock.shutdown(std::net::Shutdown::Read);
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

/// The handler in use; SIGHUP swaps in one built from a fresh configuration.
pub type SharedHandler = Arc<RwLock<Arc<dyn Service>>>;

/// Serves until SIGTERM or SIGINT, then lets in-flight requests finish
/// within the grace period. `reload` builds a new handler on SIGHUP.
pub fn serve(
    handler: SharedHandler,
    listener: Listener,
    options: Options,
    reload: impl Fn() -> Result<Arc<dyn Service>, String> + Send + 'static,
) -> io::Result<()> {
    let listener = Arc::new(listener);
    let stopping = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(AtomicUsize::new(0));
    let options = Arc::new(options);
    let mut workers = Vec::new();
    for _ in 0..options.workers.max(1) {
        let (listener, handler, stopping, busy, options) = (
            listener.clone(),
            handler.clone(),
            stopping.clone(),
            busy.clone(),
            options.clone(),
        );
        workers.push(std::thread::spawn(move || {
            worker(&listener, &handler, &stopping, &busy, &options)
        }));
    }
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])?;
    for signal in signals.forever() {
        if signal == signal_hook::consts::SIGHUP {
            match reload() {
                Ok(fresh) => {
                    if let Ok(mut h) = handler.write() {
                        *h = fresh;
                    }
                    log::info(format_args!("fastcgi: configuration re-read"));
                }
                Err(e) => log::error(format_args!(
                    "fastcgi: configuration not re-read, keeping the old one: {e}"
                )),
            }
            continue;
        }
        log::info(format_args!(
            "fastcgi: stopping; {} request(s) in flight",
            busy.load(Ordering::SeqCst)
        ));
        stopping.store(true, Ordering::SeqCst);
        listener.shut();
        break;
    }
    let deadline = std::time::Instant::now() + options.grace;
    while busy.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = busy.load(Ordering::SeqCst);
    if left > 0 {
        log::warn(format_args!(
            "fastcgi: {left} request(s) still running after the grace period; their uploads stay resumable"
        ));
    }
    Ok(())
}

fn worker(
    listener: &Listener,
    handler: &SharedHandler,
    stopping: &AtomicBool,
    busy: &AtomicUsize,
    options: &Options,
) {
    while !stopping.load(Ordering::SeqCst) {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(e) => {
                log::warn(format_args!("fastcgi: accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if let (Some(allowed), Some(ip)) = (&options.web_server_addrs, peer)
            && !allowed.contains(&ip)
        {
            log::warn(format_args!(
                "fastcgi: refused a connection from {ip}, not in FCGI_WEB_SERVER_ADDRS"
            ));
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Connection::new(stream, options.workers)
                .map_err(ConnError::from)
                .and_then(|mut c| c.serve(handler, stopping, busy))
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn(format_args!("fastcgi: connection ended: {e}")),
            Err(_) => log::error(format_args!(
                "fastcgi: a request panicked; its connection was closed"
            )),
        }
    }
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

/// Reads one record header; `None` on a clean end of the connection.
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

/// Decodes FastCGI name-value pairs (lengths of 1 or 4 bytes).
/// One name-value pair, as bytes.
pub type Pair = (Vec<u8>, Vec<u8>);

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

fn encode_pairs(pairs: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in pairs {
        out.push(n.len() as u8);
        out.push(v.len() as u8);
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

struct Connection {
    reader: BufReader<Stream>,
    writer: BufWriter<Stream>,
    workers: usize,
}

impl Connection {
    fn new(stream: Stream, workers: usize) -> io::Result<Connection> {
        let writer = BufWriter::with_capacity(64 * 1024, stream.try_clone()?);
        Ok(Connection {
            reader: BufReader::with_capacity(64 * 1024, stream),
            writer,
            workers,
        })
    }

    fn stream(&self) -> &Stream {
        self.reader.get_ref()
    }

    /// Serves requests until the web server closes, a request without
    /// `FCGI_KEEP_CONN` ends, or the server is stopping.
    fn serve(
        &mut self,
        handler: &SharedHandler,
        stopping: &AtomicBool,
        busy: &AtomicUsize,
    ) -> Result<(), ConnError> {
        loop {
            self.stream().set_read_timeout(IDLE)?;
            let Some((id, keep)) = self.next_request()? else {
                return Ok(());
            };
            self.stream().set_read_timeout(SILENCE)?;
            busy.fetch_add(1, Ordering::SeqCst);
            let served = self.request(handler, id);
            busy.fetch_sub(1, Ordering::SeqCst);
            let clean = served?;
            if !keep || !clean || stopping.load(Ordering::SeqCst) {
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
        let sock = match self.stream() {
            Stream::Tcp(s) => socket2::SockRef::from(s),
            Stream::Unix(s) => socket2::SockRef::from(s),
        };
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = self.stream().set_read_timeout(Duration::from_secs(2));
        let _ = io::copy(&mut (&mut self.reader).take(1024 * 1024), &mut io::sink());
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
                    let mut known = Vec::new();
                    for (name, _) in asked {
                        match name.as_slice() {
                            b"FCGI_MAX_CONNS" => {
                                known.push(("FCGI_MAX_CONNS", self.workers.to_string()))
                            }
                            b"FCGI_MAX_REQS" => {
                                known.push(("FCGI_MAX_REQS", self.workers.to_string()))
                            }
                            b"FCGI_MPXS_CONNS" => known.push(("FCGI_MPXS_CONNS", "0".into())),
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

    /// Reads the params, runs the handler with the streamed body, writes the
    /// answer. Returns whether the connection can carry another request.
    fn request(&mut self, handler: &SharedHandler, id: u16) -> Result<bool, ConnError> {
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
                (BEGIN_REQUEST, other) if other != id => {
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
        let handler = handler
            .read()
            .map(|h| h.clone())
            .map_err(|_| ConnError("the handler lock is poisoned".into()))?;
        let mut body = StdinReader {
            reader: &mut self.reader,
            id,
            left: 0,
            padding: 0,
            done: false,
            aborted: false,
        };
        let response = match cgi::request(&env, &mut body) {
            Ok(request) => handler.handle(request),
            Err(cgi::BadRequest(message)) => {
                log::warn(format_args!("fastcgi: {message}"));
                cgi::bad_request(&message)
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
        handler.after_response();
        Ok(drained)
    }
}

/// The request body: the contents of the request's `FCGI_STDIN` records,
/// read as they arrive.
struct StdinReader<'c> {
    reader: &'c mut BufReader<Stream>,
    id: u16,
    left: usize,
    padding: usize,
    done: bool,
    aborted: bool,
}

impl StdinReader<'_> {
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

impl Read for StdinReader<'_> {
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
struct RecordWriter<'w> {
    inner: &'w mut BufWriter<Stream>,
    id: u16,
}

impl Write for RecordWriter<'_> {
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

/// Applies `--socket-mode` (octal) and `--socket-owner` (`user[:group]`,
/// names or numbers) to a Unix socket file.
pub fn set_socket_access(
    path: &std::path::Path,
    mode: Option<&str>,
    owner: Option<&str>,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(mode) = mode {
        let bits = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
            .map_err(|_| format!("--socket-mode {mode} is not an octal mode"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits))
            .map_err(|e| format!("cannot set the socket's mode: {e}"))?;
    }
    if let Some(owner) = owner {
        let (user, group) = match owner.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (owner, None),
        };
        let uid = lookup_id("/etc/passwd", user).ok_or_else(|| format!("unknown user {user}"))?;
        let gid = match group {
            Some(g) => {
                Some(lookup_id("/etc/group", g).ok_or_else(|| format!("unknown group {g}"))?)
            }
            None => None,
        };
        std::os::unix::fs::chown(path, Some(uid), gid)
            .map_err(|e| format!("cannot set the socket's owner: {e}"))?;
    }
    Ok(())
}

/// A number, or the id of a name in a passwd/group-style file.
fn lookup_id(file: &str, name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then(|| fields.nth(1)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_malformed_pairs_fail() {
        let encoded = encode_pairs(&[("REQUEST_METHOD", "POST".into()), ("X", String::new())]);
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
