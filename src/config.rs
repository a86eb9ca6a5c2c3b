//! Configuration: a TOML file, overridden by `UPSPOOL_*` environment variables.
//!
//! The file is `$UPSPOOL_CONFIG`, else `upspool.toml` beside the executable
//! (the only channel that survives suEXEC on shared hosting). Nothing is ever
//! read from `HTTP_*` variables or FastCGI params: a client controls those.
//! Loading is one small file read, cheap enough for every CGI start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every setting, with its TOML key, environment name and default.
#[derive(Debug, Clone)]
pub struct Config {
    /// `spool_dir` / `UPSPOOL_DIR`.
    pub spool_dir: PathBuf,
    /// `max_size` / `UPSPOOL_MAX_SIZE`: largest accepted file, bytes.
    pub max_size: u64,
    /// `allowed_extensions` / `UPSPOOL_ALLOWED_EXTENSIONS`: lowercase, no dots; empty = all.
    pub allowed_extensions: Vec<String>,
    /// `cors_origins` / `UPSPOOL_CORS_ORIGINS`.
    pub cors_origins: Origins,
    /// `filepond_field` / `UPSPOOL_FILEPOND_FIELD`.
    pub filepond_fields: Vec<String>,
    /// `load_dir` / `UPSPOOL_LOAD_DIR`.
    pub load_dir: Option<PathBuf>,
    /// `fetch_allow` / `UPSPOOL_FETCH_ALLOW`.
    pub fetch_allow: crate::allow::AllowList,
    /// `expire_incomplete` / `UPSPOOL_EXPIRE_INCOMPLETE`: age since the last part.
    pub expire_incomplete: Duration,
    /// `expire_complete` / `UPSPOOL_EXPIRE_COMPLETE`: age of an unclaimed complete upload.
    pub expire_complete: Duration,
    /// `gc_probability` / `UPSPOOL_GC_PROBABILITY`: share of requests that sweep a little.
    pub gc_probability: f64,
    /// `lock_timeout` / `UPSPOOL_LOCK_TIMEOUT`: longest wait for an upload's lock.
    pub lock_timeout: Duration,
    /// `workers` / `UPSPOOL_WORKERS`: FastCGI and HTTP worker threads; 0 = from the core count.
    pub workers: usize,
    /// `accel_redirect` / `UPSPOOL_ACCEL_REDIRECT`: the URI prefix of an nginx
    /// `internal` location aliasing the spool directory. When set, restores
    /// answer with `X-Accel-Redirect` and nginx sends the file itself.
    pub accel_redirect: Option<String>,
    /// `auth_secret` / `UPSPOOL_AUTH_SECRET`: the HS256 secret of upload
    /// tokens (its UTF-8 bytes); set = every request but a preflight needs one.
    pub auth_secret: Option<String>,
    /// `hook_command` / `UPSPOOL_HOOK_COMMAND`: an executable run per event.
    pub hook_command: Option<PathBuf>,
    /// `hook_url` / `UPSPOOL_HOOK_URL`: a URL POSTed per event.
    pub hook_url: Option<url::Url>,
    /// `hook_events` / `UPSPOOL_HOOK_EVENTS`: which events go to the hook.
    pub hook_events: Vec<HookEvent>,
    /// `hook_forward_headers` / `UPSPOOL_HOOK_FORWARD_HEADERS`: request
    /// headers copied into events, lowercase.
    pub hook_forward_headers: Vec<String>,
    /// `hook_timeout` / `UPSPOOL_HOOK_TIMEOUT`: longest wait for one hook call.
    pub hook_timeout: Duration,
    /// `hook_fail_open` / `UPSPOOL_HOOK_FAIL_OPEN`: a pre-create hook that
    /// fails (not one that refuses) lets the upload through; default false.
    pub hook_fail_open: bool,
    /// `allowed_types` / `UPSPOOL_ALLOWED_TYPES`: MIME patterns (`image/*`,
    /// `application/pdf`) checked against the content; empty = all.
    pub allowed_types: Vec<String>,
    /// `min_size` / `UPSPOOL_MIN_SIZE`: smallest accepted file, bytes.
    pub min_size: u64,
    /// `metrics_listen` / `UPSPOOL_METRICS_LISTEN`: the Prometheus endpoint's
    /// address (`serve` and FastCGI).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `log_format` / `UPSPOOL_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
}

