//! A directory as a queue, for machines without a broker: request files
//! dropped into `in/` are taken one at a time (moved to `work/`, removed on
//! acknowledgement); replies go to `out/`, refused messages to `dead/`,
//! events to `events/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{AckToken, Inbox, Incoming, Outbox, TransportError};
use crate::casefile::ReplyRoute;

fn err(path: &Path) -> impl Fn(std::io::Error) -> TransportError + '_ {
    move |e| TransportError::Spool {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

pub struct SpoolInbox {
    dir: PathBuf,
    poll: Duration,
}

#[derive(Clone)]
pub struct SpoolOutbox {
    dir: PathBuf,
}

/// Opens the spool under `dir`; files left in `work/` by a crash go back to
/// `in/` (they were never acknowledged).
pub fn spool(dir: &Path) -> Result<(Inbox, Outbox), TransportError> {
    for sub in ["in", "work", "out", "dead", "events"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(err(&d))?;
    }
    let work = dir.join("work");
    for e in std::fs::read_dir(&work).map_err(err(&work))? {
        let e = e.map_err(err(&work))?;
        std::fs::rename(e.path(), dir.join("in").join(e.file_name())).map_err(err(&work))?;
    }
    Ok((
        Inbox::Spool(SpoolInbox {
            dir: dir.to_owned(),
            poll: Duration::from_millis(50),
        }),
        Outbox::Spool(SpoolOutbox {
            dir: dir.to_owned(),
        }),
    ))
}

impl SpoolOutbox {
    /// Files waiting in the spool's directories, as queue depths.
    pub fn queue_stats(&self) -> Vec<super::QueueStat> {
        [("requests", "in"), ("dead", "dead"), ("replies", "out")]
            .into_iter()
            .map(|(role, sub)| {
                let d = self.dir.join(sub);
                super::QueueStat {
                    role,
                    name: d.display().to_string(),
                    messages: std::fs::read_dir(&d).map(|r| r.count() as u64).unwrap_or(0),
                    consumers: u64::from(role == "requests"),
                }
            })
            .collect()
    }
}

impl SpoolInbox {
    pub async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        loop {
            if let Some(msg) = self.take()? {
                return Ok(Some(msg));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    fn take(&self) -> Result<Option<Incoming>, TransportError> {
        let inbox = self.dir.join("in");
        let mut names: Vec<_> = std::fs::read_dir(&inbox)
            .map_err(err(&inbox))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| {
                n.to_str()
                    .is_some_and(|s| s.ends_with(".json") && !s.starts_with('.'))
            })
            .collect();
        names.sort();
        for name in names {
            let from = inbox.join(&name);
            let to = self.dir.join("work").join(&name);
            // Another taker may have won the race; try the next file.
            if std::fs::rename(&from, &to).is_err() {
                continue;
            }
            let body = std::fs::read(&to).map_err(err(&to))?;
            return Ok(Some(Incoming {
                body,
                reply: ReplyRoute::default(),
                message_id: name
                    .to_str()
                    .map(|s| s.trim_end_matches(".json").to_owned()),
                redelivered: false,
                delivery_count: 0,
                token: AckToken::Spool(to),
            }));
        }
        Ok(None)
    }
}

pub(super) fn ack(path: &Path) -> Result<(), TransportError> {
    std::fs::remove_file(path).map_err(err(path))
}

pub(super) fn requeue(path: &Path) -> Result<(), TransportError> {
    let name = path.file_name().expect("spool files have names");
    let back = path
        .parent()
        .and_then(Path::parent)
        .expect("spool work files live in <spool>/work")
        .join("in")
        .join(name);
    std::fs::rename(path, &back).map_err(err(path))
}

impl SpoolOutbox {
    pub fn describe(&self) -> String {
        format!("spool directory {}", self.dir.display())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Drops a request into the spool, as a case system would.
    pub fn submit(&self, name: &str, body: &[u8]) -> Result<(), TransportError> {
        write_atomic(&self.dir.join("in"), &format!("{name}.json"), body)
    }

    pub fn publish_reply(&self, reply: &super::Reply<'_>) -> Result<(), TransportError> {
        write_atomic(&self.dir.join("out"), &reply.spool_name(), reply.body)
    }

    pub fn publish_dead(&self, body: &[u8]) -> Result<(), TransportError> {
        write_atomic(&self.dir.join("dead"), &unique_name(""), body)
    }

    pub fn publish_event(&self, routing_key: &str, body: &[u8]) -> Result<(), TransportError> {
        let prefix = format!("{}-", routing_key.replace(['/', '\\', '.'], "_"));
        write_atomic(&self.dir.join("events"), &unique_name(&prefix), body)
    }
}

fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{}-{:08x}.json",
        crate::clock::now().unix_timestamp(),
        fastrand::u32(..)
    )
}

fn write_atomic(dir: &Path, name: &str, body: &[u8]) -> Result<(), TransportError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, body).map_err(err(&tmp))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(err(dir))
}
