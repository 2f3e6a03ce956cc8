//! `mezhved dlq list | show ID | replay ID… | purge`: the dead-letter
//! queue for operators.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mezhved::transport::deadletters::{DeadLetters, Fix, Letter};

pub enum Dlq {
    List {
        json: bool,
    },
    Show {
        id: String,
        json: bool,
    },
    Replay {
        ids: Vec<String>,
        set: Vec<String>,
        body: Option<PathBuf>,
    },
    Purge {
        yes: bool,
    },
}

fn why(l: &Letter) -> String {
    match (&l.reason, &l.broker_reason) {
        (Some(r), _) => format!("{} at {:?}: {}", r.code, r.field, r.message),
        (None, Some(b)) => {
            format!("moved by the broker: {b} (its handler crashed at every delivery)")
        }
        (None, None) => "no reason recorded".into(),
    }
}

pub async fn dlq(config: Option<PathBuf>, cmd: Dlq) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(config)?;
    let dl = DeadLetters::connect(&settings.amqp).await?;
    match cmd {
        Dlq::List { json } => {
            let letters = dl.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
                return Ok(ExitCode::SUCCESS);
            }
            if letters.is_empty() {
                println!("{}: empty", dl.queue());
                return Ok(ExitCode::SUCCESS);
            }
            println!("{}: {} letter(s), oldest first", dl.queue(), letters.len());
            println!("{:<38} {:<26} {:<20} reason", "id", "received", "case");
            for l in &letters {
                println!(
                    "{:<38} {:<26} {:<20} {}",
                    l.id,
                    l.received_at
                        .as_deref()
                        .map(|t| &t[..t.len().min(25)])
                        .unwrap_or("-"),
                    l.case_id.as_deref().unwrap_or("-"),
                    why(l)
                );
            }
            println!(
                "\n`mezhved dlq show ID` prints one; `mezhved dlq replay ID --set PATH=VALUE` fixes and replays it."
            );
            Ok(ExitCode::SUCCESS)
        }
        Dlq::Show { id, json } => {
            let Some(l) = dl.list().await?.into_iter().find(|l| l.id == id) else {
                eprintln!(
                    "mezhved: no letter {id} in {} (`mezhved dlq list` shows the ids)",
                    dl.queue()
                );
                return Ok(ExitCode::FAILURE);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                println!("id:          {}", l.id);
                println!("reason:      {}", why(&l));
                if let Some(t) = &l.received_at {
                    println!("received:    {t}");
                }
                if let Some(r) = &l.request_id {
                    println!("request_id:  {r}");
                }
                if let Some(c) = &l.case_id {
                    println!("case_id:     {c}");
                }
                if let Some(r) = &l.reply.reply_to {
                    println!("reply_to:    {r}");
                }
                match (&l.original, &l.original_base64) {
                    (Some(t), _) => println!("message:\n{t}"),
                    (None, Some(b)) => println!("message (not UTF-8, base64):\n{b}"),
                    _ => {}
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Dlq::Replay { ids, set, body } => {
            anyhow::ensure!(
                !ids.is_empty(),
                "name at least one letter id (`mezhved dlq list`)"
            );
            let fix = match body {
                Some(path) => {
                    anyhow::ensure!(set.is_empty(), "give --set or --body, not both");
                    Fix::Body(std::fs::read(&path).with_context(|| path.display().to_string())?)
                }
                None => Fix::parse_set(&set).map_err(anyhow::Error::msg)?,
            };
            let results = dl.replay(&ids, &fix).await?;
            let mut all_ok = true;
            for r in &results {
                all_ok &= r.ok;
                println!(
                    "{} {}{}: {}",
                    if r.ok { "replayed" } else { "NOT replayed" },
                    r.id,
                    r.request_id
                        .as_deref()
                        .map(|x| format!(" (request {x})"))
                        .unwrap_or_default(),
                    r.detail
                );
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Dlq::Purge { yes } => {
            let n = dl.count().await?;
            if n == 0 {
                println!("{}: already empty", dl.queue());
                return Ok(ExitCode::SUCCESS);
            }
            if !yes {
                anyhow::ensure!(
                    std::io::stdin().is_terminal(),
                    "purging deletes {n} letter(s) for good: confirm at a terminal, or pass --yes"
                );
                print!(
                    "Delete {n} letter(s) from {} for good? Type yes: ",
                    dl.queue()
                );
                std::io::stdout().flush()?;
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if answer.trim() != "yes" {
                    println!("nothing deleted");
                    return Ok(ExitCode::FAILURE);
                }
            }
            let purged = dl.purge().await?;
            println!("deleted {purged} letter(s) from {}", dl.queue());
            Ok(ExitCode::SUCCESS)
        }
    }
}