/// The hook events (issue 16; tusd's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookEvent {
    PreCreate,
    PostFinish,
    PostTerminate,
    PostExpire,
}

impl HookEvent {
    pub const ALL: [HookEvent; 4] = [
        HookEvent::PreCreate,
        HookEvent::PostFinish,
        HookEvent::PostTerminate,
        HookEvent::PostExpire,
    ];

    /// The event's name on the wire and in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            HookEvent::PreCreate => "pre-create",
            HookEvent::PostFinish => "post-finish",
            HookEvent::PostTerminate => "post-terminate",
            HookEvent::PostExpire => "post-expire",
        }
    }

    pub fn parse(name: &str) -> Option<HookEvent> {
        HookEvent::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Which origins may use the endpoint cross-origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    None,
    Any,
    List(Vec<String>),
}

/// Why the configuration cannot be used; names the key and the source.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where the default spool directory is, by mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultSpool {
    /// `./spool` in the working directory (`serve`, admin commands).
    WorkingDir,
    /// `spool` beside the executable (CGI, FastCGI).
    BesideExecutable,
}

/// Keys in the order the README documents them: (TOML key, environment name).
const KEYS: &[(&str, &str)] = &[
    ("spool_dir", "UPSPOOL_DIR"),
    ("max_size", "UPSPOOL_MAX_SIZE"),
    ("allowed_extensions", "UPSPOOL_ALLOWED_EXTENSIONS"),
    ("cors_origins", "UPSPOOL_CORS_ORIGINS"),
    ("filepond_field", "UPSPOOL_FILEPOND_FIELD"),
    ("load_dir", "UPSPOOL_LOAD_DIR"),
    ("fetch_allow", "UPSPOOL_FETCH_ALLOW"),
    ("expire_incomplete", "UPSPOOL_EXPIRE_INCOMPLETE"),
    ("expire_complete", "UPSPOOL_EXPIRE_COMPLETE"),
    ("gc_probability", "UPSPOOL_GC_PROBABILITY"),
    ("lock_timeout", "UPSPOOL_LOCK_TIMEOUT"),
    ("workers", "UPSPOOL_WORKERS"),
    ("accel_redirect", "UPSPOOL_ACCEL_REDIRECT"),
    ("auth_secret", "UPSPOOL_AUTH_SECRET"),
    ("hook_command", "UPSPOOL_HOOK_COMMAND"),
    ("hook_url", "UPSPOOL_HOOK_URL"),
    ("hook_events", "UPSPOOL_HOOK_EVENTS"),
    ("hook_forward_headers", "UPSPOOL_HOOK_FORWARD_HEADERS"),
    ("hook_timeout", "UPSPOOL_HOOK_TIMEOUT"),
    ("hook_fail_open", "UPSPOOL_HOOK_FAIL_OPEN"),
    ("allowed_types", "UPSPOOL_ALLOWED_TYPES"),
    ("min_size", "UPSPOOL_MIN_SIZE"),
    ("metrics_listen", "UPSPOOL_METRICS_LISTEN"),
    ("log_format", "UPSPOOL_LOG_FORMAT"),
];

/// The shortest `auth_secret`: HS256 tokens are public, so a short secret
/// can be guessed offline from any one of them.
pub const MIN_SECRET_BYTES: usize = 32;

/// Default maximum file size: 10 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024 * 1024;

