//! Conformance cases FU-01 … FU-111 of `fine-uploader.md` Part D, each run as
//! CGI and over `upspool serve` (see `in_every_mode!` at the bottom).

mod common;

use common::*;
use serde_json::{Value, json};

/// A version-4-looking uuid, distinct per `n`.
fn uuid(n: u32) -> String {
    format!("8f14e45f-ceea-467a-9575-{n:012x}")
}

/// The v5 default simple upload: params in body, file part last (A.3 shape 1).
fn simple(id: &str, name: &str, data: &[u8]) -> Form {
    // No real file name holds a NUL or DEL: such a client sends the name in
    // qqfilename and a blob part, as it does for Blob items (A.3).
    let part_name = if name.contains(['\0', '\x7f', '\t']) {
        "blob"
    } else {
        name
    };
    Form::new()
        .field("qquuid", id)
        .field("qqfilename", name)
        .field("qqtotalfilesize", data.len().to_string())
        .file("qqfile", part_name, "application/octet-stream", data)
}

/// Chunk parameters in the client's order (A.2, A.4).
fn chunk_params(
    id: &str,
    name: &str,
    total: usize,
    part: usize,
    index: usize,
    resume: bool,
) -> Vec<(String, String)> {
    let offset = index * part;
    let size = part.min(total - offset);
    let mut p = vec![
        ("qqpartindex".to_string(), index.to_string()),
        ("qqpartbyteoffset".to_string(), offset.to_string()),
        ("qqchunksize".to_string(), size.to_string()),
        ("qqtotalparts".to_string(), total.div_ceil(part).to_string()),
        ("qqtotalfilesize".to_string(), total.to_string()),
    ];
    if resume {
        p.push(("qqresume".into(), "true".into()));
    }
    p.push(("qquuid".into(), id.into()));
    p.push(("qqfilename".into(), name.into()));
    p
}

/// One multipart chunk request of `data` cut in parts of `part` bytes.
fn chunk(id: &str, name: &str, data: &[u8], part: usize, index: usize) -> Req {
    chunk_with(id, name, data, part, index, false, &[])
}

fn chunk_with(
    id: &str,
    name: &str,
    data: &[u8],
    part: usize,
    index: usize,
    resume: bool,
    extra: &[(&str, &str)],
) -> Req {
    let offset = index * part;
    let bytes = &data[offset..(offset + part).min(data.len())];
    let mut form = Form::new();
    for (k, v) in extra {
        form = form.field(k, v);
    }
    for (k, v) in chunk_params(id, name, data.len(), part, index, resume) {
        form = form.field(&k, v);
    }
    Req::new("POST")
        .xhr()
        .form(form.file("qqfile", "blob", "application/octet-stream", bytes))
}

/// The chunking-success request (A.5), urlencoded.
fn done(id: &str, name: &str, total: usize, parts: usize) -> Req {
    let body = qs(&[
        ("qquuid", id),
        ("qqfilename", name),
        ("qqtotalfilesize", &total.to_string()),
        ("qqtotalparts", &parts.to_string()),
    ]);
    Req::new("POST")
        .query("done")
        .header("Accept", "application/json")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
}

fn post(sb: &Sandbox, form: Form) -> Resp {
    sb.send(&Req::new("POST").xhr().form(form))
}

/// B.5 success: 200, text/plain, `{"success":true,"uuid","name"}`.
fn assert_ok(r: &Resp, id: &str, name: &str) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.json(), json!({"success": true, "uuid": id, "name": name}));
}

/// B.5 failure: the status, `success:false` and an `error` message.
fn assert_fail(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let j = r.json();
    assert_eq!(j["success"], false, "{j}");
    assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
    j
}

fn assert_prevent_retry(r: &Resp, status: u16) {
    let j = assert_fail(r, status);
    assert_eq!(j["preventRetry"], true, "{j}");
    assert!(j.get("reset").is_none(), "{j}");
}

fn assert_reset(r: &Resp) {
    let j = assert_fail(r, 409);
    assert_eq!(j["reset"], true, "{j}");
    assert!(j.get("preventRetry").is_none(), "{j}");
}

/// Sends every part of `data` in index order.
fn upload_chunked(sb: &Sandbox, id: &str, name: &str, data: &[u8], part: usize) {
    for i in 0..data.len().div_ceil(part) {
        assert_ok(&sb.send(&chunk(id, name, data, part, i)), id, name);
    }
}

// ---- Simple uploads -------------------------------------------------------

/// FU-01 multipart, params in body → stored; name report.pdf.
fn fu_01_simple_params_in_body(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(1), bytes(5000, 1));
    assert_ok(
        &post(&sb, simple(&id, "report.pdf", &data)),
        &id,
        "report.pdf",
    );
    let info = sb.assert_stored(&id, &data);
    assert_eq!(info["name"], "report.pdf");
    sb.assert_nothing_escapes();
}

/// FU-02 multipart with params in the query, `+` for spaces, `%2B` for plus.
fn fu_02_params_in_query(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data, name) = (uuid(2), bytes(300, 2), "my file (1) ü+x.txt");
    let query = qs(&[
        ("qquuid", &id),
        ("qqfilename", name),
        ("qqtotalfilesize", &data.len().to_string()),
    ]);
    assert!(query.contains("my+file+(1)+%C3%BC%2Bx.txt"));
    let form = Form::new().file("qqfile", name, "text/plain", &data);
    let r = sb.send(&Req::new("POST").query(&query).xhr().form(form));
    assert_ok(&r, &id, name);
    assert_eq!(sb.assert_stored(&id, &data)["name"], name);
}

/// FU-03 part filename `blob`, `qqfilename=photo.jpg` → name photo.jpg.
fn fu_03_blob_filename(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(3), bytes(100, 3));
    let form = Form::new()
        .field("qquuid", &id)
        .field("qqfilename", "photo.jpg")
        .field("qqtotalfilesize", "100")
        .file("qqfile", "blob", "image/jpeg", &data);
    assert_ok(&post(&sb, form), &id, "photo.jpg");
    assert_eq!(sb.assert_stored(&id, &data)["name"], "photo.jpg");
}

