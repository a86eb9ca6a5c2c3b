//! FilePond's server API (filepond.md): process, chunked transfers (start,
//! `PATCH`, `HEAD` resume), revert, restore, load, and the fetch entry point.
//!
//! Errors are a status with its standard reason phrase and one plain-text
//! sentence (§2.2). Ids are minted here from the OS random source (§2.3).

use std::io::{self, Read};

use serde_json::{Map, Value};

use super::download::{accel_response, file_response};
use super::error::{Failure, Kind};
use super::multipart::{MultipartError, Part};
use super::names::{clean_name, guess_type, stored_type};
use super::params::Params;
use super::route::Fp;
use super::{Handler, header_number, private, text};
use crate::files::BelowError;
use crate::log;
use crate::message::{
    Body, HeaderMap, HeaderName, HeaderText, HeaderValue, Request, Response, StatusCode, header,
};
use crate::spool::{Entry, Id, Installed, Protocol, Record, Spool, SpoolError, Variant};

const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");

/// Largest metadata part (§3).
const MAX_METADATA: usize = 64 * 1024;
/// Largest revert body.
const MAX_REVERT_BODY: u64 = 4096;

/// Renders a failure as FilePond reads it (§2.2): the status with its
/// reason phrase and one sentence; a transfer's offset when the client must
/// resume from it.
pub(super) fn render(failure: Failure) -> Response {
    let message = failure.sentence();
    log::warn(format_args!(
        "filepond: {} {message}",
        failure.status().as_u16()
    ));
    let mut r = text(failure.status(), message);
    if let Some(offset) = failure.offset {
        r.set_header(UPLOAD_OFFSET, offset);
    }
    if failure.kind == Kind::MethodNotAllowed {
        r.set_header(header::ALLOW, super::cors::METHODS);
    }
    r
}

type Outcome = Result<Response, Failure>;

fn answer(outcome: Outcome) -> Response {
    outcome.unwrap_or_else(render)
}

/// `405` for methods the endpoint does not serve.
pub(super) fn method_not_allowed() -> Response {
    render(Failure::new(
        Kind::MethodNotAllowed,
        "This method is not served by the upload endpoint.",
    ))
}

fn parse_id(text: &str) -> Result<Id, Failure> {
    Id::parse(text).map_err(|e| Failure::new(Kind::Invalid, format!("Invalid id: {e}.")))
}

fn created(id: &Id) -> Response {
    private(Response::new(StatusCode::CREATED))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )
        .body(Body::Bytes(id.as_str().as_bytes().to_vec()))
}

/// Does a part name match a configured FilePond field (`name` or `name[]`)?
pub(super) fn is_field(h: &Handler, name: Option<&str>) -> bool {
    let Some(name) = name else { return false };
    let bare = name.strip_suffix("[]").unwrap_or(name);
    h.config.filepond_fields.iter().any(|f| f == bare)
}

/// `POST` multipart without Fine Uploader fields: process (§3) or transfer start (§4.1).
pub(super) fn process<'r>(
    h: &Handler,
    headers: &HeaderMap,
    mut form: super::multipart::Multipart<'r>,
    first: Option<Part<'r>>,
) -> Response {
    answer((|| {
        let mut metadata: Option<Map<String, Value>> = None;
        let mut main: Option<(String, Option<String>, u64)> = None;
        let mut variants = Vec::new();
        let mut scratch = None;
        let mut next = first;
        loop {
            let mut part = match next.take() {
                Some(p) => p,
                None => match form.next_part().map_err(Failure::from)? {
                    Some(p) => p,
                    None => break,
                },
            };
            if !is_field(h, part.name.as_deref()) {
                io::copy(&mut part, &mut io::sink())
                    .map_err(|e| Failure::new(Kind::Invalid, e.to_string()))?;
                continue;
            }
            if let Some(filename) = part.filename.clone() {
                let name = clean_name(&filename);
                if main.is_none() && !h.extension_allowed(&name) {
                    return Err(Failure::new(
                        Kind::TypeRefused,
                        format!("Files like {name:?} are not allowed here."),
                    ));
                }
                let area = match &mut scratch {
                    Some(area) => area,
                    None => scratch.insert(h.spool.scratch().map_err(Failure::from)?),
                };
                let written = area
                    .write_file(&mut part, h.max_size())
                    .map_err(Failure::from)?;
                if written.overflow {
                    return Err(Failure::new(
                        Kind::TooLarge,
                        format!(
                            "The file is larger than the limit of {} bytes.",
                            h.max_size()
                        ),
                    ));
                }
                let media_type = stored_type(part.content_type.as_deref(), &name);
                if main.is_none() {
                    main = Some((name, Some(media_type), written.len));
                } else {
                    variants.push(Variant {
                        name,
                        size: written.len,
                        media_type: Some(media_type),
                    });
                }
            } else if metadata.is_none() {
                let text = part.text(MAX_METADATA).map_err(|e| match e {
                    MultipartError::FieldTooLong(_) => {
                        Failure::new(Kind::TooLarge, "The metadata part is larger than 64 KiB.")
                    }
                    e => Failure::from(e),
                })?;
                metadata = Some(parse_metadata(&text)?);
            } else {
                io::copy(&mut part, &mut io::sink())
                    .map_err(|e| Failure::new(Kind::Invalid, e.to_string()))?;
            }
        }
        let metadata = metadata.unwrap_or_default();
        let id = Id::mint().map_err(|e| {
            Failure::from(SpoolError::Io {
                action: "make an id",
                source: e,
            })
        })?;
        let mut record = Record::new(&id, Protocol::FilePond);
        record.metadata = metadata;
        match (main, scratch) {
            (Some((name, media_type, len)), Some(scratch)) => {
                record.name = Some(name);
                record.media_type = media_type;
                record.size = Some(len);
                record.received = len;
                record.variants = variants;
                let lock = h.spool.lock(&id).map_err(Failure::from)?;
                match lock.install(scratch, &mut record).map_err(Failure::from)? {
                    Installed::New(_) => Ok(created(&id)),
                    Installed::Kept(_) => Err(Failure::new(
                        Kind::Storage,
                        "An id collision happened; try again.",
                    )),
                }
            }
            _ => start_transfer(h, headers, record),
        }
    })())
}

