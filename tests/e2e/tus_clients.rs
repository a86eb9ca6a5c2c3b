//! Real tus clients against the real binary: tus-js-client 4.3.1 under Node
//! (tests/e2e/tus/client.mjs; `npm ci` installs it as package-lock.json pins
//! it) and tuspy 1.1.0 (tests/e2e/tus/tuspy_client.py; `.ci/run` installs
//! it with pip), each through `upspool serve` and through nginx → upspool
//! FastCGI (`deploy/nginx-fastcgi-tcp.conf`). Every upload is 64 MiB; its id
//! is the last path segment of the upload URL the client ends with, and
//! `upspool claim` must give back the source's bytes (SHA-256 compared).
//!
//! The client scripts print one JSON line with every request they made, its
//! status and the tus headers of the answer: a failure shows them, with the
//! servers' logs. Retries are off, so a refusal is never retried away.
//!
//! Node with `node_modules`, Python with tuspy, and nginx are needed; under
//! CI a missing one is a failure, elsewhere the test skips with a message.

#[path = "../common/mod.rs"]
mod common;
mod site;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::*;
use site::*;

/// A bound on one client run; the scripts bound themselves a little earlier.
const CLIENT_LIMIT: Duration = Duration::from_secs(150);
const SCRIPT_LIMIT_SECS: u64 = 120;
const TUSPY_VERSION: &str = "1.1.0";

/// The deployment, or `None` (skipped) when its web server is missing.
fn start(front: Front) -> Option<Site> {
    if !front.available() {
        return None;
    }
    let mut site = Site::new();
    site.deploy_as(front);
    site.endpoint = "/upload".into();
    Some(site)
}

/// Node and tus-js-client are there (under CI they must be).
fn node_ready() -> bool {
    npm_installed(&["tus-js-client"], "tus-js-client tests") && have("node")
}

/// Python with tuspy of the pinned version (under CI it must be there).
fn tuspy_ready() -> bool {
    if !have("python3") {
        return false;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "from importlib.metadata import version; print(version('tuspy'))",
        ])
        .output()
        .expect("run python3");
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if found != TUSPY_VERSION {
        assert!(
            std::env::var_os("CI").is_none(),
            "tuspy {TUSPY_VERSION} is not installed (found {found:?}); .ci/run installs it"
        );
        eprintln!("skipped: pip install tuspy=={TUSPY_VERSION} for the tuspy tests");
        return false;
    }
    true
}

/// The 64 MiB source file, written into the sandbox.
fn source(site: &Site) -> PathBuf {
    let file = site.path("source.bin");
    if !file.exists() {
        std::fs::write(&file, payload()).unwrap();
    }
    file
}

/// The source's SHA-256, computed once.
fn payload_sha256() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| sha256(payload()))
}

fn url(site: &Site) -> String {
    format!("http://{}{}", site.addr, site.endpoint)
}

/// Runs one client script, bounded by [`CLIENT_LIMIT`]; returns its JSON
/// line (`ok` tells whether it succeeded) and what it wrote to stderr.
fn run_client(site: &Site, program: &str, script: &str, spec: &Value) -> (Value, String) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let (out, err) = (
        site.path(&format!("client-{n}.out")),
        site.path(&format!("client-{n}.err")),
    );
    let mut child = Command::new(program)
        .arg(script)
        .arg(spec.to_string())
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let deadline = Instant::now() + CLIENT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{script} ran past {CLIENT_LIMIT:?}; killed\n{}",
                site.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let line = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("{script} exited {status} without its JSON line ({e})\nstdout: {stdout}\nstderr: {stderr}\n{}", site.logs())
    });
    (result, stderr)
}

/// The id in an upload URL: its last path segment, 32 lowercase hex digits.
fn id_of(upload_url: &str) -> String {
    let id = upload_url.rsplit('/').next().unwrap().to_string();
    assert_hex_id(&id);
    id
}

/// `upspool claim` of the upload at `upload_url` gives the source's bytes.
fn assert_claimed(site: &Site, upload_url: &str) {
    let claimed = site.claim(&id_of(upload_url));
    assert_eq!(claimed.len(), payload().len(), "claimed length");
    assert_eq!(sha256(&claimed), payload_sha256(), "claimed bytes differ");
}