/// FU-04 no qqfilename, IE full path in the part → name old-ie.txt.
fn fu_04_ie_full_path(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(4), bytes(10, 4));
    let form = Form::new().field("qquuid", &id).file(
        "qqfile",
        "C:\\Users\\me\\old-ie.txt",
        "text/plain",
        &data,
    );
    assert_ok(&post(&sb, form), &id, "old-ie.txt");
    assert_eq!(sb.assert_stored(&id, &data)["name"], "old-ie.txt");
}

/// FU-05 raw body upload, name from the query.
fn fu_05_raw_body(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(5), bytes(4096, 5));
    let query = qs(&[
        ("qquuid", &id),
        ("qqfilename", "raw data.bin"),
        ("qqfile", "raw data.bin"),
    ]);
    let r = sb.send(
        &Req::new("POST")
            .query(&query)
            .xhr()
            .header("Content-Type", "application/octet-stream")
            .header("X-Mime-Type", "application/x-thing")
            .body(data.clone()),
    );
    assert_ok(&r, &id, "raw data.bin");
    let info = sb.assert_stored(&id, &data);
    assert_eq!(info["type"], "application/x-thing");
}

/// FU-06 every byte value, CR/LF runs and near-boundary sequences survive.
fn fu_06_binary_exact(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(6);
    let boundary = Form::new().boundary;
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend_from_slice(b"\r\n\r\n\r\r\n\n--\r\n--");
    data.extend_from_slice(format!("\r\n--{}", &boundary[..boundary.len() - 1]).as_bytes());
    data.extend_from_slice(format!("x--{boundary}--").as_bytes());
    data.extend_from_slice(b"\r\n-");
    data.extend((0..=255u8).rev());
    data.extend_from_slice(b"\r\n");
    assert_ok(&post(&sb, simple(&id, "bin.dat", &data)), &id, "bin.dat");
    sb.assert_stored(&id, &data);
}

/// FU-07 a 0-byte file is a valid upload.
fn fu_07_empty_file(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(7);
    assert_ok(&post(&sb, simple(&id, "empty.txt", b"")), &id, "empty.txt");
    sb.assert_stored(&id, b"");
}

/// FU-08 iframe-style request: no X-Requested-With, no qqtotalfilesize.
fn fu_08_iframe_style(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(8), bytes(700, 8));
    let form = Form::new()
        .field("qquuid", &id)
        .field("qqfilename", "legacy.txt")
        .file("qqfile", "legacy.txt", "text/plain", &data);
    let r = sb.send(&Req::new("POST").form(form));
    assert_ok(&r, &id, "legacy.txt");
    sb.assert_stored(&id, &data);
}

/// FU-09 parameters after the file part.
fn fu_09_params_after_file(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(9), bytes(900, 9));
    let form = Form::new()
        .file("qqfile", "blob", "application/octet-stream", &data)
        .field("qquuid", &id)
        .field("qqfilename", "late.txt");
    assert_ok(&post(&sb, form), &id, "late.txt");
    assert_eq!(sb.assert_stored(&id, &data)["name"], "late.txt");
}

/// FU-10 the same uuid uploaded twice with the same bytes.
fn fu_10_same_uuid_twice(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(10), bytes(1000, 10));
    assert_ok(
        &post(&sb, simple(&id, "twice.txt", &data)),
        &id,
        "twice.txt",
    );
    assert_ok(
        &post(&sb, simple(&id, "twice.txt", &data)),
        &id,
        "twice.txt",
    );
    sb.assert_stored(&id, &data);
}

/// FU-11 six concurrent uploads of one uuid with two payloads: one wins whole.
fn fu_11_concurrent_same_uuid(m: Mode) {
    let sb = std::sync::Arc::new(Sandbox::new(m));
    let id = uuid(11);
    let a = bytes(300_000, 1);
    let b = bytes(300_000, 2);
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (sb, id) = (sb.clone(), id.clone());
            let data = if i % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || post(&sb, simple(&id, "race.bin", &data)).status)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    let r = sb.restore(&id);
    assert!(
        r.body == a || r.body == b,
        "stored bytes are neither payload"
    );
}

/// FU-12 custom params become the metadata object.
fn fu_12_custom_params_metadata(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(12), bytes(10, 12));
    let form = Form::new()
        .field("category", "invoices")
        .field("note", "a b&c")
        .field("qquuid", &id)
        .field("qqfilename", "inv.pdf")
        .field("qqtotalfilesize", "10")
        .file("qqfile", "inv.pdf", "application/pdf", &data);
    assert_ok(&post(&sb, form), &id, "inv.pdf");
    assert_eq!(
        sb.info(&id).unwrap()["metadata"],
        json!({"category": "invoices", "note": "a b&c"})
    );
}

/// FU-13 `upspool info` after a simple upload.
fn fu_13_info_after_simple(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(13), bytes(1234, 13));
    assert_ok(&post(&sb, simple(&id, "i.txt", &data)), &id, "i.txt");
    let info = sb.info(&id).unwrap();
    assert_eq!(
        (info["id"].as_str(), info["name"].as_str()),
        (Some(id.as_str()), Some("i.txt"))
    );
    assert_eq!(
        (info["size"].as_u64(), info["received"].as_u64()),
        (Some(1234), Some(1234))
    );
    assert_eq!(info["complete"], true);
}

/// FU-14 a UTF-8 name with accents, CJK and an emoji.
fn fu_14_utf8_name(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data, name) = (uuid(14), bytes(20, 14), "Résumé 日本語 🎉.txt");
    assert_ok(&post(&sb, simple(&id, name, &data)), &id, name);
    assert_eq!(sb.assert_stored(&id, &data)["name"], name);
}

/// FU-15 markup in a name is escaped in the answer, kept in the record.
fn fu_15_markup_name_escaped(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data, name) = (uuid(15), bytes(20, 15), "<img src=x onerror=alert(1)>&.txt");
    let r = post(&sb, simple(&id, name, &data));
    assert!(
        !r.body.contains(&b'<') && !r.body.contains(&b'>'),
        "{}",
        r.text()
    );
    assert!(r.text().contains("\\u003cimg"));
    assert_ok(&r, &id, name);
    assert_eq!(sb.assert_stored(&id, &data)["name"], name);
}

// ---- Chunked uploads ------------------------------------------------------