impl Config {
    /// Worker threads to run: the configured number, else twice the cores (at least 4).
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        (2 * cores).max(4)
    }

    /// Loads the file (if any) and applies the process environment.
    pub fn load(default_spool: DefaultSpool) -> Result<Config, ConfigError> {
        // One readlink of /proc/self/exe serves both defaults below.
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_owned));
        let (file, file_dir) = match std::env::var_os("UPSPOOL_CONFIG") {
            Some(path) => {
                let path = PathBuf::from(path);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError(format!(
                        "cannot read the configuration file {}: {e}",
                        path.display()
                    ))
                })?;
                (
                    Some((path.clone(), text)),
                    path.parent().map(Path::to_owned),
                )
            }
            None => {
                let beside = exe_dir.as_ref().map(|d| d.join("upspool.toml"));
                match beside.as_ref().map(|p| (p, std::fs::read_to_string(p))) {
                    Some((p, Ok(text))) => {
                        (Some((p.clone(), text)), p.parent().map(Path::to_owned))
                    }
                    _ => (None, None),
                }
            }
        };
        let env: BTreeMap<String, String> = KEYS
            .iter()
            .filter_map(|(_, name)| std::env::var(name).ok().map(|v| (name.to_string(), v)))
            .collect();
        let default_dir = match default_spool {
            DefaultSpool::WorkingDir => PathBuf::from("spool"),
            DefaultSpool::BesideExecutable => exe_dir
                .map(|d| d.join("spool"))
                .unwrap_or_else(|| PathBuf::from("spool")),
        };
        Config::from_sources(
            file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())),
            file_dir.as_deref(),
            &env,
            default_dir,
        )
    }

    /// Builds a configuration from a file's text and environment values.
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        file_dir: Option<&Path>,
        env: &BTreeMap<String, String>,
        default_spool: PathBuf,
    ) -> Result<Config, ConfigError> {
        let mut values: BTreeMap<&str, (Value, String)> = BTreeMap::new();
        if let Some((path, text)) = file {
            let table: toml::Table = text.parse().map_err(|e| {
                ConfigError(format!(
                    "the configuration file {} is not valid TOML: {e}",
                    path.display()
                ))
            })?;
            for (key, value) in table {
                let Some((k, _)) = KEYS.iter().find(|(k, _)| *k == key) else {
                    let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                    return Err(ConfigError(format!(
                        "unknown key `{key}` in {}; known keys: {}",
                        path.display(),
                        known.join(", ")
                    )));
                };
                values.insert(
                    k,
                    (
                        Value::Toml(value),
                        format!("key `{k}` in {}", path.display()),
                    ),
                );
            }
        }
        for (key, name) in KEYS {
            if let Some(v) = env.get(*name) {
                values.insert(
                    key,
                    (
                        Value::Env(v.clone()),
                        format!("environment variable {name}"),
                    ),
                );
            }
        }
        let get = |key: &str| values.get(key);
        let relative_to_file = |p: PathBuf, from_file: bool| match (from_file, file_dir) {
            (true, Some(dir)) if p.is_relative() => dir.join(p),
            _ => p,
        };
        let path = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
            match get(key) {
                None => Ok(None),
                Some((v, src)) => {
                    let s = v.string(src)?;
                    if s.is_empty() {
                        return Ok(None);
                    }
                    Ok(Some(relative_to_file(
                        PathBuf::from(s),
                        matches!(v, Value::Toml(_)),
                    )))
                }
            }
        };
        let list = |key: &str, default: &[&str]| -> Result<Vec<String>, ConfigError> {
            match get(key) {
                None => Ok(default.iter().map(|s| s.to_string()).collect()),
                Some((v, src)) => v.list(src),
            }
        };
        let duration = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some((v, src)) => v.duration(src),
            }
        };

        let mut allowed_extensions = Vec::new();
        for ext in list("allowed_extensions", &[])? {
            let ext = ext.trim_start_matches('.').to_ascii_lowercase();
            if ext.is_empty() || ext.contains(['/', '\\']) {
                return Err(ConfigError(format!(
                    "allowed_extensions: `{ext}` is not an extension"
                )));
            }
            allowed_extensions.push(ext);
        }
        let origins = list("cors_origins", &[])?;
        let cors_origins = if origins.is_empty() {
            Origins::None
        } else if origins.iter().any(|o| o == "*") {
            Origins::Any
        } else {
            for o in &origins {
                if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                    let src = &get("cors_origins")
                        .map(|(_, s)| s.clone())
                        .unwrap_or_default();
                    return Err(ConfigError(format!(
                        "{src}: `{o}` is not an origin (scheme://host[:port], no path), nor `*`"
                    )));
                }
            }
            Origins::List(origins)
        };
        let gc_probability = match get("gc_probability") {
            None => 0.01,
            Some((v, src)) => {
                let p = v.float(src)?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(ConfigError(format!(
                        "{src}: must be between 0 and 1, not {p}"
                    )));
                }
                p
            }
        };
        let filepond_fields = list("filepond_field", &["filepond"])?;
        if filepond_fields.is_empty() {
            return Err(ConfigError(
                "filepond_field: at least one field name is needed".into(),
            ));
        }
        let src_of = |key: &str| get(key).map(|(_, s)| s.clone()).unwrap_or_default();
        let auth_secret = match get("auth_secret") {
            None => None,
            Some((v, src)) => {
                let s = v.string(src)?;
                if s.is_empty() {
                    None
                } else if s.len() < MIN_SECRET_BYTES {
                    return Err(ConfigError(format!(
                        "{src}: the secret must be at least {MIN_SECRET_BYTES} bytes \
                         (for example the output of `openssl rand -hex 32`)"
                    )));
                } else {
                    Some(s)
                }
            }
        };
        let hook_url = match get("hook_url") {
            None => None,
            Some((v, src)) => {
                let s = v.string(src)?;
                if s.is_empty() {
                    None
                } else {
                    let u = url::Url::parse(&s)
                        .map_err(|e| ConfigError(format!("{src}: `{s}` is not a URL: {e}")))?;
                    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                        return Err(ConfigError(format!(
                            "{src}: `{s}` is not an http:// or https:// URL"
                        )));
                    }
                    Some(u)
                }
            }
        };
        let hook_events = match get("hook_events") {
            None => HookEvent::ALL.to_vec(),
            Some((v, src)) => {
                let mut events = Vec::new();
                for name in v.list(src)? {
                    let e = HookEvent::parse(&name).ok_or_else(|| {
                        ConfigError(format!(
                            "{src}: `{name}` is not an event (pre-create, post-finish, \
                             post-terminate, post-expire)"
                        ))
                    })?;
                    if !events.contains(&e) {
                        events.push(e);
                    }
                }
                events
            }
        };
        let mut hook_forward_headers = Vec::new();
        for name in list("hook_forward_headers", &[])? {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError(format!(
                    "{}: `{name}` is not a header name",
                    src_of("hook_forward_headers")
                )));
            }
            hook_forward_headers.push(name.to_ascii_lowercase());
        }
        let mut allowed_types = Vec::new();
        for t in list("allowed_types", &[])? {
            let t = t.to_ascii_lowercase();
            if !is_type_pattern(&t) {
                return Err(ConfigError(format!(
                    "{}: `{t}` is not a MIME type or pattern (like image/png, image/*)",
                    src_of("allowed_types")
                )));
            }
            allowed_types.push(t);
        }
        let hook_fail_open = match get("hook_fail_open") {
            None => false,
            Some((v, src)) => v.boolean(src)?,
        };
        let metrics_listen = match get("metrics_listen") {
            None => None,
            Some((v, src)) => {
                let s = v.string(src)?;
                if s.is_empty() {
                    None
                } else {
                    Some(s.parse().map_err(|_| {
                        ConfigError(format!(
                            "{src}: `{s}` is not an address like 127.0.0.1:9109"
                        ))
                    })?)
                }
            }
        };
        let log_format = match get("log_format") {
            None => LogFormat::Text,
            Some((v, src)) => match v.string(src)?.as_str() {
                "text" | "" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError(format!(
                        "{src}: `{other}` is not a log format (text, json)"
                    )));
                }
            },
        };
        Ok(Config {
            spool_dir: path("spool_dir")?.unwrap_or(default_spool),
            max_size: match get("max_size") {
                None => DEFAULT_MAX_SIZE,
                Some((v, src)) => v.size(src)?,
            },
            allowed_extensions,
            cors_origins,
            filepond_fields,
            load_dir: path("load_dir")?,
            fetch_allow: crate::allow::AllowList::parse(&list("fetch_allow", &[])?).map_err(
                |e| {
                    let src = get("fetch_allow")
                        .map(|(_, s)| s.clone())
                        .unwrap_or_default();
                    ConfigError(format!("{src}: {e}"))
                },
            )?,
            expire_incomplete: duration("expire_incomplete", Duration::from_secs(8 * 86400))?,
            expire_complete: duration("expire_complete", Duration::from_secs(8 * 86400))?,
            gc_probability,
            lock_timeout: duration("lock_timeout", Duration::from_secs(30))?,
            workers: match get("workers") {
                None => 0,
                Some((v, src)) => {
                    let n = v.size(src)?;
                    if n > 1024 {
                        return Err(ConfigError(format!("{src}: at most 1024 workers, not {n}")));
                    }
                    n as usize
                }
            },
            accel_redirect: match get("accel_redirect") {
                None => None,
                Some((v, src)) => {
                    accel_prefix(&v.string(src)?).map_err(|e| ConfigError(format!("{src}: {e}")))?
                }
            },
            auth_secret,
            hook_command: path("hook_command")?,
            hook_url,
            hook_events,
            hook_forward_headers,
            hook_timeout: duration("hook_timeout", Duration::from_secs(10))?,
            hook_fail_open,
            allowed_types,
            min_size: match get("min_size") {
                None => 0,
                Some((v, src)) => v.size(src)?,
            },
            metrics_listen,
            log_format,
        })
    }
}

