//! File names and types: the one cleaning rule of the whole binary, the
//! extension allow-list and the media types stored and served.
//!
//! A cleaned name is metadata only; no path is ever built from it.

/// Longest stored name, in bytes of UTF-8.
const MAX_NAME: usize = 255;

/// Cleans a client-supplied file name (fine-uploader.md B.2, filepond.md §2.6):
/// last `/` or `\` component, control characters removed, outer white space
/// trimmed, at most 255 bytes keeping the extension, `blob` if nothing is left.
pub fn clean_name(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let last = text.rsplit(['/', '\\']).next().unwrap_or("");
    let kept: String = last
        .chars()
        .filter(|c| !matches!(*c, '\u{0}'..='\u{1f}' | '\u{7f}'))
        .collect();
    let mut name = kept.trim().to_owned();
    if name.len() > MAX_NAME {
        name = shorten(&name);
    }
    if name.is_empty() || name == "." || name == ".." {
        return "blob".to_owned();
    }
    name
}

/// Cuts a long name to `MAX_NAME` bytes on a character boundary, keeping a
/// reasonable extension.
fn shorten(name: &str) -> String {
    let ext = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 32 => &name[dot..],
        _ => "",
    };
    let stem = &name[..name.len() - ext.len()];
    let mut cut = MAX_NAME - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", stem[..cut].trim_end(), ext)
}

/// The extension of a cleaned name: the text after its last `.`, lowercased;
/// empty when there is no dot.
pub fn extension(name: &str) -> String {
    match name.rfind('.') {
        Some(dot) => name[dot + 1..].to_lowercase(),
        None => String::new(),
    }
}

/// True when `allowed` is empty or lists the name's extension.
pub fn extension_allowed(allowed: &[String], name: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let ext = extension(name);
    !ext.is_empty() && allowed.contains(&ext)
}

/// A declared media type reduced to a lowercase `type/subtype`, if valid.
pub fn normalize_type(declared: &str) -> Option<String> {
    let essence = declared.split(';').next()?.trim().to_ascii_lowercase();
    let (ty, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(ty) && token(sub)).then_some(essence)
}

/// The stored type: the declared one when valid and specific, else a guess
/// from the extension, else `application/octet-stream`.
pub fn stored_type(declared: Option<&str>, name: &str) -> String {
    match declared.and_then(normalize_type) {
        Some(t) if t != "application/octet-stream" => t,
        _ => guess_type(name).to_owned(),
    }
}

/// The media type commonly used for a name's extension.
pub fn guess_type(name: &str) -> &'static str {
    match extension(name).as_str() {
        "txt" | "text" | "log" | "csv" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "bmp" => "image/bmp",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_follows_the_rule() {
        let cases: &[(&[u8], &str)] = &[
            (b"../../../evil-T.txt", "evil-T.txt"),
            (b"/tmp/conf-fu-abs-T.txt", "conf-fu-abs-T.txt"),
            (b"..\\..\\..\\evil-T.txt", "evil-T.txt"),
            (b"C:\\Users\\me\\old-ie.txt", "old-ie.txt"),
            (b"..", "blob"),
            (b".", "blob"),
            (b"/", "blob"),
            (b"dir/", "blob"),
            (b"..\\", "blob"),
            (b"   ", "blob"),
            (b"shell.php\0.txt", "shell.php.txt"),
            (b"a\r\nSet-Cookie: x.txt", "aSet-Cookie: x.txt"),
            (b"tab\there\x7f.txt", "tabhere.txt"),
            (b"  padded.txt \t", "padded.txt"),
            ("Grüße 日本.txt".as_bytes(), "Grüße 日本.txt"),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_name(raw), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    /// Regression from fuzzing (fuzz/artifacts/names/crash-6d0e9373…): C1
    /// controls (U+0080–U+009F) are not in the rule's set (C0 and DEL only),
    /// so they stay; invalid UTF-8 becomes U+FFFD and stays too.
    #[test]
    fn c1_controls_and_invalid_utf8_are_kept_as_characters() {
        let raw = b"Gr\xc3\xff\xffx\xc2\x9fe \xe6\x97x.txt";
        let name = clean_name(raw);
        assert_eq!(name, "Gr\u{fffd}\u{fffd}\u{fffd}x\u{9f}e \u{fffd}x.txt");
        assert!(!name.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}'));
    }

    #[test]
    fn long_names_keep_their_extension_on_a_character_boundary() {
        let raw = format!("{}.txt", "é".repeat(200));
        let name = clean_name(raw.as_bytes());
        assert!((250..=255).contains(&name.len()), "{}", name.len());
        assert!(name.ends_with(".txt"));
        assert!(name.trim_end_matches(".txt").chars().all(|c| c == 'é'));
    }

    #[test]
    fn extensions() {
        let allowed = vec!["txt".to_owned(), "png".to_owned()];
        assert!(extension_allowed(&allowed, "a.txt"));
        assert!(extension_allowed(&allowed, "B.PNG"));
        assert!(!extension_allowed(&allowed, "c.exe"));
        assert!(!extension_allowed(&allowed, "noext"));
        assert!(!extension_allowed(&allowed, "d.txt.php"));
        assert!(extension_allowed(&[], "noext"));
    }

    #[test]
    fn types() {
        assert_eq!(
            normalize_type("Text/Plain; charset=utf-8").as_deref(),
            Some("text/plain")
        );
        assert_eq!(normalize_type("nonsense"), None);
        assert_eq!(
            stored_type(Some("application/octet-stream"), "a.png"),
            "image/png"
        );
        assert_eq!(stored_type(None, "a.unknown"), "application/octet-stream");
    }
}
