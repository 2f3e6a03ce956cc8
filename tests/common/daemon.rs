//! `mezhved run` as a separate process, so that tests can kill it for real
//! (`kill -9`, SIGTERM), next to an emulator in the test process.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mezhved::config::Settings;
use mezhved::emulator;

use super::harness::{Client, test_settings};

/// An emulator, a case store and queue names shared by the daemons of one test.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    pub emulator: emulator::Running,
    started: std::cell::Cell<u32>,
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Setup {
    pub async fn new(prefix: &str) -> Setup {
        Self::new_with(prefix, |_| {}).await
    }

    /// As [`Setup::new`]; `adjust` changes the settings (the emulator's
    /// among them) before the emulator starts.
    pub async fn new_with(prefix: &str, adjust: impl FnOnce(&mut Settings)) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(dir.path(), prefix);
        settings.emulator.redeliver_after_secs = 1.0;
        adjust(&mut settings);
        let data = settings.emulator.data.clone();
        let emulator = emulator::start(&settings, "127.0.0.1:0", &data)
            .await
            .unwrap();
        settings.smev.endpoint = emulator.endpoint();
        settings.smev.trust = vec![emulator.certificate.clone()];
        emulator.point_registers(&mut settings);
        Setup {
            dir,
            settings,
            emulator,
            started: std::cell::Cell::new(0),
        }
    }

    /// The daemon's configuration, as environment variables.
    pub fn env(&self) -> Vec<(String, String)> {
        let s = &self.settings;
        let mut env = vec![
            (
                "MEZHVED__GATEWAY__CASES_ROOT",
                s.gateway.cases_root.display().to_string(),
            ),
            (
                "MEZHVED__GATEWAY__STATE_DIR",
                s.gateway.state_dir.display().to_string(),
            ),
            ("MEZHVED__GATEWAY__INSTANCE_CHECK_SECS", "0.5".into()),
            ("MEZHVED__GATEWAY__SHUTDOWN_GRACE_SECS", "5".into()),
            ("MEZHVED__AMQP__PREFIX", s.amqp.prefix.clone()),
            ("MEZHVED__AMQP__RECONNECT_MAX_SECS", "1".into()),
            ("MEZHVED__SMEV__ENDPOINT", s.smev.endpoint.clone()),
            (
                "MEZHVED__SMEV__TRUST",
                s.smev.trust[0].display().to_string(),
            ),
            (
                "MEZHVED__REGISTERS__EIS__ENDPOINT",
                s.registers.eis.endpoint.clone(),
            ),
            (
                "MEZHVED__REGISTERS__MINJUST__BASE_URL",
                s.registers.minjust.base_url.clone(),
            ),
            ("MEZHVED__SMEV__POLL_MIN_MS", "20".into()),
            ("MEZHVED__SMEV__POLL_MAX_MS", "200".into()),
            ("MEZHVED__SMEV__TIMEOUT_SECS", "5".into()),
            ("MEZHVED__SMEV__BREAKER_OPEN_SECS", "0.5".into()),
            ("MEZHVED__SMEV__BREAKER_MAX_OPEN_SECS", "2".into()),
            ("MEZHVED__RETRY__INITIAL_MS", "100".into()),
            ("MEZHVED__RETRY__MAX_MS", "1000".into()),
            ("MEZHVED__RETRY__ATTEMPTS", "20".into()),
            ("MEZHVED__LOG__LEVEL", "info".into()),
            ("MEZHVED__OPS__LISTEN", "127.0.0.1:0".into()),
            ("MEZHVED__OPS__CHECK_SECS", "0.3".into()),
            ("MEZHVED__OPS__SAMPLE_SECS", "0.5".into()),
            ("MEZHVED__OPS__PROBE_TIMEOUT_SECS", "1".into()),
        ];
        if let Ok(url) = std::env::var("MEZHVED_TEST_AMQP_URL") {
            env.push(("MEZHVED__AMQP__URL", url));
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Starts `mezhved run` with `extra` environment (failpoints…) and waits
    /// until it is ready.
    pub fn spawn(&self, extra: &[(&str, &str)]) -> Daemon {
        let n = self.started.get() + 1;
        self.started.set(n);
        let log = self.dir.path().join(format!("daemon-{n}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mezhved"));
        cmd.arg("run")
            .current_dir(super::root())
            .envs(self.env())
            .env_remove("MEZHVED_FAILPOINTS")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut d = Daemon {
            child: cmd.spawn().unwrap(),
            log,
        };
        d.wait_log("mezhved: signing with", Duration::from_secs(20));
        d
    }

    /// Deletes the test's queues and exchange.
    pub async fn cleanup(self) {
        let client = Client::connect().await;
        for q in [
            self.settings.amqp.queue_requests(),
            self.settings.amqp.queue_dead(),
            self.settings.amqp.queue_replies(),
        ] {
            let _ = client
                .channel
                .queue_delete(q.as_str().into(), Default::default())
                .await;
        }
        let _ = client
            .channel
            .exchange_delete(
                self.settings.amqp.exchange_results().as_str().into(),
                Default::default(),
            )
            .await;
        self.emulator.stop();
    }

    /// Results in the case store per request id: how many final results
    /// its case journal records.
    pub fn results_per_request(&self) -> HashMap<String, usize> {
        mezhved::casefile::journal::final_results(&self.settings.gateway.cases_root, "")
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v as usize))
            .collect()
    }
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Its resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid()))
    }

    /// The ops server's base URL, from the start-up line.
    pub fn ops_url(&self) -> String {
        let log = self.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("mezhved: ops server on "))
            .unwrap_or_else(|| panic!("no ops server line:\n{log}"));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap();
        url.to_owned()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `needle` in the log; panics with the log after `limit`.
    pub fn wait_log(&mut self, needle: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            if self.log_text().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the daemon exited ({status}) before {needle:?}:\n{}",
                    self.log_text()
                );
            }
            assert!(
                start.elapsed() < limit,
                "no {needle:?} within {limit:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to end, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends a signal by name (`TERM`, `KILL`…).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} {}", self.pid());
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
