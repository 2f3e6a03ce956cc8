//! `mezhved status`: one look at the gateway — queues and consumers (from
//! RabbitMQ), pending and overdue requests (from the case store), results
//! that need a fallback in the last hour, and the running daemon's
//! readiness and last errors (from its ops server). Exit code 1 when
//! something needs attention, so that it can be scripted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::{Connection, ConnectionProperties};
use mezhved::casefile::{State, Store};
use mezhved::clock;
use mezhved::config::{Settings, redact_url};
use mezhved::i18n::{self, Lang, Msg};
use mezhved::pipeline::metrics::{AGE_BANDS, age_band};
use serde_json::{Value, json};

async fn queues(s: &Settings) -> Result<Vec<Value>, String> {
    let url = &s.amqp.url;
    let conn = tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    .map_err(|_| format!("{} did not answer within 10 s", redact_url(url)))?
    .map_err(|e| format!("cannot connect to {}: {e}", redact_url(url)))?;
    let mut out = Vec::new();
    for (role, name) in [
        ("requests", s.amqp.queue_requests()),
        ("dead", s.amqp.queue_dead()),
        ("replies", s.amqp.queue_replies()),
    ] {
        // A channel per queue: a missing queue closes the channel it was asked on.
        let ch = conn.create_channel().await.map_err(|e| e.to_string())?;
        let q = ch
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await;
        out.push(match q {
            Ok(q) => json!({ "role": role, "name": name, "exists": true,
                             "messages": q.message_count(), "consumers": q.consumer_count() }),
            Err(_) => json!({ "role": role, "name": name, "exists": false }),
        });
    }
    let _ = conn.close(200, "status".into()).await;
    Ok(out)
}

fn store_view(s: &Settings) -> Result<Value, String> {
    let store = Store::reader_from_settings(s).map_err(|e| e.to_string())?;
    let open = store.open_requests().map_err(|e| e.to_string())?;
    let now = clock::now();
    let mut by_kind: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut by_age: BTreeMap<&str, u64> = AGE_BANDS.iter().map(|(b, _)| (*b, 0)).collect();
    let mut overdue = Vec::new();
    let mut pending = 0;
    for r in &open {
        if r.state.is_final() {
            continue; // a result waiting for its reply to be confirmed
        }
        pending += 1;
        *by_kind
            .entry(r.kind.as_str().to_owned())
            .or_default()
            .entry(r.state.as_str().to_owned())
            .or_default() += 1;
        *by_age
            .entry(age_band((now - r.accepted_at).whole_seconds()))
            .or_default() += 1;
        if r.state == State::Overdue {
            overdue.push(
                json!({ "request_id": r.request_id, "case_id": r.case_id, "kind": r.kind,
                                 "due_date": r.due_date.map(clock::iso_date) }),
            );
        }
    }
    let unreplied = open.iter().filter(|r| r.state.is_final()).count();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let failures: Vec<Value> = store
        .recent_fallbacks(hour_ago, Duration::from_secs(30 * 86_400))
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|r| {
            let reason = r
                .outcome
                .failure
                .as_ref()
                .map(|f| f.reason.clone())
                .or_else(|| {
                    r.outcome
                        .rejection
                        .as_ref()
                        .map(|j| format!("{} {}", j.code, j.text))
                })
                .or_else(|| r.outcome.note.clone())
                .unwrap_or_default();
            let reason_ru = r
                .outcome
                .failure
                .as_ref()
                .map(|f| f.reason_ru.clone())
                .filter(|s| !s.is_empty())
                .or_else(|| r.outcome.note_ru.clone())
                .unwrap_or_else(|| reason.clone());
            json!({ "completed_at": clock::rfc3339(r.completed_at), "request_id": r.request_id,
                    "case_id": r.case_id, "kind": r.kind, "verdict": r.outcome.verdict.as_str(),
                    "reason": reason, "reason_ru": reason_ru })
        })
        .collect();
    Ok(json!({
        "cases_root": s.gateway.cases_root.display().to_string(),
        "pending": pending, "by_kind": by_kind, "by_age": by_age,
        "overdue": overdue, "results_not_yet_replied": unreplied,
        "fallbacks_last_hour": failures,
    }))
}

async fn daemon(url: &str, token: Option<&str>) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.get(format!("{}/api/status", url.trim_end_matches('/')));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let limit = mezhved::provider::http::BodyLimit::new(4 * 1024 * 1024, Duration::from_secs(5));
    let resp = mezhved::provider::http::send_bounded(req, limit)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let body = resp.body;
    if !(200..300).contains(&resp.status) {
        return Err(format!("{url}: HTTP {}", resp.status));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
}

