//! Fine Uploader's "traditional" endpoint (fine-uploader.md Part B): simple
//! and chunked uploads in multipart and raw shapes, the chunking-success
//! (`?done`) request, delete, and the session file list.
//!
//! A chunk is written straight into the upload's data file at its offset and
//! recorded under the upload's lock only after the whole request was read
//! intact; the upload completes as soon as its parts tile the file, whatever
//! order they came in, and exactly once.

use std::borrow::Cow;
use std::io::{self, Read};

use serde_json::{Map, Value, json};

use super::error::{Failure, Kind};
use super::multipart::{Multipart, Part};
use super::names::{clean_name, guess_type, stored_type};
use super::params::Params;
use super::{Handler, MAX_FORM_BODY, private};
use crate::log;
use crate::message::{Body, HeaderText, HeaderValue, Request, Response, StatusCode, header};
use crate::spool::{Entry, Id, Installed, Parts, Protocol, Record, Scratch};

/// Longest text field accepted in a form.
pub(super) const MAX_FIELD: usize = 64 * 1024;

/// Shorthands for the failures this module raises most.
fn invalid(message: impl Into<Cow<'static, str>>) -> Failure {
    Failure::new(Kind::Invalid, message)
}
fn malformed(message: impl Into<Cow<'static, str>>) -> Failure {
    Failure::new(Kind::Malformed, message)
}
fn too_large(size: u64, max: u64) -> Failure {
    Failure::new(
        Kind::TooLarge,
        format!("the file is {size} bytes; the limit is {max} bytes"),
    )
}
fn reset(message: impl Into<Cow<'static, str>>) -> Failure {
    Failure::new(Kind::Reset, message)
}

/// Renders a failure as Fine Uploader reads it (B.5): `success: false`, the
/// message, `preventRetry` when the same request cannot succeed, and `reset`
/// when the client must start the upload over.
pub(super) fn render(failure: Failure) -> Response {
    let message = match failure.message {
        Some(m) => m.into_owned(),
        None => match failure.kind {
            Kind::Full => "the server has no space left for uploads",
            Kind::Busy => "the upload is busy with another request; try again",
            _ => "the server could not store the upload",
        }
        .to_owned(),
    };
    let status = failure.kind.status();
    log::warn(format_args!("fine-uploader: {} {message}", status.as_u16()));
    let mut body = Map::new();
    body.insert("success".into(), Value::Bool(false));
    body.insert("error".into(), Value::String(message));
    if failure.kind.is_final() {
        body.insert("preventRetry".into(), Value::Bool(true));
    }
    if failure.kind == Kind::Reset {
        body.insert("reset".into(), Value::Bool(true));
    }
    json_response(status, &Value::Object(body))
}

/// One line of JSON, inert in HTML (B.5), as `text/plain`.
fn json_response(status: StatusCode, value: &Value) -> Response {
    let text = value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    private(Response::new(status))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )
        .body(Body::Bytes(text.into_bytes()))
}

fn success(record: &Record) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"success": true, "uuid": record.id, "name": record.name}),
    )
}

/// Parameters of one request, from the query and the body, with a check that
/// no `qq*` parameter is given twice with different values (B.2).
struct Fields(Params);

impl Fields {
    fn new(query: &Params) -> Result<Fields, Failure> {
        let mut f = Fields(Params::default());
        for (k, v) in query.iter() {
            f.add(k.to_owned(), v.to_owned())?;
        }
        Ok(f)
    }

