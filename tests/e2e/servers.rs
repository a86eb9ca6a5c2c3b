//! End to end through real web servers, configured from the files in
//! `deploy/` (paths and ports templated to a sandbox and loopback): a Fine
//! Uploader chunked upload and a FilePond chunked upload of 64 MiB each, then
//! `upspool claim`, SHA-256 compared.
//!
//! CI installs nginx, apache2, lighttpd, fcgiwrap and spawn-fcgi (`.ci/run`).
//! Elsewhere a missing server skips its test with a message; under CI it fails.

#[path = "../common/mod.rs"]
mod common;
mod site;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use site::*;

#[test]
fn nginx_fastcgi_tcp() {
    if !have("nginx") {
        return;
    }
    let mut site = Site::new();
    site.nginx_fastcgi();
    site.upload_both_widgets("/upload");
}

#[test]
fn nginx_fastcgi_unix() {
    if !have("nginx") {
        return;
    }
    let mut site = Site::new();
    let socket = format!("unix:{}", site.path("upspool.sock").display());
    site.fastcgi_backend(&socket);
    site.nginx(&deploy(
        "nginx-fastcgi-unix.conf",
        &[("unix:/run/upspool/upspool.sock;", &format!("{socket};"))],
    ));
    site.upload_both_widgets("/upload");
}

