//! Any bytes as one keep-alive HTTP/1.1 connection: the head parser, the
//! body decoders (Content-Length and chunked) and the response writer,
//! with a service that reads each whole body and answers its length.
#![no_main]

use std::io::{Cursor, Read};

use libfuzzer_sys::fuzz_target;
use upspool::gateway::http_codec::{Exchange, Head, serve_connection};
use upspool::message::{Request, Response, Service, StatusCode};

/// Reads the whole body; 200 with its length, 400 if it is broken.
struct Echo;

impl Service for Echo {
    fn handle(&self, mut request: Request<'_>) -> Response {
        let mut n = 0u64;
        let mut buf = [0u8; 4096];
        loop {
            match request.body.read(&mut buf) {
                Ok(0) => return Response::text(StatusCode::OK, &format!("{n}\n")),
                Ok(k) => n += k as u64,
                Err(_) => return Response::text(StatusCode::BAD_REQUEST, "broken body\n"),
            }
        }
    }
}

struct Conn {
    requests: usize,
}

impl<R> Exchange<R> for Conn {
    fn respond(&mut self, head: Head, body: &mut (dyn Read + Send)) -> Response {
        self.requests += 1;
        let (path, query) = head.path_and_query();
        let (path, query) = (path.to_owned(), query.to_owned());
        Echo.handle(head.into_request("", path, query, body))
    }
}

fuzz_target!(|data: &[u8]| {
    let mut reader = Cursor::new(data);
    let mut out = Vec::new();
    let mut conn = Conn { requests: 0 };
    let _ = serve_connection(&mut reader, &mut out, &mut conn);
    // Every answer written starts a status line; at least one per request.
    if !out.is_empty() {
        assert!(out.starts_with(b"HTTP/1.1 "));
    }
    let answers = out.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    assert!(answers >= conn.requests);
});
