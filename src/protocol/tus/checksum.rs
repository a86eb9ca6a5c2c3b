//! tus's checksum extension (tus.md §11): `Upload-Checksum: <algorithm>
//! <base64 digest>` covers one request's body, computed while the body
//! streams into the spool, never by reading it twice.

use std::io::{self, Read};

use digest::DynDigest;

use super::super::error::{Failure, Kind};
use super::wire::decode_base64;
use crate::message::{HeaderMap, HeaderText};

/// `Tus-Checksum-Algorithm`: sha1 is the protocol's mandatory one.
pub(super) const ALGORITHMS: &str = "sha1,sha256,sha512,md5";

/// A body's expected digest.
pub(super) struct Expected {
    algorithm: &'static str,
    digest: Vec<u8>,
}

impl Expected {
    /// The request's `Upload-Checksum`, if any. An unknown algorithm or a
    /// value that is not `<algorithm> <base64 of a digest of its length>`: 400.
    pub(super) fn from_headers(headers: &HeaderMap) -> Result<Option<Expected>, Failure> {
        let Some(value) = headers.text("upload-checksum") else {
            return Ok(None);
        };
        let bad = |why: String| Failure::new(Kind::Invalid, format!("Upload-Checksum: {why}."));
        let (name, encoded) = value
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("give the algorithm and the base64 digest".into()))?;
        let algorithm = ALGORITHMS
            .split(',')
            .find(|a| *a == name)
            .ok_or_else(|| bad(format!("{name:?} is not one of {ALGORITHMS}")))?;
        let digest = decode_base64(encoded.trim())
            .filter(|d| d.len() == hasher(algorithm).output_size())
            .ok_or_else(|| {
                bad(format!(
                    "the digest is not the base64 of a {algorithm} digest"
                ))
            })?;
        Ok(Some(Expected { algorithm, digest }))
    }

    /// A reader that hashes what passes through it.
    pub(super) fn reader<R: Read>(&self, inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: hasher(self.algorithm),
        }
    }

    /// Whether the bytes read through `reader` have the expected digest: else 460.
    pub(super) fn verify<R>(&self, reader: Hashing<R>) -> Result<(), Failure> {
        if reader.hasher.finalize().as_ref() == self.digest.as_slice() {
            Ok(())
        } else {
            Err(Failure::new(
                Kind::ChecksumMismatch,
                format!(
                    "The body does not match its {} checksum; nothing of it was kept.",
                    self.algorithm
                ),
            ))
        }
    }
}

fn hasher(algorithm: &str) -> Box<dyn DynDigest> {
    match algorithm {
        "sha1" => Box::new(sha1::Sha1::default()),
        "sha256" => Box::new(sha2::Sha256::default()),
        "sha512" => Box::new(sha2::Sha512::default()),
        _ => Box::new(md5::Md5::default()),
    }
}

/// A body read through a hash.
pub(super) struct Hashing<R> {
    inner: R,
    hasher: Box<dyn DynDigest>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderValue;

    fn expected(value: &str) -> Result<Option<Expected>, Failure> {
        let mut h = HeaderMap::new();
        h.append(
            "upload-checksum",
            HeaderValue::try_from(value).expect("a header value"),
        );
        Expected::from_headers(&h)
    }

    fn check(value: &str, body: &[u8]) -> Result<(), Failure> {
        let e = expected(value)?.expect("a checksum");
        let mut r = e.reader(body);
        io::copy(&mut r, &mut io::sink()).expect("read");
        e.verify(r)
    }

    #[test]
    fn the_four_algorithms() {
        // Digests of "hello", base64.
        assert!(check("sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=", b"hello").is_ok());
        assert!(
            check(
                "sha256 LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
                b"hello"
            )
            .is_ok()
        );
        assert!(check(
            "sha512 m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==",
            b"hello"
        )
        .is_ok());
        assert!(check("md5 XUFAKrxLKna5cZ2REBfFkg==", b"hello").is_ok());
        let wrong = check("sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=", b"hellO").unwrap_err();
        assert_eq!(wrong.kind, Kind::ChecksumMismatch);
        assert_eq!(wrong.status().as_u16(), 460);
    }

    #[test]
    fn malformed_values_are_400() {
        for bad in [
            "crc99 AAAA",
            "sha1",
            "sha1 !!!!",
            "sha1 AAAA",
            "SHA1 qvTGHdzF6KLavt4PO0gs2a6pQ00=",
        ] {
            let f = expected(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(f.kind, Kind::Invalid, "{bad}");
        }
    }
}
