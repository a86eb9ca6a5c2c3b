//! Conformance cases FP-01 … FP-61 of `filepond.md` §15, each run as CGI and
//! over `upspool serve` (see `in_every_mode!` at the bottom).

mod common;

use common::*;
use serde_json::json;

const LOAD_DIR: &str = "UPSPOOL_LOAD_DIR";
const FETCH_ALLOW: &str = "UPSPOOL_FETCH_ALLOW";
const FIELD: &str = "UPSPOOL_FILEPOND_FIELD";
const ORIGIN: &str = "https://app.example";

/// `P(...)`: a process POST as the client builds it (metadata part first).
fn process(metadata: &str, files: &[(&str, &str, &[u8])]) -> Req {
    let mut form = Form::new().field("filepond", metadata);
    for (name, ct, data) in files {
        form = form.file("filepond", name, ct, data);
    }
    Req::new("POST").form(form)
}

fn process_ok(sb: &Sandbox, name: &str, data: &[u8]) -> String {
    let r = sb.send(&process("{}", &[(name, "application/octet-stream", data)]));
    assert_eq!(r.status, 201, "{}", r.text());
    r.text()
}

/// `S(len)`: a transfer start.
fn start(len: &str) -> Req {
    Req::new("POST")
        .header("Upload-Length", len)
        .form(Form::new().field("filepond", "{}"))
}

fn start_ok(sb: &Sandbox, len: usize) -> String {
    let r = sb.send(&start(&len.to_string()));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.text();
    assert_hex_id(&id);
    id
}

/// `C(off, bytes)`: one chunk.
fn patch(id: &str, offset: usize, total: usize, name: &[u8], bytes: &[u8]) -> Req {
    Req::new("PATCH")
        .query(&format!("patch={id}"))
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .header("Upload-Length", total.to_string())
        .header("Upload-Name", name)
        .body(bytes.to_vec())
}

/// `C(...)` answered 204.
fn patch_ok(sb: &Sandbox, id: &str, offset: usize, total: usize, name: &[u8], bytes: &[u8]) {
    let r = sb.send(&patch(id, offset, total, name, bytes));
    assert_eq!(r.status, 204, "PATCH at {offset}: {}", r.text());
}

/// `H(id)`.
fn head(id: &str) -> Req {
    Req::new("HEAD").query(&format!("patch={id}"))
}

/// `D(body)`.
fn revert(body: impl Into<Vec<u8>>) -> Req {
    Req::new("DELETE")
        .header("Content-Type", "text/plain;charset=UTF-8")
        .body(body)
}

/// The status with its standard reason phrase and a plain-text message.
fn assert_error(r: &Resp, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.reason, reason);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(!r.body.is_empty());
}

fn offset_of(sb: &Sandbox, id: &str) -> u64 {
    let r = sb.send(&head(id));
    assert_eq!(r.status, 200);
    r.header("upload-offset").unwrap().parse().unwrap()
}

