//! tus faults (tus.md §7, §9, §11), each resumed the way a client does
//! (HEAD, then PATCH from its offset) and checked by SHA-256 after claim:
//! the server (FastCGI, `serve`) or the CGI killed with SIGKILL 50 times in
//! the middle of one PATCH, and again around completion; clients that go
//! away mid-PATCH; a disk that fills up during a PATCH; a crash between
//! the completion's two renames; two FastCGI servers plus CGI processes
//! PATCHing and terminating the same uploads at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Child;
use std::sync::Mutex;
use std::time::Instant;

use super::*;

/// A well-formed `Upload-Checksum` whose digest (twenty zero bytes) no
/// body here has.
const ANY_SHA1: &str = "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const MIB: usize = 1024 * 1024;

fn tus_delete(id: &str) -> Req {
    tus("DELETE").path(&format!("/{id}"))
}

/// The id at the end of a 201's `Location`.
fn created_id(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.text());
    let location = r.header("Location").expect("a Location");
    let id = location.rsplit('/').next().unwrap();
    assert_hex_id(id);
    id.to_owned()
}

fn offset_of(r: &Resp) -> usize {
    r.header("Upload-Offset")
        .unwrap_or_else(|| panic!("no Upload-Offset in {} {:?}", r.status, r.headers))
        .parse()
        .unwrap()
}

/// `req` through the sandbox's mode, its body written in `pieces` with
/// `pause` between them (a slow client).
fn send_slow(sb: &Sandbox, req: &Req, pieces: usize, pause: Duration) -> Resp {
    sb.stream(req, piece_size(req, pieces), pause, Ending::Whole)
        .expect("an answer")
}

/// The size of each of `pieces` pieces of `req`'s body.
fn piece_size(req: &Req, pieces: usize) -> usize {
    req.body.len().div_ceil(pieces.max(1)).max(1)
}

/// Where the kill test's requests go: a CGI process per request, or a
/// FastCGI / `serve` process that is killed and started again.
enum Front {
    Cgi(Arc<Sandbox>),
    Server(Responder),
}

/// A request whose body is still being written.
struct Streaming {
    out: Box<dyn Write + Send>,
    /// FastCGI: body bytes go in STDIN records.
    framed: bool,
    /// CGI: the process itself.
    child: Option<Child>,
}

impl Streaming {
    fn send(&mut self, bytes: &[u8]) {
        let _ = write_slowly(
            &mut self.out,
            bytes,
            usize::MAX,
            Duration::ZERO,
            self.framed,
        );
        let _ = self.out.flush();
    }

    /// The body is whole: FastCGI's empty STDIN record; the CGI's stdin
    /// closed.
    fn finish(&mut self) {
        if self.framed {
            let _ = self.out.write_all(&record(STDIN, 1, &[]));
            let _ = self.out.flush();
        } else if self.child.is_some() {
            self.out = Box::new(std::io::sink());
        }
    }
}

impl Front {
    /// A FastCGI server (on a Unix socket) on a fresh sandbox's spool.
    fn fastcgi() -> Front {
        Front::Server(Responder::start(Arc::new(Sandbox::new(Mode::Cgi))))
    }

    /// `upspool serve` on a fresh sandbox's spool.
    fn serve() -> Front {
        Front::Server(Responder::serve(Arc::new(Sandbox::new(Mode::Cgi))))
    }

    /// A CGI process per request on a fresh sandbox's spool.
    fn cgi() -> Front {
        Front::Cgi(Arc::new(Sandbox::new(Mode::Cgi)))
    }

    fn sb(&self) -> &Sandbox {
        match self {
            Front::Cgi(sb) => sb,
            Front::Server(r) => &r.sb,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Front::Cgi(_) => "CGI",
            Front::Server(r) if r.serve => "serve",
            Front::Server(_) => "FastCGI",
        }
    }

    fn send(&self, req: &Req) -> Resp {
        match self {
            Front::Cgi(sb) => sb.send(req),
            Front::Server(r) if r.serve => http_exchange(r.addr(), "/upload", req),
            Front::Server(r) => fastcgi_stream(
                &format!("unix:{}", r.socket.display()),
                req,
                usize::MAX,
                Duration::ZERO,
                Ending::Whole,
            )
            .expect("an answer"),
        }
    }

