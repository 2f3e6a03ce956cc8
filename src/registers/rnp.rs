//! The register of unreliable suppliers as the regulation asks about it:
//! was the subject in the register at any moment of the `lookback` years
//! before `as_of` (§2.10(12): «наличие в течение 2 лет, предшествующих
//! выдаче заключения … информации об организации в реестре недобросовестных
//! поставщиков»), not only today.
//!
//! Every source (ЕИС online, a local snapshot, the SMEV VS) reads its
//! documents into [`RnpRecord`]s; [`assess`] gives the verdict. It never
//! guesses: a record whose dates cannot settle the question makes the
//! verdict `unknown`, unless another record already settles it as `listed`.

use serde::Serialize;
use time::{Date, Month};

use crate::lookup::{Outcome, Verdict};

/// One РНП record, whatever document it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RnpRecord {
    pub registry_number: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpp: Option<String>,
    /// ЕИС `state` (`PUBLISHED`, `ON_EXCLUSION`, `TEMP_EXCLUDED`,
    /// `ARCHIVED`, `REVIEW_CANCELED`) as published; the 2022 format has
    /// none (its exclusions are documents of their own), then empty.
    pub state: String,
    /// Date of inclusion in the register (`approveDate`), Moscow time.
    #[serde(default, with = "crate::clock::opt_date")]
    pub included_on: Option<Date>,
    /// Basis of inclusion: the reason code and the decision text.
    pub basis: String,
    /// The date the record was excluded (`exclude/excludeDate`).
    #[serde(
        default,
        with = "crate::clock::opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub excluded_on: Option<Date>,
    /// `ORDER`, `EXCLUSION` or `ROLLBACK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_kind: Option<String>,
    /// The automatic exclusion date (`autoExDateInfo/autoExDate`),
    /// normally two years after inclusion.
    #[serde(
        default,
        with = "crate::clock::opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub automatic_exclusion_on: Option<Date>,
    /// When ЕИС published this version of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
}

/// What one record says about the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// In the register at some moment of the window.
    InWindow,
    /// Its time in the register lies wholly outside the window (or it was
    /// never in the register: `REVIEW_CANCELED`).
    OutsideWindow,
    /// Its dates cannot settle it.
    Undetermined,
}

/// `[from, to]`: the days the regulation looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: Date,
    pub to: Date,
}

impl Window {
    /// The `years` before `as_of`, counted as ГК РФ ст. 192 counts years: the
    /// same month and day, or the month's last day when it has no such day
    /// (29 February → 28 February).
    pub fn before(as_of: Date, years: u32) -> Window {
        let year = as_of.year() - years as i32;
        let from = Date::from_calendar_date(year, as_of.month(), as_of.day())
            .or_else(|_| Date::from_calendar_date(year, Month::February, 28))
            .expect("28 February exists in every year");
        Window { from, to: as_of }
    }
}

const KNOWN_STATES: [&str; 5] = [
    "PUBLISHED",
    "ON_EXCLUSION",
    "TEMP_EXCLUDED",
    "ARCHIVED",
    "REVIEW_CANCELED",
];

