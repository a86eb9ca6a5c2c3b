//! The conformance cases of `tus.md` §14 (TUS-01 … TUS-37), each run as
//! CGI, FastCGI and over `upspool serve` (see `in_every_mode!` at the
//! bottom).

mod common;

use common::*;

/// The extensions advertised (tus.md §4): all seven.
const EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,termination,\
                          checksum,expiration,concatenation";
/// The checksum algorithms of tus.md §11.
const ALGORITHMS: [&str; 4] = ["sha1", "sha256", "sha512", "md5"];
const EXPIRE_INCOMPLETE: &str = "UPSPOOL_EXPIRE_INCOMPLETE";

/// Standard base64 with padding.
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The endpoint's path in this mode (the CGI's `SCRIPT_NAME`, or `serve`'s).
fn script(m: Mode) -> &'static str {
    match m {
        Mode::Cgi | Mode::FastCgi => SCRIPT,
        Mode::Http => "/upload",
    }
}

/// A creation answered 201; the id from its `Location`.
fn created(sb: &Sandbox, req: &Req) -> String {
    let r = sb.send(req);
    assert_eq!(r.status, 201, "{}", r.text());
    id_of(sb.mode, &r)
}

fn id_of(m: Mode, r: &Resp) -> String {
    let location = r.header("Location").expect("a Location");
    let id = location
        .strip_prefix(&format!("{}/", script(m)))
        .unwrap_or_else(|| panic!("Location {location:?} is not under {}", script(m)));
    assert_hex_id(id);
    id.to_owned()
}

fn patch_ok(sb: &Sandbox, id: &str, offset: usize, data: &[u8]) -> Resp {
    let r = sb.send(&tus_patch(id, offset, data));
    assert_eq!(r.status, 204, "PATCH at {offset}: {}", r.text());
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    assert_eq!(
        r.header("Upload-Offset"),
        Some((offset + data.len()).to_string().as_str())
    );
    r
}

/// `upspool claim`, then the claimed bytes compared by SHA-256.
fn assert_claimed(sb: &Sandbox, id: &str, data: &[u8]) {
    let info = sb.info(id).unwrap_or_else(|| panic!("{id} is absent"));
    assert_eq!(info["complete"], true, "{info}");
    assert_eq!(info["protocol"], "tus", "{info}");
    assert_same_bytes(&sb.claim(id), data);
    sb.assert_absent(id);
}

/// Claimed bytes equal the source's: compared whole (the same verdict as
/// comparing their SHA-256, without hashing 64 MiB in a debug build); the
/// message names the first difference and both digests.
fn assert_same_bytes(got: &[u8], want: &[u8]) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "the claimed bytes differ: {} bytes for {}, first difference at {at}; \
             SHA-256 {} for {}",
            got.len(),
            want.len(),
            sha256(got),
            sha256(want)
        );
    }
}

/// Every file in the spool's entry directories.
fn spool_entries(sb: &Sandbox) -> Vec<String> {
    let mut names = Vec::new();
    for dir in ["incoming", "complete", "tmp"] {
        if let Ok(entries) = std::fs::read_dir(sb.spool.join(dir)) {
            names.extend(entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()));
        }
    }
    names
}

fn assert_refused(sb: &Sandbox, req: &Req, status: u16) -> Resp {
    let r = sb.send(req);
    assert_eq!(r.status, status, "{}", r.text());
    // A HEAD answer has its sentence's length but no body on the wire.
    assert_tus_sentence(&r, &sb.spool, req.method == "HEAD");
    r
}

/// TUS-01 OPTIONS: 204 with the discovery headers: all seven extensions,
/// the four checksum algorithms; for IETF requests also Upload-Limit.
fn tus_01_options(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "123456")]);
    for req in [
        Req::new("OPTIONS"),
        tus("OPTIONS"),
        tus("OPTIONS").path("/0123456789abcdef0123456789abcdef"),
    ] {
        let r = sb.send(&req);
        assert_eq!(r.status, 204);
        assert_eq!(r.header("Tus-Version"), Some("1.0.0"));
        assert_eq!(r.header("Tus-Extension"), Some(EXTENSIONS));
        assert_eq!(r.header("Tus-Max-Size"), Some("123456"));
        let algorithms = r
            .header("Tus-Checksum-Algorithm")
            .expect("Tus-Checksum-Algorithm");
        let listed: Vec<&str> = algorithms.split(',').map(str::trim).collect();
        for a in ALGORITHMS {
            assert!(listed.contains(&a), "{a} in {algorithms}");
        }
    }
    let r = sb.send(&ietf("OPTIONS", "6"));
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Tus-Extension"), Some(EXTENSIONS));
    assert_eq!(r.header("Upload-Limit"), Some("min-size=0,max-size=123456"));
}

/// TUS-02 creation with Upload-Length.
fn tus_02_create(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&tus_create(100));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = id_of(m, &r);
    assert_eq!(r.header("Upload-Offset"), Some("0"));
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    let expires = r.header("Upload-Expires").expect("Upload-Expires");
    assert!(parse_http_date(expires) > now(), "{expires}");
    let info = sb.info(&id).unwrap();
    assert_eq!(info["complete"], false);
    assert_eq!(info["size"], 100);
    assert_eq!(info["protocol"], "tus");
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RFC 9110 IMF-fixdate as Unix seconds (panics on anything else).
fn parse_http_date(text: &str) -> u64 {
    let parts: Vec<&str> = text.split(' ').collect();
    assert_eq!(parts.len(), 6, "{text}");
    assert!(parts[0].ends_with(',') && parts[5] == "GMT", "{text}");
    let day: i64 = parts[1].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap_or_else(|| panic!("{text}")) as i64
        + 1;
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<u64> = parts[4].split(':').map(|p| p.parse().unwrap()).collect();
    // days_from_civil
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as u64 * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// TUS-03 an unsupported Tus-Resumable: 412 with Tus-Version, nothing created.
fn tus_03_version(m: Mode) {
    let sb = Sandbox::new(m);
    let req = Req::new("POST")
        .header("Tus-Resumable", "0.2.2")
        .header("Upload-Length", "10");
    let r = assert_refused(&sb, &req, 412);
    assert_eq!(r.header("Tus-Version"), Some("1.0.0"));
    assert!(r.header("Location").is_none());
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
}

/// TUS-04 bad length headers: 400 each, nothing created.
fn tus_04_bad_lengths(m: Mode) {
    let sb = Sandbox::new(m);
    let cases: Vec<Req> = vec![
        tus("POST"),
        tus("POST")
            .header("Upload-Length", "10")
            .header("Upload-Defer-Length", "1"),
        tus("POST").header("Upload-Defer-Length", "2"),
        tus("POST").header("Upload-Length", "-5"),
        tus("POST").header("Upload-Length", "+5"),
        tus("POST").header("Upload-Length", "1e3"),
    ];
    for req in &cases {
        assert_refused(&sb, req, 400);
    }
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
}

/// TUS-05 Upload-Length above max_size: 413.
fn tus_05_too_large(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "1000")]);
    assert_refused(&sb, &tus_create(1001), 413);
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
    created(&sb, &tus_create(1000));
}