    /// Starts `req` (its length announced by `declare`), with only the
    /// first bytes of its body written.
    fn start(&self, req: &Req, first: &[u8]) -> Streaming {
        let mut s = match self {
            Front::Cgi(sb) => {
                let mut child = sb.spawn_cgi(req);
                Streaming {
                    out: Box::new(child.stdin.take().unwrap()),
                    framed: false,
                    child: Some(child),
                }
            }
            Front::Server(r) if r.serve => {
                let mut s = std::net::TcpStream::connect(r.addr()).unwrap();
                s.write_all(&http_head(r.addr(), "/upload", req)).unwrap();
                Streaming {
                    out: Box::new(s),
                    framed: false,
                    child: None,
                }
            }
            Front::Server(r) => {
                let mut s = r.connect();
                s.write_all(&fastcgi_head(req)).unwrap();
                Streaming {
                    out: Box::new(s),
                    framed: true,
                    child: None,
                }
            }
        };
        s.send(first);
        s
    }

    /// The client goes away mid-body, the server stays: FastCGI's
    /// connection closed (or, with `abort`, FCGI_ABORT_REQUEST first),
    /// `serve`'s connection closed, the CGI's stdin closed short.
    fn vanish(&self, mut s: Streaming, abort: bool) {
        if abort && s.framed {
            let _ = s.out.write_all(&record(ABORT, 1, &[]));
            let _ = s.out.flush();
        }
        drop(s.out);
        if let Some(mut child) = s.child {
            child.wait().unwrap();
        }
    }

    /// SIGKILL: the CGI process, or the server (then started again).
    fn kill(&mut self, s: Streaming) {
        match self {
            Front::Cgi(_) => {
                let mut child = s.child.unwrap();
                child.kill().unwrap();
                child.wait().unwrap();
                drop(s.out);
            }
            Front::Server(r) => {
                r.kill();
                drop(s);
                r.restart();
            }
        }
    }

    fn log(&self) -> String {
        match self {
            Front::Cgi(_) => String::new(),
            Front::Server(r) => r.log(),
        }
    }
}

fn head_offset_of(front: &Front, id: &str) -> usize {
    let r = front.send(&tus_head(id));
    assert_eq!(r.status, 200, "HEAD {id}: {}", front.log());
    offset_of(&r)
}

/// The first `offset` bytes of the incoming upload's data file are the
/// source's: the recorded offset covers nothing that was not stored.
fn assert_prefix_stored(spool: &Path, id: &str, offset: usize, data: &[u8], round: usize) {
    let stored = std::fs::read(spool.join("incoming").join(id)).unwrap();
    assert!(
        stored.len() >= offset,
        "round {round}: the offset {offset} covers more than the {} bytes on disk",
        stored.len()
    );
    if stored[..offset] != data[..offset] {
        let first = (0..offset).find(|&i| stored[i] != data[i]).unwrap();
        panic!("round {round}: byte {first} of the {offset} recorded differs from the source");
    }
}

/// `upspool claim` into the outside directory; the claimed bytes' SHA-256
/// equals the source's.
fn assert_claimed(sb: &Sandbox, id: &str, data: &[u8]) {
    let claimed = sb.claim(id);
    assert_eq!(claimed.len(), data.len(), "claimed length of {id}");
    assert_eq!(sha256(&claimed), sha256(data), "claimed bytes of {id}");
}

