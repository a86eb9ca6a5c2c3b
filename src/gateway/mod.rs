//! Transports. Each adapter turns its input (CGI environment and stdin, an
//! HTTP connection, FastCGI records) into the same [`crate::message::Request`]
//! and writes the same [`crate::message::Response`], calling whatever
//! [`crate::message::Service`] it is given; none of them knows a widget
//! protocol.

pub mod cgi;
pub mod fastcgi;
pub mod http;
pub mod http_codec;
pub mod listen;
pub(crate) mod pool;

use crate::log;
use crate::message::{Request, Response, Service, StatusCode};

/// Calls the service. A panic inside it (a bug) is answered with a 500 and a
/// log line instead of no answer at all: the worker pool would keep the
/// worker either way, but the client, the web server and its log learn what
/// happened. Locks held by the request are released as it unwinds.
pub fn respond(service: &dyn Service, request: Request<'_>) -> Response {
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.handle(request)));
    answer.unwrap_or_else(|payload| {
        let what = panic_message(payload.as_ref());
        log::error(format_args!("a request panicked ({what}); answered 500"));
        Response::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The upload service failed on this request; see the server's error log.",
        )
    })
}

/// The text a panic was raised with, for the log.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
