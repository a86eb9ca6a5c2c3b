//! tus 1.0 core (tus.md §2–§9): creation (with upload, deferred length),
//! the offset query, append, termination, and download of a complete
//! upload, on the one endpoint and the one spool.
//!
//! Failures are rendered in one function, [`render`]: the status from the
//! one table, one `text/plain` sentence, and `Tus-Resumable: 1.0.0`.
//! Advertised extensions are exactly the ones implemented here
//! ([`EXTENSIONS`]).

use std::io::Read;

use serde_json::{Map, Value};

use super::error::{Failure, Kind};
use super::names::{clean_name, extension_allowed, stored_type};
use super::route::Tus;
use super::{Handler, filepond, header_number, private, text};
use crate::log;
use crate::message::{
    HeaderMap, HeaderName, HeaderText, HeaderValue, Request, Response, StatusCode, header,
};
use crate::spool::{Entry, Id, Protocol, Record, SpoolError, unix_now};

/// The one protocol version spoken.
const VERSION: HeaderValue = HeaderValue::from_static("1.0.0");
/// What `Tus-Extension` advertises: only what is implemented.
const EXTENSIONS: HeaderValue =
    HeaderValue::from_static("creation,creation-with-upload,creation-defer-length,termination");
const OCTETS: &str = "application/offset+octet-stream";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");

/// Largest `Upload-Metadata` header kept.
const MAX_METADATA: usize = 64 * 1024;

type Outcome = Result<Response, Failure>;

/// Renders a failure as tus clients read it (§13): the status, one
/// sentence, `Tus-Resumable`, the stored offset on a 409, `Tus-Version` on
/// a 412.
fn render(failure: Failure) -> Response {
    let message = failure.sentence();
    log::warn(format_args!("tus: {} {message}", failure.status().as_u16()));
    let mut r = text(failure.status(), message).header(TUS_RESUMABLE, VERSION);
    if let Some(offset) = failure.offset {
        r.set_header(UPLOAD_OFFSET, offset);
    }
    match failure.kind {
        Kind::PreconditionFailed => r.set_header(TUS_VERSION, VERSION),
        Kind::MethodNotAllowed => r.set_header(header::ALLOW, super::cors::METHODS),
        _ => {}
    }
    r
}

/// A success answer: no body, `Tus-Resumable`.
fn ok(status: StatusCode) -> Response {
    private(Response::new(status)).header(TUS_RESUMABLE, VERSION)
}

/// Adds §4's discovery headers to the `OPTIONS` answer.
pub(super) fn discovery(h: &Handler, response: &mut Response) {
    response.set_header(TUS_VERSION, VERSION);
    response.set_header(TUS_EXTENSION, EXTENSIONS);
    response.set_header(TUS_MAX_SIZE, h.config.max_size);
}

/// Answers one tus request (every method but `OPTIONS`).
pub(super) fn handle(h: &Handler, action: Tus, request: Request<'_>) -> Response {
    let outcome = check_version(&request.headers).and_then(|()| match action {
        Tus::Create => create(h, request),
        Tus::Offset(id) => parse_id(&id).and_then(|id| offset(h, &id)),
        Tus::Append(id) => parse_id(&id).and_then(|id| append(h, &id, request)),
        Tus::Terminate(id) => parse_id(&id).and_then(|id| terminate(h, &id)),
        Tus::Download(id) => parse_id(&id).and_then(|id| download(h, &id)),
        Tus::MethodNotAllowed => Err(Failure::new(
            Kind::MethodNotAllowed,
            "This method is not served for tus uploads.",
        )),
    });
    match outcome {
        Ok(r) => r,
        Err(f) => render(f),
    }
}

/// §3: `Tus-Resumable: 1.0.0`, else 412 with `Tus-Version`. The IETF draft
/// is not implemented yet.
fn check_version(headers: &HeaderMap) -> Result<(), Failure> {
    match headers.text("tus-resumable") {
        Some(v) if v.trim() == "1.0.0" => Ok(()),
        Some(v) => Err(Failure::new(
            Kind::PreconditionFailed,
            format!(
                "tus version {:?} is not supported; this server speaks 1.0.0.",
                v.trim()
            ),
        )),
        None => Err(Failure::new(
            Kind::Invalid,
            "The IETF resumable upload draft is not supported; use tus 1.0.0.",
        )),
    }
}

