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
    npm_installed(
        &[
            "playwright-core",
            "filepond",
            "fine-uploader",
            "uppy/dist/uppy.min.mjs",
        ],
        "browser tests",
    ) && have("chromium")
        && have("node")
}

/// Runs the browser scenarios of `script` (in tests/e2e/browser/) through
/// `front` and prints their timings; skipped when the browser or the
/// front's servers are missing.
fn run_scenarios(front: Front, script: &str) {
    if !browser_ready() || !front.available() {
        return;
    }
    let page_port = free_port();
    let mut site = Site::new();
    site.cors = Some(format!("http://127.0.0.1:{page_port}"));
    site.endpoint = "/upload".into();
    site.deploy_as(front);
    let mode = front.name();
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
    if front == Front::Serve && script == WIDGETS {
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

#[test]
fn widgets_through_upspool_serve() {
    run_scenarios(Front::Serve, WIDGETS);
}

#[test]
fn widgets_through_nginx_fastcgi() {
    run_scenarios(Front::NginxFastcgi, WIDGETS);
}

#[test]
fn widgets_through_nginx_fcgiwrap_cgi() {
    run_scenarios(Front::NginxFcgiwrap, WIDGETS);
}

#[test]
fn uppy_tus_through_upspool_serve() {
    run_scenarios(Front::Serve, UPPY);
}

#[test]
fn uppy_tus_through_nginx_fastcgi() {
    run_scenarios(Front::NginxFastcgi, UPPY);
}

#[test]
fn uppy_tus_through_nginx_fcgiwrap_cgi() {
    run_scenarios(Front::NginxFcgiwrap, UPPY);
}
