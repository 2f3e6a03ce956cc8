//! The emulator's SMEV file store: a real FTP server, embedded.
//!
//! Built on `libunftp` (with its file-system back end `unftp-sbe-fs`), a
//! maintained asynchronous FTP server library on tokio, the runtime the
//! emulator already runs on. Embedding it, rather than starting a Debian
//! FTP daemon as a process, means no system package, no root, no
//! configuration file to write: `mezhved fixtures serve` and the tests get
//! the store in-process, on the port they choose (0 picks a free one), with
//! accounts made per file at run time (as SMEV gives a user and password
//! with each file of an answer) and an accept loop of its own, so that
//! "the file store is down" is a real refused connection and coming back
//! is a real listening socket again.
//!
//! Layout: `<root>/<uuid>/<file name>`, as SMEV's store. Files put here for
//! answers get an account of their own (`FSAttachment`: uuid, UserName,
//! Password, FileName); clients upload with the uploader account
//! (`[emulator] file_store_user`/`file_store_password`) to `<uuid>/<name>`,
//! and the node reads what they uploaded by the `uuid` of a
//! `RefAttachmentHeader`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use libunftp::ServerBuilder;
use libunftp::options::Binder;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};
use unftp_sbe_fs::Filesystem;

/// One file of the store as an answer names it (`FSAttachment`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredFile {
    pub uuid: String,
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "Password")]
    pub password: String,
    #[serde(rename = "FileName")]
    pub file_name: String,
}

/// A file a client uploaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Upload {
    pub uuid: String,
    pub file_name: String,
    pub size: u64,
}

/// The store's settings.
#[derive(Debug, Clone)]
pub struct FileStoreSettings {
    /// `host:port` of the control connection (port 0: a free one).
    pub listen: String,
    /// Passive data ports; `None`: any free port the system gives.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// The account clients upload with.
    pub upload_user: String,
    pub upload_password: String,
    /// Where the files live.
    pub root: PathBuf,
}

#[derive(Debug)]
struct Accounts {
    /// user → (password, the uuid it may read; `None`: the uploader).
    by_user: Mutex<HashMap<String, (String, Option<String>)>>,
}

#[async_trait::async_trait]
impl Authenticator for Accounts {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        let by_user = self.by_user.lock().expect("accounts lock");
        let Some((password, _)) = by_user.get(username) else {
            return Err(AuthenticationError::BadUser);
        };
        if creds.password.as_deref() != Some(password.as_str()) {
            return Err(AuthenticationError::BadPassword);
        }
        Ok(Principal {
            username: username.to_owned(),
        })
    }

    fn name(&self) -> &str {
        "mezhved-emulator-file-store"
    }
}

/// Binds passive data sockets: any free port, or one of a range.
#[derive(Debug)]
struct PassiveBinder {
    range: Option<RangeInclusive<u16>>,
}