/// Fails with the client's requests and the servers' logs.
#[track_caller]
fn fail(site: &Site, what: &str, result: &Value, stderr: &str) -> ! {
    panic!(
        "{what}\nclient: {}\nclient stderr: {stderr}\n{}",
        serde_json::to_string_pretty(result).unwrap(),
        site.logs()
    )
}

/// The requests the client made with `method`.
fn requests<'a>(result: &'a Value, method: &str) -> Vec<&'a Value> {
    result["requests"]
        .as_array()
        .map(|all| all.iter().filter(|r| r["method"] == method).collect())
        .unwrap_or_default()
}

/// A tus-js-client upload of the source with `options`; it must succeed and
/// claim must give the same bytes. Returns the client's report.
fn tus_js(site: &Site, options: Value) -> Value {
    let spec = json!({
        "endpoint": url(site),
        "file": source(site),
        "options": options,
        "timeoutMs": SCRIPT_LIMIT_SECS * 1000,
    });
    let (result, stderr) = run_client(site, "node", "tests/e2e/tus/client.mjs", &spec);
    if result["ok"] != true {
        fail(site, "tus-js-client's upload failed", &result, &stderr);
    }
    let upload_url = result["url"].as_str().unwrap().to_string();
    assert_claimed(site, &upload_url);
    result
}

/// Declares `#[test]`s of one case against each front, by explicit name.
macro_rules! fronts {
    ($case:ident: $serve:ident, $nginx:ident) => {
        #[test]
        fn $serve() {
            $case(Front::Serve)
        }
        #[test]
        fn $nginx() {
            $case(Front::NginxFastcgi)
        }
    };
}

fn js_site(front: Front) -> Option<Site> {
    if !node_ready() {
        return None;
    }
    start(front)
}

// ---------------------------------------------------------------- tus-js-client

fronts!(one_patch: tus_js_client_one_patch_64mib_serve, tus_js_client_one_patch_64mib_nginx_fastcgi);
/// The default `chunkSize: Infinity`: one POST, then one PATCH of 64 MiB.
fn one_patch(front: Front) {
    let Some(site) = js_site(front) else { return };
    let r = tus_js(&site, json!({}));
    let patches = requests(&r, "PATCH");
    assert_eq!(patches.len(), 1, "one PATCH: {r:#}");
    assert_eq!(patches[0]["status"], 204);
    assert_eq!(patches[0]["sent"]["Upload-Offset"], "0");
    assert_eq!(
        patches[0]["headers"]["Upload-Offset"],
        payload().len().to_string()
    );
}

fronts!(chunks_5mib: tus_js_client_5mib_chunks_serve, tus_js_client_5mib_chunks_nginx_fastcgi);
/// `chunkSize: 5 MiB`: 13 PATCHes, each at the running offset.
fn chunks_5mib(front: Front) {
    let Some(site) = js_site(front) else { return };
    let chunk = 5 * MIB;
    let r = tus_js(&site, json!({ "chunkSize": chunk }));
    let patches = requests(&r, "PATCH");
    assert_eq!(patches.len(), payload().len().div_ceil(chunk), "{r:#}");
    for (i, p) in patches.iter().enumerate() {
        let end = ((i + 1) * chunk).min(payload().len());
        assert_eq!(p["status"], 204);
        assert_eq!(p["sent"]["Upload-Offset"], (i * chunk).to_string());
        assert_eq!(p["headers"]["Upload-Offset"], end.to_string());
    }
}