/// JavaScript's decodeURI: escapes of reserved characters stay as they are.
fn decode_uri(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            let v = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap();
            if v < 0x80 && ";/?:@&=+$,#".contains(v as char) {
                out.extend_from_slice(&b[i..i + 3]);
            } else {
                out.push(v);
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// FilePond's `getFileNameFromHeader` (filepond.md §10).
fn client_file_name(header: &str) -> String {
    let (before, star) = match header.find("filename*=") {
        Some(i) => {
            let rest = &header[i..];
            let j = rest.rfind("''").unwrap();
            (&header[..i], Some(&rest[j + 2..]))
        }
        None => (header, None),
    };
    let mut pieces: Vec<String> = before
        .split("filename=")
        .skip(1)
        .map(str::to_owned)
        .collect();
    pieces.extend(star.map(str::to_owned));
    let cleaned: Vec<String> = pieces
        .iter()
        .map(|p| {
            let mut t = p.trim().to_owned();
            if t.starts_with(['"', '\'']) {
                t.remove(0);
            }
            for _ in 0..2 {
                if t.ends_with([';', '"', '\'']) {
                    t.pop();
                }
            }
            t
        })
        .filter(|p| !p.is_empty())
        .collect();
    decode_uri(cleaned.last().unwrap())
}

/// RFC 8187 decoding of `filename*`.
fn rfc8187(header: &str) -> String {
    let value = header.split("filename*=UTF-8''").nth(1).unwrap();
    let b = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&value[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Sends the client's exact chunk sequence for a file (§4.2), trailing empty chunk included.
fn send_chunks(sb: &Sandbox, id: &str, name: &[u8], data: &[u8], chunk: usize) {
    for i in 0..=data.len() / chunk {
        let off = i * chunk;
        let r = sb.send(&patch(
            id,
            off,
            data.len(),
            name,
            &data[off..(off + chunk).min(data.len())],
        ));
        assert_eq!(r.status, 204, "chunk {i}: {}", r.text());
    }
}

// ---- process ------------------------------------------------------------------

/// FP-01 process with metadata: 201 text/plain id; restore; info.
fn fp_01_process(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&process(
        r#"{"k":"v"}"#,
        &[("hello.txt", "text/plain", b"hello world")],
    ));
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let id = r.text();
    assert_hex_id(&id);
    let got = sb.restore(&id);
    assert_eq!(
        (got.status, got.body.as_slice()),
        (200, &b"hello world"[..])
    );
    let info = sb.info(&id).unwrap();
    assert_eq!(
        (info["name"].as_str(), info["size"].as_u64()),
        (Some("hello.txt"), Some(11))
    );
    assert_eq!(
        (info["complete"].as_bool(), info["received"].as_u64()),
        (Some(true), Some(11))
    );
    assert_eq!(info["metadata"], json!({"k": "v"}));
}

/// FP-02 two process requests get two ids.
fn fp_02_distinct_ids(m: Mode) {
    let sb = Sandbox::new(m);
    assert_ne!(
        process_ok(&sb, "a.txt", b"a"),
        process_ok(&sb, "a.txt", b"a")
    );
}

/// FP-03 a zero-byte file.
fn fp_03_empty_file(m: Mode) {
    let sb = Sandbox::new(m);
    let id = process_ok(&sb, "empty.txt", b"");
    let r = sb.restore(&id);
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some("0"));
}

/// FP-04 every byte value, CRLFs and a fake boundary line.
fn fp_04_binary(m: Mode) {
    let sb = Sandbox::new(m);
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend_from_slice(
        format!("\r\n\r\n--{}x\r\n--fake\r\n", &Form::new().boundary[..20]).as_bytes(),
    );
    data.extend((0..=255u8).rev());
    let id = process_ok(&sb, "bin.dat", &data);
    assert_eq!(sha256(&sb.restore(&id).body), sha256(&data));
}

/// FP-05 three file parts with one name: the first is the file, two variants.
fn fp_05_variants(m: Mode) {
    let sb = Sandbox::new(m);
    let main = bytes(3000, 1);
    let r = sb.send(&process(
        "{}",
        &[
            ("photo.jpg", "image/jpeg", &main),
            ("medium_photo.jpg", "image/jpeg", &bytes(1000, 2)),
            ("small_photo.jpg", "image/jpeg", &bytes(200, 3)),
        ],
    ));
    assert_eq!(r.status, 201);
    let id = r.text();
    assert_eq!(sha256(&sb.restore(&id).body), sha256(&main));
    let info = sb.info(&id).unwrap();
    assert_eq!(
        info["variants"],
        json!([{"name": "medium_photo.jpg", "size": 1000}, {"name": "small_photo.jpg", "size": 200}])
    );
}

/// FP-06 a field named `filepond[]`.
fn fp_06_bracket_field(m: Mode) {
    let sb = Sandbox::new(m);
    let form = Form::new().field("filepond[]", "{}").file(
        "filepond[]",
        "b.txt",
        "text/plain",
        b"brackets",
    );
    let r = sb.send(&Req::new("POST").form(form));
    assert_eq!(r.status, 201);
    assert_eq!(sb.restore(&r.text()).body, b"brackets");
}

/// FP-07 cfg a configured field name.
fn fp_07_cfg_field_name(m: Mode) {
    let sb = Sandbox::with_env(m, &[(FIELD, "avatar")]);
    let ok = sb.send(
        &Req::new("POST").form(Form::new().field("avatar", "{}").file(
            "avatar",
            "me.png",
            "image/png",
            b"png",
        )),
    );
    assert_eq!(ok.status, 201);
    let r = sb.send(&process("{}", &[("me.png", "image/png", b"png")]));
    assert_error(&r, 400, "Bad Request");
}

/// FP-08 a Unicode name survives in info and in the disposition.
fn fp_08_unicode_name(m: Mode) {
    let sb = Sandbox::new(m);
    let name = "Grüße – naïve 日本 #1 & co+$.txt";
    let id = process_ok(&sb, name, b"x");
    assert_eq!(sb.info(&id).unwrap()["name"], name);
    let r = sb.restore(&id);
    assert_eq!(
        client_file_name(r.header("content-disposition").unwrap()),
        name
    );
}

/// FP-09 path parts are removed from names.
fn fp_09_name_paths(m: Mode) {
    let sb = Sandbox::new(m);
    for name in ["../../evil.txt", "C:\\x\\evil.txt"] {
        let id = process_ok(&sb, name, b"x");
        assert_eq!(sb.info(&id).unwrap()["name"], "evil.txt");
    }
    sb.assert_nothing_escapes();
}

/// FP-10 only metadata and no Upload-Length → 400.
fn fp_10_metadata_only(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&Req::new("POST").form(Form::new().field("filepond", "{}")));
    assert_error(&r, 400, "Bad Request");
    assert!(r.text().contains("Upload-Length"));
}

/// FP-11 malformed multipart bodies → 400.
fn fp_11_malformed(m: Mode) {
    let sb = Sandbox::new(m);
    let (ct, body) = Form::new()
        .field("filepond", "{}")
        .file("filepond", "a.txt", "text/plain", &bytes(3000, 1))
        .build();
    let cases = [
        Req::new("POST")
            .header("Content-Type", "multipart/form-data")
            .body(body.clone()),
        Req::new("POST")
            .header("Content-Type", &ct)
            .body(body[..body.len() - 10].to_vec()),
        Req::new("POST")
            .header("Content-Type", "text/plain")
            .body("just text"),
        Req::new("POST")
            .header("Content-Type", &ct)
            .body(body[..body.len() - 500].to_vec())
            .declare(body.len() as u64),
    ];
    for req in &cases {
        assert_error(&sb.send(req), 400, "Bad Request");
    }
    assert_eq!(
        std::fs::read_dir(sb.spool.join("complete"))
            .unwrap()
            .count(),
        0
    );
}

/// FP-12 metadata that is not a JSON object → 400.
fn fp_12_bad_metadata(m: Mode) {
    let sb = Sandbox::new(m);
    for meta in ["not json", "[1,2]"] {
        assert_error(
            &sb.send(&process(meta, &[("a.txt", "text/plain", b"a")])),
            400,
            "Bad Request",
        );
    }
}

/// FP-13 cfg the size limit.
fn fp_13_cfg_size_limit(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "100")]);
    process_ok(&sb, "ok.bin", &bytes(100, 1));
    assert_error(
        &sb.send(&process(
            "{}",
            &[("big.bin", "application/octet-stream", &bytes(101, 1))],
        )),
        413,
        "Payload Too Large",
    );
}