/// `accel_redirect` with `deploy/nginx-accel-redirect.conf`, upspool as FastCGI.
#[test]
fn nginx_accel_redirect_fastcgi() {
    if !have("nginx") {
        return;
    }
    let mut site = accel_site();
    let socket = format!("unix:{}", site.path("upspool.sock").display());
    site.fastcgi_backend(&socket);
    // The same location made public at /probe/, to show that nginx itself
    // refuses a symlink planted in the spool after upspool looked.
    let spool = format!("alias {}/;", site.spool.display());
    let probe = deploy(
        "nginx-accel-redirect.conf",
        &[
            ("location /upspool-files/", "location /probe/"),
            ("    internal;\n", ""),
            ("alias /var/spool/upspool/;", &spool),
        ],
    );
    let upload = deploy(
        "nginx-fastcgi-unix.conf",
        &[("unix:/run/upspool/upspool.sock;", &format!("{socket};"))],
    );
    site.nginx(&(upload + &probe));
    restores_through_nginx(&site);

    let secret = site.path("secret.txt");
    std::fs::write(&secret, "outside the spool").unwrap();
    std::os::unix::fs::symlink(&secret, site.spool.join("complete/planted")).unwrap();
    let r = http_exchange(&site.addr, "/probe/complete/planted", &Req::new("GET"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!r.text().contains("outside the spool"));
}

/// The same through fcgiwrap, upspool as CGI.
#[test]
fn nginx_accel_redirect_fcgiwrap_cgi() {
    if !have("nginx") || !have("fcgiwrap") {
        return;
    }
    let mut site = accel_site();
    site.nginx_fcgiwrap();
    restores_through_nginx(&site);
}

const APP: &str = "https://app.example";

fn accel_site() -> Site {
    let mut site = Site::new();
    site.cors = Some(APP.into());
    site.accel_redirect = Some("/upspool-files/".into());
    site.endpoint = "/upload".into();
    site
}

/// Restores whose bytes nginx sends from the spool: the same bytes, headers
/// and refusals as upspool's own answers, plus Range; the internal location
/// is not reachable from outside.
fn restores_through_nginx(site: &Site) {
    let big = &payload()[..16 * MIB + 7];
    for (name, media_type, data, disposition) in [
        (
            "big pond.bin",
            "application/octet-stream",
            big,
            "attachment; filename=\"big pond.bin\"; filename*=UTF-8''big%20pond.bin",
        ),
        (
            "Grüße.txt",
            "text/plain",
            b"hello".as_slice(),
            "inline; filename=\"Gr__e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt",
        ),
    ] {
        let form = Form::new()
            .field("filepond", "{}")
            .file("filepond", name, media_type, data);
        let r = site.send(&Req::new("POST").form(form));
        assert_eq!(r.status, 201, "{}\n{}", r.text(), site.logs());
        let id = r.text();

        let r = site.send(
            &Req::new("GET")
                .query(&format!("restore={id}"))
                .header("Origin", APP),
        );
        assert_eq!(r.status, 200, "{}\n{}", r.text(), site.logs());
        assert_eq!(sha256(&r.body), sha256(data), "{name}");
        assert_eq!(
            r.header("content-length"),
            Some(data.len().to_string().as_str())
        );
        assert_eq!(r.header("x-accel-redirect"), None, "nginx must consume it");
        assert_eq!(r.header("content-type"), Some(media_type));
        assert_eq!(r.header("content-disposition"), Some(disposition));
        let csp = (media_type != "text/plain").then_some("sandbox");
        assert_eq!(r.header("content-security-policy"), csp);
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert!(
            r.header("access-control-expose-headers")
                .is_some_and(|h| h.contains("Content-Disposition")),
            "{:?}",
            r.headers
        );

        let part = site.send(
            &Req::new("GET")
                .query(&format!("restore={id}"))
                .header("Range", "bytes=1-3"),
        );
        assert_eq!(part.status, 206);
        assert_eq!(part.body, data[1..4]);

        let direct = http_exchange(
            &site.addr,
            &format!("/upspool-files/complete/{id}"),
            &Req::new("GET"),
        );
        assert_eq!(
            direct.status, 404,
            "the internal location must not be reachable"
        );

        let r = site.send(&Req::new("DELETE").body(id.clone()));
        assert_eq!(r.status, 204, "revert: {}", r.text());
        let gone = site.send(&Req::new("GET").query(&format!("restore={id}")));
        assert_eq!(gone.status, 404);
        assert!(
            gone.text().contains("no complete upload"),
            "upspool's 404: {}",
            gone.text()
        );
    }
}

#[test]
fn nginx_fcgiwrap_cgi() {
    if !have("nginx") || !have("fcgiwrap") {
        return;
    }
    let mut site = Site::new();
    site.nginx_fcgiwrap();
    site.upload_both_widgets("/upload");
}

#[test]
fn apache_mod_cgi() {
    if !have("apache2") {
        return;
    }
    let mut site = Site::new();
    let bin = site.cgi_bin();
    site.spool_owned_by("www-data");
    let conf = deploy(
        "apache-cgi.conf",
        &[(
            "ScriptAlias /upload /usr/lib/cgi-bin/upspool",
            &format!("ScriptAlias /upload {}/upspool", bin.display()),
        )],
    );
    site.apache(&["cgi"], &conf);
    site.upload_both_widgets("/upload");
}

/// Shared hosting: the binary, `upspool.toml` and `deploy/htaccess` dropped
/// into a `cgi-bin` below the document root; nothing in the server config
/// but `AllowOverride`.
#[test]
fn apache_shared_hosting_htaccess() {
    if !have("apache2") {
        return;
    }
    let mut site = Site::new();
    let bin = site.cgi_bin();
    site.spool_owned_by("www-data");
    let htdocs = site.path("htdocs");
    std::fs::create_dir_all(&htdocs).unwrap();
    std::fs::rename(&bin, htdocs.join("cgi-bin")).unwrap();
    std::fs::write(htdocs.join("cgi-bin/.htaccess"), deploy("htaccess", &[])).unwrap();
    let conf = format!(
        "<Directory {}>\n    AllowOverride All\n    Require all granted\n</Directory>\n",
        htdocs.display()
    );
    site.apache(&["cgi"], &conf);
    site.endpoint = "/cgi-bin/upspool".into();
    let r = site.send(&Req::new("GET").path("/../upspool.toml"));
    assert_ne!(r.status, 200, "the configuration must not be served");
    site.upload_both_widgets("/cgi-bin/upspool");
}

#[test]
fn apache_mod_proxy_fcgi() {
    if !have("apache2") {
        return;
    }
    let mut site = Site::new();
    let backend = format!("127.0.0.1:{}", free_port());
    site.fastcgi_backend(&backend);
    site.apache(
        &["proxy", "proxy_fcgi"],
        &deploy(
            "apache-proxy-fcgi.conf",
            &[("fcgi://127.0.0.1:9000", &format!("fcgi://{backend}"))],
        ),
    );
    site.upload_both_widgets("/upload");
}

#[test]
fn lighttpd_mod_fastcgi() {
    if !have("lighttpd") {
        return;
    }
    let mut site = Site::new();
    let port = free_port();
    site.fastcgi_backend(&format!("127.0.0.1:{port}"));
    site.lighttpd(&deploy(
        "lighttpd-fastcgi.conf",
        &[("\"port\" => 9000", &format!("\"port\" => {port}"))],
    ));
    site.upload_both_widgets("/upload");
}

#[test]
fn lighttpd_mod_cgi() {
    if !have("lighttpd") {
        return;
    }
    let mut site = Site::new();
    let bin = site.cgi_bin();
    site.lighttpd(&deploy(
        "lighttpd-cgi.conf",
        &[("\"/usr/lib/cgi-bin/\"", &format!("\"{}/\"", bin.display()))],
    ));
    site.upload_both_widgets("/cgi-bin/upspool");
}

#[test]
fn spawn_fcgi_socket_activation_behind_nginx() {
    if !have("nginx") || !have("spawn-fcgi") {
        return;
    }
    let mut site = Site::new();
    let port = free_port();
    let spool = format!("UPSPOOL_DIR={}", site.spool.display());
    site.spawn(Command::new("spawn-fcgi").args([
        "-n",
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--",
        "/usr/bin/env",
        &spool,
        BIN,
    ]));
    site.wait_for(&format!("127.0.0.1:{port}"));
    site.nginx(&deploy(
        "nginx-fastcgi-tcp.conf",
        &[(
            "fastcgi_pass 127.0.0.1:9000",
            &format!("fastcgi_pass 127.0.0.1:{port}"),
        )],
    ));
    site.upload_both_widgets("/upload");
}

#[test]
fn systemd_socket_activation_behind_nginx() {
    if !have("nginx") || !have("systemd-socket-activate") {
        return;
    }
    let mut site = Site::new();
    let port = free_port();
    let spool = format!("UPSPOOL_DIR={}", site.spool.display());
    site.spawn(Command::new("systemd-socket-activate").args([
        "-l",
        &format!("127.0.0.1:{port}"),
        "-E",
        &spool,
        BIN,
        "fastcgi",
    ]));
    site.wait_for(&format!("127.0.0.1:{port}"));
    site.nginx(&deploy(
        "nginx-fastcgi-tcp.conf",
        &[(
            "fastcgi_pass 127.0.0.1:9000",
            &format!("fastcgi_pass 127.0.0.1:{port}"),
        )],
    ));
    site.upload_both_widgets("/upload");
}

/// The documented static release build: `ldd` finds no shared library, and it
/// serves a CGI upload.
#[test]
fn static_release_build() {
    if std::env::var_os("CI").is_none() && std::env::var_os("UPSPOOL_TEST_STATIC").is_none() {
        eprintln!("skipped: the static build runs under CI (or with UPSPOOL_TEST_STATIC=1)");
        return;
    }
    let target_dir = Path::new(ROOT).join("target/static");
    // The README's static build: deploy/build-static.
    let out = Command::new(Path::new(ROOT).join("deploy/build-static"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(ROOT)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let bin = target_dir.join("x86_64-unknown-linux-gnu/release/upspool");
    // Linked by LLD (Rust's default linker here since 1.90), the script applies
    // the function order of deploy/cgi-hot-functions.txt.
    let comment = Command::new("readelf")
        .args(["-p", ".comment"])
        .arg(&bin)
        .output()
        .unwrap();
    if String::from_utf8_lossy(&comment.stdout).contains("Linker: LLD") {
        assert!(log.contains("functions placed together"), "{log}");
    }
    let ldd = Command::new("ldd").arg(&bin).output().unwrap();
    let text =
        String::from_utf8_lossy(&ldd.stdout).into_owned() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(
        text.contains("not a dynamic executable") || text.contains("statically linked"),
        "ldd says: {text}"
    );
    eprintln!(
        "static binary: {} bytes",
        std::fs::metadata(&bin).unwrap().len()
    );
    let spool = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .env_clear()
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", "qquuid=static-1&qqfile=s.txt")
        .env("CONTENT_TYPE", "application/octet-stream")
        .env("CONTENT_LENGTH", "6")
        .env("UPSPOOL_DIR", spool.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"static").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Status: 200 OK"));
    assert_eq!(
        std::fs::read(spool.path().join("complete/static-1")).unwrap(),
        b"static"
    );
}
