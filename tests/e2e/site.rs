#![allow(dead_code)]
//! The sandboxed deployments the end-to-end tests start: a spool, real web
//! servers configured from `deploy/` (ports and paths swapped for the
//! sandbox's), upspool behind them, and the uploads both widgets make.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::common::*;

pub const MIB: usize = 1024 * 1024;
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// 64 MiB of test data, made once.
pub fn payload() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| bytes(64 * MIB, 64))
}

/// True if `program` is installed; under CI a missing one is a failure.
pub fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
        || Path::new(&format!("/usr/sbin/{program}")).exists();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed; .ci/run installs it"
        );
        eprintln!("skipped: {program} is not installed (CI installs it)");
    }
    found
}

/// Whether `npm ci` installed each of `paths` (below node_modules); under
/// CI a missing one is a failure, elsewhere `tests` are skipped with a
/// message.
pub fn npm_installed(paths: &[&str], tests: &str) -> bool {
    let node_modules = Path::new(ROOT).join("node_modules");
    if paths.iter().all(|p| node_modules.join(p).exists()) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "node_modules is missing; .ci/run runs npm ci"
    );
    eprintln!("skipped: run `npm ci` for the {tests}");
    false
}

/// How the end-to-end clients reach upspool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// `upspool serve` on a loopback port.
    Serve,
    /// nginx (`deploy/nginx-fastcgi-tcp.conf`) → `upspool fastcgi`.
    NginxFastcgi,
    /// nginx (`deploy/nginx-fcgiwrap.conf`) → fcgiwrap → upspool as CGI.
    NginxFcgiwrap,
}

