//! The demo site `upspool serve` shows: the page at `/` with FilePond, Fine
//! Uploader and Uppy (tus) side by side, its script, and the widgets' files from
//! their npm packages (`node_modules/`, installed by `npm ci`; never copied into the
//! repository). The page says how to install the widgets when they are missing.

use std::path::PathBuf;

use crate::message::{Body, HeaderValue, Response, StatusCode, header};

const PAGE: &str = include_str!("../web/demo.html");
const SCRIPT: &str = include_str!("../web/demo.js");

/// npm packages whose files the demo may serve. Uppy comes as its own bundle
/// (`uppy.min.mjs`, an ES module the page imports, and `uppy.min.css`).
const PACKAGES: &[&str] = &[
    "filepond/dist/",
    "fine-uploader/fine-uploader/",
    "uppy/dist/",
];

/// The demo site, with the directory holding the npm packages.
pub struct Demo {
    assets: PathBuf,
}

impl Demo {
    pub fn new(assets: PathBuf) -> Demo {
        Demo { assets }
    }

    /// The answer for `path`, if it is one of the demo's.
    pub fn route(&self, path: &str) -> Option<Response> {
        match path {
            "/" | "/index.html" => Some(text(PAGE, "text/html; charset=utf-8")),
            "/demo.js" => Some(text(SCRIPT, "text/javascript; charset=utf-8")),
            _ => {
                let rest = path.strip_prefix("/node_modules/")?;
                if !PACKAGES.iter().any(|p| rest.starts_with(p)) {
                    return None;
                }
                Some(self.asset(rest))
            }
        }
    }

    fn asset(&self, relative: &str) -> Response {
        let bad = relative
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
        let found = if bad {
            Ok(None)
        } else {
            crate::files::open_below(&self.assets, relative)
        };
        match found {
            Ok(Some((file, len))) => {
                let ty = match relative.rsplit('.').next() {
                    // Browsers run a module only when it is served as JavaScript.
                    Some("js" | "mjs") => "text/javascript; charset=utf-8",
                    Some("css") => "text/css; charset=utf-8",
                    Some("gif") => "image/gif",
                    Some("map") => "application/json",
                    _ => "application/octet-stream",
                };
                Response::new(StatusCode::OK)
                    .header(header::CONTENT_TYPE, HeaderValue::from_static(ty))
                    .header(header::CONTENT_LENGTH, len)
                    .header(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=3600"),
                    )
                    .header(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    )
                    .body(Body::File(file, len))
            }
            _ => {
                let mut r = text(
                    "Not installed: run `npm ci` in the upspool directory.\n",
                    "text/plain; charset=utf-8",
                );
                r.status = StatusCode::NOT_FOUND;
                r
            }
        }
    }
}

fn text(body: &'static str, content_type: &'static str) -> Response {
    Response::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, HeaderValue::from_static(content_type))
        .header(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        .body(Body::Bytes(body.as_bytes().to_vec()))
}
