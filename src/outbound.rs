//! The outbound HTTP client behind FilePond's `?fetch=` (filepond.md §8.1):
//! an allow-list checked on the very addresses connected to, redirects
//! followed by hand and checked hop by hop, no proxy from the environment,
//! timeouts. It knows nothing of FilePond or the spool.

use crate::allow::AllowList;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Most redirects followed.
const MAX_HOPS: usize = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a fetch failed.
#[derive(Debug)]
pub enum FetchError {
    /// Not an absolute http(s) URL without user info.
    BadUrl(String),
    /// An address or hop the allow-list does not allow.
    Refused(String),
    /// More than the allowed number of redirects, or a broken redirect.
    Redirects(String),
    /// The remote answered with a non-2xx status.
    Status(u16),
    /// The connect or total timeout passed.
    Timeout,
    /// Connection or protocol failure.
    Network(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::BadUrl(m)
            | FetchError::Refused(m)
            | FetchError::Redirects(m)
            | FetchError::Network(m) => f.write_str(m),
            FetchError::Status(s) => write!(f, "the remote server answered {s}"),
            FetchError::Timeout => f.write_str("the remote server did not answer in time"),
        }
    }
}

/// A remote response whose status is 2xx.
pub struct Remote {
    /// The URL after redirects.
    pub url: url::Url,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub content_length: Option<u64>,
    pub body: Box<dyn Read + Send>,
}

/// Checks a URL's form: absolute http(s), no user info.
pub fn parse_url(text: &str) -> Result<url::Url, FetchError> {
    let url = url::Url::parse(text)
        .map_err(|_| FetchError::BadUrl(format!("{text:?} is not an absolute URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadUrl(format!(
            "only http and https URLs can be fetched, not {}:",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::BadUrl(
            "URLs with user names or passwords are not fetched".into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FetchError::BadUrl("the URL has no host".into()));
    }
    Ok(url)
}

/// GETs `url`, following up to five redirects, every connection checked
/// against `allow`.
pub fn get(allow: &AllowList, url: url::Url) -> Result<Remote, FetchError> {
    let refused = Arc::new(Mutex::new(None));
    let resolver = CheckedResolver {
        allow: allow.clone(),
        refused: refused.clone(),
    };
    let config = ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(TOTAL_TIMEOUT))
        .user_agent(concat!("upspool/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::with_parts(config, DefaultConnector::new(), resolver);
    let mut url = url;
    for _ in 0..=MAX_HOPS {
        let response = agent.get(url.as_str()).call().map_err(|e| {
            if let Some(why) = refused.lock().ok().and_then(|mut r| r.take()) {
                return FetchError::Refused(why);
            }
            match e {
                ureq::Error::Timeout(_) => FetchError::Timeout,
                other => {
                    FetchError::Network(format!("the remote server could not be reached: {other}"))
                }
            }
        })?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    FetchError::Redirects(format!("a {status} redirect without Location"))
                })?;
            let next = url
                .join(location)
                .map_err(|_| FetchError::Redirects("a redirect to an invalid URL".into()))?;
            url = parse_url(next.as_str())?;
            continue;
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let content_disposition = header("content-disposition");
        let content_length = header("content-length").and_then(|v| v.trim().parse().ok());
        let body = Box::new(
            response
                .into_body()
                .into_with_config()
                .limit(u64::MAX)
                .reader(),
        );
        return Ok(Remote {
            url,
            content_type,
            content_disposition,
            content_length,
            body,
        });
    }
    Err(FetchError::Redirects(format!(
        "more than {MAX_HOPS} redirects"
    )))
}

/// Resolves as usual, then keeps only the addresses the allow-list allows:
/// the check applies to the address actually connected to, on every hop.
#[derive(Debug)]
struct CheckedResolver {
    allow: AllowList,
    refused: Arc<Mutex<Option<String>>>,
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or("").to_owned();
        let all = DefaultResolver::default().resolve(uri, config, timeout)?;
        let mut kept = self.empty();
        for addr in all.iter() {
            if self.allow.allows(&host, *addr) {
                kept.push(*addr);
            }
        }
        if kept.is_empty() {
            if let Ok(mut r) = self.refused.lock() {
                *r = Some(format!(
                    "fetching from {host} is not allowed on this server"
                ));
            }
            return Err(ureq::Error::HostNotFound);
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn sa(s: &str) -> std::net::SocketAddr {
        s.parse().unwrap()
    }

    /// The addresses the connection uses are the ones checked: the resolver
    /// returns only allowed addresses, so an answer that changes between a
    /// check and the connect (DNS rebinding) has no window to slip through.
    #[test]
    fn the_resolver_returns_only_checked_addresses() {
        let config = ureq::Agent::config_builder().build();
        let resolve = |entries: &[&str], url: &str| {
            let refused = Arc::new(Mutex::new(None));
            let resolver = CheckedResolver {
                allow: allow(entries),
                refused: refused.clone(),
            };
            let uri: ureq::http::Uri = url.parse().unwrap();
            let got = resolver
                .resolve(&uri, &config, NextTimeout::default())
                .map(|a| a.iter().copied().collect::<Vec<_>>());
            (got, refused.lock().unwrap().clone())
        };
        let (got, refused) = resolve(&["public"], "http://localhost:8080/x");
        assert!(
            got.is_err() && refused.is_some(),
            "localhost passed the `public` rule: {got:?}"
        );
        let (got, _) = resolve(&["127.0.0.1"], "http://localhost:8080/x");
        assert_eq!(
            got.unwrap(),
            vec![sa("127.0.0.1:8080")],
            "only the allowed address of localhost is kept"
        );
    }

    #[test]
    fn bad_urls() {
        for u in [
            "file:///etc/passwd",
            "ftp://127.0.0.1/x",
            "gopher://x/",
            "http://user:pw@127.0.0.1/",
            "not a url",
            "",
        ] {
            assert!(matches!(parse_url(u), Err(FetchError::BadUrl(_))), "{u}");
        }
    }
}