/// FU-20 10 bytes in parts of 4/4/2, no success request.
fn fu_20_chunks_without_done(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(20), bytes(10, 20));
    assert_ok(
        &sb.send(&chunk(&id, "ten.txt", &data, 4, 0)),
        &id,
        "ten.txt",
    );
    assert_ok(
        &sb.send(&chunk(&id, "ten.txt", &data, 4, 1)),
        &id,
        "ten.txt",
    );
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
    assert_ok(
        &sb.send(&chunk(&id, "ten.txt", &data, 4, 2)),
        &id,
        "ten.txt",
    );
    assert_eq!(sb.assert_stored(&id, &data)["name"], "ten.txt");
}

/// FU-21 12 bytes in 3 full parts.
fn fu_21_full_parts(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(21), bytes(12, 21));
    upload_chunked(&sb, &id, "twelve.bin", &data, 4);
    sb.assert_stored(&id, &data);
}

/// FU-22 parts with their params in the query.
fn fu_22_chunks_params_in_query(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(22), bytes(10_000, 22));
    for i in 0..3 {
        let p = chunk_params(&id, "q.bin", data.len(), 4000, i, false);
        let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let bytes = &data[i * 4000..((i + 1) * 4000).min(data.len())];
        let form = Form::new().file("qqfile", "blob", "application/octet-stream", bytes);
        assert_ok(
            &sb.send(&Req::new("POST").query(&qs(&pairs)).xhr().form(form)),
            &id,
            "q.bin",
        );
    }
    sb.assert_stored(&id, &data);
}

/// FU-23 raw-body parts, name from the query.
fn fu_23_raw_chunks(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(23), bytes(9_000, 23));
    for i in 0..3 {
        let mut p = chunk_params(&id, "raw parts.bin", data.len(), 3000, i, false);
        p.push(("qqfile".into(), "raw parts.bin".into()));
        let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = sb.send(
            &Req::new("POST")
                .query(&qs(&pairs))
                .xhr()
                .header("Content-Type", "application/octet-stream")
                .header("X-Mime-Type", "")
                .body(data[i * 3000..(i + 1) * 3000].to_vec()),
        );
        assert_ok(&r, &id, "raw parts.bin");
    }
    assert_eq!(sb.assert_stored(&id, &data)["name"], "raw parts.bin");
}

/// FU-24 a one-part file is stored at once; `?done` after it changes nothing.
fn fu_24_single_part_then_done(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(24), b"abc".to_vec());
    assert_ok(
        &sb.send(&chunk(&id, "one.txt", &data, 10, 0)),
        &id,
        "one.txt",
    );
    sb.assert_stored(&id, &data);
    assert_ok(&sb.send(&done(&id, "one.txt", 3, 1)), &id, "one.txt");
    sb.assert_stored(&id, &data);
}

/// FU-25 1 MiB + 123 bytes in 256 KiB parts, then `?done`.
fn fu_25_mebibyte_with_done(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(25), bytes(1024 * 1024 + 123, 25));
    upload_chunked(&sb, &id, "big.bin", &data, 256 * 1024);
    assert_ok(
        &sb.send(&done(&id, "big.bin", data.len(), 5)),
        &id,
        "big.bin",
    );
    sb.assert_stored(&id, &data);
}

/// FU-26 parts 2, 0, 1 without a success request.
fn fu_26_out_of_order(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(26), bytes(2500, 26));
    for i in [2, 0] {
        assert_ok(
            &sb.send(&chunk(&id, "ooo.bin", &data, 1000, i)),
            &id,
            "ooo.bin",
        );
        assert_eq!(sb.info(&id).unwrap()["complete"], false);
    }
    assert_ok(
        &sb.send(&chunk(&id, "ooo.bin", &data, 1000, 1)),
        &id,
        "ooo.bin",
    );
    sb.assert_stored(&id, &data);
}

/// FU-27 8 parts sent concurrently, then `?done`.
fn fu_27_concurrent_parts(m: Mode) {
    let sb = std::sync::Arc::new(Sandbox::new(m));
    let (id, data) = (uuid(27), std::sync::Arc::new(bytes(8 * 50_000 - 17, 27)));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (sb, id, data) = (sb.clone(), id.clone(), data.clone());
            std::thread::spawn(move || sb.send(&chunk(&id, "par.bin", &data, 50_000, i)))
        })
        .collect();
    for t in threads {
        assert_ok(&t.join().unwrap(), &id, "par.bin");
    }
    assert_ok(
        &sb.send(&done(&id, "par.bin", data.len(), 8)),
        &id,
        "par.bin",
    );
    sb.assert_stored(&id, &data);
}

/// FU-28 parts 1, 2, 0 then `?done` with a JSON payload.
fn fu_28_done_json(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(28), bytes(3000, 28));
    for i in [1, 2, 0] {
        assert_ok(&sb.send(&chunk(&id, "j.bin", &data, 1000, i)), &id, "j.bin");
    }
    let body =
        json!({"qquuid": id, "qqfilename": "j.bin", "qqtotalfilesize": 3000, "qqtotalparts": 3})
            .to_string();
    let r = sb.send(
        &Req::new("POST")
            .query("done")
            .header("Content-Type", "application/json")
            .body(body),
    );
    assert_ok(&r, &id, "j.bin");
    sb.assert_stored(&id, &data);
}

/// FU-29 parts and `?done` carrying custom params.
fn fu_29_custom_params_in_chunks(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(29), bytes(2000, 29));
    for i in 0..2 {
        assert_ok(
            &sb.send(&chunk_with(
                &id,
                "c.bin",
                &data,
                1000,
                i,
                false,
                &[("album", "7")],
            )),
            &id,
            "c.bin",
        );
    }
    let body = format!(
        "album=7&{}",
        qs(&[
            ("qquuid", &id),
            ("qqfilename", "c.bin"),
            ("qqtotalfilesize", "2000"),
            ("qqtotalparts", "2")
        ])
    );
    let r = sb.send(
        &Req::new("POST")
            .query("done")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body),
    );
    assert_ok(&r, &id, "c.bin");
    assert_eq!(
        sb.assert_stored(&id, &data)["metadata"],
        json!({"album": "7"})
    );
}

/// FU-30 a part sent twice is not duplicated.
fn fu_30_part_twice(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(30), bytes(3000, 30));
    for i in [0, 1, 1, 2] {
        assert_ok(&sb.send(&chunk(&id, "d.bin", &data, 1000, i)), &id, "d.bin");
    }
    sb.assert_stored(&id, &data);
}

