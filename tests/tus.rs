//! Conformance cases of `tus.md` §14 that tus 1.0 core covers (TUS-01 …
//! TUS-20, TUS-25, TUS-36, TUS-37), each run as CGI, FastCGI and over
//! `upspool serve` (see `in_every_mode!` at the bottom).

mod common;

use common::*;

/// The extensions advertised: only what is implemented.
const EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation";
const OCTETS: &str = "application/offset+octet-stream";

/// A tus 1.0 request.
fn tus(method: &str) -> Req {
    Req::new(method).header("Tus-Resumable", "1.0.0")
}

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

fn create_req(length: usize) -> Req {
    tus("POST").header("Upload-Length", length.to_string())
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

fn patch(id: &str, offset: usize, data: &[u8]) -> Req {
    tus("PATCH")
        .path(&format!("/{id}"))
        .header("Content-Type", OCTETS)
        .header("Upload-Offset", offset.to_string())
        .body(data.to_vec())
}

fn patch_ok(sb: &Sandbox, id: &str, offset: usize, data: &[u8]) -> Resp {
    let r = sb.send(&patch(id, offset, data));
    assert_eq!(r.status, 204, "PATCH at {offset}: {}", r.text());
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    assert_eq!(
        r.header("Upload-Offset"),
        Some((offset + data.len()).to_string().as_str())
    );
    r
}

fn head(id: &str) -> Req {
    tus("HEAD").path(&format!("/{id}"))
}

/// `upspool claim`, then the claimed bytes compared by SHA-256.
fn assert_claimed(sb: &Sandbox, id: &str, data: &[u8]) {
    let info = sb.info(id).unwrap_or_else(|| panic!("{id} is absent"));
    assert_eq!(info["complete"], true, "{info}");
    assert_eq!(info["protocol"], "tus", "{info}");
    let dest = sb.outside.path().join(format!("{id}.claimed"));
    let out = sb.admin(&["claim", id, dest.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256(&std::fs::read(&dest).unwrap()), sha256(data));
    sb.assert_absent(id);
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
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
    let text = r.text();
    // A HEAD answer has its sentence's length but no body on the wire.
    if req.method == "HEAD" {
        assert!(text.is_empty());
        return r;
    }
    assert!(
        !text.is_empty() && text.ends_with('.') && !text.contains('\n'),
        "one sentence: {text:?}"
    );
    assert!(!text.contains(sb.spool.to_str().unwrap()), "{text}");
    r
}

/// TUS-01 OPTIONS: 204 with the discovery headers (the extensions implemented).
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
    }
}

/// TUS-02 creation with Upload-Length.
fn tus_02_create(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&create_req(100));
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
    assert_refused(&sb, &create_req(1001), 413);
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
    created(&sb, &create_req(1000));
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
    let id = created(&sb, &create_req(5).header("Upload-Metadata", &metadata));
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
        &create_req(5).header(
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
        assert_refused(&sb, &create_req(5).header("Upload-Metadata", &md), 400);
    }
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
}

/// TUS-08 allowed_extensions at creation: 400, nothing created.
fn tus_08_extensions(m: Mode) {
    let sb = Sandbox::with_env(m, &[(ALLOWED_EXTENSIONS, "txt,png")]);
    let req = create_req(5).header("Upload-Metadata", format!("filename {}", b64(b"evil.exe")));
    let r = assert_refused(&sb, &req, 400);
    assert!(r.text().contains("evil.exe"), "{}", r.text());
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
    created(
        &sb,
        &create_req(5).header("Upload-Metadata", format!("filename {}", b64(b"ok.TXT"))),
    );
}

/// TUS-09 Upload-Length 0: complete at once.
fn tus_09_empty(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&create_req(0));
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Upload-Offset"), Some("0"));
    let id = id_of(m, &r);
    let h = sb.send(&head(&id));
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Upload-Offset"), Some("0"));
    assert_eq!(h.header("Upload-Length"), Some("0"));
    assert_claimed(&sb, &id, b"");
}

/// TUS-10 one PATCH of the whole file.
fn tus_10_one_patch(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(300_000, 10);
    let id = created(&sb, &create_req(data.len()));
    let r = patch_ok(&sb, &id, 0, &data);
    assert!(r.header("Upload-Expires").is_none());
    assert_claimed(&sb, &id, &data);
}

/// TUS-11 three PATCHes in order.
fn tus_11_three_patches(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(30_001, 11);
    let id = created(&sb, &create_req(data.len()));
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
    let id = created(&sb, &create_req(100));
    patch_ok(&sb, &id, 0, &data[..40]);
    for wrong in [0, 39, 41, 100] {
        let r = assert_refused(&sb, &patch(&id, wrong, &data[wrong.min(60)..]), 409);
        assert_eq!(r.header("Upload-Offset"), Some("40"));
    }
    assert_eq!(sb.info(&id).unwrap()["received"], 40);
    patch_ok(&sb, &id, 40, &data[40..]);
    assert_claimed(&sb, &id, &data);
}