fronts!(parallel_3: tus_js_client_parallel_uploads_3_serve, tus_js_client_parallel_uploads_3_nginx_fastcgi);
/// `parallelUploads: 3`: three partial uploads (`Upload-Concat: partial`),
/// then the final POST (`Upload-Concat: final;<urls>`); claim of the final
/// upload gives the whole file, and the partials are gone (tus.md §10).
fn parallel_3(front: Front) {
    let Some(site) = js_site(front) else { return };
    let r = tus_js(&site, json!({ "parallelUploads": 3 }));
    let posts = requests(&r, "POST");
    let partials: Vec<&str> = posts
        .iter()
        .filter(|p| p["sent"]["Upload-Concat"] == "partial")
        .map(|p| p["headers"]["Location"].as_str().unwrap())
        .collect();
    assert_eq!(partials.len(), 3, "{r:#}");
    let finals: Vec<_> = posts
        .iter()
        .filter(|p| {
            p["sent"]["Upload-Concat"]
                .as_str()
                .is_some_and(|c| c.starts_with("final;"))
        })
        .collect();
    assert_eq!(finals.len(), 1, "{r:#}");
    assert_eq!(finals[0]["status"], 201);
    let final_id = id_of(r["url"].as_str().unwrap());
    for location in partials {
        let id = id_of(location);
        assert_ne!(id, final_id);
        let head = site.send(
            &Req::new("HEAD")
                .path(&format!("/{id}"))
                .header("Tus-Resumable", "1.0.0"),
        );
        assert_eq!(
            head.status, 404,
            "partial {id} must be gone once the final upload is complete"
        );
    }
}

fronts!(data_during_creation: tus_js_client_upload_data_during_creation_serve, tus_js_client_upload_data_during_creation_nginx_fastcgi);
/// `uploadDataDuringCreation: true`: the whole file in the creation POST
/// (creation-with-upload), no PATCH.
fn data_during_creation(front: Front) {
    let Some(site) = js_site(front) else { return };
    let r = tus_js(&site, json!({ "uploadDataDuringCreation": true }));
    assert!(requests(&r, "PATCH").is_empty(), "{r:#}");
    let posts = requests(&r, "POST");
    assert_eq!(posts.len(), 1, "{r:#}");
    assert_eq!(
        posts[0]["sent"]["Content-Type"],
        "application/offset+octet-stream"
    );
    assert_eq!(posts[0]["status"], 201);
    assert_eq!(
        posts[0]["headers"]["Upload-Offset"],
        payload().len().to_string()
    );
}

fronts!(deferred: tus_js_client_upload_length_deferred_serve, tus_js_client_upload_length_deferred_nginx_fastcgi);
/// `uploadLengthDeferred: true` in 16 MiB chunks: the creation sends
/// `Upload-Defer-Length: 1`, and the fourth PATCH, which ends the source,
/// fixes `Upload-Length` and completes the upload.
fn deferred(front: Front) {
    let Some(site) = js_site(front) else { return };
    let r = tus_js(
        &site,
        json!({ "uploadLengthDeferred": true, "chunkSize": 16 * MIB }),
    );
    let posts = requests(&r, "POST");
    assert_eq!(posts[0]["sent"]["Upload-Defer-Length"], "1", "{r:#}");
    assert!(posts[0]["sent"]["Upload-Length"].is_null());
    let patches = requests(&r, "PATCH");
    assert_eq!(patches.len(), 4, "{r:#}");
    let last = patches.last().unwrap();
    assert_eq!(last["sent"]["Upload-Length"], payload().len().to_string());
    assert!(
        patches[..3]
            .iter()
            .all(|p| p["sent"]["Upload-Length"].is_null())
    );
}

fronts!(override_patch: tus_js_client_override_patch_method_serve, tus_js_client_override_patch_method_nginx_fastcgi);
/// `overridePatchMethod: true`: every append is a POST with
/// `X-HTTP-Method-Override: PATCH` (two appends of 32 MiB here).
fn override_patch(front: Front) {
    let Some(site) = js_site(front) else { return };
    let r = tus_js(
        &site,
        json!({ "overridePatchMethod": true, "chunkSize": 32 * MIB }),
    );
    assert!(requests(&r, "PATCH").is_empty(), "{r:#}");
    let appends: Vec<_> = requests(&r, "POST")
        .into_iter()
        .filter(|p| p["sent"]["X-HTTP-Method-Override"] == "PATCH")
        .collect();
    assert_eq!(appends.len(), 2, "{r:#}");
    assert!(appends.iter().all(|p| p["status"] == 204));
}

fronts!(ietf_draft_03: tus_js_client_ietf_draft_03_serve, tus_js_client_ietf_draft_03_nginx_fastcgi);
/// `protocol: 'ietf-draft-03'` (sends `Upload-Draft-Interop-Version: 5`).
fn ietf_draft_03(front: Front) {
    ietf(front, "ietf-draft-03", "5");
}