#[async_trait::async_trait]
impl Binder for PassiveBinder {
    async fn bind(
        &mut self,
        local_addr: std::net::IpAddr,
        _ports: RangeInclusive<u16>,
    ) -> std::io::Result<tokio::net::TcpSocket> {
        let ports: Vec<u16> = match &self.range {
            None => vec![0],
            Some(r) => {
                let mut v: Vec<u16> = r.clone().collect();
                fastrand::shuffle(&mut v);
                v
            }
        };
        let mut last = std::io::Error::other("no passive port free");
        for port in ports {
            let socket = if local_addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            match socket.bind(SocketAddr::new(local_addr, port)) {
                Ok(()) => return Ok(socket),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// A running file store.
pub struct FileStore {
    addr: SocketAddr,
    root: PathBuf,
    passive: Option<RangeInclusive<u16>>,
    accounts: Arc<Accounts>,
    down: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("addr", &self.addr)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn listener_on(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

impl FileStore {
    /// Starts serving. The root is made when missing.
    pub async fn start(settings: &FileStoreSettings) -> std::io::Result<Arc<FileStore>> {
        std::fs::create_dir_all(&settings.root)?;
        let root = settings.root.canonicalize()?;
        let wanted: SocketAddr = tokio::net::lookup_host(settings.listen.as_str())
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("no address to listen on"))?;
        let listener = listener_on(wanted)?;
        let addr = listener.local_addr()?;
        let mut accounts = HashMap::new();
        accounts.insert(
            settings.upload_user.clone(),
            (settings.upload_password.clone(), None),
        );
        let accounts = Arc::new(Accounts {
            by_user: Mutex::new(accounts),
        });
        let (down, mut watch) = tokio::sync::watch::channel(false);
        let serve_root = root.clone();
        let serve_accounts = accounts.clone();
        let passive = settings.passive_ports.clone();
        let serve_passive = passive.clone();
        let task = tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                match listener.take() {
                    None => {
                        // Down: nothing listens; wait to be brought back.
                        if watch.changed().await.is_err() {
                            return;
                        }
                        if !*watch.borrow() {
                            match listener_on(addr) {
                                Ok(l) => listener = Some(l),
                                Err(e) => {
                                    tracing::error!(error = %e, %addr, "the file store cannot listen again");
                                    return;
                                }
                            }
                        }
                    }
                    Some(l) => {
                        tokio::select! {
                            accepted = l.accept() => {
                                listener = Some(l);
                                let Ok((stream, _peer)) = accepted else { continue };
                                let server = build_server(&serve_root, &serve_accounts, &serve_passive);
                                match server {
                                    Ok(server) => {
                                        tokio::spawn(async move {
                                            let _ = server.service(stream).await;
                                        });
                                    }
                                    Err(e) => tracing::error!(error = %e, "the file store cannot serve"),
                                }
                            }
                            changed = watch.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                                if *watch.borrow() {
                                    drop(l);
                                } else {
                                    listener = Some(l);
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok(Arc::new(FileStore {
            addr,
            root,
            passive,
            accounts,
            down,
            task,
        }))
    }

    /// The control connection's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn passive_ports(&self) -> Option<&RangeInclusive<u16>> {
        self.passive.as_ref()
    }

    /// "The file store is down": connections are refused until
    /// `set_down(false)`. Sessions already open go on.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Puts `bytes` as `file_name` for an answer: a new uuid directory and
    /// an account of its own. `file_name` must be one plain name.
    pub fn put(&self, file_name: &str, bytes: &[u8]) -> std::io::Result<StoredFile> {
        let name = plain_name(file_name)?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let dir = self.root.join(&uuid);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        let user_name = format!("u{}", &uuid.replace('-', "")[..12]);
        let password: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(20)
            .collect();
        self.accounts
            .by_user
            .lock()
            .expect("accounts lock")
            .insert(user_name.clone(), (password.clone(), Some(uuid.clone())));
        Ok(StoredFile {
            uuid,
            user_name,
            password,
            file_name: name.to_owned(),
        })
    }

    /// The file a client uploaded under `uuid` (the one file of that
    /// directory), or `None` when there is none.
    pub fn uploaded(&self, uuid: &str) -> std::io::Result<Option<(String, PathBuf)>> {
        let Ok(uuid) = plain_name(uuid) else {
            return Ok(None);
        };
        let dir = self.root.join(uuid);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                return Ok(Some((name, entry.path())));
            }
        }
        Ok(None)
    }

    /// Every file under the store: what clients uploaded and what was put.
    pub fn files(&self) -> std::io::Result<Vec<Upload>> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(&self.root)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path())? {
                let f = f?;
                if f.file_type()?.is_file() {
                    out.push(Upload {
                        uuid: dir.file_name().to_string_lossy().into_owned(),
                        file_name: f.file_name().to_string_lossy().into_owned(),
                        size: f.metadata()?.len(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.uuid, &a.file_name).cmp(&(&b.uuid, &b.file_name)));
        Ok(out)
    }
}

fn plain_name(name: &str) -> std::io::Result<&str> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) if !name.contains(['/', '\\', '\0']) => Ok(name),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a plain file name: {name:?}"),
        )),
    }
}

fn build_server(
    root: &Path,
    accounts: &Arc<Accounts>,
    passive: &Option<RangeInclusive<u16>>,
) -> Result<libunftp::Server<Filesystem, unftp_core::auth::DefaultUser>, libunftp::ServerError> {
    let root = root.to_path_buf();
    let mut builder = ServerBuilder::with_authenticator(
        Box::new(move || Filesystem::new(root.clone()).expect("the file store root opens")),
        accounts.clone(),
    )
    .greeting("mezhved SMEV 3 emulator file store")
    .idle_session_timeout(120)
    .binder(PassiveBinder {
        range: passive.clone(),
    });
    if let Some(r) = passive {
        builder = builder.passive_ports(r.clone());
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachment::ftp::{FtpClient, FtpSettings, Login};

    async fn store(dir: &Path) -> Arc<FileStore> {
        FileStore::start(&FileStoreSettings {
            listen: "127.0.0.1:0".into(),
            passive_ports: None,
            upload_user: "uploader".into(),
            upload_password: "up-pass".into(),
            root: dir.to_path_buf(),
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn put_then_fetch_with_the_files_own_account() {
        let dir = tempfile::tempdir().unwrap();
        let fs = store(&dir.path().join("store")).await;
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let f = fs.put("выписка.zip", &content).unwrap();
        let client = FtpClient::new(FtpSettings::new(fs.addr().to_string()));
        let dest = dir.path().join("got.zip");
        let mut seen = 0usize;
        let n = client
            .fetch(
                &Login::new(&f.user_name, &f.password),
                &crate::attachment::ftp::remote_path(&f.uuid, &f.file_name),
                &dest,
                1 << 20,
                |c| seen += c.len(),
            )
            .await
            .unwrap();
        assert_eq!(n as usize, content.len());
        assert_eq!(seen, content.len());
        assert_eq!(std::fs::read(&dest).unwrap(), content);

        // Over the limit: refused while streaming, nothing left behind.
        let small = dir.path().join("small.zip");
        let e = client
            .fetch(
                &Login::new(&f.user_name, &f.password),
                &crate::attachment::ftp::remote_path(&f.uuid, &f.file_name),
                &small,
                1000,
                |_| {},
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "ftp_too_large", "{e}");
        assert!(!small.exists());
        assert!(!dir.path().join("small.zip.part").exists());

        // A wrong password: refused, not transient, the password not shown.
        let e = client
            .fetch(
                &Login::new(&f.user_name, "wrong-secret"),
                "x/y",
                &small,
                1000,
                |_| {},
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "ftp_login_refused", "{e}");
        assert!(!e.is_transient());
        assert!(!e.to_string().contains("wrong-secret"));
    }

    #[tokio::test]
    async fn upload_is_seen_by_uuid_and_down_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let fs = store(&dir.path().join("store")).await;
        let src = dir.path().join("scan.pdf");
        std::fs::write(&src, b"%PDF-1.4 scan").unwrap();
        let client = FtpClient::new(FtpSettings::new(fs.addr().to_string()));
        let login = Login::new("uploader", "up-pass");
        let uuid = uuid::Uuid::new_v4().to_string();
        let sent = client
            .upload(&login, &src, &uuid, "scan.pdf")
            .await
            .unwrap();
        assert_eq!(sent, 13);
        let (name, path) = fs.uploaded(&uuid).unwrap().unwrap();
        assert_eq!(name, "scan.pdf");
        assert_eq!(std::fs::read(path).unwrap(), b"%PDF-1.4 scan");
        assert_eq!(fs.files().unwrap().len(), 1);

        fs.set_down(true);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let e = client
            .upload(&login, &src, &uuid, "again.pdf")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "ftp_connect", "{e}");
        assert!(e.is_transient());

        fs.set_down(false);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        client
            .upload(&login, &src, &uuid, "again.pdf")
            .await
            .unwrap();
        assert!(fs.root().join(&uuid).join("again.pdf").exists());
    }

    #[test]
    fn names_with_paths_are_refused() {
        for bad in ["../x", "a/b", "..", "", "/etc"] {
            assert!(plain_name(bad).is_err(), "{bad:?}");
        }
    }
}