/// FP-14 cfg the extension allow-list.
fn fp_14_cfg_extensions(m: Mode) {
    let sb = Sandbox::with_env(m, &[(ALLOWED_EXTENSIONS, "txt")]);
    assert_error(
        &sb.send(&process(
            "{}",
            &[("a.exe", "application/octet-stream", b"x")],
        )),
        415,
        "Unsupported Media Type",
    );
    process_ok(&sb, "A.TXT", b"x");
}

// ---- chunks -------------------------------------------------------------------

/// FP-15 transfer start and the first HEAD.
fn fp_15_start(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 10007);
    let r = sb.send(&head(&id));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("upload-offset"), Some("0"));
    assert_eq!(r.header("upload-length"), Some("10007"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

/// FP-16 full transfers in the client's exact chunk sequence.
fn fp_16_full_transfers(m: Mode) {
    let sb = Sandbox::new(m);
    for (size, chunk) in [
        (10007, 1024),
        (10007, 5000),
        (10000, 2500),
        (5, 5),
        (3, 1000),
    ] {
        let data = bytes(size, size as u8);
        let id = start_ok(&sb, size);
        send_chunks(&sb, &id, b"parts.bin", &data, chunk);
        let r = sb.restore(&id);
        assert_eq!(sha256(&r.body), sha256(&data), "{size}/{chunk}");
        assert_eq!(
            client_file_name(r.header("content-disposition").unwrap()),
            "parts.bin"
        );
        let info = sb.info(&id).unwrap();
        assert_eq!(
            (info["complete"].as_bool(), info["size"].as_u64()),
            (Some(true), Some(size as u64))
        );
        assert_eq!(offset_of(&sb, &id), size as u64);
    }
}

/// FP-17 an empty transfer.
fn fp_17_empty_transfer(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 0);
    patch_ok(&sb, &id, 0, 0, b"e.txt", b"");
    let r = sb.restore(&id);
    assert_eq!((r.status, r.body.len()), (200, 0));
}

/// FP-18 a half-done transfer: HEAD tells where to resume.
fn fp_18_resume(m: Mode) {
    let sb = Sandbox::new(m);
    let (chunk, data) = (1000, bytes(4000, 18));
    let id = start_ok(&sb, 4000);
    for i in 0..2 {
        patch_ok(
            &sb,
            &id,
            i * chunk,
            4000,
            b"r.bin",
            &data[i * chunk..(i + 1) * chunk],
        );
    }
    assert_eq!(offset_of(&sb, &id), 2000);
    assert_eq!(sb.restore(&id).status, 404);
    let info = sb.info(&id).unwrap();
    assert_eq!(
        (info["complete"].as_bool(), info["received"].as_u64()),
        (Some(false), Some(2000))
    );
    let from = offset_of(&sb, &id) as usize;
    for off in (from..4000).step_by(chunk) {
        patch_ok(&sb, &id, off, 4000, b"r.bin", &data[off..off + chunk]);
    }
    assert_eq!(sha256(&sb.restore(&id).body), sha256(&data));
}

/// FP-19 a gap → 409 with the real offset.
fn fp_19_gap(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(3000, 19);
    let id = start_ok(&sb, 3000);
    patch_ok(&sb, &id, 0, 3000, b"g.bin", &data[..1000]);
    let r = sb.send(&patch(&id, 2000, 3000, b"g.bin", &data[2000..]));
    assert_error(&r, 409, "Conflict");
    assert_eq!(r.header("upload-offset"), Some("1000"));
    assert_eq!(offset_of(&sb, &id), 1000);
    patch_ok(&sb, &id, 1000, 3000, b"g.bin", &data[1000..2000]);
    patch_ok(&sb, &id, 2000, 3000, b"g.bin", &data[2000..]);
    assert_eq!(sb.restore(&id).body, data);
}

/// FP-20 retransmissions are harmless.
fn fp_20_retransmit(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(3000, 20);
    let id = start_ok(&sb, 3000);
    patch_ok(&sb, &id, 0, 3000, b"t.bin", &data[..1000]);
    patch_ok(&sb, &id, 1000, 3000, b"t.bin", &data[1000..2000]);
    patch_ok(&sb, &id, 0, 3000, b"t.bin", &data[..1000]);
    assert_eq!(offset_of(&sb, &id), 2000);
    patch_ok(&sb, &id, 2000, 3000, b"t.bin", &data[2000..]);
    patch_ok(&sb, &id, 2000, 3000, b"t.bin", &data[2000..]);
    assert_eq!(sb.restore(&id).body, data);
}

/// FP-21 malformed `Upload-Offset` → 400.
fn fp_21_bad_offsets(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 100);
    let mut missing = patch(&id, 0, 100, b"o.bin", b"abc");
    missing.headers.retain(|(n, _)| n != "Upload-Offset");
    assert_error(&sb.send(&missing), 400, "Bad Request");
    for bad in [
        "abc",
        "-5",
        "+5",
        "1.0",
        "1e3",
        "0x10",
        "18446744073709551616",
        "1000000000000000000000000000000",
    ] {
        let mut r = patch(&id, 0, 100, b"o.bin", b"abc");
        r.headers.retain(|(n, _)| n != "Upload-Offset");
        assert_error(
            &sb.send(&r.header("Upload-Offset", bad)),
            400,
            "Bad Request",
        );
    }
    assert_eq!(offset_of(&sb, &id), 0);
}

