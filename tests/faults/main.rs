//! Faults: processes killed at random points of a chunk, a full disk, a
//! read-only spool, gc running during uploads, and two FastCGI servers plus
//! CGI processes sharing one spool; the same faults for tus in `tus.rs`.
//! Mounting needs root (CI runs as root); elsewhere those tests skip
//! themselves with a message.

#[path = "../common/mod.rs"]
mod common;
mod tus;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::fcgi::*;
use common::*;

/// A tiny deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

fn chunk_req(id: &str, data: &[u8], part: usize, index: usize) -> Req {
    fu_chunk(id, "fault.bin", data, part, index)
}

/// kill -9 of the CGI process at a random point of a chunk, 100 times over
/// one upload: the upload never shows complete early and ends byte-identical.
#[test]
fn cgi_killed_100_times_mid_chunk() {
    let sb = Sandbox::new(Mode::Cgi);
    let id = "0fa17000-0000-4000-8000-000000000100";
    let part = 64 * 1024;
    let data = bytes(6 * part + 1234, 1);
    let parts = data.len().div_ceil(part);
    let mut rng = Lcg(7);
    let mut sent = vec![false; parts];
    for kill in 0..100 {
        let index = rng.next(parts as u64) as usize;
        let req = chunk_req(id, &data, part, index);
        let cut = rng.next(req.body.len() as u64) as usize;
        sb.kill_cgi_mid_body(&req, cut, Duration::from_millis(rng.next(4)));
        // Every tenth round, also send one part whole.
        if kill % 10 == 9 {
            let whole = rng.next(parts as u64) as usize;
            assert_eq!(sb.send(&chunk_req(id, &data, part, whole)).status, 200);
            sent[whole] = true;
        }
        if let Some(info) = sb.info(id) {
            assert_eq!(
                info["complete"],
                sent.iter().all(|s| *s),
                "round {kill}: {info}"
            );
        }
    }
    for (i, done) in sent.iter().enumerate() {
        if !done {
            assert_eq!(sb.send(&chunk_req(id, &data, part, i)).status, 200);
        }
    }
    sb.assert_stored(id, &data);
}

/// A FastCGI server on a Unix socket (or `upspool serve` on a loopback
/// port), restarted at will.
struct Responder {
    sb: Arc<Sandbox>,
    socket: PathBuf,
    server: Option<Server>,
    /// `upspool serve` rather than FastCGI.
    serve: bool,
}

impl Responder {
    fn start(sb: Arc<Sandbox>) -> Responder {
        Responder::launch(sb, false)
    }

    /// `upspool serve`, on a new port at each restart.
    fn serve(sb: Arc<Sandbox>) -> Responder {
        Responder::launch(sb, true)
    }

    fn launch(sb: Arc<Sandbox>, serve: bool) -> Responder {
        let socket = sb.outside.path().join("faults.sock");
        let mut r = Responder {
            sb,
            socket,
            server: None,
            serve,
        };
        r.restart();
        r
    }

    fn restart(&mut self) {
        if let Some(mut old) = self.server.take() {
            let _ = old.child.kill();
            let _ = old.child.wait();
        }
        self.server = Some(if self.serve {
            self.sb.start_server(
                &["serve", "--listen", "127.0.0.1:0", "--workers", "4"],
                "http://",
            )
        } else {
            let spec = format!("unix:{}", self.socket.display());
            self.sb.start_server(
                &["fastcgi", "--listen", &spec, "--workers", "2"],
                "FastCGI on ",
            )
        });
    }

    /// The running `serve`'s address.
    fn addr(&self) -> &str {
        &self.server.as_ref().expect("a running server").addr
    }

    /// What the running server has logged since it last started.
    fn log(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.log.lock().unwrap().clone())
            .unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(server) = self.server.as_mut() {
            let _ = Command::new("kill")
                .args(["-9", &server.child.id().to_string()])
                .status();
            let _ = server.child.wait();
        }
    }

    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// One whole request; the status line and headers of the answer.
    fn send(&self, params: &[(&str, &str)], body: &[u8]) -> String {
        let mut s = self.connect();
        let mut out = request_head(1, false, params);
        out.extend(stdin_records(1, body));
        s.write_all(&out).unwrap();
        String::from_utf8_lossy(&read_answer(&mut s)).into_owned()
    }
}

