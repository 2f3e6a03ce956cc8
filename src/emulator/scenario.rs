//! What a tester can make the emulator do: per subject (in the data files,
//! or set at run time through the control API) and, for the next calls of
//! an operation, whatever subject they concern.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::request::Kind;
use crate::smev::FaultKind;

/// Behaviour attached to a subject. Unset fields mean "behave normally".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    // --- on SendRequest ---
    /// Answer `SendRequest` with this SOAP fault (`SMEVFailure`,
    /// `AccessDenied`, `MessageIsAlreadySent`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Answer `SendRequest` with a bare HTTP error (500, 503…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Break the connection instead of answering `SendRequest`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_connection: bool,
    /// Wait this long before answering `SendRequest` (past a client's timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_secs: Option<f64>,
    /// Apply the four above to this many attempts, then behave normally
    /// (unset: every attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Treat the business request as failing its schema: `"sync"` (SOAP
    /// fault `InvalidContent`) or `"async"` (accepted, then an
    /// `AsyncProcessingStatus` rejection in the response queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_error: Option<SchemaErrors>,

    /// The `SendingTimestamp` SMEV reports on accepting the request (RFC
    /// 3339), instead of now: to see deadlines pass without waiting days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_timestamp: Option<String>,

    // --- on the answer ---
    /// The answer becomes available this many seconds after the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_secs: Option<f64>,
    /// The provider never answers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_answer: bool,
    /// `RequestRejected` with this code (`ACCESS_DENIED`, `NO_DATA`,
    /// `UNKNOWN_REQUEST_DESCRIPTION`, `FAILURE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<String>,
    /// The `RejectionReasonDescription` to go with `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_text: Option<String>,
    /// A VS processing code instead of data (ЕГРЮЛ `КодОбр` 01/53/54,
    /// tax debt `КодОбраб`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// SMEV's signature on the answer: `"wrong"` (does not verify) or
    /// `"missing"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureFault>,
    /// The first delivery of the answer is not well-formed XML (later
    /// deliveries are fine).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub malformed_xml: bool,
    /// The first delivery carries a DOCTYPE with an external entity.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub doctype: bool,
    /// The answer is delivered twice (as after a lost acknowledgement).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// ЕГРЮЛ/ЕГРИП: the extract comes as a ZIP attachment (`КодОбр` 54)
    /// made from the subject's answer, sent this way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentTransfer>,
    /// What goes wrong with that attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_fault: Option<AttachmentFault>,
    /// With `attachment`: the ZIP also holds `scan.pdf` of this many bytes,
    /// stored uncompressed (for measuring large attachments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_padding_bytes: Option<u64>,
}

/// How an answer's attachment travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentTransfer {
    /// In the message, as an MTOM part.
    Mtom,
    /// Through the file store.
    Ftp,
}

