//! `mezhved fixtures serve|list`: the emulator and its data.

use std::path::PathBuf;
use std::process::ExitCode;

use mezhved::emulator::{self, Fixtures};
use mezhved::lookup::Registry;

pub async fn serve(
    config: Option<PathBuf>,
    listen: Option<String>,
    data: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(config)?;
    super::init_logging(&settings.log.level, &settings.log.format);
    let listen = listen.unwrap_or_else(|| settings.emulator.listen.clone());
    let data = data.unwrap_or_else(|| settings.emulator.data.clone());
    let running = emulator::start(&settings, &listen, &data).await?;
    println!("SMEV 3 emulator listening on {}", running.endpoint());
    println!(
        "signing with {}; certificate for your trust store: {}",
        running.node.algorithm(),
        running.certificate.display()
    );
    println!(
        "ЕИС РНП service: {} (published archive {}); Минюст registry: {}",
        running.eis_endpoint(),
        running.eis_archive(),
        running.minjust_base()
    );
    println!(
        "SMEV file store (FTP): ftp://{}/ (uploads as {:?}; GET/PUT {}/control/file-store)",
        running.file_store_addr(),
        settings.emulator.file_store_user,
        format_args!("http://{}", running.addr)
    );
    println!(
        "data: {} (`mezhved fixtures list` shows the subjects)",
        data.display()
    );
    tokio::select! {
        _ = running_wait(running) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn running_wait(r: emulator::Running) {
    r.wait().await
}

pub fn list(
    config: Option<PathBuf>,
    data: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(config)?;
    let data = data.unwrap_or_else(|| settings.emulator.data.clone());
    let registry = Registry::new(&settings.lookup);
    let fixtures = Fixtures::load(&data, &registry)?;
    if json {
        println!("{}", serde_json::to_string_pretty(fixtures.subjects())?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<22} {:<11} {:<34} note",
        "kind", "key", "verdict", "identifiers"
    );
    for s in fixtures.subjects() {
        println!(
            "{:<20} {:<22} {:<11} {:<34} {}",
            s.kind.as_str(),
            s.key,
            s.expect.as_str(),
            s.identifiers.join(" "),
            s.note.as_deref().unwrap_or("")
        );
    }
    println!(
        "{} subjects in {}",
        fixtures.subjects().len(),
        data.display()
    );
    Ok(ExitCode::SUCCESS)
}
