//! Attacks on the spool and the endpoint, from the outside: symlinks planted
//! in the spool, hostile ids and names, Content-Length lies, oversized
//! headers, fields and part counts, and error messages that could leak paths.
//! See docs/security.md for the threat model each test belongs to.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;

const ID: &str = "8f14e45f-ceea-467a-9575-00000000beef";

fn simple(id: &str, name: &str, data: &[u8]) -> Req {
    Req::new("POST").xhr().form(
        Form::new()
            .field("qquuid", id)
            .field("qqfilename", name)
            .field("qqtotalfilesize", data.len().to_string())
            .file("qqfile", "blob", "application/octet-stream", data),
    )
}

/// Makes the spool exist (a first request creates it).
fn warm(sb: &Sandbox) {
    assert_eq!(
        sb.send(&Req::new("GET").query("restore=nothing")).status,
        404
    );
}

/// Symlinks planted where a complete entry's files would be are never
/// followed: the secret behind them is not served, inspected or claimed.
fn planted_entry_symlinks_are_not_followed(m: Mode) {
    let sb = Sandbox::new(m);
    warm(&sb);
    let secret_dir = sb.outside.path().join("secret-entry");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("data"), b"TOP SECRET").unwrap();
    let meta = format!(
        r#"{{"id":"{ID}","protocol":"fine-uploader","name":"s.txt","size":10,"received":10,"complete":true,"created":0,"updated":0,"metadata":{{}},"variants":[]}}"#
    );
    std::fs::write(secret_dir.join("meta.json"), meta).unwrap();
    plant_entry(&sb.spool.join("complete"), &secret_dir);
    let r = sb.restore(ID);
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("TOP SECRET"));
    sb.assert_absent(ID);
    let dest = sb.outside.path().join("claimed");
    assert_eq!(
        sb.admin(&["claim", ID, dest.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read(secret_dir.join("data")).unwrap(),
        b"TOP SECRET"
    );
}

/// Plants entry `ID` in a spool state directory as two symlinks, data and
/// record, to `data` and `meta.json` in `target` (outside the spool).
fn plant_entry(state_dir: &Path, target: &Path) {
    symlink(target.join("data"), state_dir.join(ID)).unwrap();
    symlink(
        target.join("meta.json"),
        state_dir.join(format!("{ID}.json")),
    )
    .unwrap();
}

/// A symlinked incoming entry cannot make a chunk write outside the spool.
fn planted_incoming_symlinks_are_not_written_through(m: Mode) {
    let sb = Sandbox::new(m);
    warm(&sb);
    let victim_dir = sb.outside.path().join("victim");
    std::fs::create_dir(&victim_dir).unwrap();
    std::fs::write(victim_dir.join("data"), b"untouched").unwrap();
    let meta = format!(
        r#"{{"id":"{ID}","protocol":"fine-uploader","name":"v.bin","size":8,"received":0,"complete":false,"created":0,"updated":0,"metadata":{{}},"parts":{{"total":2,"stored":[]}},"variants":[]}}"#
    );
    std::fs::write(victim_dir.join("meta.json"), &meta).unwrap();
    let incoming = sb.spool.join("incoming");
    plant_entry(&incoming, &victim_dir);
    let part = Form::new()
        .field("qqpartindex", "0")
        .field("qqpartbyteoffset", "0")
        .field("qqchunksize", "4")
        .field("qqtotalparts", "2")
        .field("qqtotalfilesize", "8")
        .field("qquuid", ID)
        .field("qqfilename", "v.bin")
        .file("qqfile", "blob", "application/octet-stream", b"EVIL");
    assert_eq!(sb.send(&Req::new("POST").xhr().form(part)).status, 200);
    assert_eq!(
        std::fs::read(victim_dir.join("data")).unwrap(),
        b"untouched"
    );
    assert_eq!(
        std::fs::read_to_string(victim_dir.join("meta.json")).unwrap(),
        meta
    );
    assert!(
        !incoming.join(ID).is_symlink(),
        "the planted link was replaced by a real entry"
    );
}

/// A data file replaced by a symlink to a secret is not served.
fn planted_data_symlinks_are_not_served(m: Mode) {
    let sb = Sandbox::new(m);
    assert_eq!(sb.send(&simple(ID, "a.txt", b"mine")).status, 200);
    let secret = sb.outside.path().join("secret.txt");
    std::fs::write(&secret, b"TOP SECRET").unwrap();
    let data = sb.spool.join("complete").join(ID);
    std::fs::remove_file(&data).unwrap();
    symlink(&secret, &data).unwrap();
    let r = sb.restore(ID);
    assert!(r.status >= 400, "{}", r.status);
    assert!(!r.text().contains("TOP SECRET"));
}

/// A lock file replaced by a symlink is not opened through it.
fn planted_lock_symlinks_are_refused(m: Mode) {
    let sb = Sandbox::new(m);
    warm(&sb);
    let target = sb.outside.path().join("target.txt");
    std::fs::write(&target, b"keep").unwrap();
    symlink(&target, sb.spool.join("locks").join(&ID[ID.len() - 2..])).unwrap();
    let r = sb.send(&simple(ID, "a.txt", b"data"));
    assert_eq!(r.status, 500);
    assert!(
        !r.text().contains(sb.spool.to_str().unwrap()),
        "no server path in the answer: {}",
        r.text()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

/// Hostile ids and names: NUL, dots, absolute paths, look-alikes, 10 KB.
fn hostile_ids_and_names(m: Mode) {
    let sb = Sandbox::new(m);
    let long = "a".repeat(10_000);
    for id in [
        "..",
        "/etc/passwd",
        "a\0b",
        "․․",
        "a／b",
        "ａｂｃ",
        long.as_str(),
        "%2e%2e",
    ] {
        let r = sb.send(&simple(id, "x.txt", b"x"));
        assert_eq!(r.status, 400, "{id:?}");
        assert_eq!(r.json()["preventRetry"], true);
    }
    for (n, name) in [
        "../../x.txt",
        "/etc/passwd",
        "․․／․․／x.txt",
        "x\0.txt",
        long.as_str(),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("{}{n}", &ID[..ID.len() - 1]);
        let r = sb.send(&simple(&id, name, b"x"));
        assert_eq!(r.status, 200, "{name:?}");
        let stored = sb.info(&id).unwrap()["name"].as_str().unwrap().to_owned();
        assert!(
            !stored.contains(['/', '\\', '\0']) && stored.len() <= 255,
            "{stored:?}"
        );
    }
    sb.assert_nothing_escapes();
}

/// Bodies shorter than their Content-Length never store anything, for every
/// kind of request.
fn content_length_mismatches(m: Mode) {
    let sb = Sandbox::new(m);
    let full = simple(ID, "a.txt", &bytes(3000, 1));
    let short = Req {
        body: full.body[..1000].to_vec(),
        declared_length: Some(full.body.len() as u64),
        ..full.clone()
    };
    assert_eq!(sb.send(&short).status, 400);
    sb.assert_absent(ID);
    let fp = Req::new("POST").form(Form::new().field("filepond", "{}").file(
        "filepond",
        "a.txt",
        "text/plain",
        &bytes(3000, 2),
    ));
    let short = Req {
        body: fp.body[..2000].to_vec(),
        declared_length: Some(fp.body.len() as u64),
        ..fp.clone()
    };
    assert_eq!(sb.send(&short).status, 400);
    assert_eq!(
        std::fs::read_dir(sb.spool.join("complete"))
            .unwrap()
            .count(),
        0
    );
}

/// Limits on fields, parts and headers.
fn request_limits(m: Mode) {
    let sb = Sandbox::new(m);
    let mut many = Form::new();
    for i in 0..1100 {
        many = many.field(&format!("f{i}"), "x");
    }
    let r = sb.send(
        &Req::new("POST").xhr().form(many.field("qquuid", ID).file(
            "qqfile",
            "a.txt",
            "text/plain",
            b"x",
        )),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let big = "x".repeat(70_000);
    let r = sb.send(&Req::new("POST").xhr().form(
        Form::new().field("note", &big).field("qquuid", ID).file(
            "qqfile",
            "a.txt",
            "text/plain",
            b"x",
        ),
    ));
    assert_eq!(r.status, 400);
    sb.assert_absent(ID);
    if m == Mode::Http {
        let r = sb.send(
            &Req::new("GET")
                .query("restore=abc")
                .header("X-Big", "y".repeat(70_000)),
        );
        assert_eq!(r.status, 431);
    }
}

/// Errors from a broken spool say what failed, never where.
fn errors_never_leak_paths(m: Mode) {
    let sb = Sandbox::new(m);
    warm(&sb);
    std::fs::remove_dir_all(sb.spool.join("tmp")).unwrap();
    std::fs::write(sb.spool.join("tmp"), b"not a directory").unwrap();
    let r = sb.send(&simple(ID, "a.txt", b"data"));
    assert_eq!(r.status, 500);
    let spool = sb.spool.to_str().unwrap();
    assert!(
        !r.text().contains(spool) && !r.text().contains("/tmp"),
        "{}",
        r.text()
    );
    let r = sb.send(
        &Req::new("POST").form(Form::new().field("filepond", "{}").file(
            "filepond",
            "a.txt",
            "text/plain",
            b"x",
        )),
    );
    assert_eq!(r.status, 500);
    assert!(!r.text().contains(spool), "{}", r.text());
}

/// A request-controlled name the filesystem refuses (longer than its name
/// limit) is the client's error, not the server's: 400, never 500.
fn overlong_names_are_the_clients_error(m: Mode) {
    let load = tempfile::tempdir().unwrap();
    std::fs::write(load.path().join("a.txt"), b"a").unwrap();
    let sb = Sandbox::with_env(m, &[("UPSPOOL_LOAD_DIR", load.path().to_str().unwrap())]);
    for source in ["x".repeat(300), "z".repeat(5000)] {
        let r = sb.send(&Req::new("GET").query(&format!("load={source}")));
        assert_eq!(
            r.status,
            400,
            "load of {} bytes: {}",
            source.len(),
            r.text()
        );
        assert!(r.text().contains("longer than"), "{}", r.text());
    }
    // Overlong ids are refused by their grammar before any path is made.
    let long_id = "a".repeat(300);
    for r in [
        sb.send(&Req::new("GET").query(&format!("restore={long_id}"))),
        sb.send(&Req::new("DELETE").path(&format!("/{long_id}"))),
        sb.send(&simple(&long_id, "a.txt", b"x")),
    ] {
        assert_eq!(r.status, 400, "{}", r.text());
    }
}

in_every_mode!(
    overlong_names_are_the_clients_error,
    planted_entry_symlinks_are_not_followed,
    planted_incoming_symlinks_are_not_written_through,
    planted_data_symlinks_are_not_served,
    planted_lock_symlinks_are_refused,
    hostile_ids_and_names,
    content_length_mismatches,
    request_limits,
    errors_never_leak_paths,
);
