//! FilePond's `?fetch=` action (filepond.md §8): GET proxies a remote file, HEAD
//! stores it in the spool as a complete upload. Off unless an allow-list is
//! configured; the download goes to a scratch file first, bounded by the
//! maximum size, so the answer has an exact length and memory stays flat.

use super::Handler;
use super::download::file_response;
use super::error::{Failure, Kind};
use super::multipart::{disposition_filename, disposition_params};
use super::names::{clean_name, stored_type};
use crate::log;
use crate::message::{HeaderName, HeaderValue, Response, percent_decode_path};
use crate::outbound::{self, FetchError};
use crate::spool::{Id, Installed, Protocol, Record, SpoolError, WriteError};

/// The outbound client's errors in the protocol's terms.
impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Failure {
        match e {
            FetchError::BadUrl(m) => Failure::new(Kind::Invalid, format!("{m}.")),
            FetchError::Refused(m) => Failure::new(Kind::Forbidden, format!("{m}.")),
            FetchError::Status(s) => {
                Failure::new(Kind::BadGateway, format!("The remote server answered {s}."))
            }
            FetchError::Timeout => Failure::new(
                Kind::GatewayTimeout,
                "The remote server did not answer in time.",
            ),
            FetchError::Redirects(m) | FetchError::Network(m) => {
                Failure::new(Kind::BadGateway, format!("{m}."))
            }
        }
    }
}

/// Answers a fetch.
pub(super) fn fetch(h: &Handler, url: &str, head: bool) -> Result<Response, Failure> {
    let allow = &h.config.fetch_allow;
    if allow.is_empty() {
        return Err(Failure::new(
            Kind::Forbidden,
            "Fetching remote files is not enabled on this server.",
        ));
    }
    let url = outbound::parse_url(url)?;
    let remote = outbound::get(allow, url)?;
    let max = h.max_size();
    let too_large = || {
        Failure::new(
            Kind::TooLarge,
            format!("The remote file is larger than the limit of {max} bytes."),
        )
    };
    if remote.content_length.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut scratch = h.spool.scratch()?;
    let mut body = remote.body;
    let written = scratch.write_file(&mut body, max).map_err(|e| match e {
        WriteError::Source(e) => Failure::new(
            Kind::BadGateway,
            format!("The remote file could not be read: {e}."),
        ),
        WriteError::Spool(e) => e.into(),
    })?;
    if written.overflow {
        return Err(too_large());
    }
    let name = remote_name(remote.content_disposition.as_deref(), &remote.url);
    let media_type = stored_type(remote.content_type.as_deref(), &name);
    let data = scratch.data()?;
    if !head {
        return Ok(file_response(&name, Some(&media_type), data, written.len));
    }
    let id = Id::mint().map_err(|e| SpoolError::Io {
        action: "make an id",
        source: e,
    })?;
    let mut record = Record::new(&id, Protocol::FilePond);
    record.name = Some(name.clone());
    record.media_type = Some(media_type.clone());
    record.size = Some(written.len);
    record.received = written.len;
    let lock = h.spool.lock(&id)?;
    match lock.install(scratch, &mut record)? {
        Installed::New(_) => {}
        Installed::Kept(_) => {
            return Err(Failure::new(
                Kind::Storage,
                "An id collision happened; try again.",
            ));
        }
    }
    log::info(format_args!(
        "filepond: fetched {} bytes into {id}",
        written.len
    ));
    // An id is letters, digits and dashes: always a valid header value.
    let id_value = HeaderValue::try_from(id.as_str())
        .map_err(|_| Failure::new(Kind::Storage, "The id is not a header value."))?;
    Ok(file_response(&name, Some(&media_type), data, written.len)
        .header(HeaderName::from_static("x-content-transfer-id"), id_value))
}

/// The remote's own file name, else the last path segment, else `download`.
fn remote_name(disposition: Option<&str>, url: &url::Url) -> String {
    if let Some(d) = disposition
        && let Some(name) = disposition_filename(&disposition_params(d.as_bytes()))
        && !name.is_empty()
    {
        return clean_name(&name);
    }
    let segment = url
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()))
        .map(percent_decode_path);
    clean_name(segment.as_deref().unwrap_or("download").as_bytes())
}
