//! The page `upspool serve` shows at `/`.

use crate::gateway::{Body, Response};

/// A short page saying where the endpoint is and how to point the widgets at it.
pub fn page() -> Response {
    let html = concat!(
        "<!doctype html><meta charset=utf-8><title>upspool</title>",
        "<h1>upspool is running</h1>",
        "<p>The upload endpoint is <code>/upload</code>. Point FilePond's <code>server</code> ",
        "or Fine Uploader's <code>request.endpoint</code> at it.</p>"
    );
    Response::new(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::Bytes(html.as_bytes().to_vec()))
}
