//! Runs `bench/run --smoke` so that no benchmark can rot: each one runs for a
//! few seconds and must complete (its own assertions check status codes and
//! SHA-256). Runs under CI, or with UPSPOOL_BENCH_SMOKE=1.

use std::process::Command;

#[test]
fn every_benchmark_runs() {
    if std::env::var_os("CI").is_none() && std::env::var_os("UPSPOOL_BENCH_SMOKE").is_none() {
        eprintln!(
            "skipped: the benchmark smoke run happens under CI (or with UPSPOOL_BENCH_SMOKE=1)"
        );
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg("bench/run")
        .arg("--smoke")
        .current_dir(root)
        .output()
        .expect("run bench/run");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench/run --smoke failed:\n{text}");
    for table in ["== cgi", "== small", "== large", "== scale", "== tus"] {
        assert!(text.contains(table), "{table} missing:\n{text}");
    }
}
