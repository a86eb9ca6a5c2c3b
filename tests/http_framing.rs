//! `upspool serve` and request framing (RFC 9112), byte by byte over raw
//! TCP: every way to make two parties disagree on where a body ends is
//! refused with an exact status and `Connection: close`, the connection
//! ends, and nothing reaches the spool; chunked bodies that are well
//! formed, cut in odd sizes, are stored exactly.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const ID: &str = "8f14e45f-ceea-467a-9575-00000000f00d";

/// Everything the server answers to `bytes` sent on one connection, and
/// whether it closed the connection (well before its 15 s idle timeout).
fn raw(sb: &Sandbox, bytes: &[u8]) -> (String, bool) {
    let mut stream = TcpStream::connect(sb.http_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let bytes = bytes.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    let started = Instant::now();
    let mut out = Vec::new();
    let closed = match stream.read_to_end(&mut out) {
        Ok(_) => true,
        // A reset after the answer also ends the connection.
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    let _ = sender.join();
    (
        String::from_utf8_lossy(&out).into_owned(),
        closed && started.elapsed() < Duration::from_secs(8),
    )
}

/// The status codes of the answers in `out`, in order.
fn statuses(out: &str) -> Vec<u16> {
    out.match_indices("HTTP/1.1 ")
        .filter(|(i, _)| *i == 0 || out[..*i].ends_with('\n'))
        .map(|(i, _)| out[i + 9..i + 12].parse().unwrap())
        .collect()
}

/// Every regular file under the spool.
fn spool_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                files.extend(spool_files(&path));
            } else {
                files.push(path.display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// A Fine Uploader raw-body upload head, framing headers to add.
fn raw_upload(framing: &str) -> String {
    format!(
        "POST /upload?qquuid={ID}&qqfile=a.bin HTTP/1.1\r\nHost: t\r\n\
         Content-Type: application/octet-stream\r\n{framing}\r\n"
    )
}

/// Sends each request on its own connection; each must get exactly one
/// answer with `status` and `Connection: close`, be closed, and leave the
/// spool as it was.
/// Log lines of refused requests and of broken request bodies so far.
fn refusals_logged(sb: &Sandbox) -> usize {
    sb.server_log()
        .lines()
        .filter(|l| {
            l.contains("http: refused a request") || l.contains("chunked framing is malformed")
        })
        .count()
}

fn refused(sb: &Sandbox, status: u16, cases: &[(String, &str)]) {
    let before = spool_files(&sb.spool);
    let logged = refusals_logged(sb);
    for (head, body) in cases {
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        // A second request smuggled behind the first must never be answered.
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let (out, closed) = raw(sb, &bytes);
        assert_eq!(statuses(&out), [status], "{head:?} {body:?}:\n{out}");
        let head_end = out.find("\r\n\r\n").unwrap();
        assert!(
            out[..head_end].contains("\r\nConnection: close"),
            "{head:?}: {out}"
        );
        assert!(closed, "{head:?} {body:?}: the connection stayed open");
    }
    sb.assert_absent(ID);
    assert_eq!(spool_files(&sb.spool), before, "the spool changed");
    sb.assert_nothing_escapes();
    // Every refusal leaves a log line (the log is read by another thread).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while refusals_logged(sb) < logged + cases.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        refusals_logged(sb) >= logged + cases.len(),
        "a refusal without a log line:\n{}",
        sb.server_log()
    );
}

#[test]
fn content_length_must_be_digits_only() {
    let sb = Sandbox::new(Mode::Http);
    let cases: Vec<(String, &str)> = ["+5", "-1", "5 5", "5,5", "5, 5", "0x5", "05x", "1e1"]
        .iter()
        .map(|v| (raw_upload(&format!("Content-Length: {v}\r\n")), "hello"))
        .collect();
    refused(&sb, 400, &cases);
    // Whitespace around the value is optional whitespace, not part of it.
    let (out, _) = raw(
        &sb,
        format!(
            "{}hello",
            raw_upload("Content-Length:  5  \r\nConnection: close\r\n")
        )
        .as_bytes(),
    );
    assert_eq!(statuses(&out), [200], "{out}");
    sb.assert_stored(ID, b"hello");
}

#[test]
fn two_content_lengths_are_refused_even_when_equal() {
    let sb = Sandbox::new(Mode::Http);
    refused(
        &sb,
        400,
        &[
            (
                raw_upload("Content-Length: 5\r\nContent-Length: 5\r\n"),
                "hello",
            ),
            (
                raw_upload("Content-Length: 5\r\nContent-Length: 3\r\n"),
                "hello",
            ),
            (
                raw_upload("Content-Length: 3\r\nContent-Length: 5\r\n"),
                "hello",
            ),
        ],
    );
}

#[test]
fn transfer_encoding_with_content_length_is_refused() {
    let sb = Sandbox::new(Mode::Http);
    refused(
        &sb,
        400,
        &[
            (
                raw_upload("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
                "5\r\nhello\r\n0\r\n\r\n",
            ),
            (
                raw_upload("Transfer-Encoding: chunked\r\nContent-Length: 22\r\n"),
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        ],
    );
}

#[test]
fn transfer_codings_other_than_chunked() {
    let sb = Sandbox::new(Mode::Http);
    // A coding before a final chunked: well framed, not implemented.
    refused(
        &sb,
        501,
        &[
            (
                raw_upload("Transfer-Encoding: gzip, chunked\r\n"),
                "5\r\nhello\r\n0\r\n\r\n",
            ),
            (
                raw_upload("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        ],
    );
    let (out, _) = raw(
        &sb,
        format!(
            "{}0\r\n\r\n",
            raw_upload("Transfer-Encoding: gzip, chunked\r\n")
        )
        .as_bytes(),
    );
    assert!(out.contains("Only Transfer-Encoding: chunked"), "{out}");
    // Not ending in chunked: the body's length is unknown (RFC 9112 §6.3).
    refused(
        &sb,
        400,
        &[
            (
                raw_upload("Transfer-Encoding: chunked, gzip\r\n"),
                "5\r\nhello\r\n0\r\n\r\n",
            ),
            (raw_upload("Transfer-Encoding: identity\r\n"), "hello"),
            (
                raw_upload("Transfer-Encoding: chunked, chunked\r\n"),
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        ],
    );
}

#[test]
fn bad_chunk_sizes_and_missing_crlf_are_400() {
    let sb = Sandbox::new(Mode::Http);
    let chunked = raw_upload("Transfer-Encoding: chunked\r\n");
    let cases: Vec<(String, &str)> = [
        "+5\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
        "00000000000000005\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "2\r\nhe\r\n3\r\nllo\r\n0\r\nbroken trailer\r\n\r\n",
    ]
    .iter()
    .map(|b| (chunked.clone(), *b))
    .collect();
    refused(&sb, 400, &cases);
}

/// A handler that never reads the body (the demo page) still does not
/// answer a broken one as if it were fine.
#[test]
fn an_unread_broken_body_is_not_answered_200() {
    let sb = Sandbox::new(Mode::Http);
    let (out, closed) = raw(
        &sb,
        b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n\r\n\
          GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(statuses(&out), [400], "{out}");
    assert!(out.contains("Connection: close"), "{out}");
    assert!(closed);
    // The same page with a well-formed chunked body is served, kept alive.
    let (out, _) = raw(
        &sb,
        b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
          GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&out), [200, 200], "{out}");
}

/// `bytes` as a chunked body cut in odd sizes, with an extension and a trailer.
fn chunked_body(data: &[u8]) -> Vec<u8> {
    let sizes = [1usize, 7, 4093, 13, 65537, 3, 999];
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        if i == 2 {
            out.extend_from_slice(format!("{n:X};name=\"odd size\"\r\n").as_bytes());
        } else {
            out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\nX-Checksum: none\r\n\r\n");
    out
}

/// Sends `head` and a chunked body holding `data` in several writes.
fn send_chunked(sb: &Sandbox, head: &str, data: &[u8]) -> String {
    let mut stream = TcpStream::connect(sb.http_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut bytes = head.as_bytes().to_vec();
    bytes.extend(chunked_body(data));
    let sender = std::thread::spawn(move || {
        for piece in bytes.chunks(50_001) {
            let _ = writer.write_all(piece);
            let _ = writer.flush();
        }
    });
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let _ = sender.join();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn filepond_patch_with_a_chunked_body() {
    let sb = Sandbox::new(Mode::Http);
    let data = bytes(300_000, 41);
    let r = sb.send(
        &Req::new("POST")
            .header("Upload-Length", data.len().to_string())
            .form(Form::new().field("filepond", "{}")),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.text();
    let half = 123_457;
    for (offset, part) in [(0, &data[..half]), (half, &data[half..])] {
        let head = format!(
            "PATCH /upload?patch={id} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
             Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n\
             Upload-Length: {}\r\nUpload-Name: chunked.bin\r\nTransfer-Encoding: chunked\r\n\r\n",
            data.len()
        );
        let out = send_chunked(&sb, &head, part);
        assert_eq!(statuses(&out), [204], "PATCH at {offset}: {out}");
    }
    let info = sb.assert_stored(&id, &data);
    assert_eq!(info["name"], "chunked.bin", "{info}");
    let r = sb.restore(&id);
    assert_eq!(sha256(&r.body), sha256(&data));
}

#[test]
fn fine_uploader_raw_upload_with_a_chunked_body() {
    let sb = Sandbox::new(Mode::Http);
    let data = bytes(200_003, 42);
    let head = format!(
        "POST /upload?qquuid={ID}&qqfile=raw.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Accept: application/json\r\nX-Requested-With: XMLHttpRequest\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let out = send_chunked(&sb, &head, &data);
    assert_eq!(statuses(&out), [200], "{out}");
    assert!(out.contains("\"success\":true"), "{out}");
    sb.assert_stored(ID, &data);
}

/// A chunked upload whose framing breaks midway is refused and not stored.
#[test]
fn fine_uploader_raw_upload_broken_midway_is_not_stored() {
    let sb = Sandbox::new(Mode::Http);
    let before = spool_files(&sb.spool);
    let data = bytes(70_000, 43);
    let mut body = chunked_body(&data);
    // Valid chunks, then a chunk size that is not hexadecimal.
    body.truncate(body.len() - b"0\r\nX-Checksum: none\r\n\r\n".len());
    body.extend_from_slice(b"zz\r\nhello\r\n0\r\n\r\n");
    let mut bytes = raw_upload("Transfer-Encoding: chunked\r\n").into_bytes();
    bytes.extend(body);
    let (out, closed) = raw(&sb, &bytes);
    assert_eq!(statuses(&out), [400], "{out}");
    assert!(out.contains("Connection: close"), "{out}");
    assert!(closed);
    sb.assert_absent(ID);
    // Temporary files may have come and gone; none may stay.
    assert_eq!(spool_files(&sb.spool), before, "the spool changed");
}