/// An `accel_redirect` prefix: empty (off), or an absolute URI path ending in
/// `/` made of plain segments, so that nginx maps it to exactly one location
/// and nothing in it needs escaping.
fn accel_prefix(text: &str) -> Result<Option<String>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let plain = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    match text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
        Some(inner) if inner.split('/').all(plain) => Ok(Some(text.to_string())),
        _ => Err(format!(
            "`{text}` is not a location prefix like `/upspool-files/` (absolute, ending in `/`, \
             letters, digits and `-._~` between the slashes)"
        )),
    }
}

/// `type/subtype` or `type/*`, in the characters of RFC 6838 names.
fn is_type_pattern(t: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match t.split_once('/') {
        Some((ty, sub)) => name(ty) && (sub == "*" || name(sub)),
        None => false,
    }
}

/// A raw setting before it is interpreted.
#[derive(Debug)]
enum Value {
    Toml(toml::Value),
    Env(String),
}

impl Value {
    fn string(&self, src: &str) -> Result<String, ConfigError> {
        match self {
            Value::Env(s) => Ok(s.clone()),
            Value::Toml(toml::Value::String(s)) => Ok(s.clone()),
            Value::Toml(other) => Err(ConfigError(format!(
                "{src}: expected a string, found {}",
                other.type_str()
            ))),
        }
    }

