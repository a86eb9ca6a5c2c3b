//! Every `unsafe` call of upspool, each with its reason, behind safe
//! functions: the rest of the crate denies `unsafe_code`, and the protocol
//! and spool modules forbid it (as rustls keeps its core). What is here and
//! why:
//!
//! - [`prepare`]: the part of std's process start-up upspool relies on.
//!   The binary has its own C `main` (see `main.rs`) instead of std's,
//!   because as a CGI program every request is a new process and std's
//!   start-up costs about a tenth of such a request: it reads
//!   `/proc/self/maps` to find the main thread's stack and maps an
//!   alternate signal stack, only so that a stack overflow prints a message
//!   instead of a plain SIGSEGV.
//! - [`args`]: the command line from `main`'s own `argc`/`argv`; under
//!   `#![no_main]` std's `env::args()` is filled only by glibc's
//!   `.init_array` hook, which musl and other C libraries do not run.
//! - [`systemd_listen_fd`]: taking over the socket systemd passes on fd 3.
//! - [`start_writeback`]: `sync_file_range(2)`, which std does not wrap.
//! - [`user_id`], [`group_id`]: `getpwnam_r(3)` and `getgrnam_r(3)`, so
//!   that `--socket-owner` finds users and groups from every NSS source
//!   (LDAP, sssd, systemd-homed), not only `/etc/passwd` and `/etc/group`.

#![allow(unsafe_code)]

use std::ffi::{CStr, OsString, c_char, c_int};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStringExt;

/// Run first thing in `main`:
///
/// - **SIGPIPE is ignored**, as std does: a client or web server that goes
///   away mid-answer makes the write fail with `EPIPE` (logged, the upload
///   kept) instead of killing the process, which in FastCGI and `serve` mode
///   would end every other request with it.
/// - **Closed standard descriptors are opened on `/dev/null`**, as std does:
///   started with one of them closed (a misconfigured server, a shell's
///   `2>&-`), the next file or socket upspool opened would take its number,
///   and log lines or the answer would be written into an upload or to a
///   client.
pub fn prepare() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler;
    // it is what std's own start-up does on every Unix.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    loop {
        // SAFETY: `fds` is a valid array of 3 pollfd for the whole call; a
        // zero timeout only reports each descriptor's state.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
        if r >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
    for pfd in fds {
        if pfd.revents & libc::POLLNVAL != 0 {
            // SAFETY: a plain open of a constant NUL-terminated path; the
            // lowest free descriptor is the closed standard one.
            let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if fd < 0 {
                // As std: no safe way on without the standard descriptors.
                std::process::abort();
            }
        }
    }
}

/// The command line, from the `argc`/`argv` the C runtime passed to `main`
/// (the program name first). Arguments are taken as bytes, as the kernel
/// gives them.
///
/// # Safety
///
/// `argv` must point to `argc` valid NUL-terminated strings, as the C
/// runtime guarantees for `main`'s arguments; a null `argv` gives nothing.
pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    if argv.is_null() {
        return Vec::new();
    }
    let count = usize::try_from(argc).unwrap_or(0);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: the caller guarantees `argc` entries, each a valid C string
        // that lives for the whole process.
        let arg = unsafe { *argv.add(i) };
        if arg.is_null() {
            break;
        }
        // SAFETY: as above: a valid NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(arg) }.to_bytes();
        out.push(OsString::from_vec(bytes.to_vec()));
    }
    out
}

/// fd 3, where systemd puts the first passed socket. The caller checks
/// `LISTEN_PID` and `LISTEN_FDS` first.
pub fn systemd_listen_fd() -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: with LISTEN_PID equal to our pid and LISTEN_FDS >= 1 (checked by
    // the caller), systemd's socket-activation protocol guarantees that fd 3
    // is open and handed to this process; nothing else in upspool owns it.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(3) })
}