    fn add(&mut self, name: String, value: String) -> Result<(), Failure> {
        if name.starts_with("qq")
            && let Some(old) = self.0.get(&name)
        {
            if old != value {
                return Err(invalid(format!(
                    "the parameter {name} is given twice with different values"
                )));
            }
            return Ok(());
        }
        self.0.push(name, value);
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn id(&self) -> Result<Id, Failure> {
        let text = self
            .get("qquuid")
            .ok_or_else(|| invalid("the request has no qquuid parameter"))?;
        Id::parse(text).map_err(|e| invalid(format!("invalid qquuid: {e}")))
    }

    /// A plain decimal number parameter, if present.
    fn number(&self, name: &str) -> Result<Option<u64>, Failure> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()) => v
                .parse()
                .map(Some)
                .map_err(|_| invalid(format!("{name} is too large"))),
            Some(v) => Err(invalid(format!(
                "{name} must be a decimal number, not {v:?}"
            ))),
        }
    }

    /// The cleaned name: `qqfilename`, else the part's filename, else (raw) `qqfile`.
    fn name(&self, part_filename: Option<&[u8]>) -> Result<String, Failure> {
        let raw = match (self.get("qqfilename"), part_filename) {
            (Some(n), _) => n.as_bytes().to_vec(),
            (None, Some(f)) => f.to_vec(),
            (None, None) => match self.get("qqfile") {
                Some(n) => n.as_bytes().to_vec(),
                None => return Err(invalid("the request names no file (qqfilename)")),
            },
        };
        Ok(clean_name(&raw))
    }

    /// Custom parameters: everything not starting with `qq`, except `_method`.
    fn metadata(&self) -> Map<String, Value> {
        self.0
            .iter()
            .filter(|(k, _)| !k.starts_with("qq") && *k != "_method" && *k != "done")
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect()
    }

    /// The chunk parameters, if this is a chunk request (`qqpartindex` present).
    fn chunk(&self) -> Result<Option<Chunk>, Failure> {
        let Some(index) = self.number("qqpartindex")? else {
            return Ok(None);
        };
        let need = |name: &str| -> Result<u64, Failure> {
            self.number(name)?
                .ok_or_else(|| invalid(format!("the chunk request has no {name}")))
        };
        let chunk = Chunk {
            index,
            offset: need("qqpartbyteoffset")?,
            size: need("qqchunksize")?,
            total_parts: need("qqtotalparts")?,
            total_size: need("qqtotalfilesize")?,
            resume: self.get("qqresume") == Some("true"),
        };
        if chunk.total_parts == 0 {
            return Err(invalid("qqtotalparts must be at least 1"));
        }
        if chunk.size == 0 {
            return Err(invalid("qqchunksize must be at least 1"));
        }
        if chunk.index >= chunk.total_parts {
            return Err(invalid(format!(
                "qqpartindex {} is not below qqtotalparts {}",
                chunk.index, chunk.total_parts
            )));
        }
        if chunk
            .offset
            .checked_add(chunk.size)
            .is_none_or(|end| end > chunk.total_size)
        {
            return Err(invalid(format!(
                "the part ends past qqtotalfilesize ({} + {} > {})",
                chunk.offset, chunk.size, chunk.total_size
            )));
        }
        Ok(Some(chunk))
    }
}

/// The chunk parameters of one part request.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    index: u64,
    offset: u64,
    size: u64,
    total_parts: u64,
    total_size: u64,
    resume: bool,
}

/// A chunk after its bytes were handled, before it is recorded.
enum Stored {
    /// Bytes written at the part's offset; to be recorded.
    Written(Id, Chunk),
    /// The part was already recorded; its bytes were read and discarded.
    Duplicate(Id),
    /// The id already holds this upload, complete; nothing was written.
    Complete(Box<Record>),
}

/// What the file part of a form turned into.
enum Received<'s> {
    Chunk(Stored),
    Whole {
        scratch: Scratch<'s>,
        len: u64,
        filename: Option<Vec<u8>>,
        content_type: Option<String>,
    },
}

/// Checks the size and extension limits known before the bytes arrive.
fn check_limits(
    h: &Handler,
    declared_size: Option<u64>,
    name: Option<&str>,
) -> Result<(), Failure> {
    if let Some(size) = declared_size
        && size > h.max_size()
    {
        return Err(too_large(size, h.max_size()));
    }
    if let Some(name) = name
        && !h.extension_allowed(name)
    {
        return Err(Failure::new(
            Kind::TypeRefused,
            format!(
                "files like {name:?} are not allowed here; allowed extensions: {}",
                h.allowed_extensions().join(", ")
            ),
        ));
    }
    Ok(())
}

