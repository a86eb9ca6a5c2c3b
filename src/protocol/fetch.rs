//! FilePond `?fetch=` (filepond.md §8): GET proxies a remote file, HEAD
//! stores it in the spool as a complete upload. Off unless an allow-list is
//! configured; the download goes to a scratch file first, bounded by the
//! maximum size, so the answer has an exact length and memory stays flat.

use super::Handler;
use super::download::file_response;
use super::multipart::{decode_ext_value, disposition_params};
use super::names::{clean_name, stored_type};
use crate::fetch::{self, FetchError};
use crate::gateway::{Response, percent_decode_path};
use crate::log;
use crate::spool::{Id, Installed, Protocol, Record, SpoolError, WriteError};

/// Answers a fetch; errors are (status, message).
pub(super) fn fetch(h: &Handler, url: &str, head: bool) -> Result<Response, (u16, String)> {
    let allow = &h.config.fetch_allow;
    if allow.is_empty() {
        return Err((
            403,
            "Fetching remote files is not enabled on this server.".into(),
        ));
    }
    let url = fetch::parse_url(url).map_err(|e| (400, format!("{e}.")))?;
    let remote = fetch::get(allow, url).map_err(|e| match e {
        FetchError::BadUrl(m) => (400, format!("{m}.")),
        FetchError::Refused(m) => (403, format!("{m}.")),
        FetchError::Status(s) => (502, format!("The remote server answered {s}.")),
        FetchError::Timeout => (504, "The remote server did not answer in time.".into()),
        FetchError::Redirects(m) | FetchError::Network(m) => (502, format!("{m}.")),
    })?;
    let max = h.config.max_size;
    let too_large = || {
        (
            413,
            format!("The remote file is larger than the limit of {max} bytes."),
        )
    };
    if remote.content_length.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let spool_error = |e: SpoolError| {
        log::error(format_args!("filepond: fetch: {e}"));
        match e {
            SpoolError::Full => (507, "The server has no space left for uploads.".to_owned()),
            _ => (
                500,
                "The server could not store the remote file.".to_owned(),
            ),
        }
    };
    let mut scratch = h.spool.scratch().map_err(spool_error)?;
    let mut body = remote.body;
    let written = scratch.write_file(&mut body, max).map_err(|e| match e {
        WriteError::Source(e) => (502, format!("The remote file could not be read: {e}.")),
        WriteError::Spool(e) => spool_error(e),
    })?;
    if written.overflow {
        return Err(too_large());
    }
    let name = remote_name(remote.content_disposition.as_deref(), &remote.url);
    let media_type = stored_type(remote.content_type.as_deref(), &name);
    let data = scratch.data().map_err(spool_error)?;
    if !head {
        return Ok(file_response(&name, Some(&media_type), data, written.len));
    }
    let id = Id::mint().map_err(|e| {
        spool_error(SpoolError::Io {
            action: "make an id",
            source: e,
        })
    })?;
    let mut record = Record::new(&id, Protocol::FilePond);
    record.name = Some(name.clone());
    record.media_type = Some(media_type.clone());
    record.size = Some(written.len);
    record.received = written.len;
    let lock = h.spool.lock(&id).map_err(spool_error)?;
    match lock.install(scratch, &mut record).map_err(spool_error)? {
        Installed::New(_) => {}
        Installed::Kept(_) => return Err((500, "An id collision happened; try again.".into())),
    }
    log::info(format_args!(
        "filepond: fetched {} bytes into {id}",
        written.len
    ));
    Ok(file_response(&name, Some(&media_type), data, written.len)
        .header("X-Content-Transfer-Id", id.as_str()))
}

/// The remote's own file name, else the last path segment, else `download`.
fn remote_name(disposition: Option<&str>, url: &url::Url) -> String {
    if let Some(d) = disposition {
        let params = disposition_params(d.as_bytes());
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if let Some(name) = get("filename*")
            .and_then(|v| decode_ext_value(&v))
            .or_else(|| get("filename"))
            && !name.is_empty()
        {
            return clean_name(&name);
        }
    }
    let segment = url
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()))
        .map(percent_decode_path);
    clean_name(segment.as_deref().unwrap_or("download").as_bytes())
}
