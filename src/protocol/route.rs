//! The one route decision: which protocol and which action a request is,
//! as pure functions of what the request says (method, path info, query,
//! headers, a small urlencoded body, and for a multipart `POST` the first
//! part that decides). Every row of interface.md's dispatch table, in the
//! order of fine-uploader.md B.1, is a branch here and nowhere else; a new
//! protocol adds rows, not branches in its neighbours.

use super::params::Params;
use crate::message::{HeaderMap, HeaderText, Method};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `OPTIONS`: CORS preflight or a capability query.
    Options,
    FineUploader(Fu),
    FilePond(Fp),
    /// A request carrying `Tus-Resumable` or `Upload-Draft-Interop-Version`.
    Tus(Tus),
    /// A multipart `POST`: whose it is depends on its fields
    /// ([`form_owner`]); until they are read, a broken body is answered in
    /// the format of `errors`.
    Form {
        errors: Owner,
    },
    /// A method the endpoint does not serve.
    MethodNotAllowed,
}

impl Action {
    /// The protocol and action a request is counted under (metrics).
    pub(crate) fn labels(&self) -> (&'static str, &'static str) {
        match self {
            Action::Options => ("cors", "preflight"),
            Action::FineUploader(Fu::Done) => ("fine-uploader", "done"),
            Action::FineUploader(Fu::Delete(_)) => ("fine-uploader", "delete"),
            Action::FineUploader(Fu::Session) => ("fine-uploader", "session"),
            Action::FineUploader(Fu::UploadRaw) => ("fine-uploader", "upload"),
            Action::Form {
                errors: Owner::FineUploader,
            } => ("fine-uploader", "upload"),
            Action::Form {
                errors: Owner::FilePond,
            } => ("filepond", "process"),
            Action::FilePond(Fp::PostWithoutForm) => ("filepond", "process"),
            Action::FilePond(Fp::Patch) => ("filepond", "patch"),
            Action::FilePond(Fp::Offset(_)) => ("filepond", "offset"),
            Action::FilePond(Fp::Revert) => ("filepond", "revert"),
            Action::FilePond(Fp::Restore(_)) => ("filepond", "restore"),
            Action::FilePond(Fp::Load(_)) => ("filepond", "load"),
            Action::FilePond(Fp::Fetch { .. }) => ("filepond", "fetch"),
            Action::FilePond(_) => ("filepond", "other"),
            Action::Tus(Tus::Create) => ("tus", "create"),
            Action::Tus(Tus::Offset(_)) => ("tus", "offset"),
            Action::Tus(Tus::Append(_)) => ("tus", "append"),
            Action::Tus(Tus::Terminate(_)) => ("tus", "terminate"),
            Action::Tus(Tus::Download(_)) => ("tus", "download"),
            Action::Tus(Tus::MethodNotAllowed) => ("tus", "other"),
            Action::MethodNotAllowed => ("filepond", "other"),
        }
    }
}

/// Fine Uploader's actions (fine-uploader.md Part B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fu {
    /// `POST ?done`: the chunking-success request.
    Done,
    /// Delete by id: the text given (PATH_INFO's last segment or `qquuid`).
    Delete(String),
    /// `GET ?session`: the initial file list.
    Session,
    /// A non-multipart `POST` whose body is the file or part.
    UploadRaw,
}

/// tus's actions (tus.md §2). Ids are the text of PATH_INFO's last
/// segment (empty when there is none), parsed by the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tus {
    /// `POST <endpoint>`: creation (§5).
    Create,
    /// `HEAD <endpoint>/<id>`: the offset query (§6).
    Offset(String),
    /// `PATCH <endpoint>/<id>`, or `POST` with `X-HTTP-Method-Override: PATCH` (§7).
    Append(String),
    /// `DELETE <endpoint>/<id>`, or `POST` with `X-HTTP-Method-Override: DELETE` (§9).
    Terminate(String),
    /// `GET <endpoint>/<id>`: download of a complete upload.
    Download(String),
    /// Any other method, or a `POST` to an id without an override.
    MethodNotAllowed,
}