impl RnpRecord {
    /// The day the record left the register, if its documents say: the
    /// earlier of the exclusion and the automatic exclusion. That day the
    /// supplier is no longer in the register.
    pub fn ended_on(&self) -> Option<Date> {
        match (self.excluded_on, self.automatic_exclusion_on) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the record placed the subject in the register at some moment
    /// of `w`: its time there is `[included_on, ended_on)`, whatever its
    /// state says now.
    pub fn presence(&self, w: Window) -> Presence {
        if self.state == "REVIEW_CANCELED" {
            // ФАС refused the inclusion: the supplier was never in the register.
            return Presence::OutsideWindow;
        }
        if !self.state.is_empty() && !KNOWN_STATES.contains(&self.state.as_str()) {
            return Presence::Undetermined;
        }
        let Some(start) = self.included_on else {
            return Presence::Undetermined;
        };
        if start > w.to {
            return Presence::OutsideWindow;
        }
        match self.ended_on() {
            Some(end) if end <= start => {
                // Excluded the day it was included, or the dates disagree.
                if end < start {
                    Presence::Undetermined
                } else {
                    Presence::OutsideWindow
                }
            }
            Some(end) if end > w.from => Presence::InWindow,
            Some(_) => Presence::OutsideWindow,
            None if start >= w.from => Presence::InWindow,
            // No end date: still in the register, unless its state says it
            // left (then when it left is unknown).
            None => match self.state.as_str() {
                "PUBLISHED" | "ON_EXCLUSION" | "" => Presence::InWindow,
                _ => Presence::Undetermined,
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct Facts<'a> {
    #[serde(with = "crate::clock::opt_date")]
    as_of: Option<Date>,
    lookback_years: u32,
    #[serde(with = "crate::clock::opt_date")]
    window_from: Option<Date>,
    records: Vec<RecordFacts<'a>>,
}

#[derive(Debug, Serialize)]
struct RecordFacts<'a> {
    #[serde(flatten)]
    record: &'a RnpRecord,
    presence: Presence,
}

/// The verdict on `records` (all of them about the subject) for the
/// `lookback` years before `as_of`.
pub fn assess(records: &[RnpRecord], as_of: Date, lookback: u32) -> Outcome {
    let w = Window::before(as_of, lookback);
    let judged: Vec<(&RnpRecord, Presence)> = records.iter().map(|r| (r, r.presence(w))).collect();
    let facts = Facts {
        as_of: Some(as_of),
        lookback_years: lookback,
        window_from: Some(w.from),
        records: judged
            .iter()
            .map(|(record, presence)| RecordFacts {
                record,
                presence: *presence,
            })
            .collect(),
    };
    let listed: Vec<&str> = judged
        .iter()
        .filter(|(_, p)| *p == Presence::InWindow)
        .map(|(r, _)| r.registry_number.as_str())
        .collect();
    let undetermined: Vec<String> = judged
        .iter()
        .filter(|(_, p)| *p == Presence::Undetermined)
        .map(|(r, _)| describe_undetermined(r))
        .collect();
    let period = format!(
        "{} – {}",
        crate::clock::iso_date(w.from),
        crate::clock::iso_date(w.to)
    );
    if !listed.is_empty() {
        return Outcome::with_facts(Verdict::Listed, facts).with_note(format!(
            "in the register during {period} ({lookback} years before {}): {}",
            crate::clock::iso_date(as_of),
            listed.join(", ")
        ));
    }
    if !undetermined.is_empty() {
        return Outcome::with_facts(Verdict::Unknown, facts).with_note(format!(
            "the register's dates do not settle whether the supplier was in it during {period}: {}",
            undetermined.join("; ")
        ));
    }
    let outcome = Outcome::with_facts(Verdict::NotListed, facts);
    if records.is_empty() {
        outcome
    } else {
        outcome.with_note(format!(
            "earlier records exist, none of them in the register during {period}"
        ))
    }
}

fn describe_undetermined(r: &RnpRecord) -> String {
    if !r.state.is_empty() && !KNOWN_STATES.contains(&r.state.as_str()) {
        return format!("{}: unknown state {:?}", r.registry_number, r.state);
    }
    match r.included_on {
        None => format!("{}: no inclusion date", r.registry_number),
        Some(_) if r.ended_on().is_some() => {
            format!("{}: exclusion before inclusion", r.registry_number)
        }
        Some(_) => format!(
            "{}: {} without an exclusion date",
            r.registry_number, r.state
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn rec(state: &str, included: Option<Date>, excluded: Option<Date>) -> RnpRecord {
        RnpRecord {
            registry_number: "РНП.1-26".into(),
            name: "ООО \"ТЕСТ\"".into(),
            inn: Some("7812345675".into()),
            kpp: None,
            state: state.into(),
            included_on: included,
            basis: "CANCEL_CONTRACT".into(),
            excluded_on: excluded,
            exclusion_kind: None,
            automatic_exclusion_on: None,
            published_at: None,
        }
    }

    const AS_OF: Date = date!(2026 - 11 - 20);
    const FROM: Date = date!(2024 - 11 - 20);

    fn verdict(records: &[RnpRecord]) -> Verdict {
        assess(records, AS_OF, 2).verdict
    }

    fn day(d: Date, n: i64) -> Date {
        d + time::Duration::days(n)
    }

    #[test]
    fn the_window_is_the_two_years_before_as_of_with_29_february_on_28() {
        assert_eq!(Window::before(AS_OF, 2).from, FROM);
        assert_eq!(
            Window::before(date!(2028 - 02 - 29), 2).from,
            date!(2026 - 02 - 28)
        );
        assert_eq!(
            Window::before(date!(2028 - 02 - 29), 4).from,
            date!(2024 - 02 - 29)
        );
        assert_eq!(
            Window::before(date!(2027 - 03 - 01), 1).from,
            date!(2026 - 03 - 01)
        );
    }

    #[test]
    fn inclusion_at_the_window_edges() {
        // Included exactly on as_of: in the register that day.
        assert_eq!(
            verdict(&[rec("PUBLISHED", Some(AS_OF), None)]),
            Verdict::Listed
        );
        // The day after as_of: not yet (as_of in the past).
        assert_eq!(
            verdict(&[rec("PUBLISHED", Some(day(AS_OF, 1)), None)]),
            Verdict::NotListed
        );
        // Included long before, never excluded: still in the register.
        assert_eq!(
            verdict(&[rec("PUBLISHED", Some(date!(2020 - 01 - 01)), None)]),
            Verdict::Listed
        );
        assert_eq!(
            verdict(&[rec("ON_EXCLUSION", Some(date!(2025 - 01 - 01)), None)]),
            Verdict::Listed
        );
    }

    #[test]
    fn exclusion_at_the_window_edges() {
        let inc = Some(date!(2022 - 06 - 01));
        // Excluded exactly on as_of − 2 years: that day it was already out.
        assert_eq!(
            verdict(&[rec("ARCHIVED", inc, Some(FROM))]),
            Verdict::NotListed
        );
        // A day later: it was in the register on the window's first day.
        assert_eq!(
            verdict(&[rec("ARCHIVED", inc, Some(day(FROM, 1)))]),
            Verdict::Listed
        );
        // A day earlier: out before the window.
        assert_eq!(
            verdict(&[rec("ARCHIVED", inc, Some(day(FROM, -1)))]),
            Verdict::NotListed
        );
        // Excluded six months ago: the case, refused by §2.10(12).
        let o = assess(
            &[rec("ARCHIVED", inc, Some(date!(2026 - 05 - 20)))],
            AS_OF,
            2,
        );
        assert_eq!(o.verdict, Verdict::Listed);
        let f = o.facts.unwrap();
        assert_eq!(f["records"][0]["excluded_on"], "2026-05-20");
        assert_eq!(f["records"][0]["included_on"], "2022-06-01");
        assert_eq!(f["window_from"], "2024-11-20");
        assert_eq!(f["records"][0]["presence"], "in_window");
    }

    #[test]
    fn the_automatic_exclusion_date_ends_a_record_as_an_exclusion_does() {
        let mut r = rec("ARCHIVED", Some(date!(2022 - 11 - 20)), None);
        r.automatic_exclusion_on = Some(FROM);
        assert_eq!(verdict(std::slice::from_ref(&r)), Verdict::NotListed);
        r.automatic_exclusion_on = Some(day(FROM, 1));
        assert_eq!(verdict(std::slice::from_ref(&r)), Verdict::Listed);
        // A state not yet updated past the automatic exclusion: the date counts.
        let mut p = rec("PUBLISHED", Some(date!(2022 - 01 - 10)), None);
        p.automatic_exclusion_on = Some(date!(2024 - 01 - 10));
        assert_eq!(verdict(&[p]), Verdict::NotListed);
        // The earlier of exclusion and automatic exclusion ends it.
        let mut both = rec("ARCHIVED", Some(date!(2022 - 01 - 10)), Some(day(FROM, -3)));
        both.automatic_exclusion_on = Some(date!(2025 - 01 - 10));
        assert_eq!(verdict(&[both]), Verdict::NotListed);
    }

    #[test]
    fn records_without_an_exclusion_date() {
        // Out of the register by its state, but since when is not said:
        // included within the window, it counts; before it, it cannot be settled.
        assert_eq!(
            verdict(&[rec("ARCHIVED", Some(date!(2025 - 03 - 01)), None)]),
            Verdict::Listed
        );
        let o = assess(
            &[rec("ARCHIVED", Some(date!(2023 - 03 - 01)), None)],
            AS_OF,
            2,
        );
        assert_eq!(o.verdict, Verdict::Unknown);
        assert!(o.note.unwrap().contains("without an exclusion date"));
        assert_eq!(verdict(&[rec("PUBLISHED", None, None)]), Verdict::Unknown);
    }

    #[test]
    fn temporarily_excluded_records_count_for_their_time_in_the_register() {
        // TEMP_EXCLUDED while a court case runs: in the register until then.
        assert_eq!(
            verdict(&[rec(
                "TEMP_EXCLUDED",
                Some(date!(2026 - 02 - 09)),
                Some(date!(2026 - 04 - 01))
            )]),
            Verdict::Listed
        );
        assert_eq!(
            verdict(&[rec(
                "TEMP_EXCLUDED",
                Some(date!(2022 - 02 - 09)),
                Some(date!(2024 - 01 - 01))
            )]),
            Verdict::NotListed
        );
        assert_eq!(
            verdict(&[rec("TEMP_EXCLUDED", Some(date!(2026 - 02 - 09)), None)]),
            Verdict::Listed
        );
        assert_eq!(
            verdict(&[rec("TEMP_EXCLUDED", Some(date!(2023 - 02 - 09)), None)]),
            Verdict::Unknown
        );
    }

    #[test]
    fn a_refused_inclusion_never_counts() {
        assert_eq!(
            verdict(&[rec("REVIEW_CANCELED", Some(date!(2026 - 09 - 17)), None)]),
            Verdict::NotListed
        );
        assert_eq!(
            verdict(&[rec("REVIEW_CANCELED", None, None)]),
            Verdict::NotListed
        );
    }

    #[test]
    fn an_unknown_state_is_unknown_unless_another_record_settles_it() {
        let odd = rec("PENDING_REVIEW", Some(date!(2026 - 09 - 30)), None);
        assert_eq!(verdict(std::slice::from_ref(&odd)), Verdict::Unknown);
        let clear = rec("PUBLISHED", Some(date!(2026 - 01 - 30)), None);
        assert_eq!(verdict(&[odd, clear]), Verdict::Listed);
    }

    #[test]
    fn leap_day_edges() {
        let as_of = date!(2028 - 02 - 29);
        let inc = Some(date!(2025 - 01 - 01));
        let at = |end: Date| assess(&[rec("ARCHIVED", inc, Some(end))], as_of, 2).verdict;
        assert_eq!(at(date!(2026 - 02 - 28)), Verdict::NotListed);
        assert_eq!(at(date!(2026 - 03 - 01)), Verdict::Listed);
        assert_eq!(at(date!(2026 - 02 - 27)), Verdict::NotListed);
        // Included on a leap day, as_of exactly then.
        assert_eq!(
            assess(&[rec("PUBLISHED", Some(as_of), None)], as_of, 2).verdict,
            Verdict::Listed
        );
    }

    #[test]
    fn no_records_is_not_listed_without_a_note() {
        let o = assess(&[], AS_OF, 2);
        assert_eq!(o.verdict, Verdict::NotListed);
        assert!(o.note.is_none());
        assert_eq!(o.facts.unwrap()["records"], serde_json::json!([]));
    }
}