/// `POST` multipart upload or chunk (B.3, B.4).
pub(super) fn upload_form<'r>(
    h: &Handler,
    query: Params,
    leading: Params,
    mut form: Multipart<'r>,
    first: Option<Part<'r>>,
) -> Response {
    let result = (|| {
        let mut fields = Fields::new(&query)?;
        for (k, v) in leading.iter() {
            fields.add(k.to_owned(), v.to_owned())?;
        }
        let mut received = None;
        let mut next = first;
        loop {
            let mut part = match next.take() {
                Some(p) => p,
                None => match form.next_part().map_err(Failure::from)? {
                    Some(p) => p,
                    None => break,
                },
            };
            if part.is_file() || part.name.as_deref() == Some("qqfile") {
                if received.is_some() {
                    return Err(invalid("the request has more than one file part"));
                }
                let got = receive(h, &fields, &mut part)?;
                if let Received::Chunk(Stored::Complete(record)) = got {
                    return Ok(success(&record));
                }
                received = Some(got);
            } else {
                let name = part.name.clone().unwrap_or_default();
                let value = part.text(MAX_FIELD).map_err(Failure::from)?;
                fields.add(name, value)?;
            }
        }
        match received {
            None => Err(invalid("the request has no file part (qqfile)")),
            Some(Received::Chunk(stored)) => record_chunk(h, stored),
            Some(Received::Whole {
                scratch,
                len,
                filename,
                content_type,
            }) => finish_whole(
                h,
                &fields,
                scratch,
                len,
                filename.as_deref(),
                content_type.as_deref(),
            ),
        }
    })();
    result.unwrap_or_else(render)
}

/// Handles the file part: a chunk goes straight to its offset; a whole file
/// (or a part whose parameters come after it) to a scratch file.
fn receive<'s>(
    h: &'s Handler,
    fields: &Fields,
    part: &mut Part<'_>,
) -> Result<Received<'s>, Failure> {
    if let Some(chunk) = fields.chunk()? {
        let name = fields.name(part.filename.as_deref())?;
        return Ok(Received::Chunk(store_chunk(h, fields, chunk, &name, part)?));
    }
    // What can be checked before the bytes: the id if given, declared size, name.
    if fields.get("qquuid").is_some() {
        fields.id()?;
    }
    let known_name = match (fields.get("qqfilename"), part.filename.as_deref()) {
        (None, None) => None,
        (n, f) => Some(clean_name(n.map(str::as_bytes).or(f).unwrap_or_default())),
    };
    check_limits(h, fields.number("qqtotalfilesize")?, known_name.as_deref())?;
    let mut scratch = h.spool.scratch().map_err(Failure::from)?;
    let written = scratch
        .write_file(part, h.max_size())
        .map_err(Failure::from)?;
    if written.overflow {
        return Err(too_large(written.len + 1, h.max_size()));
    }
    Ok(Received::Whole {
        scratch,
        len: written.len,
        filename: part.filename.clone(),
        content_type: part.content_type.clone(),
    })
}

/// Completes a whole-file upload held in scratch: validates what only the
/// full request tells, then installs it atomically under its id.
fn finish_whole(
    h: &Handler,
    fields: &Fields,
    scratch: Scratch<'_>,
    len: u64,
    filename: Option<&[u8]>,
    content_type: Option<&str>,
) -> Result<Response, Failure> {
    let id = fields.id()?;
    let name = fields.name(filename)?;
    if let Some(chunk) = fields.chunk()? {
        // Chunk parameters after the file part: place the part from scratch.
        let mut data = scratch.data().map_err(Failure::from)?;
        let stored = store_chunk(h, fields, chunk, &name, &mut data)?;
        return record_chunk(h, stored);
    }
    check_limits(h, Some(len), Some(&name))?;
    if let Some(declared) = fields.number("qqtotalfilesize")?
        && declared != len
    {
        return Err(malformed(format!(
            "received {len} bytes but qqtotalfilesize is {declared}"
        )));
    }
    let mut record = Record::new(&id, Protocol::FineUploader);
    record.media_type = Some(stored_type(content_type, &name));
    record.name = Some(name);
    record.size = Some(len);
    record.received = len;
    record.metadata = fields.metadata();
    let lock = h.spool.lock(&id).map_err(Failure::from)?;
    match lock.install(scratch, &mut record).map_err(Failure::from)? {
        Installed::New(r) | Installed::Kept(r) => Ok(success(&r)),
    }
}

