//! `upspool`: mode detection and the command line. Everything else lives in
//! the library; see `lib.rs`.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use upspool::config::{Config, DefaultSpool};
use upspool::gateway::{cgi, fastcgi, http};
use upspool::protocol::Handler;
use upspool::{admin, demo, log};

const USAGE: &str = "\
upspool: receives Fine Uploader and FilePond uploads into a spool directory.

Usage:
  upspool serve [--listen HOST:PORT] [--workers N] [--assets DIR]
                              HTTP server; endpoint /upload, demo page at /
                              (default 127.0.0.1:8080, spool ./spool; the
                              widgets from DIR, default ./node_modules)
  upspool fastcgi [--listen HOST:PORT | --listen unix:/path.sock] [--workers N]
                  [--socket-mode 0660] [--socket-owner USER[:GROUP]]
                              FastCGI application; without --listen, the socket
                              passed by systemd (LISTEN_FDS) or on fd 0
  upspool info ID             print an upload's record as JSON
  upspool claim ID DEST       move a complete upload to DEST, print its record
  upspool gc                  remove expired incomplete and unclaimed uploads
  upspool --help | --version

Run as a CGI program (GATEWAY_INTERFACE=CGI/1.1) it answers one request;
started with no arguments on a listening socket (fd 0 or LISTEN_FDS), it is a
FastCGI application.
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
        ["fastcgi", rest @ ..] => run_fastcgi(rest),
        [] if std::env::var_os("LISTEN_FDS").is_some()
            || fastcgi::Listener::from_stdin().is_some() =>
        {
            run_fastcgi(&[])
        }
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

/// `--flag value` pairs of a subcommand, checked against the allowed flags.
fn flags<'a>(
    args: &[&'a str],
    allowed: &[&str],
) -> Result<std::collections::HashMap<String, &'a str>, ExitCode> {
    let mut out = std::collections::HashMap::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match rest.next() {
            Some(value) if allowed.contains(flag) => {
                out.insert(flag.to_string(), *value);
            }
            _ => {
                eprint!("{USAGE}");
                return Err(ExitCode::from(2));
            }
        }
    }
    if let Some(w) = out.get("--workers")
        && !w.parse::<usize>().is_ok_and(|n| n > 0)
    {
        eprintln!("upspool: --workers needs a positive number");
        return Err(ExitCode::from(2));
    }
    Ok(out)
}

fn run_serve(args: &[&str]) -> ExitCode {
    let flags = match flags(args, &["--listen", "--workers", "--assets"]) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let listen = flags
        .get("--listen")
        .copied()
        .unwrap_or("127.0.0.1:8080")
        .to_owned();
    let config = match load_config(DefaultSpool::WorkingDir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let workers = flags
        .get("--workers")
        .and_then(|w| w.parse().ok())
        .unwrap_or(if config.workers > 0 {
            config.workers
        } else {
            16
        });
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
    let demo = demo::Demo::new(
        flags
            .get("--assets")
            .map_or_else(|| "node_modules".into(), std::path::PathBuf::from),
    );
    let site: http::Site = Arc::new(move |path: &str| demo.route(path));
    match http::serve(handler, listener, workers, site) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error(format_args!("server stopped: {e}"));
            ExitCode::from(1)
        }
    }
}

fn run_fastcgi(args: &[&str]) -> ExitCode {
    let flags = match flags(
        args,
        &["--listen", "--workers", "--socket-mode", "--socket-owner"],
    ) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let config = match load_config(DefaultSpool::BesideExecutable) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let workers = flags
        .get("--workers")
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| config.worker_count());
    let web_server_addrs = match fastcgi::Options::web_server_addrs_from_env() {
        Ok(a) => a,
        Err(e) => {
            log::error(format_args!("{e}"));
            return ExitCode::from(2);
        }
    };
    let listener = match flags.get("--listen") {
        Some(spec) => match fastcgi::Listener::bind(spec) {
            Ok(l) => {
                if let Some(path) = spec.strip_prefix("unix:")
                    && let Err(e) = fastcgi::set_socket_access(
                        Path::new(path),
                        flags.get("--socket-mode").copied(),
                        flags.get("--socket-owner").copied(),
                    )
                {
                    log::error(format_args!("{e}"));
                    return ExitCode::from(2);
                }
                l
            }
            Err(e) => {
                log::error(format_args!("cannot listen on {spec}: {e}"));
                return ExitCode::from(2);
            }
        },
        None => match fastcgi::Listener::from_systemd().or_else(fastcgi::Listener::from_stdin) {
            Some(l) => l,
            None => {
                log::error(format_args!(
                    "no --listen given and no listening socket passed on fd 0 or by systemd"
                ));
                return ExitCode::from(2);
            }
        },
    };
    let handler = match Handler::new(config) {
        Ok(h) => Arc::new(std::sync::RwLock::new(Arc::new(h))),
        Err(e) => {
            log::error(format_args!("{e}"));
            return ExitCode::from(2);
        }
    };
    let _ = writeln!(
        io::stderr(),
        "upspool: FastCGI on {}, {workers} workers",
        listener.describe()
    );
    let options = fastcgi::Options {
        workers,
        web_server_addrs,
        grace: std::time::Duration::from_secs(30),
    };
    let reload = || {
        Config::load(DefaultSpool::BesideExecutable)
            .map_err(|e| e.to_string())
            .and_then(|c| Handler::new(c).map_err(|e| e.to_string()))
    };
    match fastcgi::serve(handler, listener, options, reload) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error(format_args!("FastCGI server stopped: {e}"));
            ExitCode::from(1)
        }
    }
}
