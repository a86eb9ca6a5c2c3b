//! Load: 10,000 uploads — Fine Uploader, FilePond and tus, small and
//! chunked, mixed — through nginx → upspool FastCGI at concurrency 64. Zero
//! may fail, every stored file is hashed against what was sent, and the
//! FastCGI process's memory stays flat. Runs under CI, or with UPSPOOL_LOAD=1.

#[path = "../common/mod.rs"]
mod common;
mod site;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use site::*;

const UPLOADS: usize = 10_000;
const CONCURRENCY: usize = 64;

/// The protocols of the mix, in the order they are counted.
const PROTOCOLS: [&str; 3] = ["fine-uploader", "filepond", "tus"];

/// The protocol of upload number `n` (its kind is chosen by `n % 20`).
fn protocol_of(n: usize) -> usize {
    match n % 20 {
        0 | 1 | 10.. => 0,
        2..=5 => 1,
        _ => 2,
    }
}

/// A tus creation answered 201 with the expected `Upload-Offset`; the id
/// from its `Location` (`/upload/<id>` through nginx).
fn tus_created(site: &Site, n: usize, req: &Req, offset: usize) -> String {
    let r = site.send(req);
    assert_eq!(r.status, 201, "upload {n}: {}", r.text());
    assert_eq!(
        r.header("Upload-Offset"),
        Some(offset.to_string().as_str()),
        "upload {n}"
    );
    let location = r.header("Location").expect("a Location");
    let id = location
        .strip_prefix("/upload/")
        .unwrap_or_else(|| panic!("upload {n}: Location {location}"));
    assert_hex_id(id);
    id.to_owned()
}

/// A tus upload of `data`: its creation (with `Upload-Metadata` when
/// given) carries the first `first` bytes (creation-with-upload when that
/// is more than none), the rest follows in `pieces` PATCHes. Returns the id.
fn tus_upload(
    site: &Site,
    n: usize,
    data: &[u8],
    first: usize,
    metadata: Option<&str>,
    pieces: usize,
) -> String {
    let mut create = tus_create(data.len());
    if let Some(metadata) = metadata {
        create = create.header("Upload-Metadata", metadata);
    }
    if first > 0 {
        create = create
            .header("Content-Type", OCTETS)
            .body(data[..first].to_vec());
    }
    let id = tus_created(site, n, &create, first);
    if first < data.len() {
        tus_patches(site, n, &id, data, first, pieces);
    }
    id
}

