//! A small blocking HTTP/1.1 server for `upspool serve`: the endpoint at
//! `/upload` (and below it, for Fine Uploader's `DELETE /upload/<uuid>`), and
//! whatever other pages the caller's `Site` answers (the demo).
//!
//! The HTTP/1.1 framing (head, bodies, answers, keep-alive) is in
//! [`super::http_codec`], written against `BufRead`/`Write`; this file is the
//! socket glue (timeouts, `TCP_NODELAY`, shutdown) and the routing. It is
//! ours because the usual small servers refuse what FilePond sends (raw
//! UTF-8 bytes in `Upload-Name`).
//! A fixed pool of workers accepts and serves connections, so load waits in
//! the listen backlog instead of spawning threads without bound.

use std::io::{self, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::http_codec::{self, Ended, Exchange, Head, Wait};
use crate::log;
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

/// Serves connections from `listener` with `workers` threads, forever.
pub fn serve(
    handler: Arc<dyn Service>,
    listener: TcpListener,
    workers: usize,
    site: Site,
) -> io::Result<()> {
    let mut threads = Vec::new();
    for _ in 0..workers.max(1) {
        let listener = listener.try_clone()?;
        let handler = handler.clone();
        let site = site.clone();
        threads.push(std::thread::spawn(move || {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(e) = connection(handler.as_ref(), stream, &site)
                            && !matches!(
                                e.kind(),
                                io::ErrorKind::UnexpectedEof
                                    | io::ErrorKind::ConnectionReset
                                    | io::ErrorKind::BrokenPipe
                                    | io::ErrorKind::WouldBlock
                                    | io::ErrorKind::TimedOut
                            )
                        {
                            log::warn(format_args!("http: connection ended: {e}"));
                        }
                    }
                    Err(e) => {
                        log::warn(format_args!("http: accept failed: {e}"));
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Routes each request of a connection: the upload endpoint to the
/// service, other GET/HEAD paths to the site, the rest 404. Sets the
/// socket's read timeouts for the codec's waits.
struct Routes<'a> {
    handler: &'a dyn Service,
    site: &'a Site,
}

impl Exchange<BufReader<TcpStream>> for Routes<'_> {
    fn waiting(&mut self, reader: &mut BufReader<TcpStream>, wait: Wait) -> io::Result<()> {
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
            self.handler
                .handle(head.into_request(path_info, query, body))
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
        self.handler.after_response();
    }
}

/// Serves the requests of one connection.
fn connection(handler: &dyn Service, stream: TcpStream, site: &Site) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let ended =
        http_codec::serve_connection(&mut reader, &mut writer, &mut Routes { handler, site })?;
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
