//! Runs every cargo-fuzz target for a few seconds so none can rot (the long
//! runs are done by hand: fuzz/README.md). Runs under CI, or with
//! UPSPOOL_FUZZ_SMOKE=1; needs cargo-fuzz (`.ci/run` installs it).

use std::process::Command;

const TARGETS: &[&str] = &[
    "multipart",
    "fastcgi_records",
    "fastcgi_connection",
    "cgi_request",
    "handler",
    "names",
    "http_request",
];

#[test]
fn every_fuzz_target_runs() {
    if std::env::var_os("CI").is_none() && std::env::var_os("UPSPOOL_FUZZ_SMOKE").is_none() {
        eprintln!("skipped: the fuzz smoke run happens under CI (or with UPSPOOL_FUZZ_SMOKE=1)");
        return;
    }
    let fuzz = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");
    for target in TARGETS {
        let work = tempfile::tempdir().unwrap();
        let out = Command::new("cargo")
            .args(["fuzz", "run", "-O", target])
            .arg(work.path())
            .arg(format!("corpus/{target}"))
            .args(["--", "-max_total_time=15"])
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(fuzz)
            .output()
            .expect("run cargo fuzz (install it with `cargo install cargo-fuzz`)");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "fuzz target {target} failed:\n{}",
            &log[log.len().saturating_sub(4000)..]
        );
        let runs = log
            .lines()
            .rev()
            .find(|l| l.contains("Done ") && l.contains("runs"))
            .unwrap_or("")
            .to_owned();
        eprintln!("fuzz {target}: {runs}");
    }
}
