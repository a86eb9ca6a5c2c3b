//! Black-box test harness: runs the built `upspool` binary in a mode (CGI:
//! environment + stdin; HTTP: `upspool serve` over a real socket) inside a
//! fresh sandbox whose only content must be the spool.

#![allow(dead_code)]

pub mod fcgi;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_upspool");
/// The script name the CGI runs under.
pub const SCRIPT: &str = "/cgi-bin/upspool";

// Configuration names the conformance suites rely on (fine-uploader.md B.9).
pub const MAX_SIZE: &str = "UPSPOOL_MAX_SIZE";
pub const ALLOWED_EXTENSIONS: &str = "UPSPOOL_ALLOWED_EXTENSIONS";
pub const CORS_ORIGINS: &str = "UPSPOOL_CORS_ORIGINS";

/// How the binary is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Cgi,
    FastCgi,
    Http,
}

/// A request as a test writes it.
#[derive(Clone, Debug, Default)]
pub struct Req {
    pub method: String,
    pub path_info: String,
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Announce this length instead of the body's (to send a truncated body).
    pub declared_length: Option<u64>,
}

impl Req {
    pub fn new(method: &str) -> Req {
        Req {
            method: method.into(),
            ..Req::default()
        }
    }
    pub fn query(mut self, q: &str) -> Req {
        self.query = q.into();
        self
    }
    pub fn path(mut self, p: &str) -> Req {
        self.path_info = p.into();
        self
    }
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Req {
        self.body = b.into();
        self
    }
    pub fn declare(mut self, len: u64) -> Req {
        self.declared_length = Some(len);
        self
    }
    /// A multipart body, with Fine Uploader's XHR headers.
    pub fn form(self, form: Form) -> Req {
        let (ct, body) = form.build();
        self.header("Content-Type", ct).body(body)
    }
    /// The headers Fine Uploader's upload XHRs always carry (A.2).
    pub fn xhr(self) -> Req {
        self.header("Accept", "application/json")
            .header("X-Requested-With", "XMLHttpRequest")
            .header("Cache-Control", "no-cache")
    }
}

/// A response as the test sees it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A multipart/form-data body builder that writes what browsers write.
/// One form part: name, filename, content type, bytes.
type FormPart = (String, Option<Vec<u8>>, Option<String>, Vec<u8>);

#[derive(Default, Clone)]
pub struct Form {
    parts: Vec<FormPart>,
    pub boundary: String,
}

impl Form {
    pub fn new() -> Form {
        Form {
            parts: Vec::new(),
            boundary: "----WebKitFormBoundaryu7Xq2RyJ3pTz9kLm".into(),
        }
    }
    pub fn field(mut self, name: &str, value: impl AsRef<[u8]>) -> Form {
        self.parts
            .push((name.into(), None, None, value.as_ref().to_vec()));
        self
    }
    pub fn file(mut self, name: &str, filename: impl AsRef<[u8]>, ct: &str, data: &[u8]) -> Form {
        self.parts.push((
            name.into(),
            Some(filename.as_ref().to_vec()),
            Some(ct.into()),
            data.to_vec(),
        ));
        self
    }
    pub fn build(&self) -> (String, Vec<u8>) {
        let mut body = Vec::new();
        for (name, filename, ct, data) in &self.parts {
            body.extend_from_slice(
                format!(
                    "--{}\r\nContent-Disposition: form-data; name=\"{name}\"",
                    self.boundary
                )
                .as_bytes(),
            );
            if let Some(f) = filename {
                // Browsers write these three as percent escapes in a filename.
                let mut escaped = Vec::new();
                for &b in f {
                    match b {
                        b'"' => escaped.extend_from_slice(b"%22"),
                        b'\r' => escaped.extend_from_slice(b"%0D"),
                        b'\n' => escaped.extend_from_slice(b"%0A"),
                        _ => escaped.push(b),
                    }
                }
                body.extend_from_slice(b"; filename=\"");
                body.extend_from_slice(&escaped);
                body.extend_from_slice(b"\"");
            }
            body.extend_from_slice(b"\r\n");
            if let Some(ct) = ct {
                body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            body,
        )
    }
}

/// Part `index` of `data` cut in parts of `part` bytes, as a Fine Uploader
/// multipart chunk request (parameters in the client's order).
pub fn fu_chunk(id: &str, name: &str, data: &[u8], part: usize, index: usize) -> Req {
    let offset = index * part;
    let bytes = &data[offset..(offset + part).min(data.len())];
    Req::new("POST").xhr().form(
        Form::new()
            .field("qqpartindex", index.to_string())
            .field("qqpartbyteoffset", offset.to_string())
            .field("qqchunksize", bytes.len().to_string())
            .field("qqtotalparts", data.len().div_ceil(part).to_string())
            .field("qqtotalfilesize", data.len().to_string())
            .field("qquuid", id)
            .field("qqfilename", name)
            .file("qqfile", "blob", "application/octet-stream", bytes),
    )
}

/// JavaScript's encodeURIComponent, then `%20` → `+` (fine-uploader.md A.2).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `a=1&b=2` from pairs, encoded like the client.
pub fn qs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic test bytes.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .wrapping_add(seed as u32)
                .rotate_left(7) as u8
        })
        .collect()
}