    /// A comma-separated string, or a TOML array of strings.
    fn list(&self, src: &str) -> Result<Vec<String>, ConfigError> {
        let split = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        match self {
            Value::Env(s) | Value::Toml(toml::Value::String(s)) => Ok(split(s)),
            Value::Toml(toml::Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.trim().to_owned()),
                    other => Err(ConfigError(format!(
                        "{src}: expected strings, found {}",
                        other.type_str()
                    ))),
                })
                .collect(),
            Value::Toml(other) => Err(ConfigError(format!(
                "{src}: expected a list, found {}",
                other.type_str()
            ))),
        }
    }

    /// Bytes: an integer, optionally with a K/M/G/T suffix (powers of 1024).
    fn size(&self, src: &str) -> Result<u64, ConfigError> {
        let text = match self {
            Value::Toml(toml::Value::Integer(i)) if *i >= 0 => return Ok(*i as u64),
            _ => self.string(src)?,
        };
        parse_scaled(
            &text,
            &[
                ("k", 1 << 10),
                ("m", 1 << 20),
                ("g", 1 << 30),
                ("t", 1 << 40),
            ],
        )
        .ok_or_else(|| {
            ConfigError(format!(
                "{src}: `{text}` is not a size in bytes (like 1000, 512K, 10G)"
            ))
        })
    }

    /// Seconds: an integer, optionally with an s/m/h/d suffix.
    fn duration(&self, src: &str) -> Result<Duration, ConfigError> {
        let text = match self {
            Value::Toml(toml::Value::Integer(i)) if *i >= 0 => {
                return Ok(Duration::from_secs(*i as u64));
            }
            _ => self.string(src)?,
        };
        parse_scaled(&text, &[("s", 1), ("m", 60), ("h", 3600), ("d", 86400)])
            .map(Duration::from_secs)
            .ok_or_else(|| {
                ConfigError(format!(
                    "{src}: `{text}` is not a duration (like 30, 90s, 12h, 8d)"
                ))
            })
    }

    fn boolean(&self, src: &str) -> Result<bool, ConfigError> {
        match self {
            Value::Toml(toml::Value::Boolean(b)) => Ok(*b),
            _ => match self.string(src)?.trim() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" | "" => Ok(false),
                other => Err(ConfigError(format!(
                    "{src}: `{other}` is not true or false"
                ))),
            },
        }
    }

    fn float(&self, src: &str) -> Result<f64, ConfigError> {
        match self {
            Value::Toml(toml::Value::Float(f)) => Ok(*f),
            Value::Toml(toml::Value::Integer(i)) => Ok(*i as f64),
            _ => {
                let text = self.string(src)?;
                text.trim().parse().map_err(|_| {
                    ConfigError(format!("{src}: `{text}` is not a number between 0 and 1"))
                })
            }
        }
    }
}

