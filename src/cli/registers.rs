//! `mezhved registers sync`: the local snapshots of РНП and of the register
//! of foreign agents, from files in the registers' official formats or
//! downloaded from the configured sources, with progress on the terminal.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use mezhved::config::Settings;
use mezhved::registers::snapshot::{self, Meta, Progress};

pub async fn sync(
    config: Option<PathBuf>,
    eis: Vec<PathBuf>,
    minjust: Option<PathBuf>,
    only: Option<String>,
) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(config)?;
    super::init_logging("warn", &settings.log.format);
    let (want_eis, want_minjust) = match only.as_deref() {
        None => (true, true),
        Some("eis") => (true, false),
        Some("minjust") => (false, true),
        Some(other) => bail!("--only {other:?}: eis or minjust"),
    };
    let dir = settings.registers.snapshot_dir(&settings.gateway.state_dir);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    println!("snapshots in {}", dir.display());
    let mut failed = false;
    if want_eis {
        let r = sync_eis(&settings, &dir, &eis).await;
        failed |= report("ЕИС РНП", r);
    }
    if want_minjust {
        let r = sync_minjust(&settings, &dir, minjust.as_ref()).await;
        failed |= report("Минюст, иностранные агенты", r);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn report(what: &str, r: anyhow::Result<Meta>) -> bool {
    match r {
        Ok(m) => {
            println!(
                "{what}: {} records, data as of {}, synced {}",
                m.records,
                m.data_as_of.as_deref().unwrap_or("?"),
                m.synced_at
            );
            false
        }
        Err(e) => {
            eprintln!("{what}: {e:#}");
            true
        }
    }
}

/// Prints progress lines as a sync goes.
fn printer(what: &'static str) -> impl FnMut(Progress<'_>) {
    move |p| {
        match p {
            Progress::File(name, i, n) => println!("{what}: reading {name} ({i}/{n})"),
            Progress::Read(k) => print!("\r{what}: {k} read"),
            Progress::Done(m) => {
                println!();
                if m.rejected.count > 0 {
                    println!(
                        "{what}: {} published documents fail the register's schema and were left out; first: {}",
                        m.rejected.count,
                        m.rejected.first.join(" | ")
                    );
                }
            }
        }
        let _ = std::io::stdout().flush();
    }
}

fn client(
    settings: &Settings,
    ca_file: &str,
    name: &str,
) -> anyhow::Result<mezhved::registers::SourceClient> {
    let r = &settings.registers;
    mezhved::registers::SourceClient::new(
        name,
        ca_file,
        Duration::from_secs(r.timeout_secs.max(300)),
        r.breaker(),
        // Whole publications, not one answer.
        1024 * 1024 * 1024,
    )
    .map_err(anyhow::Error::msg)
}

/// Downloads `url`, saying how much came.
async fn download(
    c: &mezhved::registers::SourceClient,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    println!("downloading {url}");
    let mut req = c.http().get(url);
    if let Some(t) = token {
        req = req.header(mezhved::registers::eis::TOKEN_HEADER, t);
    }
    let a = c
        .send(req, true)
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    if a.status != 200 {
        bail!(
            "{url} answered HTTP {}: {}",
            a.status,
            mezhved::registers::http::excerpt(&a.body)
        );
    }
    println!("  {} bytes", a.body.len());
    Ok(a.body)
}

async fn sync_eis(
    settings: &Settings,
    dir: &std::path::Path,
    files: &[PathBuf],
) -> anyhow::Result<Meta> {
    let mut inputs = Vec::new();
    if files.is_empty() {
        let r = &settings.registers;
        if r.eis.snapshot_urls.is_empty() {
            bail!("give --eis FILE… or set registers.eis.snapshot_urls");
        }
        let c = client(settings, &r.eis.ca_file, "ЕИС")?;
        let token = r.eis_token().map_err(anyhow::Error::msg)?;
        for url in &r.eis.snapshot_urls {
            let name = url.rsplit('/').next().unwrap_or(url).to_owned();
            inputs.push((name, download(&c, url, token.as_deref()).await?));
        }
    } else {
        for f in files {
            let b = std::fs::read(f).with_context(|| f.display().to_string())?;
            inputs.push((f.display().to_string(), b));
        }
    }
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || snapshot::import_eis(&dir, &inputs, &mut printer("ЕИС")))
        .await?
        .map_err(anyhow::Error::msg)
}

async fn sync_minjust(
    settings: &Settings,
    dir: &std::path::Path,
    file: Option<&PathBuf>,
) -> anyhow::Result<Meta> {
    let (name, bytes, as_of) = match file {
        Some(f) => {
            let b = std::fs::read(f).with_context(|| f.display().to_string())?;
            (f.display().to_string(), b, None)
        }
        None => {
            let r = &settings.registers.minjust;
            let c = client(settings, &r.ca_file, "Минюст")?;
            let info = download(&c, &format!("{}info", r.base_url), None).await?;
            let as_of = mezhved::registers::minjust::last_modified(&info);
            let url = format!("{}export", r.base_url);
            (url.clone(), download(&c, &url, None).await?, as_of)
        }
    };
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        snapshot::import_minjust(&dir, &name, &bytes, as_of, &mut printer("Минюст"))
    })
    .await?
    .map_err(anyhow::Error::msg)
}
