//! Process start-up: the part of std's runtime start-up upspool relies on.
//!
//! The binary has its own C `main` (see `main.rs`) instead of std's, because
//! as a CGI program every request is a new process and std's start-up costs
//! about a tenth of such a request: it reads `/proc/self/maps` to find the
//! main thread's stack and maps an alternate signal stack, only so that a
//! stack overflow prints a message instead of a plain SIGSEGV. The two things
//! of std's start-up that matter here are done by [`prepare`].

use std::io;

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
#[allow(unsafe_code)]
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