fn parse_metadata(text: &str) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Failure::new(
            Kind::Invalid,
            "The metadata part must be a JSON object.",
        )),
    }
}

/// §4.1: a transfer start, once the form held no file.
fn start_transfer(h: &Handler, headers: &HeaderMap, mut record: Record) -> Outcome {
    let Some(length) = header_number(headers, "upload-length")? else {
        let fields = h.config.filepond_fields.join(" or ");
        return Err(Failure::new(
            Kind::Invalid,
            format!(
                "No file part named {fields}, and missing Upload-Length for a chunked transfer."
            ),
        ));
    };
    if length > h.max_size() {
        return Err(Failure::new(
            Kind::TooLarge,
            format!(
                "The file is {length} bytes; the limit is {} bytes.",
                h.max_size()
            ),
        ));
    }
    record.size = Some(length);
    let id = Id::parse(&record.id).map_err(|e| Failure::new(Kind::Storage, e.to_string()))?;
    let lock = h.spool.lock(&id).map_err(Failure::from)?;
    lock.create(&mut record).map_err(Failure::from)?;
    Ok(created(&id))
}

/// A `POST` that is neither multipart nor Fine Uploader's: a transfer start
/// with an empty body (non-browser clients), else an error.
pub(super) fn post_without_form(h: &Handler, request: Request<'_>) -> Response {
    answer((|| {
        if request.content_length.unwrap_or(0) == 0 && request.headers.contains_key(UPLOAD_LENGTH) {
            let id = Id::mint().map_err(|e| {
                Failure::from(SpoolError::Io {
                    action: "make an id",
                    source: e,
                })
            })?;
            return start_transfer(h, &request.headers, Record::new(&id, Protocol::FilePond));
        }
        Err(Failure::new(
            Kind::Invalid,
            "The upload must be multipart/form-data.",
        ))
    })())
}

