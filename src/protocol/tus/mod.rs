//! tus (tus.md): tus 1.0 with the extensions creation,
//! creation-with-upload, creation-defer-length, termination, checksum,
//! expiration and concatenation, and the IETF "Resumable Uploads for HTTP"
//! draft at interop versions 3–6, on the one endpoint and the one spool.
//!
//! A request's dialect ([`wire::Wire`]) decides only how answers look; the
//! rules are one set. Failures are rendered in one function,
//! [`wire::render`]: the status from the one table, one `text/plain`
//! sentence, the dialect's version header. An append streams into the
//! upload as its one writer ([`crate::spool::Writer`]), recording durable
//! progress as it goes, so a connection lost at 90 % resumes at 90 %.

mod checksum;
mod concat;
mod wire;

use std::io::Read;

use serde_json::{Map, Value};

use super::error::{Failure, Kind};
use super::multipart::{disposition_filename, disposition_params};
use super::names::{clean_name, stored_type};
use super::route::Tus;
use super::{Handler, filepond, header_number};
use crate::log;
use crate::message::{
    HeaderMap, HeaderName, HeaderText, HeaderValue, Request, Response, StatusCode, header,
};
use crate::spool::{Entry, Id, Protocol, Record, SpoolError, Writer, unix_now};
use checksum::Expected;
use wire::{
    UPLOAD_CONCAT, UPLOAD_DEFER_LENGTH, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_METADATA,
    UPLOAD_OFFSET, Wire, http_date, parse_metadata, render,
};

/// What `Tus-Extension` advertises (tus.md §4).
const EXTENSIONS: HeaderValue = HeaderValue::from_static(
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation",
);
/// tus 1.0's body type for appends.
const OCTETS: &str = "application/offset+octet-stream";
/// The IETF draft's body type for appends at interop version 6.
const PARTIAL_UPLOAD: &str = "application/partial-upload";

const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
const UPLOAD_LIMIT: HeaderName = HeaderName::from_static("upload-limit");

/// Largest `Upload-Metadata` header kept.
const MAX_METADATA: usize = 64 * 1024;

type Outcome = Result<Response, Failure>;

/// Adds §4's discovery headers to the `OPTIONS` answer.
pub(super) fn discovery(h: &Handler, request: &Request<'_>, response: &mut Response) {
    response.set_header(wire::TUS_VERSION, wire::VERSION);
    response.set_header(TUS_EXTENSION, EXTENSIONS);
    response.set_header(TUS_MAX_SIZE, h.max_size());
    response.set_header(
        TUS_CHECKSUM_ALGORITHM,
        HeaderValue::from_static(checksum::ALGORITHMS),
    );
    if request.headers.contains_key("upload-draft-interop-version")
        && let Ok(v) = HeaderValue::try_from(format!("min-size=0,max-size={}", h.max_size()))
    {
        response.set_header(UPLOAD_LIMIT, v);
    }
}

/// Answers one tus request (every method but `OPTIONS`).
pub(super) fn handle(h: &Handler, action: Tus, request: Request<'_>) -> Response {
    let wire = match Wire::of(&request.headers) {
        Ok(w) => w,
        // A plain link to an upload's URL carries no tus header.
        Err(_) if matches!(action, Tus::Download(_)) && !super::route::is_tus(&request.headers) => {
            Wire::Tus1
        }
        Err((failure, wire)) => return render(failure, wire),
    };
    let outcome = match action {
        Tus::Create => create(h, wire, request),
        Tus::Offset(id) => parse_id(&id).and_then(|id| offset(h, wire, &id)),
        Tus::Append(id) => parse_id(&id).and_then(|id| append(h, wire, &id, request)),
        Tus::Terminate(id) => parse_id(&id).and_then(|id| terminate(h, wire, &id)),
        Tus::Download(id) => parse_id(&id).and_then(|id| download(h, wire, &id)),
        Tus::MethodNotAllowed => Err(Failure::new(
            Kind::MethodNotAllowed,
            "This method is not served for tus uploads.",
        )),
    };
    match outcome {
        Ok(r) => r,
        Err(f) => render(f, wire),
    }
}

/// A failure before the action ran (a refused token), in the dialect the
/// request speaks.
pub(super) fn render_failure(headers: &HeaderMap, failure: Failure) -> Response {
    match Wire::of(headers) {
        Ok(wire) | Err((_, wire)) => render(failure, wire),
    }
}