/// TUS-06 Upload-Metadata decoded into the record.
fn tus_06_metadata(m: Mode) {
    let sb = Sandbox::new(m);
    let metadata = format!(
        "filename {},filetype {}, name {} ,type {},empty,unicode {}",
        b64("Grüße ✓.txt".as_bytes()),
        b64(b"text/plain"),
        b64(b"other.bin"),
        b64(b"application/x-other"),
        b64("日本語".as_bytes()),
    );
    let id = created(&sb, &tus_create(5).header("Upload-Metadata", &metadata));
    let info = sb.info(&id).unwrap();
    assert_eq!(info["name"], "Grüße ✓.txt", "{info}");
    assert_eq!(info["type"], "text/plain", "{info}");
    let md = &info["metadata"];
    assert_eq!(md["filename"], "Grüße ✓.txt", "{info}");
    assert_eq!(md["filetype"], "text/plain");
    assert_eq!(md["name"], "other.bin");
    assert_eq!(md["type"], "application/x-other");
    assert_eq!(md["empty"], "");
    assert_eq!(md["unicode"], "日本語");
    // Without filename/filetype, name and type are used.
    let id = created(
        &sb,
        &tus_create(5).header(
            "Upload-Metadata",
            format!("name {},type {}", b64(b"n.png"), b64(b"image/png")),
        ),
    );
    let info = sb.info(&id).unwrap();
    assert_eq!(
        (info["name"].as_str(), info["type"].as_str()),
        (Some("n.png"), Some("image/png"))
    );
}

/// TUS-07 malformed metadata: 400.
fn tus_07_bad_metadata(m: Mode) {
    let sb = Sandbox::new(m);
    for md in [
        format!("bad key {}", b64(b"x")),
        "filename not*base64".to_string(),
        format!("a {},a {}", b64(b"x"), b64(b"y")),
    ] {
        assert_refused(&sb, &tus_create(5).header("Upload-Metadata", &md), 400);
    }
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
}

/// TUS-08 allowed_extensions at creation: 400, nothing created.
fn tus_08_extensions(m: Mode) {
    let sb = Sandbox::with_env(m, &[(ALLOWED_EXTENSIONS, "txt,png")]);
    let req = tus_create(5).header("Upload-Metadata", format!("filename {}", b64(b"evil.exe")));
    let r = assert_refused(&sb, &req, 400);
    assert!(r.text().contains("evil.exe"), "{}", r.text());
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
    created(
        &sb,
        &tus_create(5).header("Upload-Metadata", format!("filename {}", b64(b"ok.TXT"))),
    );
}

/// TUS-09 Upload-Length 0: complete at once.
fn tus_09_empty(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&tus_create(0));
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Upload-Offset"), Some("0"));
    let id = id_of(m, &r);
    let h = sb.send(&tus_head(&id));
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Upload-Offset"), Some("0"));
    assert_eq!(h.header("Upload-Length"), Some("0"));
    assert_claimed(&sb, &id, b"");
}

/// TUS-10 one PATCH of the whole file.
fn tus_10_one_patch(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(300_000, 10);
    let id = created(&sb, &tus_create(data.len()));
    let r = patch_ok(&sb, &id, 0, &data);
    assert!(r.header("Upload-Expires").is_none());
    assert_claimed(&sb, &id, &data);
}

/// TUS-11 three PATCHes in order.
fn tus_11_three_patches(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(30_001, 11);
    let id = created(&sb, &tus_create(data.len()));
    for (from, to) in [(0, 10_000), (10_000, 20_000)] {
        let r = patch_ok(&sb, &id, from, &data[from..to]);
        assert!(r.header("Upload-Expires").is_some());
        assert_eq!(sb.info(&id).unwrap()["complete"], false);
    }
    patch_ok(&sb, &id, 20_000, &data[20_000..]);
    assert_claimed(&sb, &id, &data);
}

/// TUS-12 PATCH at a wrong offset: 409 with the stored offset.
fn tus_12_wrong_offset(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(100, 12);
    let id = created(&sb, &tus_create(100));
    patch_ok(&sb, &id, 0, &data[..40]);
    for wrong in [0, 39, 41, 100] {
        let r = assert_refused(&sb, &tus_patch(&id, wrong, &data[wrong.min(60)..]), 409);
        assert_eq!(r.header("Upload-Offset"), Some("40"));
    }
    assert_eq!(sb.info(&id).unwrap()["received"], 40);
    patch_ok(&sb, &id, 40, &data[40..]);
    assert_claimed(&sb, &id, &data);
}

/// TUS-13 PATCH with another content type: 415.
fn tus_13_content_type(m: Mode) {
    let sb = Sandbox::new(m);
    let id = created(&sb, &tus_create(10));
    let req = tus("PATCH")
        .path(&format!("/{id}"))
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", "0")
        .body(b"0123456789".to_vec());
    assert_refused(&sb, &req, 415);
    assert_eq!(sb.info(&id).unwrap()["received"], 0);
}

/// TUS-14 PATCH beyond Upload-Length: 413, nothing past the length stored.
fn tus_14_beyond_length(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(100, 14);
    let id = created(&sb, &tus_create(100));
    patch_ok(&sb, &id, 0, &data[..60]);
    assert_refused(&sb, &tus_patch(&id, 60, &bytes(41, 1)), 413);
    assert_eq!(sb.info(&id).unwrap()["received"], 60);
    let data_file = sb.spool.join("incoming").join(&id);
    assert!(std::fs::metadata(&data_file).unwrap().len() <= 100);
    patch_ok(&sb, &id, 60, &data[60..]);
    // Complete: more bytes are still too many; an empty PATCH at the end is fine.
    assert_refused(&sb, &tus_patch(&id, 100, b"x"), 413);
    patch_ok(&sb, &id, 100, b"");
    let file = sb.spool.join("complete").join(&id);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 100);
    assert_claimed(&sb, &id, &data);
}

/// TUS-15 HEAD: 200 with offset, length, metadata echoed, no-store, no body.
fn tus_15_head(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(50, 15);
    let metadata = format!("filename {},flag", b64(b"h.bin"));
    let id = created(&sb, &tus_create(50).header("Upload-Metadata", &metadata));
    patch_ok(&sb, &id, 0, &data[..20]);
    let r = sb.send(&tus_head(&id));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Upload-Offset"), Some("20"));
    assert_eq!(r.header("Upload-Length"), Some("50"));
    assert_eq!(r.header("Upload-Metadata"), Some(metadata.as_str()));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    assert!(r.header("Upload-Expires").is_some());
    assert!(r.body.is_empty());
    patch_ok(&sb, &id, 20, &data[20..]);
    let r = sb.send(&tus_head(&id));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Upload-Offset"), Some("50"));
    assert_eq!(r.header("Upload-Length"), Some("50"));
    assert!(r.body.is_empty());
}

/// TUS-16 unknown, traversal and overlong ids: 404.
fn tus_16_unknown_ids(m: Mode) {
    let sb = Sandbox::new(m);
    let long = "a".repeat(200);
    for id in ["0123456789abcdef0123456789abcdef", "../x", long.as_str()] {
        for req in [
            tus_head(id),
            tus_patch(id, 0, b"x"),
            tus("DELETE").path(&format!("/{id}")),
        ] {
            let r = assert_refused(&sb, &req, 404);
            assert!(r.header("Upload-Offset").is_none());
        }
    }
}