/// How [`Sandbox::stream`] ends a request's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The whole body; then the answer is read.
    Whole,
    /// Only the first `n` bytes, then the client goes away: CGI's stdin is
    /// closed early (short stdin), FastCGI's and `serve`'s connection closed.
    Cut(usize),
    /// Only the first `n` bytes, then FastCGI's `ABORT_REQUEST` and its
    /// answer is read; in the other modes the same as [`Ending::Cut`].
    Abort(usize),
}

impl Ending {
    /// What of `req`'s body is sent.
    fn body(self, req: &Req) -> &[u8] {
        match self {
            Ending::Whole => &req.body,
            Ending::Cut(n) | Ending::Abort(n) => &req.body[..n.min(req.body.len())],
        }
    }
}

/// The body type of tus's PATCH and creation-with-upload.
pub const OCTETS: &str = "application/offset+octet-stream";

/// A tus 1.0 request.
pub fn tus(method: &str) -> Req {
    Req::new(method).header("Tus-Resumable", "1.0.0")
}

/// A tus creation of an upload of `length` bytes.
pub fn tus_create(length: usize) -> Req {
    tus("POST").header("Upload-Length", length.to_string())
}

/// A tus PATCH of `data` at `offset` to upload `id`.
pub fn tus_patch(id: &str, offset: usize, data: &[u8]) -> Req {
    tus("PATCH")
        .path(&format!("/{id}"))
        .header("Content-Type", OCTETS)
        .header("Upload-Offset", offset.to_string())
        .body(data.to_vec())
}

/// A tus HEAD of upload `id`.
pub fn tus_head(id: &str) -> Req {
    tus("HEAD").path(&format!("/{id}"))
}

/// A tus refusal's form (tus.md): `Tus-Resumable: 1.0.0` and a text/plain
/// body of one sentence (one line ending in a full stop) that names no path
/// under `spool`; a HEAD answer has no body on the wire (`head`). Returns
/// the sentence.
pub fn assert_tus_sentence(r: &Resp, spool: &Path, head: bool) -> String {
    assert_eq!(r.header("Tus-Resumable"), Some("1.0.0"));
    assert_text_plain(r);
    let text = r.text();
    if head {
        assert!(text.is_empty());
        return text;
    }
    assert!(
        !text.is_empty() && text.ends_with('.') && !text.contains('\n'),
        "one sentence: {text:?}"
    );
    assert!(!text.contains(spool.to_str().unwrap()), "{text}");
    text
}

/// The answer's body is text/plain.
pub fn assert_text_plain(r: &Resp) {
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
}

/// `len` test bytes that never repeat, made a word at a time (xorshift64*):
/// large bodies without `bytes`' cost in a debug build; a byte stored at the
/// wrong offset never looks right.
pub fn large_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = vec![0u8; len.next_multiple_of(8)];
    for word in out.chunks_exact_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        word.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A sandbox directory holding only `spool`, and the binary running in a mode.
pub struct Sandbox {
    pub mode: Mode,
    dir: tempfile::TempDir,
    pub spool: PathBuf,
    env: Vec<(String, String)>,
    server: Option<Server>,
    /// A directory for test files outside the sandbox (claim destinations).
    pub outside: tempfile::TempDir,
}