/// A malformed id names no upload: 404 (§6).
fn parse_id(text: &str) -> Result<Id, Failure> {
    Id::parse(text).map_err(|_| not_found())
}

fn not_found() -> Failure {
    Failure::new(Kind::NotFound, "There is no tus upload with this id.")
}

/// The upload's record, if it is a tus upload that has not expired.
fn lookup(h: &Handler, id: &Id) -> Result<Record, Failure> {
    match h.spool.lookup(id).map_err(Failure::from)? {
        Entry::Incoming(r) | Entry::Complete(r) if r.protocol == Protocol::Tus => {
            check_expiry(h, &r)?;
            Ok(r)
        }
        _ => Err(not_found()),
    }
}

/// §8: an incomplete upload past its `Upload-Expires` is gone (410) until
/// gc removes it (404 then).
fn check_expiry(h: &Handler, record: &Record) -> Result<(), Failure> {
    if !record.complete && expiry(h, record) < unix_now() {
        return Err(Failure::new(
            Kind::Gone,
            "The upload has expired; start it again.",
        ));
    }
    Ok(())
}

/// When an incomplete upload expires: `expire_incomplete` after its last
/// stored byte.
fn expiry(h: &Handler, record: &Record) -> u64 {
    record
        .updated
        .saturating_add(h.config.expire_incomplete.as_secs())
}

fn too_large(h: &Handler, length: u64) -> Failure {
    Failure::new(
        Kind::TooLarge,
        format!(
            "The upload is {length} bytes; the limit is {} bytes.",
            h.max_size()
        ),
    )
}

/// What a creation or a final upload says about the file: its name, type
/// and metadata (§5), already checked against `allowed_extensions`.
struct Described {
    name: Option<String>,
    media_type: String,
    metadata: Map<String, Value>,
    raw: Option<String>,
}

/// `partial`: a partial upload of a concatenation, which tus-js-client
/// creates without metadata; with `allowed_extensions` set it need not
/// name the file (a name it gives is still checked): it can never be
/// claimed itself, and its final upload is checked.
fn describe(
    h: &Handler,
    headers: &HeaderMap,
    wire: Wire,
    partial: bool,
) -> Result<Described, Failure> {
    let raw = match headers.bytes("upload-metadata") {
        Some(b) if b.len() > MAX_METADATA => {
            return Err(Failure::new(
                Kind::Invalid,
                "Upload-Metadata is longer than 64 KiB.",
            ));
        }
        Some(b) => Some(
            String::from_utf8(b.to_vec())
                .map_err(|_| Failure::new(Kind::Invalid, "Upload-Metadata must be ASCII text."))?,
        ),
        None => None,
    };
    let metadata = match &raw {
        Some(text) => parse_metadata(text)?,
        None => Map::new(),
    };
    let value = |key: &str| metadata.get(key).and_then(Value::as_str);
    let mut name = value("filename")
        .or_else(|| value("name"))
        .map(|n| clean_name(n.as_bytes()));
    // The IETF draft names the file in Content-Disposition.
    if name.is_none()
        && matches!(wire, Wire::Ietf(_))
        && let Some(d) = headers.bytes("content-disposition")
        && let Some(n) = disposition_filename(&disposition_params(d))
    {
        name = Some(clean_name(&n));
    }
    let checked = name.as_deref().unwrap_or("");
    let unnamed_partial = partial && name.is_none();
    if !unnamed_partial && !h.extension_allowed(checked) {
        return Err(Failure::new(
            Kind::Invalid,
            match &name {
                Some(n) => format!("Files like {n:?} are not allowed here."),
                None => "Only some file types are allowed here: give the file name as filename in Upload-Metadata.".into(),
            },
        ));
    }
    let declared_type = value("filetype").or_else(|| value("type"));
    let media_type = stored_type(declared_type, checked);
    Ok(Described {
        name,
        media_type,
        metadata,
        raw: raw.filter(|t| !t.trim().is_empty()),
    })
}

fn mint() -> Result<Id, Failure> {
    Id::mint().map_err(|e| {
        Failure::from(SpoolError::Io {
            action: "make an id",
            source: e,
        })
    })
}

/// `Upload-Concat` on a creation (§10).
enum Concat {
    None,
    Partial,
    Final(String),
}

fn concat_of(headers: &HeaderMap) -> Result<Concat, Failure> {
    let Some(text) = headers.text("upload-concat") else {
        return Ok(Concat::None);
    };
    let text = text.trim();
    if text == "partial" {
        Ok(Concat::Partial)
    } else if text.starts_with("final;") {
        Ok(Concat::Final(text.to_owned()))
    } else {
        Err(Failure::new(
            Kind::Invalid,
            "Upload-Concat must be partial or final;<urls>.",
        ))
    }
}

