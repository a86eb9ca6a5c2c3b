//! The worker pool of the long-running modes (FastCGI and `serve`): a fixed
//! number of threads accepting from one listener in turn, so load waits in
//! the listen backlog (back-pressure) instead of growing threads. What a
//! connection does is the caller's closure; the pool gives it:
//!
//! - **panic isolation**: a panic closes that connection with a log line,
//!   and the worker goes on accepting;
//! - **graceful stop** on SIGTERM or SIGINT: no more accepting, requests in
//!   flight may finish within a grace period, what is left is logged;
//! - **reload** on SIGHUP: a closure builds a fresh service from re-read
//!   configuration; on error the old one stays, with a log line.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::listen::{Listener, Stream};
use crate::log;
use crate::message::Service;

/// What the pool shares with its connections: the service in use, whether
/// it is stopping, and how many requests are in flight.
pub(crate) struct PoolState {
    service: RwLock<Arc<dyn Service>>,
    stopping: AtomicBool,
    busy: AtomicUsize,
}

impl PoolState {
    /// The service in use (a reload swaps it; requests already running keep
    /// the one they started with).
    pub(crate) fn service(&self) -> Arc<dyn Service> {
        self.service
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// True once the pool stops: connections should not take another request.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Counts a request in flight until the guard drops (panics included).
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.request_started();
        Busy(self)
    }

    /// Counts a request in flight; [`PoolState::request_ended`] must follow.
    pub(crate) fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn request_ended(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    fn in_flight(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }
}

/// One request in flight; see [`PoolState::busy`].
pub(crate) struct Busy<'p>(&'p PoolState);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// What one connection does, from accept to close. An error is logged.
pub(crate) type Connect =
    dyn Fn(Stream, Option<IpAddr>, &PoolState) -> Result<(), String> + Send + Sync;

/// A running pool.
pub(crate) struct Pool {
    /// Log prefix: `fastcgi`, `http`.
    name: &'static str,
    listener: Arc<Listener>,
    state: Arc<PoolState>,
}

impl Pool {
    /// Starts `workers` threads accepting from `listener`.
    pub(crate) fn start(
        name: &'static str,
        listener: Listener,
        workers: usize,
        service: Arc<dyn Service>,
        connect: impl Fn(Stream, Option<IpAddr>, &PoolState) -> Result<(), String>
        + Send
        + Sync
        + 'static,
    ) -> Pool {
        let listener = Arc::new(listener);
        let state = Arc::new(PoolState {
            service: RwLock::new(service),
            stopping: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
        });
        let connect: Arc<Connect> = Arc::new(connect);
        // Detached: a worker stuck in a request past the grace period must
        // not keep the process from ending.
        for _ in 0..workers.max(1) {
            let (listener, state, connect) = (listener.clone(), state.clone(), connect.clone());
            std::thread::spawn(move || worker(name, &listener, &state, connect.as_ref()));
        }
        Pool {
            name,
            listener,
            state,
        }
    }

    /// Replaces the service with `fresh`, or keeps it if `fresh` failed.
    pub(crate) fn reload(&self, fresh: Result<Arc<dyn Service>, String>) {
        match fresh {
            Ok(service) => {
                *self
                    .state
                    .service
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = service;
                log::info(format_args!("{}: configuration re-read", self.name));
            }
            Err(e) => log::error(format_args!(
                "{}: configuration not re-read, keeping the old one: {e}",
                self.name
            )),
        }
    }

    /// Stops accepting, waits up to `grace` for the requests in flight, and
    /// returns how many are still running.
    pub(crate) fn stop(self, grace: Duration) -> usize {
        log::info(format_args!(
            "{}: stopping; {} request(s) in flight",
            self.name,
            self.state.in_flight()
        ));
        self.state.stopping.store(true, Ordering::SeqCst);
        self.listener.shut();
        let deadline = Instant::now() + grace;
        while self.state.in_flight() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.state.in_flight();
        if left > 0 {
            log::warn(format_args!(
                "{}: {left} request(s) still running after the grace period; their uploads stay resumable",
                self.name
            ));
        }
        left
    }

    /// Serves until SIGTERM or SIGINT arrive on `signals`, then stops within
    /// `grace`; on SIGHUP swaps in what `reload` builds.
    pub(crate) fn run(
        self,
        mut signals: Signals,
        grace: Duration,
        reload: impl Fn() -> Result<Arc<dyn Service>, String>,
    ) {
        for signal in signals.0.forever() {
            if signal == signal_hook::consts::SIGHUP {
                self.reload(reload());
            } else {
                break;
            }
        }
        self.stop(grace);
    }
}

/// SIGTERM, SIGINT and SIGHUP, caught from now on (their default is to end
/// the process). Taken before the pool starts, so that no request is ever
/// served while a signal would still kill the process.
pub(crate) struct Signals(signal_hook::iterator::Signals);

impl Signals {
    pub(crate) fn catch() -> io::Result<Signals> {
        signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGHUP,
        ])
        .map(Signals)
    }
}