/// FP-22 a chunk past the length, or a different length → 400.
fn fp_22_length_checks(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 100);
    assert_error(
        &sb.send(&patch(&id, 50, 100, b"l.bin", &bytes(60, 1))),
        400,
        "Bad Request",
    );
    assert_error(
        &sb.send(&patch(&id, 0, 101, b"l.bin", &bytes(10, 1))),
        400,
        "Bad Request",
    );
    assert_eq!(offset_of(&sb, &id), 0);
}

/// FP-23 a chunk with the wrong content type → 415.
fn fp_23_chunk_content_type(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 10);
    let mut r = patch(&id, 0, 10, b"c.bin", b"0123456789");
    r.headers.retain(|(n, _)| n != "Content-Type");
    assert_error(
        &sb.send(&r.header("Content-Type", "application/octet-stream")),
        415,
        "Unsupported Media Type",
    );
}

/// FP-24 malformed `Upload-Length` on start → 400.
fn fp_24_bad_lengths(m: Mode) {
    let sb = Sandbox::new(m);
    for bad in ["abc", "-1", "+3", "18446744073709551616"] {
        assert_error(&sb.send(&start(bad)), 400, "Bad Request");
    }
}

/// FP-25 cfg the size limit on start.
fn fp_25_cfg_start_limit(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "100")]);
    assert_error(&sb.send(&start("101")), 413, "Payload Too Large");
    start_ok(&sb, 100);
}

/// FP-26 PATCH and HEAD on an unknown id → 404.
fn fp_26_unknown_id(m: Mode) {
    let sb = Sandbox::new(m);
    let id = "0123456789abcdef0123456789abcdef";
    assert_error(
        &sb.send(&patch(id, 0, 3, b"u.bin", b"abc")),
        404,
        "Not Found",
    );
    let r = sb.send(&head(id));
    assert_eq!(r.status, 404);
    assert!(r.header("upload-offset").is_none());
}

/// FP-27 a raw UTF-8 `Upload-Name`.
fn fp_27_utf8_upload_name(m: Mode) {
    let sb = Sandbox::new(m);
    let name = "Über 日本.bin";
    let id = start_ok(&sb, 4);
    patch_ok(&sb, &id, 0, 4, name.as_bytes(), b"data");
    assert_eq!(sb.info(&id).unwrap()["name"], name);
    assert_eq!(
        client_file_name(sb.restore(&id).header("content-disposition").unwrap()),
        name
    );
}

/// FP-28 a truncated chunk stores nothing.
fn fp_28_truncated_chunk(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(1000, 28);
    let id = start_ok(&sb, 1000);
    let r = sb.send(&patch(&id, 0, 1000, b"t.bin", &data[..500]).declare(1000));
    assert_error(&r, 400, "Bad Request");
    assert_eq!(offset_of(&sb, &id), 0);
    patch_ok(&sb, &id, 0, 1000, b"t.bin", &data);
    assert_eq!(sb.restore(&id).body, data);
}

/// FP-29 the endpoint URL with its own query.
fn fp_29_query_prefix(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 3);
    let mut r = patch(&id, 0, 3, b"q.txt", b"abc");
    r.query = format!("x=1&patch={id}");
    assert_eq!(sb.send(&r).status, 204);
    let h = sb.send(&Req::new("HEAD").query(&format!("x=1&patch={id}")));
    assert_eq!(h.header("upload-offset"), Some("3"));
    assert_eq!(
        sb.send(&Req::new("GET").query(&format!("x=1&restore={id}")))
            .body,
        b"abc"
    );
}

// ---- revert -------------------------------------------------------------------

/// FP-30 revert a complete upload.
fn fp_30_revert_complete(m: Mode) {
    let sb = Sandbox::new(m);
    let id = process_ok(&sb, "a.txt", b"a");
    assert_eq!(sb.send(&revert(id.clone())).status, 204);
    assert_eq!(sb.restore(&id).status, 404);
    sb.assert_absent(&id);
}

/// FP-31 revert an incomplete transfer.
fn fp_31_revert_incomplete(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 10);
    patch_ok(&sb, &id, 0, 10, b"i.bin", b"01234");
    assert_eq!(sb.send(&revert(id.clone())).status, 204);
    assert_eq!(sb.send(&head(&id)).status, 404);
    assert_eq!(sb.send(&patch(&id, 5, 10, b"i.bin", b"56789")).status, 404);
}

/// FP-32 revert is idempotent.
fn fp_32_revert_unknown(m: Mode) {
    let sb = Sandbox::new(m);
    assert_eq!(
        sb.send(&revert("0123456789abcdef0123456789abcdef")).status,
        204
    );
    let id = process_ok(&sb, "a.txt", b"a");
    assert_eq!(sb.send(&revert(id.clone())).status, 204);
    assert_eq!(sb.send(&revert(id)).status, 204);
}