/// kill -9 at random points of one whole-file PATCH, 50 times, each time
/// resuming from HEAD's offset: HEAD never goes back, never covers a byte
/// that was not sent, and the stored prefix is always the source's; every
/// fifth round pauses over a second mid-body and sees the offset advance
/// while the PATCH still streams (the 1 s rule), and every fifth carries
/// an `Upload-Checksum` and keeps nothing; at the end the claimed file is
/// byte-identical.
fn kill_9_mid_patch_50_times_then_resume(mut front: Front, seed: u64) {
    let started = Instant::now();
    let mut rng = Lcg(seed);
    let size = (16 + rng.next(16) as usize) * MIB + rng.next(MIB as u64) as usize;
    let data = large_bytes(size, seed);
    let id = created_id(&front.send(&tus_create(size)));
    let (mut known, mut above_zero, mut advanced) = (0usize, 0usize, 0usize);
    for round in 0..50 {
        let offset = head_offset_of(&front, &id);
        assert!(
            offset >= known,
            "{} round {round}: the offset went back from {known} to {offset}",
            front.name()
        );
        assert!(
            offset < size,
            "round {round}: complete without the last bytes"
        );
        assert_prefix_stored(&front.sb().spool, &id, offset, &data, round);
        if offset > 0 {
            above_zero += 1;
        }
        if offset > known {
            advanced += 1;
        }
        let rest = &data[offset..];
        let timed = round % 5 == 2 && rest.len() > MIB;
        // Every fifth round carries a checksum: killed before its body
        // could be verified, it keeps nothing (tus.md §11).
        let checksummed = round % 5 == 4;
        let mut req = tus_patch(&id, offset, &[]).declare(rest.len() as u64);
        if checksummed {
            req = req.header("Upload-Checksum", ANY_SHA1);
        }
        let cut = if timed {
            rng.next((rest.len() - 768 * 1024) as u64) as usize
        } else {
            rng.next(rest.len() as u64) as usize
        };
        let mut s = front.start(&req, &rest[..cut]);
        let mut sent = offset + cut;
        if timed {
            // Over a second into the PATCH, more bytes arrive: the offset
            // recorded while it still streams covers what came before.
            std::thread::sleep(Duration::from_millis(1100));
            s.send(&rest[cut..cut + 512 * 1024]);
            sent += 512 * 1024;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let now = head_offset_of(&front, &id);
                assert!(
                    now <= sent,
                    "round {round}: offset {now} beyond {sent} sent"
                );
                if now >= offset + cut {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} round {round}: 1.1 s into a PATCH that sent {cut} bytes from {offset}, \
                     the offset is still {now}\n{}",
                    front.name(),
                    front.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            std::thread::sleep(Duration::from_millis(rng.next(25)));
        }
        front.kill(s);
        let after = head_offset_of(&front, &id);
        assert!(
            after <= sent,
            "{} round {round}: the offset {after} covers bytes never sent (sent up to {sent})",
            front.name()
        );
        assert!(after >= offset, "round {round}: {after} < {offset}");
        if checksummed {
            assert_eq!(
                after,
                offset,
                "{} round {round}: a checksummed PATCH killed after {cut} bytes kept some",
                front.name()
            );
        }
        known = offset;
    }
    let offset = head_offset_of(&front, &id);
    assert_prefix_stored(&front.sb().spool, &id, offset, &data, 50);
    let r = front.send(&tus_patch(&id, offset, &data[offset..]));
    assert_eq!(r.status, 204, "{}\n{}", r.text(), front.log());
    assert_eq!(offset_of(&r), size);
    let info = front.sb().info(&id).expect("the upload");
    assert_eq!(info["complete"], true, "{info}");
    assert_claimed(front.sb(), &id, &data);
    eprintln!(
        "{}: {size} bytes, 50 kills; {above_zero} resumes started above 0, the offset advanced \
         in {advanced} rounds, the last resume at {offset}; {:.1} s",
        front.name(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        above_zero >= 40,
        "only {above_zero} of 50 resumes started above 0: progress is not recorded"
    );
}

#[test]
fn tus_kill_9_mid_patch_50_times_then_resume() {
    kill_9_mid_patch_50_times_then_resume(Front::fastcgi(), 21);
}

#[test]
fn tus_serve_kill_9_mid_patch_50_times_then_resume() {
    kill_9_mid_patch_50_times_then_resume(Front::serve(), 22);
}

#[test]
fn tus_cgi_kill_9_mid_patch_50_times_then_resume() {
    kill_9_mid_patch_50_times_then_resume(Front::cgi(), 23);
}

/// A disk that fills up in the middle of a slow PATCH: 507 with a
/// text/plain sentence; what an earlier PATCH stored stays, and so does
/// what the failing PATCH recorded before the disk filled (the 1 s rule);
/// once space is freed, HEAD then a PATCH from its offset completes the
/// upload byte-identical.
fn tus_disk_full_mid_patch(mode: Mode) {
    let holder = tempfile::tempdir().unwrap();
    let mnt = holder.path().join("small");
    let Some(_mount) = Mount::tmpfs(&mnt, "4m") else {
        return;
    };
    let spool = mnt.join("spool");
    let sb = Sandbox::with_env(mode, &[("UPSPOOL_DIR", spool.to_str().unwrap())]);
    let size = 3 * MIB + 12_345;
    let data = large_bytes(size, 31);
    let id = created_id(&sb.send(&tus_create(size)));
    let first = 512 * 1024;
    let r = sb.send(&tus_patch(&id, 0, &data[..first]));
    assert_eq!(r.status, 204, "{}", r.text());
    // Fill the disk, then free 2 MiB: the rest (2.5 MiB) does not fit.
    let filler = mnt.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(2 * MIB as u64)).unwrap();
    }
    // The rest in five pieces 0.6 s apart: the third arrives 1.2 s into
    // the PATCH and fits, so the offset is recorded past the first two;
    // the fourth or fifth finds the disk full.
    let r = send_slow(
        &sb,
        &tus_patch(&id, first, &data[first..]),
        5,
        Duration::from_millis(600),
    );
    assert_eq!(
        (r.status, r.reason.as_str()),
        (507, "Insufficient Storage"),
        "{}\n{}",
        r.text(),
        sb.server_log()
    );
    let text = assert_tus_sentence(&r, &spool, false);
    assert!(text.contains("space"), "one sentence: {text:?}");
    let h = sb.send(&tus_head(&id));
    assert_eq!(h.status, 200);
    let offset = offset_of(&h);
    let piece = (size - first).div_ceil(5);
    assert!(
        (first + 2 * piece..size).contains(&offset),
        "after the full disk, HEAD says {offset}: what arrived over 1 s before is lost \
         (it had {first}, then {} more arrived before the disk filled)\n{}",
        2 * piece,
        sb.server_log()
    );
    assert_prefix_stored(&spool, &id, offset, &data, 0);
    eprintln!("{mode:?}: 507 after a slow PATCH from {first}; HEAD then says {offset} of {size}");
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
    // Still full: the same again, nothing lost.
    let r = sb.send(&tus_patch(&id, offset, &data[offset..]));
    assert_eq!(r.status, 507, "{}", r.text());
    std::fs::remove_file(&filler).unwrap();
    let offset = offset_of(&sb.send(&tus_head(&id)));
    assert!(offset >= first);
    let r = sb.send(&tus_patch(&id, offset, &data[offset..]));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(offset_of(&r), size);
    assert_claimed(&sb, &id, &data);
}

