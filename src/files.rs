//! Read-only access to files below a configured directory, for what is not
//! the spool: FilePond's `?load=` directory and the demo's npm assets. A
//! file is served only if, after resolving every symlink, it is a regular
//! file inside the directory.

use std::fs::File;
use std::io;
use std::path::Path;

/// Why a file below a directory could not be opened.
#[derive(Debug)]
pub enum BelowError {
    /// The filesystem refused the name itself (longer than its limit): the
    /// requester's error.
    BadName(io::Error),
    /// Anything else: the server's.
    Io(io::Error),
}

impl std::fmt::Display for BelowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BelowError::BadName(e) => write!(f, "the name is refused by the filesystem: {e}"),
            BelowError::Io(e) => e.fmt(f),
        }
    }
}

/// Sorts an error from resolving or opening a requested name: absent (also
/// a file used as a directory, or a symlink loop: nothing servable is
/// there), refused for its name, or the server's failure.
fn classify(e: io::Error) -> Result<(), BelowError> {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => Ok(()),
        Some(libc::ENAMETOOLONG) => Err(BelowError::BadName(e)),
        _ => Err(BelowError::Io(e)),
    }
}

/// Opens `relative` below `root`; `Ok(None)` when it is missing, not a
/// regular file, or resolves outside `root`. The caller has already refused
/// absolute paths and `.`/`..` segments.
pub fn open_below(root: &Path, relative: &str) -> Result<Option<(File, u64)>, BelowError> {
    let root = match root.canonicalize() {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BelowError::Io(e)),
    };
    let resolved = match root.join(relative).canonicalize() {
        Ok(p) => p,
        Err(e) => return classify(e).map(|()| None),
    };
    if !resolved.starts_with(&root) {
        return Ok(None);
    }
    let file = match File::open(&resolved) {
        Ok(f) => f,
        Err(e) => return classify(e).map(|()| None),
    };
    let meta = file.metadata().map_err(BelowError::Io)?;
    if !meta.is_file() {
        return Ok(None);
    }
    Ok(Some((file, meta.len())))
}