/// FU-31 the last part resent after completion.
fn fu_31_last_part_after_completion(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(31), bytes(3000, 31));
    upload_chunked(&sb, &id, "l.bin", &data, 1000);
    assert_ok(&sb.send(&chunk(&id, "l.bin", &data, 1000, 2)), &id, "l.bin");
    sb.assert_stored(&id, &data);
}

/// FU-32 `?done` sent twice.
fn fu_32_done_twice(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(32), bytes(3000, 32));
    upload_chunked(&sb, &id, "t.bin", &data, 1000);
    assert_ok(&sb.send(&done(&id, "t.bin", 3000, 3)), &id, "t.bin");
    assert_ok(&sb.send(&done(&id, "t.bin", 3000, 3)), &id, "t.bin");
    sb.assert_stored(&id, &data);
}

/// FU-33 `upspool info` mid-upload.
fn fu_33_info_mid_upload(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(33), bytes(2500, 33));
    for i in [0, 2] {
        assert_ok(
            &sb.send(&chunk(&id, "mid.bin", &data, 1000, i)),
            &id,
            "mid.bin",
        );
    }
    let info = sb.info(&id).unwrap();
    assert_eq!(info["complete"], false);
    assert_eq!(info["received"], 1500);
    assert_eq!(info["size"], 2500);
    assert_eq!(info["name"], "mid.bin");
}

// ---- Part validation and reset --------------------------------------------

/// FU-40 a part shorter than its qqchunksize → 400 without reset; resend works.
fn fu_40_wrong_part_length(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(40), bytes(2500, 40));
    assert_ok(&sb.send(&chunk(&id, "w.bin", &data, 1000, 0)), &id, "w.bin");
    let mut form = Form::new();
    for (k, v) in chunk_params(&id, "w.bin", 2500, 1000, 1, false) {
        form = form.field(&k, v);
    }
    let short = form.file(
        "qqfile",
        "blob",
        "application/octet-stream",
        &data[1000..1900],
    );
    let j = assert_fail(&sb.send(&Req::new("POST").xhr().form(short)), 400);
    assert!(
        j.get("reset").is_none() && j.get("preventRetry").is_none(),
        "{j}"
    );
    for i in [1, 2] {
        assert_ok(&sb.send(&chunk(&id, "w.bin", &data, 1000, i)), &id, "w.bin");
    }
    sb.assert_stored(&id, &data);
}

fn chunk_form_with(params: &[(&str, &str)], data: &[u8]) -> Req {
    let mut form = Form::new();
    for (k, v) in params {
        form = form.field(k, v);
    }
    Req::new("POST")
        .xhr()
        .form(form.file("qqfile", "blob", "application/octet-stream", data))
}

/// A chunk request with the given numbers as (index, offset, size, parts, total).
fn raw_chunk(id: &str, numbers: [&str; 5], data: &[u8]) -> Req {
    let names = [
        "qqpartindex",
        "qqpartbyteoffset",
        "qqchunksize",
        "qqtotalparts",
        "qqtotalfilesize",
    ];
    let mut params: Vec<(&str, &str)> = names.into_iter().zip(numbers).collect();
    params.push(("qquuid", id));
    params.push(("qqfilename", "x.bin"));
    chunk_form_with(&params, data)
}

/// FU-41 `qqpartindex` = `qqtotalparts` → 400.
fn fu_41_index_out_of_range(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(41);
    assert_prevent_retry(
        &sb.send(&raw_chunk(&id, ["3", "0", "4", "3", "12"], b"abcd")),
        400,
    );
    sb.assert_absent(&id);
}

/// FU-42 a part ending past `qqtotalfilesize` → 400.
fn fu_42_part_past_end(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(42);
    assert_prevent_retry(
        &sb.send(&raw_chunk(&id, ["2", "8", "5", "3", "12"], b"abcde")),
        400,
    );
    sb.assert_absent(&id);
}

/// FU-43 malformed numbers → 400 each.
fn fu_43_bad_numbers(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(43);
    let good = ["0", "0", "4", "3", "12"];
    // (position in raw_chunk's numbers, bad value)
    let bad = [
        (0, "abc"),
        (0, "-1"),
        (3, "0"),
        (4, "12x"),
        (2, "-5"),
        (1, ""),
    ];
    for (at, value) in bad {
        let mut numbers = good;
        numbers[at] = value;
        assert_prevent_retry(&sb.send(&raw_chunk(&id, numbers, b"abcd")), 400);
        sb.assert_absent(&id);
    }
}

/// FU-44 a part contradicting the upload in progress → 409 reset.
fn fu_44_size_mismatch_resets(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(44), bytes(3000, 44));
    assert_ok(&sb.send(&chunk(&id, "m.bin", &data, 1000, 0)), &id, "m.bin");
    let other = bytes(4000, 45);
    assert_reset(&sb.send(&chunk(&id, "m.bin", &other, 1000, 1)));
    assert!(sb.info(&id).is_none_or(|i| i["complete"] == false));
}

/// FU-45 `?done` with a part missing → 409 reset; resend everything → stored.
fn fu_45_done_with_missing_part(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(45), bytes(3000, 45));
    for i in [0, 2] {
        assert_ok(
            &sb.send(&chunk(&id, "gap.bin", &data, 1000, i)),
            &id,
            "gap.bin",
        );
    }
    assert_reset(&sb.send(&done(&id, "gap.bin", 3000, 3)));
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
    upload_chunked(&sb, &id, "gap.bin", &data, 1000);
    assert_ok(&sb.send(&done(&id, "gap.bin", 3000, 3)), &id, "gap.bin");
    sb.assert_stored(&id, &data);
}

/// FU-46 `?done` for an unknown uuid → 409 reset.
fn fu_46_done_unknown(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(46);
    assert_reset(&sb.send(&done(&id, "u.bin", 3000, 3)));
    sb.assert_absent(&id);
}

// ---- Resume -----------------------------------------------------------------

/// FU-50 resume of an unknown upload at part 2 → 409 reset.
fn fu_50_resume_unknown(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(50), bytes(3000, 50));
    assert_reset(&sb.send(&chunk_with(&id, "r.bin", &data, 1000, 2, true, &[])));
    sb.assert_absent(&id);
}