/// B.4 steps 1–4: checks a part against the upload, then writes its bytes
/// (without the lock) at its offset.
fn store_chunk(
    h: &Handler,
    fields: &Fields,
    chunk: Chunk,
    name: &str,
    src: &mut dyn Read,
) -> Result<Stored, Failure> {
    let id = fields.id()?;
    check_limits(h, Some(chunk.total_size), Some(name))?;
    let duplicate = {
        let lock = h.spool.lock(&id).map_err(Failure::from)?;
        match lock.entry().map_err(Failure::from)? {
            Entry::Absent => {
                if chunk.resume && chunk.index > 0 {
                    return Err(reset(
                        "the server has no record of this upload; start again",
                    ));
                }
                let mut record = Record::new(&id, Protocol::FineUploader);
                record.name = Some(name.to_owned());
                record.media_type = Some(guess_type(name).to_owned());
                record.size = Some(chunk.total_size);
                record.metadata = fields.metadata();
                record.parts = Some(Parts {
                    total: chunk.total_parts,
                    stored: Default::default(),
                });
                lock.create(&mut record).map_err(Failure::from)?;
                false
            }
            Entry::Incoming(record) => match conflict(&record, &chunk) {
                Some(why) => {
                    lock.remove().map_err(Failure::from)?;
                    return Err(reset(why));
                }
                None => record.parts.as_ref().is_some_and(|p| {
                    p.stored.get(&chunk.index) == Some(&(chunk.offset, chunk.size))
                }),
            },
            Entry::Complete(record) => {
                let same_parts = record
                    .parts
                    .as_ref()
                    .is_none_or(|p| p.total == chunk.total_parts);
                if record.size == Some(chunk.total_size) && same_parts {
                    return Ok(Stored::Complete(Box::new(record)));
                }
                return Err(Failure::new(
                    Kind::Taken,
                    "this qquuid already holds a different, complete upload",
                ));
            }
        }
    };
    let length_error = |len: u64, overflow: bool| {
        malformed(format!(
            "the part has {}{} bytes but qqchunksize is {}",
            len,
            if overflow { " or more" } else { "" },
            chunk.size
        ))
    };
    if duplicate {
        // Already stored: read the bytes to check the request, keep the stored ones.
        let n = io::copy(&mut src.take(chunk.size + 1), &mut io::sink())
            .map_err(|e| malformed(e.to_string()))?;
        if n != chunk.size {
            return Err(length_error(n, n > chunk.size));
        }
        return Ok(Stored::Duplicate(id));
    }
    match h
        .spool
        .write_at(&id, chunk.offset, chunk.size, src)
        .map_err(Failure::from)?
    {
        Some(w) if w.overflow || w.len != chunk.size => Err(length_error(w.len, w.overflow)),
        Some(_) => Ok(Stored::Written(id, chunk)),
        // Completed or deleted meanwhile by another request.
        None => match h.spool.lookup(&id).map_err(Failure::from)? {
            Entry::Complete(r) if r.size == Some(chunk.total_size) => {
                Ok(Stored::Complete(Box::new(r)))
            }
            _ => Err(reset(
                "the upload was removed while this part arrived; start again",
            )),
        },
    }
}