impl Front {
    /// Its name in reports (the browser scenarios' `UPSPOOL_MODE`).
    pub fn name(self) -> &'static str {
        match self {
            Front::Serve => "serve",
            Front::NginxFastcgi => "nginx-fastcgi",
            Front::NginxFcgiwrap => "nginx-fcgiwrap-cgi",
        }
    }

    /// Whether the web servers it needs are installed (see [`have`]).
    pub fn available(self) -> bool {
        match self {
            Front::Serve => true,
            Front::NginxFastcgi => have("nginx"),
            Front::NginxFcgiwrap => have("nginx") && have("fcgiwrap"),
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for(addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let ok = if let Some(path) = addr.strip_prefix("unix:") {
            std::os::unix::net::UnixStream::connect(path).is_ok()
        } else {
            TcpStream::connect(addr).is_ok()
        };
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A deploy file with its ready-to-copy values replaced by the sandbox's.
pub fn deploy(name: &str, replace: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(Path::new(ROOT).join("deploy").join(name)).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "{name} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    text
}

/// A sandbox with a spool, the servers of one deployment, and its endpoint.
pub struct Site {
    dir: tempfile::TempDir,
    pub spool: PathBuf,
    pub addr: String,
    pub endpoint: String,
    /// `cors_origins` for the upspool processes this site starts.
    pub cors: Option<String>,
    /// `accel_redirect` for them; nginx then also gets the internal
    /// location of `deploy/nginx-accel-redirect.conf`.
    pub accel_redirect: Option<String>,
    children: Vec<Child>,
}

impl Drop for Site {
    fn drop(&mut self) {
        // Signal each server's whole group, so forked workers go too.
        for child in &mut self.children {
            let _ = Command::new("kill")
                .arg("--")
                .arg(format!("-{}", child.id()))
                .status();
        }
        for child in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::Builder::new()
            .prefix("upspool-e2e")
            .tempdir()
            .unwrap();
        // Servers that drop privileges (Apache) must reach the sandbox.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        Site {
            dir,
            spool,
            addr: String::new(),
            endpoint: String::new(),
            cors: None,
            accel_redirect: None,
            children: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn spawn(&mut self, cmd: &mut Command) {
        let log =
            std::fs::File::create(self.path(&format!("log-{}.txt", self.children.len()))).unwrap();
        // A process group of its own: Apache signals its whole group when it stops.
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start a server");
        self.children.push(child);
    }

    /// `upspool fastcgi` on `listen`.
    pub fn fastcgi_backend(&mut self, listen: &str) {
        let spool = self.spool.clone();
        let cors = self.cors.clone().unwrap_or_default();
        let accel = self.accel_redirect.clone().unwrap_or_default();
        self.spawn(
            Command::new(BIN)
                .args(["fastcgi", "--listen", listen, "--workers", "4"])
                .env("UPSPOOL_DIR", spool)
                .env("UPSPOOL_CORS_ORIGINS", cors)
                .env("UPSPOOL_ACCEL_REDIRECT", accel)
                .env("UPSPOOL_GC_PROBABILITY", "0"),
        );
        self.wait_for(listen);
    }

    /// nginx (`deploy/nginx-fastcgi-tcp.conf`) in front of `upspool fastcgi`.
    pub fn nginx_fastcgi(&mut self) {
        let backend = format!("127.0.0.1:{}", free_port());
        self.fastcgi_backend(&backend);
        self.nginx(&deploy(
            "nginx-fastcgi-tcp.conf",
            &[(
                "fastcgi_pass 127.0.0.1:9000",
                &format!("fastcgi_pass {backend}"),
            )],
        ));
    }

    /// nginx (`deploy/nginx-fcgiwrap.conf`) → fcgiwrap → upspool as CGI.
    pub fn nginx_fcgiwrap(&mut self) {
        let bin = self.cgi_bin();
        let socket = self.path("fcgiwrap.sock");
        self.spawn(
            Command::new("fcgiwrap")
                .arg("-c")
                .arg("4")
                .arg("-s")
                .arg(format!("unix:{}", socket.display())),
        );
        self.wait_for(&format!("unix:{}", socket.display()));
        self.nginx(&deploy(
            "nginx-fcgiwrap.conf",
            &[
                (
                    "/usr/lib/cgi-bin/upspool;",
                    &format!("{}/upspool;", bin.display()),
                ),
                (
                    "unix:/run/fcgiwrap.socket",
                    &format!("unix:{}", socket.display()),
                ),
            ],
        ));
    }

    /// upspool behind `front`.
    pub fn deploy_as(&mut self, front: Front) {
        match front {
            Front::Serve => self.serve(),
            Front::NginxFastcgi => self.nginx_fastcgi(),
            Front::NginxFcgiwrap => self.nginx_fcgiwrap(),
        }
    }

    /// The pid of the n-th process this site started.
    pub fn pid(&self, n: usize) -> u32 {
        self.children[n].id()
    }

    /// `upspool serve` on a free loopback port, as the front.
    pub fn serve(&mut self) {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let (spool, cors) = (self.spool.clone(), self.cors.clone().unwrap_or_default());
        self.spawn(
            Command::new(BIN)
                .args(["serve", "--listen", &listen])
                .env("UPSPOOL_DIR", spool)
                .env("UPSPOOL_CORS_ORIGINS", cors)
                .env("UPSPOOL_GC_PROBABILITY", "0")
                .current_dir(ROOT),
        );
        self.wait_for(&listen);
        self.addr = listen;
    }

    /// The binary copied into a cgi-bin with an upspool.toml naming the spool,
    /// the way shared hosting runs it.
    pub fn cgi_bin(&self) -> PathBuf {
        let bin = self.path("cgi-bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(BIN, bin.join("upspool")).unwrap();
        std::fs::set_permissions(bin.join("upspool"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let toml = deploy(
            "upspool.toml",
            &[
                ("/var/spool/upspool", self.spool.to_str().unwrap()),
                ("max_size = \"2G\"", "max_size = \"1G\""),
            ],
        );
        let mut cors = match &self.cors {
            Some(origin) => format!("cors_origins = [\"{origin}\"]\n"),
            None => String::new(),
        };
        if let Some(prefix) = &self.accel_redirect {
            cors += &format!("accel_redirect = \"{prefix}\"\n");
        }
        std::fs::write(
            bin.join("upspool.toml"),
            toml + "gc_probability = 0\n" + &cors,
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    /// Lets an unprivileged server user write the spool.
    pub fn spool_owned_by(&self, user: &str) {
        if std::env::var("USER").is_ok_and(|u| u != "root")
            && !Path::new("/root")
                .metadata()
                .is_ok_and(|m| m.permissions().mode() != 0)
        {
            return;
        }
        let _ = Command::new("chown")
            .args([
                "-R",
                &format!("{user}:{user}"),
                self.spool.to_str().unwrap(),
            ])
            .status();
    }

    pub fn nginx(&mut self, site_conf: &str) {
        let port = free_port();
        std::fs::copy("/etc/nginx/fastcgi_params", self.path("fastcgi_params")).unwrap();
        let mut site_conf = site_conf.to_string();
        if let Some(prefix) = &self.accel_redirect {
            let spool = format!("{}/", self.spool.display());
            site_conf += &deploy(
                "nginx-accel-redirect.conf",
                &[
                    ("location /upspool-files/", &format!("location {prefix}")),
                    ("alias /var/spool/upspool/;", &format!("alias {spool};")),
                ],
            );
        }
        std::fs::write(self.path("site.conf"), site_conf).unwrap();
        let d = self.dir.path().display().to_string();
        let conf = format!(
            "daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;\nerror_log {d}/nginx-error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  fastcgi_temp_path {d}/fastcgi;\n  proxy_temp_path {d}/proxy;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    include {d}/site.conf;\n  }}\n}}\n"
        );
        std::fs::write(self.path("nginx.conf"), conf).unwrap();
        let (p, c) = (self.dir.path().to_owned(), self.path("nginx.conf"));
        self.spawn(Command::new("nginx").arg("-p").arg(p).arg("-c").arg(c));
        self.addr = format!("127.0.0.1:{port}");
        self.wait_for(&self.addr.clone());
    }

    pub fn apache(&mut self, modules: &[&str], site_conf: &str) {
        let port = free_port();
        std::fs::write(self.path("site.conf"), site_conf).unwrap();
        std::fs::create_dir_all(self.path("htdocs")).unwrap();
        std::fs::create_dir_all(self.path("run")).unwrap();
        let d = self.dir.path().display().to_string();
        let mut conf = String::new();
        for m in ["mpm_prefork", "authz_core", "alias"].iter().chain(modules) {
            conf.push_str(&format!(
                "LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"
            ));
        }
        conf.push_str(&format!(
            "ServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/run/httpd.pid\nDefaultRuntimeDir {d}/run\n\
             ErrorLog {d}/apache-error.log\nLogLevel warn\nUser www-data\nGroup www-data\nDocumentRoot {d}/htdocs\n\
             Include {d}/site.conf\n"
        ));
        std::fs::write(self.path("httpd.conf"), conf).unwrap();
        let c = self.path("httpd.conf");
        self.spawn(Command::new("apache2").arg("-f").arg(c).arg("-DFOREGROUND"));
        self.addr = format!("127.0.0.1:{port}");
        self.wait_for(&self.addr.clone());
    }

    pub fn lighttpd(&mut self, site_conf: &str) {
        let port = free_port();
        std::fs::write(self.path("site.conf"), site_conf).unwrap();
        std::fs::create_dir_all(self.path("htdocs")).unwrap();
        let d = self.dir.path().display().to_string();
        let conf = format!(
            "server.document-root = \"{d}/htdocs\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
             server.errorlog = \"{d}/lighttpd-error.log\"\nserver.upload-dirs = ( \"{d}\" )\ninclude \"{d}/site.conf\"\n"
        );
        std::fs::write(self.path("lighttpd.conf"), conf).unwrap();
        let c = self.path("lighttpd.conf");
        self.spawn(Command::new("lighttpd").arg("-D").arg("-f").arg(c));
        self.addr = format!("127.0.0.1:{port}");
        self.wait_for(&self.addr.clone());
    }

    /// Waits for a listener; fails with the servers' logs.
    pub fn wait_for(&self, addr: &str) {
        assert!(wait_for(addr), "nothing listens on {addr}\n{}", self.logs());
    }

    pub fn send(&self, req: &Req) -> Resp {
        http_exchange(&self.addr, &self.endpoint, req)
    }

    /// `upspool claim` into the sandbox; returns the file's bytes.
    pub fn claim(&self, id: &str) -> Vec<u8> {
        let dest = self.path(&format!("claimed-{id}"));
        let out = Command::new(BIN)
            .args(["claim", id, dest.to_str().unwrap()])
            .env("UPSPOOL_DIR", &self.spool)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "claim: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(dest).unwrap()
    }

    /// What the servers logged, for failure messages.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") || name.starts_with("log-") {
                all.push_str(&format!(
                    "--- {name}\n{}\n",
                    std::fs::read_to_string(entry.path()).unwrap_or_default()
                ));
            }
        }
        all
    }

    /// Both widgets' 64 MiB chunked uploads through the endpoint at `endpoint`.
    pub fn upload_both_widgets(&mut self, endpoint: &str) {
        self.endpoint = endpoint.into();
        self.fine_uploader_chunked();
        self.filepond_chunked();
    }

    /// A Fine Uploader upload of 64 MiB in 5 MiB parts, then `?done`, then claim.
    pub fn fine_uploader_chunked(&self) {
        let data = payload();
        let id = "e2e0fa11-0000-4000-8000-000000000064";
        let part = 5 * MIB;
        let parts = data.len().div_ceil(part);
        for i in 0..parts {
            let bytes = &data[i * part..((i + 1) * part).min(data.len())];
            let form = Form::new()
                .field("qqpartindex", i.to_string())
                .field("qqpartbyteoffset", (i * part).to_string())
                .field("qqchunksize", bytes.len().to_string())
                .field("qqtotalparts", parts.to_string())
                .field("qqtotalfilesize", data.len().to_string())
                .field("qquuid", id)
                .field("qqfilename", "big.bin")
                .file("qqfile", "blob", "application/octet-stream", bytes);
            let r = self.send(&Req::new("POST").xhr().form(form));
            assert_eq!(r.status, 200, "part {i}: {}\n{}", r.text(), self.logs());
            assert_eq!(r.json()["success"], true);
        }
        let body = format!(
            "qquuid={id}&qqfilename=big.bin&qqtotalfilesize={}&qqtotalparts={parts}",
            data.len()
        );
        let r = self.send(
            &Req::new("POST")
                .query("done")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let r = self.send(&Req::new("DELETE").path("/e2e-not-there").xhr());
        assert_eq!(
            r.status,
            404,
            "DELETE /<uuid> must reach upspool with its PATH_INFO: {}",
            r.text()
        );
        assert_eq!(r.json()["success"], false, "the 404 must be upspool's");
        assert_eq!(sha256(&self.claim(id)), sha256(data));
    }

    /// A FilePond chunked transfer of 64 MiB in 5 MB chunks, resumed once
    /// through HEAD, then claim.
    pub fn filepond_chunked(&self) {
        let data = payload();
        let chunk = 5_000_000;
        let start = Req::new("POST")
            .header("Upload-Length", data.len().to_string())
            .form(Form::new().field("filepond", "{}"));
        let r = self.send(&start);
        assert_eq!(r.status, 201, "{}\n{}", r.text(), self.logs());
        let id = r.text();
        let mut off = 0;
        while off <= data.len() {
            let end = (off + chunk).min(data.len());
            let r = self.send(
                &Req::new("PATCH")
                    .query(&format!("patch={id}"))
                    .header("Content-Type", "application/offset+octet-stream")
                    .header("Upload-Offset", off.to_string())
                    .header("Upload-Length", data.len().to_string())
                    .header("Upload-Name", "big pond.bin")
                    .body(data[off..end].to_vec()),
            );
            assert_eq!(r.status, 204, "offset {off}: {}", r.text());
            if off == 3 * chunk {
                let h = self.send(&Req::new("HEAD").query(&format!("patch={id}")));
                assert_eq!(
                    h.header("upload-offset"),
                    Some((4 * chunk).to_string().as_str())
                );
            }
            off += chunk;
        }
        assert_eq!(sha256(&self.claim(&id)), sha256(data));
    }
}