fronts!(ietf_draft_05: tus_js_client_ietf_draft_05_serve, tus_js_client_ietf_draft_05_nginx_fastcgi);
/// `protocol: 'ietf-draft-05'` (sends `Upload-Draft-Interop-Version: 6`,
/// `application/partial-upload`).
fn ietf_draft_05(front: Front) {
    ietf(front, "ietf-draft-05", "6");
}

/// An IETF upload in 16 MiB chunks: a creation with `Upload-Complete: ?0`,
/// then PATCHes with `?0` … `?1`; answers echo the interop version.
fn ietf(front: Front, protocol: &str, interop: &str) {
    let Some(site) = js_site(front) else { return };
    let r = tus_js(
        &site,
        json!({ "protocol": protocol, "chunkSize": 16 * MIB }),
    );
    let all = r["requests"].as_array().unwrap();
    assert!(
        all.iter()
            .all(|q| q["sent"]["Upload-Draft-Interop-Version"] == interop
                && q["sent"]["Tus-Resumable"].is_null()),
        "{r:#}"
    );
    let post = &requests(&r, "POST")[0];
    assert_eq!(post["status"], 201);
    assert_eq!(
        post["headers"]["Upload-Draft-Interop-Version"], interop,
        "{r:#}"
    );
    let patches = requests(&r, "PATCH");
    assert_eq!(patches.len(), 4, "{r:#}");
    let last = patches.last().unwrap();
    assert_eq!(last["sent"]["Upload-Complete"], "?1");
    assert_eq!(
        last["headers"]["Upload-Offset"],
        payload().len().to_string()
    );
}

fronts!(ietf_draft_05_creation_with_body: tus_js_client_ietf_draft_05_upload_data_during_creation_serve, tus_js_client_ietf_draft_05_upload_data_during_creation_nginx_fastcgi);
/// `protocol: 'ietf-draft-05'` with `uploadDataDuringCreation: true`: the
/// whole file in the creation POST (`application/partial-upload`,
/// `Upload-Complete: ?1`), no PATCH (tus.md §5, IETF creation).
fn ietf_draft_05_creation_with_body(front: Front) {
    let Some(site) = js_site(front) else { return };
    let r = tus_js(
        &site,
        json!({ "protocol": "ietf-draft-05", "uploadDataDuringCreation": true }),
    );
    assert!(requests(&r, "PATCH").is_empty(), "{r:#}");
    let posts = requests(&r, "POST");
    assert_eq!(posts.len(), 1, "{r:#}");
    assert_eq!(
        posts[0]["sent"]["Content-Type"],
        "application/partial-upload"
    );
    assert_eq!(posts[0]["sent"]["Upload-Complete"], "?1");
    assert_eq!(posts[0]["status"], 201);
    assert_eq!(posts[0]["headers"]["Upload-Complete"], "?1", "{r:#}");
    assert_eq!(
        posts[0]["headers"]["Upload-Offset"],
        payload().len().to_string()
    );
}

fronts!(resume_after_cut: tus_js_client_resume_after_cut_mid_patch_serve, tus_js_client_resume_after_cut_mid_patch_nginx_fastcgi);
/// A one-PATCH 64 MiB upload whose connection is cut at 50% (the body
/// stalls there, then the client aborts), then a new `Upload` with the same
/// URL (`uploadUrl`): its first HEAD, and so its first progress event, must
/// be at ≥ 40% and ≤ 50% of the file (tus.md §7, "Interrupted PATCH keeps
/// what arrived"), not 0; it finishes with one PATCH from there.
fn resume_after_cut(front: Front) {
    resume(front, json!({}));
}

fronts!(resume_after_cut_ietf: tus_js_client_ietf_draft_05_resume_after_cut_mid_patch_serve, tus_js_client_ietf_draft_05_resume_after_cut_mid_patch_nginx_fastcgi);
/// The same with `protocol: 'ietf-draft-05'`: resumption is the draft's
/// point (its HEAD answers 204 with `Upload-Offset`).
fn resume_after_cut_ietf(front: Front) {
    resume(front, json!({ "protocol": "ietf-draft-05" }));
}

