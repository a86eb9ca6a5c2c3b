//! Issue 16, black-box in every mode (CGI, FastCGI, `serve`): upload
//! tokens (JWT HS256) on every request kind of the three protocols, the
//! same-`sub` rule on existing uploads, the limits a token narrows, and
//! `allowed_types` / `min_size` checked by content. Every refusal is the
//! right status in its protocol's format, and nothing is stored.

mod common;

use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

const SECRET: &str = "an-upload-secret-of-at-least-32-bytes";
const AUTH: &str = "UPSPOOL_AUTH_SECRET";
const OCTETS: &str = "application/offset+octet-stream";

/// Real files of each kind (their first bytes are what is sniffed).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0dIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
const HTML: &[u8] =
    b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n";

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A JWT as an application mints it: `header.claims.HMAC-SHA256`.
fn jwt(header: &Value, claims: &Value, secret: &str) -> String {
    let msg = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg.as_bytes());
    format!("{msg}.{}", b64url(&mac.finalize().into_bytes()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A valid token with `claims` (an `exp` an hour ahead is added).
fn token(claims: Value) -> String {
    let mut c = claims;
    c["exp"] = json!(now() + 3600);
    jwt(&json!({"alg": "HS256", "typ": "JWT"}), &c, SECRET)
}

fn alice() -> String {
    token(json!({"sub": "alice"}))
}

fn with_token(req: Req, t: &str) -> Req {
    req.header("X-Upload-Token", t)
}

fn sandbox(m: Mode, extra: &[(&str, &str)]) -> Sandbox {
    let mut env = vec![(AUTH, SECRET)];
    env.extend_from_slice(extra);
    Sandbox::with_env(m, &env)
}

/// Every file in the spool's entry directories.
fn spool_entries(sb: &Sandbox) -> Vec<String> {
    let mut names = Vec::new();
    for dir in ["incoming", "complete", "tmp"] {
        if let Ok(entries) = std::fs::read_dir(sb.spool.join(dir)) {
            names.extend(entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()));
        }
    }
    names.sort();
    names
}

fn fu_upload(id: &str, name: &str, data: &[u8]) -> Req {
    Req::new("POST").xhr().form(
        Form::new()
            .field("qquuid", id)
            .field("qqfilename", name)
            .field("qqtotalfilesize", data.len().to_string())
            .file("qqfile", name, "application/octet-stream", data),
    )
}

fn fp_process(name: &str, data: &[u8]) -> Req {
    Req::new("POST").form(Form::new().field("filepond", "{}").file(
        "filepond",
        name,
        "application/octet-stream",
        data,
    ))
}

/// A FilePond transfer start.
fn fp_start(len: usize) -> Req {
    Req::new("POST")
        .header("Upload-Length", len.to_string())
        .form(Form::new().field("filepond", "{}"))
}

fn tus_with_name(length: usize, name: &str) -> Req {
    tus_create(length).header("Upload-Metadata", format!("filename {}", b64(name)))
}

fn b64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for c in bytes.chunks(3) {
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

/// Fine Uploader's refusal: the status, JSON with `success: false`, an
/// error sentence and `preventRetry` (401, 413, 415: retrying cannot help).
fn assert_fu_refusal(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["success"], false, "{v}");
    if [401, 413, 415].contains(&status) {
        assert_eq!(v["preventRetry"], true, "{v}");
    }
    v["error"].as_str().expect("an error sentence").to_owned()
}

/// FilePond's and tus's refusal: the status and one plain-text sentence.
fn assert_text_refusal(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("Content-Type")
            .unwrap_or("")
            .starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    let t = r.text();
    assert!(t.trim_end().ends_with('.'), "{t:?}");
    t
}

fn tus_id(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.text());
    r.header("Location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Without a token, every request kind of every protocol is 401 in its
/// format, with `WWW-Authenticate`; nothing is stored.
fn auth_01_no_token(m: Mode) {
    let sb = sandbox(m, &[]);
    let r = sb.send(&fu_upload(
        "00000000-0000-4000-8000-000000000001",
        "a.txt",
        b"hello",
    ));
    assert!(assert_fu_refusal(&r, 401).contains("token"));
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Bearer realm=\"upload\"")
    );
    let r = sb.send(&fu_chunk(
        "00000000-0000-4000-8000-000000000002",
        "b.bin",
        &[7; 10],
        5,
        0,
    ));
    assert_fu_refusal(&r, 401);
    let r = sb.send(
        &Req::new("POST")
            .query("done")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("qquuid=00000000-0000-4000-8000-000000000002&qqtotalparts=2&qqtotalfilesize=10"),
    );
    assert_fu_refusal(&r, 401);
    let r = sb.send(
        &Req::new("DELETE")
            .xhr()
            .path("/00000000-0000-4000-8000-000000000002"),
    );
    assert_fu_refusal(&r, 401);
    let r = sb.send(&Req::new("GET").xhr().query("session&ids=x"));
    assert_eq!(r.status, 401);
    assert_text_refusal(&sb.send(&fp_process("a.txt", b"hello")), 401);
    assert_text_refusal(&sb.send(&fp_start(5)), 401);
    assert_text_refusal(
        &sb.send(&Req::new("GET").query("fetch=http%3A%2F%2F127.0.0.1%2Fx")),
        401,
    );
    assert_text_refusal(&sb.send(&Req::new("GET").query("restore=abc")), 401);
    assert_text_refusal(&sb.send(&Req::new("DELETE").body("abc")), 401);
    let r = sb.send(&tus_create(5));
    assert_text_refusal(&r, 401);
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    assert_text_refusal(&sb.send(&tus_patch("abc", 0, b"hello")), 401);
    assert_eq!(sb.send(&tus_head("abc")).status, 401);
    assert_text_refusal(&sb.send(&tus("DELETE").path("/abc")), 401);
    assert_text_refusal(&sb.send(&Req::new("GET").path("/abc")), 401);
    assert!(spool_entries(&sb).is_empty(), "{:?}", spool_entries(&sb));
    // A preflight needs none (browsers send it without credentials).
    let r = sb.send(&tus("OPTIONS"));
    assert_eq!(r.status, 204, "{}", r.text());
}