/// FU-51 parts 0, 1, then part 2 with `qqresume=true`, `?done`.
fn fu_51_resume_known(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(51), bytes(3000, 51));
    for i in [0, 1] {
        assert_ok(&sb.send(&chunk(&id, "r.bin", &data, 1000, i)), &id, "r.bin");
    }
    assert_ok(
        &sb.send(&chunk_with(&id, "r.bin", &data, 1000, 2, true, &[])),
        &id,
        "r.bin",
    );
    assert_ok(&sb.send(&done(&id, "r.bin", 3000, 3)), &id, "r.bin");
    sb.assert_stored(&id, &data);
}

/// FU-52 `qqresume=true` on part 0 of an unknown uuid starts afresh.
fn fu_52_resume_from_zero(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(52), bytes(3000, 52));
    assert_ok(
        &sb.send(&chunk_with(&id, "z.bin", &data, 1000, 0, true, &[])),
        &id,
        "z.bin",
    );
    for i in [1, 2] {
        assert_ok(&sb.send(&chunk(&id, "z.bin", &data, 1000, i)), &id, "z.bin");
    }
    sb.assert_stored(&id, &data);
}

// ---- Delete -----------------------------------------------------------------

fn stored_pair(sb: &Sandbox, a: u32, b: u32) -> (String, String, Vec<u8>) {
    let (ida, idb, data) = (uuid(a), uuid(b), bytes(500, a as u8));
    assert_ok(&post(sb, simple(&ida, "a.txt", &data)), &ida, "a.txt");
    assert_ok(&post(sb, simple(&idb, "b.txt", &data)), &idb, "b.txt");
    (ida, idb, data)
}

fn delete(id_path: &str) -> Req {
    Req::new("DELETE")
        .path(id_path)
        .header("Accept", "application/json")
        .header("X-Requested-With", "XMLHttpRequest")
}

/// FU-60 `DELETE /<uuid>`; a second delete is 404; others intact.
fn fu_60_delete(m: Mode) {
    let sb = Sandbox::new(m);
    let (ida, idb, data) = stored_pair(&sb, 60, 160);
    let r = sb.send(&delete(&format!("/{ida}")));
    assert!(matches!(r.status, 200 | 202 | 204), "{}", r.text());
    sb.assert_absent(&ida);
    assert_fail(&sb.send(&delete(&format!("/{ida}"))), 404);
    sb.assert_stored(&idb, &data);
}

/// FU-61 delete with `deleteFile.params` in the query.
fn fu_61_delete_with_params(m: Mode) {
    let sb = Sandbox::new(m);
    let (ida, _, _) = stored_pair(&sb, 61, 161);
    let r = sb.send(&delete(&format!("/{ida}")).query("token=abc&x=1"));
    assert!(matches!(r.status, 200 | 202 | 204));
    sb.assert_absent(&ida);
}

/// FU-62 POST-delete: urlencoded `token=abc&qquuid=<uuid>&_method=DELETE`.
fn fu_62_post_delete(m: Mode) {
    let sb = Sandbox::new(m);
    let (ida, idb, data) = stored_pair(&sb, 62, 162);
    let r = sb.send(
        &Req::new("POST")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("token=abc&qquuid={ida}&_method=DELETE")),
    );
    assert!((200..=204).contains(&r.status), "{}", r.text());
    sb.assert_absent(&ida);
    sb.assert_stored(&idb, &data);
}