/// FilePond's actions (filepond.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fp {
    /// A `POST` without a form: a transfer start with `Upload-Length`.
    PostWithoutForm,
    /// `PATCH ?patch=<id>`.
    Patch,
    /// `HEAD ?patch=<id>`: the offset query.
    Offset(String),
    /// `DELETE` with the id as body.
    Revert,
    Restore(String),
    Load(String),
    Fetch {
        url: String,
        head: bool,
    },
    /// A `GET`/`HEAD` naming no action.
    NoAction,
}

/// The protocol a multipart form belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    FineUploader,
    FilePond,
}

/// The request as far as routing reads it.
pub(crate) struct Head<'a> {
    pub method: &'a Method,
    pub path_info: &'a str,
    pub query: &'a Params,
    pub headers: &'a HeaderMap,
    /// The pairs of a small urlencoded body, when one was read (empty else).
    pub form: &'a Params,
}

/// Whether a `POST` body may hold `_method=DELETE` (B.1 rule 4): it has no
/// type, or a form or text type. Only then is a small body read for routing.
pub(crate) fn body_may_hold_fields(headers: &HeaderMap) -> bool {
    let ct = headers
        .text("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    ct.is_empty()
        || ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("text/plain")
}

/// The route decision (fine-uploader.md B.1, interface.md's table).
pub(crate) fn route(head: &Head<'_>) -> Action {
    let query = head.query;
    let method = head.method;
    if *method == Method::OPTIONS {
        // The preflight and tus discovery share one answer (tus.md §2, §4).
        return Action::Options;
    }
    if is_tus(head.headers) {
        return Action::Tus(tus_action(method, head.path_info, head.headers));
    }
    if *method == Method::POST {
        if query.has("done") {
            return Action::FineUploader(Fu::Done);
        }
        if let Some(id) = post_delete(head) {
            return Action::FineUploader(Fu::Delete(id));
        }
        if head.headers.media_type_is("multipart/form-data") {
            return Action::Form {
                errors: form_errors_owner(query, head.headers),
            };
        }
        if query.has("qqfile") || query.has("qquuid") {
            return Action::FineUploader(Fu::UploadRaw);
        }
        return Action::FilePond(Fp::PostWithoutForm);
    }
    if *method == Method::DELETE {
        return match last_segment(head.path_info) {
            Some(segment) => Action::FineUploader(Fu::Delete(segment.to_owned())),
            None => Action::FilePond(Fp::Revert),
        };
    }
    if *method == Method::GET && query.has("session") {
        return Action::FineUploader(Fu::Session);
    }
    if *method == Method::GET || *method == Method::HEAD {
        let head_request = *method == Method::HEAD;
        return Action::FilePond(
            if let Some(id) = query.get("patch").filter(|_| head_request) {
                Fp::Offset(id.to_owned())
            } else if let Some(id) = query.get("restore") {
                Fp::Restore(id.to_owned())
            } else if let Some(source) = query.get("load") {
                Fp::Load(source.to_owned())
            } else if let Some(url) = query.get("fetch") {
                Fp::Fetch {
                    url: url.to_owned(),
                    head: head_request,
                }
            } else if let (false, Some(id)) = (head_request, last_segment(head.path_info)) {
                // A plain link to a tus upload's URL (`Location`) downloads
                // it, as tusd's does: browsers send no tus header on a GET.
                return Action::Tus(Tus::Download(id.to_owned()));
            } else {
                Fp::NoAction
            },
        );
    }
    if *method == Method::PATCH {
        return Action::FilePond(Fp::Patch);
    }
    Action::MethodNotAllowed
}

/// tus.md §2: a request is tus when it carries either header, before every
/// widget rule.
pub(super) fn is_tus(headers: &HeaderMap) -> bool {
    headers.contains_key("tus-resumable") || headers.contains_key("upload-draft-interop-version")
}

/// tus.md §2's table (`OPTIONS` is decided before).
fn tus_action(method: &Method, path_info: &str, headers: &HeaderMap) -> Tus {
    let id = last_segment(path_info).unwrap_or("").to_owned();
    let mut method = method.clone();
    if method == Method::POST
        && let Some(over) = headers.text("x-http-method-override")
    {
        match over.trim().to_ascii_uppercase().as_str() {
            "PATCH" => method = Method::PATCH,
            "DELETE" => method = Method::DELETE,
            _ => return Tus::MethodNotAllowed,
        }
    }
    match method {
        Method::POST if id.is_empty() => Tus::Create,
        Method::HEAD => Tus::Offset(id),
        Method::PATCH => Tus::Append(id),
        Method::DELETE => Tus::Terminate(id),
        Method::GET => Tus::Download(id),
        _ => Tus::MethodNotAllowed,
    }
}

/// The last segment of a non-empty PATH_INFO (`/<uuid>`).
fn last_segment(path_info: &str) -> Option<&str> {
    if path_info.is_empty() {
        return None;
    }
    path_info.rsplit('/').next()
}

/// B.1 rule 4: a `POST` asking for a delete with `_method=DELETE`, in the
/// query or a small urlencoded body; the id text to delete.
fn post_delete(head: &Head<'_>) -> Option<String> {
    let wants_delete = |p: &Params| {
        p.get("_method")
            .is_some_and(|m| m.eq_ignore_ascii_case("DELETE"))
    };
    if !wants_delete(head.query) && !wants_delete(head.form) {
        return None;
    }
    Some(match last_segment(head.path_info) {
        Some(segment) => segment.to_owned(),
        None => head
            .form
            .get("qquuid")
            .or(head.query.get("qquuid"))
            .unwrap_or("")
            .to_owned(),
    })
}

/// Whose format a multipart body's errors take before its fields decide:
/// Fine Uploader's when the query has `qq*` parameters or the request
/// carries its `X-Requested-With`.
fn form_errors_owner(query: &Params, headers: &HeaderMap) -> Owner {
    if query.iter().any(|(k, _)| k.starts_with("qq")) || headers.contains_key("x-requested-with") {
        Owner::FineUploader
    } else {
        Owner::FilePond
    }
}

/// Whether a part decides a form's owner: a `qq*` field, a file, or one of
/// FilePond's configured fields. Custom fields before it are read as text.
pub(crate) fn part_decides(name: &str, is_file: bool, is_filepond_field: bool) -> bool {
    name.starts_with("qq") || is_file || is_filepond_field
}

/// B.1 rule 5: a multipart `POST` is Fine Uploader's when the query has
/// `qquuid` or the deciding part's name starts with `qq`; else FilePond's.
pub(crate) fn form_owner(query: &Params, deciding_part: Option<&str>) -> Owner {
    if query.has("qquuid") || deciding_part.is_some_and(|n| n.starts_with("qq")) {
        Owner::FineUploader
    } else {
        Owner::FilePond
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(
        method: &str,
        path_info: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Action {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let query = Params::parse(query.as_bytes());
        let form = Params::parse(body.as_bytes());
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            crate::message::append_header(&mut map, n, v.as_bytes()).unwrap();
        }
        route(&Head {
            method: &method,
            path_info,
            query: &query,
            headers: &map,
            form: &form,
        })
    }

    const MULTIPART: (&str, &str) = ("content-type", "multipart/form-data; boundary=x");

    #[test]
    fn fine_uploader_multipart_upload() {
        assert_eq!(
            decide("POST", "", "qquuid=a", &[MULTIPART], ""),
            Action::Form {
                errors: Owner::FineUploader
            }
        );
        assert_eq!(
            form_owner(&Params::parse(b"qquuid=a"), None),
            Owner::FineUploader
        );
        assert_eq!(
            form_owner(&Params::default(), Some("qqfile")),
            Owner::FineUploader
        );
        assert_eq!(
            decide(
                "POST",
                "",
                "",
                &[MULTIPART, ("x-requested-with", "XMLHttpRequest")],
                ""
            ),
            Action::Form {
                errors: Owner::FineUploader
            }
        );
    }

    #[test]
    fn fine_uploader_raw_upload() {
        assert_eq!(
            decide(
                "POST",
                "",
                "qqfile=a.txt&qquuid=b",
                &[("content-type", "application/octet-stream")],
                ""
            ),
            Action::FineUploader(Fu::UploadRaw)
        );
    }

    #[test]
    fn fine_uploader_done() {
        assert_eq!(
            decide("POST", "", "done", &[MULTIPART], ""),
            Action::FineUploader(Fu::Done)
        );
    }

    #[test]
    fn fine_uploader_delete() {
        assert_eq!(
            decide("DELETE", "/abc-1", "", &[], ""),
            Action::FineUploader(Fu::Delete("abc-1".into()))
        );
        assert_eq!(
            decide("POST", "/abc-2", "_method=DELETE", &[], ""),
            Action::FineUploader(Fu::Delete("abc-2".into()))
        );
        assert_eq!(
            decide("POST", "", "", &[], "_method=delete&qquuid=abc-3"),
            Action::FineUploader(Fu::Delete("abc-3".into()))
        );
    }

    #[test]
    fn fine_uploader_session() {
        assert_eq!(
            decide("GET", "", "session&ids=a,b", &[], ""),
            Action::FineUploader(Fu::Session)
        );
    }

    #[test]
    fn filepond_process_or_transfer_start() {
        assert_eq!(
            decide("POST", "", "", &[MULTIPART], ""),
            Action::Form {
                errors: Owner::FilePond
            }
        );
        assert_eq!(
            form_owner(&Params::default(), Some("filepond")),
            Owner::FilePond
        );
        assert_eq!(form_owner(&Params::default(), None), Owner::FilePond);
        assert_eq!(
            decide("POST", "", "", &[("upload-length", "5")], ""),
            Action::FilePond(Fp::PostWithoutForm)
        );
    }

    #[test]
    fn filepond_patch_and_offset() {
        assert_eq!(
            decide("PATCH", "", "patch=x", &[], ""),
            Action::FilePond(Fp::Patch)
        );
        assert_eq!(
            decide("HEAD", "", "patch=x", &[], ""),
            Action::FilePond(Fp::Offset("x".into()))
        );
        // A GET with ?patch names no action of FilePond's.
        assert_eq!(
            decide("GET", "", "patch=x", &[], ""),
            Action::FilePond(Fp::NoAction)
        );
    }

    #[test]
    fn filepond_revert() {
        assert_eq!(
            decide("DELETE", "", "", &[], ""),
            Action::FilePond(Fp::Revert)
        );
    }

    #[test]
    fn filepond_restore_load_fetch() {
        assert_eq!(
            decide("GET", "", "restore=x", &[], ""),
            Action::FilePond(Fp::Restore("x".into()))
        );
        assert_eq!(
            decide("GET", "", "load=a/b", &[], ""),
            Action::FilePond(Fp::Load("a/b".into()))
        );
        assert_eq!(
            decide("HEAD", "", "fetch=http://h/x", &[], ""),
            Action::FilePond(Fp::Fetch {
                url: "http://h/x".into(),
                head: true
            })
        );
        assert_eq!(
            decide("GET", "", "", &[], ""),
            Action::FilePond(Fp::NoAction)
        );
    }

    #[test]
    fn options_and_other_methods() {
        assert_eq!(decide("OPTIONS", "", "", &[], ""), Action::Options);
        assert_eq!(decide("PUT", "", "", &[], ""), Action::MethodNotAllowed);
        assert_eq!(decide("BREW", "", "", &[], ""), Action::MethodNotAllowed);
    }

    const TUS: (&str, &str) = ("tus-resumable", "1.0.0");

    #[test]
    fn tus_creation() {
        assert_eq!(
            decide("POST", "", "", &[TUS, ("upload-length", "5")], ""),
            Action::Tus(Tus::Create)
        );
        // The IETF header alone makes a request tus too.
        assert_eq!(
            decide("POST", "", "", &[("upload-draft-interop-version", "6")], ""),
            Action::Tus(Tus::Create)
        );
        // Before Fine Uploader's and FilePond's POST rules.
        assert_eq!(
            decide("POST", "", "qqfile=a&done", &[TUS, MULTIPART], ""),
            Action::Tus(Tus::Create)
        );
        assert_eq!(
            decide("POST", "/abc", "", &[TUS], ""),
            Action::Tus(Tus::MethodNotAllowed)
        );
    }

    #[test]
    fn tus_offset_append_terminate_download() {
        assert_eq!(
            decide("HEAD", "/abc", "patch=x", &[TUS], ""),
            Action::Tus(Tus::Offset("abc".into()))
        );
        assert_eq!(
            decide("PATCH", "/abc", "", &[TUS], ""),
            Action::Tus(Tus::Append("abc".into()))
        );
        assert_eq!(
            decide("DELETE", "/abc", "", &[TUS], ""),
            Action::Tus(Tus::Terminate("abc".into()))
        );
        assert_eq!(
            decide("GET", "/abc", "", &[TUS], ""),
            Action::Tus(Tus::Download("abc".into()))
        );
        assert_eq!(
            decide("HEAD", "", "", &[TUS], ""),
            Action::Tus(Tus::Offset(String::new()))
        );
        assert_eq!(
            decide("PUT", "/abc", "", &[TUS], ""),
            Action::Tus(Tus::MethodNotAllowed)
        );
    }

    #[test]
    fn tus_method_override() {
        assert_eq!(
            decide(
                "POST",
                "/abc",
                "",
                &[TUS, ("x-http-method-override", "PATCH")],
                ""
            ),
            Action::Tus(Tus::Append("abc".into()))
        );
        assert_eq!(
            decide(
                "POST",
                "/abc",
                "",
                &[TUS, ("x-http-method-override", "delete")],
                ""
            ),
            Action::Tus(Tus::Terminate("abc".into()))
        );
        assert_eq!(
            decide(
                "POST",
                "/abc",
                "",
                &[TUS, ("x-http-method-override", "PUT")],
                ""
            ),
            Action::Tus(Tus::MethodNotAllowed)
        );
    }

    #[test]
    fn a_plain_get_of_an_upload_url_is_a_tus_download() {
        assert_eq!(
            decide("GET", "/abc", "", &[], ""),
            Action::Tus(Tus::Download("abc".into()))
        );
        // FilePond's query keys keep their meaning; HEAD without tus
        // headers stays FilePond's.
        assert_eq!(
            decide("GET", "/abc", "restore=x", &[], ""),
            Action::FilePond(Fp::Restore("x".into()))
        );
        assert_eq!(
            decide("HEAD", "/abc", "", &[], ""),
            Action::FilePond(Fp::NoAction)
        );
        assert_eq!(
            decide("GET", "", "", &[], ""),
            Action::FilePond(Fp::NoAction)
        );
    }

    #[test]
    fn tus_options_is_the_shared_answer() {
        assert_eq!(decide("OPTIONS", "", "", &[TUS], ""), Action::Options);
        assert_eq!(decide("OPTIONS", "/abc", "", &[TUS], ""), Action::Options);
    }

    #[test]
    fn without_tus_headers_the_widgets_keep_their_rows() {
        assert_eq!(
            decide("HEAD", "", "patch=abc", &[], ""),
            Action::FilePond(Fp::Offset("abc".into()))
        );
        assert_eq!(
            decide("DELETE", "/abc", "", &[], ""),
            Action::FineUploader(Fu::Delete("abc".into()))
        );
    }

    #[test]
    fn deciding_parts() {
        assert!(part_decides("qqfile", false, false));
        assert!(part_decides("anything", true, false));
        assert!(part_decides("filepond", false, true));
        assert!(!part_decides("custom", false, false));
    }
}
