//! The FastCGI responder under abuse: a small pool with many connections,
//! clients that vanish or abort, garbage, management records, signals, and
//! socket activation. Requests are written record by record here, so every
//! byte on the wire is the test's.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;

use common::fcgi::*;

/// The params of a Fine Uploader raw-body upload.
fn raw_upload_params(id: &str, len: usize) -> Vec<(String, String)> {
    vec![
        ("REQUEST_METHOD".into(), "POST".into()),
        ("SCRIPT_NAME".into(), "/upload".into()),
        ("QUERY_STRING".into(), format!("qquuid={id}&qqfile=f.bin")),
        ("CONTENT_TYPE".into(), "application/octet-stream".into()),
        ("CONTENT_LENGTH".into(), len.to_string()),
    ]
}

fn raw_part_params(id: &str, index: usize, part: usize, total: usize) -> Vec<(String, String)> {
    let size = part.min(total - index * part);
    let query = format!(
        "qquuid={id}&qqfile=p.bin&qqfilename=p.bin&qqpartindex={index}&qqpartbyteoffset={}&qqchunksize={size}&qqtotalparts={}&qqtotalfilesize={total}",
        index * part,
        total.div_ceil(part)
    );
    vec![
        ("REQUEST_METHOD".into(), "POST".into()),
        ("SCRIPT_NAME".into(), "/upload".into()),
        ("QUERY_STRING".into(), query),
        ("CONTENT_TYPE".into(), "application/octet-stream".into()),
        ("CONTENT_LENGTH".into(), size.to_string()),
    ]
}

fn as_refs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// One whole request on a fresh connection; the answer's status line.
fn exchange(addr: &str, params: &[(String, String)], body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut bytes = request_head(1, false, &as_refs(params));
    bytes.extend(stdin_records(1, body));
    s.write_all(&bytes).unwrap();
    let out = read_answer(&mut s);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn fastcgi(sb: &Sandbox, workers: &str) -> Server {
    sb.start_server(
        &["fastcgi", "--listen", "127.0.0.1:0", "--workers", workers],
        "FastCGI on ",
    )
}

#[test]
fn a_pool_of_four_serves_200_concurrent_connections() {
    let sb = Sandbox::new(Mode::Cgi);
    let server = fastcgi(&sb, "4");
    let addr = Arc::new(server.addr.clone());
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let data = bytes(2000 + i, i as u8);
                exchange(
                    &addr,
                    &raw_upload_params(&format!("many-{i}"), data.len()),
                    &data,
                )
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "Status: 200 OK");
    }
    for i in [0usize, 77, 199] {
        sb.assert_stored(&format!("many-{i}"), &bytes(2000 + i, i as u8));
    }
}

#[test]
fn a_vanished_client_and_an_abort_leave_the_upload_resumable() {
    let sb = Sandbox::new(Mode::Cgi);
    let server = fastcgi(&sb, "4");
    let (part, total) = (100_000, 300_000);
    let data = bytes(total, 3);
    assert_eq!(
        exchange(
            &server.addr,
            &raw_part_params("cut", 0, part, total),
            &data[..part]
        ),
        "Status: 200 OK"
    );

    // The web server's connection disappears in the middle of part 1.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    let mut bytes_out = request_head(1, false, &as_refs(&raw_part_params("cut", 1, part, total)));
    bytes_out.extend(record(STDIN, 1, &data[part..part + 30_000]));
    s.write_all(&bytes_out).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);

    // The web server aborts part 2 half-way.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut bytes_out = request_head(1, false, &as_refs(&raw_part_params("cut", 2, part, total)));
    bytes_out.extend(record(STDIN, 1, &data[2 * part..2 * part + 40_000]));
    bytes_out.extend(record(ABORT, 1, &[]));
    s.write_all(&bytes_out).unwrap();
    read_answer(&mut s);

    std::thread::sleep(Duration::from_millis(100));
    let info = sb.info("cut").unwrap();
    assert_eq!(
        (info["complete"].as_bool(), info["received"].as_u64()),
        (Some(false), Some(part as u64))
    );
    for i in 1..3 {
        let range = &data[i * part..(i + 1) * part];
        assert_eq!(
            exchange(&server.addr, &raw_part_params("cut", i, part, total), range),
            "Status: 200 OK"
        );
    }
    sb.assert_stored("cut", &data);
}

#[test]
fn garbage_and_oversized_params_end_only_their_connection() {
    let sb = Sandbox::new(Mode::Cgi);
    let server = fastcgi(&sb, "2");
    for garbage in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0xff; 4000],
        record(BEGIN, 1, &[0, 1]),
    ] {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&garbage);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = s.read_to_end(&mut Vec::new());
    }
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let huge = "x".repeat(200_000);
    let _ = s.write_all(&request_head(
        1,
        false,
        &[("REQUEST_METHOD", "GET"), ("HTTP_X_BIG", &huge)],
    ));
    let _ = s.read_to_end(&mut Vec::new());
    let data = bytes(1000, 9);
    assert_eq!(
        exchange(
            &server.addr,
            &raw_upload_params("after-garbage", 1000),
            &data
        ),
        "Status: 200 OK"
    );
}