/// Attachment faults of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentFault {
    /// The `SignaturePKCS7` is over other bytes than the file.
    BadSignature,
    /// The header names a part the message does not carry.
    MissingFile,
    /// The file store's `Hash` is not the file's.
    WrongHash,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaErrors {
    Sync,
    Async,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureFault {
    Wrong,
    Missing,
}

impl Scenario {
    /// Refuses fault names the faults schema does not have.
    pub fn check(&self) -> Result<(), String> {
        if let Some(f) = &self.fault
            && matches!(FaultKind::from_element_name(f), FaultKind::Other(_))
        {
            return Err(format!(
                "unknown fault {f:?}; one of: {}",
                FaultKind::all()
                    .map(|k| k.element_name().to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(r) = &self.reject
            && ![
                "ACCESS_DENIED",
                "NO_DATA",
                "UNKNOWN_REQUEST_DESCRIPTION",
                "FAILURE",
            ]
            .contains(&r.as_str())
        {
            return Err(format!(
                "unknown rejection code {r:?}; one of ACCESS_DENIED, NO_DATA, UNKNOWN_REQUEST_DESCRIPTION, FAILURE"
            ));
        }
        if let Some(s) = self.http_status
            && !(400..=599).contains(&s)
        {
            return Err(format!("http_status {s} is not an HTTP error"));
        }
        if let Some(t) = &self.sending_timestamp
            && crate::clock::parse_rfc3339(t).is_none()
        {
            return Err(format!("sending_timestamp {t:?} is not an RFC 3339 time"));
        }
        for (name, v) in [
            ("slow_secs", self.slow_secs),
            ("delay_secs", self.delay_secs),
        ] {
            if v.is_some_and(|v| !(0.0..=86_400.0).contains(&v)) {
                return Err(format!("{name} must be between 0 and 86400"));
            }
        }
        Ok(())
    }

    /// Whether this scenario does something to `SendRequest` itself.
    pub fn disturbs_send(&self) -> bool {
        self.fault.is_some()
            || self.http_status.is_some()
            || self.drop_connection
            || self.slow_secs.is_some()
    }

    pub fn slow(&self) -> Option<Duration> {
        self.slow_secs.map(Duration::from_secs_f64)
    }

    pub fn delay(&self) -> Option<Duration> {
        self.delay_secs.map(Duration::from_secs_f64)
    }
}

/// A disturbance of the next calls of one operation (or of all: `*`),
/// whatever they concern: for a number of calls (`times`) or for a while
/// (`for_secs`, an outage).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `SendRequest`, `GetResponse`, `Ack`, `GetStatus`, the registers'
    /// services `eis` and `minjust`, or `*` (every one of them).
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_connection: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_secs: Option<f64>,
    /// How many calls it disturbs (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// Instead of `times`: every call for this many seconds from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<f64>,
    #[serde(skip)]
    until: Option<std::time::Instant>,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn check(&self) -> Result<(), String> {
        if ![
            "SendRequest",
            "GetResponse",
            "Ack",
            "GetStatus",
            "eis",
            "minjust",
            "*",
        ]
        .contains(&self.operation.as_str())
        {
            return Err(format!(
                "unknown operation {:?}; one of SendRequest, GetResponse, Ack, GetStatus, eis, minjust, *",
                self.operation
            ));
        }
        if self.for_secs.is_some_and(|v| !(v > 0.0 && v <= 86_400.0)) {
            return Err("for_secs must be more than 0 and at most 86400".into());
        }
        Scenario {
            fault: self.fault.clone(),
            http_status: self.http_status,
            slow_secs: self.slow_secs,
            ..Scenario::default()
        }
        .check()?;
        if self.fault.is_none()
            && self.http_status.is_none()
            && !self.drop_connection
            && self.slow_secs.is_none()
        {
            return Err("give fault, http_status, drop_connection or slow_secs".into());
        }
        Ok(())
    }
}

/// Scenarios set at run time and the queue of one-off faults, shared by the
/// emulator's handlers.
#[derive(Debug, Default)]
pub struct Scenarios {
    by_subject: Mutex<HashMap<(Kind, String), Scenario>>,
    faults: Mutex<VecDeque<Fault>>,
    /// `SendRequest` attempts disturbed so far, per subject.
    attempts: Mutex<HashMap<(Kind, String), u32>>,
}

impl Scenarios {
    pub fn set(&self, kind: Kind, identifier: &str, s: Scenario) {
        self.by_subject
            .lock()
            .expect("scenario lock")
            .insert((kind, identifier.to_owned()), s);
        self.attempts
            .lock()
            .expect("scenario lock")
            .remove(&(kind, identifier.to_owned()));
    }

    pub fn remove(&self, kind: Kind, identifier: &str) -> bool {
        self.by_subject
            .lock()
            .expect("scenario lock")
            .remove(&(kind, identifier.to_owned()))
            .is_some()
    }

    pub fn get(&self, kind: Kind, identifier: &str) -> Option<Scenario> {
        self.by_subject
            .lock()
            .expect("scenario lock")
            .get(&(kind, identifier.to_owned()))
            .cloned()
    }

    pub fn list(&self) -> Vec<(Kind, String, Scenario)> {
        let mut v: Vec<_> = self
            .by_subject
            .lock()
            .expect("scenario lock")
            .iter()
            .map(|((k, id), s)| (*k, id.clone(), s.clone()))
            .collect();
        v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        v
    }

    pub fn push_fault(&self, mut f: Fault) {
        f.until = f
            .for_secs
            .map(|s| std::time::Instant::now() + Duration::from_secs_f64(s));
        self.faults.lock().expect("scenario lock").push_back(f);
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.faults
            .lock()
            .expect("scenario lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Takes one use of the first pending fault for `operation`.
    pub fn take_fault(&self, operation: &str) -> Option<Fault> {
        let mut q = self.faults.lock().expect("scenario lock");
        let now = std::time::Instant::now();
        q.retain(|f| f.until.is_none_or(|u| now < u));
        let pos = q
            .iter()
            .position(|f| f.operation == operation || f.operation == "*")?;
        let f = &mut q[pos];
        let taken = f.clone();
        if f.until.is_none() {
            f.times = f.times.saturating_sub(1);
            if f.times == 0 {
                q.remove(pos);
            }
        }
        Some(taken)
    }

    /// Whether a subject's `SendRequest` disturbance applies to this attempt
    /// (counting it).
    pub fn send_attempt_disturbed(&self, kind: Kind, identifier: &str, s: &Scenario) -> bool {
        if !s.disturbs_send() {
            return false;
        }
        let mut a = self.attempts.lock().expect("scenario lock");
        let n = a.entry((kind, identifier.to_owned())).or_insert(0);
        *n += 1;
        s.times.is_none_or(|t| *n <= t)
    }

    pub fn reset(&self) {
        self.by_subject.lock().expect("scenario lock").clear();
        self.faults.lock().expect("scenario lock").clear();
        self.attempts.lock().expect("scenario lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_from_toml_and_refuse_typos() {
        let s: Scenario = toml::from_str("fault = \"SMEVFailure\"\ntimes = 2").unwrap();
        assert!(s.check().is_ok());
        assert!(toml::from_str::<Scenario>("faul = \"x\"").is_err());
        let bad: Scenario = toml::from_str("fault = \"NoSuchFault\"").unwrap();
        assert!(bad.check().unwrap_err().contains("unknown fault"));
        let bad: Scenario = toml::from_str("reject = \"NOPE\"").unwrap();
        assert!(bad.check().is_err());
    }

    #[test]
    fn times_limits_the_disturbed_attempts() {
        let sc = Scenarios::default();
        let s = Scenario {
            fault: Some("SMEVFailure".into()),
            times: Some(2),
            ..Scenario::default()
        };
        let hits: Vec<bool> = (0..4)
            .map(|_| sc.send_attempt_disturbed(Kind::Egrul, "x", &s))
            .collect();
        assert_eq!(hits, [true, true, false, false]);
    }

    #[test]
    fn one_off_faults_are_used_up() {
        let sc = Scenarios::default();
        sc.push_fault(Fault {
            operation: "GetResponse".into(),
            fault: None,
            http_status: Some(503),
            drop_connection: false,
            slow_secs: None,
            times: 2,
            for_secs: None,
            until: None,
        });
        assert!(sc.take_fault("SendRequest").is_none());
        assert!(sc.take_fault("GetResponse").is_some());
        assert!(sc.take_fault("GetResponse").is_some());
        assert!(sc.take_fault("GetResponse").is_none());
    }
}