/// FP-33 the id is trimmed.
fn fp_33_revert_trims(m: Mode) {
    let sb = Sandbox::new(m);
    let id = process_ok(&sb, "a.txt", b"a");
    assert_eq!(sb.send(&revert(format!("\n {id} \r\n"))).status, 204);
    sb.assert_absent(&id);
}

/// FP-34 bad ids in a revert → 400; nothing else touched.
fn fp_34_revert_bad_ids(m: Mode) {
    let sb = Sandbox::new(m);
    let keep = process_ok(&sb, "keep.txt", b"keep");
    let victim = sb.sandbox_path().join("victim.txt");
    std::fs::write(&victim, b"victim").unwrap();
    let long = "a".repeat(129);
    for bad in [
        "../victim.txt",
        "../../victim.txt",
        "a/b",
        "..",
        "",
        "abc\0def",
        long.as_str(),
        "../spool",
    ] {
        assert_error(&sb.send(&revert(bad)), 400, "Bad Request");
    }
    assert_eq!(sb.restore(&keep).body, b"keep");
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim");
    std::fs::remove_file(victim).unwrap();
    sb.assert_nothing_escapes();
}

// ---- restore ------------------------------------------------------------------

/// FP-35 restore headers.
fn fp_35_restore_headers(m: Mode) {
    let sb = Sandbox::new(m);
    let name = "Résumé 2024.txt";
    let id = sb
        .send(&process("{}", &[(name, "text/plain", b"hello")]))
        .text();
    let r = sb.restore(&id);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("5"));
    let d = r.header("content-disposition").unwrap();
    assert!(d.starts_with("inline;"), "{d}");
    let plain = d.find("filename=").unwrap();
    let star = d.find("filename*=UTF-8''").unwrap();
    assert!(plain < star);
    assert!(d[plain..star].is_ascii());
    assert_eq!(client_file_name(d), name);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

/// FP-36 a name full of special characters.
fn fp_36_weird_name(m: Mode) {
    let sb = Sandbox::new(m);
    let name = "we\"ird; 100% =,@ name.txt";
    let id = start_ok(&sb, 2);
    patch_ok(&sb, &id, 0, 2, name.as_bytes(), b"ok");
    let d = sb
        .restore(&id)
        .header("content-disposition")
        .unwrap()
        .to_owned();
    assert_eq!(rfc8187(&d), name);
    let fallback = &d[d.find("filename=\"").unwrap() + 10..d.find("\"; filename*").unwrap()];
    assert!(!fallback.contains(['"', '\\', '%']), "{fallback}");
}

/// FP-37 restore of unknown and malformed ids.
fn fp_37_restore_bad_ids(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.restore("0123456789abcdef0123456789abcdef");
    assert_error(&r, 404, "Not Found");
    let long = "a".repeat(129);
    for bad in [
        "../../etc/passwd",
        "%00",
        "a%2Fb",
        "",
        "..",
        "a%20b",
        long.as_str(),
    ] {
        let r = sb.send(&Req::new("GET").query(&format!("restore={bad}")));
        assert_error(&r, 400, "Bad Request");
    }
}

/// FP-38 active content is served as an attachment in a sandbox.
fn fp_38_html_attachment(m: Mode) {
    let sb = Sandbox::new(m);
    let id = sb
        .send(&process(
            "{}",
            &[("x.html", "text/html", b"<script>alert(1)</script>")],
        ))
        .text();
    let r = sb.restore(&id);
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );
}

// ---- load ---------------------------------------------------------------------

fn load_sandbox(m: Mode) -> (Sandbox, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let dir = files.path().join("load");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("report.txt"), b"report bytes").unwrap();
    std::fs::write(dir.join("sub/deep.txt"), b"deep bytes").unwrap();
    std::fs::write(files.path().join("secret.txt"), b"TOP SECRET").unwrap();
    std::os::unix::fs::symlink(files.path().join("secret.txt"), dir.join("link.txt")).unwrap();
    let sb = Sandbox::with_env(m, &[(LOAD_DIR, dir.to_str().unwrap())]);
    (sb, files)
}

/// FP-39 cfg files from the load directory.
fn fp_39_cfg_load(m: Mode) {
    let (sb, _files) = load_sandbox(m);
    for (source, name, body) in [
        ("report.txt", "report.txt", &b"report bytes"[..]),
        ("sub%2Fdeep.txt", "deep.txt", b"deep bytes"),
    ] {
        let r = sb.send(&Req::new("GET").query(&format!("load={source}")));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, body);
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(
            client_file_name(r.header("content-disposition").unwrap()),
            name
        );
    }
}

/// FP-40 cfg load sources that try to escape → 400.
fn fp_40_cfg_load_escapes(m: Mode) {
    let (sb, _files) = load_sandbox(m);
    // As the client sends them: encodeURIComponent of the source.
    for source in [
        "..%2Fsecret.txt",
        "%2Fetc%2Fpasswd",
        "sub%2F..%2F..%2Fsecret.txt",
        "a%00b",
        "sub%5Cdeep.txt",
        "",
        ".%2Freport.txt",
    ] {
        let r = sb.send(&Req::new("GET").query(&format!("load={source}")));
        assert_error(&r, 400, "Bad Request");
        assert!(!r.text().contains("SECRET"));
    }
}