fn resume(front: Front, options: Value) {
    let Some(site) = js_site(front) else { return };
    let len = payload().len();
    let spec = json!({
        "endpoint": url(&site),
        "file": source(&site),
        "options": options,
        "cutAt": 0.5,
        "timeoutMs": SCRIPT_LIMIT_SECS * 1000,
    });
    let (first, stderr) = run_client(&site, "node", "tests/e2e/tus/client.mjs", &spec);
    if first["ok"] != true || first["cut"]["sentBeforeCut"] != len / 2 {
        fail(
            &site,
            "the first upload was not cut mid-PATCH",
            &first,
            &stderr,
        );
    }
    let upload_url = first["url"].as_str().unwrap();
    assert!(
        requests(&first, "PATCH")[0]["status"].is_null(),
        "the cut PATCH must have no answer: {first:#}"
    );

    let mut options = options;
    options["uploadUrl"] = json!(upload_url);
    let spec = json!({
        "endpoint": url(&site),
        "file": source(&site),
        "options": options,
        "timeoutMs": SCRIPT_LIMIT_SECS * 1000,
    });
    let (second, stderr) = run_client(&site, "node", "tests/e2e/tus/client.mjs", &spec);
    if second["ok"] != true {
        fail(&site, "the resumed upload failed", &second, &stderr);
    }
    let all = second["requests"].as_array().unwrap();
    assert_eq!(all[0]["method"], "HEAD", "{second:#}");
    let resumed: usize = all[0]["headers"]["Upload-Offset"]
        .as_str()
        .and_then(|o| o.parse().ok())
        .unwrap_or_else(|| fail(&site, "the HEAD gave no offset", &second, &stderr));
    eprintln!(
        "{front:?}: cut after {} bytes, resumed at {resumed} ({:.1}%)",
        len / 2,
        resumed as f64 * 100.0 / len as f64
    );
    if resumed * 10 < len * 4 || resumed > len / 2 {
        fail(
            &site,
            &format!("resumed at {resumed}, not within 40%..=50% of {len} (the cut was at 50%)"),
            &second,
            &stderr,
        );
    }
    assert_eq!(second["progress"]["first"], resumed, "{second:#}");
    let patches = requests(&second, "PATCH");
    assert_eq!(patches.len(), 1, "{second:#}");
    assert_eq!(patches[0]["sent"]["Upload-Offset"], resumed.to_string());
    assert_claimed(&site, upload_url);
}

// ---------------------------------------------------------------- tuspy

fn tuspy_site(front: Front) -> Option<Site> {
    if !tuspy_ready() {
        return None;
    }
    start(front)
}

/// A tuspy upload of the source; returns its report (succeeded or not).
fn tuspy(site: &Site, chunk_size: Option<usize>, checksum: &str) -> (Value, String) {
    tuspy_with(site, chunk_size, checksum, false)
}

/// The same with `asynchronous`: tuspy's AsyncUploader (aiohttp).
fn tuspy_with(
    site: &Site,
    chunk_size: Option<usize>,
    checksum: &str,
    asynchronous: bool,
) -> (Value, String) {
    let spec = json!({
        "endpoint": url(site),
        "file": source(site),
        "chunk_size": chunk_size,
        "checksum": checksum,
        "async": asynchronous,
        "timeout": SCRIPT_LIMIT_SECS,
    });
    run_client(site, "python3", "tests/e2e/tus/tuspy_client.py", &spec)
}

/// Discovery advertises the checksum extension with sha1, the algorithm
/// tuspy sends (tus.md §4).
fn assert_checksum_advertised(site: &Site) {
    let r = site.send(&Req::new("OPTIONS").header("Tus-Resumable", "1.0.0"));
    let extensions = r.header("tus-extension").unwrap_or_default();
    let algorithms = r.header("tus-checksum-algorithm").unwrap_or_default();
    assert!(
        extensions.split(',').any(|e| e.trim() == "checksum")
            && algorithms.split(',').any(|a| a.trim() == "sha1"),
        "OPTIONS {}: Tus-Extension {extensions:?}, Tus-Checksum-Algorithm {algorithms:?}",
        r.status
    );
}