/// Expired, wrongly signed, `alg: none`, another algorithm, no `exp`, a
/// claim of the wrong type, garbage: 401 with a sentence saying which.
fn auth_02_bad_tokens(m: Mode) {
    let sb = sandbox(m, &[]);
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let cases = [
        (
            jwt(&hs, &json!({"exp": now() - 3600, "sub": "a"}), SECRET),
            "expired",
        ),
        (
            jwt(
                &hs,
                &json!({"exp": now() + 3600}),
                "another-secret-of-at-least-32-bytes!!",
            ),
            "signature",
        ),
        (
            format!(
                "{}.{}.",
                b64url(br#"{"alg":"none","typ":"JWT"}"#),
                b64url(json!({"exp": now() + 3600}).to_string().as_bytes())
            ),
            "not valid",
        ),
        (
            jwt(
                &json!({"alg": "HS512", "typ": "JWT"}),
                &json!({"exp": now() + 3600}),
                SECRET,
            ),
            "not valid",
        ),
        (jwt(&hs, &json!({"sub": "a"}), SECRET), "exp"),
        (
            jwt(
                &hs,
                &json!({"exp": now() + 3600, "max_size": "big"}),
                SECRET,
            ),
            "not valid",
        ),
        ("garbage".to_owned(), "not valid"),
    ];
    for (t, says) in &cases {
        let r = sb.send(&with_token(
            fu_upload("00000000-0000-4000-8000-000000000003", "a.txt", b"x"),
            t,
        ));
        let e = assert_fu_refusal(&r, 401);
        assert!(e.contains(says), "{says}: {e}");
        let r = sb.send(&with_token(fp_process("a.txt", b"x"), t));
        assert!(assert_text_refusal(&r, 401).contains(says));
        let r = sb.send(&tus_create(1).header("Authorization", format!("Bearer {t}")));
        assert!(assert_text_refusal(&r, 401).contains(says));
    }
    assert!(spool_entries(&sb).is_empty(), "{:?}", spool_entries(&sb));
}

/// The three carriers, and the owner recorded: `upspool info` shows `sub`.
fn auth_03_carriers_and_sub(m: Mode) {
    let sb = sandbox(m, &[]);
    let t = alice();
    let id = "00000000-0000-4000-8000-000000000004";
    let r =
        sb.send(&fu_upload(id, "a.txt", b"hello").header("Authorization", format!("Bearer {t}")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sb.info(id).unwrap()["sub"], "alice");
    let r = sb.send(&with_token(fp_process("b.txt", b"world"), &t));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(sb.info(&r.text()).unwrap()["sub"], "alice");
    let r = sb.send(&tus_create(3).query(&format!("token={t}")));
    let tid = tus_id(&r);
    assert_eq!(sb.info(&tid).unwrap()["sub"], "alice");
    // A token without `sub` creates uploads without one.
    let anyone = token(json!({}));
    let r = sb.send(&with_token(fp_process("c.txt", b"!"), &anyone));
    assert_eq!(sb.info(&r.text()).unwrap()["sub"], Value::Null);
}

/// Another `sub`'s token on alice's uploads: 403 on every request kind,
/// and the uploads are untouched; alice's own token works.
fn auth_04_other_sub(m: Mode) {
    let sb = sandbox(m, &[]);
    let (a, b) = (alice(), token(json!({"sub": "bob"})));
    // Fine Uploader: a chunked upload in progress, and a complete one.
    let fu = "00000000-0000-4000-8000-000000000005";
    let data = bytes(10, 3);
    let r = sb.send(&with_token(fu_chunk(fu, "c.bin", &data, 5, 0), &a));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = sb.send(&with_token(fu_chunk(fu, "c.bin", &data, 5, 1), &b));
    assert_fu_refusal(&r, 403);
    let done = |t: &str| {
        with_token(
            Req::new("POST")
                .query("done")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("qquuid={fu}&qqtotalparts=2&qqtotalfilesize=10")),
            t,
        )
    };
    assert_fu_refusal(&sb.send(&done(&b)), 403);
    assert_fu_refusal(
        &sb.send(&with_token(
            Req::new("DELETE").xhr().path(&format!("/{fu}")),
            &b,
        )),
        403,
    );
    // FilePond: a transfer.
    let r = sb.send(&with_token(fp_start(4), &a));
    let fp = r.text();
    assert_eq!(r.status, 201, "{fp}");
    let patch = |t: &str| {
        with_token(
            Req::new("PATCH")
                .query(&format!("patch={fp}"))
                .header("Content-Type", OCTETS)
                .header("Upload-Offset", "0")
                .header("Upload-Length", "4")
                .header("Upload-Name", "p.txt")
                .body("abcd"),
            t,
        )
    };
    assert_text_refusal(&sb.send(&patch(&b)), 403);
    assert_eq!(
        sb.send(&with_token(
            Req::new("HEAD").query(&format!("patch={fp}")),
            &b
        ))
        .status,
        403
    );
    assert_text_refusal(
        &sb.send(&with_token(Req::new("DELETE").body(fp.clone()), &b)),
        403,
    );
    // tus.
    let tid = tus_id(&sb.send(&with_token(tus_create(3), &a)));
    assert_text_refusal(&sb.send(&with_token(tus_patch(&tid, 0, b"xyz"), &b)), 403);
    assert_eq!(sb.send(&with_token(tus_head(&tid), &b)).status, 403);
    assert_text_refusal(
        &sb.send(&with_token(tus("DELETE").path(&format!("/{tid}")), &b)),
        403,
    );
    // A token without sub is not alice either.
    assert_eq!(
        sb.send(&with_token(tus_head(&tid), &token(json!({}))))
            .status,
        403
    );
    // Alice finishes all three; bob cannot restore, download or list them.
    assert_eq!(
        sb.send(&with_token(fu_chunk(fu, "c.bin", &data, 5, 1), &a))
            .status,
        200
    );
    assert_eq!(sb.send(&done(&a)).status, 200);
    assert_eq!(sb.send(&patch(&a)).status, 204);
    assert_eq!(
        sb.send(&with_token(tus_patch(&tid, 0, b"xyz"), &a)).status,
        204
    );
    assert_text_refusal(
        &sb.send(&with_token(
            Req::new("GET").query(&format!("restore={fp}")),
            &b,
        )),
        403,
    );
    assert_text_refusal(
        &sb.send(&with_token(Req::new("GET").path(&format!("/{tid}")), &b)),
        403,
    );
    let list = |t: &str| {
        sb.send(&with_token(
            Req::new("GET").xhr().query(&format!("session&ids={fu}")),
            t,
        ))
        .json()
    };
    assert_eq!(list(&b), json!([]));
    assert_eq!(list(&a)[0]["uuid"], fu);
    let r = sb.send(&with_token(
        Req::new("GET").query(&format!("restore={fp}")),
        &a,
    ));
    assert_eq!(r.body, b"abcd");
    assert_eq!(sb.claim(fu), data);
    assert_eq!(sb.claim(&tid), b"xyz");
    // Alice may delete her own.
    let r = sb.send(&with_token(Req::new("DELETE").body(fp.clone()), &a));
    assert_eq!(r.status, 204);
    sb.assert_absent(&fp);
}

/// A token's `max_size` and `allowed_extensions` narrow the server's
/// limits (never widen them): 413 and 415, nothing stored.
fn auth_05_token_limits(m: Mode) {
    let sb = sandbox(m, &[(MAX_SIZE, "100"), (ALLOWED_EXTENSIONS, "txt,png")]);
    let small = token(json!({"max_size": 4, "allowed_extensions": ["png", "exe"]}));
    let wide = token(json!({"max_size": 1000}));
    let id = "00000000-0000-4000-8000-000000000006";
    let e = assert_fu_refusal(
        &sb.send(&with_token(fu_upload(id, "a.png", b"hello"), &small)),
        413,
    );
    assert!(e.contains('4'), "{e}");
    assert_fu_refusal(
        &sb.send(&with_token(fu_upload(id, "a.txt", b"hi"), &small)),
        415,
    );
    // The token allows .exe; the server does not.
    assert_fu_refusal(
        &sb.send(&with_token(fu_upload(id, "a.exe", b"hi"), &small)),
        415,
    );
    assert_text_refusal(
        &sb.send(&with_token(fp_process("a.png", b"hello"), &small)),
        413,
    );
    assert_text_refusal(
        &sb.send(&with_token(fp_process("a.txt", b"hi"), &small)),
        415,
    );
    assert_text_refusal(
        &sb.send(&with_token(tus_with_name(5, "a.png"), &small)),
        413,
    );
    // tus refuses an extension at creation with 400 (TUS-08).
    assert_text_refusal(
        &sb.send(&with_token(tus_with_name(2, "a.txt"), &small)),
        400,
    );
    // 1000 from the token is still 100 from the server.
    assert_fu_refusal(
        &sb.send(&with_token(fu_upload(id, "a.txt", &[b'x'; 101]), &wide)),
        413,
    );
    assert!(spool_entries(&sb).is_empty(), "{:?}", spool_entries(&sb));
    let r = sb.send(&with_token(fu_upload(id, "a.png", PNG), &wide));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `allowed_types` is checked against the content: a PNG and a PDF pass,
/// an HTML file renamed `.png` is refused (415) in each protocol, whole and
/// chunked, and nothing of it is kept. The sniffed type is recorded and is
/// what restore serves.
fn auth_06_types_by_content(m: Mode) {
    let sb = sandbox(m, &[("UPSPOOL_ALLOWED_TYPES", "image/*,application/pdf")]);
    let t = alice();
    let id = "00000000-0000-4000-8000-000000000007";
    // The client says text/plain; the bytes say image/png.
    let r = sb.send(&with_token(
        Req::new("POST")
            .xhr()
            .form(
                Form::new()
                    .field("qquuid", id)
                    .file("qqfile", "pixel.png", "text/plain", PNG),
            ),
        &t,
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sb.info(id).unwrap()["type"], "image/png");
    let r = sb.send(&with_token(
        Req::new("GET").query(&format!("restore={id}")),
        &t,
    ));
    assert_eq!(r.header("Content-Type"), Some("image/png"));
    assert_eq!(sha256(&r.body), sha256(PNG));
    let r = sb.send(&with_token(fp_process("doc.pdf", PDF), &t));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(sb.info(&r.text()).unwrap()["type"], "application/pdf");
    let before = spool_entries(&sb);
    // HTML renamed .png: Fine Uploader whole, then chunked (refused when
    // the last part completes it).
    let e = assert_fu_refusal(
        &sb.send(&with_token(
            fu_upload("00000000-0000-4000-8000-000000000008", "evil.png", HTML),
            &t,
        )),
        415,
    );
    assert!(e.contains("text/html"), "{e}");
    // Chunked: the first part already shows HTML, and is refused.
    let cid = "00000000-0000-4000-8000-000000000009";
    let part = HTML.len().div_ceil(2);
    assert_fu_refusal(
        &sb.send(&with_token(fu_chunk(cid, "evil.png", HTML, part, 0), &t)),
        415,
    );
    sb.assert_absent(cid);
    // Plain text has no magic number: its first part decides nothing, the
    // part that completes it is refused.
    let text = b"just some words, no magic number at all, in two parts".to_vec();
    let part = text.len().div_ceil(2);
    assert_eq!(
        sb.send(&with_token(fu_chunk(cid, "words.png", &text, part, 0), &t))
            .status,
        200
    );
    let e = assert_fu_refusal(
        &sb.send(&with_token(fu_chunk(cid, "words.png", &text, part, 1), &t)),
        415,
    );
    assert!(e.contains("text/plain"), "{e}");
    sb.assert_absent(cid);
    // FilePond whole and chunked.
    assert!(
        assert_text_refusal(&sb.send(&with_token(fp_process("evil.png", HTML), &t)), 415)
            .contains("text/html")
    );
    let fp = sb.send(&with_token(fp_start(HTML.len()), &t)).text();
    let r = sb.send(&with_token(
        Req::new("PATCH")
            .query(&format!("patch={fp}"))
            .header("Content-Type", OCTETS)
            .header("Upload-Offset", "0")
            .header("Upload-Length", HTML.len().to_string())
            .header("Upload-Name", "evil.png")
            .body(HTML.to_vec()),
        &t,
    ));
    assert_text_refusal(&r, 415);
    sb.assert_absent(&fp);
    // tus: refused by the first PATCH's bytes, and when the last byte
    // of a text file arrives.
    let tid = tus_id(&sb.send(&with_token(tus_with_name(HTML.len() + 10, "evil.png"), &t)));
    assert_text_refusal(&sb.send(&with_token(tus_patch(&tid, 0, HTML), &t)), 415);
    sb.assert_absent(&tid);
    let tid = tus_id(&sb.send(&with_token(tus_with_name(text.len(), "words.png"), &t)));
    assert_eq!(
        sb.send(&with_token(tus_patch(&tid, 0, &text[..10]), &t))
            .status,
        204
    );
    assert_text_refusal(
        &sb.send(&with_token(tus_patch(&tid, 10, &text[10..]), &t)),
        415,
    );
    sb.assert_absent(&tid);
    assert_eq!(spool_entries(&sb), before);
    // A token narrows further: images only.
    let images = token(json!({"sub": "alice", "allowed_types": ["image/*"]}));
    assert_text_refusal(
        &sb.send(&with_token(fp_process("doc.pdf", PDF), &images)),
        415,
    );
    assert_eq!(
        sb.send(&with_token(fp_process("p.png", PNG), &images))
            .status,
        201
    );
}

/// `min_size`: a smaller file is refused (400, Fine Uploader with
/// preventRetry), nothing kept.
fn auth_07_min_size(m: Mode) {
    let sb = sandbox(m, &[("UPSPOOL_MIN_SIZE", "10")]);
    let t = alice();
    let r = sb.send(&with_token(
        fu_upload("00000000-0000-4000-8000-00000000000a", "a.txt", b"tiny"),
        &t,
    ));
    assert_fu_refusal(&r, 400);
    assert_eq!(r.json()["preventRetry"], true);
    assert!(
        assert_text_refusal(&sb.send(&with_token(fp_process("a.txt", b"tiny"), &t)), 400)
            .contains("10 bytes")
    );
    let tid = tus_id(&sb.send(&with_token(tus_create(4), &t)));
    assert_text_refusal(&sb.send(&with_token(tus_patch(&tid, 0, b"tiny"), &t)), 400);
    assert!(spool_entries(&sb).is_empty(), "{:?}", spool_entries(&sb));
    assert_eq!(
        sb.send(&with_token(fp_process("a.txt", b"big enough"), &t))
            .status,
        201
    );
}

/// Without `auth_secret`, tokens are neither needed nor looked at, and
/// `allowed_types` still applies.
fn auth_08_open_server_checks_types(m: Mode) {
    let sb = Sandbox::with_env(m, &[("UPSPOOL_ALLOWED_TYPES", "image/png")]);
    assert_eq!(sb.send(&fp_process("p.png", PNG)).status, 201);
    assert_text_refusal(&sb.send(&fp_process("x.png", HTML)), 415);
}

/// tus concatenation under `allowed_types` (tus-js-client's
/// `parallelUploads`): the pieces are not checked — the second piece of a
/// PNG is not a PNG —, the final upload is; a final that is HTML is
/// refused and nothing of it is kept.
fn auth_09_types_check_the_final_upload_not_its_pieces(m: Mode) {
    let sb = sandbox(m, &[("UPSPOOL_ALLOWED_TYPES", "image/png")]);
    let t = alice();
    let script = match m {
        Mode::Http => "/upload",
        _ => SCRIPT,
    };
    let partial = |data: &[u8]| {
        let id = tus_id(&sb.send(&with_token(
            tus_create(data.len()).header("Upload-Concat", "partial"),
            &t,
        )));
        let r = sb.send(&with_token(
            tus_patch(&id, 0, data).header("Upload-Concat", "partial"),
            &t,
        ));
        assert_eq!(r.status, 204, "{}", r.text());
        id
    };
    let concat = |ids: &[String]| {
        let list: Vec<String> = ids.iter().map(|id| format!("{script}/{id}")).collect();
        sb.send(&with_token(
            tus("POST").header("Upload-Concat", format!("final;{}", list.join(" "))),
            &t,
        ))
    };
    let (a, b) = PNG.split_at(20);
    let ids = [partial(a), partial(b)];
    let r = concat(&ids);
    let id = tus_id(&r);
    assert_eq!(sb.info(&id).unwrap()["type"], "image/png");
    assert_eq!(sb.claim(&id), PNG);
    let (a, b) = HTML.split_at(20);
    let ids = [partial(a), partial(b)];
    assert_text_refusal(&concat(&ids), 415);
    assert!(
        spool_entries(&sb)
            .iter()
            .all(|n| !n.ends_with(".json") || ids.iter().any(|i| n.starts_with(i.as_str()))),
        "{:?}",
        spool_entries(&sb)
    );
}

in_every_mode!(
    auth_09_types_check_the_final_upload_not_its_pieces,
    auth_01_no_token,
    auth_02_bad_tokens,
    auth_03_carriers_and_sub,
    auth_04_other_sub,
    auth_05_token_limits,
    auth_06_types_by_content,
    auth_07_min_size,
    auth_08_open_server_checks_types,
);

/// `upspool token` prints the token alone, one the server accepts with its
/// claims; without a secret it refuses.
#[test]
fn token_command() {
    let sb = sandbox(Mode::Cgi, &[]);
    let out = sb.admin(&[
        "token",
        "--sub",
        "carol",
        "--ttl",
        "10m",
        "--max-size",
        "1K",
        "--allowed-types",
        "image/*",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = String::from_utf8(out.stdout).unwrap();
    let t = t.strip_suffix('\n').unwrap();
    assert_eq!(t.split('.').count(), 3, "{t}");
    assert!(!t.contains(char::is_whitespace));
    let r = sb.send(&with_token(fp_process("p.png", PNG), t));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(sb.info(&r.text()).unwrap()["sub"], "carol");
    assert_text_refusal(
        &sb.send(&with_token(fp_process("big.png", &[0; 2000]), t)),
        413,
    );
    let open = Sandbox::new(Mode::Cgi);
    let out = open.admin(&["token", "--sub", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth_secret"));
}

/// `serve` on a non-loopback address without a secret or hooks warns at
/// start; on loopback, or with a secret, it does not.
#[test]
fn serve_warns_when_open_to_the_network() {
    let warned = |env: &[(&str, &str)], listen: &str| {
        let sb = Sandbox::with_env(Mode::Cgi, env);
        let server = sb.start_server(&["serve", "--listen", listen], "http://");
        // The warning, if any, comes before the serving line.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = &server;
        let all = format!("{}", server.log.lock().unwrap());
        drop(server);
        all.contains("non-loopback")
    };
    assert!(!warned(&[], "127.0.0.1:0"));
    assert!(warned(&[], "0.0.0.0:0"));
    assert!(!warned(&[(AUTH, SECRET)], "0.0.0.0:0"));
}

/// The README's token-minting snippets (PHP, Python, Node) mint tokens
/// upspool accepts, with the `sub` they set. PHP runs where `php` is
/// installed (CI installs php-cli).
#[test]
fn readme_snippets_mint_accepted_tokens() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = |lang: &str, marker: &str| -> String {
        readme
            .split(&format!("```{lang}\n"))
            .skip(1)
            .map(|b| b.split("```").next().unwrap())
            .find(|b| b.contains(marker))
            .unwrap_or_else(|| panic!("no {lang} block with {marker}"))
            .to_owned()
    };
    let runs: Vec<(&str, Vec<String>)> = vec![
        (
            "python3",
            vec![
                "-c".into(),
                format!(
                    "user_id = 42\n{}\nprint(token)",
                    block("python", "UPSPOOL_AUTH_SECRET")
                ),
            ],
        ),
        (
            "node",
            vec![
                "-e".into(),
                format!(
                    "const userId = 42;\n{}\nconsole.log(token);",
                    block("js", "createHmac")
                ),
            ],
        ),
        (
            "php",
            vec![
                "-r".into(),
                format!(
                    "$userId = 42;\n{}\necho $token;",
                    block("php", "hash_hmac").trim_start_matches("<?php")
                ),
            ],
        ),
    ];
    let sb = sandbox(Mode::Cgi, &[]);
    let mut ran = 0;
    for (program, args) in runs {
        let out = match std::process::Command::new(program)
            .args(&args)
            .env(AUTH, SECRET)
            .output()
        {
            Ok(o) => o,
            Err(_) if program == "php" && std::env::var_os("CI").is_none() => continue,
            Err(e) => panic!("{program}: {e}"),
        };
        assert!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let r = sb.send(&with_token(fp_process("a.txt", b"hello"), &t));
        assert_eq!(r.status, 201, "{program}'s token: {}", r.text());
        assert_eq!(sb.info(&r.text()).unwrap()["sub"], "42", "{program}");
        ran += 1;
    }
    assert!(ran >= 2);
}
