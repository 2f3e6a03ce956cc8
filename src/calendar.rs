//! The Russian production calendar and the answer deadline: an agency has 5
//! working days from SMEV's `SendingTimestamp` (210-FZ art. 7.2 part 3).
//!
//! The calendar is data (`config/calendar.toml`, or the file named by
//! `gateway.calendar`): a year is either taken from the Government's decree
//! or, without one, from the Labour Code's rule (art. 112). A deadline that
//! falls in a rule-only or missing year is still computed, with a warning,
//! since the decree may move days off.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Mutex;

use serde::Deserialize;
use time::{Date, Duration, Month, OffsetDateTime, Weekday};

use crate::clock;

/// The calendar shipped with mezhved.
pub const DEFAULT_TOML: &str = include_str!("../config/calendar.toml");

/// The working days the answer deadline counts.
pub const ANSWER_WORKING_DAYS: u32 = 5;

#[derive(Debug, thiserror::Error)]
#[error("production calendar {source_name}: {message}")]
pub struct CalendarError {
    pub source_name: String,
    pub message: String,
}

/// How well the calendar knows a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// From the Government's decree.
    Decree,
    /// The Labour Code's rule only: no decree in the file.
    RuleOnly,
    /// Not in the file at all: the rule is applied.
    Missing,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    year: Vec<YearEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearEntry {
    year: i32,
    source: String,
    #[serde(default)]
    rule_only: bool,
    #[serde(default)]
    days_off: Vec<String>,
    #[serde(default)]
    working_days: Vec<String>,
    /// Informative: pre-holiday days one hour shorter (still working days).
    #[serde(default)]
    shortened: Vec<String>,
}

#[derive(Debug)]
struct Year {
    coverage: Coverage,
    source: String,
    /// Weekdays that are days off.
    days_off: HashSet<Date>,
    /// Saturdays and Sundays that are working days.
    working_days: HashSet<Date>,
}

/// A due date: the last working day, and the moment after which the answer
/// is overdue (the end of that day, Moscow time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub last_day: Date,
    pub overdue_after: OffsetDateTime,
    /// Years the computation crossed that the calendar knows only by rule
    /// or not at all, with how.
    pub uncertain: Vec<(i32, Coverage)>,
}

#[derive(Debug)]
pub struct Calendar {
    years: BTreeMap<i32, Year>,
    /// Years already warned about, so the log says it once.
    warned: Mutex<BTreeSet<i32>>,
}

