//! How tus answers look on the wire: which of the two dialects a request
//! speaks (tus 1.0 or the IETF draft, tus.md §3), the headers each answer
//! carries, failures rendered in one place ([`render`]), and the formats
//! of tus's header values (`Upload-Metadata`, base64, dates, structured
//! booleans).

use serde_json::{Map, Value};

use super::super::error::{Failure, Kind};
use super::super::{private, text};
use crate::log;
use crate::message::{
    HeaderMap, HeaderName, HeaderText, HeaderValue, Response, StatusCode, header,
};

/// The one tus 1.0 protocol version spoken.
pub(super) const VERSION: HeaderValue = HeaderValue::from_static("1.0.0");
/// The IETF draft's interop versions spoken (tus.md §3).
const IETF_VERSIONS: std::ops::RangeInclusive<u8> = 3..=6;

pub(super) const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub(super) const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
pub(super) const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub(super) const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub(super) const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
pub(super) const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub(super) const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub(super) const UPLOAD_CONCAT: HeaderName = HeaderName::from_static("upload-concat");
const UPLOAD_COMPLETE: HeaderName = HeaderName::from_static("upload-complete");
const UPLOAD_INCOMPLETE: HeaderName = HeaderName::from_static("upload-incomplete");
const INTEROP_VERSION: HeaderName = HeaderName::from_static("upload-draft-interop-version");

/// Which dialect a request speaks (tus.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    /// tus 1.0: `Tus-Resumable: 1.0.0`.
    Tus1,
    /// The IETF draft at this interop version (3–6; 0 for one not spoken,
    /// whose refusal echoes none).
    Ietf(u8),
}

impl Wire {
    /// §3: `Tus-Resumable: 1.0.0`, else 412 with `Tus-Version`; without
    /// it, `Upload-Draft-Interop-Version` 3–6, else 400.
    pub(super) fn of(headers: &HeaderMap) -> Result<Wire, (Failure, Wire)> {
        if let Some(v) = headers.text("tus-resumable") {
            return match v.trim() {
                "1.0.0" => Ok(Wire::Tus1),
                other => Err((
                    Failure::new(
                        Kind::PreconditionFailed,
                        format!(
                            "tus version {other:?} is not supported; this server speaks 1.0.0."
                        ),
                    ),
                    Wire::Tus1,
                )),
            };
        }
        let text = headers
            .text("upload-draft-interop-version")
            .unwrap_or_default();
        match text.trim().parse::<u8>() {
            Ok(v) if IETF_VERSIONS.contains(&v) => Ok(Wire::Ietf(v)),
            _ => Err((
                Failure::new(
                    Kind::Invalid,
                    format!(
                        "Upload-Draft-Interop-Version {:?} is not supported; this server speaks 3, 4, 5 and 6 (and tus 1.0.0).",
                        text.trim()
                    ),
                ),
                Wire::Ietf(0),
            )),
        }
    }

    /// The version header every answer in this dialect carries.
    pub(super) fn stamp(self, response: &mut Response) {
        match self {
            Wire::Tus1 => response.set_header(TUS_RESUMABLE, VERSION),
            Wire::Ietf(v) if IETF_VERSIONS.contains(&v) => {
                response.set_header(INTEROP_VERSION, u16::from(v))
            }
            Wire::Ietf(_) => {}
        }
    }

    /// A success answer without a body.
    pub(super) fn ok(self, status: StatusCode) -> Response {
        let mut r = private(Response::new(status));
        self.stamp(&mut r);
        r
    }