/// FP-41 cfg missing files, symlinks out, no load directory → 404.
fn fp_41_cfg_load_missing(m: Mode) {
    let (sb, _files) = load_sandbox(m);
    assert_error(
        &sb.send(&Req::new("GET").query("load=missing.txt")),
        404,
        "Not Found",
    );
    let r = sb.send(&Req::new("GET").query("load=link.txt"));
    assert_error(&r, 404, "Not Found");
    assert!(!r.text().contains("SECRET"));
    let plain = Sandbox::new(m);
    assert_error(
        &plain.send(&Req::new("GET").query("load=report.txt")),
        404,
        "Not Found",
    );
}

// ---- fetch --------------------------------------------------------------------

fn remote_txt() -> RemoteServer {
    RemoteServer::start(
        "127.0.0.1",
        vec![
            (
                "/remote.txt",
                200,
                vec![("Content-Type", "text/plain".into())],
                b"remote bytes".to_vec(),
            ),
            (
                "/dl?id=7",
                200,
                vec![
                    ("Content-Type", "text/plain".into()),
                    (
                        "Content-Disposition",
                        "attachment; filename=\"report final.txt\"".into(),
                    ),
                ],
                b"final".to_vec(),
            ),
            ("/big.bin", 200, vec![], bytes(1000, 5)),
            (
                "/page.html",
                200,
                vec![("Content-Type", "text/html; charset=utf-8".into())],
                b"<script>x</script>".to_vec(),
            ),
        ],
    )
}

fn fetch(url: &str, method: &str) -> Req {
    Req::new(method).query(&format!("fetch={}", enc(url)))
}

/// FP-42 default config: fetch refused before any request.
fn fp_42_fetch_off(m: Mode) {
    let remote = remote_txt();
    let sb = Sandbox::new(m);
    assert_error(
        &sb.send(&fetch(&remote.url("/remote.txt"), "GET")),
        403,
        "Forbidden",
    );
    assert_eq!(remote.hits(), 0);
}

/// FP-43 cfg GET fetch proxies the file and stores nothing.
fn fp_43_cfg_fetch_get(m: Mode) {
    let remote = remote_txt();
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1")]);
    let r = sb.send(&fetch(&remote.url("/remote.txt"), "GET"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"remote bytes");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("12"));
    assert_eq!(
        client_file_name(r.header("content-disposition").unwrap()),
        "remote.txt"
    );
    assert!(r.header("x-content-transfer-id").is_none());
    assert_eq!(
        std::fs::read_dir(sb.spool.join("complete"))
            .unwrap()
            .count(),
        0
    );
}

/// FP-44 cfg HEAD fetch stores the file and names its id.
fn fp_44_cfg_fetch_head(m: Mode) {
    let remote = remote_txt();
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1")]);
    let r = sb.send(&fetch(&remote.url("/remote.txt"), "HEAD"));
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let id = r.header("x-content-transfer-id").unwrap().to_owned();
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(r.header("content-length"), Some("12"));
    assert_eq!(
        client_file_name(r.header("content-disposition").unwrap()),
        "remote.txt"
    );
    assert_eq!(sb.restore(&id).body, b"remote bytes");
}

/// FP-45 cfg the remote's own file name wins.
fn fp_45_cfg_remote_disposition(m: Mode) {
    let remote = remote_txt();
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1")]);
    let r = sb.send(&fetch(&remote.url("/dl?id=7"), "GET"));
    assert_eq!(r.status, 200);
    assert_eq!(
        client_file_name(r.header("content-disposition").unwrap()),
        "report final.txt"
    );
}

/// FP-46 cfg allow-lists that do not cover the address → 403, no request.
fn fp_46_cfg_not_allowed(m: Mode) {
    let remote = remote_txt();
    for allow in ["example.invalid", "public", "127.0.0.2", "127.0.0.1:1"] {
        let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, allow)]);
        assert_error(
            &sb.send(&fetch(&remote.url("/remote.txt"), "GET")),
            403,
            "Forbidden",
        );
    }
    assert_eq!(remote.hits(), 0);
}

/// FP-47 cfg a redirect to an address that is not allowed → 403.
fn fp_47_cfg_redirect_checked(m: Mode) {
    let second = RemoteServer::start("127.0.0.2", vec![("/x", 200, vec![], b"inner".to_vec())]);
    let first = RemoteServer::start(
        "127.0.0.1",
        vec![("/go", 302, vec![("Location", second.url("/x"))], vec![])],
    );
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1")]);
    assert_error(&sb.send(&fetch(&first.url("/go"), "GET")), 403, "Forbidden");
    assert_eq!(first.hits(), 1);
    assert_eq!(second.hits(), 0);
}

/// FP-48 cfg URLs that are not fetched → 400.
fn fp_48_cfg_bad_urls(m: Mode) {
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1")]);
    for url in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1/x",
        "http://user:pw@127.0.0.1/x",
        "not a url",
        "",
    ] {
        assert_error(&sb.send(&fetch(url, "GET")), 400, "Bad Request");
    }
}

/// FP-49 cfg a remote 404 → 502.
fn fp_49_cfg_remote_error(m: Mode) {
    let remote = remote_txt();
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1")]);
    let r = sb.send(&fetch(&remote.url("/nothing"), "GET"));
    assert_error(&r, 502, "Bad Gateway");
    assert!(r.text().contains("404"));
}

/// FP-50 cfg the size limit applies to fetches.
fn fp_50_cfg_fetch_limit(m: Mode) {
    let remote = remote_txt();
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1"), (MAX_SIZE, "100")]);
    assert_error(
        &sb.send(&fetch(&remote.url("/big.bin"), "GET")),
        413,
        "Payload Too Large",
    );
    let r = sb.send(&fetch(&remote.url("/big.bin"), "HEAD"));
    assert_eq!(r.status, 413);
    assert!(r.header("x-content-transfer-id").is_none());
}