fn patch_params<'a>(
    query: &'a str,
    offset: &'a str,
    length: &'a str,
    size: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("REQUEST_METHOD", "PATCH"),
        ("SCRIPT_NAME", "/upload"),
        ("QUERY_STRING", query),
        ("CONTENT_TYPE", "application/offset+octet-stream"),
        ("CONTENT_LENGTH", length),
        ("HTTP_UPLOAD_OFFSET", offset),
        ("HTTP_UPLOAD_LENGTH", size),
        ("HTTP_UPLOAD_NAME", "fault.bin"),
    ]
}

fn head_offset(r: &Responder, query: &str) -> u64 {
    let answer = r.send(
        &[
            ("REQUEST_METHOD", "HEAD"),
            ("SCRIPT_NAME", "/upload"),
            ("QUERY_STRING", query),
        ],
        b"",
    );
    let line = answer
        .lines()
        .find(|l| l.starts_with("Upload-Offset:"))
        .unwrap_or_else(|| panic!("{answer}"));
    line["Upload-Offset:".len()..].trim().parse().unwrap()
}

/// kill -9 of the FastCGI server at a random point of a chunk, 100 times
/// over one FilePond transfer: HEAD always reports exactly the bytes of the
/// chunks that were answered, and the file ends byte-identical.
#[test]
fn fastcgi_killed_100_times_mid_chunk() {
    let sb = Arc::new(Sandbox::new(Mode::Cgi));
    let mut r = Responder::start(sb.clone());
    let chunk = 50_000;
    let data = bytes(12 * chunk + 77, 2);
    let size = data.len().to_string();
    let form = "--B\r\nContent-Disposition: form-data; name=\"filepond\"\r\n\r\n{}\r\n--B--\r\n";
    let len = form.len().to_string();
    let answer = r.send(
        &[
            ("REQUEST_METHOD", "POST"),
            ("SCRIPT_NAME", "/upload"),
            ("CONTENT_TYPE", "multipart/form-data; boundary=B"),
            ("CONTENT_LENGTH", &len),
            ("HTTP_UPLOAD_LENGTH", &size),
        ],
        form.as_bytes(),
    );
    let id = answer.rsplit("\r\n\r\n").next().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{answer}");
    let query = format!("patch={id}");
    let mut rng = Lcg(11);
    let mut done = 0usize;
    for round in 0..100 {
        let end = (done + chunk).min(data.len());
        let piece = &data[done..end];
        let (offset, length) = (done.to_string(), piece.len().to_string());
        let mut s = r.connect();
        let mut out = request_head(1, false, &patch_params(&query, &offset, &length, &size));
        let cut = rng.next(piece.len() as u64) as usize;
        out.extend(record(STDIN, 1, &piece[..cut.min(65535)]));
        let _ = s.write_all(&out);
        std::thread::sleep(Duration::from_millis(rng.next(5)));
        r.kill();
        drop(s);
        r.restart();
        assert_eq!(
            head_offset(&r, &query),
            done as u64,
            "round {round}: a cut chunk must not count"
        );
        if done < data.len() {
            assert_eq!(
                sb.restore(&id).status,
                404,
                "round {round}: not complete early"
            );
        }
        // Every fifth round, one chunk goes through whole.
        if round % 5 == 4 && done < data.len() {
            let answer = r.send(&patch_params(&query, &offset, &length, &size), piece);
            assert!(answer.starts_with("Status: 204"), "{answer}");
            done = end;
        }
    }
    while done < data.len() {
        let end = (done + chunk).min(data.len());
        let (offset, length) = (done.to_string(), (end - done).to_string());
        assert!(
            r.send(
                &patch_params(&query, &offset, &length, &size),
                &data[done..end]
            )
            .starts_with("Status: 204")
        );
        done = end;
    }
    assert_eq!(sha256(&sb.restore(&id).body), sha256(&data));
}

