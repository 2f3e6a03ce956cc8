//! The FTP client for SMEV's file store: attachments above the MTOM limit
//! are uploaded there before the request that names them is sent, and
//! large answers (`FSAttachmentsList`) are fetched from there with the
//! user, password and file name SMEV gives.
//!
//! Built on the `suppaftp` crate (tokio flavour, no TLS: SMEV's file store
//! speaks plain FTP inside the closed network). A maintained client that
//! knows the protocol's corners (multi-line replies, EPSV/PASV, transfer
//! completion replies, ABOR) is less to get wrong than an own one; what is
//! added here is what the gateway needs around it: a timeout on every step
//! (connecting, each command, each read or write of a transfer), a size
//! limit on fetches enforced while streaming (never after), files written
//! under a temporary name and renamed only when complete, errors that say
//! which step failed and whether trying again may help, and passwords kept
//! out of `Debug`, `Display` and logs. The crate traces the control
//! channel (the `PASS` line included) at the `trace` level; the log filter
//! (`crate::logging`) therefore always keeps its target at `info`.
//!
//! Layout of the store, as SMEV's: a file lives at `/<uuid>/<FileName>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use suppaftp::{FtpError as Raw, Mode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The log target of the FTP crate; `crate::logging` pins it at `info` so
/// that the `PASS` command it traces never reaches a log.
pub const CLIENT_LOG_TARGET: &str = "suppaftp";

/// A password that never shows in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }

    /// The password itself, for the `PASS` command and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl std::fmt::Display for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Who logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: Password,
}

impl Login {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Login {
            user: user.into(),
            password: Password::new(password),
        }
    }
}

/// How the client talks to a server.
#[derive(Debug, Clone)]
pub struct FtpSettings {
    /// `host:port` of the file store.
    pub server: String,
    /// Time to establish the control connection (and read the greeting).
    pub connect_timeout: Duration,
    /// Time any one command, or any one read or write of a transfer, may
    /// take; a transfer that moves nothing for this long is cut.
    pub io_timeout: Duration,
    /// EPSV (RFC 2428) first; PASV when the server refuses it.
    pub extended_passive: bool,
}

impl FtpSettings {
    pub fn new(server: impl Into<String>) -> Self {
        FtpSettings {
            server: server.into(),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            extended_passive: true,
        }
    }
}

/// Where a file of the store lives: `<uuid>/<file name>`.
pub fn remote_path(uuid: &str, file_name: &str) -> String {
    format!("{uuid}/{file_name}")
}

/// Which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Connect,
    Login,
    Mode,
    Directory,
    Transfer,
    Complete,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Login => "login",
            Step::Mode => "binary mode",
            Step::Directory => "directory",
            Step::Transfer => "transfer",
            Step::Complete => "transfer completion",
        }
    }
}

/// Why a transfer failed. [`FtpError::code`] is stable;
/// [`FtpError::is_transient`] says whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    #[error("file store {server}: cannot connect: {detail}")]
    Connect { server: String, detail: String },
    #[error("file store {server}: {} timed out after {secs} s", step.as_str())]
    Timeout {
        server: String,
        step: Step,
        secs: u64,
    },
    #[error("file store {server}: login as {user:?} refused: {reply}")]
    LoginRefused {
        server: String,
        user: String,
        reply: String,
    },
    #[error("file store {server}: {} refused: {reply}", step.as_str())]
    Refused {
        server: String,
        step: Step,
        code: u32,
        reply: String,
    },
    #[error("file store {server}: {} failed: {detail}", step.as_str())]
    Network {
        server: String,
        step: Step,
        detail: String,
    },
    #[error("file store {server}: {path} exceeds the limit of {limit} bytes")]
    TooLarge {
        server: String,
        path: String,
        limit: u64,
    },
    #[error("{path}: {source}")]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl FtpError {
    /// A stable code for logs, replies and translations.
    pub fn code(&self) -> &'static str {
        match self {
            FtpError::Connect { .. } => "ftp_connect",
            FtpError::Timeout { .. } => "ftp_timeout",
            FtpError::LoginRefused { .. } => "ftp_login_refused",
            FtpError::Refused { .. } => "ftp_refused",
            FtpError::Network { .. } => "ftp_network",
            FtpError::TooLarge { .. } => "ftp_too_large",
            FtpError::Local { .. } => "ftp_local_file",
        }
    }

    /// Connection trouble, timeouts and the server's 4xx replies
    /// ("transient negative completion") may pass; a refused login, a 5xx
    /// reply, a file over the limit or a local file problem will not.
    pub fn is_transient(&self) -> bool {
        match self {
            FtpError::Connect { .. } | FtpError::Timeout { .. } | FtpError::Network { .. } => true,
            FtpError::Refused { code, .. } => (400..500).contains(code),
            FtpError::LoginRefused { .. } | FtpError::TooLarge { .. } | FtpError::Local { .. } => {
                false
            }
        }
    }
}