/// The PATCHes of tuspy's report: the source in `chunk`-byte pieces, each
/// carrying a sha1 `Upload-Checksum`.
fn sha1_patches(r: &Value, chunk: usize) -> Vec<&Value> {
    let patches = requests(r, "PATCH");
    assert_eq!(patches.len(), payload().len().div_ceil(chunk), "{r:#}");
    assert!(
        patches.iter().all(|p| p["checksum"]
            .as_str()
            .is_some_and(|c| c.starts_with("sha1 "))),
        "{r:#}"
    );
    patches
}

fronts!(tuspy_checksum: tuspy_checksum_sha1_5mib_chunks_serve, tuspy_checksum_sha1_5mib_chunks_nginx_fastcgi);
/// tuspy with `upload_checksum=True`: every 5 MiB PATCH carries
/// `Upload-Checksum: sha1 …`, which upspool verifies (tus.md §11).
fn tuspy_checksum(front: Front) {
    let Some(site) = tuspy_site(front) else {
        return;
    };
    assert_checksum_advertised(&site);
    let (r, stderr) = tuspy(&site, Some(5 * MIB), "sha1");
    if r["ok"] != true {
        fail(&site, "tuspy's upload failed", &r, &stderr);
    }
    assert_eq!(r["version"], TUSPY_VERSION);
    sha1_patches(&r, 5 * MIB);
    assert_claimed(&site, r["url"].as_str().unwrap());
}

fronts!(tuspy_async_checksum: tuspy_async_checksum_sha1_20mb_chunks_serve, tuspy_async_checksum_sha1_20mb_chunks_nginx_fastcgi);
/// tuspy's AsyncUploader (aiohttp; its creation POST differs from the
/// Uploader's) with `upload_checksum=True` in 20 MB chunks: four PATCHes,
/// each with its sha1.
fn tuspy_async_checksum(front: Front) {
    let Some(site) = tuspy_site(front) else {
        return;
    };
    let chunk = 20_000_000;
    let (r, stderr) = tuspy_with(&site, Some(chunk), "sha1", true);
    if r["ok"] != true {
        fail(&site, "tuspy's async upload failed", &r, &stderr);
    }
    let patches = sha1_patches(&r, chunk);
    assert!(patches.iter().all(|p| p["status"] == 204), "{r:#}");
    assert_claimed(&site, r["url"].as_str().unwrap());
}

fronts!(tuspy_checksum_mismatch: tuspy_checksum_mismatch_460_serve, tuspy_checksum_mismatch_460_nginx_fastcgi);
/// tuspy's wire with a wrong sha1 digest (the script corrupts it): the
/// first PATCH is refused with 460 and the offset stays 0 (tus.md §11).
fn tuspy_checksum_mismatch(front: Front) {
    let Some(site) = tuspy_site(front) else {
        return;
    };
    let (r, stderr) = tuspy(&site, Some(5 * MIB), "sha1-corrupt");
    let patches = requests(&r, "PATCH");
    if r["ok"] == true || patches.len() != 1 || patches[0]["status"] != 460 {
        fail(
            &site,
            "a wrong Upload-Checksum must be refused with 460",
            &r,
            &stderr,
        );
    }
    let id = id_of(r["url"].as_str().unwrap());
    let head = site.send(
        &Req::new("HEAD")
            .path(&format!("/{id}"))
            .header("Tus-Resumable", "1.0.0"),
    );
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("upload-offset"),
        Some("0"),
        "nothing of the refused PATCH is kept"
    );
}

fronts!(tuspy_plain: tuspy_one_patch_no_checksum_serve, tuspy_one_patch_no_checksum_nginx_fastcgi);
/// tuspy's defaults: no checksum, the whole file in one PATCH.
fn tuspy_plain(front: Front) {
    let Some(site) = tuspy_site(front) else {
        return;
    };
    let (r, stderr) = tuspy(&site, None, "");
    if r["ok"] != true {
        fail(&site, "tuspy's upload failed", &r, &stderr);
    }
    let patches = requests(&r, "PATCH");
    assert_eq!(patches.len(), 1, "{r:#}");
    assert!(patches[0]["checksum"].is_null());
    assert_claimed(&site, r["url"].as_str().unwrap());
}
