//! The spool's layout directories vanishing under a running server (an
//! operator's `rm -rf spool/*`, systemd-tmpfiles cleaning an old empty
//! `tmp/`, a remount): the next requests make the layout again and succeed,
//! in every mode, instead of answering 500 until a restart.

mod common;

use common::*;

fn fine_uploader(id: &str, data: &[u8]) -> Req {
    Req::new("POST").xhr().form(
        Form::new()
            .field("qquuid", id)
            .field("qqfilename", "a.txt")
            .field("qqtotalfilesize", data.len().to_string())
            .file("qqfile", "blob", "application/octet-stream", data),
    )
}

fn filepond(data: &[u8]) -> Req {
    Req::new("POST").form(Form::new().field("filepond", "{}").file(
        "filepond",
        "b.txt",
        "text/plain",
        data,
    ))
}

fn transfer_start(length: usize) -> Req {
    Req::new("POST")
        .header("Upload-Length", length.to_string())
        .form(Form::new().field("filepond", "{}"))
}

/// A FilePond PATCH of a whole transfer's bytes from offset 0.
fn first_patch(id: &str, data: &[u8]) -> Req {
    Req::new("PATCH")
        .query(&format!("patch={id}"))
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(data.to_vec())
}

/// Removes everything below the spool root, the layout directories included.
fn wipe(sb: &Sandbox) {
    for entry in std::fs::read_dir(&sb.spool).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

fn a_vanished_layout_is_made_again(m: Mode) {
    let sb = Sandbox::new(m);
    let first = bytes(3000, 1);
    let r = sb.send(&fine_uploader(
        "8f14e45f-ceea-467a-9575-000000000001",
        &first,
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    wipe(&sb);
    // Fine Uploader: a lock, a scratch file, a record, the complete/ rename.
    let data = bytes(5000, 2);
    let id = "8f14e45f-ceea-467a-9575-000000000002";
    let r = sb.send(&fine_uploader(id, &data));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["success"], true);
    sb.assert_stored(id, &data);
    if m != Mode::Cgi {
        assert!(
            sb.server_log().contains("made them again"),
            "no log line: {}",
            sb.server_log()
        );
    }
    // FilePond, after only tmp/ went (what systemd-tmpfiles removes).
    std::fs::remove_dir(sb.spool.join("tmp")).unwrap();
    let data = bytes(7000, 3);
    let r = sb.send(&filepond(&data));
    assert_eq!(r.status, 201, "{}", r.text());
    sb.assert_stored(&r.text(), &data);
    // A chunked FilePond transfer whose incoming/ and locks/ vanish between
    // its start and its first PATCH: the transfer is gone (its files were
    // removed), so the PATCH is a clean 404, and a new transfer works.
    let start = sb.send(&transfer_start(4));
    assert_eq!(start.status, 201, "{}", start.text());
    std::fs::remove_dir_all(sb.spool.join("incoming")).unwrap();
    std::fs::remove_dir_all(sb.spool.join("locks")).unwrap();
    assert_eq!(sb.send(&first_patch(&start.text(), b"abcd")).status, 404);
    let again = sb.send(&transfer_start(4));
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(sb.send(&first_patch(&again.text(), b"abcd")).status, 204);
    sb.assert_stored(&again.text(), b"abcd");
}

in_every_mode!(a_vanished_layout_is_made_again);