/// The declared length of a creation (§5): `Upload-Length`, or deferred
/// (`Upload-Defer-Length: 1`; for the IETF draft also when neither is
/// given and the request does not complete the upload).
fn declared_length(
    h: &Handler,
    wire: Wire,
    request: &Request<'_>,
    completes: Option<bool>,
) -> Result<Option<u64>, Failure> {
    let headers = &request.headers;
    let length = header_number(headers, "upload-length")?;
    let defer = headers.text("upload-defer-length");
    let length = match (length, defer.as_deref().map(str::trim)) {
        (Some(_), Some(_)) => {
            return Err(Failure::new(
                Kind::Invalid,
                "Upload-Length and Upload-Defer-Length cannot both be given.",
            ));
        }
        (None, Some(v)) if v != "1" => {
            return Err(Failure::new(
                Kind::Invalid,
                "Upload-Defer-Length must be 1.",
            ));
        }
        (None, Some(_)) => None,
        (Some(n), None) => Some(n),
        (None, None) => match wire {
            Wire::Tus1 => {
                return Err(Failure::new(
                    Kind::Invalid,
                    "Upload-Length or Upload-Defer-Length: 1 is required.",
                ));
            }
            // The IETF draft: a request that completes the upload says
            // its length by its own.
            Wire::Ietf(_) if completes == Some(true) => request.content_length,
            Wire::Ietf(_) => None,
        },
    };
    if let Some(n) = length
        && n > h.max_size()
    {
        return Err(too_large(h, n));
    }
    Ok(length)
}

/// Whether a creation's or an append's body is upload bytes: tus 1.0's
/// octet stream; for the IETF draft any body (version 6: its own type).
fn carries_bytes(wire: Wire, request: &Request<'_>) -> bool {
    if request.content_length == Some(0) {
        return false;
    }
    match wire {
        Wire::Tus1 => request.headers.media_type_is(OCTETS),
        Wire::Ietf(_) => true,
    }
}

/// §5: creation, with the first bytes when the body carries them; a final
/// upload of a concatenation (§10).
fn create(h: &Handler, wire: Wire, request: Request<'_>) -> Outcome {
    let concat = concat_of(&request.headers)?;
    if let Concat::Final(text) = concat {
        return concat::final_upload(h, wire, &text, request);
    }
    let completes = wire.completes(&request.headers)?;
    let length = declared_length(h, wire, &request, completes)?;
    let with_body = carries_bytes(wire, &request);
    if with_body
        && let (Some(n), Some(body)) = (length, request.content_length)
        && body > n
    {
        return Err(Failure::new(
            Kind::TooLarge,
            format!("The body reaches past the upload's {n} bytes."),
        ));
    }
    // Checked before anything is stored.
    let expected = Expected::from_headers(&request.headers)?;
    let described = describe(h, &request.headers, wire, matches!(concat, Concat::Partial))?;
    let id = mint()?;
    let location = location(&request.script_name, &id)?;
    let mut record = Record::new(&id, Protocol::Tus);
    record.media_type = Some(described.media_type);
    record.name = described.name;
    record.size = length;
    record.defer_length = length.is_none();
    record.upload_metadata = described.raw;
    record.metadata = described.metadata;
    record.partial = matches!(concat, Concat::Partial);
    {
        let lock = h.spool.lock(&id).map_err(Failure::from)?;
        lock.create(&mut record).map_err(Failure::from)?;
        if length == Some(0) {
            let started = std::time::Instant::now();
            lock.complete(&mut record).map_err(Failure::from)?;
            super::log_completion("tus", &id, 0, started);
        }
    }
    log::info(format_args!("tus: created {id}"));
    let (offset, record) = if with_body && length != Some(0) {
        let append = Append {
            offset: 0,
            completes,
            expected,
        };
        match write(h, &id, append, request) {
            Ok(done) => done,
            Err(failure) => {
                // The client never learnt the Location: nothing is kept.
                if let Ok(lock) = h.spool.lock(&id) {
                    let _ = lock.remove();
                }
                return Err(failure);
            }
        }
    } else {
        (0, record)
    };
    let mut r = wire
        .ok(StatusCode::CREATED)
        .header(header::LOCATION, location)
        .header(UPLOAD_OFFSET, offset);
    wire.set_complete(&mut r, record.complete);
    expires(h, &record, &mut r);
    Ok(r)
}