/// `PATCH ?patch=<id>`: one chunk (§4.2).
pub(super) fn patch(h: &Handler, query: &Params, request: Request<'_>) -> Response {
    answer((|| {
        let Some(id_text) = query.get("patch") else {
            return Err(Failure::new(Kind::Invalid, "PATCH needs ?patch=<id>."));
        };
        let id = parse_id(id_text)?;
        let headers = &request.headers;
        let (length, complete) = match h.spool.lookup(&id).map_err(Failure::from)? {
            Entry::Absent => {
                return Err(Failure::new(
                    Kind::NotFound,
                    "There is no transfer with this id.",
                ));
            }
            Entry::Incoming(r) | Entry::Complete(r) => (r.size.unwrap_or(r.received), r.complete),
        };
        if !headers.media_type_is("application/offset+octet-stream") {
            return Err(Failure::new(
                Kind::TypeRefused,
                "A chunk must be sent as application/offset+octet-stream.",
            ));
        }
        let Some(offset) = header_number(headers, "upload-offset")? else {
            return Err(Failure::new(Kind::Invalid, "Missing Upload-Offset."));
        };
        if let Some(declared) = header_number(headers, "upload-length")?
            && declared != length
        {
            return Err(Failure::new(
                Kind::Invalid,
                format!("Upload-Length {declared} differs from the transfer's {length} bytes."),
            ));
        }
        let declared_end = match request.content_length {
            Some(n) => match offset.checked_add(n).filter(|e| *e <= length) {
                Some(e) => Some(e),
                None => {
                    return Err(Failure::new(
                        Kind::Invalid,
                        format!("The chunk reaches past the transfer's {length} bytes."),
                    ));
                }
            },
            None if offset > length => {
                return Err(Failure::new(
                    Kind::Invalid,
                    format!("Upload-Offset {offset} is past the transfer's {length} bytes."),
                ));
            }
            None => None,
        };
        if complete {
            return Ok(no_content(length));
        }
        let upload_name = headers
            .bytes("upload-name")
            .filter(|n| !n.is_empty())
            .map(clean_name);
        let received = {
            let lock = h.spool.lock(&id).map_err(Failure::from)?;
            let Entry::Incoming(mut record) = lock.entry().map_err(Failure::from)? else {
                return Ok(no_content(length));
            };
            if record.protocol != Protocol::FilePond {
                return Err(Failure::new(
                    Kind::Conflict,
                    "This id is not a FilePond transfer.",
                ));
            }
            if let (Some(name), None) = (upload_name, &record.name) {
                if !h.extension_allowed(&name) {
                    lock.remove().map_err(Failure::from)?;
                    return Err(Failure::new(
                        Kind::TypeRefused,
                        format!("Files like {name:?} are not allowed here."),
                    ));
                }
                record.media_type = Some(guess_type(&name).to_owned());
                record.name = Some(name);
                lock.save(&record).map_err(Failure::from)?;
            }
            record.received
        };
        if offset > received {
            return Err(Failure::new(
                Kind::Conflict,
                format!("Upload-Offset {offset} does not match the {received} bytes received."),
            )
            .at_offset(received));
        }
        // Bytes below `received` are a retransmission: skip them, store the rest.
        let mut body = request.body;
        let skip = received - offset;
        let skipped = io::copy(&mut (&mut body).take(skip), &mut io::sink())
            .map_err(|e| Failure::new(Kind::Invalid, e.to_string()))?;
        let want = match declared_end {
            Some(end) => end.saturating_sub(received),
            None => length - received,
        };
        if skipped < skip || want == 0 {
            // Nothing new; an empty trailing chunk may still complete the transfer.
            return finish_patch(h, &id, received, received);
        }
        match h
            .spool
            .write_at(&id, received, want, &mut body)
            .map_err(Failure::from)?
        {
            Some(w) if w.overflow => Err(Failure::new(
                Kind::Invalid,
                format!("The chunk reaches past the transfer's {length} bytes."),
            )),
            Some(w) if declared_end.is_some() && w.len != want => Err(Failure::new(
                Kind::Invalid,
                format!(
                    "The chunk body has {} bytes, not the {want} announced.",
                    w.len
                ),
            )),
            Some(w) => finish_patch(h, &id, received, received + w.len),
            None => Ok(no_content(length)),
        }
    })())
}

/// Advances `received` from `from` to `to` under the lock; completes the
/// transfer when every byte is in.
fn finish_patch(h: &Handler, id: &Id, from: u64, to: u64) -> Outcome {
    let lock = h.spool.lock(id).map_err(Failure::from)?;
    let mut record = match lock.entry().map_err(Failure::from)? {
        Entry::Incoming(r) => r,
        Entry::Complete(r) => return Ok(no_content(r.size.unwrap_or(r.received))),
        Entry::Absent => {
            return Err(Failure::new(
                Kind::NotFound,
                "The transfer was reverted meanwhile.",
            ));
        }
    };
    if record.received == from {
        record.received = to;
    } else if record.received < from {
        return Err(Failure::new(
            Kind::Conflict,
            format!("The transfer is at {} bytes.", record.received),
        )
        .at_offset(record.received));
    }
    let length = record.size.unwrap_or(0);
    if record.received >= length {
        if record.media_type.is_none() {
            record.media_type = Some(guess_type(record.name.as_deref().unwrap_or("")).to_owned());
        }
        let started = std::time::Instant::now();
        lock.complete(&mut record).map_err(Failure::from)?;
        super::log_completion("filepond", id, length, started);
    } else {
        record.updated = crate::spool::unix_now();
        lock.save(&record).map_err(Failure::from)?;
    }
    Ok(no_content(record.received))
}

fn no_content(offset: u64) -> Response {
    private(Response::new(StatusCode::NO_CONTENT)).header(UPLOAD_OFFSET, offset)
}

