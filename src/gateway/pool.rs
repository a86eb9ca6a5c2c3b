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
use std::thread::JoinHandle;
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
    // Kept so the threads are named in one place; they are never joined
    // (a worker stuck in a request past the grace period must not hold
    // the process).
    _workers: Vec<JoinHandle<()>>,
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
        let workers = (0..workers.max(1))
            .map(|_| {
                let (listener, state, connect) = (listener.clone(), state.clone(), connect.clone());
                std::thread::spawn(move || worker(name, &listener, &state, connect.as_ref()))
            })
            .collect();
        Pool {
            name,
            listener,
            state,
            _workers: workers,
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

    /// Serves until SIGTERM or SIGINT, then stops within `grace`; on SIGHUP
    /// swaps in what `reload` builds.
    pub(crate) fn run(
        self,
        grace: Duration,
        reload: impl Fn() -> Result<Arc<dyn Service>, String>,
    ) -> io::Result<()> {
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGHUP,
        ])?;
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                self.reload(reload());
            } else {
                break;
            }
        }
        self.stop(grace);
        Ok(())
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
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("no message");
                log::error(format_args!(
                    "{name}: a request panicked ({what}); its connection was closed"
                ))
            }
        }
    }
}
