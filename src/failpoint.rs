//! Deliberate failures, for the tests that prove a crash loses nothing.
//!
//! Off unless the environment variable `MEZHVED_FAILPOINTS` names them, as
//! `name=value` pairs separated by commas; nothing in a production setup
//! sets it. The points:
//!
//! | name | effect |
//! |---|---|
//! | `panic-on-case=ID` | the handler panics on a request of case `ID` (a poison message) |
//! | `abort-on-case=ID` | the process aborts on a request of case `ID` |
//! | `gate-at=STAGE`, `gate-file=PATH` | at `STAGE` (`result`: a result is about to be written, documents and journal), while `PATH` exists the writer waits for it to be removed (a test changes the world meanwhile: fills the disk) |
//! | `abort-at=STAGE` | the process aborts at that point of a request's life: `accepted` (recorded, not acknowledged), `acked`, `signed` (envelope stored, not sent), `sent-unrecorded` (SMEV accepted, not recorded), `sent`, `answered` (answer stored, no Ack), `answer-acked`, `completed` (result written, no reply), `replied-unrecorded` (reply confirmed, not recorded) |

use std::sync::OnceLock;

pub const ENV: &str = "MEZHVED_FAILPOINTS";

fn points() -> &'static [(String, String)] {
    static POINTS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var(ENV)
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    })
}

/// Whether the failpoint `name` is set to `value`.
pub fn is_set(name: &str, value: &str) -> bool {
    points().iter().any(|(k, v)| k == name && v == value)
}

/// Fails as configured for a request of `case_id`.
pub fn on_case(case_id: &str) {
    if is_set("panic-on-case", case_id) {
        panic!("failpoint panic-on-case={case_id}");
    }
    if is_set("abort-on-case", case_id) {
        eprintln!("failpoint abort-on-case={case_id}");
        std::process::abort();
    }
}

/// Aborts the process if `abort-at` names this stage.
pub fn at(stage: &str) {
    if is_set("abort-at", stage) {
        eprintln!("failpoint abort-at={stage}");
        std::process::abort();
    }
}

/// Waits at `stage` while the gate file exists, if `gate-at` names it.
pub fn gate(stage: &str) {
    if !is_set("gate-at", stage) {
        return;
    }
    let Some((_, file)) = points().iter().find(|(k, _)| k == "gate-file") else {
        return;
    };
    let file = std::path::Path::new(file);
    if file.exists() {
        eprintln!(
            "failpoint gate-at={stage}: waiting for {} to go",
            file.display()
        );
        while file.exists() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("failpoint gate-at={stage}: passed");
    }
}
