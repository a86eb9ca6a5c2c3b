//! What only the CGI transport has: meta-variables, CONTENT_LENGTH, PATH_INFO
//! missing under nginx's stock parameters, configuration errors at start.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

/// Runs the binary as CGI with exactly these variables and this stdin.
fn raw_cgi(sb: &Sandbox, vars: &[(&str, &str)], stdin: &[u8]) -> (String, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(sb.env().iter().map(|(k, v)| (k, v)))
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .envs(vars.iter().copied());
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_content_length_is_a_clear_400() {
    let sb = Sandbox::new(Mode::Cgi);
    let (out, log) = raw_cgi(
        &sb,
        &[
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_LENGTH", "12abc"),
            ("QUERY_STRING", "qquuid=a&qqfile=a.txt"),
        ],
        b"abc",
    );
    assert!(out.starts_with("Status: 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("CONTENT_LENGTH"), "{out}");
    assert!(log.contains("CONTENT_LENGTH"), "{log}");
}

/// CONTENT_LENGTH must be digits only, as HTTP's Content-Length must be
/// (one rule, `message::parse_content_length`): `+5` is refused, not read
/// as 5, and nothing is stored.
#[test]
fn signed_content_length_is_400() {
    let sb = Sandbox::new(Mode::Cgi);
    for bad in ["+5", "-5", " 5", "5,5"] {
        let (out, _) = raw_cgi(
            &sb,
            &[
                ("REQUEST_METHOD", "POST"),
                ("CONTENT_LENGTH", bad),
                ("CONTENT_TYPE", "application/octet-stream"),
                ("QUERY_STRING", "qquuid=signed&qqfile=a.txt"),
            ],
            b"hello",
        );
        assert!(
            out.starts_with("Status: 400 Bad Request\r\n"),
            "{bad:?}: {out}"
        );
        sb.assert_absent("signed");
    }
}

#[test]
fn missing_method_and_unknown_methods() {
    let sb = Sandbox::new(Mode::Cgi);
    let (out, _) = raw_cgi(&sb, &[], b"");
    assert!(out.starts_with("Status: 400 Bad Request\r\n"), "{out}");
    let (out, _) = raw_cgi(&sb, &[("REQUEST_METHOD", "BREW")], b"");
    assert!(
        out.starts_with("Status: 405 Method Not Allowed\r\n"),
        "{out}"
    );
    assert!(
        out.contains("Allow: GET, HEAD, POST, PATCH, DELETE, OPTIONS"),
        "{out}"
    );
}

/// nginx's stock fastcgi_params send no PATH_INFO: the uuid comes from REQUEST_URI.
#[test]
fn delete_without_path_info_uses_the_request_uri() {
    let sb = Sandbox::new(Mode::Cgi);
    let id = "8f14e45f-ceea-467a-9575-00000000d00d";
    let form = Form::new()
        .field("qquuid", id)
        .field("qqfilename", "a.txt")
        .file("qqfile", "a.txt", "text/plain", b"abc");
    assert_eq!(sb.send(&Req::new("POST").xhr().form(form)).status, 200);
    let uri = format!("{SCRIPT}/{id}?token=1");
    let (out, _) = raw_cgi(
        &sb,
        &[
            ("REQUEST_METHOD", "DELETE"),
            ("SCRIPT_NAME", SCRIPT),
            ("REQUEST_URI", &uri),
            ("QUERY_STRING", "token=1"),
        ],
        b"",
    );
    assert!(out.starts_with("Status: 200 OK\r\n"), "{out}");
    sb.assert_absent(id);
}

/// A truncated body never hangs: the process reads to EOF and answers.
#[test]
fn a_truncated_body_answers_without_hanging() {
    let sb = Sandbox::new(Mode::Cgi);
    let (out, _) = raw_cgi(
        &sb,
        &[
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_LENGTH", "100000"),
            ("CONTENT_TYPE", "application/octet-stream"),
            ("QUERY_STRING", "qquuid=t1&qqfile=t.bin"),
        ],
        &[7u8; 1000],
    );
    assert!(out.starts_with("Status: 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("1000 of the 100000 bytes"), "{out}");
    sb.assert_absent("t1");
}

#[test]
fn an_invalid_configuration_is_a_500_with_the_key_in_the_log() {
    let sb = Sandbox::with_env(Mode::Cgi, &[("UPSPOOL_MAX_SIZE", "lots")]);
    let (out, log) = raw_cgi(
        &sb,
        &[("REQUEST_METHOD", "GET"), ("QUERY_STRING", "restore=abc")],
        b"",
    );
    assert!(
        out.starts_with("Status: 500 Internal Server Error\r\n"),
        "{out}"
    );
    assert!(
        !out.contains("UPSPOOL_MAX_SIZE"),
        "details stay in the log: {out}"
    );
    assert!(
        log.contains("UPSPOOL_MAX_SIZE") && log.contains("lots"),
        "{log}"
    );
}

#[test]
fn the_configuration_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("from-file");
    let file = dir.path().join("upspool.toml");
    std::fs::write(
        &file,
        format!(
            "spool_dir = \"{}\"\nmax_size = 10\nbogus = 1\n",
            spool.display()
        ),
    )
    .unwrap();
    let sb = Sandbox::with_env(Mode::Cgi, &[("UPSPOOL_CONFIG", file.to_str().unwrap())]);
    let (out, log) = raw_cgi(
        &sb,
        &[("REQUEST_METHOD", "GET"), ("QUERY_STRING", "restore=abc")],
        b"",
    );
    assert!(out.starts_with("Status: 500"), "{out}");
    assert!(log.contains("unknown key `bogus`"), "{log}");
    std::fs::write(
        &file,
        format!("spool_dir = \"{}\"\nmax_size = 10\n", spool.display()),
    )
    .unwrap();
    // UPSPOOL_DIR from the sandbox overrides spool_dir; max_size comes from the file.
    let query = "qquuid=c1&qqfile=a.bin";
    let (out, _) = raw_cgi(
        &sb,
        &[
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_LENGTH", "11"),
            ("QUERY_STRING", query),
        ],
        b"0123456789A",
    );
    assert!(out.starts_with("Status: 413"), "{out}");
    assert!(sb.spool.join("complete").exists() && !spool.exists());
}

#[test]
fn serve_refuses_a_bad_configuration_naming_the_key() {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("UPSPOOL_CORS_ORIGINS", "app.example")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UPSPOOL_CORS_ORIGINS"));
}

/// A web server that goes away before the answer (its read end closed) makes
/// the write fail with EPIPE: logged, the process exits normally (not killed
/// by SIGPIPE), and the upload is stored.
#[test]
fn a_web_server_gone_before_the_answer_keeps_the_upload() {
    let sb = Sandbox::new(Mode::Cgi);
    let data = bytes(5000, 4);
    let req = Req::new("POST").xhr().form(
        Form::new()
            .field("qquuid", "gone-server")
            .field("qqfilename", "kept.bin")
            .field("qqtotalfilesize", data.len().to_string())
            .file("qqfile", "kept.bin", "application/octet-stream", &data),
    );
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = sb
        .cgi_command(&req)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run upspool as CGI");
    let _ = child.stdin.take().unwrap().write_all(&req.body);
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{:?}: {log}", out.status);
    assert!(log.contains("could not write the response"), "{log}");
    sb.assert_stored("gone-server", &data);
}
