//! The whole FastCGI connection state machine fed any bytes as if a web
//! server sent them (a `Cursor` as the reader, a `Vec` as the writer), with
//! a service that reads the request body and answers with it. Nothing may
//! panic, and what goes out must be well-formed records: version 1, padded
//! to 8 bytes, only the types a responder sends, every answer on stdout
//! closed by an empty record before its `FCGI_END_REQUEST`.
#![no_main]

use std::io::{Cursor, Read};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use upspool::gateway::fastcgi::{Connection, Host, decode_pairs};
use upspool::message::{Body, HeaderValue, Request, Response, Service, StatusCode, header};

struct Echo;

impl Service for Echo {
    fn handle(&self, mut request: Request<'_>) -> Response {
        let mut body = Vec::new();
        match request.body.read_to_end(&mut body) {
            Ok(_) => Response::new(StatusCode::OK)
                .header(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
                .body(Body::Bytes(body)),
            Err(e) => Response::text(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
}

struct Fixed(Arc<dyn Service>);

impl Host for Fixed {
    fn service(&self) -> Arc<dyn Service> {
        self.0.clone()
    }
}

const STDOUT: u8 = 6;
const END_REQUEST: u8 = 3;
const GET_VALUES_RESULT: u8 = 10;
const UNKNOWN_TYPE: u8 = 11;

fuzz_target!(|data: &[u8]| {
    let host = Fixed(Arc::new(Echo));
    let mut connection = Connection::new(Cursor::new(data.to_vec()), Vec::new(), (), 4);
    let _ = connection.serve(&host);
    let out = connection.into_writer();

    let mut rest = &out[..];
    // Per request id: stdout bytes seen, and whether the empty record ended them.
    let mut open: Option<(u16, bool)> = None;
    while !rest.is_empty() {
        assert!(rest.len() >= 8, "a truncated record header");
        let h = &rest[..8];
        assert_eq!(h[0], 1, "version");
        let (kind, id) = (h[1], u16::from_be_bytes([h[2], h[3]]));
        let length = u16::from_be_bytes([h[4], h[5]]) as usize;
        let padding = h[6] as usize;
        assert_eq!((length + padding) % 8, 0, "records are padded to 8 bytes");
        assert!(rest.len() >= 8 + length + padding, "a truncated record");
        let content = &rest[8..8 + length];
        rest = &rest[8 + length + padding..];
        match kind {
            STDOUT => {
                assert_ne!(id, 0);
                match &mut open {
                    None => open = Some((id, length == 0)),
                    Some((open_id, ended)) => {
                        assert_eq!(*open_id, id, "one request at a time");
                        assert!(!*ended, "stdout after its end");
                        *ended = length == 0;
                    }
                }
            }
            END_REQUEST => {
                assert_ne!(id, 0);
                assert_eq!(length, 8);
                // An answer to another id (CANT_MPX_CONN) may come while one runs.
                if let Some((open_id, ended)) = open
                    && open_id == id
                {
                    assert!(ended, "FCGI_END_REQUEST before the end of stdout");
                    open = None;
                }
            }
            GET_VALUES_RESULT => {
                assert_eq!(id, 0);
                decode_pairs(content).expect("well-formed pairs");
            }
            UNKNOWN_TYPE => {
                assert_eq!(id, 0);
                assert_eq!(length, 8);
            }
            other => panic!("a record of type {other} from a responder"),
        }
    }
});