/// Why a part cannot belong to the upload in progress, if it cannot.
fn conflict(record: &Record, chunk: &Chunk) -> Option<String> {
    let Some(parts) = record
        .parts
        .as_ref()
        .filter(|_| record.protocol == Protocol::FineUploader)
    else {
        return Some("this id belongs to an upload of another kind".into());
    };
    if record.size != Some(chunk.total_size) || parts.total != chunk.total_parts {
        return Some(format!(
            "the part says {} bytes in {} parts, but the upload in progress has {} bytes in {} parts",
            chunk.total_size,
            chunk.total_parts,
            record.size.unwrap_or(0),
            parts.total
        ));
    }
    let end = chunk.offset + chunk.size;
    for (index, (offset, len)) in &parts.stored {
        let same = *index == chunk.index;
        let overlaps = *offset < end && chunk.offset < offset + len;
        if (same && (*offset, *len) != (chunk.offset, chunk.size)) || (!same && overlaps) {
            return Some(format!(
                "part {} does not fit the parts already received",
                chunk.index
            ));
        }
    }
    None
}

/// B.4 step 5: records a written part; the part that makes the parts tile
/// the file completes the upload.
fn record_chunk(h: &Handler, stored: Stored) -> Result<Response, Failure> {
    let (id, chunk) = match stored {
        Stored::Complete(record) => return Ok(success(&record)),
        Stored::Duplicate(id) => match h.spool.lookup(&id).map_err(Failure::from)? {
            Entry::Incoming(r) | Entry::Complete(r) => return Ok(success(&r)),
            Entry::Absent => {
                return Err(reset(
                    "the upload was removed while this part arrived; start again",
                ));
            }
        },
        Stored::Written(id, chunk) => (id, chunk),
    };
    let lock = h.spool.lock(&id).map_err(Failure::from)?;
    match lock.entry().map_err(Failure::from)? {
        Entry::Incoming(mut record) => {
            if let Some(why) = conflict(&record, &chunk) {
                return Err(reset(why));
            }
            let started = std::time::Instant::now();
            if lock
                .record_part(&mut record, chunk.index, chunk.offset, chunk.size)
                .map_err(Failure::from)?
            {
                super::log_completion("fine-uploader", &id, chunk.total_size, started);
            }
            Ok(success(&record))
        }
        Entry::Complete(record) => Ok(success(&record)),
        Entry::Absent => Err(reset(
            "the upload was removed while this part arrived; start again",
        )),
    }
}

/// `POST` with a raw body: parameters in the query, the body is the file or part.
pub(super) fn upload_raw(h: &Handler, query: Params, request: Request<'_>) -> Response {
    let result = (|| {
        let fields = Fields::new(&query)?;
        fields.id()?;
        let name = fields.name(None)?;
        let mut body = request.body;
        if let Some(chunk) = fields.chunk()? {
            if let Some(len) = request.content_length
                && len != chunk.size
            {
                return Err(malformed(format!(
                    "the body has {len} bytes but qqchunksize is {}",
                    chunk.size
                )));
            }
            let stored = store_chunk(h, &fields, chunk, &name, &mut body)?;
            return record_chunk(h, stored);
        }
        check_limits(h, request.content_length, Some(&name))?;
        let mut scratch = h.spool.scratch().map_err(Failure::from)?;
        let written = scratch
            .write_file(&mut body, h.max_size())
            .map_err(Failure::from)?;
        if written.overflow {
            return Err(too_large(written.len + 1, h.max_size()));
        }
        let mime = request.headers.text("x-mime-type");
        finish_whole(h, &fields, scratch, written.len, None, mime.as_deref())
    })();
    result.unwrap_or_else(render)
}