/// tus PATCHes of `data` from `from` in `pieces` requests, each answered 204
/// with the running offset.
fn tus_patches(site: &Site, n: usize, id: &str, data: &[u8], from: usize, pieces: usize) {
    let step = (data.len() - from).div_ceil(pieces).max(1);
    let mut off = from;
    while off < data.len() {
        let end = (off + step).min(data.len());
        let r = site.send(&tus_patch(id, off, &data[off..end]));
        assert_eq!(r.status, 204, "upload {n} at {off}: {}", r.text());
        assert_eq!(
            r.header("Upload-Offset"),
            Some(end.to_string().as_str()),
            "upload {n}"
        );
        off = end;
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sends upload number `n` (its kind chosen by `n`) and returns its id and bytes.
fn upload(site: &Site, n: usize) -> (String, Vec<u8>) {
    let size = 1000 + (n * 7919) % 20_000;
    let data = bytes(size, n as u8);
    match n % 20 {
        // Fine Uploader, chunked: three parts.
        0 | 1 => {
            let id = format!("10ad0000-0000-4000-8000-{n:012x}");
            let part = size.div_ceil(3);
            for i in 0..3 {
                let bytes = &data[i * part..((i + 1) * part).min(size)];
                let form = Form::new()
                    .field("qqpartindex", i.to_string())
                    .field("qqpartbyteoffset", (i * part).to_string())
                    .field("qqchunksize", bytes.len().to_string())
                    .field("qqtotalparts", "3")
                    .field("qqtotalfilesize", size.to_string())
                    .field("qquuid", &id)
                    .field("qqfilename", "chunked.bin")
                    .file("qqfile", "blob", "application/octet-stream", bytes);
                let r = site.send(&Req::new("POST").xhr().form(form));
                assert_eq!(r.status, 200, "upload {n} part {i}: {}", r.text());
            }
            (id, data)
        }
        // FilePond, chunked: start and three PATCHes.
        2 => {
            let r = site.send(
                &Req::new("POST")
                    .header("Upload-Length", size.to_string())
                    .form(Form::new().field("filepond", "{}")),
            );
            assert_eq!(r.status, 201, "upload {n}: {}", r.text());
            let id = r.text();
            let chunk = size.div_ceil(3);
            let mut off = 0;
            while off < size {
                let end = (off + chunk).min(size);
                let r = site.send(
                    &Req::new("PATCH")
                        .query(&format!("patch={id}"))
                        .header("Content-Type", "application/offset+octet-stream")
                        .header("Upload-Offset", off.to_string())
                        .header("Upload-Length", size.to_string())
                        .header("Upload-Name", "pond.bin")
                        .body(data[off..end].to_vec()),
                );
                assert_eq!(r.status, 204, "upload {n} at {off}: {}", r.text());
                off = end;
            }
            (id, data)
        }
        // FilePond process.
        3..=5 => {
            let r = site.send(
                &Req::new("POST").form(Form::new().field("filepond", "{}").file(
                    "filepond",
                    "p.bin",
                    "application/octet-stream",
                    &data,
                )),
            );
            assert_eq!(r.status, 201, "upload {n}: {}", r.text());
            (r.text(), data)
        }
        // tus: creation, then the whole file in one PATCH.
        6 => (tus_upload(site, n, &data, 0, None, 1), data),
        // tus: creation with metadata, then three PATCHes.
        7 => {
            let metadata = "filename dHVzLmJpbg==,filetype YXBwbGljYXRpb24vb2N0ZXQtc3RyZWFt";
            (tus_upload(site, n, &data, 0, Some(metadata), 3), data)
        }
        // tus: creation-with-upload of the whole file.
        8 => (tus_upload(site, n, &data, size, None, 0), data),
        // tus: creation-with-upload of a part, the rest in two PATCHes.
        9 => (tus_upload(site, n, &data, size / 3, None, 2), data),
        // Fine Uploader simple upload.
        _ => {
            let id = format!("10ad0000-0000-4000-8000-{n:012x}");
            let form = Form::new()
                .field("qquuid", &id)
                .field("qqfilename", "simple.bin")
                .field("qqtotalfilesize", size.to_string())
                .file("qqfile", "simple.bin", "application/octet-stream", &data);
            let r = site.send(&Req::new("POST").xhr().form(form));
            assert_eq!(r.status, 200, "upload {n}: {}", r.text());
            (id, data)
        }
    }
}

#[test]
fn ten_thousand_mixed_uploads_at_concurrency_64() {
    if std::env::var_os("CI").is_none() && std::env::var_os("UPSPOOL_LOAD").is_none() {
        eprintln!("skipped: the load test runs under CI (or with UPSPOOL_LOAD=1)");
        return;
    }
    if !have("nginx") {
        return;
    }
    let mut site = Site::new();
    site.nginx_fastcgi();
    site.endpoint = "/upload".into();
    let site = Arc::new(site);
    let upspool_pid = site.pid(0);
    let next = Arc::new(AtomicUsize::new(0));
    let verified: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let rss_at_quarter = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (site, next, verified, quarter) = (
                site.clone(),
                next.clone(),
                verified.clone(),
                rss_at_quarter.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= UPLOADS {
                        return;
                    }
                    if n == UPLOADS / 4 {
                        quarter.store(peak_rss_kib(upspool_pid) as usize, Ordering::SeqCst);
                    }
                    let (id, data) = upload(&site, n);
                    let protocol = protocol_of(n);
                    // tus uploads come back through tus's own GET <endpoint>/<id>.
                    let r = if PROTOCOLS[protocol] == "tus" {
                        site.send(&tus("GET").path(&format!("/{id}")))
                    } else {
                        site.send(&Req::new("GET").query(&format!("restore={id}")))
                    };
                    assert_eq!(r.status, 200, "restore of upload {n}");
                    assert_eq!(sha256(&r.body), sha256(&data), "upload {n} is corrupted");
                    verified[protocol].fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("no upload failed");
    }
    let seconds = started.elapsed().as_secs_f64();
    let quarter = rss_at_quarter.load(Ordering::SeqCst) as u64;
    let end = peak_rss_kib(upspool_pid);
    let counts: Vec<usize> = verified.iter().map(|v| v.load(Ordering::SeqCst)).collect();
    let total: usize = counts.iter().sum();
    eprintln!(
        "load: {total} uploads verified ({}) in {seconds:.1} s ({:.0} uploads/s); FastCGI peak RSS {quarter} KiB at 25 %, {end} KiB at the end",
        PROTOCOLS
            .iter()
            .zip(&counts)
            .map(|(p, c)| format!("{p} {c}"))
            .collect::<Vec<_>>()
            .join(", "),
        UPLOADS as f64 / seconds
    );
    // Zero lost, in every protocol.
    for (p, name) in PROTOCOLS.iter().enumerate() {
        let sent = (0..UPLOADS).filter(|&n| protocol_of(n) == p).count();
        assert_eq!(
            counts[p], sent,
            "{name}: {sent} sent, {} verified",
            counts[p]
        );
    }
    assert_eq!(total, UPLOADS);
    assert!(end < 64 * 1024, "peak RSS {end} KiB");
    assert!(
        end <= quarter + 8 * 1024,
        "memory grew from {quarter} KiB to {end} KiB"
    );
}