/// TUS-17 deferred length fixed by the last PATCH.
fn tus_17_deferred_length(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(25_000, 17);
    let id = created(&sb, &tus("POST").header("Upload-Defer-Length", "1"));
    let r = sb.send(&tus_head(&id));
    assert_eq!(r.header("Upload-Defer-Length"), Some("1"));
    assert!(r.header("Upload-Length").is_none());
    patch_ok(&sb, &id, 0, &data[..10_000]);
    patch_ok(&sb, &id, 10_000, &data[10_000..20_000]);
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
    let last = tus_patch(&id, 20_000, &data[20_000..]).header("Upload-Length", "25000");
    let r = sb.send(&last);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("Upload-Offset"), Some("25000"));
    let r = sb.send(&tus_head(&id));
    assert_eq!(r.header("Upload-Length"), Some("25000"));
    assert!(r.header("Upload-Defer-Length").is_none());
    assert_claimed(&sb, &id, &data);
}

/// TUS-17, TUS-14: a PATCH refused for a body longer than the length it
/// declares fixes nothing; the right length afterwards completes the upload.
fn tus_17_refused_patch_fixes_no_length(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(10, 17);
    let id = created(&sb, &tus("POST").header("Upload-Defer-Length", "1"));
    assert_refused(
        &sb,
        &tus_patch(&id, 0, &data).header("Upload-Length", "5"),
        413,
    );
    let r = sb.send(&tus_head(&id));
    assert_eq!(r.header("Upload-Defer-Length"), Some("1"));
    assert_eq!(r.header("Upload-Offset"), Some("0"));
    let r = sb.send(&tus_patch(&id, 0, &data).header("Upload-Length", "10"));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_claimed(&sb, &id, &data);
}

