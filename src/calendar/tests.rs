use time::macros::datetime;

use super::*;

fn d(s: &str) -> Date {
    clock::parse_iso_date(s).unwrap()
}

fn due(sent: OffsetDateTime) -> Due {
    Calendar::builtin().answer_due(sent)
}

#[test]
fn five_working_days_after_the_day_smev_received_the_request() {
    // Thursday: Fri, Mon, Tue, Wed, Thu.
    let due = due(datetime!(2026-11-19 10:00 +3));
    assert_eq!(due.last_day, d("2026-11-26"));
    assert_eq!(
        due.overdue_after,
        datetime!(2026-11-26 23:59:59.999_999_999 +3)
    );
    assert!(due.uncertain.is_empty());
}

#[test]
fn the_day_is_taken_in_moscow_time() {
    // 22:30 UTC on Thursday is 01:30 on Friday in Moscow.
    let due = due(datetime!(2026-11-19 22:30 UTC));
    assert_eq!(due.last_day, d("2026-11-27"));
}

#[test]
fn public_holidays_are_skipped_and_the_day_before_still_counts() {
    // 3 November 2026 is shortened but working; 4 November is a holiday.
    assert_eq!(
        due(datetime!(2026-11-02 09:00 +3)).last_day,
        d("2026-11-10")
    );
}

#[test]
fn a_saturday_made_working_by_decree_counts() {
    // 2025: Saturday 1 November works (moved from 3 November); 3-4 November off.
    let cal = Calendar::builtin();
    assert!(cal.is_working_day(d("2025-11-01")));
    assert!(!cal.is_working_day(d("2025-11-03")));
    assert_eq!(
        due(datetime!(2025-10-31 12:00 +3)).last_day,
        d("2025-11-10")
    );
}

#[test]
fn days_moved_from_january_by_decree_are_off() {
    // 2025: 4 January moved to Friday 2 May, 23 February to Thursday 8 May.
    let cal = Calendar::builtin();
    assert!(!cal.is_working_day(d("2025-05-02")));
    assert!(!cal.is_working_day(d("2025-05-08")));
    assert_eq!(
        due(datetime!(2025-04-30 12:00 +3)).last_day,
        d("2025-05-13")
    );
}

#[test]
fn the_new_year_holidays_cross_the_year_boundary() {
    // 31 December 2025 and 1-11 January 2026 are off.
    assert_eq!(
        due(datetime!(2025-12-30 15:00 +3)).last_day,
        d("2026-01-16")
    );
    let cal = Calendar::builtin();
    assert!(!cal.is_working_day(d("2026-01-09")));
    assert!(cal.is_working_day(d("2026-01-12")));
}

#[test]
fn a_rule_only_year_moves_weekend_holidays_and_says_it_is_uncertain() {
    let cal = Calendar::builtin();
    assert_eq!(cal.coverage(2027), Coverage::RuleOnly);
    // 1 May 2027 is a Saturday: Monday 3 May is off by the rule.
    assert!(!cal.is_working_day(d("2027-05-03")));
    // 9 May is a Sunday: Monday 10 May is off; 12 June a Saturday: 14 June off.
    assert!(!cal.is_working_day(d("2027-05-10")));
    assert!(!cal.is_working_day(d("2027-06-14")));
    let due = cal.answer_due(datetime!(2027-04-29 10:00 +3));
    assert_eq!(due.last_day, d("2027-05-07"));
    assert_eq!(due.uncertain, [(2027, Coverage::RuleOnly)]);
    // From the last days of 2026 into 2027: uncertain too.
    let due = cal.answer_due(datetime!(2026-12-30 10:00 +3));
    assert_eq!(due.last_day, d("2027-01-15"));
    assert_eq!(due.uncertain, [(2027, Coverage::RuleOnly)]);
}

#[test]
fn a_year_missing_from_the_file_is_computed_by_the_rule_with_a_warning() {
    let cal = Calendar::builtin();
    assert_eq!(cal.coverage(2030), Coverage::Missing);
    let due = cal.answer_due(datetime!(2030-03-06 10:00 +3));
    // 8 March 2030 is a Friday: off. Thu 7, Mon 11, Tue 12, Wed 13, Thu 14.
    assert_eq!(due.last_day, d("2030-03-14"));
    assert_eq!(due.uncertain, [(2030, Coverage::Missing)]);
}

#[test]
fn a_calendar_file_with_mistakes_is_refused_with_the_reason() {
    for (text, says) in [
        (
            "[[year]]\nyear = 2026\nsource = \"x\"\nworking_days = [\"2026-11-23\"]",
            "not a Saturday or Sunday",
        ),
        (
            "[[year]]\nyear = 2026\nsource = \"x\"\ndays_off = [\"2027-01-01\"]",
            "in another year",
        ),
        (
            "[[year]]\nyear = 2026\nsource = \"x\"\ndays_off = [\"2026-05-09..2026-05-01\"]",
            "not a date or A..B range",
        ),
        (
            "[[year]]\nyear = 2026\nsource = \"x\"\n[[year]]\nyear = 2026\nsource = \"y\"",
            "listed twice",
        ),
        (
            "[[year]]\nyear = 2026\nsource = \"x\"\nrule_only = true\ndays_off = [\"2026-01-02\"]",
            "rule_only",
        ),
        ("[[year]]\nyear = 2026\nsorce = \"x\"", "unknown field"),
    ] {
        let e = Calendar::parse(text, "test.toml").unwrap_err().to_string();
        assert!(e.contains(says) && e.contains("test.toml"), "{e}");
    }
}

#[test]
fn an_operator_adds_a_year_as_data() {
    let text = format!(
        "{DEFAULT_TOML}\n[[year]]\nyear = 2028\nsource = \"decree\"\ndays_off = [\"2028-01-01..2028-01-08\", \"2028-01-10\"]\nworking_days = [\"2028-01-15\"]\n"
    );
    let cal = Calendar::parse(&text, "operator.toml").unwrap();
    assert_eq!(cal.coverage(2028), Coverage::Decree);
    assert!(!cal.is_working_day(d("2028-01-10")));
    assert!(cal.is_working_day(d("2028-01-15")));
    assert!(
        cal.answer_due(datetime!(2028-01-05 10:00 +3))
            .uncertain
            .is_empty()
    );
}