/// `<SCRIPT_NAME>/<id>`, percent-encoding anything but unreserved
/// characters and `/` in the script name.
fn location(script: &str, id: &Id) -> Result<HeaderValue, Failure> {
    let mut out = super::download::percent_encode(script, b"-._~/");
    out.push('/');
    out.push_str(id.as_str());
    HeaderValue::try_from(out).map_err(|_| {
        Failure::new(
            Kind::Storage,
            "The upload's location is not a valid header.",
        )
    })
}

/// §8: `Upload-Expires` while the upload is incomplete.
fn expires(h: &Handler, record: &Record, response: &mut Response) {
    if record.complete {
        return;
    }
    if let Ok(v) = HeaderValue::try_from(http_date(expiry(h, record))) {
        response.set_header(UPLOAD_EXPIRES, v);
    }
}

/// §6: the offset query.
fn offset(h: &Handler, wire: Wire, id: &Id) -> Outcome {
    let record = lookup(h, id)?;
    let status = match wire {
        Wire::Tus1 => StatusCode::OK,
        Wire::Ietf(_) => StatusCode::NO_CONTENT,
    };
    let mut r = wire.ok(status).header(UPLOAD_OFFSET, record.received);
    match record.size {
        Some(n) => r.set_header(UPLOAD_LENGTH, n),
        None if wire == Wire::Tus1 => {
            r.set_header(UPLOAD_DEFER_LENGTH, HeaderValue::from_static("1"))
        }
        None => {}
    }
    wire.set_complete(&mut r, record.complete);
    if let Some(v) = record
        .upload_metadata
        .as_deref()
        .and_then(|t| HeaderValue::try_from(t).ok())
    {
        r.set_header(UPLOAD_METADATA, v);
    }
    if record.partial {
        r.set_header(UPLOAD_CONCAT, HeaderValue::from_static("partial"));
    } else if let Some(v) = record
        .concat
        .as_deref()
        .and_then(|t| HeaderValue::try_from(t).ok())
    {
        r.set_header(UPLOAD_CONCAT, v);
    }
    expires(h, &record, &mut r);
    if wire == Wire::Tus1 {
        r.set_header(header::CONTENT_LENGTH, 0u64);
    }
    Ok(r)
}

/// One request's bytes for an upload (a PATCH, or a creation's body).
struct Append {
    /// Where the client says they go (`Upload-Offset`).
    offset: u64,
    /// IETF: the request says whether it completes the upload.
    completes: Option<bool>,
    /// `Upload-Checksum`.
    expected: Option<Expected>,
}

/// §7: append.
fn append(h: &Handler, wire: Wire, id: &Id, request: Request<'_>) -> Outcome {
    let type_ok = match wire {
        Wire::Tus1 => request.headers.media_type_is(OCTETS),
        Wire::Ietf(6) => {
            request.headers.media_type_is(PARTIAL_UPLOAD)
                || !request.headers.contains_key(header::CONTENT_TYPE)
        }
        Wire::Ietf(_) => true,
    };
    if !type_ok {
        return Err(Failure::new(
            Kind::TypeRefused,
            match wire {
                Wire::Tus1 => "A PATCH must be sent as application/offset+octet-stream.",
                Wire::Ietf(_) => "A PATCH must be sent as application/partial-upload.",
            },
        ));
    }
    let Some(offset) = header_number(&request.headers, "upload-offset")? else {
        return Err(Failure::new(Kind::Invalid, "Upload-Offset is required."));
    };
    let append = Append {
        offset,
        completes: wire.completes(&request.headers)?,
        expected: Expected::from_headers(&request.headers)?,
    };
    lookup(h, id)?;
    let (offset, record) = write(h, id, append, request)?;
    let mut r = wire
        .ok(StatusCode::NO_CONTENT)
        .header(UPLOAD_OFFSET, offset);
    wire.set_complete(&mut r, record.complete);
    expires(h, &record, &mut r);
    Ok(r)
}

/// Whether appends record durable progress while they stream (tus.md §7).
/// Off only for the benchmark that measures what recording costs.
fn progress_recording() -> bool {
    std::env::var_os("UPSPOOL_BENCH_NO_PROGRESS").is_none()
}

