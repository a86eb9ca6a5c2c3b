//! The real widgets in a real Chromium (tests/e2e/browser/widgets.test.mjs for
//! FilePond and Fine Uploader, tests/e2e/browser/uppy.test.mjs for Uppy's tus;
//! run with Node's test runner and playwright-core), through each way of
//! deploying upspool: `upspool serve`, nginx → upspool FastCGI, and nginx →
//! fcgiwrap → upspool CGI. CORS is configured for the test page's origin.
//!
//! Needs Debian's chromium and `npm ci` (CI does both); elsewhere the tests
//! are skipped with a message when either is missing.

#[path = "../common/mod.rs"]
mod common;
mod site;

use std::path::Path;
use std::process::Command;

use site::*;

/// Chromium, Node and the npm packages are there (under CI they must be).
fn browser_ready() -> bool {
    let packages = Path::new(ROOT)
        .join("node_modules/playwright-core")
        .exists()
        && Path::new(ROOT).join("node_modules/filepond").exists()
        && Path::new(ROOT).join("node_modules/fine-uploader").exists()
        && Path::new(ROOT)
            .join("node_modules/uppy/dist/uppy.min.mjs")
            .exists();
    if !packages {
        assert!(
            std::env::var_os("CI").is_none(),
            "node_modules is missing; .ci/run runs npm ci"
        );
        eprintln!("skipped: run `npm ci` for the browser tests");
        return false;
    }
    have("chromium") && have("node")
}

/// Runs the browser scenarios of `script` (in tests/e2e/browser/) against
/// `site` and prints their timings.
fn run_scenarios(site: &Site, mode: &str, page_port: u16, script: &str) {
    let timings = site.path("timings.json");
    let mut cmd = Command::new("node");
    cmd.args([
        "--test",
        "--test-reporter=spec",
        &format!("tests/e2e/browser/{script}"),
    ])
    .current_dir(ROOT)
    .env("UPSPOOL_MODE", mode)
    .env("UPSPOOL_TARGET", &site.addr)
    .env("UPSPOOL_ENDPOINT", &site.endpoint)
    .env("UPSPOOL_SPOOL", &site.spool)
    .env("UPSPOOL_BIN", common::BIN)
    .env("UPSPOOL_PAGE_PORT", page_port.to_string())
    .env("UPSPOOL_OTHER_PORT", free_port().to_string())
    .env("UPSPOOL_TIMINGS", &timings);
    if mode == "serve" && script == WIDGETS {
        cmd.env(
            "UPSPOOL_SCREENSHOT",
            Path::new(ROOT).join("target/demo.png"),
        );
    }
    let status = cmd.status().expect("run node");
    if let Ok(text) = std::fs::read_to_string(&timings) {
        eprintln!("scenario timings ({mode}): {text}");
    }
    assert!(
        status.success(),
        "browser scenarios failed in mode {mode}\n{}",
        site.logs()
    );
}

const WIDGETS: &str = "widgets.test.mjs";
const UPPY: &str = "uppy.test.mjs";

fn new_site(page_port: u16) -> Site {
    let mut site = Site::new();
    site.cors = Some(format!("http://127.0.0.1:{page_port}"));
    site.endpoint = "/upload".into();
    site
}

#[test]
fn widgets_through_upspool_serve() {
    if !browser_ready() {
        return;
    }
    let page_port = free_port();
    let mut site = new_site(page_port);
    site.serve();
    run_scenarios(&site, "serve", page_port, WIDGETS);
}

#[test]
fn widgets_through_nginx_fastcgi() {
    if !browser_ready() || !have("nginx") {
        return;
    }
    let page_port = free_port();
    let mut site = new_site(page_port);
    site.nginx_fastcgi();
    run_scenarios(&site, "nginx-fastcgi", page_port, WIDGETS);
}

#[test]
fn widgets_through_nginx_fcgiwrap_cgi() {
    if !browser_ready() || !have("nginx") || !have("fcgiwrap") {
        return;
    }
    let page_port = free_port();
    let mut site = new_site(page_port);
    site.nginx_fcgiwrap();
    run_scenarios(&site, "nginx-fcgiwrap-cgi", page_port, WIDGETS);
}

#[test]
fn uppy_tus_through_upspool_serve() {
    if !browser_ready() {
        return;
    }
    let page_port = free_port();
    let mut site = new_site(page_port);
    site.serve();
    run_scenarios(&site, "serve", page_port, UPPY);
}

#[test]
fn uppy_tus_through_nginx_fastcgi() {
    if !browser_ready() || !have("nginx") {
        return;
    }
    let page_port = free_port();
    let mut site = new_site(page_port);
    site.nginx_fastcgi();
    run_scenarios(&site, "nginx-fastcgi", page_port, UPPY);
}

#[test]
fn uppy_tus_through_nginx_fcgiwrap_cgi() {
    if !browser_ready() || !have("nginx") || !have("fcgiwrap") {
        return;
    }
    let page_port = free_port();
    let mut site = new_site(page_port);
    site.nginx_fcgiwrap();
    run_scenarios(&site, "nginx-fcgiwrap-cgi", page_port, UPPY);
}