/// A malformed id names no upload: 404 (§6).
fn parse_id(text: &str) -> Result<Id, Failure> {
    Id::parse(text).map_err(|_| not_found())
}

fn not_found() -> Failure {
    Failure::new(Kind::NotFound, "There is no tus upload with this id.")
}

/// The upload's record, if it is a tus upload.
fn lookup(h: &Handler, id: &Id) -> Result<Record, Failure> {
    match h.spool.lookup(id).map_err(Failure::from)? {
        Entry::Incoming(r) | Entry::Complete(r) if r.protocol == Protocol::Tus => Ok(r),
        _ => Err(not_found()),
    }
}

fn too_large(h: &Handler, length: u64) -> Failure {
    Failure::new(
        Kind::TooLarge,
        format!(
            "The upload is {length} bytes; the limit is {} bytes.",
            h.config.max_size
        ),
    )
}

/// §5: creation, with the first bytes when the body is tus's octet stream.
fn create(h: &Handler, request: Request<'_>) -> Outcome {
    let headers = &request.headers;
    let length = header_number(headers, "upload-length")?;
    let defer = headers.text("upload-defer-length");
    match (length, defer.as_deref().map(str::trim)) {
        (Some(_), Some(_)) => {
            return Err(Failure::new(
                Kind::Invalid,
                "Upload-Length and Upload-Defer-Length cannot both be given.",
            ));
        }
        (None, None) => {
            return Err(Failure::new(
                Kind::Invalid,
                "Upload-Length or Upload-Defer-Length: 1 is required.",
            ));
        }
        (None, Some(v)) if v != "1" => {
            return Err(Failure::new(
                Kind::Invalid,
                "Upload-Defer-Length must be 1.",
            ));
        }
        _ => {}
    }
    if let Some(n) = length
        && n > h.config.max_size
    {
        return Err(too_large(h, n));
    }
    let with_body = headers.media_type_is(OCTETS) && request.content_length != Some(0);
    if with_body
        && let (Some(n), Some(body)) = (length, request.content_length)
        && body > n
    {
        return Err(Failure::new(
            Kind::TooLarge,
            format!("The body reaches past the upload's {n} bytes."),
        ));
    }
    let raw_metadata = match headers.bytes("upload-metadata") {
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
    let metadata = match &raw_metadata {
        Some(text) => parse_metadata(text)?,
        None => Map::new(),
    };
    let value = |key: &str| metadata.get(key).and_then(Value::as_str);
    let name = value("filename")
        .or_else(|| value("name"))
        .map(|n| clean_name(n.as_bytes()));
    let checked = name.as_deref().unwrap_or("");
    if !extension_allowed(&h.config.allowed_extensions, checked) {
        return Err(Failure::new(
            Kind::Invalid,
            match &name {
                Some(n) => format!("Files like {n:?} are not allowed here."),
                None => "Only some file types are allowed here: give the file name as filename in Upload-Metadata.".into(),
            },
        ));
    }
    let declared_type = value("filetype").or_else(|| value("type"));
    let id = Id::mint().map_err(|e| {
        Failure::from(SpoolError::Io {
            action: "make an id",
            source: e,
        })
    })?;
    let location = location(&request.script_name, &id)?;
    let mut record = Record::new(&id, Protocol::Tus);
    record.media_type = Some(stored_type(declared_type, checked));
    record.name = name;
    record.size = length;
    record.defer_length = length.is_none();
    record.upload_metadata = raw_metadata.filter(|t| !t.trim().is_empty());
    record.metadata = metadata;
    {
        let lock = h.spool.lock(&id).map_err(Failure::from)?;
        lock.create(&record).map_err(Failure::from)?;
        if length == Some(0) {
            let started = std::time::Instant::now();
            lock.complete(&mut record).map_err(Failure::from)?;
            super::log_completion("tus", &id, 0, started);
        }
    }
    log::info(format_args!("tus: created {id}"));
    let (offset, record) = if with_body && length != Some(0) {
        match write(h, &id, 0, request) {
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
    let mut r = ok(StatusCode::CREATED)
        .header(header::LOCATION, location)
        .header(UPLOAD_OFFSET, offset);
    expires(h, &record, &mut r);
    Ok(r)
}

/// `<SCRIPT_NAME>/<id>`, percent-encoding anything but unreserved
/// characters and `/` in the script name.
fn location(script: &str, id: &Id) -> Result<HeaderValue, Failure> {
    let mut out = String::new();
    for b in script.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push('/');
    out.push_str(id.as_str());
    HeaderValue::try_from(out).map_err(|_| {
        Failure::new(
            Kind::Storage,
            "The upload's location is not a valid header.",
        )
    })
}

/// §5 `Upload-Metadata`: comma-separated `key base64value` pairs.
fn parse_metadata(text: &str) -> Result<Map<String, Value>, Failure> {
    let mut map = Map::new();
    if text.trim().is_empty() {
        return Ok(map);
    }
    let bad = |why: &str| Failure::new(Kind::Invalid, format!("Upload-Metadata: {why}."));
    for pair in text.split(',') {
        let pair = pair.trim();
        let (key, value) = match pair.split_once(' ') {
            Some((k, v)) => (k, v.trim()),
            None => (pair, ""),
        };
        if key.is_empty() || key.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(bad("a key is empty or holds spaces or control characters"));
        }
        let Some(bytes) = decode_base64(value) else {
            return Err(bad(&format!("the value of {key:?} is not base64")));
        };
        let value = String::from_utf8(bytes).unwrap_or_else(|_| value.to_owned());
        if map.insert(key.to_owned(), Value::String(value)).is_some() {
            return Err(bad(&format!("the key {key:?} is given twice")));
        }
    }
    Ok(map)
}

/// Standard base64 with padding (RFC 4648 §4), strictly.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let sextet = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (i, quad) in bytes.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | sextet(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Bits below the last full byte must be zero (canonical encoding).
        if pad > 0 && (n & ((1 << (8 * pad)) - 1)) != 0 {
            return None;
        }
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

/// §8: `Upload-Expires` while the upload is incomplete.
fn expires(h: &Handler, record: &Record, response: &mut Response) {
    if record.complete {
        return;
    }
    let at = record
        .updated
        .saturating_add(h.config.expire_incomplete.as_secs());
    if let Ok(v) = HeaderValue::try_from(http_date(at)) {
        response.set_header(UPLOAD_EXPIRES, v);
    }
}

/// Unix seconds as an RFC 9110 IMF-fixdate (`Wed, 25 Jun 2014 16:00:00 GMT`).
fn http_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// §6: the offset query.
fn offset(h: &Handler, id: &Id) -> Outcome {
    let record = lookup(h, id)?;
    let mut r = ok(StatusCode::OK).header(UPLOAD_OFFSET, record.received);
    match record.size {
        Some(n) => r.set_header(UPLOAD_LENGTH, n),
        None => r.set_header(UPLOAD_DEFER_LENGTH, HeaderValue::from_static("1")),
    }
    if let Some(v) = record
        .upload_metadata
        .as_deref()
        .and_then(|t| HeaderValue::try_from(t).ok())
    {
        r.set_header(UPLOAD_METADATA, v);
    }
    expires(h, &record, &mut r);
    r.set_header(header::CONTENT_LENGTH, 0u64);
    Ok(r)
}

/// §7: append.
fn append(h: &Handler, id: &Id, request: Request<'_>) -> Outcome {
    if !request.headers.media_type_is(OCTETS) {
        return Err(Failure::new(
            Kind::TypeRefused,
            "A PATCH must be sent as application/offset+octet-stream.",
        ));
    }
    let Some(offset) = header_number(&request.headers, "upload-offset")? else {
        return Err(Failure::new(Kind::Invalid, "Upload-Offset is required."));
    };
    lookup(h, id)?;
    let (offset, record) = write(h, id, offset, request)?;
    let mut r = ok(StatusCode::NO_CONTENT).header(UPLOAD_OFFSET, offset);
    expires(h, &record, &mut r);
    Ok(r)
}

/// Stores the body at `offset` (§7), fixing a deferred length from
/// `Upload-Length`, and completes the upload when its last byte is in.
/// Returns the new offset and the record.
fn write(
    h: &Handler,
    id: &Id,
    offset: u64,
    request: Request<'_>,
) -> Result<(u64, Record), Failure> {
    let declared = header_number(&request.headers, "upload-length")?;
    // Check the offset and fix the length under the lock.
    let (received, length) = {
        let lock = h.spool.lock(id).map_err(Failure::from)?;
        let mut record = match lock.entry().map_err(Failure::from)? {
            Entry::Incoming(r) if r.protocol == Protocol::Tus => r,
            Entry::Complete(r) if r.protocol == Protocol::Tus => {
                return complete_answer(r, offset, request.content_length);
            }
            _ => return Err(not_found()),
        };
        if offset != record.received {
            return Err(conflict(offset, record.received));
        }
        match (record.size, declared) {
            (Some(n), Some(d)) if n != d => {
                return Err(Failure::new(
                    Kind::Invalid,
                    format!("Upload-Length {d} differs from the upload's {n} bytes."),
                ));
            }
            (None, Some(d)) => {
                if d > h.config.max_size {
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
                record.size = Some(d);
                record.updated = unix_now();
                lock.save(&record).map_err(Failure::from)?;
            }
            _ => {}
        }
        (record.received, record.size)
    };
    let end = length.unwrap_or(h.config.max_size);
    let room = end.saturating_sub(received);
    let beyond = || match length {
        Some(n) => Failure::new(
            Kind::TooLarge,
            format!("The body reaches past the upload's {n} bytes."),
        ),
        None => too_large(
            h,
            received.saturating_add(request.content_length.unwrap_or(0)),
        ),
    };
    if request.content_length.is_some_and(|n| n > room) {
        return Err(beyond());
    }
    let mut body = request.body;
    let written = if room == 0 {
        // Nothing may be stored; a byte more is too many.
        let mut one = [0u8; 1];
        match body.read(&mut one) {
            Ok(0) => 0,
            Ok(_) => return Err(beyond()),
            Err(e) => return Err(Failure::new(Kind::Malformed, e.to_string())),
        }
    } else {
        match h
            .spool
            .write_at(id, received, room, &mut body)
            .map_err(Failure::from)?
        {
            Some(w) if w.overflow => return Err(beyond()),
            Some(w) => w.len,
            None => return Err(not_found()),
        }
    };
    drop(body);
    finish(h, id, received, received + written)
}

/// The answer to a write on a complete upload: the same offset with an
/// empty body, else 409 or 413.
fn complete_answer(r: Record, offset: u64, body: Option<u64>) -> Result<(u64, Record), Failure> {
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

/// Advances the offset from `from` to `to` under the lock; completes the
/// upload when it reaches the length.
fn finish(h: &Handler, id: &Id, from: u64, to: u64) -> Result<(u64, Record), Failure> {
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
    if record.size == Some(to) {
        let started = std::time::Instant::now();
        lock.complete(&mut record).map_err(Failure::from)?;
        super::log_completion("tus", id, to, started);
    } else {
        lock.save(&record).map_err(Failure::from)?;
    }
    Ok((to, record))
}

/// §9: termination.
fn terminate(h: &Handler, id: &Id) -> Outcome {
    lookup(h, id)?;
    let lock = h.spool.lock(id).map_err(Failure::from)?;
    match lock.entry().map_err(Failure::from)? {
        Entry::Incoming(r) | Entry::Complete(r) if r.protocol == Protocol::Tus => {}
        _ => return Err(not_found()),
    }
    lock.remove().map_err(Failure::from)?;
    log::info(format_args!("tus: terminated {id}"));
    Ok(ok(StatusCode::NO_CONTENT))
}

/// `GET <endpoint>/<id>`: a complete upload's bytes, with the safe headers
/// of FilePond's restore; 404 while incomplete.
fn download(h: &Handler, id: &Id) -> Outcome {
    let record = lookup(h, id)?;
    if !record.complete {
        return Err(Failure::new(
            Kind::NotFound,
            "The upload is not complete yet.",
        ));
    }
    let r = filepond::restore(h, id)?;
    Ok(r.header(TUS_RESUMABLE, VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGVs").unwrap(), b"hel");
        assert_eq!(decode_base64("aGVsbA==").unwrap(), b"hell");
        for bad in [
            "aGVsbG8",
            "aGV=bG8=",
            "a===",
            "aGk!",
            "aGl=",
            "aGVsbG8=aGk=",
        ] {
            assert!(decode_base64(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn metadata_pairs() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==, is_confidential")
            .unwrap();
        assert_eq!(m["filename"], "world_domination_plan.pdf");
        assert_eq!(m["is_confidential"], "");
        assert!(parse_metadata("a aGk=,a aGk=").is_err());
        assert!(parse_metadata("a !!").is_err());
        assert!(parse_metadata(" , a aGk=").is_err());
        // Not UTF-8: kept as its base64 text.
        assert_eq!(parse_metadata("k /w==").unwrap()["k"], "/w==");
    }

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_403_712_000), "Wed, 25 Jun 2014 16:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
