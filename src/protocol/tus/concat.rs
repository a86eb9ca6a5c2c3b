//! tus's concatenation extension (tus.md §10): a final upload assembled
//! from complete partial uploads, in the order listed, by the kernel
//! (`copy_file_range`, reflinks where the filesystem has them); the
//! partials are removed once the final upload is complete.

use std::fs::File;
use std::io::Read;

use super::super::error::{Failure, Kind};
use super::{Handler, Wire, describe, location, mint, too_large};
use crate::log;
use crate::message::{Request, Response, StatusCode, header};
use crate::spool::{Entry, Id, Installed, Protocol, Record};

/// `POST` with `Upload-Concat: final;<url> <url> …` (`text` as received).
pub(super) fn final_upload(
    h: &Handler,
    wire: Wire,
    text: &str,
    request: Request<'_>,
) -> Result<Response, Failure> {
    if request.headers.contains_key("upload-length") {
        return Err(Failure::new(
            Kind::Invalid,
            "A final upload takes its length from its partial uploads: no Upload-Length.",
        ));
    }
    // A body of unknown length (chunked) counts too, as soon as it has a byte.
    let mut request = request;
    let has_body = match request.content_length {
        Some(n) => n > 0,
        None => matches!(request.body.read(&mut [0u8; 1]), Ok(n) if n > 0),
    };
    if has_body {
        return Err(Failure::new(
            Kind::Forbidden,
            "A final upload takes no bytes of its own.",
        ));
    }
    let ids = partial_ids(text)?;
    let described = describe(h, &request.headers, wire, false)?;
    // The partials' data, opened: each stays readable whatever happens to
    // its entry while the final upload is assembled.
    let mut files: Vec<File> = Vec::with_capacity(ids.len());
    let mut total = 0u64;
    for id in &ids {
        let (record, file) = partial(h, id)?;
        total = total.saturating_add(record.size.unwrap_or(record.received));
        files.push(file);
    }
    if total > h.max_size() {
        return Err(too_large(h, total));
    }
    let id = mint()?;
    let location = location(&request.script_name, &id)?;
    let started = std::time::Instant::now();
    let mut scratch = h.spool.scratch().map_err(Failure::from)?;
    let assembled = scratch.assemble(&files).map_err(Failure::from)?;
    if assembled != total {
        return Err(Failure::new(
            Kind::Conflict,
            "A partial upload changed while the final upload was assembled.",
        ));
    }
    let mut record = Record::new(&id, Protocol::Tus);
    record.name = described.name;
    record.media_type = Some(described.media_type);
    record.metadata = described.metadata;
    record.upload_metadata = described.raw;
    record.size = Some(total);
    record.received = total;
    record.concat = Some(text.to_owned());
    let lock = h.spool.lock(&id).map_err(Failure::from)?;
    let record = match lock.install(scratch, &mut record).map_err(Failure::from)? {
        Installed::New(r) | Installed::Kept(r) => r,
    };
    drop(lock);
    super::super::log_completion("tus", &id, total, started);
    // The final upload is complete: its partials are no longer needed.
    for part in &ids {
        if let Ok(lock) = h.spool.lock(part)
            && let Ok(Entry::Complete(r)) = lock.entry()
            && r.partial
        {
            let _ = lock.remove();
        }
    }
    // The last close of a removed partial frees its blocks, which takes
    // tens of milliseconds for a large file on some filesystems: not on
    // the request's time. (A CGI process that exits first closes them in
    // exit, after its answer is out.)
    std::thread::spawn(move || drop(files));
    log::info(format_args!(
        "tus: final upload {id} assembled from {} partial uploads",
        ids.len()
    ));
    let mut r = wire
        .ok(StatusCode::CREATED)
        .header(header::LOCATION, location)
        .header(super::UPLOAD_OFFSET, record.received);
    wire.set_complete(&mut r, true);
    Ok(r)
}

/// The ids in `final;<url> <url> …`: each URL's (or path's) last segment.
fn partial_ids(text: &str) -> Result<Vec<Id>, Failure> {
    let list = text.strip_prefix("final;").unwrap_or(text);
    let mut ids = Vec::new();
    for url in list.split_ascii_whitespace() {
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let segment = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let id = Id::parse(segment).map_err(|_| unknown(url))?;
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(Failure::new(
            Kind::Invalid,
            "Upload-Concat: final; lists no partial uploads.",
        ));
    }
    Ok(ids)
}

fn unknown(url: &str) -> Failure {
    Failure::new(
        Kind::NotFound,
        format!("There is no partial upload at {url:?}."),
    )
}

/// A complete partial upload's record and data: unknown 404; incomplete
/// or not partial 400 (`concatenation-unfinished` is not offered).
fn partial(h: &Handler, id: &Id) -> Result<(Record, File), Failure> {
    if let Some((record, file)) = h.spool.open_complete(id).map_err(Failure::from)?
        && record.protocol == Protocol::Tus
    {
        if !record.partial {
            return Err(Failure::new(
                Kind::Invalid,
                format!("Upload {id} is not a partial upload."),
            ));
        }
        return Ok((record, file));
    }
    match h.spool.lookup(id).map_err(Failure::from)? {
        Entry::Incoming(r) if r.protocol == Protocol::Tus && r.partial => Err(Failure::new(
            Kind::Invalid,
            format!("Partial upload {id} is not complete yet."),
        )),
        Entry::Incoming(r) if r.protocol == Protocol::Tus => Err(Failure::new(
            Kind::Invalid,
            format!("Upload {id} is not a partial upload."),
        )),
        _ => Err(unknown(id.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_last_segments() {
        let ids = partial_ids(
            "final;http://x.test/up/0123456789abcdef0123456789abcdef /up/fedcba9876543210fedcba9876543210?x=1",
        )
        .unwrap();
        assert_eq!(ids[0].as_str(), "0123456789abcdef0123456789abcdef");
        assert_eq!(ids[1].as_str(), "fedcba9876543210fedcba9876543210");
        assert_eq!(partial_ids("final;").unwrap_err().kind, Kind::Invalid);
        assert_eq!(
            partial_ids("final;/up/..").unwrap_err().kind,
            Kind::NotFound
        );
    }
}