/// FU-63 `POST /<uuid>` with `_method=DELETE`.
fn fu_63_post_delete_in_path(m: Mode) {
    let sb = Sandbox::new(m);
    let (ida, _, _) = stored_pair(&sb, 63, 163);
    let r = sb.send(
        &Req::new("POST")
            .path(&format!("/{ida}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("_method=DELETE"),
    );
    assert!((200..=204).contains(&r.status), "{}", r.text());
    sb.assert_absent(&ida);
}

/// FU-64 legacy XDomainRequest POST-delete: no Content-Type, no custom headers.
fn fu_64_xdr_delete(m: Mode) {
    let sb = Sandbox::new(m);
    let (ida, _, _) = stored_pair(&sb, 64, 164);
    let r = sb.send(&Req::new("POST").body(format!("qquuid={ida}&_method=DELETE")));
    assert!((200..=204).contains(&r.status), "{}", r.text());
    sb.assert_absent(&ida);
}

/// FU-65 delete of an unknown uuid → 404.
fn fu_65_delete_unknown(m: Mode) {
    let sb = Sandbox::new(m);
    let (_, idb, data) = stored_pair(&sb, 65, 165);
    assert_fail(&sb.send(&delete(&format!("/{}", uuid(999)))), 404);
    sb.assert_stored(&idb, &data);
}

/// FU-66 traversal and empty segments in the delete path → 4xx, nothing touched.
fn fu_66_delete_traversal(m: Mode) {
    let sb = Sandbox::new(m);
    let (ida, idb, data) = stored_pair(&sb, 66, 166);
    for path in ["/..", "/", "/.", "/x/..", "/%2e%2e"] {
        let r = sb.send(&delete(path));
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
    }
    sb.assert_stored(&ida, &data);
    sb.assert_stored(&idb, &data);
    sb.assert_nothing_escapes();
}

/// FU-67 delete of an upload in progress.
fn fu_67_delete_in_progress(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(67), bytes(3000, 67));
    assert_ok(&sb.send(&chunk(&id, "p.bin", &data, 1000, 0)), &id, "p.bin");
    let r = sb.send(&delete(&format!("/{id}")));
    assert!(matches!(r.status, 200 | 202 | 204));
    sb.assert_absent(&id);
}

// ---- Bad input --------------------------------------------------------------

/// FU-70 no qquuid → 400 JSON; nothing stored.
fn fu_70_missing_uuid(m: Mode) {
    let sb = Sandbox::new(m);
    let form =
        Form::new()
            .field("qqfilename", "a.txt")
            .file("qqfile", "a.txt", "text/plain", b"abc");
    assert_prevent_retry(&post(&sb, form), 400);
    sb.assert_nothing_escapes();
    assert_eq!(
        std::fs::read_dir(sb.spool.join("complete"))
            .unwrap()
            .count(),
        0
    );
}

const BAD_IDS: &[&str] = &["../../evil-U", "a/b", "a\\b", "", "..", "abc\0def"];

/// FU-71 invalid qquuid values → 400 preventRetry; nothing escapes.
fn fu_71_bad_uuid(m: Mode) {
    let sb = Sandbox::new(m);
    let long = "a".repeat(300);
    for id in BAD_IDS.iter().copied().chain([long.as_str()]) {
        assert_prevent_retry(&post(&sb, simple(id, "evil.txt", b"x")), 400);
    }
    sb.assert_nothing_escapes();
    assert_eq!(
        std::fs::read_dir(sb.spool.join("complete"))
            .unwrap()
            .count(),
        0
    );
}

/// FU-72 traversal uuid in the query.
fn fu_72_bad_uuid_in_query(m: Mode) {
    let sb = Sandbox::new(m);
    let query = qs(&[
        ("qquuid", "../../evil-U"),
        ("qqfilename", "e.txt"),
        ("qqtotalfilesize", "1"),
    ]);
    let form = Form::new().file("qqfile", "e.txt", "text/plain", b"x");
    assert_prevent_retry(
        &sb.send(&Req::new("POST").query(&query).xhr().form(form)),
        400,
    );
    sb.assert_nothing_escapes();
}

/// FU-73 traversal in qqfilename → stored under the last component.
fn fu_73_name_traversal(m: Mode) {
    let sb = Sandbox::new(m);
    for (n, name) in [
        "../../../evil-T.txt",
        "/tmp/conf-fu-abs-T.txt",
        "..\\..\\..\\evil-T.txt",
    ]
    .iter()
    .enumerate()
    {
        let (id, data) = (uuid(730 + n as u32), bytes(10, 73));
        let last = name.rsplit(['/', '\\']).next().unwrap();
        assert_ok(&post(&sb, simple(&id, name, &data)), &id, last);
        assert_eq!(sb.assert_stored(&id, &data)["name"], last);
    }
    sb.assert_nothing_escapes();
    assert!(!std::path::Path::new("/tmp/conf-fu-abs-T.txt").exists());
}

/// FU-74 names that clean to nothing become `blob`.
fn fu_74_empty_names(m: Mode) {
    let sb = Sandbox::new(m);
    for (n, name) in ["..", ".", "/", "dir/", "..\\", "   "].iter().enumerate() {
        let id = uuid(740 + n as u32);
        assert_ok(&post(&sb, simple(&id, name, b"x")), &id, "blob");
    }
    sb.assert_nothing_escapes();
}

/// FU-75 a NUL in the name is removed, not a cut.
fn fu_75_nul_in_name(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(75);
    assert_ok(
        &post(&sb, simple(&id, "shell.php\0.txt", b"x")),
        &id,
        "shell.php.txt",
    );
}

/// FU-76 control characters and outer blanks are removed.
fn fu_76_control_characters(m: Mode) {
    let sb = Sandbox::new(m);
    let cases = [
        ("a\r\nSet-Cookie: x.txt", "aSet-Cookie: x.txt"),
        ("tab\there\x7f.txt", "tabhere.txt"),
        ("  padded.txt \t", "padded.txt"),
    ];
    for (n, (raw, clean)) in cases.iter().enumerate() {
        let id = uuid(760 + n as u32);
        assert_ok(&post(&sb, simple(&id, raw, b"x")), &id, clean);
        assert_eq!(sb.info(&id).unwrap()["name"], *clean);
    }
}

/// FU-77 multipart without a boundary → 400.
fn fu_77_no_boundary(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(77);
    let (_, body) = simple(&id, "a.txt", b"abc").build();
    let r = sb.send(
        &Req::new("POST")
            .xhr()
            .header("Content-Type", "multipart/form-data")
            .body(body),
    );
    assert_fail(&r, 400);
    sb.assert_absent(&id);
}

/// FU-78 the declared boundary is not in the body → 400.
fn fu_78_wrong_boundary(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(78);
    let (_, body) = simple(&id, "a.txt", b"abc").build();
    let r = sb.send(
        &Req::new("POST")
            .xhr()
            .header("Content-Type", "multipart/form-data; boundary=NotInTheBody")
            .body(body),
    );
    assert_fail(&r, 400);
    sb.assert_absent(&id);
}

/// FU-79 a body 1000 bytes shorter than its Content-Length → 400, no hang.
fn fu_79_truncated_body(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(79), bytes(5000, 79));
    let (ct, body) = simple(&id, "t.bin", &data).build();
    let cut = body[..body.len() - 1000].to_vec();
    let r = sb.send(
        &Req::new("POST")
            .xhr()
            .header("Content-Type", ct)
            .body(cut)
            .declare(body.len() as u64),
    );
    assert_fail(&r, 400);
    sb.assert_absent(&id);
    let id2 = uuid(179);
    let query = qs(&[
        ("qquuid", &id2),
        ("qqfilename", "r.bin"),
        ("qqfile", "r.bin"),
    ]);
    let r = sb.send(
        &Req::new("POST")
            .query(&query)
            .xhr()
            .header("Content-Type", "application/octet-stream")
            .body(data[..4000].to_vec())
            .declare(5000),
    );
    assert_fail(&r, 400);
    sb.assert_absent(&id2);
}

/// FU-80 multipart cut in the middle of the file part → 400.
fn fu_80_cut_multipart(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(80), bytes(5000, 80));
    let (ct, body) = simple(&id, "c.bin", &data).build();
    let r = sb.send(
        &Req::new("POST")
            .xhr()
            .header("Content-Type", ct)
            .body(body[..body.len() - 2000].to_vec()),
    );
    assert_fail(&r, 400);
    sb.assert_absent(&id);
}

/// FU-81 qquuid but no file part → 400.
fn fu_81_no_file_part(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(81);
    assert_prevent_retry(
        &post(
            &sb,
            Form::new()
                .field("qquuid", &id)
                .field("qqfilename", "a.txt"),
        ),
        400,
    );
    sb.assert_absent(&id);
}

/// FU-82 raw body with only qquuid → 400.
fn fu_82_raw_without_name(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(82);
    let r = sb.send(
        &Req::new("POST")
            .query(&format!("qquuid={id}"))
            .xhr()
            .header("Content-Type", "application/octet-stream")
            .body("abc"),
    );
    assert_prevent_retry(&r, 400);
    sb.assert_absent(&id);
}