/// TUS-18 creation-with-upload of the whole file.
fn tus_18_creation_with_upload(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(70_000, 18);
    let r = sb.send(
        &tus_create(data.len())
            .header("Content-Type", OCTETS)
            .body(data.clone()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Upload-Offset"), Some("70000"));
    let id = id_of(m, &r);
    assert_claimed(&sb, &id, &data);
    // A body longer than Upload-Length: 413, nothing created.
    let req = tus_create(3)
        .header("Content-Type", OCTETS)
        .body(b"abcd".to_vec());
    assert_refused(&sb, &req, 413);
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
}

/// TUS-19 creation-with-upload of a part, then PATCH the rest.
fn tus_19_creation_with_part(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(70_000, 19);
    let r = sb.send(
        &tus_create(data.len())
            .header("Content-Type", OCTETS)
            .body(data[..30_000].to_vec()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Upload-Offset"), Some("30000"));
    assert!(r.header("Upload-Expires").is_some());
    let id = id_of(m, &r);
    patch_ok(&sb, &id, 30_000, &data[30_000..]);
    assert_claimed(&sb, &id, &data);
}

/// TUS-20 X-HTTP-Method-Override: PATCH (and DELETE) on a POST.
fn tus_20_method_override(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(1000, 20);
    let id = created(&sb, &tus_create(1000));
    let mut req = tus_patch(&id, 0, &data).header("X-HTTP-Method-Override", "PATCH");
    req.method = "POST".into();
    let r = sb.send(&req);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("Upload-Offset"), Some("1000"));
    assert_claimed(&sb, &id, &data);
    let id = created(&sb, &tus_create(10));
    let r = sb.send(
        &tus("POST")
            .path(&format!("/{id}"))
            .header("X-HTTP-Method-Override", "DELETE"),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    sb.assert_absent(&id);
}

/// TUS-25 termination: 204, then 404, nothing left in the spool.
fn tus_25_termination(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(100, 25);
    let incomplete = created(&sb, &tus_create(100));
    patch_ok(&sb, &incomplete, 0, &data[..30]);
    let complete = created(&sb, &tus_create(100));
    patch_ok(&sb, &complete, 0, &data);
    for id in [&incomplete, &complete] {
        let r = sb.send(&tus("DELETE").path(&format!("/{id}")));
        assert_eq!(r.status, 204, "{}", r.text());
        assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
        assert_refused(&sb, &tus_head(id), 404);
        assert_refused(&sb, &tus("DELETE").path(&format!("/{id}")), 404);
        sb.assert_absent(id);
    }
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
    sb.assert_nothing_escapes();
}

/// An IETF draft request (`Upload-Draft-Interop-Version`, no `Tus-Resumable`).
fn ietf(method: &str, version: &str) -> Req {
    Req::new(method).header("Upload-Draft-Interop-Version", version)
}

/// The raw digest of `data` by a tus.md §11 algorithm.
fn digest(algorithm: &str, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match algorithm {
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "md5" => md5::Md5::digest(data).to_vec(),
        other => panic!("no digest {other}"),
    }
}

/// An `Upload-Checksum` value: the algorithm and its base64 digest of `data`.
fn checksum(algorithm: &str, data: &[u8]) -> String {
    format!("{algorithm} {}", b64(&digest(algorithm, data)))
}

/// The answer has `status` and, when it says one, `Upload-Offset` = `offset`.
fn assert_answer(r: &Resp, status: u16, offset: usize) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(
        r.header("Upload-Offset"),
        Some(offset.to_string().as_str()),
        "{:?}",
        r.headers
    );
}

/// The offset HEAD reports (200, tus 1.0).
fn head_offset(sb: &Sandbox, id: &str) -> usize {
    let r = sb.send(&tus_head(id));
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("Upload-Offset")
        .expect("Upload-Offset")
        .parse()
        .unwrap()
}

/// The pause between the pieces of [`slow_patch`].
const SLOW_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// A slow client's PATCH of all of `data` to `id`: `piece` bytes at a time,
/// [`SLOW_PAUSE`] apart.
fn slow_patch(sb: &Sandbox, id: &str, data: &[u8], piece: usize) -> Option<Resp> {
    sb.stream(&tus_patch(id, 0, data), piece, SLOW_PAUSE, Ending::Whole)
}

/// After a PATCH whose body was cut at `sent` bytes, the client's resume:
/// HEAD, then PATCH the rest from the offset it reports. FastCGI and `serve`
/// see the connection close on their own time, so there a client that meets
/// the lock (423) or an offset recorded meanwhile (409) asks again, for up to
/// 10 s; a CGI request has ended when its process exits, so the first HEAD
/// counts. Every offset seen lies in `0..=sent`. Returns the offset resumed
/// from.
fn resume_after_cut(sb: &Sandbox, id: &str, data: &[u8], sent: usize, at_least: usize) -> usize {
    let tries = if sb.mode == Mode::Cgi { 1 } else { 100 };
    let mut seen = Vec::new();
    for _ in 0..tries {
        let offset = head_offset(sb, id);
        seen.push(offset);
        assert!(offset <= sent, "offset {offset} past the {sent} bytes sent");
        if offset >= at_least {
            // Sent while the answer is read: a 423 or 409 comes before the
            // server has read tens of MiB, which it does not wait for.
            let r = sb
                .stream(
                    &tus_patch(id, offset, &data[offset..]),
                    1 << 20,
                    std::time::Duration::ZERO,
                    Ending::Whole,
                )
                .expect("an answer");
            match r.status {
                204 => {
                    assert_answer(&r, 204, data.len());
                    return offset;
                }
                409 | 423 if sb.mode != Mode::Cgi => {}
                _ => panic!("resume at {offset}: {} {}", r.status, r.text()),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no resume from at least {at_least} of the {sent} bytes sent; offsets seen: {seen:?}");
}

/// TUS-21 an interrupted PATCH keeps what arrived: a 64 MiB PATCH cut at
/// 60% (CGI: short stdin; FastCGI and serve: the connection closed) leaves
/// an offset of at least half of what was sent; resuming completes it.
fn tus_21_interrupted_patch_keeps_what_arrived(m: Mode) {
    let sb = Sandbox::new(m);
    let data = large_bytes(64 << 20, 21);
    let id = created(&sb, &tus_create(data.len()));
    let sent = data.len() / 10 * 6;
    sb.stream(
        &tus_patch(&id, 0, &data),
        1 << 20,
        std::time::Duration::ZERO,
        Ending::Cut(sent),
    );
    let from = resume_after_cut(&sb, &id, &data, sent, sent / 2);
    assert!(from >= sent / 2 && from <= sent, "{from} of {sent}");
    assert_claimed(&sb, &id, &data);
    // A slower PATCH (1 MiB every 150 ms) cut at 10 of 16 MiB by FastCGI's
    // ABORT_REQUEST (CGI: short stdin; serve: the connection closed).
    let data = large_bytes(16 << 20, 121);
    let id = created(&sb, &tus_create(data.len()));
    let sent = 10 << 20;
    sb.stream(
        &tus_patch(&id, 0, &data),
        1 << 20,
        std::time::Duration::from_millis(150),
        Ending::Abort(sent),
    );
    let from = resume_after_cut(&sb, &id, &data, sent, sent / 2);
    assert!(from >= sent / 2 && from <= sent, "{from} of {sent}");
    assert_claimed(&sb, &id, &data);
}

/// TUS-21 (§7) while a PATCH streams, its progress is recorded at least
/// every second: a HEAD from another request, answered at once, sees an
/// offset above 0 and never past what was sent.
fn tus_21_progress_is_recorded_while_streaming(m: Mode) {
    let sb = Sandbox::new(m);
    let data = large_bytes(3 << 20, 122);
    let piece = 64 << 10;
    let pause = SLOW_PAUSE;
    let id = created(&sb, &tus_create(data.len()));
    std::thread::scope(|s| {
        let started = std::time::Instant::now();
        // 48 pieces 100 ms apart: 4.8 s.
        let streaming = s.spawn(|| slow_patch(&sb, &id, &data, piece));
        std::thread::sleep(std::time::Duration::from_millis(2000));
        let asked = std::time::Instant::now();
        let offset = head_offset(&sb, &id);
        // Waiting for the PATCH would take 2.8 s more.
        assert!(
            asked.elapsed() < std::time::Duration::from_millis(1500),
            "HEAD waited {:?} for the PATCH",
            asked.elapsed()
        );
        assert!(!streaming.is_finished(), "the PATCH ended before the HEAD");
        // At most one piece per pause has been written so far, and one more.
        let written = (started.elapsed().as_millis() / pause.as_millis() + 1) as usize * piece;
        assert!(offset > 0, "nothing recorded after 2 s of streaming");
        assert!(
            offset <= written,
            "{offset} recorded of at most {written} sent"
        );
        assert_answer(
            &streaming.join().unwrap().expect("an answer"),
            204,
            data.len(),
        );
    });
    assert_claimed(&sb, &id, &data);
}

/// TUS-22 correct checksums: sha1 (also on a creation-with-upload), sha256,
/// sha512, md5: 204 each, the bytes stored.
fn tus_22_checksums(m: Mode) {
    // The digests themselves, by known vectors.
    assert_eq!(
        checksum("sha1", b"abc"),
        "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
    );
    assert_eq!(checksum("md5", b"abc"), "md5 kAFQmDzST7DWlj99KOF/cg==");
    let sb = Sandbox::new(m);
    let data = bytes(50_000, 22);
    let first = &data[..10_000];
    let r = sb.send(
        &tus_create(data.len())
            .header("Content-Type", OCTETS)
            .header("Upload-Checksum", checksum("sha1", first))
            .body(first.to_vec()),
    );
    assert_answer(&r, 201, 10_000);
    let id = id_of(m, &r);
    for (i, algorithm) in ALGORITHMS.into_iter().enumerate() {
        let (from, to) = (10_000 * (i + 1), 10_000 * (i + 2));
        let chunk = &data[from..to];
        let r = sb.send(
            &tus_patch(&id, from, chunk).header("Upload-Checksum", checksum(algorithm, chunk)),
        );
        assert_answer(&r, 204, to);
        assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    }
    assert_claimed(&sb, &id, &data);
}

/// TUS-23 a checksum mismatch: 460, the offset does not move; the same
/// chunk with its right checksum: 204.
fn tus_23_checksum_mismatch(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(40_000, 23);
    let id = created(&sb, &tus_create(data.len()));
    patch_ok(&sb, &id, 0, &data[..10_000]);
    let chunk = &data[10_000..20_000];
    for algorithm in ALGORITHMS {
        // The digest of other bytes (one more).
        let wrong = checksum(algorithm, &data[10_000..20_001]);
        let req = tus_patch(&id, 10_000, chunk).header("Upload-Checksum", &wrong);
        let r = assert_refused(&sb, &req, 460);
        assert_eq!(r.reason, "Checksum Mismatch");
        assert_eq!(head_offset(&sb, &id), 10_000, "{algorithm}");
        assert_eq!(sb.info(&id).unwrap()["received"], 10_000);
    }
    let r = sb
        .send(&tus_patch(&id, 10_000, chunk).header("Upload-Checksum", checksum("sha256", chunk)));
    assert_answer(&r, 204, 20_000);
    patch_ok(&sb, &id, 20_000, &data[20_000..]);
    assert_claimed(&sb, &id, &data);
}

/// TUS-23 (§11) a checksummed PATCH whose body ends early keeps nothing of
/// that request, though it streamed for longer than the 1 s progress rule.
fn tus_23_interrupted_checksummed_patch_keeps_nothing(m: Mode) {
    let sb = Sandbox::new(m);
    let data = large_bytes(4 << 20, 123);
    let id = created(&sb, &tus_create(data.len()));
    patch_ok(&sb, &id, 0, &data[..1000]);
    let rest = &data[1000..];
    let req = tus_patch(&id, 1000, rest).header("Upload-Checksum", checksum("sha256", rest));
    // 16 pieces of 128 KiB, 100 ms apart: 2 MiB over 1.6 s, then FastCGI's
    // abort (CGI: short stdin; serve: the connection closed).
    sb.stream(
        &req,
        128 << 10,
        std::time::Duration::from_millis(100),
        Ending::Abort(2 << 20),
    );
    // The resume from 1000 must find nothing of the cut request kept: a 409
    // would mean its bytes were counted. FastCGI and serve may still hold
    // the upload for a moment (423).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert_eq!(head_offset(&sb, &id), 1000);
        let r =
            sb.send(&tus_patch(&id, 1000, rest).header("Upload-Checksum", checksum("md5", rest)));
        if r.status == 423 && m != Mode::Cgi && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        assert_answer(&r, 204, data.len());
        break;
    }
    assert_claimed(&sb, &id, &data);
}

/// TUS-24 an unknown algorithm (`crc99`) or a malformed value: 400, nothing
/// stored.
fn tus_24_unknown_checksum_algorithm(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(100, 24);
    let id = created(&sb, &tus_create(data.len()));
    for value in [
        format!("crc99 {}", b64(&digest("sha1", &data))),
        "sha1".to_string(),
        "sha1 not*base64!".to_string(),
    ] {
        let req = tus_patch(&id, 0, &data).header("Upload-Checksum", &value);
        assert_refused(&sb, &req, 400);
        assert_eq!(head_offset(&sb, &id), 0, "{value}");
    }
    patch_ok(&sb, &id, 0, &data);
    assert_claimed(&sb, &id, &data);
}

/// An upload's URL as a client may list it in `Upload-Concat: final;…`.
fn url(sb: &Sandbox, id: &str, absolute: bool) -> String {
    if !absolute {
        return format!("{}/{id}", script(sb.mode));
    }
    let host = match sb.mode {
        Mode::Http => sb.http_addr().to_owned(),
        _ => "uploads.example".to_owned(),
    };
    format!("http://{host}{}/{id}", script(sb.mode))
}

/// A partial upload (`Upload-Concat: partial`) of `data`, complete.
fn partial(sb: &Sandbox, data: &[u8]) -> String {
    let id = created(
        sb,
        &tus_create(data.len()).header("Upload-Concat", "partial"),
    );
    let r = sb.send(&tus_patch(&id, 0, data).header("Upload-Concat", "partial"));
    assert_answer(&r, 204, data.len());
    id
}

/// TUS-26 concatenation: three partials, a final POST listing them (paths
/// and an absolute URL): 201; HEAD of the final shows Upload-Concat as given
/// and offset = length; the partials are gone; claim gives the concatenation.
fn tus_26_concatenation(m: Mode) {
    let sb = Sandbox::new(m);
    let parts = [bytes(70_000, 26), bytes(1, 27), bytes(50_001, 28)];
    // Made in reverse: the final's order is the listed order.
    let mut ids = vec![String::new(); 3];
    for i in (0..3).rev() {
        ids[i] = partial(&sb, &parts[i]);
        let r = sb.send(&tus_head(&ids[i]).header("Upload-Concat", "partial"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Upload-Concat"), Some("partial"));
        assert_eq!(
            r.header("Upload-Offset"),
            Some(parts[i].len().to_string().as_str())
        );
    }
    let concat = format!(
        "final;{} {} {}",
        url(&sb, &ids[0], false),
        url(&sb, &ids[1], true),
        url(&sb, &ids[2], false)
    );
    let r = sb.send(&tus("POST").header("Upload-Concat", &concat));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    let final_id = id_of(m, &r);
    let whole: Vec<u8> = parts.concat();
    let total = whole.len().to_string();
    let r = sb.send(&tus_head(&final_id));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Upload-Concat"), Some(concat.as_str()));
    assert_eq!(r.header("Upload-Offset"), Some(total.as_str()));
    assert_eq!(r.header("Upload-Length"), Some(total.as_str()));
    for id in &ids {
        assert_refused(&sb, &tus_head(id), 404);
        sb.assert_absent(id);
    }
    assert_claimed(&sb, &final_id, &whole);
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
}

/// TUS-26 with `allowed_extensions` set: partials need no name (what
/// tus-js-client's `parallelUploads` sends), a disallowed one is still
/// refused, and the final upload's name is checked.
fn tus_26_partials_need_no_name_under_allowed_extensions(m: Mode) {
    let sb = Sandbox::with_env(m, &[(ALLOWED_EXTENSIONS, "txt")]);
    let parts = [bytes(3000, 26), bytes(2000, 27)];
    let ids: Vec<String> = parts.iter().map(|p| partial(&sb, p)).collect();
    let named = |name: &str| format!("filename {}", b64(name.as_bytes()));
    assert_refused(
        &sb,
        &tus_create(10)
            .header("Upload-Concat", "partial")
            .header("Upload-Metadata", named("x.exe")),
        400,
    );
    let concat = format!(
        "final;{} {}",
        url(&sb, &ids[0], false),
        url(&sb, &ids[1], false)
    );
    assert_refused(
        &sb,
        &tus("POST")
            .header("Upload-Concat", &concat)
            .header("Upload-Metadata", named("x.exe")),
        400,
    );
    let r = sb.send(
        &tus("POST")
            .header("Upload-Concat", &concat)
            .header("Upload-Metadata", named("notes.txt")),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let final_id = id_of(m, &r);
    assert_eq!(sb.info(&final_id).unwrap()["name"], "notes.txt");
    assert_claimed(&sb, &final_id, &parts.concat());
}

/// TUS-27 refused finals: an incomplete partial 400, an unknown one 404, a
/// listed upload that is not partial 400, Upload-Length 400, a body 403 —
/// nothing created or removed; a PATCH to a final upload: 403.
fn tus_27_bad_finals(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(1000, 27);
    let done = partial(&sb, &data);
    let unfinished = created(&sb, &tus_create(1000).header("Upload-Concat", "partial"));
    patch_ok(&sb, &unfinished, 0, &data[..10]);
    let plain = created(&sb, &tus_create(1000));
    patch_ok(&sb, &plain, 0, &data);
    let unknown = "0123456789abcdef0123456789abcdef";
    let list = |ids: &[&str]| {
        let urls: Vec<String> = ids.iter().map(|id| url(&sb, id, false)).collect();
        format!("final;{}", urls.join(" "))
    };
    let mut before = spool_entries(&sb);
    before.sort();
    let cases = [
        (
            tus("POST").header("Upload-Concat", list(&[&done, &unfinished])),
            400,
        ),
        (
            tus("POST").header("Upload-Concat", list(&[&done, unknown])),
            404,
        ),
        (
            tus("POST").header("Upload-Concat", list(&[&done, &plain])),
            400,
        ),
        (
            tus("POST")
                .header("Upload-Concat", list(&[&done]))
                .header("Upload-Length", "1000"),
            400,
        ),
        (
            tus("POST")
                .header("Upload-Concat", list(&[&done]))
                .header("Content-Type", OCTETS)
                .body(b"x".to_vec()),
            403,
        ),
    ];
    for (req, status) in &cases {
        let r = assert_refused(&sb, req, *status);
        assert!(r.header("Location").is_none());
        let mut after = spool_entries(&sb);
        after.sort();
        assert_eq!(after, before, "a refused final changed the spool");
    }
    let r = sb.send(&tus("POST").header("Upload-Concat", list(&[&done])));
    assert_eq!(r.status, 201, "{}", r.text());
    let final_id = id_of(m, &r);
    for offset in [1000, 0] {
        assert_refused(&sb, &tus_patch(&final_id, offset, b"x"), 403);
    }
    assert_claimed(&sb, &final_id, &data);
}

/// TUS-28 `upspool claim` of a partial upload: exit 1 with a message; the
/// partial stays.
fn tus_28_claim_of_partial(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(500, 28);
    let id = partial(&sb, &data);
    let dest = sb.outside.path().join("partial.claimed");
    let out = sb.admin(&["claim", &id, dest.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("partial"), "{stderr:?}");
    assert!(!dest.exists());
    let info = sb.info(&id).expect("the partial stays");
    assert_eq!(info["complete"], true, "{info}");
    assert_eq!(head_offset(&sb, &id), 500);
}

/// TUS-29 expiry: with expire_incomplete 1 s, Upload-Expires is about a
/// second ahead; 2 s later PATCH and HEAD answer 410 (the sandbox never
/// sweeps on its own: gc_probability 0), and 404 once `upspool gc` has
/// swept; a complete upload is not expired by it.
fn tus_29_expiry(m: Mode) {
    let sb = Sandbox::with_env(m, &[(EXPIRE_INCOMPLETE, "1s")]);
    let data = bytes(100, 29);
    let id = created(&sb, &tus_create(100));
    let r = patch_ok(&sb, &id, 0, &data[..10]);
    let expires = parse_http_date(r.header("Upload-Expires").expect("Upload-Expires"));
    let at = now();
    assert!(
        expires >= at.saturating_sub(1) && expires <= at + 2,
        "{expires} at {at}"
    );
    let done = created(&sb, &tus_create(5));
    patch_ok(&sb, &done, 0, &data[..5]);
    std::thread::sleep(std::time::Duration::from_millis(2200));
    for status in [410, 404] {
        for req in [tus_patch(&id, 10, &data[10..]), tus_head(&id)] {
            let r = assert_refused(&sb, &req, status);
            assert!(r.header("Upload-Offset").is_none(), "{:?}", r.headers);
        }
        if status == 410 {
            let out = sb.admin(&["gc"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            sb.assert_absent(&id);
        }
    }
    assert_eq!(head_offset(&sb, &done), 5);
    assert_claimed(&sb, &done, &data[..5]);
}

/// TUS-30 IETF draft version 6: creation with Upload-Complete ?0, PATCHes
/// of application/partial-upload, the last with Upload-Complete ?1.
fn tus_30_ietf_v6(m: Mode) {
    const PARTIAL: &str = "application/partial-upload";
    let sb = Sandbox::new(m);
    let data = bytes(60_000, 30);
    let r = sb.send(&ietf("POST", "6").header("Upload-Complete", "?0"));
    assert_answer(&r, 201, 0);
    assert_eq!(r.header("Upload-Draft-Interop-Version"), Some("6"));
    let id = id_of(m, &r);
    let part = |from: usize, to: usize, complete: &str| {
        ietf("PATCH", "6")
            .path(&format!("/{id}"))
            .header("Content-Type", PARTIAL)
            .header("Upload-Offset", from.to_string())
            .header("Upload-Complete", complete)
            .body(data[from..to].to_vec())
    };
    let r = sb.send(&part(0, 20_000, "?0"));
    assert_answer(&r, 204, 20_000);
    assert_eq!(r.header("Upload-Draft-Interop-Version"), Some("6"));
    let r = sb.send(&ietf("HEAD", "6").path(&format!("/{id}")));
    assert_answer(&r, 204, 20_000);
    assert_eq!(r.header("Upload-Complete"), Some("?0"));
    assert_eq!(r.header("Upload-Draft-Interop-Version"), Some("6"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert!(r.header("Upload-Length").is_none(), "{:?}", r.headers);
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
    // Version 6 appends application/partial-upload only.
    let mut wrong = part(20_000, 60_000, "?1");
    wrong.headers.retain(|(n, _)| n != "Content-Type");
    let r = sb.send(&wrong.header("Content-Type", OCTETS));
    assert_eq!(r.status, 415, "{}", r.text());
    let r = sb.send(&part(20_000, 60_000, "?1"));
    assert_answer(&r, 204, 60_000);
    assert_eq!(r.header("Upload-Complete"), Some("?1"));
    assert_eq!(r.header("Upload-Draft-Interop-Version"), Some("6"));
    let r = sb.send(&ietf("HEAD", "6").path(&format!("/{id}")));
    assert_answer(&r, 204, 60_000);
    assert_eq!(r.header("Upload-Complete"), Some("?1"));
    assert_eq!(r.header("Upload-Length"), Some("60000"));
    assert_claimed(&sb, &id, &data);
}

/// TUS-31 IETF draft version 5 (and 4): one POST with the whole body and
/// Upload-Complete ?1: 201, complete, the length from Content-Length, the
/// name from Content-Disposition.
fn tus_31_ietf_v5(m: Mode) {
    let sb = Sandbox::new(m);
    for (version, seed) in [("5", 31), ("4", 32)] {
        let data = bytes(45_000, seed);
        let r = sb.send(
            &ietf("POST", version)
                .header("Upload-Complete", "?1")
                .header("Content-Type", "application/octet-stream")
                .header("Content-Disposition", "attachment; filename=\"v5.txt\"")
                .body(data.clone()),
        );
        assert_answer(&r, 201, data.len());
        assert_eq!(r.header("Upload-Draft-Interop-Version"), Some(version));
        assert_eq!(r.header("Upload-Complete"), Some("?1"));
        let id = id_of(m, &r);
        let info = sb.info(&id).unwrap();
        assert_eq!(info["complete"], true, "{info}");
        assert_eq!(info["size"], 45_000, "{info}");
        assert_eq!(info["name"], "v5.txt", "{info}");
        let r = sb.send(&ietf("HEAD", version).path(&format!("/{id}")));
        assert_answer(&r, 204, data.len());
        assert_eq!(r.header("Upload-Complete"), Some("?1"));
        assert_eq!(r.header("Upload-Length"), Some("45000"));
        assert_eq!(r.header("Upload-Draft-Interop-Version"), Some(version));
        assert_claimed(&sb, &id, &data);
    }
}

/// TUS-32 IETF draft version 3: Upload-Incomplete, inverted: ?1 leaves the
/// upload open, ?0 completes it.
fn tus_32_ietf_v3(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(35_000, 32);
    let r = sb.send(
        &ietf("POST", "3")
            .header("Upload-Incomplete", "?1")
            .header("Content-Type", OCTETS)
            .body(data[..15_000].to_vec()),
    );
    assert_answer(&r, 201, 15_000);
    assert_eq!(r.header("Upload-Draft-Interop-Version"), Some("3"));
    let id = id_of(m, &r);
    let r = sb.send(&ietf("HEAD", "3").path(&format!("/{id}")));
    assert_answer(&r, 204, 15_000);
    assert_eq!(r.header("Upload-Incomplete"), Some("?1"));
    assert!(r.header("Upload-Complete").is_none(), "{:?}", r.headers);
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
    let r = sb.send(
        &ietf("PATCH", "3")
            .path(&format!("/{id}"))
            .header("Content-Type", OCTETS)
            .header("Upload-Offset", "15000")
            .header("Upload-Incomplete", "?0")
            .body(data[15_000..].to_vec()),
    );
    assert_answer(&r, 204, 35_000);
    assert_eq!(r.header("Upload-Incomplete"), Some("?0"));
    assert!(r.header("Upload-Complete").is_none(), "{:?}", r.headers);
    let r = sb.send(&ietf("HEAD", "3").path(&format!("/{id}")));
    assert_answer(&r, 204, 35_000);
    assert_eq!(r.header("Upload-Incomplete"), Some("?0"));
    assert_eq!(r.header("Upload-Length"), Some("35000"));
    assert_claimed(&sb, &id, &data);
    // ?0 on the creation: complete in one request.
    let r = sb.send(
        &ietf("POST", "3")
            .header("Upload-Incomplete", "?0")
            .body(data.clone()),
    );
    assert_answer(&r, 201, data.len());
    let id = id_of(m, &r);
    assert_claimed(&sb, &id, &data);
}

/// TUS-33 an unsupported IETF draft version (99): 400 naming 3, 4, 5 and 6;
/// nothing created.
fn tus_33_ietf_unknown_version(m: Mode) {
    let sb = Sandbox::new(m);
    let id = created(&sb, &tus_create(3));
    for req in [
        ietf("POST", "99")
            .header("Upload-Complete", "?1")
            .body(b"abc".to_vec()),
        ietf("PATCH", "99")
            .path(&format!("/{id}"))
            .header("Upload-Offset", "0")
            .header("Upload-Complete", "?1")
            .body(b"abc".to_vec()),
    ] {
        let r = sb.send(&req);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_text_plain(&r);
        let text = r.text();
        let numbers: Vec<&str> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .collect();
        for v in ["3", "4", "5", "6"] {
            assert!(numbers.contains(&v), "{v} in {text:?}");
        }
    }
    assert_eq!(head_offset(&sb, &id), 0);
    let mut entries = spool_entries(&sb);
    entries.retain(|e| !e.starts_with(&id));
    assert_eq!(entries, Vec::<String>::new());
}

/// TUS-34 one writer per upload: a second PATCH while a first streams
/// slowly (two CGI processes; two connections): one 204, the other 409 or
/// 423, and the file is exactly the winner's bytes, never a mix.
fn tus_34_one_writer_per_upload(m: Mode) {
    let sb = Sandbox::new(m);
    let first = bytes(256 << 10, 34);
    let second = bytes(256 << 10, 35);
    let id = created(&sb, &tus_create(first.len()));
    let (slow, quick) = std::thread::scope(|s| {
        let slow = s.spawn(|| {
            // 16 KiB every 100 ms: 1.6 s.
            slow_patch(&sb, &id, &first, 16 << 10).expect("an answer")
        });
        std::thread::sleep(std::time::Duration::from_millis(400));
        let quick = sb.send(&tus_patch(&id, 0, &second));
        (slow.join().unwrap(), quick)
    });
    let winner = match (slow.status, quick.status) {
        (204, 409 | 423) => &first,
        (409 | 423, 204) => &second,
        (a, b) => panic!("slow {a} {}, quick {b} {}", slow.text(), quick.text()),
    };
    assert_claimed(&sb, &id, winner);
}

/// TUS-34 (§7) a PATCH in progress holds no lock other uploads need: while
/// a PATCH of A streams, a PATCH of B — whose id ends in the same two hex
/// digits, so shares the spool's lock file — completes at once.
fn tus_34_patch_does_not_block_other_uploads(m: Mode) {
    let sb = Sandbox::new(m);
    let len = 512 << 10;
    let mut by_suffix = std::collections::HashMap::new();
    let (a, b) = (0..400)
        .find_map(|_| {
            let id = created(&sb, &tus_create(len));
            by_suffix
                .insert(id[30..].to_owned(), id.clone())
                .map(|earlier| (earlier, id))
        })
        .expect("two ids ending alike");
    let slow = bytes(len, 36);
    let quick = bytes(len, 37);
    std::thread::scope(|s| {
        let streaming = s.spawn(|| {
            // 16 KiB every 100 ms: 3.2 s.
            slow_patch(&sb, &a, &slow, 16 << 10).expect("an answer")
        });
        std::thread::sleep(std::time::Duration::from_millis(500));
        let started = std::time::Instant::now();
        patch_ok(&sb, &b, 0, &quick);
        let took = started.elapsed();
        assert!(
            !streaming.is_finished(),
            "A ended before B: the test proves nothing"
        );
        // Waiting for A would take 2.7 s.
        assert!(
            took < std::time::Duration::from_millis(2000),
            "B took {took:?}"
        );
        assert_answer(&streaming.join().unwrap(), 204, len);
    });
    assert_claimed(&sb, &b, &quick);
    assert_claimed(&sb, &a, &slow);
}

/// TUS-25 (§9) a termination racing a PATCH of the same upload: 204; the
/// PATCH fails cleanly (409, 404 or 423) and nothing of the upload is left.
fn tus_25_termination_racing_a_patch(m: Mode) {
    let sb = Sandbox::new(m);
    let data = large_bytes(2 << 20, 125);
    let id = created(&sb, &tus_create(data.len()));
    let (patched, deleted) = std::thread::scope(|s| {
        // 64 KiB every 100 ms: 3.2 s, progress recorded on the way.
        let streaming = s.spawn(|| slow_patch(&sb, &id, &data, 64 << 10));
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let deleted = sb.send(&tus("DELETE").path(&format!("/{id}")));
        (streaming.join().unwrap(), deleted)
    });
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let r = patched.expect("an answer to the PATCH");
    assert!(
        matches!(r.status, 409 | 404 | 423),
        "the PATCH: {} {}",
        r.status,
        r.text()
    );
    assert_refused(&sb, &tus_head(&id), 404);
    sb.assert_absent(&id);
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
    sb.assert_nothing_escapes();
}

/// TUS-35 CORS: the preflight allows the tus headers and methods and
/// carries discovery; answers expose the tus headers.
fn tus_35_cors(m: Mode) {
    const ORIGIN: &str = "https://app.example";
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    // Every request header of tus.md §12.
    let asked = "tus-resumable, upload-length, upload-defer-length, upload-metadata, \
                 upload-offset, upload-concat, upload-checksum, upload-complete, \
                 upload-incomplete, upload-draft-interop-version, x-http-method-override, \
                 x-request-id, content-type, authorization";
    let r = sb.send(
        &Req::new("OPTIONS")
            .header("Origin", ORIGIN)
            .header("Access-Control-Request-Method", "PATCH")
            .header("Access-Control-Request-Headers", asked),
    );
    assert_preflight_allows(
        &r,
        ORIGIN,
        &["POST", "GET", "HEAD", "PATCH", "DELETE", "OPTIONS"],
        asked,
    );
    assert_eq!(r.header("Tus-Extension"), Some(EXTENSIONS));
    let r = sb.send(&tus_create(3).header("Origin", ORIGIN));
    assert_eq!(r.status, 201);
    let id = id_of(m, &r);
    let r = sb.send(&tus_patch(&id, 0, b"abc").header("Origin", ORIGIN));
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(ORIGIN));
    assert_exposes_tus_headers(&r);
    // The creation answer too: Location must be readable by the page.
    let r = sb.send(&tus_create(3).header("Origin", ORIGIN));
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(ORIGIN));
    assert_exposes_tus_headers(&r);
}

/// Every response header of tus.md §12 is exposed (compared without case).
fn assert_exposes_tus_headers(r: &Resp) {
    let exposed = r
        .header("Access-Control-Expose-Headers")
        .expect("Access-Control-Expose-Headers");
    for h in [
        "Location",
        "Upload-Offset",
        "Upload-Length",
        "Upload-Metadata",
        "Upload-Defer-Length",
        "Upload-Concat",
        "Upload-Expires",
        "Upload-Complete",
        "Upload-Incomplete",
        "Upload-Draft-Interop-Version",
        "Upload-Limit",
        "Tus-Version",
        "Tus-Resumable",
        "Tus-Max-Size",
        "Tus-Extension",
        "Tus-Checksum-Algorithm",
    ] {
        assert!(
            exposed.split(',').any(|e| e.trim().eq_ignore_ascii_case(h)),
            "{h} in {exposed}"
        );
    }
}

/// TUS-36 GET of a complete upload: its bytes with safe headers; incomplete: 404.
fn tus_36_download(m: Mode) {
    let sb = Sandbox::new(m);
    let data = b"<html><script>alert(1)</script></html>".to_vec();
    let metadata = format!(
        "filename {},filetype {}",
        b64(b"page.html"),
        b64(b"text/html")
    );
    let id = created(
        &sb,
        &tus_create(data.len()).header("Upload-Metadata", &metadata),
    );
    assert_refused(&sb, &tus("GET").path(&format!("/{id}")), 404);
    patch_ok(&sb, &id, 0, &data);
    let r = sb.send(&tus("GET").path(&format!("/{id}")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256(&r.body), sha256(&data));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(r.header("Content-Security-Policy"), Some("sandbox"));
    let disposition = r.header("Content-Disposition").unwrap();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("page.html"),
        "{disposition}"
    );
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    // A plain link to the upload's URL (no tus header, as a browser sends
    // it) downloads it the same way.
    let plain = sb.send(&Req::new("GET").path(&format!("/{id}")));
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert_eq!(plain.body, r.body);
    assert_eq!(plain.header("Content-Security-Policy"), Some("sandbox"));
    assert_eq!(plain.header("Content-Disposition"), Some(disposition));
    assert_refused(
        &sb,
        &Req::new("GET").path("/0123456789abcdef0123456789abcdef"),
        404,
    );
}

/// TUS-37 a tus upload, a FilePond transfer and a Fine Uploader chunked
/// upload at once on one spool; the widgets' rows keep their meaning.
fn tus_37_three_protocols(m: Mode) {
    let sb = Sandbox::new(m);
    let tus_data = bytes(90_000, 37);
    let fp_data = bytes(80_000, 38);
    let fu_data = bytes(70_000, 39);
    let fu_id = "3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a37";
    std::thread::scope(|s| {
        let sb = &sb;
        let tus_data = &tus_data;
        let fp_data = &fp_data;
        let fu_data = &fu_data;
        let t = s.spawn(move || {
            let id = created(sb, &tus_create(tus_data.len()));
            for from in (0..tus_data.len()).step_by(30_000) {
                let to = (from + 30_000).min(tus_data.len());
                patch_ok(sb, &id, from, &tus_data[from..to]);
            }
            id
        });
        let f = s.spawn(move || {
            let r = sb.send(
                &Req::new("POST")
                    .header("Upload-Length", fp_data.len().to_string())
                    .form(Form::new().field("filepond", "{}")),
            );
            assert_eq!(r.status, 201, "{}", r.text());
            let id = r.text();
            for from in (0..fp_data.len()).step_by(30_000) {
                let to = (from + 30_000).min(fp_data.len());
                // FilePond's resume query, without tus headers.
                let h = sb.send(&Req::new("HEAD").query(&format!("patch={id}")));
                assert_eq!(h.status, 200);
                assert_eq!(h.header("Upload-Offset"), Some(from.to_string().as_str()));
                let r = sb.send(
                    &Req::new("PATCH")
                        .query(&format!("patch={id}"))
                        .header("Content-Type", OCTETS)
                        .header("Upload-Offset", from.to_string())
                        .header("Upload-Length", fp_data.len().to_string())
                        .header("Upload-Name", "fp.bin")
                        .body(fp_data[from..to].to_vec()),
                );
                assert_eq!(r.status, 204, "{}", r.text());
            }
            id
        });
        let u = s.spawn(move || {
            for index in 0..3 {
                let r = sb.send(&fu_chunk(fu_id, "fu.bin", fu_data, 30_000, index));
                assert_eq!(r.status, 200, "{}", r.text());
            }
        });
        let tus_id = t.join().unwrap();
        let fp_id = f.join().unwrap();
        u.join().unwrap();
        sb.assert_stored(&fp_id, fp_data);
        sb.assert_stored(fu_id, fu_data);
        assert_eq!(sb.info(&fp_id).unwrap()["protocol"], "file-pond");
        assert_eq!(sb.info(fu_id).unwrap()["protocol"], "fine-uploader");
        // tus actions see only tus uploads.
        assert_refused(sb, &tus_head(&fp_id), 404);
        assert_claimed(sb, &tus_id, tus_data);
    });
    // Fine Uploader's delete without tus headers keeps its meaning.
    let r = sb.send(&Req::new("DELETE").path(&format!("/{fu_id}")));
    assert_eq!(r.status, 200, "{}", r.text());
    sb.assert_absent(fu_id);
}

in_every_mode!(
    tus_01_options,
    tus_02_create,
    tus_03_version,
    tus_04_bad_lengths,
    tus_05_too_large,
    tus_06_metadata,
    tus_07_bad_metadata,
    tus_08_extensions,
    tus_09_empty,
    tus_10_one_patch,
    tus_11_three_patches,
    tus_12_wrong_offset,
    tus_13_content_type,
    tus_14_beyond_length,
    tus_15_head,
    tus_16_unknown_ids,
    tus_17_deferred_length,
    tus_17_refused_patch_fixes_no_length,
    tus_18_creation_with_upload,
    tus_19_creation_with_part,
    tus_20_method_override,
    tus_21_interrupted_patch_keeps_what_arrived,
    tus_21_progress_is_recorded_while_streaming,
    tus_22_checksums,
    tus_23_checksum_mismatch,
    tus_23_interrupted_checksummed_patch_keeps_nothing,
    tus_24_unknown_checksum_algorithm,
    tus_25_termination,
    tus_25_termination_racing_a_patch,
    tus_26_concatenation,
    tus_26_partials_need_no_name_under_allowed_extensions,
    tus_27_bad_finals,
    tus_28_claim_of_partial,
    tus_29_expiry,
    tus_30_ietf_v6,
    tus_31_ietf_v5,
    tus_32_ietf_v3,
    tus_33_ietf_unknown_version,
    tus_34_one_writer_per_upload,
    tus_34_patch_does_not_block_other_uploads,
    tus_35_cors,
    tus_36_download,
    tus_37_three_protocols,
);
