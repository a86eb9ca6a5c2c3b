//! Listening sockets (TCP or Unix) for the long-running modes: binding one,
//! taking one over from the process that started us (fd 0, systemd), and
//! the Unix socket file's mode and owner.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use super::fastcgi::{Phase, Transport};

/// A listening socket: TCP or Unix.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// An accepted connection.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Longest wait for the next request on a kept-alive FastCGI connection.
const IDLE: Duration = Duration::from_secs(10);
/// Longest silence of the web server while a request is being received.
const SILENCE: Duration = Duration::from_secs(300);
/// How long a closing connection reads what the peer still sends.
const LINGER: Duration = Duration::from_secs(2);

impl Stream {
    pub(crate) fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }
}

/// The socket side of a FastCGI connection: a read timeout per phase, and a
/// half-close before the last reads.
impl Transport for Stream {
    fn set_phase(&mut self, phase: Phase) -> io::Result<()> {
        self.set_read_timeout(match phase {
            Phase::Idle => IDLE,
            Phase::Active => SILENCE,
            Phase::Closing => LINGER,
        })
    }

    fn shutdown_write(&mut self) {
        let sock = match &*self {
            Stream::Tcp(s) => socket2::SockRef::from(s),
            Stream::Unix(s) => socket2::SockRef::from(s),
        };
        let _ = sock.shutdown(std::net::Shutdown::Write);
    }
}

impl Listener {
    /// `HOST:PORT` or `unix:/path.sock`.
    pub fn bind(spec: &str) -> io::Result<Listener> {
        let socket = match spec.strip_prefix("unix:") {
            Some(path) => {
                // A socket left by an earlier run would make bind fail.
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    std::fs::remove_file(path)?;
                }
                let socket =
                    socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
                socket.bind(&socket2::SockAddr::unix(path)?)?;
                socket
            }
            None => {
                let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(spec)?
                    .next()
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on")
                    })?;
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(addr),
                    socket2::Type::STREAM,
                    None,
                )?;
                socket.set_reuse_address(true)?;
                socket.bind(&addr.into())?;
                socket
            }
        };
        // A deep backlog: connections beyond the worker pool wait here.
        socket.listen(1024)?;
        let fd: std::os::fd::OwnedFd = socket.into();
        Ok(if spec.starts_with("unix:") {
            Listener::Unix(fd.into())
        } else {
            Listener::Tcp(fd.into())
        })
    }

    /// The listening socket handed in on fd 0 (spawn-fcgi, mod_fcgid,
    /// systemd with `StandardInput=socket`), if there is one.
    pub fn from_stdin() -> Option<Listener> {
        use std::os::fd::AsFd;
        let stdin = io::stdin();
        let sock = socket2::SockRef::from(&stdin);
        if !sock.is_listener().unwrap_or(false) {
            return None;
        }
        let domain = sock.domain().ok()?;
        let fd = stdin.as_fd().try_clone_to_owned().ok()?;
        Some(if domain == socket2::Domain::UNIX {
            Listener::Unix(fd.into())
        } else {
            Listener::Tcp(fd.into())
        })
    }

    /// The first socket passed by systemd (`LISTEN_FDS`, `LISTEN_PID`), if any.
    pub fn from_systemd() -> Option<Listener> {
        let pid_ok = std::env::var("LISTEN_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            == Some(std::process::id());
        let count = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        if !pid_ok || count == 0 {
            return None;
        }
        let fd = crate::sys::systemd_listen_fd()?;
        let sock = socket2::SockRef::from(&fd);
        if !sock.is_listener().unwrap_or(false) {
            return None;
        }
        let unix = sock.domain().ok()? == socket2::Domain::UNIX;
        Some(if unix {
            Listener::Unix(fd.into())
        } else {
            Listener::Tcp(fd.into())
        })
    }

    /// A printable address.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix socket".into()),
        }
    }

    pub(crate) fn accept(&self) -> io::Result<(Stream, Option<IpAddr>)> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, a)| (Stream::Tcp(s), Some(a.ip()))),
            Listener::Unix(l) => l.accept().map(|(s, _)| (Stream::Unix(s), None)),
        }
    }

    /// Wakes every worker blocked in `accept` (used at shutdown).
    pub(crate) fn shut(&self) {
        let sock = match self {
            Listener::Tcp(l) => socket2::SockRef::from(l),
            Listener::Unix(l) => socket2::SockRef::from(l),
        };
        let _ = sock.shutdown(std::net::Shutdown::Read);
    }
}

/// Applies `--socket-mode` (octal) and `--socket-owner` (`user[:group]`,
/// names or numbers) to a Unix socket file.
pub fn set_socket_access(
    path: &std::path::Path,
    mode: Option<&str>,
    owner: Option<&str>,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(mode) = mode {
        let bits = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
            .map_err(|_| format!("--socket-mode {mode} is not an octal mode"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits))
            .map_err(|e| format!("cannot set the socket's mode: {e}"))?;
    }
    if let Some(owner) = owner {
        let (user, group) = match owner.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (owner, None),
        };
        let uid = user_id(user)?;
        let gid = group.map(group_id).transpose()?;
        std::os::unix::fs::chown(path, Some(uid), gid)
            .map_err(|e| format!("cannot set the socket's owner: {e}"))?;
    }
    Ok(())
}

/// A user id: a number, or a name looked up through the C library (so
/// NSS sources such as LDAP, sssd or systemd-homed count).
fn user_id(name: &str) -> Result<u32, String> {
    owner_id("user", name, crate::sys::user_id)
}

/// A group id: a number, or a name looked up through the C library.
fn group_id(name: &str) -> Result<u32, String> {
    owner_id("group", name, crate::sys::group_id)
}

fn owner_id(
    what: &str,
    name: &str,
    lookup: fn(&str) -> io::Result<Option<u32>>,
) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    match lookup(name) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(format!("unknown {what} {name}")),
        Err(e) => Err(format!("cannot look up the {what} {name}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_numbers_or_names_from_the_c_library() {
        assert_eq!(user_id("0"), Ok(0));
        assert_eq!(group_id("1234"), Ok(1234));
        assert_eq!(user_id("root"), Ok(0));
        assert_eq!(group_id("root"), Ok(0));
        assert!(user_id("no-such-user-upspool").is_err());
        assert!(group_id("no-such-group-upspool").is_err());
        assert!(user_id("nul\0inside").is_err());
    }

    /// Every name `getent` lists resolves to the same id: the lookup goes
    /// through NSS, as `getent` does, not through a parse of /etc/passwd.
    #[test]
    fn names_resolve_as_getent_resolves_them() {
        for (db, lookup) in [
            ("passwd", user_id as fn(&str) -> Result<u32, String>),
            ("group", group_id),
        ] {
            let Ok(out) = std::process::Command::new("getent").arg(db).output() else {
                eprintln!("skipped: no getent");
                return;
            };
            let text = String::from_utf8_lossy(&out.stdout);
            let mut seen = 0;
            for line in text.lines() {
                let fields: Vec<&str> = line.split(':').collect();
                let (Some(name), Some(id)) = (fields.first(), fields.get(2)) else {
                    continue;
                };
                let Ok(id) = id.parse::<u32>() else { continue };
                // A name that is also a number is taken as an id.
                if name.parse::<u32>().is_ok() {
                    continue;
                }
                assert_eq!(lookup(name), Ok(id), "{db} {name}");
                seen += 1;
            }
            assert!(seen > 0, "getent {db} listed nobody");
        }
    }
}
