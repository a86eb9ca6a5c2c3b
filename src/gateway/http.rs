//! A small blocking HTTP/1.1 server for `upspool serve`: the endpoint at
//! `/upload` (and below it: a delete names its id in the path), and
//! whatever other pages the caller's `Site` answers (the demo).
//!
//! The HTTP/1.1 framing (head, bodies, answers, keep-alive) is in
//! [`super::http_codec`], written against `BufRead`/`Write`; this file is the
//! socket glue (timeouts, `TCP_NODELAY`, shutdown) and the routing. It is
//! ours because the usual small servers refuse header values holding raw
//! UTF-8 bytes, which browsers send (a file name in a header).
//! The workers are `gateway::pool`'s, shared with FastCGI: a fixed number
//! accepts in turn, so load waits in the listen backlog; a panic closes only
//! its connection; SIGTERM stops gracefully and SIGHUP reloads.

use std::io::{self, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::http_codec::{self, Ended, Exchange, Head, Wait};
use super::pool::{Busy, PoolState};
use crate::message::{Method, Response, Service, StatusCode, percent_decode_path};

/// Where the upload endpoint is mounted.
pub const ENDPOINT: &str = "/upload";
/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(15);
/// Longest silence while a request is being received.
const BODY_SILENCE: Duration = Duration::from_secs(120);
/// How long, and how many bytes, a refused client's input is discarded
/// before the socket closes ([`linger`]).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

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

/// The pool of workers serving HTTP connections from `listener`. A request
/// counts as in flight from its head to the end of its answer (and the
/// sweep after it); each request takes the service in use when it starts,
/// so a reload applies from the next request on a kept-alive connection.
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
            match connection(state, stream, &site) {
                Err(e)
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::BrokenPipe
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    Err(e.to_string())
                }
                _ => Ok(()),
            }
        },
    )
}

/// Routes each request of a connection: the upload endpoint to the
/// service, other GET/HEAD paths to the site, the rest 404. Sets the
/// socket's read timeouts for the codec's waits.
struct Routes<'a> {
    state: &'a PoolState,
    site: &'a Site,
    /// The request in flight, from its head to the sweep after its answer.
    busy: Option<Busy<'a>>,
    service: Option<Arc<dyn Service>>,
}

impl Exchange<BufReader<TcpStream>> for Routes<'_> {
    fn waiting(&mut self, reader: &mut BufReader<TcpStream>, wait: Wait) -> io::Result<()> {
        match wait {
            Wait::Head => {
                self.busy = None;
                // A stopping server takes no further request on a kept-alive
                // connection; an idle one closes at once instead of holding
                // up the stop until its idle limit.
                if self.state.stopping() {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the server is stopping",
                    ));
                }
            }
            Wait::Body => self.busy = Some(self.state.busy()),
        }
        reader.get_ref().set_read_timeout(Some(match wait {
            Wait::Head => IDLE,
            Wait::Body => BODY_SILENCE,
        }))
    }

    fn respond(&mut self, head: Head, body: &mut (dyn Read + Send)) -> Response {
        let (path, query) = head.path_and_query();
        let (path, query) = (path.to_owned(), query.to_owned());
        if path == ENDPOINT || path.starts_with(&format!("{ENDPOINT}/")) {
            let path_info = percent_decode_path(&path[ENDPOINT.len()..]);
            let service = self.service.insert(self.state.service());
            super::respond(
                service.as_ref(),
                head.into_request(ENDPOINT, path_info, query, body),
            )
        } else if let Some(page) = (head.method == Method::GET || head.method == Method::HEAD)
            .then(|| (self.site)(&path))
            .flatten()
        {
            page
        } else {
            Response::text(
                StatusCode::NOT_FOUND,
                &format!("Not found. The upload endpoint is {ENDPOINT}.\n"),
            )
        }
    }

    fn after_response(&mut self) {
        if let Some(service) = self.service.take() {
            service.after_response();
        }
        self.busy = None;
    }
}

/// Serves the requests of one connection.
fn connection(state: &PoolState, stream: TcpStream, site: &Site) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut routes = Routes {
        state,
        site,
        busy: None,
        service: None,
    };
    let ended = http_codec::serve_connection(&mut reader, &mut writer, &mut routes)?;
    drop(routes);
    let _ = writer.shutdown(std::net::Shutdown::Write);
    if ended == Ended::Abandoned {
        linger(reader.get_mut());
    }
    Ok(())
}

/// After a refusal the client may still be sending; closing a socket with
/// unread input makes the kernel reset the connection, which can destroy
/// the answer before the client reads it. So read and discard for a short
/// while (bounded in time and bytes), until the client closes its side.
fn linger(stream: &mut TcpStream) {
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    while left > 0 {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
