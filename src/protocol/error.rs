//! The protocol layer's one error type and its one table of statuses.
//!
//! Every way a request can fail is a [`Kind`]; [`Kind::status`] is the only
//! place a failure gets its HTTP status, and `From` conversions turn the
//! spool's and the multipart reader's errors into failures once, for every
//! protocol. Each protocol renders a [`Failure`] in its own wire format in
//! one function (Fine Uploader: JSON with `preventRetry`/`reset`; FilePond:
//! status and one sentence), as tusd keeps its `Err…` table and rustls maps
//! its typed errors to the wire in one `impl`.

use std::borrow::Cow;

use super::multipart::MultipartError;
use crate::log;
use crate::message::StatusCode;
use crate::spool::{SpoolError, WriteError};

/// tus's checksum extension's own status (no RFC names it).
const CHECKSUM_MISMATCH: StatusCode = match StatusCode::from_u16(460) {
    Ok(s) => s,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// What went wrong, as far as the client is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The request is wrong in a way the same request cannot fix (a bad id,
    /// parameters, a missing file part).
    Invalid,
    /// The body is broken or cut short: the same request may succeed.
    Malformed,
    /// Not allowed here (a disabled feature, a refused origin or address).
    Forbidden,
    /// No such upload or file.
    NotFound,
    /// A method the endpoint does not serve.
    MethodNotAllowed,
    /// The request contradicts the upload's state; the client can resume.
    Conflict,
    /// The client must forget its progress and send the upload again.
    Reset,
    /// The id already holds a different, finished upload.
    Taken,
    /// Larger than a configured limit.
    TooLarge,
    /// A file type or extension that is not accepted.
    TypeRefused,
    /// Another request holds the upload's lock.
    Busy,
    /// The spool's filesystem is full.
    Full,
    /// Any other failure to store or read (details go to the log only).
    Storage,
    /// A precondition header is not met (tus: an unsupported `Tus-Resumable`).
    PreconditionFailed,
    /// A remote server (FilePond `?fetch=`) failed or could not be reached.
    BadGateway,
    /// The upload existed but has expired (tus: past `Upload-Expires`).
    Gone,
    /// Another request is writing the upload (tus: 423, which clients retry).
    Locked,
    /// The body does not match its `Upload-Checksum` (tus: 460).
    ChecksumMismatch,
    /// A remote server did not answer in time.
    GatewayTimeout,
    /// No valid upload token (issue 16).
    Unauthorized,
    /// Smaller than `min_size`.
    TooSmall,
    /// A pre-create hook refused, with its status (or failed: 500).
    Hook(u16),
}

impl Kind {
    /// The one table of statuses.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Kind::Invalid | Kind::Malformed => StatusCode::BAD_REQUEST,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict | Kind::Reset | Kind::Taken => StatusCode::CONFLICT,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::TypeRefused => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Kind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Kind::Full => StatusCode::INSUFFICIENT_STORAGE,
            Kind::Storage => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::BadGateway => StatusCode::BAD_GATEWAY,
            Kind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Kind::Gone => StatusCode::GONE,
            Kind::Locked => StatusCode::LOCKED,
            Kind::ChecksumMismatch => CHECKSUM_MISMATCH,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::TooSmall => StatusCode::BAD_REQUEST,
            Kind::Hook(n) => match StatusCode::from_u16(n) {
                Ok(s) if s.is_client_error() || s.is_server_error() => s,
                _ => StatusCode::FORBIDDEN,
            },
        }
    }

    /// Whether sending the same request again cannot help (Fine Uploader's
    /// `preventRetry`).
    pub(crate) fn is_final(self) -> bool {
        match self {
            Kind::Invalid
            | Kind::TooLarge
            | Kind::TypeRefused
            | Kind::Taken
            | Kind::Unauthorized
            | Kind::TooSmall => true,
            Kind::Hook(_) => self.status().is_client_error(),
            _ => false,
        }
    }
}

/// A failed request: its kind, the sentence the client sees (`None`: the
/// protocol's own words for the kind, for storage failures whose details
/// stay in the log), and for FilePond the offset the transfer is at.
#[derive(Debug)]
pub(crate) struct Failure {
    pub kind: Kind,
    pub message: Option<Cow<'static, str>>,
    pub offset: Option<u64>,
}

impl Failure {
    pub(crate) fn new(kind: Kind, message: impl Into<Cow<'static, str>>) -> Failure {
        Failure {
            kind,
            message: Some(message.into()),
            offset: None,
        }
    }

    /// A failure that tells the client where the upload is.
    pub(crate) fn at_offset(mut self, offset: u64) -> Failure {
        self.offset = Some(offset);
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The sentence a client is shown (FilePond, tus): the failure's own,
    /// else plain words for the storage kinds, whose details stay in the log.
    pub(crate) fn sentence(&self) -> &str {
        match &self.message {
            Some(m) => m,
            None => match self.kind {
                Kind::Full => "The server has no space left for uploads.",
                Kind::Busy => "The upload is busy with another request; try again.",
                _ => "The server could not store the upload.",
            },
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sentence())
    }
}

/// A failure travels through the spool as a gate's refusal.
impl std::error::Error for Failure {}

/// Spool errors are the server's, never the client's: the details go to the
/// log here, once, and the client learns only the kind. Two are the
/// client's: another owner's upload, and a refusal by the request's own
/// gate (a hook, a type or size check), which is a `Failure` already.
impl From<SpoolError> for Failure {
    fn from(e: SpoolError) -> Failure {
        let kind = match e {
            SpoolError::NotYours => {
                return Failure::new(
                    Kind::Forbidden,
                    "This upload was started with another user's token.",
                );
            }
            SpoolError::Refused(why) => {
                return match why.downcast::<Failure>() {
                    Ok(f) => {
                        log::warn(format_args!("refused an upload: {}", f.sentence()));
                        *f
                    }
                    Err(other) => Failure::new(Kind::Forbidden, other.to_string()),
                };
            }
            SpoolError::Full => Kind::Full,
            SpoolError::Busy => Kind::Busy,
            SpoolError::Gone => {
                return Failure::new(Kind::NotFound, "The upload was removed meanwhile.");
            }
            _ => Kind::Storage,
        };
        log::error(format_args!("spool: {e}"));
        Failure {
            kind,
            message: None,
            offset: None,
        }
    }
}

/// Copying a request body into the spool: a broken body is the client's,
/// the rest the spool's.
impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Failure {
        match e {
            WriteError::Source(e) => Failure::new(Kind::Malformed, e.to_string()),
            WriteError::Spool(e) => e.into(),
        }
    }
}

/// A body that cannot be parsed is broken, not wrong: a retry may succeed.
/// Where a limit has its own answer (FilePond's metadata part), the caller
/// matches [`MultipartError::FieldTooLong`] first.
impl From<MultipartError> for Failure {
    fn from(e: MultipartError) -> Failure {
        Failure::new(Kind::Malformed, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_errors_map_once() {
        assert_eq!(
            Failure::from(SpoolError::Busy).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Failure::from(SpoolError::Full).status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
        assert!(Failure::from(SpoolError::Full).message.is_none());
    }

    #[test]
    fn a_broken_body_may_be_retried() {
        let f = Failure::from(MultipartError::Truncated);
        assert_eq!(f.kind, Kind::Malformed);
        assert!(!f.kind.is_final());
        assert_eq!(f.status(), StatusCode::BAD_REQUEST);
    }
}