#[test]
fn get_values_and_kept_connections() {
    let sb = Sandbox::new(Mode::Cgi);
    let server = fastcgi(&sb, "3");
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&record(
        GET_VALUES,
        0,
        &pairs(&[
            ("FCGI_MAX_CONNS", ""),
            ("FCGI_MAX_REQS", ""),
            ("FCGI_MPXS_CONNS", ""),
        ]),
    ))
    .unwrap();
    let mut h = [0u8; 8];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1], GET_VALUES_RESULT);
    let mut content = vec![0u8; u16::from_be_bytes([h[4], h[5]]) as usize + h[6] as usize];
    s.read_exact(&mut content).unwrap();
    let text = String::from_utf8_lossy(&content);
    assert!(
        text.contains("FCGI_MAX_CONNS3")
            && text.contains("FCGI_MAX_REQS3")
            && text.contains("FCGI_MPXS_CONNS0"),
        "{text}"
    );
    // Two requests on one kept connection.
    for (n, id) in [(1u16, "kept-a"), (2u16, "kept-b")] {
        let data = bytes(500, n as u8);
        let mut out = request_head(n, true, &as_refs(&raw_upload_params(id, 500)));
        out.extend(stdin_records(n, &data));
        s.write_all(&out).unwrap();
        assert!(String::from_utf8_lossy(&read_answer(&mut s)).starts_with("Status: 200 OK"));
        sb.assert_stored(id, &data);
    }
}

#[test]
fn peers_outside_fcgi_web_server_addrs_are_refused() {
    let sb = Sandbox::with_env(Mode::Cgi, &[("FCGI_WEB_SERVER_ADDRS", "10.9.9.9")]);
    let server = fastcgi(&sb, "2");
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = request_head(1, false, &as_refs(&raw_upload_params("refused", 3)));
    out.extend(stdin_records(1, b"abc"));
    let _ = s.write_all(&out);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(answer.is_empty());
    sb.assert_absent("refused");
}

#[test]
fn socket_activation_on_fd_0_and_unix_sockets() {
    let sb = Sandbox::new(Mode::Cgi);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fd: std::os::fd::OwnedFd = listener.into();
    let mut child = Command::new(BIN)
        .env_clear()
        .envs(sb.env().iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::from(fd))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let data = bytes(4000, 1);
    assert_eq!(
        exchange(&addr, &raw_upload_params("activated", 4000), &data),
        "Status: 200 OK"
    );
    sb.assert_stored("activated", &data);
    child.kill().unwrap();
    child.wait().unwrap();

    let path = sb.outside.path().join("upspool.sock");
    let spec = format!("unix:{}", path.display());
    let _server = sb.start_server(
        &["fastcgi", "--listen", &spec, "--socket-mode", "0600"],
        "FastCGI on ",
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let mut out = request_head(1, false, &as_refs(&raw_upload_params("over-unix", 4000)));
    out.extend(stdin_records(1, &data));
    s.write_all(&out).unwrap();
    assert!(String::from_utf8_lossy(&read_answer(&mut s)).starts_with("Status: 200 OK"));
    sb.assert_stored("over-unix", &data);
}

#[test]
fn sigterm_lets_uploads_in_flight_finish_then_exits_0() {
    let sb = Sandbox::new(Mode::Cgi);
    let mut server = fastcgi(&sb, "4");
    let data = bytes(200_000, 5);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut first = request_head(
        1,
        false,
        &as_refs(&raw_upload_params("in-flight", data.len())),
    );
    first.extend(record(STDIN, 1, &data[..50_000]));
    s.write_all(&first).unwrap();
    sigterm_mid_upload(&server, &sb, "in-flight");
    let mut rest = Vec::new();
    for piece in data[50_000..].chunks(30_000) {
        rest.extend(record(STDIN, 1, piece));
    }
    rest.extend(record(STDIN, 1, &[]));
    s.write_all(&rest).unwrap();
    assert!(String::from_utf8_lossy(&read_answer(&mut s)).starts_with("Status: 200 OK"));
    assert_stopped_with(&mut server, &sb, "in-flight", &data);
}

#[test]
fn sighup_rereads_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upspool.toml");
    std::fs::write(&file, "max_size = 10\n").unwrap();
    let sb = Sandbox::with_env(Mode::Cgi, &[("UPSPOOL_CONFIG", file.to_str().unwrap())]);
    let server = fastcgi(&sb, "2");
    let eleven = b"0123456789A";
    assert!(
        exchange(&server.addr, &raw_upload_params("h1", 11), eleven).starts_with("Status: 413")
    );
    std::fs::write(&file, "max_size = 100\n").unwrap();
    signal(server.child.id(), "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        exchange(&server.addr, &raw_upload_params("h2", 11), eleven),
        "Status: 200 OK"
    );
}

/// CONTENT_LENGTH is judged by the one rule HTTP's Content-Length is
/// (digits only): a sign, spaces inside or a list are refused, nothing stored.
#[test]
fn content_length_with_a_sign_or_garbage_is_400() {
    let sb = Sandbox::new(Mode::Cgi);
    let server = fastcgi(&sb, "2");
    for (i, bad) in ["+5", "-5", "5 5", "5,5", "0x5"].iter().enumerate() {
        let id = format!("cl{i}");
        let mut params = raw_upload_params(&id, 5);
        params.retain(|(k, _)| k != "CONTENT_LENGTH");
        params.push(("CONTENT_LENGTH".into(), bad.to_string()));
        assert_eq!(
            exchange(&server.addr, &params, b"hello"),
            "Status: 400 Bad Request",
            "CONTENT_LENGTH {bad:?}"
        );
        sb.assert_absent(&id);
    }
}