fn worker(name: &str, listener: &Listener, state: &PoolState, connect: &Connect) {
    while !state.stopping() {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(_) if state.stopping() => return,
            Err(e) => {
                log::warn(format_args!("{name}: accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            connect(stream, peer, state)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn(format_args!("{name}: connection ended: {e}")),
            Err(payload) => log::error(format_args!(
                "{name}: a connection panicked ({}); it was closed",
                super::panic_message(payload.as_ref())
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::gateway::{fastcgi, http};
    use crate::message::{Request, Response, StatusCode};

    /// Answers `ok` (or its name), panics when the query says `boom`, and
    /// reads the body first.
    struct Panicky(&'static str);

    impl Service for Panicky {
        fn handle(&self, mut request: Request<'_>) -> Response {
            let _ = request.body.read_to_end(&mut Vec::new());
            if request.query.contains("boom") {
                panic!("boom on purpose");
            }
            Response::text(StatusCode::OK, self.0)
        }
    }

    fn listener() -> (TcpListener, String) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        (l, addr)
    }

    /// Sends `bytes` on a new connection and reads until the server closes.
    fn exchange(addr: &str, bytes: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    fn http_get(addr: &str, query: &str) -> String {
        let request =
            format!("GET /upload?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        String::from_utf8_lossy(&exchange(addr, request.as_bytes())).into_owned()
    }

    fn record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
        let len = content.len() as u16;
        let mut out = vec![1, kind, 0, id as u8, (len >> 8) as u8, len as u8, 0, 0];
        out.extend_from_slice(content);
        out
    }

    /// The stdout of one FastCGI GET, as text.
    fn fastcgi_get(addr: &str, query: &str) -> String {
        let mut bytes = record(1, 1, &[0, 1, 0, 0, 0, 0, 0, 0]);
        let pairs = fastcgi::encode_pairs(&[
            (b"REQUEST_METHOD", b"GET"),
            (b"QUERY_STRING", query.as_bytes()),
        ]);
        bytes.extend(record(4, 1, &pairs));
        bytes.extend(record(4, 1, &[]));
        bytes.extend(record(5, 1, &[]));
        let out = exchange(addr, &bytes);
        let mut rest = &out[..];
        let mut stdout = Vec::new();
        while rest.len() >= 8 {
            let len = u16::from_be_bytes([rest[4], rest[5]]) as usize;
            let end = 8 + len + rest[6] as usize;
            if rest[1] == 6 {
                stdout.extend_from_slice(&rest[8..8 + len]);
            }
            rest = &rest[end.min(rest.len())..];
        }
        String::from_utf8_lossy(&stdout).into_owned()
    }

    /// Waits for the count of requests in flight to reach 0 (a connection
    /// ends just after the client has seen its end); false if it does not.
    fn settles(state: &PoolState) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while state.in_flight() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        state.in_flight() == 0
    }

    fn http_pool(service: Arc<dyn Service>, workers: usize) -> (Pool, String) {
        let (l, addr) = listener();
        let site: http::Site = Arc::new(|_: &str| None);
        (http::start(service, l, workers, site), addr)
    }

    fn fastcgi_pool(service: Arc<dyn Service>, workers: usize) -> (Pool, String) {
        let (l, addr) = listener();
        let options = fastcgi::Options {
            workers,
            web_server_addrs: None,
            grace: Duration::from_secs(1),
        };
        (fastcgi::start(service, Listener::Tcp(l), options), addr)
    }

    #[test]
    fn a_panic_is_answered_500_and_the_pool_goes_on_under_serve() {
        let (pool, addr) = http_pool(Arc::new(Panicky("ok")), 2);
        for _ in 0..5 {
            let answer = http_get(&addr, "boom");
            assert!(
                answer.starts_with("HTTP/1.1 500 Internal Server Error"),
                "{answer}"
            );
        }
        let answer = http_get(&addr, "fine");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
        assert!(settles(&pool.state), "panicked connections are not counted");
        assert_eq!(pool.stop(Duration::from_secs(1)), 0);
    }

    #[test]
    fn a_panic_is_answered_500_and_the_pool_goes_on_under_fastcgi() {
        let (pool, addr) = fastcgi_pool(Arc::new(Panicky("ok")), 2);
        for _ in 0..5 {
            let answer = fastcgi_get(&addr, "boom");
            assert!(
                answer.starts_with("Status: 500 Internal Server Error"),
                "{answer}"
            );
        }
        let answer = fastcgi_get(&addr, "fine");
        assert!(answer.starts_with("Status: 200 OK"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
        assert!(settles(&pool.state), "panicked requests are not counted");
        assert_eq!(pool.stop(Duration::from_secs(1)), 0);
    }

    #[test]
    fn a_reload_swaps_the_service_and_a_failed_one_keeps_it() {
        let (pool, addr) = http_pool(Arc::new(Panicky("old")), 2);
        assert!(http_get(&addr, "").ends_with("old"));
        pool.reload(Ok(Arc::new(Panicky("new"))));
        assert!(http_get(&addr, "").ends_with("new"));
        pool.reload(Err("a broken configuration".into()));
        assert!(http_get(&addr, "").ends_with("new"));
        pool.stop(Duration::ZERO);
    }

    #[test]
    fn stop_waits_for_requests_in_flight_and_reports_the_rest() {
        let (pool, addr) = fastcgi_pool(Arc::new(Panicky("ok")), 2);
        // A request whose body never ends stays in flight.
        let mut s = TcpStream::connect(&addr).unwrap();
        let mut bytes = record(1, 1, &[0, 1, 0, 0, 0, 0, 0, 0]);
        bytes.extend(record(
            4,
            1,
            &fastcgi::encode_pairs(&[(b"REQUEST_METHOD", b"POST"), (b"CONTENT_LENGTH", b"10")]),
        ));
        bytes.extend(record(4, 1, &[]));
        bytes.extend(record(5, 1, b"12345"));
        s.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.state.in_flight() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let state = pool.state.clone();
        assert_eq!(pool.stop(Duration::from_millis(200)), 1);
        assert!(state.stopping());
        // The rest of the body arrives: the request finishes and is counted out.
        s.write_all(&record(5, 1, b"67890")).unwrap();
        s.write_all(&record(5, 1, &[])).unwrap();
        assert!(settles(&state));
    }
}
