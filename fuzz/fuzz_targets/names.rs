//! Id and file-name validation, and the media types derived from names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upspool::protocol::names::{clean_name, extension_allowed, normalize_type, stored_type};
use upspool::Id;

fuzz_target!(|data: &[u8]| {
    let name = clean_name(data);
    assert!(!name.is_empty() && name.len() <= 255, "{name:?}");
    // The rule removes C0 controls and DEL (U+0000–U+001F, U+007F); C1
    // controls (U+0080–U+009F) are ordinary characters to it.
    assert!(!name.contains(['/', '\\']) && !name.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}'), "{name:?}");
    assert!(name != "." && name != "..");
    let _ = extension_allowed(&["txt".to_owned()], &name);
    let text = String::from_utf8_lossy(data);
    if let Ok(id) = Id::parse(&text) {
        assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(!id.lock_name().is_empty());
    }
    let _ = normalize_type(&text);
    let _ = stored_type(Some(&text), &name);
    let _ = upspool::protocol::multipart::boundary(&text);
});