/// FP-51 cfg remote HTML is served as a sandboxed attachment.
fn fp_51_cfg_fetch_html(m: Mode) {
    let remote = remote_txt();
    let sb = Sandbox::with_env(m, &[(FETCH_ALLOW, "127.0.0.1")]);
    let r = sb.send(&fetch(&remote.url("/page.html"), "GET"));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );
}

// ---- CORS and methods ---------------------------------------------------------

fn preflight(method: &str, headers: &str, origin: &str) -> Req {
    Req::new("OPTIONS")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
}

/// FP-52 default config: no CORS headers.
fn fp_52_no_cors(m: Mode) {
    let sb = Sandbox::new(m);
    assert!(
        sb.send(&preflight("POST", "content-type", ORIGIN))
            .header("access-control-allow-origin")
            .is_none()
    );
    let r = sb.send(&process("{}", &[("a.txt", "text/plain", b"a")]).header("Origin", ORIGIN));
    assert_eq!(r.status, 201);
    assert!(r.header("access-control-allow-origin").is_none());
}

/// FP-53 cfg preflight for PATCH.
fn fp_53_cfg_preflight(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let asked = "content-type,upload-length,upload-offset,upload-name,x-csrf-token";
    let r = sb.send(&preflight("PATCH", asked, ORIGIN));
    assert_preflight_allows(
        &r,
        ORIGIN,
        &["PATCH", "DELETE", "POST", "HEAD", "GET"],
        asked,
    );
    assert!(r.header("vary").unwrap().contains("Origin"));
}

/// FP-54 cfg preflight from another origin → 403.
fn fp_54_cfg_other_origin(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let r = sb.send(&preflight("PATCH", "content-type", "https://evil.example"));
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
}

/// FP-55 cfg CORS headers on answers, errors included.
fn fp_55_cfg_cors_answers(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let p = sb.send(&process("{}", &[("a.txt", "text/plain", b"a")]).header("Origin", ORIGIN));
    let id = p.text();
    let answers = [
        p,
        sb.send(
            &Req::new("GET")
                .query(&format!("restore={id}"))
                .header("Origin", ORIGIN),
        ),
        sb.send(&head(&id).header("Origin", ORIGIN)),
        sb.send(
            &Req::new("GET")
                .query("restore=0123456789abcdef0123456789abcdef")
                .header("Origin", ORIGIN),
        ),
    ];
    assert_eq!(answers[3].status, 404);
    for r in &answers {
        assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        let expose = r.header("access-control-expose-headers").unwrap();
        for h in [
            "Upload-Offset",
            "Content-Disposition",
            "Content-Length",
            "X-Content-Transfer-Id",
        ] {
            assert!(expose.contains(h), "{expose}");
        }
    }
}

/// FP-56 cfg `*` allows any origin without credentials.
fn fp_56_cfg_any_origin(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, "*")]);
    let r = sb.send(&process("{}", &[("a.txt", "text/plain", b"a")]).header("Origin", ORIGIN));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-credentials").is_none());
}

/// FP-57 OPTIONS without Origin lists the methods.
fn fp_57_options_allow(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&Req::new("OPTIONS"));
    assert_eq!(r.status, 204);
    let allow = r.header("allow").unwrap();
    for mth in ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"] {
        assert!(allow.contains(mth));
    }
}

/// FP-58 errors are plain text with the standard reason phrase.
fn fp_58_error_format(m: Mode) {
    let sb = Sandbox::new(m);
    assert_error(
        &sb.send(&Req::new("GET").query("restore=..")),
        400,
        "Bad Request",
    );
    assert_error(
        &sb.send(&Req::new("GET").query("restore=abc")),
        404,
        "Not Found",
    );
    let id = start_ok(&sb, 10);
    assert_error(
        &sb.send(&patch(&id, 5, 10, b"x", b"56789")),
        409,
        "Conflict",
    );
    let mut r = patch(&id, 0, 10, b"x", b"01234");
    r.headers.retain(|(n, _)| n != "Content-Type");
    assert_error(&sb.send(&r), 415, "Unsupported Media Type");
}

/// FP-59 PUT → 405 with Allow.
fn fp_59_put(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&Req::new("PUT").body("x"));
    assert_error(&r, 405, "Method Not Allowed");
    assert!(r.header("allow").unwrap().contains("PATCH"));
}

// ---- app integration ----------------------------------------------------------

