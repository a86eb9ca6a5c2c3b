//! FilePond `?fetch=`: the server-side download (filepond.md §8). Off unless
//! an allow-list is configured.

use super::Handler;
use crate::gateway::Response;

/// Answers a fetch; errors are (status, message).
pub(super) fn fetch(h: &Handler, _url: &str, _head: bool) -> Result<Response, (u16, String)> {
    if h.config.fetch_allow.is_empty() {
        return Err((
            403,
            "Fetching remote files is not enabled on this server.".into(),
        ));
    }
    Err((
        501,
        "Fetching remote files is not available in this version.".into(),
    ))
}