/// TUS-13 PATCH with another content type: 415.
fn tus_13_content_type(m: Mode) {
    let sb = Sandbox::new(m);
    let id = created(&sb, &create_req(10));
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
    let id = created(&sb, &create_req(100));
    patch_ok(&sb, &id, 0, &data[..60]);
    assert_refused(&sb, &patch(&id, 60, &bytes(41, 1)), 413);
    assert_eq!(sb.info(&id).unwrap()["received"], 60);
    let data_file = sb.spool.join("incoming").join(&id);
    assert!(std::fs::metadata(&data_file).unwrap().len() <= 100);
    patch_ok(&sb, &id, 60, &data[60..]);
    // Complete: more bytes are still too many; an empty PATCH at the end is fine.
    assert_refused(&sb, &patch(&id, 100, b"x"), 413);
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
    let id = created(&sb, &create_req(50).header("Upload-Metadata", &metadata));
    patch_ok(&sb, &id, 0, &data[..20]);
    let r = sb.send(&head(&id));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Upload-Offset"), Some("20"));
    assert_eq!(r.header("Upload-Length"), Some("50"));
    assert_eq!(r.header("Upload-Metadata"), Some(metadata.as_str()));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    assert!(r.header("Upload-Expires").is_some());
    assert!(r.body.is_empty());
    patch_ok(&sb, &id, 20, &data[20..]);
    let r = sb.send(&head(&id));
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
            head(id),
            patch(id, 0, b"x"),
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
    let r = sb.send(&head(&id));
    assert_eq!(r.header("Upload-Defer-Length"), Some("1"));
    assert!(r.header("Upload-Length").is_none());
    patch_ok(&sb, &id, 0, &data[..10_000]);
    patch_ok(&sb, &id, 10_000, &data[10_000..20_000]);
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
    let last = patch(&id, 20_000, &data[20_000..]).header("Upload-Length", "25000");
    let r = sb.send(&last);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("Upload-Offset"), Some("25000"));
    let r = sb.send(&head(&id));
    assert_eq!(r.header("Upload-Length"), Some("25000"));
    assert!(r.header("Upload-Defer-Length").is_none());
    assert_claimed(&sb, &id, &data);
}

/// TUS-18 creation-with-upload of the whole file.
fn tus_18_creation_with_upload(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(70_000, 18);
    let r = sb.send(
        &create_req(data.len())
            .header("Content-Type", OCTETS)
            .body(data.clone()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Upload-Offset"), Some("70000"));
    let id = id_of(m, &r);
    assert_claimed(&sb, &id, &data);
    // A body longer than Upload-Length: 413, nothing created.
    let req = create_req(3)
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
        &create_req(data.len())
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
    let id = created(&sb, &create_req(1000));
    let mut req = patch(&id, 0, &data).header("X-HTTP-Method-Override", "PATCH");
    req.method = "POST".into();
    let r = sb.send(&req);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("Upload-Offset"), Some("1000"));
    assert_claimed(&sb, &id, &data);
    let id = created(&sb, &create_req(10));
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
    let incomplete = created(&sb, &create_req(100));
    patch_ok(&sb, &incomplete, 0, &data[..30]);
    let complete = created(&sb, &create_req(100));
    patch_ok(&sb, &complete, 0, &data);
    for id in [&incomplete, &complete] {
        let r = sb.send(&tus("DELETE").path(&format!("/{id}")));
        assert_eq!(r.status, 204, "{}", r.text());
        assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
        assert_refused(&sb, &head(id), 404);
        assert_refused(&sb, &tus("DELETE").path(&format!("/{id}")), 404);
        sb.assert_absent(id);
    }
    assert_eq!(spool_entries(&sb), Vec::<String>::new());
    sb.assert_nothing_escapes();
}

/// TUS-35 CORS: the preflight allows the tus headers and methods and
/// carries discovery; answers expose the tus headers.
fn tus_35_cors(m: Mode) {
    const ORIGIN: &str = "https://app.example";
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let asked = "tus-resumable, upload-length, upload-defer-length, upload-metadata, \
                 upload-offset, x-http-method-override, x-request-id, content-type, authorization";
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
    let r = sb.send(&create_req(3).header("Origin", ORIGIN));
    assert_eq!(r.status, 201);
    let id = id_of(m, &r);
    let r = sb.send(&patch(&id, 0, b"abc").header("Origin", ORIGIN));
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(ORIGIN));
    let exposed = r.header("Access-Control-Expose-Headers").unwrap();
    for h in [
        "Location",
        "Upload-Offset",
        "Upload-Length",
        "Upload-Metadata",
        "Upload-Defer-Length",
        "Upload-Expires",
        "Tus-Version",
        "Tus-Resumable",
        "Tus-Max-Size",
        "Tus-Extension",
    ] {
        assert!(exposed.split(", ").any(|e| e == h), "{h} in {exposed}");
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
        &create_req(data.len()).header("Upload-Metadata", &metadata),
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
            let id = created(sb, &create_req(tus_data.len()));
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
        assert_refused(sb, &head(&fp_id), 404);
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
    tus_18_creation_with_upload,
    tus_19_creation_with_part,
    tus_20_method_override,
    tus_25_termination,
    tus_35_cors,
    tus_36_download,
    tus_37_three_protocols,
);
