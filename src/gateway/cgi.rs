//! CGI (RFC 3875): one request from the environment and stdin, one response
//! on stdout.
//!
//! The body is read from stdin up to `CONTENT_LENGTH`; a shorter stdin is a
//! truncated request. Without `CONTENT_LENGTH` there is no body, unless the
//! server passes a chunked request through (`HTTP_TRANSFER_ENCODING`), which
//! is then read to the end of stdin.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;

use crate::message::{
    BadHeader, HeaderMap, HeaderText, LimitedBody, Method, Request, Response, StatusCode,
    append_header, parse_content_length, percent_decode_path,
};

/// A request's meta-variables, taken from the process environment.
pub struct Environment(Vec<(String, Vec<u8>)>);

impl Environment {
    pub fn from_process() -> Environment {
        Environment::from_pairs(std::env::vars_os())
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (OsString, OsString)>) -> Environment {
        Environment(
            pairs
                .into_iter()
                .filter_map(|(k, v)| k.into_string().ok().map(|k| (k, v.into_vec())))
                .collect(),
        )
    }

    /// `REQUEST_METHOD`, if set.
    pub fn method(&self) -> Option<String> {
        self.get("REQUEST_METHOD")
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Why a request cannot be built from CGI meta-variables (CGI and FastCGI
/// alike); each is answered 400 in plain text, with a log line.
#[derive(Debug)]
pub enum BadRequest {
    /// `REQUEST_METHOD` is missing or not a method.
    Method,
    /// A header (an `HTTP_*` variable or `CONTENT_TYPE`) that no client can send.
    Header(BadHeader),
    /// `CONTENT_LENGTH` is not 1*DIGIT.
    ContentLength(String),
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::Method => f.write_str("REQUEST_METHOD is missing or invalid"),
            BadRequest::Header(e) => e.fmt(f),
            BadRequest::ContentLength(v) => {
                write!(f, "CONTENT_LENGTH {v:?} is not a number of bytes")
            }
        }
    }
}

/// Builds the request from meta-variables and a body source.
pub fn request<'a>(
    env: &Environment,
    stdin: impl Read + Send + 'a,
) -> Result<Request<'a>, BadRequest> {
    let method = env.get("REQUEST_METHOD").unwrap_or_default();
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .ok()
        .filter(|m| m.as_str().bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or(BadRequest::Method)?;
    let mut headers = HeaderMap::new();
    for (name, value) in &env.0 {
        if let Some(rest) = name.strip_prefix("HTTP_") {
            append_header(
                &mut headers,
                &rest.replace('_', "-").to_ascii_lowercase(),
                value,
            )
            .map_err(BadRequest::Header)?;
        }
    }
    if let Some(ct) = env.get("CONTENT_TYPE") {
        append_header(&mut headers, "content-type", ct.as_bytes()).map_err(BadRequest::Header)?;
    }
    let content_length = match env.get("CONTENT_LENGTH") {
        None => None,
        Some(v) => {
            Some(parse_content_length(v.as_bytes()).ok_or_else(|| BadRequest::ContentLength(v))?)
        }
    };
    if let Some(n) = content_length {
        headers.insert(crate::message::header::CONTENT_LENGTH, n.into());
    }
    let chunked = headers
        .text("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let body: Box<dyn Read + Send + 'a> = match content_length {
        Some(n) => Box::new(LimitedBody::new(stdin, n)),
        None if chunked => Box::new(stdin),
        None => Box::new(io::empty()),
    };
    let query = env.get("QUERY_STRING").unwrap_or_default();
    Ok(Request {
        method,
        path_info: path_info(env),
        script_name: env.get("SCRIPT_NAME").unwrap_or_default(),
        query,
        headers,
        content_length,
        body,
    })
}

/// PATH_INFO, or where the server sends none, the tail of
/// `REQUEST_URI`/`DOCUMENT_URI` after `SCRIPT_NAME`.
fn path_info(env: &Environment) -> String {
    if let Some(p) = env.get("PATH_INFO") {
        return p;
    }
    let script = env.get("SCRIPT_NAME").unwrap_or_default();
    for var in ["REQUEST_URI", "DOCUMENT_URI"] {
        if let Some(uri) = env.get(var) {
            let path = uri.split('?').next().unwrap_or("");
            let decoded = percent_decode_path(path);
            if !script.is_empty()
                && let Some(tail) = decoded.strip_prefix(&script)
                && (tail.is_empty() || tail.starts_with('/'))
            {
                return tail.to_owned();
            }
        }
    }
    String::new()
}

/// Writes a CGI response (`Status:` line, headers, blank line, body).
pub fn write_response<W: Write>(out: &mut W, response: Response, head: bool) -> io::Result<()> {
    let mut header = Vec::with_capacity(512);
    response.write_head("Status: ", b"", &mut header);
    out.write_all(&header)?;
    if !head {
        response.body.write_to(out)?;
    }
    out.flush()
}

/// The response to a request that could not even be read.
pub fn bad_request(message: &str) -> Response {
    Response::text(StatusCode::BAD_REQUEST, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    }

    #[test]
    fn path_info_falls_back_to_the_request_uri() {
        let e = env(&[
            ("SCRIPT_NAME", "/cgi-bin/upspool"),
            ("REQUEST_URI", "/cgi-bin/upspool/abc-1?x=1"),
        ]);
        assert_eq!(path_info(&e), "/abc-1");
        let e = env(&[
            ("SCRIPT_NAME", "/cgi-bin/upspool"),
            ("REQUEST_URI", "/cgi-bin/upspool?x=1"),
        ]);
        assert_eq!(path_info(&e), "");
        let e = env(&[("PATH_INFO", "/p"), ("REQUEST_URI", "/other")]);
        assert_eq!(path_info(&e), "/p");
    }

    #[test]
    fn header_values_with_control_characters_are_refused() {
        let e = env(&[("REQUEST_METHOD", "GET"), ("HTTP_X_A", "a\u{1}b")]);
        let refused = request(&e, io::empty()).err().unwrap();
        assert!(matches!(refused, BadRequest::Header(BadHeader::Value(_))));
        assert_eq!(
            refused.to_string(),
            "the x-a header holds control characters"
        );
        let e = env(&[("REQUEST_METHOD", "G T")]);
        assert!(matches!(request(&e, io::empty()), Err(BadRequest::Method)));
    }

    #[test]
    fn content_length_must_be_digits() {
        let e = env(&[("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "12x")]);
        assert!(request(&e, io::empty()).is_err());
        let e = env(&[
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_LENGTH", "3"),
            ("HTTP_UPLOAD_NAME", "a"),
        ]);
        let r = request(&e, &b"abcdef"[..]).unwrap();
        assert_eq!(r.content_length, Some(3));
        assert_eq!(r.headers.text("upload-name").as_deref(), Some("a"));
    }
}