    /// The IETF request's completion flag: `Upload-Complete: ?1` (versions
    /// 4–6) or `Upload-Incomplete: ?0` (version 3, inverted). `None` when
    /// absent or for tus 1.0; a value that is not a structured boolean is a 400.
    pub(super) fn completes(self, headers: &HeaderMap) -> Result<Option<bool>, Failure> {
        let (name, inverted) = match self {
            Wire::Tus1 => return Ok(None),
            Wire::Ietf(3) => ("upload-incomplete", true),
            Wire::Ietf(_) => ("upload-complete", false),
        };
        match headers.text(name).as_deref().map(str::trim) {
            None => Ok(None),
            Some("?1") => Ok(Some(!inverted)),
            Some("?0") => Ok(Some(inverted)),
            Some(_) => Err(Failure::new(
                Kind::Invalid,
                format!("{name} must be ?0 or ?1."),
            )),
        }
    }

    /// Tells an IETF client whether the upload is complete (nothing for tus 1.0).
    pub(super) fn set_complete(self, response: &mut Response, complete: bool) {
        let flag = |b: bool| HeaderValue::from_static(if b { "?1" } else { "?0" });
        match self {
            Wire::Tus1 => {}
            Wire::Ietf(3) => response.set_header(UPLOAD_INCOMPLETE, flag(!complete)),
            Wire::Ietf(_) => response.set_header(UPLOAD_COMPLETE, flag(complete)),
        }
    }
}

/// Renders a failure as tus clients read it (§13): the status, one
/// sentence, the dialect's version header, the stored offset on a 409,
/// `Tus-Version` on a 412.
pub(super) fn render(failure: Failure, wire: Wire) -> Response {
    let message = failure.sentence();
    log::warn(format_args!("tus: {} {message}", failure.status().as_u16()));
    let mut r = text(failure.status(), message);
    wire.stamp(&mut r);
    if let Some(offset) = failure.offset {
        r.set_header(UPLOAD_OFFSET, offset);
    }
    match failure.kind {
        Kind::PreconditionFailed => r.set_header(TUS_VERSION, VERSION),
        Kind::MethodNotAllowed => r.set_header(header::ALLOW, super::super::cors::METHODS),
        _ => {}
    }
    r
}

/// §5 `Upload-Metadata`: comma-separated `key base64value` pairs.
pub(super) fn parse_metadata(text: &str) -> Result<Map<String, Value>, Failure> {
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
pub(super) fn decode_base64(text: &str) -> Option<Vec<u8>> {
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

/// Unix seconds as an RFC 9110 IMF-fixdate (`Wed, 25 Jun 2014 16:00:00 GMT`).
pub(super) fn http_date(secs: u64) -> String {
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn dialects() {
        assert_eq!(
            Wire::of(&headers(&[("tus-resumable", "1.0.0")])).unwrap(),
            Wire::Tus1
        );
        let (f, _) = Wire::of(&headers(&[("tus-resumable", "0.2.2")])).unwrap_err();
        assert_eq!(f.kind, Kind::PreconditionFailed);
        for v in ["3", "4", "5", "6"] {
            let w = Wire::of(&headers(&[("upload-draft-interop-version", v)])).unwrap();
            assert_eq!(w, Wire::Ietf(v.parse().unwrap()));
        }
        let (f, w) = Wire::of(&headers(&[("upload-draft-interop-version", "99")])).unwrap_err();
        assert_eq!((f.kind, w), (Kind::Invalid, Wire::Ietf(0)));
        assert!(f.sentence().contains("3, 4, 5 and 6"));
    }

    #[test]
    fn completion_flags() {
        let v3 = Wire::Ietf(3);
        let v6 = Wire::Ietf(6);
        assert_eq!(
            v6.completes(&headers(&[("upload-complete", "?1")]))
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            v6.completes(&headers(&[("upload-complete", "?0")]))
                .unwrap(),
            Some(false)
        );
        assert_eq!(
            v3.completes(&headers(&[("upload-incomplete", "?0")]))
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            v3.completes(&headers(&[("upload-incomplete", "?1")]))
                .unwrap(),
            Some(false)
        );
        assert!(
            v6.completes(&headers(&[("upload-complete", "yes")]))
                .is_err()
        );
        assert_eq!(
            Wire::Tus1
                .completes(&headers(&[("upload-complete", "?1")]))
                .unwrap(),
            None
        );
    }
}