#[test]
fn tus_disk_full_mid_patch_cgi() {
    tus_disk_full_mid_patch(Mode::Cgi);
}

#[test]
fn tus_disk_full_mid_patch_fastcgi() {
    tus_disk_full_mid_patch(Mode::FastCgi);
}

#[test]
fn tus_disk_full_mid_patch_serve() {
    tus_disk_full_mid_patch(Mode::Http);
}

/// Two FastCGI servers and the CGI, on one spool.
struct Hosts {
    sb: Arc<Sandbox>,
    a: Server,
    b: Server,
    /// Every status answered, by request kind.
    seen: Mutex<BTreeMap<(String, u16), usize>>,
}

impl Hosts {
    const NAMES: [&'static str; 3] = ["FastCGI A", "FastCGI B", "CGI"];

    /// `req` through transport `via`, its body in `pieces` with `pause`
    /// between them.
    fn send_slow(&self, via: usize, req: &Req, pieces: usize, pause: Duration) -> Resp {
        let r = match via {
            0 | 1 => {
                let server = if via == 0 { &self.a } else { &self.b };
                let chunk = piece_size(req, pieces);
                fastcgi_stream(&server.addr, req, chunk, pause, Ending::Whole)
                    .expect("a FastCGI answer")
            }
            _ => send_slow(&self.sb, req, pieces, pause),
        };
        *self
            .seen
            .lock()
            .unwrap()
            .entry((req.method.clone(), r.status))
            .or_default() += 1;
        if r.status >= 500 {
            panic!(
                "{} {} via {}: {} {}\n--- A\n{}\n--- B\n{}",
                req.method,
                req.path_info,
                Self::NAMES[via],
                r.status,
                r.text(),
                self.a.log.lock().unwrap(),
                self.b.log.lock().unwrap()
            );
        }
        r
    }

    fn send(&self, via: usize, req: &Req) -> Resp {
        self.send_slow(via, req, 1, Duration::ZERO)
    }
}

/// A PATCH answered 204: who sent which bytes where.
#[derive(Clone, Copy, Debug)]
struct Accepted {
    offset: usize,
    len: usize,
    writer: usize,
}

/// Two FastCGI servers and CGI processes PATCH the same tus uploads at
/// once (each writer its own bytes, some of them slowly, holding the
/// upload longer than the lock timeout) while others are terminated at
/// random moments. Losers get 409, 423 or 404 and nothing else; no 5xx;
/// every upload ends complete or terminated; a complete upload is exactly
/// the PATCHes answered 204, tiled without gap or overlap (bytes never
/// interleave), compared by SHA-256 after claim; a terminated one leaves
/// no file; no data file is left without its record.
#[test]
fn tus_two_fastcgi_servers_and_cgi_patch_and_terminate_one_spool() {
    let started = Instant::now();
    let sb = Arc::new(Sandbox::with_env(
        Mode::Cgi,
        &[("UPSPOOL_LOCK_TIMEOUT", "1")],
    ));
    let server = || {
        sb.start_server(
            &["fastcgi", "--listen", "127.0.0.1:0", "--workers", "4"],
            "FastCGI on ",
        )
    };
    let hosts = Arc::new(Hosts {
        sb: sb.clone(),
        a: server(),
        b: server(),
        seen: Mutex::new(BTreeMap::new()),
    });
    const ROUNDS: usize = 8;
    const UPLOADS: usize = 4;
    const WRITERS: usize = 3;
    let (mut completed, mut terminated) = (0, 0);
    for round in 0..ROUNDS {
        let mut rng = Lcg(100 + round as u64);
        let uploads: Vec<(String, usize, bool)> = (0..UPLOADS)
            .map(|u| {
                let size = 256 * 1024 + rng.next(1536 * 1024) as usize;
                let id = created_id(&hosts.send(u % 3, &tus_create(size)));
                (id, size, (u + round) % 2 == 0)
            })
            .collect();
        let accepted = Arc::new(Mutex::new(vec![Vec::<Accepted>::new(); UPLOADS]));
        let mut threads = Vec::new();
        for (u, (id, size, terminate)) in uploads.iter().cloned().enumerate() {
            for w in 0..WRITERS {
                let (hosts, accepted, id) = (hosts.clone(), accepted.clone(), id.clone());
                let seed = (round * 100 + u * 10 + w) as u64;
                threads.push(std::thread::spawn(move || {
                    let mine = large_bytes(size, seed);
                    let mut rng = Lcg(seed);
                    for _ in 0..400 {
                        let via = (w + rng.next(3) as usize) % 3;
                        let h = hosts.send(via, &tus_head(&id));
                        if h.status == 404 {
                            assert!(terminate, "{id} vanished without a termination");
                            return;
                        }
                        assert_eq!(h.status, 200);
                        let offset = offset_of(&h);
                        if offset == size {
                            return;
                        }
                        let len = if rng.next(3) == 0 {
                            size - offset
                        } else {
                            1 + rng.next((size - offset).min(384 * 1024) as u64) as usize
                        };
                        // One PATCH in six streams for ~1.2 s in four pieces:
                        // longer than the lock timeout.
                        let (pieces, pause) = if rng.next(6) == 0 {
                            (4, Duration::from_millis(400))
                        } else {
                            (1, Duration::ZERO)
                        };
                        let req = tus_patch(&id, offset, &mine[offset..offset + len]);
                        let r = hosts.send_slow(via, &req, pieces, pause);
                        match r.status {
                            204 => {
                                assert_eq!(offset_of(&r), offset + len, "{id}");
                                accepted.lock().unwrap()[u].push(Accepted {
                                    offset,
                                    len,
                                    writer: w,
                                });
                            }
                            409 | 423 => {}
                            404 => assert!(terminate, "PATCH {id}: 404 {}", r.text()),
                            s => panic!("PATCH {id} via {}: {s} {}", Hosts::NAMES[via], r.text()),
                        }
                    }
                    panic!("{id}: 400 PATCHes and still not done");
                }));
            }
            if terminate {
                let (hosts, id) = (hosts.clone(), id.clone());
                let (pause, via) = (rng.next(600), rng.next(3) as usize);
                threads.push(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(pause));
                    let r = hosts.send(via, &tus_delete(&id));
                    assert_eq!(r.status, 204, "DELETE {id}: {}", r.text());
                    let h = hosts.send((via + 1) % 3, &tus_head(&id));
                    assert_eq!(h.status, 404, "HEAD after DELETE {id}");
                }));
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        let accepted = accepted.lock().unwrap();
        for (u, (id, size, terminate)) in uploads.iter().enumerate() {
            if *terminate {
                sb.assert_absent(id);
                for dir in ["incoming", "complete", "tmp"] {
                    for entry in std::fs::read_dir(sb.spool.join(dir)).unwrap() {
                        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                        assert!(
                            !name.starts_with(id.as_str()),
                            "terminated {id} left {dir}/{name}"
                        );
                    }
                }
                terminated += 1;
                continue;
            }
            // The accepted PATCHes tile the upload: no gap, no overlap.
            let mut parts = accepted[u].clone();
            parts.sort_by_key(|p| p.offset);
            let mut expected = Vec::with_capacity(*size);
            for p in &parts {
                assert_eq!(
                    p.offset,
                    expected.len(),
                    "{id}: accepted PATCHes overlap or leave a gap: {parts:?}"
                );
                let seed = (round * 100 + u * 10 + p.writer) as u64;
                expected.extend_from_slice(&large_bytes(*size, seed)[p.offset..p.offset + p.len]);
            }
            assert_eq!(expected.len(), *size, "{id}: {parts:?}");
            assert_eq!(sb.info(id).expect("complete")["complete"], true);
            assert_claimed(&sb, id, &expected);
            completed += 1;
        }
    }
    // Nothing is left: no data file without its record, nothing in tmp/.
    for dir in ["incoming", "complete", "tmp"] {
        let names: Vec<String> = std::fs::read_dir(sb.spool.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.is_empty(), "{dir}/ still holds {names:?}");
    }
    let seen = hosts.seen.lock().unwrap();
    eprintln!(
        "{ROUNDS} rounds: {completed} uploads completed, {terminated} terminated; statuses {seen:?}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(completed > 0 && terminated > 0);
    for status in [409, 423] {
        assert!(
            seen.get(&("PATCH".to_string(), status)).is_some(),
            "no PATCH lost with {status}: {seen:?}"
        );
    }
}

/// kill -9 just after the last byte of a whole-file PATCH, at random
/// moments around the completion (fsync, the two renames, the records),
/// 40 uploads: afterwards HEAD answers 200 with the length when the
/// upload completed, else with an offset it resumes from; every upload
/// ends byte-identical after claim.
fn kill_9_around_completion(mut front: Front, seed: u64) {
    let started = Instant::now();
    let mut rng = Lcg(seed);
    let (mut completed, mut resumed) = (0, 0);
    for round in 0..40 {
        let size = 256 * 1024 + rng.next(MIB as u64) as usize;
        let data = large_bytes(size, seed * 1000 + round);
        let id = created_id(&front.send(&tus_create(size)));
        let mut s = front.start(&tus_patch(&id, 0, &[]).declare(size as u64), &data);
        s.finish();
        std::thread::sleep(Duration::from_micros(rng.next(8000)));
        front.kill(s);
        let h = front.send(&tus_head(&id));
        assert_eq!(
            h.status,
            200,
            "{} round {round}: HEAD {}\n{}",
            front.name(),
            h.text(),
            front.log()
        );
        let offset = offset_of(&h);
        assert!(offset <= size);
        if offset == size {
            completed += 1;
        } else {
            resumed += 1;
            let r = front.send(&tus_patch(&id, offset, &data[offset..]));
            assert_eq!(
                r.status,
                204,
                "{} round {round}: the PATCH resuming at {offset} after HEAD: {}\n{}",
                front.name(),
                r.text(),
                front.log()
            );
            assert_eq!(offset_of(&r), size);
        }
        assert_claimed(front.sb(), &id, &data);
    }
    eprintln!(
        "{}: 40 kills around completion; {completed} had completed, {resumed} resumed; {:.1} s",
        front.name(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn tus_kill_9_around_completion_then_resume() {
    kill_9_around_completion(Front::fastcgi(), 41);
}

#[test]
fn tus_cgi_kill_9_around_completion_then_resume() {
    kill_9_around_completion(Front::cgi(), 42);
}

/// A crash between the two renames of a completion (the data already in
/// `complete/`, its record not yet; `README.md`: "a crash left it") leaves
/// an incoming upload that HEAD reports: the PATCH a client sends next,
/// from HEAD's offset, must resume it (the spool rolls the rename back),
/// not answer 404.
fn tus_patch_after_a_crash_between_the_completion_renames(mode: Mode) {
    let sb = Sandbox::new(mode);
    let size = 300_000;
    let data = large_bytes(size, 51);
    let id = created_id(&sb.send(&tus_create(size)));
    let half = size / 2;
    let r = sb.send(&tus_patch(&id, 0, &data[..half]));
    assert_eq!(r.status, 204, "{}", r.text());
    // The state a SIGKILL between `rename(incoming/<id>, complete/<id>)`
    // and the record's rename leaves.
    std::fs::rename(
        sb.spool.join("incoming").join(&id),
        sb.spool.join("complete").join(&id),
    )
    .unwrap();
    let h = sb.send(&tus_head(&id));
    assert_eq!(h.status, 200, "HEAD {}", h.text());
    let offset = offset_of(&h);
    assert_eq!(offset, half);
    let r = sb.send(&tus_patch(&id, offset, &data[offset..]));
    if r.status != 204 {
        // What the same PATCH meets when sent again.
        let again = sb.send(&tus_patch(&id, offset, &data[offset..]));
        panic!(
            "{mode:?}: HEAD said {offset}, the PATCH from there: {} {}; the same PATCH again: {} {}\n{}",
            r.status,
            r.text(),
            again.status,
            again.text(),
            sb.server_log()
        );
    }
    assert_eq!(offset_of(&r), size);
    assert_claimed(&sb, &id, &data);
}

#[test]
fn tus_patch_after_a_crash_between_the_completion_renames_cgi() {
    tus_patch_after_a_crash_between_the_completion_renames(Mode::Cgi);
}

#[test]
fn tus_patch_after_a_crash_between_the_completion_renames_fastcgi() {
    tus_patch_after_a_crash_between_the_completion_renames(Mode::FastCgi);
}

/// A client that goes away in the middle of a PATCH, 20 times over one
/// upload (the server stays up): what arrived is kept and recorded, so
/// HEAD reports exactly the bytes sent (tus.md §7, "once more when the
/// body ends early"); a PATCH carrying a checksum keeps nothing (§11).
fn client_vanishes_mid_patch(front: Front, seed: u64) {
    let started = Instant::now();
    let mut rng = Lcg(seed);
    let size = 8 * MIB + 4321;
    let data = large_bytes(size, seed);
    let id = created_id(&front.send(&tus_create(size)));
    let mut offset = 0;
    for round in 0..20 {
        let rest = &data[offset..];
        let checksummed = round % 4 == 3;
        let mut req = tus_patch(&id, offset, &[]).declare(rest.len() as u64);
        if checksummed {
            req = req.header("Upload-Checksum", ANY_SHA1);
        }
        let cut = 1 + rng.next((rest.len() / 4) as u64) as usize;
        let s = front.start(&req, &rest[..cut]);
        std::thread::sleep(Duration::from_millis(rng.next(20)));
        front.vanish(s, round % 2 == 0);
        let expected = if checksummed { offset } else { offset + cut };
        // The server notices on its own time; the offset settles there.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = head_offset_of(&front, &id);
            assert!(
                now <= expected,
                "{} round {round}: offset {now} beyond the {expected} bytes sent",
                front.name()
            );
            if now == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} round {round}: {cut} bytes sent from {offset}{}, then the client went away; \
                 HEAD still says {now}\n{}",
                front.name(),
                if checksummed { " with a checksum" } else { "" },
                front.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_prefix_stored(&front.sb().spool, &id, expected, &data, round);
        offset = expected;
    }
    let r = front.send(&tus_patch(&id, offset, &data[offset..]));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_claimed(front.sb(), &id, &data);
    eprintln!(
        "{}: 20 clients gone mid-PATCH, resumed each time at the bytes sent; {:.1} s",
        front.name(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn tus_fastcgi_client_vanishes_mid_patch_20_times() {
    client_vanishes_mid_patch(Front::fastcgi(), 61);
}

#[test]
fn tus_serve_client_vanishes_mid_patch_20_times() {
    client_vanishes_mid_patch(Front::serve(), 62);
}

#[test]
fn tus_cgi_client_vanishes_mid_patch_20_times() {
    client_vanishes_mid_patch(Front::cgi(), 63);
}
