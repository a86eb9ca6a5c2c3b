//! `upspool`: mode detection and the command line. Everything else lives in
//! the library; see `lib.rs`.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use upspool::config::{Config, DefaultSpool};
use upspool::gateway::{cgi, http};
use upspool::protocol::Handler;
use upspool::{admin, demo, log};

const USAGE: &str = "\
upspool: receives Fine Uploader and FilePond uploads into a spool directory.

Usage:
  upspool serve [--listen HOST:PORT] [--workers N]
                              HTTP server; endpoint /upload, demo page at /
                              (default 127.0.0.1:8080, spool ./spool)
  upspool info ID             print an upload's record as JSON
  upspool claim ID DEST       move a complete upload to DEST, print its record
  upspool gc                  remove expired incomplete and unclaimed uploads
  upspool --help | --version

Run as a CGI program (GATEWAY_INTERFACE=CGI/1.1) it answers one request.
Configuration: UPSPOOL_CONFIG (TOML file), else upspool.toml beside the
executable; UPSPOOL_* environment variables override it. See the README.
";

fn main() -> ExitCode {
    // Mode detection reads the process environment only.
    if std::env::var("GATEWAY_INTERFACE").is_ok_and(|g| g.starts_with("CGI/")) {
        return run_cgi();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["--help" | "-h" | "help"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["--version" | "-V"] => {
            println!("upspool {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["serve", rest @ ..] => run_serve(rest),
        ["info", id] => admin_command(|c| admin::info(c, id)),
        ["claim", id, dest] => admin_command(|c| admin::claim(c, id, Path::new(dest))),
        ["gc"] => admin_command(admin::gc),
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn load_config(default: DefaultSpool) -> Result<Config, ExitCode> {
    Config::load(default).map_err(|e| {
        log::error(format_args!("configuration: {e}"));
        ExitCode::from(2)
    })
}

fn admin_command(run: impl FnOnce(&Config) -> Result<String, admin::Failed>) -> ExitCode {
    let config = match load_config(DefaultSpool::WorkingDir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(&config) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(admin::Failed(message)) => {
            eprintln!("upspool: {message}");
            ExitCode::from(1)
        }
    }
}

fn run_cgi() -> ExitCode {
    let head = std::env::var("REQUEST_METHOD").is_ok_and(|m| m.eq_ignore_ascii_case("HEAD"));
    let handler = Config::load(DefaultSpool::BesideExecutable)
        .map_err(|e| e.to_string())
        .and_then(|c| Handler::new(c).map_err(|e| e.to_string()));
    let env = cgi::Environment::from_process();
    let (response, handler) = match handler {
        Err(message) => {
            // The details (paths, keys) go to the server's log, not to the client.
            log::error(format_args!("cannot start: {message}"));
            let mut r = cgi::bad_request(
                "The upload service is not configured correctly; see the server's error log.",
            );
            r.status = 500;
            (r, None)
        }
        Ok(handler) => match cgi::request(&env, io::stdin()) {
            Ok(request) => (handler.handle(request), Some(handler)),
            Err(cgi::BadRequest(message)) => {
                log::warn(format_args!("cgi: {message}"));
                (cgi::bad_request(&message), Some(handler))
            }
        },
    };
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    if let Err(e) = cgi::write_response(&mut out, response, head).and_then(|()| out.flush()) {
        log::warn(format_args!("cgi: could not write the response: {e}"));
    }
    drop(out);
    if let Some(handler) = handler {
        handler.maybe_sweep();
    }
    ExitCode::SUCCESS
}

fn run_serve(args: &[&str]) -> ExitCode {
    let mut listen = "127.0.0.1:8080".to_owned();
    let mut workers = 16usize;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match (*arg, rest.next()) {
            ("--listen", Some(v)) => listen = v.to_string(),
            ("--workers", Some(v)) => match v.parse() {
                Ok(n) if n > 0 => workers = n,
                _ => {
                    eprintln!("upspool: --workers needs a positive number");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let config = match load_config(DefaultSpool::WorkingDir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let handler = match Handler::new(config) {
        Ok(h) => Arc::new(h),
        Err(e) => {
            log::error(format_args!("{e}"));
            return ExitCode::from(2);
        }
    };
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            log::error(format_args!("cannot listen on {listen}: {e}"));
            return ExitCode::from(2);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(listen);
    let _ = writeln!(
        io::stderr(),
        "upspool: serving http://{addr}/ (upload endpoint http://{addr}{}), spool {}",
        http::ENDPOINT,
        handler.spool.root().display()
    );
    match http::serve(handler, listener, workers, demo::page) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error(format_args!("server stopped: {e}"));
            ExitCode::from(1)
        }
    }
}