/// `POST ?done`: the chunking-success request (B.6).
pub(super) fn done(h: &Handler, query: &Params, mut request: Request<'_>) -> Response {
    let result = (|| {
        let mut bytes = Vec::new();
        (&mut request.body)
            .take(MAX_FORM_BODY + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| malformed(e.to_string()))?;
        if bytes.len() as u64 > MAX_FORM_BODY {
            return Err(invalid("the success request body is too large"));
        }
        let ct = request
            .headers
            .text("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = if ct.starts_with("application/json") {
            Params::from_json(&bytes)
                .ok_or_else(|| invalid("the success request body is not a JSON object"))?
        } else {
            Params::parse(&bytes)
        };
        let mut fields = Fields::new(query)?;
        for (k, v) in body.iter() {
            fields.add(k.to_owned(), v.to_owned())?;
        }
        let id = fields.id()?;
        let total_size = fields.number("qqtotalfilesize")?;
        let total_parts = fields.number("qqtotalparts")?;
        let lock = h.spool.lock(&id).map_err(Failure::from)?;
        match lock.entry().map_err(Failure::from)? {
            Entry::Complete(record) => Ok(success(&record)),
            Entry::Incoming(mut record) => {
                let Some(parts) = record.parts.clone() else {
                    return Err(reset("this id is not a chunked Fine Uploader upload"));
                };
                let size = record.size.unwrap_or(0);
                if total_size.is_some_and(|s| s != size)
                    || total_parts.is_some_and(|p| p != parts.total)
                {
                    return Err(reset(
                        "the success request does not match the upload's size or part count",
                    ));
                }
                if !parts.tile(size) {
                    let missing: Vec<String> = (0..parts.total)
                        .filter(|i| !parts.stored.contains_key(i))
                        .take(10)
                        .map(|i| i.to_string())
                        .collect();
                    return Err(reset(format!(
                        "parts are missing or inconsistent (missing: {}); send every part again",
                        if missing.is_empty() {
                            "none, but they do not fit".to_owned()
                        } else {
                            missing.join(", ")
                        }
                    )));
                }
                let started = std::time::Instant::now();
                lock.complete(&mut record).map_err(Failure::from)?;
                super::log_completion("fine-uploader", &id, size, started);
                Ok(success(&record))
            }
            Entry::Absent if total_parts == Some(0) && total_size == Some(0) => {
                // An empty file: the client sends no part at all.
                let name = fields.name(None)?;
                check_limits(h, Some(0), Some(&name))?;
                let mut record = Record::new(&id, Protocol::FineUploader);
                record.media_type = Some(guess_type(&name).to_owned());
                record.name = Some(name);
                record.size = Some(0);
                record.metadata = fields.metadata();
                record.parts = Some(Parts {
                    total: 0,
                    stored: Default::default(),
                });
                lock.create(&mut record).map_err(Failure::from)?;
                lock.complete(&mut record).map_err(Failure::from)?;
                Ok(success(&record))
            }
            Entry::Absent => Err(reset(
                "the server has no record of this upload; start again",
            )),
        }
    })();
    result.unwrap_or_else(render)
}

/// Delete by id (B.7).
pub(super) fn delete(h: &Handler, id_text: &str) -> Response {
    let result = (|| {
        let id =
            Id::parse(id_text).map_err(|e| invalid(format!("invalid upload id to delete: {e}")))?;
        let lock = h.spool.lock(&id).map_err(Failure::from)?;
        if let Some(record) = lock.remove().map_err(Failure::from)? {
            log::info(format_args!("fine-uploader: deleted upload {id}"));
            h.terminated(&record)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"success": true, "uuid": id.as_str()}),
            ))
        } else {
            Err(Failure::new(
                Kind::NotFound,
                "there is no upload with this id",
            ))
        }
    })();
    result.unwrap_or_else(render)
}

/// `GET ?session&ids=a,b`: the complete uploads among the ids (B.11).
pub(super) fn session(h: &Handler, query: &Params) -> Response {
    let ids: Vec<Id> = query
        .get("ids")
        .unwrap_or("")
        .split(',')
        .filter_map(|s| Id::parse(s.trim()).ok())
        .take(1000)
        .collect();
    match h.spool.complete_records(&ids) {
        Ok(records) => {
            let list: Vec<Value> = records
                .iter()
                .map(
                    |r| json!({"uuid": r.id, "name": r.name, "size": r.size.unwrap_or(r.received)}),
                )
                .collect();
            json_response(StatusCode::OK, &Value::Array(list))
        }
        Err(e) => render(e.into()),
    }
}
