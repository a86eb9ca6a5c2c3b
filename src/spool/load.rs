//! Read-only access to the configured load directory (FilePond `?load=`):
//! a file is served only if, after resolving every symlink, it is a regular
//! file inside the directory.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `relative` below `root`; `Ok(None)` when it is missing, not a
/// regular file, or resolves outside `root`. The caller has already refused
/// absolute paths and `.`/`..` segments.
pub fn open_below(root: &Path, relative: &str) -> io::Result<Option<(File, u64)>> {
    let root = match root.canonicalize() {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let resolved = match root.join(relative).canonicalize() {
        Ok(p) => p,
        Err(e) if super::missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !resolved.starts_with(&root) {
        return Ok(None);
    }
    let file = File::open(&resolved)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    Ok(Some((file, meta.len())))
}