/// A size as the configuration writes it (`1000`, `512K`, `10G`), for the
/// command line.
pub fn parse_size(text: &str) -> Option<u64> {
    Value::Env(text.to_owned()).size("").ok()
}

/// A duration as the configuration writes it (`90s`, `12h`, `8d`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    Value::Env(text.to_owned()).duration("").ok()
}

fn parse_scaled(text: &str, units: &[(&str, u64)]) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, factor) = units
        .iter()
        .find_map(|(suffix, f)| t.strip_suffix(suffix).map(|d| (d.to_owned(), *f)))
        .unwrap_or((t.clone(), 1));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(
            file.map(|t| (Path::new("/etc/upspool.toml"), t)),
            Some(Path::new("/etc")),
            &env,
            PathBuf::from("spool"),
        )
    }

    #[test]
    fn defaults() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.spool_dir, PathBuf::from("spool"));
        assert_eq!(c.max_size, DEFAULT_MAX_SIZE);
        assert_eq!(c.cors_origins, Origins::None);
        assert_eq!(c.filepond_fields, vec!["filepond"]);
        assert_eq!(c.expire_incomplete, Duration::from_secs(8 * 86400));
    }

    #[test]
    fn environment_overrides_file_and_paths_are_relative_to_the_file() {
        let file =
            "spool_dir = \"data\"\nmax_size = \"2M\"\nallowed_extensions = [\"TXT\", \".png\"]\n";
        let c = load(Some(file), &[("UPSPOOL_MAX_SIZE", "1000")]).unwrap();
        assert_eq!(c.spool_dir, PathBuf::from("/etc/data"));
        assert_eq!(c.max_size, 1000);
        assert_eq!(c.allowed_extensions, vec!["txt", "png"]);
        let c = load(
            Some(file),
            &[
                ("UPSPOOL_ALLOWED_EXTENSIONS", "a, b"),
                ("UPSPOOL_EXPIRE_INCOMPLETE", "2h"),
            ],
        )
        .unwrap();
        assert_eq!(c.allowed_extensions, vec!["a", "b"]);
        assert_eq!(c.expire_incomplete, Duration::from_secs(7200));
    }

    #[test]
    fn errors_name_the_key() {
        let e = load(Some("max_size = \"lots\""), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("max_size") && e.contains("/etc/upspool.toml"),
            "{e}"
        );
        let e = load(Some("spool = \"x\""), &[]).unwrap_err().to_string();
        assert!(e.contains("unknown key `spool`"), "{e}");
        let e = load(None, &[("UPSPOOL_CORS_ORIGINS", "app.example")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("UPSPOOL_CORS_ORIGINS"), "{e}");
        let e = load(None, &[("UPSPOOL_GC_PROBABILITY", "2")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("UPSPOOL_GC_PROBABILITY"), "{e}");
    }

    #[test]
    fn issue_16_keys() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.auth_secret, None);
        assert_eq!(c.hook_events, HookEvent::ALL.to_vec());
        assert_eq!(c.hook_timeout, Duration::from_secs(10));
        assert!(!c.hook_fail_open);
        let secret = "0123456789abcdef0123456789abcdef";
        let c = load(
            Some("hook_command = \"hooks/on-event\"\nallowed_types = [\"image/*\", \"Application/PDF\"]\n"),
            &[
                ("UPSPOOL_AUTH_SECRET", secret),
                ("UPSPOOL_HOOK_EVENTS", "post-finish, pre-create"),
                ("UPSPOOL_HOOK_URL", "http://127.0.0.1:9/hook"),
                ("UPSPOOL_HOOK_FORWARD_HEADERS", "Cookie, X-Csrf"),
                ("UPSPOOL_HOOK_TIMEOUT", "2s"),
                ("UPSPOOL_METRICS_LISTEN", "127.0.0.1:9109"),
                ("UPSPOOL_LOG_FORMAT", "json"),
                ("UPSPOOL_MIN_SIZE", "1K"),
            ],
        )
        .unwrap();
        assert_eq!(c.auth_secret.as_deref(), Some(secret));
        assert_eq!(c.hook_command, Some(PathBuf::from("/etc/hooks/on-event")));
        assert_eq!(
            c.hook_events,
            vec![HookEvent::PostFinish, HookEvent::PreCreate]
        );
        assert_eq!(c.hook_forward_headers, vec!["cookie", "x-csrf"]);
        assert_eq!(c.allowed_types, vec!["image/*", "application/pdf"]);
        assert_eq!(c.hook_timeout, Duration::from_secs(2));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.min_size, 1024);
        assert!(c.metrics_listen.is_some());
        for (key, bad) in [
            ("UPSPOOL_AUTH_SECRET", "short"),
            ("UPSPOOL_HOOK_URL", "file:///etc/passwd"),
            ("UPSPOOL_HOOK_EVENTS", "post-create"),
            ("UPSPOOL_ALLOWED_TYPES", "png"),
            ("UPSPOOL_LOG_FORMAT", "xml"),
            ("UPSPOOL_METRICS_LISTEN", "localhost"),
        ] {
            let e = load(None, &[(key, bad)]).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn origins() {
        let c = load(None, &[("UPSPOOL_CORS_ORIGINS", "*")]).unwrap();
        assert_eq!(c.cors_origins, Origins::Any);
        let c = load(
            None,
            &[(
                "UPSPOOL_CORS_ORIGINS",
                "https://a.example, http://b.example:8080",
            )],
        )
        .unwrap();
        assert_eq!(
            c.cors_origins,
            Origins::List(vec![
                "https://a.example".into(),
                "http://b.example:8080".into()
            ])
        );
    }

    #[test]
    fn accel_redirect_takes_only_a_plain_location_prefix() {
        assert_eq!(load(None, &[]).unwrap().accel_redirect, None);
        let c = load(Some("accel_redirect = \"/upspool-files/\""), &[]).unwrap();
        assert_eq!(c.accel_redirect.as_deref(), Some("/upspool-files/"));
        let c = load(None, &[("UPSPOOL_ACCEL_REDIRECT", "/internal/spool_1/")]).unwrap();
        assert_eq!(c.accel_redirect.as_deref(), Some("/internal/spool_1/"));
        assert_eq!(
            load(None, &[("UPSPOOL_ACCEL_REDIRECT", "")])
                .unwrap()
                .accel_redirect,
            None
        );
        for bad in [
            "upspool/", "/upspool", "/", "//x/", "/a/../b/", "/a/./", "/a b/", "/a?x/", "/a%2e/",
            "/é/",
        ] {
            let e = load(None, &[("UPSPOOL_ACCEL_REDIRECT", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("UPSPOOL_ACCEL_REDIRECT") && e.contains("location prefix"),
                "{bad}: {e}"
            );
        }
    }
}