/// A small tmpfs, mounted for the test and unmounted after.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root and must be able to mount a tmpfs"
            );
            eprintln!("skipped: cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(Mount(dir.to_owned()))
    }

    fn remount_read_only(&self) {
        assert!(
            Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(&self.0)
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk: a clear error in each widget's format, the partial upload
/// resumes once space is freed, and what was stored before is untouched.
fn disk_full(mode: Mode) {
    let holder = tempfile::tempdir().unwrap();
    let mnt = holder.path().join("small");
    let Some(_mount) = Mount::tmpfs(&mnt, "3m") else {
        return;
    };
    let spool = mnt.join("spool");
    let sb = Sandbox::with_env(mode, &[("UPSPOOL_DIR", spool.to_str().unwrap())]);
    let keep = bytes(10_000, 3);
    let keep_id = "0fa17000-0000-4000-8000-00000000cafe";
    let form = Form::new()
        .field("qquuid", keep_id)
        .field("qqfilename", "keep.bin")
        .file("qqfile", "keep.bin", "application/octet-stream", &keep);
    assert_eq!(sb.send(&Req::new("POST").xhr().form(form)).status, 200);
    // Leave about 1 MiB free.
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![0u8; 1900 * 1024]).unwrap();
    let id = "0fa17000-0000-4000-8000-00000000f011";
    let part = 400 * 1024;
    let data = bytes(3 * part, 4);
    assert_eq!(sb.send(&chunk_req(id, &data, part, 0)).status, 200);
    let mut full = None;
    for i in 1..3 {
        let r = sb.send(&chunk_req(id, &data, part, i));
        if r.status != 200 {
            full = Some(r);
            break;
        }
    }
    let r = full.expect("the disk filled up");
    assert_eq!(r.status, 507, "{}", r.text());
    let j = r.json();
    assert_eq!(j["success"], false);
    assert!(j["error"].as_str().unwrap().contains("space"), "{j}");
    let fp = sb.send(
        &Req::new("POST").form(Form::new().field("filepond", "{}").file(
            "filepond",
            "big.bin",
            "application/octet-stream",
            &bytes(1500 * 1024, 5),
        )),
    );
    assert_eq!(
        (fp.status, fp.reason.as_str()),
        (507, "Insufficient Storage"),
        "{}",
        fp.text()
    );
    assert!(fp.text().contains("space"));
    assert_eq!(sb.info(id).unwrap()["complete"], false);
    std::fs::remove_file(&filler).unwrap();
    for i in 0..3 {
        assert_eq!(sb.send(&chunk_req(id, &data, part, i)).status, 200);
    }
    sb.assert_stored(id, &data);
    sb.assert_stored(keep_id, &keep);
}

/// A spool that became read-only: clear errors, stored files still served.
fn read_only_spool(mode: Mode) {
    let holder = tempfile::tempdir().unwrap();
    let mnt = holder.path().join("ro");
    let Some(mount) = Mount::tmpfs(&mnt, "4m") else {
        return;
    };
    let spool = mnt.join("spool");
    let sb = Sandbox::with_env(mode, &[("UPSPOOL_DIR", spool.to_str().unwrap())]);
    let keep_id = "0fa17000-0000-4000-8000-0000000000ee";
    let form = Form::new()
        .field("qquuid", keep_id)
        .field("qqfilename", "k.txt")
        .file("qqfile", "k.txt", "text/plain", b"kept");
    assert_eq!(sb.send(&Req::new("POST").xhr().form(form)).status, 200);
    mount.remount_read_only();
    let form = Form::new()
        .field("qquuid", "0fa17000-0000-4000-8000-0000000000ef")
        .field("qqfilename", "n.txt")
        .file("qqfile", "n.txt", "text/plain", b"new");
    let r = sb.send(&Req::new("POST").xhr().form(form));
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["success"], false);
    assert!(!r.text().contains(spool.to_str().unwrap()));
    let fp = sb.send(
        &Req::new("POST").form(Form::new().field("filepond", "{}").file(
            "filepond",
            "n.txt",
            "text/plain",
            b"new",
        )),
    );
    assert_eq!(fp.status, 500);
    assert!(!fp.text().is_empty());
    assert_eq!(sb.restore(keep_id).body, b"kept");
}

/// A spool directory that does not exist yet is created on first use.
#[test]
fn a_missing_spool_is_created() {
    let sb = Sandbox::new(Mode::Cgi);
    let deep = sb.outside.path().join("a/b/c/spool");
    let sb2 = Sandbox::with_env(Mode::Cgi, &[("UPSPOOL_DIR", deep.to_str().unwrap())]);
    let form = Form::new()
        .field("qquuid", "made-1")
        .field("qqfilename", "m.txt")
        .file("qqfile", "m.txt", "text/plain", b"made");
    assert_eq!(sb2.send(&Req::new("POST").xhr().form(form)).status, 200);
    assert!(deep.join("complete/made-1").exists());
    drop(sb);
}