/// A long-running upspool process (serve or fastcgi), killed on drop.
pub struct Server {
    pub child: Child,
    /// The address it printed, `host:port` (or `unix:/path`).
    pub addr: String,
    /// What it has logged so far.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    pub fn new(mode: Mode) -> Sandbox {
        Sandbox::with_env(mode, &[])
    }

    pub fn with_env(mode: Mode, env: &[(&str, &str)]) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("upspool-sandbox")
            .tempdir()
            .unwrap();
        let spool = dir.path().join("spool");
        let mut all = vec![
            ("UPSPOOL_DIR".to_string(), spool.display().to_string()),
            ("UPSPOOL_GC_PROBABILITY".into(), "0".into()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut sandbox = Sandbox {
            mode,
            dir,
            spool,
            env: all,
            server: None,
            outside: tempfile::tempdir().unwrap(),
        };
        match mode {
            Mode::Http => {
                sandbox.server = Some(sandbox.start_server(
                    &["serve", "--listen", "127.0.0.1:0", "--workers", "16"],
                    "http://",
                ))
            }
            Mode::FastCgi => {
                sandbox.server = Some(sandbox.start_server(
                    &["fastcgi", "--listen", "127.0.0.1:0", "--workers", "16"],
                    "FastCGI on ",
                ))
            }
            Mode::Cgi => {}
        }
        sandbox
    }

    /// Starts the binary with `args`; its first log line names the address after `marker`.
    pub fn start_server(&self, args: &[&str], marker: &str) -> Server {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.outside.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start upspool serve");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr);
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        let addr = line
            .split(marker)
            .nth(1)
            .and_then(|s| s.split(['/', ',']).next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        // Keep draining the server's log so it never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let keep = log.clone();
        std::thread::spawn(move || {
            // Shown with --nocapture when UPSPOOL_TEST_SERVER_LOG is set.
            let show = std::env::var_os("UPSPOOL_TEST_SERVER_LOG").is_some();
            let mut line = String::new();
            while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                if show {
                    eprint!("server: {line}");
                }
                if let Ok(mut all) = keep.lock() {
                    all.push_str(&line);
                }
                line.clear();
            }
        });
        Server { child, addr, log }
    }

    /// The environment variables given to the binary.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Sends one request through the mode's transport.
    pub fn send(&self, req: &Req) -> Resp {
        match self.mode {
            Mode::Cgi => self.send_cgi(req),
            Mode::FastCgi => self.send_fastcgi(req),
            Mode::Http => self.send_http(req),
        }
    }

    /// The CGI process for `req`, started with its body still to be written.
    pub fn cgi_command(&self, req: &Req) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .current_dir(self.outside.path());
        for (k, v) in meta_variables(req) {
            cmd.env(k, OsStr::from_bytes(&v));
        }
        cmd
    }

    fn send_cgi(&self, req: &Req) -> Resp {
        self.send_cgi_logged(req).0
    }

    /// A CGI request, with what the process wrote to its log (stderr).
    pub fn send_cgi_logged(&self, req: &Req) -> (Resp, String) {
        let out = self.run_cgi(req, req.body.clone(), usize::MAX, Duration::ZERO);
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "CGI exited with {:?}: {log}",
            out.status
        );
        (parse_cgi(&out.stdout), log)
    }

    /// Runs the CGI process for `req` with `body` on its stdin, written as
    /// [`write_slowly`] does; stdin is closed after it (short when `body`
    /// is).
    fn run_cgi(&self, req: &Req, body: Vec<u8>, chunk: usize, pause: Duration) -> Output {
        let mut child = self
            .cgi_command(req)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run upspool as CGI");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = write_slowly(&mut stdin, &body, chunk, pause, false);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        out
    }

    fn send_fastcgi(&self, req: &Req) -> Resp {
        let addr = self.server.as_ref().expect("FastCGI mode").addr.clone();
        let mut params = fastcgi_client::Params::default();
        for (k, v) in fastcgi_params(req) {
            params.insert(k.into(), v.into());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let body = req.body.clone();
        let out = runtime.block_on(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let client = fastcgi_client::Client::new_tokio(stream);
            client
                .execute_once(fastcgi_client::Request::new_tokio(params, &body[..]))
                .await
        });
        let out = out.expect("a FastCGI answer");
        parse_cgi(&out.stdout.unwrap_or_default())
    }

    pub fn http_addr(&self) -> &str {
        &self.server.as_ref().expect("HTTP mode").addr
    }

    fn send_http(&self, req: &Req) -> Resp {
        http_exchange(self.http_addr(), "/upload", req)
    }

    /// The CGI process for `req`, started with its stdin a pipe to write the
    /// body to and its output thrown away.
    pub fn spawn_cgi(&self, req: &Req) -> Child {
        self.cgi_command(req)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run upspool as CGI")
    }

    /// Starts the CGI process for `req`, writes the first `cut` bytes of its
    /// body, waits `pause`, and kills it with SIGKILL.
    pub fn kill_cgi_mid_body(&self, req: &Req, cut: usize, pause: Duration) {
        let mut child = self.spawn_cgi(req);
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(&req.body[..cut.min(req.body.len())]);
        let _ = stdin.flush();
        std::thread::sleep(pause);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends `req` through the mode's transport with its body written `chunk`
    /// bytes at a time, `pause` between the writes, ending as `ending` says.
    /// Returns the answer when there is one to read: always for
    /// [`Ending::Whole`]; for a cut body only what CGI wrote after its short
    /// stdin, or what FastCGI answered to `ABORT_REQUEST` (`None` when the
    /// transport was closed or nothing was written).
    pub fn stream(&self, req: &Req, chunk: usize, pause: Duration, ending: Ending) -> Option<Resp> {
        match self.mode {
            Mode::Cgi => {
                let out = self.run_cgi(req, ending.body(req).to_vec(), chunk, pause);
                if ending == Ending::Whole {
                    assert!(
                        out.status.success(),
                        "CGI exited with {:?}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                (!out.stdout.is_empty()).then(|| parse_cgi(&out.stdout))
            }
            Mode::FastCgi => {
                let addr = &self.server.as_ref().expect("FastCGI mode").addr;
                fastcgi_stream(addr, req, chunk, pause, ending)
            }
            Mode::Http => http_stream(self.http_addr(), "/upload", req, chunk, pause, ending),
        }
    }

    /// `upspool info ID`: the record, or `None` when it exits 1.
    pub fn info(&self, id: &str) -> Option<Value> {
        let out = self.admin(&["info", id]);
        match out.status.code() {
            Some(0) => Some(serde_json::from_slice(&out.stdout).expect("info prints JSON")),
            Some(1) => None,
            other => panic!(
                "info exited with {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Runs an admin command with the sandbox's configuration.
    pub fn admin(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.outside.path())
            .output()
            .unwrap()
    }

    /// `GET ?restore=ID`.
    pub fn restore(&self, id: &str) -> Resp {
        self.send(&Req::new("GET").query(&format!("restore={}", enc(id))))
    }

    /// `upspool claim ID` into the outside directory: the claimed bytes
    /// (the file is removed again).
    pub fn claim(&self, id: &str) -> Vec<u8> {
        let dest = self.outside.path().join(format!("{id}.claimed"));
        let out = self.admin(&["claim", id, dest.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "claim {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let claimed = std::fs::read(&dest).unwrap();
        std::fs::remove_file(&dest).unwrap();
        claimed
    }

    /// "Stored" (fine-uploader.md Part D): info says complete and restore returns exactly `data`.
    pub fn assert_stored(&self, id: &str, data: &[u8]) -> Value {
        let info = self.info(id).unwrap_or_else(|| panic!("{id} is absent"));
        assert_eq!(info["complete"], true, "{info}");
        assert_eq!(info["size"], data.len() as u64, "{info}");
        let r = self.restore(id);
        assert_eq!(r.status, 200, "restore {id}: {}", r.text());
        assert_eq!(sha256(&r.body), sha256(data), "restored bytes differ");
        info
    }

    /// "Absent": info exits 1.
    pub fn assert_absent(&self, id: &str) {
        assert!(self.info(id).is_none(), "{id} should be absent");
    }

    /// "Nothing escapes": the sandbox holds nothing but the spool.
    pub fn assert_nothing_escapes(&self) {
        let names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["spool".to_string()],
            "the sandbox holds more than the spool"
        );
    }

    pub fn sandbox_path(&self) -> &Path {
        self.dir.path()
    }

    /// What the long-running server (FastCGI, serve) has logged so far;
    /// empty in CGI mode.
    pub fn server_log(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.log.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

/// One request over a fresh HTTP/1.1 connection to `addr`, for the endpoint
/// at `endpoint`; the body is written while the answer is read.
pub fn http_exchange(addr: &str, endpoint: &str, req: &Req) -> Resp {
    http_stream(
        addr,
        endpoint,
        req,
        usize::MAX,
        Duration::ZERO,
        Ending::Whole,
    )
    .expect("an HTTP answer")
}

/// `req` over a fresh HTTP/1.1 connection to `addr`, for the endpoint at
/// `endpoint`, its body written as [`Sandbox::stream`] says; a cut body ends
/// with the connection closed and no answer read.
pub fn http_stream(
    addr: &str,
    endpoint: &str,
    req: &Req,
    chunk: usize,
    pause: Duration,
    ending: Ending,
) -> Option<Resp> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let head = http_head(addr, endpoint, req);
    let body = ending.body(req).to_vec();
    let mut writer = stream.try_clone().unwrap();
    // Only a deliberately short body ends with a half-close: front servers
    // such as nginx take a half-close as the client going away.
    let truncated = req
        .declared_length
        .is_some_and(|n| n != req.body.len() as u64);
    let sender = std::thread::spawn(move || {
        if writer.write_all(&head).is_err() {
            return;
        }
        let _ = write_slowly(&mut writer, &body, chunk, pause, false);
        if ending != Ending::Whole {
            let _ = writer.shutdown(Shutdown::Both);
        } else if truncated {
            let _ = writer.shutdown(Shutdown::Write);
        }
    });
    if ending != Ending::Whole {
        let _ = sender.join();
        return None;
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let _ = sender.join();
    Some(parse_http(&raw, req.method == "HEAD"))
}

/// The request line and headers of `req` for the endpoint at `endpoint` on
/// `addr` (`Connection: close`; its `Content-Length` as the CGI's).
pub fn http_head(addr: &str, endpoint: &str, req: &Req) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
        req.method,
        request_target(endpoint, req)
    )
    .into_bytes();
    for (name, value) in &req.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    if let Some(length) = content_length(req) {
        head.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// `endpoint`, `req`'s path info and its query (after a `?`, when there is
/// one).
fn request_target(endpoint: &str, req: &Req) -> String {
    format!(
        "{endpoint}{}{}{}",
        req.path_info,
        if req.query.is_empty() { "" } else { "?" },
        req.query
    )
}

/// The length `req` announces, when it announces one: a body, or a method
/// that carries one.
fn content_length(req: &Req) -> Option<u64> {
    let length = req.declared_length.unwrap_or(req.body.len() as u64);
    (length > 0 || matches!(req.method.as_str(), "POST" | "PATCH" | "PUT")).then_some(length)
}

/// The CGI meta-variables a web server would pass for `req`.
/// The CGI meta-variables a web server would pass for `req`.
pub fn meta_variables(req: &Req) -> Vec<(String, Vec<u8>)> {
    let mut vars: Vec<(String, Vec<u8>)> = vec![
        ("SERVER_PROTOCOL".into(), b"HTTP/1.1".to_vec()),
        ("REQUEST_METHOD".into(), req.method.clone().into_bytes()),
        ("SCRIPT_NAME".into(), SCRIPT.as_bytes().to_vec()),
        ("QUERY_STRING".into(), req.query.clone().into_bytes()),
        (
            "REQUEST_URI".into(),
            request_target(SCRIPT, req).into_bytes(),
        ),
    ];
    if !req.path_info.is_empty() {
        vars.push(("PATH_INFO".into(), req.path_info.clone().into_bytes()));
    }
    if let Some(length) = content_length(req) {
        vars.push(("CONTENT_LENGTH".into(), length.to_string().into_bytes()));
    }
    for (name, value) in &req.headers {
        let key = name.to_ascii_uppercase().replace('-', "_");
        let key = if key == "CONTENT_TYPE" {
            key
        } else {
            format!("HTTP_{key}")
        };
        vars.push((key, value.clone()));
    }
    vars
}

/// The CGI meta-variables of `req` as FastCGI params (UTF-8).
pub fn fastcgi_params(req: &Req) -> Vec<(String, String)> {
    meta_variables(req)
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                String::from_utf8(v).expect("FastCGI test params are UTF-8"),
            )
        })
        .collect()
}

/// BEGIN_REQUEST and the params of `req` (request id 1).
pub fn fastcgi_head(req: &Req) -> Vec<u8> {
    let vars = fastcgi_params(req);
    let params: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fcgi::request_head(1, false, &params)
}

/// A connection to a FastCGI server: `host:port` or `unix:/path`.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    /// Connects, with a read timeout of 120 s.
    pub fn connect(addr: &str) -> Conn {
        let conn = match addr.strip_prefix("unix:") {
            Some(path) => Conn::Unix(UnixStream::connect(path).unwrap()),
            None => Conn::Tcp(TcpStream::connect(addr).unwrap()),
        };
        let timeout = Some(Duration::from_secs(120));
        match &conn {
            Conn::Tcp(s) => s.set_read_timeout(timeout).unwrap(),
            Conn::Unix(s) => s.set_read_timeout(timeout).unwrap(),
        }
        conn
    }

    pub fn try_clone(&self) -> Conn {
        match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone().unwrap()),
            Conn::Unix(s) => Conn::Unix(s.try_clone().unwrap()),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.shutdown(how),
            Conn::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.flush(),
            Conn::Unix(s) => s.flush(),
        }
    }
}

/// `req` to the FastCGI server at `addr` (`host:port` or `unix:/path`), its
/// body written as [`Sandbox::stream`] says: a whole body ends with the
/// empty STDIN record, an aborted one with `ABORT_REQUEST` (then the answer
/// to it is read), a cut one with the connection closed (no answer read).
pub fn fastcgi_stream(
    addr: &str,
    req: &Req,
    chunk: usize,
    pause: Duration,
    ending: Ending,
) -> Option<Resp> {
    let mut stream = Conn::connect(addr);
    let head = fastcgi_head(req);
    let body = ending.body(req).to_vec();
    let mut writer = stream.try_clone();
    let sender = std::thread::spawn(move || {
        if writer.write_all(&head).is_err()
            || write_slowly(&mut writer, &body, chunk, pause, true).is_err()
        {
            return;
        }
        let _ = match ending {
            Ending::Whole => writer.write_all(&fcgi::record(fcgi::STDIN, 1, &[])),
            Ending::Abort(_) => writer.write_all(&fcgi::record(fcgi::ABORT, 1, &[])),
            Ending::Cut(_) => writer.shutdown(Shutdown::Both),
        };
    });
    let answer = if matches!(ending, Ending::Cut(_)) {
        None
    } else {
        fcgi::read_answer_opt(&mut stream)
    };
    let _ = sender.join();
    match ending {
        Ending::Whole => Some(parse_cgi(&answer.expect("a FastCGI answer"))),
        _ => answer
            .filter(|out| !out.is_empty())
            .map(|out| parse_cgi(&out)),
    }
}

/// Writes `body` `chunk` bytes at a time with `pause` between the writes
/// (a slow client), in FastCGI STDIN records when `framed`; stops at the
/// first write that fails.
pub fn write_slowly(
    out: &mut impl Write,
    body: &[u8],
    chunk: usize,
    pause: Duration,
    framed: bool,
) -> std::io::Result<()> {
    for (n, piece) in body.chunks(chunk.max(1)).enumerate() {
        if n > 0 {
            std::thread::sleep(pause);
        }
        if framed {
            out.write_all(&fcgi::stdin_data(1, piece))?;
        } else {
            out.write_all(piece)?;
        }
    }
    Ok(())
}

fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    (&raw[..end], &raw[end + 4..])
}