/// Stores a request's body at its offset as the upload's one writer (§7):
/// fixes a deferred length from `Upload-Length` (or, for the IETF draft,
/// from a request that completes the upload), verifies a checksum, and
/// completes the upload when its last byte is in. Returns the new offset
/// and the record.
fn write(
    h: &Handler,
    id: &Id,
    append: Append,
    request: Request<'_>,
) -> Result<(u64, Record), Failure> {
    let declared = header_number(&request.headers, "upload-length")?;
    let content_length = request.content_length;
    let mut writer = become_writer(h, id)?;
    let mut retried = false;
    // Check the offset and fix the length under the id's lock.
    let (received, length, writer) = loop {
        let lock = h.spool.lock(id).map_err(Failure::from)?;
        let mut record = match lock.entry().map_err(Failure::from)? {
            Entry::Complete(r) if r.protocol == Protocol::Tus => {
                return complete_answer(r, append.offset, content_length);
            }
            Entry::Incoming(r) if r.protocol == Protocol::Tus => r,
            _ => return Err(not_found()),
        };
        check_expiry(h, &record)?;
        let Some(w) = writer.take() else {
            // An incoming record without its data file: a completion cut
            // between its two renames, which `entry` has just rolled back.
            if retried {
                return Err(not_found());
            }
            retried = true;
            drop(lock);
            writer = become_writer(h, id)?;
            continue;
        };
        if append.offset != record.received {
            return Err(conflict(append.offset, record.received));
        }
        let from_completion = match (append.completes, content_length) {
            (Some(true), Some(n)) => Some(record.received.saturating_add(n)),
            _ => None,
        };
        match (record.size, declared.or(from_completion)) {
            (Some(n), Some(d)) if n != d => {
                return Err(Failure::new(
                    Kind::Invalid,
                    format!("The upload's length is {n} bytes, not {d}."),
                ));
            }
            (None, Some(d)) => {
                if d > h.max_size() {
                    return Err(too_large(h, d));
                }
                if d < record.received {
                    return Err(Failure::new(
                        Kind::Invalid,
                        format!(
                            "Upload-Length {d} is less than the {} bytes received.",
                            record.received
                        ),
                    ));
                }
                // A request refused for its body fixes nothing.
                if content_length.is_some_and(|n| n > d - record.received) {
                    return Err(Failure::new(
                        Kind::TooLarge,
                        format!("The body reaches past the upload's {d} bytes."),
                    ));
                }
                record.size = Some(d);
                record.updated = unix_now();
                lock.save(&record).map_err(Failure::from)?;
            }
            _ => {}
        }
        break (record.received, record.size, w);
    };
    let end = length.unwrap_or(h.max_size());
    let room = end.saturating_sub(received);
    let beyond = || match length {
        Some(n) => Failure::new(
            Kind::TooLarge,
            format!("The body reaches past the upload's {n} bytes."),
        ),
        None => too_large(h, received.saturating_add(content_length.unwrap_or(0))),
    };
    if content_length.is_some_and(|n| n > room) {
        return Err(beyond());
    }
    let started = std::time::Instant::now();
    let mut body = request.body;
    let (written, recorded) = if room == 0 {
        // Nothing may be stored; a byte more is too many.
        let mut one = [0u8; 1];
        match body.read(&mut one) {
            Ok(0) => (0, received),
            Ok(_) => return Err(beyond()),
            Err(e) => return Err(Failure::new(Kind::Malformed, e.to_string())),
        }
    } else if let Some(expected) = &append.expected {
        // A checksum covers the whole body: nothing is recorded before it
        // is verified, so an interrupted request keeps nothing (§11).
        let mut hashing = expected.reader(&mut body);
        let (w, _) = writer
            .append(received, room, &mut hashing, false)
            .map_err(|(e, _)| Failure::from(e))?;
        if w.overflow {
            return Err(beyond());
        }
        expected.verify(hashing)?;
        (w.len, received)
    } else {
        match writer.append(received, room, &mut body, progress_recording()) {
            Ok((w, _)) if w.overflow => return Err(beyond()),
            Ok((w, recorded)) => (w.len, recorded),
            Err((e, recorded)) => {
                log::warn(format_args!(
                    "tus: the body for {id} ended early after {} bytes; {} bytes are recorded",
                    recorded.saturating_sub(received),
                    recorded
                ));
                return Err(e.into());
            }
        }
    };
    drop(body);
    let done = finish(
        h,
        &writer,
        recorded,
        received + written,
        append.completes == Some(true),
    )?;
    if written > 0 {
        log::info(format_args!(
            "tus: {written} bytes for {id} at {received} in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
    if append.completes == Some(true) && !done.1.complete {
        return Err(Failure::new(
            Kind::Invalid,
            format!(
                "The request says it completes the upload, but {} of its {} bytes are stored.",
                done.0,
                done.1.size.unwrap_or(done.0)
            ),
        )
        .at_offset(done.0));
    }
    drop(writer);
    Ok(done)
}

/// Becomes the upload's one writer: a second PATCH waits for the first
/// (up to the lock timeout), then meets the offset rule; or 423, which
/// clients retry. `None`: the upload has no incoming data.
fn become_writer<'h>(h: &'h Handler, id: &Id) -> Result<Option<Writer<'h>>, Failure> {
    match h.spool.writer(id) {
        Ok(w) => Ok(w),
        Err(SpoolError::Busy) => Err(Failure::new(
            Kind::Locked,
            "Another request is writing this upload; try again.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The answer to a write on a complete upload: the same offset with an
/// empty body, else 409 or 413; a final upload takes no bytes at all (403).
fn complete_answer(r: Record, offset: u64, body: Option<u64>) -> Result<(u64, Record), Failure> {
    if r.concat.is_some() {
        return Err(Failure::new(
            Kind::Forbidden,
            "A final upload of a concatenation takes no bytes.",
        ));
    }
    let length = r.size.unwrap_or(r.received);
    if offset != length {
        return Err(conflict(offset, length));
    }
    if body.unwrap_or(0) > 0 {
        return Err(Failure::new(
            Kind::TooLarge,
            format!("The upload is complete at {length} bytes."),
        ));
    }
    Ok((length, r))
}

fn conflict(offset: u64, stored: u64) -> Failure {
    Failure::new(
        Kind::Conflict,
        format!("Upload-Offset {offset} does not match the {stored} bytes stored."),
    )
    .at_offset(stored)
}

/// Advances the offset from `from` (what is recorded now) to `to` under
/// the lock; completes the upload when it reaches the length. `last`: the
/// request said it completes the upload (IETF), so a length still unknown
/// (a body without `Content-Length`) is what arrived.
fn finish(
    h: &Handler,
    writer: &Writer<'_>,
    from: u64,
    to: u64,
    last: bool,
) -> Result<(u64, Record), Failure> {
    let id = writer.id();
    // The bytes are made durable before the id's lock is taken: that lock
    // is shared with other ids and held only for moments.
    writer.sync().map_err(Failure::from)?;
    let lock = h.spool.lock(id).map_err(Failure::from)?;
    let mut record = match lock.entry().map_err(Failure::from)? {
        Entry::Incoming(r) => r,
        Entry::Complete(r) => return complete_answer(r, from, Some(to - from)),
        Entry::Absent => {
            return Err(Failure::new(
                Kind::NotFound,
                "The upload was terminated meanwhile.",
            ));
        }
    };
    if record.received != from {
        return Err(conflict(from, record.received));
    }
    record.received = to;
    record.updated = unix_now();
    if last && record.size.is_none() {
        record.size = Some(to);
    }
    if record.size == Some(to) {
        let started = std::time::Instant::now();
        lock.complete(&mut record).map_err(Failure::from)?;
        super::log_completion("tus", id, to, started);
    } else {
        lock.save(&record).map_err(Failure::from)?;
    }
    Ok((to, record))
}

/// §9: termination. An expired upload may still be terminated.
fn terminate(h: &Handler, wire: Wire, id: &Id) -> Outcome {
    let lock = h.spool.lock(id).map_err(Failure::from)?;
    match lock.entry().map_err(Failure::from)? {
        Entry::Incoming(r) | Entry::Complete(r) if r.protocol == Protocol::Tus => {}
        _ => return Err(not_found()),
    }
    if let Some(record) = lock.remove().map_err(Failure::from)? {
        log::info(format_args!("tus: terminated {id}"));
        h.terminated(&record)?;
    }
    Ok(wire.ok(StatusCode::NO_CONTENT))
}

/// `GET <endpoint>/<id>`: a complete upload's bytes, with the safe headers
/// of FilePond's restore; 404 while incomplete.
fn download(h: &Handler, wire: Wire, id: &Id) -> Outcome {
    let record = lookup(h, id)?;
    if !record.complete {
        return Err(Failure::new(
            Kind::NotFound,
            "The upload is not complete yet.",
        ));
    }
    let mut r = filepond::restore(h, id)?;
    wire.stamp(&mut r);
    Ok(r)
}