/// FP-60 claim after process.
fn fp_60_claim(m: Mode) {
    let sb = Sandbox::new(m);
    let data = bytes(5000, 60);
    let id = process_ok(&sb, "c.bin", &data);
    let dest = sb.outside.path().join("c.bin");
    let out = sb.admin(&["claim", &id, dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            printed["id"].as_str(),
            printed["name"].as_str(),
            printed["size"].as_u64()
        ),
        (Some(id.as_str()), Some("c.bin"), Some(5000))
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(sb.restore(&id).status, 404);
    sb.assert_absent(&id);
}

/// FP-61 claim of an incomplete or unknown id.
fn fp_61_claim_refused(m: Mode) {
    let sb = Sandbox::new(m);
    let id = start_ok(&sb, 10);
    patch_ok(&sb, &id, 0, 10, b"x", b"01234");
    let dest = sb.outside.path().join("x");
    for which in [id.as_str(), "0123456789abcdef0123456789abcdef"] {
        let out = sb.admin(&["claim", which, dest.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(!out.stderr.is_empty());
        assert!(!dest.exists());
    }
    assert_eq!(offset_of(&sb, &id), 5);
}

/// With `accel_redirect` set, a restore answers with the file's headers and
/// the internal location of its data, and no body; nginx sends the file
/// (tests/e2e/servers.rs checks that part). Unknown ids still get upspool's 404.
fn restore_with_accel_redirect(m: Mode) {
    let sb = Sandbox::with_env(m, &[("UPSPOOL_ACCEL_REDIRECT", "/upspool-files/")]);
    let id = sb
        .send(&process("{}", &[("page.html", "text/html", b"<script>")]))
        .text();
    let r = sb.restore(&id);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-accel-redirect"),
        Some(format!("/upspool-files/complete/{id}").as_str())
    );
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // The data is where the location says, relative to the spool.
    let stored = sb.sandbox_path().join("spool/complete").join(&id);
    assert_eq!(std::fs::read(stored).unwrap(), b"<script>");
    let missing = sb.restore("no-such-id");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-accel-redirect"), None);
    assert_eq!(sb.restore("../complete").status, 400);
}

/// Both widgets share one spool: a Fine Uploader upload restores and claims by id.
fn shared_namespace(m: Mode) {
    let sb = Sandbox::new(m);
    let id = "8f14e45f-ceea-467a-9575-000000000abc";
    let form = Form::new()
        .field("qquuid", id)
        .field("qqfilename", "fu.txt")
        .file("qqfile", "fu.txt", "text/plain", b"from fine uploader");
    assert_eq!(sb.send(&Req::new("POST").xhr().form(form)).status, 200);
    assert_eq!(sb.restore(id).body, b"from fine uploader");
    assert_eq!(sb.send(&head(id)).header("upload-offset"), Some("18"));
    let dest = sb.outside.path().join("fu.txt");
    assert_eq!(
        sb.admin(&["claim", id, dest.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(std::fs::read(dest).unwrap(), b"from fine uploader");
}

/// A transfer cut in the middle of a chunk resumes where HEAD says, byte-identical.
fn interrupted_chunk_resumes_through_head(m: Mode) {
    let sb = Sandbox::new(m);
    let (chunk, data) = (100_000, bytes(550_000, 77));
    let id = start_ok(&sb, data.len());
    for off in [0, chunk] {
        patch_ok(
            &sb,
            &id,
            off,
            data.len(),
            b"cut.bin",
            &data[off..off + chunk],
        );
    }
    let cut = patch(
        &id,
        2 * chunk,
        data.len(),
        b"cut.bin",
        &data[2 * chunk..2 * chunk + 40_000],
    )
    .declare(chunk as u64);
    assert_eq!(sb.send(&cut).status, 400);
    let mut off = offset_of(&sb, &id) as usize;
    assert_eq!(off, 2 * chunk);
    while off <= data.len() {
        let end = (off + chunk).min(data.len());
        patch_ok(&sb, &id, off, data.len(), b"cut.bin", &data[off..end]);
        off += chunk;
    }
    assert_eq!(sha256(&sb.restore(&id).body), sha256(&data));
}

in_every_mode!(
    interrupted_chunk_resumes_through_head,
    fp_01_process,
    fp_02_distinct_ids,
    fp_03_empty_file,
    fp_04_binary,
    fp_05_variants,
    fp_06_bracket_field,
    fp_07_cfg_field_name,
    fp_08_unicode_name,
    fp_09_name_paths,
    fp_10_metadata_only,
    fp_11_malformed,
    fp_12_bad_metadata,
    fp_13_cfg_size_limit,
    fp_14_cfg_extensions,
    fp_15_start,
    fp_16_full_transfers,
    fp_17_empty_transfer,
    fp_18_resume,
    fp_19_gap,
    fp_20_retransmit,
    fp_21_bad_offsets,
    fp_22_length_checks,
    fp_23_chunk_content_type,
    fp_24_bad_lengths,
    fp_25_cfg_start_limit,
    fp_26_unknown_id,
    fp_27_utf8_upload_name,
    fp_28_truncated_chunk,
    fp_29_query_prefix,
    fp_30_revert_complete,
    fp_31_revert_incomplete,
    fp_32_revert_unknown,
    fp_33_revert_trims,
    fp_34_revert_bad_ids,
    fp_35_restore_headers,
    fp_36_weird_name,
    fp_37_restore_bad_ids,
    fp_38_html_attachment,
    fp_39_cfg_load,
    fp_40_cfg_load_escapes,
    fp_41_cfg_load_missing,
    fp_42_fetch_off,
    fp_43_cfg_fetch_get,
    fp_44_cfg_fetch_head,
    fp_45_cfg_remote_disposition,
    fp_46_cfg_not_allowed,
    fp_47_cfg_redirect_checked,
    fp_48_cfg_bad_urls,
    fp_49_cfg_remote_error,
    fp_50_cfg_fetch_limit,
    fp_51_cfg_fetch_html,
    fp_52_no_cors,
    fp_53_cfg_preflight,
    fp_54_cfg_other_origin,
    fp_55_cfg_cors_answers,
    fp_56_cfg_any_origin,
    fp_57_options_allow,
    fp_58_error_format,
    fp_59_put,
    fp_60_claim,
    fp_61_claim_refused,
    shared_namespace,
    restore_with_accel_redirect,
);