/// A CGI answer (`Status:` line, headers, body) as a response.
pub fn parse_cgi(raw: &[u8]) -> Resp {
    let (head, body) = split_head(raw);
    let text = String::from_utf8_lossy(head);
    let mut status = 200;
    let mut reason = String::from("OK");
    let mut headers = Vec::new();
    for line in text.split("\r\n") {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {line:?}"));
        let value = value.trim().to_owned();
        if name.eq_ignore_ascii_case("status") {
            let (code, r) = value.split_once(' ').unwrap_or((&value, ""));
            status = code.parse().unwrap();
            reason = r.to_owned();
        } else {
            headers.push((name.to_owned(), value));
        }
    }
    Resp {
        status,
        reason,
        headers,
        body: body.to_vec(),
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("a chunk size");
        raw = &raw[eol + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
    out
}

fn parse_http(raw: &[u8], head_request: bool) -> Resp {
    let (head, rest) = split_head(raw);
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    parts.next();
    let status = parts.next().unwrap().parse().unwrap();
    let reason = parts.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .filter(|(n, _)| !n.eq_ignore_ascii_case("connection"))
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if head_request || status == 204 {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        match len {
            Some(n) => rest[..n.min(rest.len())].to_vec(),
            None => rest.to_vec(),
        }
    };
    Resp {
        status,
        reason,
        headers,
        body,
    }
}

/// One test per mode for each named scenario function.
#[macro_export]
macro_rules! in_every_mode {
    ($($name:ident),* $(,)?) => {
        mod cgi {
            $( #[test] fn $name() { super::$name($crate::common::Mode::Cgi) } )*
        }
        mod fastcgi {
            $( #[test] fn $name() { super::$name($crate::common::Mode::FastCgi) } )*
        }
        mod http {
            $( #[test] fn $name() { super::$name($crate::common::Mode::Http) } )*
        }
    };
}

/// A loopback HTTP server standing in for a remote host (FilePond fetch).
/// Each route maps a path (with query) to (status, extra headers, body); it
/// counts the requests it receives.
pub struct RemoteServer {
    pub addr: std::net::SocketAddr,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

pub type Route = (&'static str, u16, Vec<(&'static str, String)>, Vec<u8>);

impl RemoteServer {
    pub fn start(ip: &str, routes: Vec<Route>) -> RemoteServer {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a loopback address");
        let addr = listener.local_addr().unwrap();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let (status, headers, body) = match routes.iter().find(|(p, ..)| *p == path) {
                    Some((_, s, h, b)) => (*s, h.clone(), b.clone()),
                    None => (404, vec![], b"not here".to_vec()),
                };
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        RemoteServer { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Sends a signal (`-TERM`, `-HUP`, …) to a process with kill(1).
pub fn signal(pid: u32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Sends SIGTERM to a server while upload `id` is still streaming in, and
/// checks that nothing of it is visible yet.
pub fn sigterm_mid_upload(server: &Server, sb: &Sandbox, id: &str) {
    std::thread::sleep(Duration::from_millis(200));
    signal(server.child.id(), "-TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        sb.info(id).is_none(),
        "nothing is visible before the upload ends"
    );
}

/// After a graceful stop: the server exited 0, the upload that was in flight
/// is stored byte for byte, and nothing listens any more.
pub fn assert_stopped_with(server: &mut Server, sb: &Sandbox, id: &str, data: &[u8]) {
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    sb.assert_stored(id, data);
    assert!(
        std::net::TcpStream::connect(&server.addr).is_err(),
        "no longer accepting"
    );
}

/// A preflight answer that allows `origin` with credentials, every one of
/// `methods`, and every header named in `asked` (comma-separated), exactly.
pub fn assert_preflight_allows(r: &Resp, origin: &str, methods: &[&str], asked: &str) {
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let allowed_methods = r.header("access-control-allow-methods").unwrap();
    for method in methods {
        assert!(allowed_methods.contains(method), "{allowed_methods}");
    }
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in asked.split(',') {
        let h = h.trim().to_ascii_lowercase();
        assert!(allowed.split(", ").any(|a| a == h), "{h} in {allowed}");
    }
}

/// A server-made id: 32 lowercase hex digits (FilePond, tus).
pub fn assert_hex_id(id: &str) {
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id:?}"
    );
}