/// gc running again and again while an upload is in flight never removes it,
/// nor a young complete upload.
#[test]
fn gc_during_uploads_removes_nothing_active() {
    let sb = Arc::new(Sandbox::with_env(
        Mode::Cgi,
        &[
            ("UPSPOOL_EXPIRE_INCOMPLETE", "2"),
            ("UPSPOOL_EXPIRE_COMPLETE", "1h"),
        ],
    ));
    let young = "0fa17000-0000-4000-8000-00000000000a";
    let form = Form::new()
        .field("qquuid", young)
        .field("qqfilename", "y.txt")
        .file("qqfile", "y.txt", "text/plain", b"young");
    assert_eq!(sb.send(&Req::new("POST").xhr().form(form)).status, 200);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (sb, stop) = (sb.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                assert_eq!(sb.admin(&["gc"]).status.code(), Some(0));
                runs += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            runs
        })
    };
    let id = "0fa17000-0000-4000-8000-00000000000b";
    let part = 20_000;
    let data = bytes(8 * part, 6);
    for i in 0..8 {
        assert_eq!(
            sb.send(&chunk_req(id, &data, part, i)).status,
            200,
            "part {i}"
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(collector.join().unwrap() > 20);
    sb.assert_stored(id, &data);
    assert_eq!(sb.restore(young).body, b"young");
}

/// Two FastCGI servers and CGI processes share one spool and write parts of
/// the same uploads at once: exact bytes, each upload completed once.
#[test]
fn two_fastcgi_servers_and_cgi_share_a_spool() {
    let sb = Arc::new(Sandbox::new(Mode::Cgi));
    let a = Arc::new(sb.start_server(
        &["fastcgi", "--listen", "127.0.0.1:0", "--workers", "4"],
        "FastCGI on ",
    ));
    let b = Arc::new(sb.start_server(
        &["fastcgi", "--listen", "127.0.0.1:0", "--workers", "4"],
        "FastCGI on ",
    ));
    let part = 32 * 1024;
    let uploads: Vec<(String, Arc<Vec<u8>>)> = (0..4)
        .map(|n| {
            (
                format!("0fa17000-0000-4000-8000-0000000005{n:02}"),
                Arc::new(bytes(9 * part + 100 + n * 100, n as u8)),
            )
        })
        .collect();
    let mut threads = Vec::new();
    let cgi_completions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (n, (id, data)) in uploads.iter().enumerate() {
        for via in 0..3 {
            let (sb, a, b, id, data, done) = (
                sb.clone(),
                a.clone(),
                b.clone(),
                id.clone(),
                data.clone(),
                cgi_completions.clone(),
            );
            threads.push(std::thread::spawn(move || {
                // Each transport sends every part (10 of them), in its own order:
                // every part arrives three times.
                for k in 0..10 {
                    let index = (k * 3 + via * 2 + n) % 10;
                    let req = chunk_req(&id, &data, part, index);
                    let status = match via {
                        0 => http_fastcgi(&a.addr, &req),
                        1 => http_fastcgi(&b.addr, &req),
                        _ => {
                            let (r, log) = sb.send_cgi_logged(&req);
                            done.fetch_add(
                                log.matches("complete,").count(),
                                std::sync::atomic::Ordering::SeqCst,
                            );
                            r.status
                        }
                    };
                    assert_eq!(status, 200);
                }
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let server_completions = a.log.lock().unwrap().matches("complete,").count()
        + b.log.lock().unwrap().matches("complete,").count();
    assert_eq!(
        server_completions + cgi_completions.load(std::sync::atomic::Ordering::SeqCst),
        uploads.len(),
        "each upload completes once\n{}\n{}",
        a.log.lock().unwrap(),
        b.log.lock().unwrap()
    );
    for (id, data) in &uploads {
        sb.assert_stored(id, data);
    }
}

/// A request through a FastCGI server at `addr`, built from the CGI variables of `req`.
fn http_fastcgi(addr: &str, req: &Req) -> u16 {
    let content_type = String::from_utf8_lossy(
        &req.headers
            .iter()
            .find(|(n, _)| n == "Content-Type")
            .unwrap()
            .1,
    )
    .into_owned();
    let length = req.body.len().to_string();
    let params = [
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", "/upload"),
        ("QUERY_STRING", ""),
        ("CONTENT_TYPE", content_type.as_str()),
        ("CONTENT_LENGTH", length.as_str()),
        ("HTTP_X_REQUESTED_WITH", "XMLHttpRequest"),
    ];
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = request_head(1, false, &params);
    out.extend(stdin_records(1, &req.body));
    s.write_all(&out).unwrap();
    let answer = String::from_utf8_lossy(&read_answer(&mut s)).into_owned();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn disk_full_cgi() {
    disk_full(Mode::Cgi);
}

#[test]
fn disk_full_fastcgi() {
    disk_full(Mode::FastCgi);
}

#[test]
fn read_only_spool_cgi() {
    read_only_spool(Mode::Cgi);
}

#[test]
fn read_only_spool_fastcgi() {
    read_only_spool(Mode::FastCgi);
}