/// `DELETE` with the id as body: revert (§5). Idempotent.
pub(super) fn revert(h: &Handler, request: Request<'_>) -> Response {
    answer((|| {
        let mut bytes = Vec::new();
        request
            .body
            .take(MAX_REVERT_BODY + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::new(Kind::Invalid, e.to_string()))?;
        if bytes.len() as u64 > MAX_REVERT_BODY {
            return Err(Failure::new(
                Kind::Invalid,
                "The revert body must be just the id.",
            ));
        }
        let text = String::from_utf8_lossy(&bytes);
        let id = parse_id(text.trim_matches(|c: char| c.is_ascii_whitespace()))?;
        let lock = h.spool.lock(&id).map_err(Failure::from)?;
        if let Some(record) = lock.remove().map_err(Failure::from)? {
            log::info(format_args!("filepond: reverted {id}"));
            h.terminated(&record)?;
        }
        Ok(private(Response::new(StatusCode::NO_CONTENT)))
    })())
}

/// `GET`/`HEAD`: restore, load, fetch, or the resume offset query.
pub(super) fn get(h: &Handler, action: Fp) -> Response {
    answer(match action {
        Fp::Offset(id) => parse_id(&id).and_then(|id| offset(h, &id)),
        Fp::Restore(id) => parse_id(&id).and_then(|id| restore(h, &id)),
        Fp::Load(source) => load(h, &source),
        Fp::Fetch { url, head } => super::remote::fetch(h, &url, head),
        _ => Err(Failure::new(
            Kind::Invalid,
            "Nothing to do: the request names no action (restore, load, fetch, patch, session).",
        )),
    })
}

/// `HEAD ?patch=<id>` (§4.4).
fn offset(h: &Handler, id: &Id) -> Outcome {
    let (received, length) = match h.spool.lookup(id).map_err(Failure::from)? {
        Entry::Absent => {
            return Err(Failure::new(
                Kind::NotFound,
                "There is no transfer with this id.",
            ));
        }
        Entry::Incoming(r) => (r.received, r.size.unwrap_or(0)),
        Entry::Complete(r) => {
            let size = r.size.unwrap_or(r.received);
            (size, size)
        }
    };
    Ok(private(Response::new(StatusCode::OK))
        .header(UPLOAD_OFFSET, received)
        .header(UPLOAD_LENGTH, length)
        .header(header::CONTENT_LENGTH, 0u64))
}

/// `GET ?restore=<id>` (§6).
pub(super) fn restore(h: &Handler, id: &Id) -> Outcome {
    let Some((record, file)) = h.spool.open_complete(id).map_err(Failure::from)? else {
        return Err(Failure::new(
            Kind::NotFound,
            "There is no complete upload with this id.",
        ));
    };
    let name = record.name.clone().unwrap_or_else(|| id.to_string());
    let media_type = record.media_type.as_deref();
    if let Some(prefix) = &h.config.accel_redirect {
        let location = format!("{prefix}{}", Spool::complete_data_name(id));
        // The prefix is checked at configuration load and the name is an id.
        let location = HeaderValue::try_from(location).map_err(|_| {
            Failure::new(
                Kind::Storage,
                "The accel_redirect prefix is not a valid header value.",
            )
        })?;
        return Ok(accel_response(&name, media_type, location));
    }
    let len = record.size.unwrap_or(record.received);
    Ok(file_response(&name, media_type, file, len))
}

/// `GET ?load=<source>` (§7): a file below the configured load directory.
fn load(h: &Handler, source: &str) -> Outcome {
    let bad = source.is_empty()
        || source.starts_with('/')
        || source.contains('\\')
        || source.chars().any(|c| c.is_control())
        || source
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(Failure::new(
            Kind::Invalid,
            "The load source must be a relative path without empty, '.' or '..' segments.",
        ));
    }
    let Some(root) = h.config.load_dir.as_deref() else {
        return Err(Failure::new(
            Kind::NotFound,
            "Loading server files is not enabled.",
        ));
    };
    match crate::files::open_below(root, source) {
        Ok(Some((file, len))) => {
            let name = source.rsplit('/').next().unwrap_or(source);
            Ok(file_response(name, Some(guess_type(name)), file, len))
        }
        Ok(None) => Err(Failure::new(
            Kind::NotFound,
            "There is no such file to load.",
        )),
        Err(BelowError::BadName(e)) => {
            log::warn(format_args!("filepond: load refused a name: {e}"));
            Err(Failure::new(
                Kind::Invalid,
                "The load source is longer than the server's filesystem allows.",
            ))
        }
        Err(BelowError::Io(e)) => {
            log::error(format_args!("filepond: load failed: {e}"));
            Err(Failure::new(Kind::Storage, "The file could not be read."))
        }
    }
}
