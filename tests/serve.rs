//! `upspool serve` under signals, as FastCGI is in tests/fastcgi.rs: both
//! run on the same worker pool (src/gateway/pool.rs), whose panic isolation
//! is tested in its unit tests.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn serve(sb: &Sandbox, workers: &str) -> Server {
    sb.start_server(
        &["serve", "--listen", "127.0.0.1:0", "--workers", workers],
        "http://",
    )
}

/// The head of a Fine Uploader raw-body upload of `len` bytes.
fn raw_upload_head(addr: &str, id: &str, len: usize) -> Vec<u8> {
    format!(
        "POST /upload?qquuid={id}&qqfile=f.bin HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    )
    .into_bytes()
}

fn upload(addr: &str, id: &str, data: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = raw_upload_head(addr, id, data.len());
    out.extend_from_slice(data);
    s.write_all(&out).unwrap();
    status_line(&mut s)
}

fn status_line(s: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn sigterm_lets_uploads_in_flight_finish_then_exits_0() {
    let sb = Sandbox::new(Mode::Cgi);
    let mut server = serve(&sb, "4");
    let data = bytes(200_000, 5);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut first = raw_upload_head(&server.addr, "in-flight", data.len());
    first.extend_from_slice(&data[..50_000]);
    s.write_all(&first).unwrap();
    sigterm_mid_upload(&server, &sb, "in-flight");
    for piece in data[50_000..].chunks(30_000) {
        s.write_all(piece).unwrap();
    }
    assert_eq!(status_line(&mut s), "HTTP/1.1 200 OK");
    assert_stopped_with(&mut server, &sb, "in-flight", &data);
}

#[test]
fn sighup_rereads_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upspool.toml");
    std::fs::write(&file, "max_size = 10\n").unwrap();
    let sb = Sandbox::with_env(Mode::Cgi, &[("UPSPOOL_CONFIG", file.to_str().unwrap())]);
    let server = serve(&sb, "2");
    let eleven = b"0123456789A";
    let refused = upload(&server.addr, "h1", eleven);
    assert!(refused.starts_with("HTTP/1.1 413"), "{refused}");
    std::fs::write(&file, "max_size = 100\n").unwrap();
    signal(server.child.id(), "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upload(&server.addr, "h2", eleven), "HTTP/1.1 200 OK");
    sb.assert_stored("h2", eleven);

    // A configuration that does not load keeps the one in use.
    std::fs::write(&file, "max_size = \"lots\"\n").unwrap();
    signal(server.child.id(), "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upload(&server.addr, "h3", eleven), "HTTP/1.1 200 OK");
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .contains("configuration not re-read, keeping the old one"),
        "{}",
        server.log.lock().unwrap()
    );
}