fn local(path: &Path, source: std::io::Error) -> FtpError {
    FtpError::Local {
        path: path.display().to_string(),
        source,
    }
}

/// A client for one file store.
#[derive(Debug, Clone)]
pub struct FtpClient {
    settings: FtpSettings,
}

/// A logged-in session in binary mode.
struct Session {
    ftp: AsyncFtpStream,
    server: String,
    io: Duration,
}

impl FtpClient {
    pub fn new(settings: FtpSettings) -> Self {
        FtpClient { settings }
    }

    pub fn settings(&self) -> &FtpSettings {
        &self.settings
    }

    /// Downloads `remote` into `dest`, streaming: at most `max_bytes`
    /// are taken (more, and the transfer is aborted and nothing is left
    /// behind). `observe` sees every chunk in order (for digests). The
    /// file appears under its name only when complete (written as
    /// `<dest>.part`, synced, renamed). Returns the bytes written.
    pub async fn fetch(
        &self,
        login: &Login,
        remote: &str,
        dest: &Path,
        max_bytes: u64,
        mut observe: impl FnMut(&[u8]),
    ) -> Result<u64, FtpError> {
        let mut s = self.open(login).await?;
        let part = part_path(dest);
        let result = s.fetch_into(remote, &part, max_bytes, &mut observe).await;
        s.quit().await;
        match result {
            Ok(n) => {
                tokio::fs::rename(&part, dest)
                    .await
                    .map_err(|e| local(dest, e))?;
                Ok(n)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    /// Uploads the local file `src` as `<dir>/<name>` (the directory made
    /// when missing), streaming. Returns the bytes sent.
    pub async fn upload(
        &self,
        login: &Login,
        src: &Path,
        dir: &str,
        name: &str,
    ) -> Result<u64, FtpError> {
        let mut file = tokio::fs::File::open(src)
            .await
            .map_err(|e| local(src, e))?;
        let mut s = self.open(login).await?;
        let result = s.upload_from(&mut file, src, dir, name).await;
        s.quit().await;
        result
    }

    async fn open(&self, login: &Login) -> Result<Session, FtpError> {
        let server = self.settings.server.clone();
        let connect = self.settings.connect_timeout;
        let addr = resolve(&server, connect).await?;
        let ftp = match tokio::time::timeout(connect, AsyncFtpStream::connect(addr)).await {
            Err(_) => {
                return Err(FtpError::Timeout {
                    server,
                    step: Step::Connect,
                    secs: connect.as_secs(),
                });
            }
            Ok(Err(e)) => {
                return Err(FtpError::Connect {
                    server,
                    detail: raw_detail(&e),
                });
            }
            Ok(Ok(ftp)) => ftp,
        };
        let mut s = Session {
            ftp,
            server,
            io: self.settings.io_timeout,
        };
        s.ftp.set_mode(if self.settings.extended_passive {
            Mode::ExtendedPassive
        } else {
            Mode::Passive
        });
        let user = login.user.clone();
        let pass = login.password.expose().to_owned();
        let io = s.io;
        match tokio::time::timeout(io, s.ftp.login(user.as_str(), pass.as_str())).await {
            Err(_) => return Err(s.timeout(Step::Login)),
            Ok(Err(Raw::UnexpectedResponse(r))) => {
                return Err(FtpError::LoginRefused {
                    server: s.server.clone(),
                    user,
                    reply: reply_text(&r),
                });
            }
            Ok(Err(e)) => return Err(s.raw(Step::Login, e)),
            Ok(Ok(())) => {}
        }
        let r = tokio::time::timeout(io, s.ftp.transfer_type(FileType::Binary)).await;
        s.step(Step::Mode, r)?;
        Ok(s)
    }
}

impl Session {
    fn timeout(&self, step: Step) -> FtpError {
        FtpError::Timeout {
            server: self.server.clone(),
            step,
            secs: self.io.as_secs(),
        }
    }

    fn raw(&self, step: Step, e: Raw) -> FtpError {
        match e {
            Raw::UnexpectedResponse(r) => FtpError::Refused {
                server: self.server.clone(),
                step,
                code: r.status.code(),
                reply: reply_text(&r),
            },
            other => FtpError::Network {
                server: self.server.clone(),
                step,
                detail: raw_detail(&other),
            },
        }
    }

    fn step<T>(
        &self,
        step: Step,
        r: Result<Result<T, Raw>, tokio::time::error::Elapsed>,
    ) -> Result<T, FtpError> {
        match r {
            Err(_) => Err(self.timeout(step)),
            Ok(Err(e)) => Err(self.raw(step, e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Opens a transfer (`RETR` when `upload` is false, else `STOR`);
    /// a server that does not know EPSV is asked again with PASV.
    async fn open_transfer(
        &mut self,
        path: &str,
        upload: bool,
    ) -> Result<suppaftp::tokio::TransferStream<suppaftp::tokio::AsyncNoTlsStream>, FtpError> {
        let io = self.io;
        for attempt in 0..2 {
            let r = if upload {
                tokio::time::timeout(io, self.ftp.put_with_stream(path)).await
            } else {
                tokio::time::timeout(io, self.ftp.retr_as_stream(path)).await
            };
            if attempt == 0
                && let Ok(Err(Raw::UnexpectedResponse(resp))) = &r
                && matches!(resp.status.code(), 500 | 501 | 502 | 504)
                && reply_text(resp).to_ascii_uppercase().contains("EPSV")
            {
                self.ftp.set_mode(Mode::Passive);
                continue;
            }
            return self.step(Step::Transfer, r);
        }
        unreachable!("the loop returns on its second pass")
    }

    async fn fetch_into(
        &mut self,
        remote: &str,
        part: &Path,
        max_bytes: u64,
        observe: &mut impl FnMut(&[u8]),
    ) -> Result<u64, FtpError> {
        let mut stream = self.open_transfer(remote, false).await?;
        let mut out = tokio::fs::File::create(part)
            .await
            .map_err(|e| local(part, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = match tokio::time::timeout(self.io, stream.read(&mut buf)).await {
                Err(_) => {
                    let _ = self.ftp.abort(stream).await;
                    return Err(self.timeout(Step::Transfer));
                }
                Ok(Err(e)) => {
                    return Err(FtpError::Network {
                        server: self.server.clone(),
                        step: Step::Transfer,
                        detail: e.to_string(),
                    });
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max_bytes {
                let _ = tokio::time::timeout(self.io, self.ftp.abort(stream)).await;
                return Err(FtpError::TooLarge {
                    server: self.server.clone(),
                    path: remote.to_owned(),
                    limit: max_bytes,
                });
            }
            observe(&buf[..n]);
            out.write_all(&buf[..n]).await.map_err(|e| local(part, e))?;
        }
        let done = tokio::time::timeout(self.io, stream.finish()).await;
        self.step(Step::Complete, done)?;
        out.flush().await.map_err(|e| local(part, e))?;
        out.sync_all().await.map_err(|e| local(part, e))?;
        Ok(total)
    }

    async fn upload_from(
        &mut self,
        file: &mut tokio::fs::File,
        src: &Path,
        dir: &str,
        name: &str,
    ) -> Result<u64, FtpError> {
        if !dir.is_empty() {
            // An existing directory answers 550 to MKD: that is fine, the
            // STOR below says whether the place is usable.
            let _ = tokio::time::timeout(self.io, self.ftp.mkdir(dir)).await;
        }
        let target = if dir.is_empty() {
            name.to_owned()
        } else {
            format!("{dir}/{name}")
        };
        let mut stream = self.open_transfer(&target, true).await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = file.read(&mut buf).await.map_err(|e| local(src, e))?;
            if n == 0 {
                break;
            }
            match tokio::time::timeout(self.io, stream.write_all(&buf[..n])).await {
                Err(_) => {
                    let _ = self.ftp.abort(stream).await;
                    return Err(self.timeout(Step::Transfer));
                }
                Ok(Err(e)) => {
                    return Err(FtpError::Network {
                        server: self.server.clone(),
                        step: Step::Transfer,
                        detail: e.to_string(),
                    });
                }
                Ok(Ok(())) => {}
            }
            total += n as u64;
        }
        let done = tokio::time::timeout(self.io, stream.finish()).await;
        self.step(Step::Complete, done)?;
        Ok(total)
    }

    async fn quit(mut self) {
        let _ = tokio::time::timeout(self.io, self.ftp.quit()).await;
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

async fn resolve(server: &str, timeout: Duration) -> Result<SocketAddr, FtpError> {
    let lookup = tokio::time::timeout(timeout, tokio::net::lookup_host(server.to_owned())).await;
    match lookup {
        Err(_) => Err(FtpError::Timeout {
            server: server.to_owned(),
            step: Step::Connect,
            secs: timeout.as_secs(),
        }),
        Ok(Err(e)) => Err(FtpError::Connect {
            server: server.to_owned(),
            detail: e.to_string(),
        }),
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| FtpError::Connect {
            server: server.to_owned(),
            detail: "no address".into(),
        }),
    }
}

fn reply_text(r: &suppaftp::types::Response) -> String {
    let text = String::from_utf8_lossy(&r.body);
    let text = text.trim();
    if text.is_empty() {
        r.status.code().to_string()
    } else {
        text.chars().take(300).collect()
    }
}

fn raw_detail(e: &Raw) -> String {
    match e {
        Raw::ConnectionError(io) => io.to_string(),
        Raw::UnexpectedResponse(r) => reply_text(r),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let l = Login::new("u", "s3cret-pass");
        assert!(!format!("{l:?}").contains("s3cret"));
        assert_eq!(l.password.to_string(), "***");
        assert_eq!(l.password.expose(), "s3cret-pass");
    }

    #[test]
    fn transient_or_not() {
        let refused = |code| FtpError::Refused {
            server: "s".into(),
            step: Step::Transfer,
            code,
            reply: String::new(),
        };
        assert!(refused(421).is_transient());
        assert!(!refused(550).is_transient());
        assert!(
            FtpError::Connect {
                server: "s".into(),
                detail: "refused".into()
            }
            .is_transient()
        );
        assert!(
            !FtpError::LoginRefused {
                server: "s".into(),
                user: "u".into(),
                reply: "530".into()
            }
            .is_transient()
        );
    }

    #[test]
    fn part_file_beside_the_target() {
        assert_eq!(
            part_path(Path::new("/x/a.zip")),
            PathBuf::from("/x/a.zip.part")
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_transient_connect_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let c = FtpClient::new(FtpSettings::new(addr.to_string()));
        let dir = tempfile::tempdir().unwrap();
        let e = c
            .fetch(
                &Login::new("u", "p"),
                "x/y",
                &dir.path().join("y"),
                10,
                |_| {},
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "ftp_connect", "{e}");
        assert!(e.is_transient());
        assert!(!dir.path().join("y").exists());
    }
}
