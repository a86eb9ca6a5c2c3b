//! The whole handler on a scratch spool: a request whose method, query,
//! headers (Content-Type, Upload-Offset, Upload-Length, Upload-Name, Origin,
//! Tus-Resumable, Upload-Metadata…)
//! and body come from the input. Nothing may panic, and nothing may appear
//! outside the spool. The method byte's two high bits pick one of three
//! servers: open; with `allowed_types` and `min_size` (the spool's gate);
//! with `auth_secret` too (token verification on `Authorization`,
//! `X-Upload-Token` and `?token=`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use upspool::config::Config;
use upspool::message::{HeaderMap, Method, Request, Service, append_header};
use upspool::protocol::Handler;

struct Lab {
    _dir: tempfile::TempDir,
    outside: std::path::PathBuf,
    handler: Handler,
}

fn new_lab(extra: &[(&str, &str)]) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let mut env: std::collections::BTreeMap<String, String> = [
        ("UPSPOOL_DIR".to_string(), spool.display().to_string()),
        ("UPSPOOL_MAX_SIZE".to_string(), "100000".to_string()),
        ("UPSPOOL_CORS_ORIGINS".to_string(), "https://app.example".to_string()),
        ("UPSPOOL_GC_PROBABILITY".to_string(), "0".to_string()),
    ]
    .into_iter()
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_sources(None, None, &env, spool.clone()).unwrap();
    let outside = dir.path().to_owned();
    Lab { handler: Handler::new(config).unwrap(), outside, _dir: dir }
}

fn lab(which: u8) -> &'static Lab {
    static LABS: [OnceLock<Lab>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let types = [("UPSPOOL_ALLOWED_TYPES", "image/*,text/plain"), ("UPSPOOL_MIN_SIZE", "2")];
    match which {
        0 => LABS[0].get_or_init(|| new_lab(&[])),
        1 => LABS[1].get_or_init(|| new_lab(&types)),
        _ => LABS[2].get_or_init(|| {
            new_lab(&[types[0], types[1], ("UPSPOOL_AUTH_SECRET", "fuzz-secret-fuzz-secret-fuzz-secret!")])
        }),
    }
}

const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT", "BREW"];
const HEADERS: [&str; 19] = ["content-type", "upload-offset", "upload-length", "upload-name", "origin", "x-requested-with", "access-control-request-method", "x-mime-type", "tus-resumable", "upload-metadata", "upload-defer-length", "upload-checksum", "upload-concat", "upload-draft-interop-version", "upload-complete", "upload-incomplete", "content-disposition", "authorization", "x-upload-token"];

fuzz_target!(|data: &[u8]| {
    // Layout: method byte (its two high bits pick the server), then lines
    // separated by '\n': path_info, query, up to nineteen header values
    // (tus's, the IETF draft's and the token carriers among them); the rest
    // is the body.
    let Some((&m, rest)) = data.split_first() else { return };
    let mut fields = rest.splitn(HEADERS.len() + 3, |&b| b == b'\n');
    let path_info = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let query = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let mut headers = HeaderMap::new();
    for name in HEADERS {
        if let Some(value) = fields.next()
            && !value.is_empty()
        {
            // A value no transport would pass (CR, LF, NUL) is refused at
            // the gateway, so it never reaches the handler.
            let _ = append_header(&mut headers, name, value);
        }
    }
    let body = fields.next().unwrap_or_default().to_vec();
    let request = Request {
        method: Method::from_bytes(METHODS[m as usize % METHODS.len()].as_bytes()).unwrap(),
        path_info,
        script_name: "/upload".to_owned(),
        query,
        headers,
        content_length: Some(body.len() as u64),
        body: Box::new(std::io::Cursor::new(body)),
    };
    let lab = lab(m >> 6);
    let response = lab.handler.handle(request);
    assert!((200..600).contains(&response.status.as_u16()));
    let names: Vec<_> = std::fs::read_dir(&lab.outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("spool")], "something escaped the spool");
});
