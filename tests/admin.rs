//! `upspool gc`, the opportunistic sweep, and the admin commands' errors.

mod common;

use common::*;

fn start_chunked(sb: &Sandbox, id: &str) {
    let form = Form::new()
        .field("qqpartindex", "0")
        .field("qqpartbyteoffset", "0")
        .field("qqchunksize", "4")
        .field("qqtotalparts", "2")
        .field("qqtotalfilesize", "8")
        .field("qquuid", id)
        .field("qqfilename", "old.bin")
        .file("qqfile", "blob", "application/octet-stream", b"abcd");
    assert_eq!(sb.send(&Req::new("POST").xhr().form(form)).status, 200);
}

#[test]
fn gc_removes_expired_uploads_and_keeps_young_ones() {
    let sb = Sandbox::with_env(
        Mode::Cgi,
        &[
            ("UPSPOOL_EXPIRE_INCOMPLETE", "1"),
            ("UPSPOOL_EXPIRE_COMPLETE", "1h"),
        ],
    );
    start_chunked(&sb, "old-one");
    let form = Form::new()
        .field("qquuid", "done-one")
        .field("qqfilename", "d.txt")
        .file("qqfile", "d.txt", "text/plain", b"d");
    assert_eq!(sb.send(&Req::new("POST").xhr().form(form)).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    start_chunked(&sb, "young-one");
    let out = sb.admin(&["gc"]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["incomplete"], 1, "{report}");
    assert_eq!(report["complete"], 0, "{report}");
    sb.assert_absent("old-one");
    assert!(sb.info("young-one").is_some());
    assert!(sb.info("done-one").is_some());
}

#[test]
fn requests_sweep_expired_uploads_when_the_dice_say_so() {
    let sb = Sandbox::with_env(
        Mode::Cgi,
        &[
            ("UPSPOOL_EXPIRE_INCOMPLETE", "1"),
            ("UPSPOOL_GC_PROBABILITY", "1"),
        ],
    );
    start_chunked(&sb, "stale");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = sb.send(&Req::new("GET").query("restore=nothing"));
    assert_eq!(r.status, 404);
    sb.assert_absent("stale");
}

#[test]
fn admin_errors() {
    let sb = Sandbox::new(Mode::Cgi);
    let out = sb.admin(&["info", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an upload id"));
    assert_eq!(sb.admin(&["info"]).status.code(), Some(2));
    assert_eq!(sb.admin(&["--version"]).status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&sb.admin(&["--help"]).stdout).contains("upspool claim ID DEST")
    );
}