impl Calendar {
    /// The calendar shipped with mezhved.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_TOML, "config/calendar.toml (built in)")
            .expect("the built-in calendar is valid")
    }

    /// The built-in calendar, or the file at `path` when one is given.
    pub fn load(path: Option<&Path>) -> Result<Self, CalendarError> {
        match path {
            None => Ok(Self::builtin()),
            Some(p) => {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| CalendarError {
                    source_name: name.clone(),
                    message: e.to_string(),
                })?;
                Self::parse(&text, &name)
            }
        }
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Self, CalendarError> {
        let err = |message: String| CalendarError {
            source_name: source_name.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut years = BTreeMap::new();
        for y in file.year {
            let year = y.year;
            let in_year = |what: &str, list: &[String]| -> Result<Vec<Date>, CalendarError> {
                let mut out = Vec::new();
                for item in list {
                    let days = parse_days(item).ok_or_else(|| {
                        err(format!(
                            "{year}: {what}: {item:?} is not a date or A..B range"
                        ))
                    })?;
                    if let Some(d) = days.iter().find(|d| d.year() != year) {
                        return Err(err(format!("{year}: {what}: {d} is in another year")));
                    }
                    out.extend(days);
                }
                Ok(out)
            };
            let days_off = in_year("days_off", &y.days_off)?;
            let working = in_year("working_days", &y.working_days)?;
            in_year("shortened", &y.shortened)?;
            if let Some(d) = working.iter().find(|d| !is_weekend(**d)) {
                return Err(err(format!(
                    "{year}: working_days: {d} is a {}, not a Saturday or Sunday",
                    d.weekday()
                )));
            }
            if y.rule_only && !(days_off.is_empty() && working.is_empty()) {
                return Err(err(format!(
                    "{year}: a rule_only year lists no days_off or working_days"
                )));
            }
            let entry = if y.rule_only {
                Year {
                    coverage: Coverage::RuleOnly,
                    ..rule_year(year, y.source)
                }
            } else {
                Year {
                    coverage: Coverage::Decree,
                    source: y.source,
                    days_off: days_off.into_iter().filter(|d| !is_weekend(*d)).collect(),
                    working_days: working.into_iter().collect(),
                }
            };
            if years.insert(year, entry).is_some() {
                return Err(err(format!("{year} is listed twice")));
            }
        }
        Ok(Calendar {
            years,
            warned: Mutex::new(BTreeSet::new()),
        })
    }

    /// The years the file covers, with how and on what authority.
    pub fn years(&self) -> Vec<(i32, Coverage, &str)> {
        self.years
            .iter()
            .map(|(y, e)| (*y, e.coverage, e.source.as_str()))
            .collect()
    }

    pub fn coverage(&self, year: i32) -> Coverage {
        self.years
            .get(&year)
            .map(|y| y.coverage)
            .unwrap_or(Coverage::Missing)
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        match self.years.get(&d.year()) {
            Some(y) => is_working(y, d),
            None => is_working(&rule_year(d.year(), String::new()), d),
        }
    }

    /// The due date of an answer to a request SMEV received at `sent`: the
    /// 5th working day after that day (Moscow time), overdue once it ends.
    pub fn answer_due(&self, sent: OffsetDateTime) -> Due {
        self.add_working_days(sent.to_offset(clock::MOSCOW).date(), ANSWER_WORKING_DAYS)
    }

    /// The `n`th working day after `from` (which itself does not count).
    pub fn add_working_days(&self, from: Date, n: u32) -> Due {
        let mut day = from;
        let mut left = n;
        let mut uncertain: Vec<(i32, Coverage)> = Vec::new();
        let mut rule_cache: BTreeMap<i32, Year> = BTreeMap::new();
        while left > 0 {
            day = day.next_day().expect("dates stay in range");
            let year = day.year();
            let y = match self.years.get(&year) {
                Some(y) => y,
                None => rule_cache.entry(year).or_insert_with(|| Year {
                    coverage: Coverage::Missing,
                    ..rule_year(year, String::new())
                }),
            };
            if y.coverage != Coverage::Decree && !uncertain.iter().any(|(yy, _)| *yy == year) {
                uncertain.push((year, y.coverage));
            }
            if is_working(y, day) {
                left -= 1;
            }
        }
        let next = day.next_day().expect("dates stay in range");
        let overdue_after = next.midnight().assume_offset(clock::MOSCOW) - Duration::nanoseconds(1);
        self.warn_once(&uncertain);
        Due {
            last_day: day,
            overdue_after,
            uncertain,
        }
    }

    fn warn_once(&self, uncertain: &[(i32, Coverage)]) {
        let mut warned = self.warned.lock().expect("calendar lock");
        for (year, coverage) in uncertain {
            if warned.insert(*year) {
                let how = match coverage {
                    Coverage::RuleOnly => {
                        "by the Labour Code's rule only (no decree in the calendar)"
                    }
                    _ => "not at all: the Labour Code's rule is applied",
                };
                tracing::warn!(
                    year,
                    "the production calendar covers {year} {how}; deadlines in it may move when the decree is added to the calendar file"
                );
            }
        }
    }
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn is_working(y: &Year, d: Date) -> bool {
    if is_weekend(d) {
        y.working_days.contains(&d)
    } else {
        !y.days_off.contains(&d)
    }
}

/// The days off of `year` by the Labour Code alone (art. 112): the public
/// holidays, and a holiday on a weekend moved to the next working day,
/// except the January ones (only a decree moves those).
fn rule_year(year: i32, source: String) -> Year {
    let date =
        |m: Month, d: u8| Date::from_calendar_date(year, m, d).expect("fixed holidays exist");
    let mut days_off: HashSet<Date> = (1..=8).map(|d| date(Month::January, d)).collect();
    let movable = [
        date(Month::February, 23),
        date(Month::March, 8),
        date(Month::May, 1),
        date(Month::May, 9),
        date(Month::June, 12),
        date(Month::November, 4),
    ];
    for h in movable {
        if !is_weekend(h) {
            days_off.insert(h);
            continue;
        }
        let mut d = h;
        loop {
            d = d.next_day().expect("dates stay in range");
            if !is_weekend(d) && !days_off.contains(&d) && !movable.contains(&d) {
                days_off.insert(d);
                break;
            }
        }
    }
    Year {
        coverage: Coverage::Missing,
        source,
        days_off: days_off.into_iter().filter(|d| !is_weekend(*d)).collect(),
        working_days: HashSet::new(),
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`.
fn parse_days(s: &str) -> Option<Vec<Date>> {
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (
            clock::parse_iso_date(a.trim())?,
            clock::parse_iso_date(b.trim())?,
        ),
        None => {
            let d = clock::parse_iso_date(s.trim())?;
            (d, d)
        }
    };
    if b < a || (b - a).whole_days() > 366 {
        return None;
    }
    let mut out = vec![a];
    let mut d = a;
    while d < b {
        d = d.next_day()?;
        out.push(d);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