pub async fn status(
    config: Option<PathBuf>,
    json_out: bool,
    ops: Option<String>,
    lang: Option<Lang>,
) -> anyhow::Result<ExitCode> {
    let s = super::load_settings(config)?;
    let lang = lang.unwrap_or(s.ops.language);
    let t = |m: Msg| m.render(lang);
    let mut attention: Vec<String> = Vec::new();

    let queues = queues(&s).await;
    match &queues {
        Err(e) => attention.push(t(Msg::new("status.need_broker").arg("error", e))),
        Ok(qs) => {
            for q in qs {
                let role = q["role"].as_str().unwrap_or("");
                let name = q["name"].as_str().unwrap_or("");
                if q["exists"] == false {
                    attention.push(t(Msg::new("status.need_queue").arg("queue", name)));
                } else if role == "requests" && q["consumers"] == 0 {
                    attention.push(t(Msg::new("status.need_consumer")));
                } else if role == "dead" && q["messages"].as_u64().unwrap_or(0) > 0 {
                    attention.push(t(Msg::new("status.need_dlq")
                        .arg("n", &q["messages"])
                        .arg("queue", name)));
                }
            }
        }
    }
    let store = store_view(&s);
    match &store {
        Err(e) => attention.push(t(Msg::new("status.need_store").arg("error", e))),
        Ok(v) => {
            let overdue = v["overdue"].as_array().map(Vec::len).unwrap_or(0);
            if overdue > 0 {
                attention.push(t(Msg::new("status.need_overdue").arg("n", overdue)));
            }
            let f = v["fallbacks_last_hour"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            if f > 0 {
                attention.push(t(Msg::new("status.need_fallback").arg("n", f)));
            }
        }
    }
    let ops_url = ops.or_else(|| {
        let l = &s.ops.listen;
        (!l.is_empty() && !l.ends_with(":0")).then(|| format!("http://{l}"))
    });
    let token = s.ops.token().ok().flatten();
    let daemon = match &ops_url {
        Some(u) => Some(daemon(u, token.as_deref()).await),
        None => None,
    };
    match &daemon {
        Some(Ok(d)) if d["ready"] != true => {
            let failing: Vec<String> = d["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["ok"] == false)
                .map(|c| {
                    let name = c["name"].as_str().unwrap_or("");
                    format!(
                        "{}: {}",
                        i18n::label(lang, "check.name", name),
                        detail(c, lang)
                    )
                })
                .collect();
            attention.push(t(
                Msg::new("status.need_ready").arg("checks", failing.join("; "))
            ));
        }
        Some(Err(e)) => attention.push(t(Msg::new("status.need_daemon").arg("error", e))),
        _ => {}
    }

    if json_out {
        let v = json!({
            "at": clock::rfc3339(clock::now()),
            "queues": queues.as_ref().map(|q| json!(q)).unwrap_or_else(|e| json!({ "error": e })),
            "store": store.clone().unwrap_or_else(|e| json!({ "error": e })),
            "daemon": match &daemon {
                Some(Ok(d)) => d.clone(),
                Some(Err(e)) => json!({ "error": e }),
                None => Value::Null,
            },
            "attention": attention,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_human(
            lang,
            &s,
            &queues,
            &store,
            &daemon,
            ops_url.as_deref(),
            &attention,
        );
    }
    Ok(if attention.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A check's detail in `lang` (a daemon of an older version has only
/// the English one).
fn detail(c: &Value, lang: Lang) -> &str {
    let en = c["detail"].as_str().unwrap_or("");
    match lang {
        Lang::Ru => c["detail_ru"].as_str().unwrap_or(en),
        Lang::En => en,
    }
}

fn print_human(
    lang: Lang,
    s: &Settings,
    queues: &Result<Vec<Value>, String>,
    store: &Result<Value, String>,
    daemon: &Option<Result<Value, String>>,
    ops_url: Option<&str>,
    attention: &[String],
) {
    let t = |key: &'static str| i18n::text(lang, key);
    let m = |key: &'static str| Msg::new(key);
    let r = |msg: Msg| msg.render(lang);
    let now = clock::rfc3339(clock::now());
    println!(
        "{}\n",
        r(m("status.title").arg("at", now[..19.min(now.len())].replace('T', " ")))
    );
    println!(
        "{}",
        r(m("status.queues_on").arg("url", redact_url(&s.amqp.url)))
    );
    match queues {
        Err(e) => println!("  {}", r(m("status.unreachable").arg("error", e))),
        Ok(qs) => {
            println!(
                "  {:<32} {:>9} {:>10}",
                t("status.col_queue"),
                t("status.col_messages"),
                t("status.col_consumers")
            );
            for q in qs {
                if q["exists"] == true {
                    println!(
                        "  {:<32} {:>9} {:>10}",
                        q["name"].as_str().unwrap_or(""),
                        q["messages"].to_string(),
                        q["consumers"].to_string()
                    );
                } else {
                    println!(
                        "  {:<32} {:>9} {:>10}",
                        q["name"].as_str().unwrap_or(""),
                        "-",
                        t("status.missing")
                    );
                }
            }
        }
    }
    println!();
    match store {
        Err(e) => println!("{}", r(m("status.store_error").arg("error", e))),
        Ok(v) => {
            println!(
                "{}",
                r(m("status.pending")
                    .arg("root", v["cases_root"].as_str().unwrap_or(""))
                    .arg("pending", &v["pending"])
                    .arg(
                        "overdue",
                        v["overdue"].as_array().map(Vec::len).unwrap_or(0)
                    ))
            );
            let states = ["accepted", "retrying", "sent", "overdue", "answered"];
            if let Some(kinds) = v["by_kind"].as_object().filter(|k| !k.is_empty()) {
                print!("  {:<26}", t("status.col_kind"));
                for st in states {
                    print!(" {:>16}", i18n::label(lang, "state", st));
                }
                println!();
                for (k, counts) in kinds {
                    print!("  {:<26}", i18n::label(lang, "kind", k));
                    for st in states {
                        print!(" {:>16}", counts[st].as_u64().unwrap_or(0));
                    }
                    println!();
                }
                let ages: Vec<String> = AGE_BANDS
                    .iter()
                    .map(|(b, _)| {
                        format!(
                            "{} {}",
                            i18n::text(lang, &format!("status.age_{b}")),
                            v["by_age"][b].as_u64().unwrap_or(0)
                        )
                    })
                    .collect();
                println!("  {}", r(m("status.by_age").arg("list", ages.join(", "))));
            }
            for o in v["overdue"].as_array().into_iter().flatten().take(20) {
                let kind = o["kind"].as_str().unwrap_or("");
                println!(
                    "  {}",
                    r(m("status.overdue_line")
                        .arg("case", o["case_id"].as_str().unwrap_or(""))
                        .arg("kind", i18n::label(lang, "kind", kind))
                        .arg("request", o["request_id"].as_str().unwrap_or(""))
                        .arg("due", o["due_date"].as_str().unwrap_or("?")))
                );
            }
            let f = v["fallbacks_last_hour"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            println!("\n{}", r(m("status.fallbacks").arg("n", f.len())));
            for x in f.iter().take(20) {
                let at = x["completed_at"].as_str().unwrap_or("");
                let kind = x["kind"].as_str().unwrap_or("");
                let verdict = x["verdict"].as_str().unwrap_or("");
                let reason = match lang {
                    Lang::Ru => x["reason_ru"].as_str(),
                    Lang::En => None,
                }
                .or(x["reason"].as_str())
                .unwrap_or("");
                println!(
                    "  {}  {:<18} {:<20} {:<9} {}",
                    at.get(11..19).unwrap_or(at),
                    x["case_id"].as_str().unwrap_or(""),
                    i18n::label(lang, "kind", kind),
                    i18n::label(lang, "verdict", verdict),
                    reason
                );
            }
        }
    }
    println!();
    match (daemon, ops_url) {
        (None, _) => println!("{}", t("status.no_ops")),
        (Some(Err(e)), _) => println!("{}", r(m("status.daemon_error").arg("error", e))),
        (Some(Ok(d)), url) => {
            println!(
                "{}",
                r(m("status.daemon")
                    .arg("instance", d["instance"].as_str().unwrap_or("?"))
                    .arg("url", url.unwrap_or("?"))
                    .arg(
                        "state",
                        t(if d["ready"] == true {
                            "status.ready"
                        } else {
                            "status.not_ready"
                        })
                    ))
            );
            for c in d["checks"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or("");
                println!(
                    "  {} {:<26} {}",
                    t(if c["ok"] == true {
                        "status.check_ok"
                    } else {
                        "status.check_fail"
                    }),
                    i18n::label(lang, "check.name", name),
                    detail(c, lang)
                );
            }
            let errors = d["errors"].as_array().cloned().unwrap_or_default();
            if !errors.is_empty() {
                println!("  {}", t("status.last_errors"));
                for e in errors.iter().take(10) {
                    let at = e["at"].as_str().unwrap_or("");
                    println!(
                        "    {} {:<5} {} {}",
                        at.get(11..19).unwrap_or(at),
                        e["level"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or(""),
                        e["fields"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    println!();
    if attention.is_empty() {
        println!("{}", t("status.all_well"));
    } else {
        println!("{}", t("status.attention"));
        for a in attention {
            println!("  - {a}");
        }
    }
}