/// FU-83 a 404-byte name is cut to 250–255 bytes, keeping `.txt`.
fn fu_83_long_name(m: Mode) {
    let sb = Sandbox::new(m);
    let id = uuid(83);
    let name = format!("{}.txt", "é".repeat(200));
    let r = post(&sb, simple(&id, &name, b"x"));
    assert_eq!(r.status, 200);
    let stored = sb.info(&id).unwrap()["name"].as_str().unwrap().to_owned();
    assert!((250..=255).contains(&stored.len()), "{}", stored.len());
    assert!(stored.ends_with(".txt") && stored.trim_end_matches(".txt").chars().all(|c| c == 'é'));
}

// ---- Limits (cfg) -----------------------------------------------------------

/// FU-90 cfg limit 1000: 1001 bytes → 413 preventRetry.
fn fu_90_cfg_over_limit(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "1000")]);
    let id = uuid(90);
    assert_prevent_retry(&post(&sb, simple(&id, "big.bin", &bytes(1001, 90))), 413);
    sb.assert_absent(&id);
    // Without a declared total the streamed size is what counts.
    let form = Form::new()
        .field("qquuid", &id)
        .field("qqfilename", "big.bin")
        .file(
            "qqfile",
            "big.bin",
            "application/octet-stream",
            &bytes(1001, 90),
        );
    assert_prevent_retry(&post(&sb, form), 413);
    sb.assert_absent(&id);
}

/// FU-91 cfg limit 1000: exactly 1000 bytes are stored.
fn fu_91_cfg_at_limit(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "1000")]);
    let (id, data) = (uuid(91), bytes(1000, 91));
    assert_ok(&post(&sb, simple(&id, "ok.bin", &data)), &id, "ok.bin");
    sb.assert_stored(&id, &data);
}

/// FU-92 cfg limit 1000: the first part of a declared 5000-byte file → 413.
fn fu_92_cfg_declared_total_over_limit(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "1000")]);
    let (id, data) = (uuid(92), bytes(5000, 92));
    assert_prevent_retry(&sb.send(&chunk(&id, "p.bin", &data, 500, 0)), 413);
    sb.assert_absent(&id);
}

/// FU-93 cfg limit 1000: a raw body of 1001 bytes → 413.
fn fu_93_cfg_raw_over_limit(m: Mode) {
    let sb = Sandbox::with_env(m, &[(MAX_SIZE, "1000")]);
    let id = uuid(93);
    let query = qs(&[
        ("qquuid", &id),
        ("qqfilename", "r.bin"),
        ("qqfile", "r.bin"),
    ]);
    let r = sb.send(
        &Req::new("POST")
            .query(&query)
            .xhr()
            .header("Content-Type", "application/octet-stream")
            .body(bytes(1001, 93)),
    );
    assert_prevent_retry(&r, 413);
    sb.assert_absent(&id);
}

/// FU-94 cfg allow-list txt,png.
fn fu_94_cfg_extensions(m: Mode) {
    let sb = Sandbox::with_env(m, &[(ALLOWED_EXTENSIONS, "txt,png")]);
    for (n, name) in ["a.txt", "B.PNG"].iter().enumerate() {
        let id = uuid(940 + n as u32);
        assert_ok(&post(&sb, simple(&id, name, b"x")), &id, name);
    }
    for (n, name) in ["c.exe", "noext", "d.txt.php"].iter().enumerate() {
        let id = uuid(945 + n as u32);
        let r = post(&sb, simple(&id, name, b"x"));
        assert!((400..500).contains(&r.status));
        assert_eq!(r.json()["preventRetry"], true);
        sb.assert_absent(&id);
    }
}

/// FU-95 cfg a success request cannot rename past the allow-list.
fn fu_95_cfg_done_cannot_rename(m: Mode) {
    let sb = Sandbox::with_env(m, &[(ALLOWED_EXTENSIONS, "txt,png")]);
    let (id, data) = (uuid(95), bytes(2000, 95));
    assert_ok(&sb.send(&chunk(&id, "a.txt", &data, 1000, 0)), &id, "a.txt");
    assert_ok(&sb.send(&chunk(&id, "a.txt", &data, 1000, 1)), &id, "a.txt");
    assert_ok(&sb.send(&done(&id, "a.php", 2000, 2)), &id, "a.txt");
    assert_eq!(sb.assert_stored(&id, &data)["name"], "a.txt");
}

// ---- CORS -------------------------------------------------------------------

const ORIGIN: &str = "https://app.example";

fn preflight(method: &str, headers: &str, origin: &str) -> Req {
    Req::new("OPTIONS")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
}

/// FU-100 cfg no CORS configured: preflight 403; uploads work without CORS headers.
fn fu_100_cfg_no_cors(m: Mode) {
    let sb = Sandbox::new(m);
    let r = sb.send(&preflight("POST", "cache-control,x-requested-with", ORIGIN));
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
    let id = uuid(100);
    let r = sb.send(
        &Req::new("POST")
            .xhr()
            .header("Origin", ORIGIN)
            .form(simple(&id, "c.txt", b"x")),
    );
    assert_ok(&r, &id, "c.txt");
    assert!(r.header("access-control-allow-origin").is_none());
}

fn assert_cors(r: &Resp) {
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r.header("vary").is_some_and(|v| v.contains("Origin")));
}

fn assert_preflight_ok(r: &Resp, method: &str, requested: &str) {
    assert_eq!(r.status, 204);
    assert_cors(r);
    let methods = r.header("access-control-allow-methods").unwrap();
    assert!(methods.split(", ").any(|x| x == method), "{methods}");
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in requested.split(',') {
        assert!(allowed.split(", ").any(|a| a == h), "{h} not in {allowed}");
    }
}

/// FU-101 cfg preflight for a multipart POST.
fn fu_101_cfg_preflight_post(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let r = sb.send(&preflight("POST", "cache-control,x-requested-with", ORIGIN));
    assert_preflight_ok(&r, "POST", "cache-control,x-requested-with");
}

/// FU-102 cfg preflight for DELETE.
fn fu_102_cfg_preflight_delete(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let r = sb.send(&preflight(
        "DELETE",
        "cache-control,x-requested-with",
        ORIGIN,
    ));
    assert_preflight_ok(&r, "DELETE", "cache-control,x-requested-with");
}