/// Starts writeback of a byte range already written (`sync_file_range` with
/// `SYNC_FILE_RANGE_WRITE`): the kernel begins sending it to the disk now,
/// so the fsync that follows a stored part has less left to wait for. It
/// promises no durability itself, so a failure is ignored.
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is borrowed from a live `File` for the duration of
    // the call, and the call reads nothing but its integer arguments.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// The uid of a user name, looked up through the C library (NSS);
/// `Ok(None)` if there is no such user.
pub fn user_id(name: &str) -> io::Result<Option<u32>> {
    let Ok(name) = std::ffi::CString::new(name) else {
        return Ok(None);
    };
    lookup(|buf| {
        // SAFETY: zeroed memory is a valid `passwd` (integers and null
        // pointers); getpwnam_r only writes into it and into `buf`.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `name` is a NUL-terminated string, `entry` and `found` are
        // valid for writes, and `buf` is writable for `buf.len()` bytes; all
        // outlive the call. The strings the entry points to (into `buf`) are
        // not read: only the integer `pw_uid` is taken.
        let err = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        (err, (!found.is_null()).then_some(entry.pw_uid))
    })
}

/// The gid of a group name, looked up through the C library (NSS);
/// `Ok(None)` if there is no such group.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    let Ok(name) = std::ffi::CString::new(name) else {
        return Ok(None);
    };
    lookup(|buf| {
        // SAFETY: zeroed memory is a valid `group` (integers and null
        // pointers); getgrnam_r only writes into it and into `buf`.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `user_id`: valid pointers for the whole call, `buf`
        // writable for its length; only the integer `gr_gid` is read after.
        let err = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        (err, (!found.is_null()).then_some(entry.gr_gid))
    })
}

/// Runs a `get*nam_r` call with a buffer that grows while the C library
/// answers `ERANGE` (a group with many members needs more than the usual
/// size), up to 1 MiB. "Not found" is `Ok(None)`, as POSIX lets it be
/// reported either as a null result or as ENOENT/ESRCH and the like.
fn lookup(mut call: impl FnMut(&mut [c_char]) -> (c_int, Option<u32>)) -> io::Result<Option<u32>> {
    let mut size = 1024;
    loop {
        let mut buf: Vec<c_char> = vec![0; size];
        match call(&mut buf) {
            (0, id) => return Ok(id),
            (libc::EINTR, _) => {}
            (libc::ERANGE, _) if size < 1024 * 1024 => size *= 2,
            (libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM, _) => return Ok(None),
            (err, _) => return Err(io::Error::from_raw_os_error(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_come_from_argv() {
        let a = c"upspool";
        let b = c"serve";
        let c = c"--listen=\xff";
        let argv = [a.as_ptr(), b.as_ptr(), c.as_ptr(), std::ptr::null()];
        // SAFETY: three valid C strings, as `main` receives them.
        let got = unsafe { args(3, argv.as_ptr()) };
        assert_eq!(
            got,
            vec![
                OsString::from("upspool"),
                OsString::from("serve"),
                OsString::from_vec(b"--listen=\xff".to_vec())
            ],
            "bytes are kept as given, not decoded"
        );
        // SAFETY: a null argv is allowed.
        assert!(unsafe { args(0, std::ptr::null()) }.is_empty());
    }

    #[test]
    fn names_are_looked_up_through_the_c_library() {
        assert_eq!(user_id("root").unwrap(), Some(0));
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(user_id("no-such-user-upspool").unwrap(), None);
        assert_eq!(group_id("no-such-group-upspool").unwrap(), None);
        assert_eq!(user_id("a\0b").unwrap(), None);
    }

    #[test]
    fn a_tiny_first_buffer_grows() {
        let mut calls = Vec::new();
        let got = lookup(|buf| {
            calls.push(buf.len());
            if buf.len() < 8192 {
                (libc::ERANGE, None)
            } else {
                (0, Some(7))
            }
        });
        assert_eq!(got.unwrap(), Some(7));
        assert_eq!(calls, vec![1024, 2048, 4096, 8192]);
    }
}
