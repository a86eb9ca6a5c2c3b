//! Prometheus metrics (issue 16), process-wide: counters kept only when
//! `metrics_listen` is configured (`serve`, FastCGI); every function here is
//! a no-op otherwise, so CGI pays nothing.
//!
//! STUB: the interface the other layers call; filled in by the metrics work.

/// A request answered: its protocol (`fine-uploader`, `filepond`, `tus`,
/// `cors`), action (`upload`, `chunk`, `done`, `delete`, …) and status.
pub fn request(_protocol: &'static str, _action: &'static str, _status: u16) {}

/// Request body bytes stored.
pub fn bytes_received(_n: u64) {}

/// An upload's life: `created`, `completed`, `terminated`, `expired`.
pub fn upload(_event: &'static str) {}

/// A hook call (`pre-create`, …) and whether it succeeded.
pub fn hook_call(_event: &'static str, _ok: bool) {}

/// A request waited for an upload's lock for `seconds`.
pub fn lock_wait(_seconds: f64) {}