/// FU-103 cfg preflight for raw uploads.
fn fu_103_cfg_preflight_raw(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let headers = "cache-control,content-type,x-mime-type,x-requested-with";
    assert_preflight_ok(
        &sb.send(&preflight("POST", headers, ORIGIN)),
        "POST",
        headers,
    );
}

/// FU-104 cfg preflight from another origin → 403 without CORS headers.
fn fu_104_cfg_other_origin(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let r = sb.send(&preflight(
        "POST",
        "cache-control,x-requested-with",
        "https://evil.example",
    ));
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
}

/// FU-105 cfg uploads and errors from the allowed origin carry the CORS headers.
fn fu_105_cfg_cors_on_answers(m: Mode) {
    let sb = Sandbox::with_env(m, &[(CORS_ORIGINS, ORIGIN)]);
    let (id, data) = (uuid(105), bytes(100, 105));
    let r = sb.send(
        &Req::new("POST")
            .xhr()
            .header("Origin", ORIGIN)
            .form(simple(&id, "o.txt", &data)),
    );
    assert_ok(&r, &id, "o.txt");
    assert_cors(&r);
    sb.assert_stored(&id, &data);
    let r = sb.send(
        &Req::new("POST")
            .xhr()
            .header("Origin", ORIGIN)
            .form(simple("../bad", "o.txt", &data)),
    );
    assert_prevent_retry(&r, 400);
    assert_cors(&r);
}

// ---- App integration (CLI) --------------------------------------------------

/// FU-110 `upspool claim` moves the file out; the id is gone afterwards.
fn fu_110_claim(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(110), bytes(10_000, 110));
    assert_ok(
        &post(&sb, simple(&id, "claim.bin", &data)),
        &id,
        "claim.bin",
    );
    let dest = sb.outside.path().join("claimed.bin");
    let out = sb.admin(&["claim", &id, dest.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["id"], id.as_str());
    assert_eq!(sha256(&std::fs::read(&dest).unwrap()), sha256(&data));
    sb.assert_absent(&id);
    assert!((400..500).contains(&sb.restore(&id).status));
    assert_fail(&sb.send(&delete(&format!("/{id}"))), 404);
    let dest2 = sb.outside.path().join("again.bin");
    let out = sb.admin(&["claim", &id, dest2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dest2.exists());
}

/// FU-111 claim of an incomplete upload → exit 1, nothing moved.
fn fu_111_claim_incomplete(m: Mode) {
    let sb = Sandbox::new(m);
    let (id, data) = (uuid(111), bytes(3000, 111));
    assert_ok(
        &sb.send(&chunk(&id, "inc.bin", &data, 1000, 0)),
        &id,
        "inc.bin",
    );
    let dest = sb.outside.path().join("inc.bin");
    let out = sb.admin(&["claim", &id, dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
    assert!(!dest.exists());
    assert_eq!(sb.info(&id).unwrap()["complete"], false);
}

/// B.11: the session list names complete uploads only.
fn session_list(m: Mode) {
    let sb = Sandbox::new(m);
    let (ida, idb, _) = stored_pair(&sb, 120, 121);
    let r = sb.send(
        &Req::new("GET")
            .query(&format!("session&ids={ida},{},{idb},..%2F", uuid(122)))
            .header("Accept", "application/json"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!([{"uuid": ida, "name": "a.txt", "size": 500}, {"uuid": idb, "name": "b.txt", "size": 500}])
    );
}

in_every_mode!(
    fu_01_simple_params_in_body,
    fu_02_params_in_query,
    fu_03_blob_filename,
    fu_04_ie_full_path,
    fu_05_raw_body,
    fu_06_binary_exact,
    fu_07_empty_file,
    fu_08_iframe_style,
    fu_09_params_after_file,
    fu_10_same_uuid_twice,
    fu_11_concurrent_same_uuid,
    fu_12_custom_params_metadata,
    fu_13_info_after_simple,
    fu_14_utf8_name,
    fu_15_markup_name_escaped,
    fu_20_chunks_without_done,
    fu_21_full_parts,
    fu_22_chunks_params_in_query,
    fu_23_raw_chunks,
    fu_24_single_part_then_done,
    fu_25_mebibyte_with_done,
    fu_26_out_of_order,
    fu_27_concurrent_parts,
    fu_28_done_json,
    fu_29_custom_params_in_chunks,
    fu_30_part_twice,
    fu_31_last_part_after_completion,
    fu_32_done_twice,
    fu_33_info_mid_upload,
    fu_40_wrong_part_length,
    fu_41_index_out_of_range,
    fu_42_part_past_end,
    fu_43_bad_numbers,
    fu_44_size_mismatch_resets,
    fu_45_done_with_missing_part,
    fu_46_done_unknown,
    fu_50_resume_unknown,
    fu_51_resume_known,
    fu_52_resume_from_zero,
    fu_60_delete,
    fu_61_delete_with_params,
    fu_62_post_delete,
    fu_63_post_delete_in_path,
    fu_64_xdr_delete,
    fu_65_delete_unknown,
    fu_66_delete_traversal,
    fu_67_delete_in_progress,
    fu_70_missing_uuid,
    fu_71_bad_uuid,
    fu_72_bad_uuid_in_query,
    fu_73_name_traversal,
    fu_74_empty_names,
    fu_75_nul_in_name,
    fu_76_control_characters,
    fu_77_no_boundary,
    fu_78_wrong_boundary,
    fu_79_truncated_body,
    fu_80_cut_multipart,
    fu_81_no_file_part,
    fu_82_raw_without_name,
    fu_83_long_name,
    fu_90_cfg_over_limit,
    fu_91_cfg_at_limit,
    fu_92_cfg_declared_total_over_limit,
    fu_93_cfg_raw_over_limit,
    fu_94_cfg_extensions,
    fu_95_cfg_done_cannot_rename,
    fu_100_cfg_no_cors,
    fu_101_cfg_preflight_post,
    fu_102_cfg_preflight_delete,
    fu_103_cfg_preflight_raw,
    fu_104_cfg_other_origin,
    fu_105_cfg_cors_on_answers,
    fu_110_claim,
    fu_111_claim_incomplete,
    session_list,
);
