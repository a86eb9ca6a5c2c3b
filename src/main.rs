//! `upspool`: mode detection and the command line. Everything else lives in
//! the library; see `lib.rs`.

#![no_main]

use std::ffi::{c_char, c_int};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use upspool::config::{Config, DefaultSpool};
use upspool::gateway::listen::{self, Listener};
use upspool::gateway::{cgi, fastcgi, http};
use upspool::message::Service;
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
  upspool token [--sub S] [--ttl 1h] [--max-size N] [--allowed-extensions a,b]
                [--allowed-types image/*,application/pdf]
                              print an upload token signed with auth_secret
  upspool --help | --version

Run as a CGI program (GATEWAY_INTERFACE=CGI/1.1) it answers one request;
started with no arguments on a listening socket (fd 0 or LISTEN_FDS), it is a
FastCGI application.
Configuration: UPSPOOL_CONFIG (TOML file), else upspool.toml beside the
executable; UPSPOOL_* environment variables override it. See the README.
";

/// Exit statuses.
const SUCCESS: u8 = 0;
const FAILED: u8 = 1;
const USAGE_ERROR: u8 = 2;
/// As std's runtime exits after a panic in `main`.
const PANICKED: u8 = 101;

/// How long requests in flight may take to finish after SIGTERM.
const GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// The process entry point, in place of std's (`#![no_main]`): as a CGI
/// program every request is a new process, and std's start-up would cost a
/// tenth of it. `sys::prepare` does the part of that start-up upspool
/// relies on; see `sys` for what is skipped and why. The command line comes
/// from `argc`/`argv` here, not `std::env::args()`, which only glibc fills
/// for a program without std's `main`.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    upspool::sys::prepare();
    // SAFETY: the C runtime passes `main` `argc` valid NUL-terminated strings.
    #[allow(unsafe_code)]
    let args = unsafe { upspool::sys::args(argc, argv) };
    let status = std::panic::catch_unwind(|| run(args)).unwrap_or(PANICKED);
    // std's runtime flushes stdout at exit; without it, do it here.
    let _ = io::stdout().flush();
    c_int::from(status)
}

fn run(args: Vec<std::ffi::OsString>) -> u8 {
    // Mode detection reads the process environment only.
    if std::env::var("GATEWAY_INTERFACE").is_ok_and(|g| g.starts_with("CGI/")) {
        return run_cgi();
    }
    let args: Vec<String> = match args
        .into_iter()
        .skip(1)
        .map(std::ffi::OsString::into_string)
        .collect()
    {
        Ok(a) => a,
        Err(bad) => {
            eprintln!("upspool: an argument is not valid UTF-8: {bad:?}");
            return USAGE_ERROR;
        }
    };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["--help" | "-h" | "help"] => {
            print!("{USAGE}");
            SUCCESS
        }
        ["--version" | "-V"] => {
            println!("upspool {}", env!("CARGO_PKG_VERSION"));
            SUCCESS
        }
        ["serve", rest @ ..] => run_serve(rest),
        ["fastcgi", rest @ ..] => run_fastcgi(rest),
        [] if std::env::var_os("LISTEN_FDS").is_some() || Listener::from_stdin().is_some() => {
            run_fastcgi(&[])
        }
        ["info", id] => admin_command(|c| admin::info(c, id)),
        ["claim", id, dest] => admin_command(|c| admin::claim(c, id, Path::new(dest))),
        ["gc"] => admin_command(admin::gc),
        ["token", rest @ ..] => admin_command(|c| admin::token(c, rest)),
        _ => {
            eprint!("{USAGE}");
            USAGE_ERROR
        }
    }
}

fn load_config(default: DefaultSpool) -> Result<Config, u8> {
    Config::load(default).map_err(|e| {
        log::error(format_args!("configuration: {e}"));
        USAGE_ERROR
    })
}

fn admin_command(run: impl FnOnce(&Config) -> Result<String, admin::Failed>) -> u8 {
    let config = match load_config(DefaultSpool::WorkingDir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(&config) {
        Ok(json) => {
            println!("{json}");
            SUCCESS
        }
        Err(admin::Failed(message)) => {
            eprintln!("upspool: {message}");
            FAILED
        }
    }
}

fn run_cgi() -> u8 {
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
            r.status = upspool::message::StatusCode::INTERNAL_SERVER_ERROR;
            (r, None)
        }
        Ok(handler) => match cgi::request(&env, io::stdin()) {
            Ok(request) => (upspool::gateway::respond(&handler, request), Some(handler)),
            Err(refused) => {
                log::warn(format_args!("cgi: {refused}"));
                (cgi::bad_request(&refused.to_string()), Some(handler))
            }
        },
    };
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    if let Err(e) = cgi::write_response(&mut out, response, head).and_then(|()| out.flush()) {
        log::warn(format_args!("cgi: could not write the response: {e}"));
    }
    drop(out);
    if let Some(handler) = handler {
        handler.after_response();
    }
    SUCCESS
}

/// `--flag value` pairs of a subcommand, checked against the allowed flags.
fn flags<'a>(
    args: &[&'a str],
    allowed: &[&str],
) -> Result<std::collections::HashMap<String, &'a str>, u8> {
    let mut out = std::collections::HashMap::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match rest.next() {
            Some(value) if allowed.contains(flag) => {
                out.insert(flag.to_string(), *value);
            }
            _ => {
                eprint!("{USAGE}");
                return Err(USAGE_ERROR);
            }
        }
    }
    if let Some(w) = out.get("--workers")
        && !w.parse::<usize>().is_ok_and(|n| n > 0)
    {
        eprintln!("upspool: --workers needs a positive number");
        return Err(USAGE_ERROR);
    }
    Ok(out)
}

/// What SIGHUP runs in `serve` and FastCGI: the handler built afresh from
/// the configuration as it is now.
fn reload(default: DefaultSpool) -> impl Fn() -> Result<Arc<dyn Service>, String> {
    move || {
        Config::load(default)
            .map_err(|e| e.to_string())
            .and_then(|c| Handler::new(c).map_err(|e| e.to_string()))
            .map(|h| Arc::new(h) as Arc<dyn Service>)
    }
}

fn run_serve(args: &[&str]) -> u8 {
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
    let spool_dir = config.spool_dir.clone();
    let open_to_anyone =
        config.auth_secret.is_none() && config.hook_command.is_none() && config.hook_url.is_none();
    let handler = match Handler::new(config) {
        Ok(h) => Arc::new(h) as Arc<dyn Service>,
        Err(e) => {
            log::error(format_args!("{e}"));
            return USAGE_ERROR;
        }
    };
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            log::error(format_args!("cannot listen on {listen}: {e}"));
            return USAGE_ERROR;
        }
    };
    let local = listener.local_addr().ok();
    let addr = local.map(|a| a.to_string()).unwrap_or(listen);
    let _ = writeln!(
        io::stderr(),
        "upspool: serving http://{addr}/ (upload endpoint http://{addr}{}), spool {}",
        http::ENDPOINT,
        spool_dir.display()
    );
    if open_to_anyone && local.is_some_and(|a| !a.ip().is_loopback()) {
        log::warn(format_args!(
            "serving on a non-loopback address without auth_secret or hooks: anyone who \
             can reach it can store files; set auth_secret (see the README, \
             \"Authorization and hooks\")"
        ));
    }
    let demo = demo::Demo::new(
        flags
            .get("--assets")
            .map_or_else(|| "node_modules".into(), std::path::PathBuf::from),
    );
    let site: http::Site = Arc::new(move |path: &str| demo.route(path));
    match http::serve(
        handler,
        listener,
        workers,
        site,
        GRACE,
        reload(DefaultSpool::WorkingDir),
    ) {
        Ok(()) => SUCCESS,
        Err(e) => {
            log::error(format_args!("server stopped: {e}"));
            FAILED
        }
    }
}

fn run_fastcgi(args: &[&str]) -> u8 {
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
            return USAGE_ERROR;
        }
    };
    let listener = match flags.get("--listen") {
        Some(spec) => match Listener::bind(spec) {
            Ok(l) => {
                if let Some(path) = spec.strip_prefix("unix:")
                    && let Err(e) = listen::set_socket_access(
                        Path::new(path),
                        flags.get("--socket-mode").copied(),
                        flags.get("--socket-owner").copied(),
                    )
                {
                    log::error(format_args!("{e}"));
                    return USAGE_ERROR;
                }
                l
            }
            Err(e) => {
                log::error(format_args!("cannot listen on {spec}: {e}"));
                return USAGE_ERROR;
            }
        },
        None => match Listener::from_systemd().or_else(Listener::from_stdin) {
            Some(l) => l,
            None => {
                log::error(format_args!(
                    "no --listen given and no listening socket passed on fd 0 or by systemd"
                ));
                return USAGE_ERROR;
            }
        },
    };
    let handler = match Handler::new(config) {
        Ok(h) => Arc::new(h) as Arc<dyn Service>,
        Err(e) => {
            log::error(format_args!("{e}"));
            return USAGE_ERROR;
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
        grace: GRACE,
    };
    match fastcgi::serve(
        handler,
        listener,
        options,
        reload(DefaultSpool::BesideExecutable),
    ) {
        Ok(()) => SUCCESS,
        Err(e) => {
            log::error(format_args!("FastCGI server stopped: {e}"));
            FAILED
        }
    }
}
