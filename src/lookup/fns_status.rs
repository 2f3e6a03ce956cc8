//! What the status records of a ФНС extract mean: the legal-entity statuses
//! (classifier СЮЛСТ, in `СвСтатус/СвСтатус/@КодСтатусЮЛ`), the
//! entrepreneur statuses (СИПСТ, `СвСтатус/СвСтатус/@КодСтатус`) and the
//! termination blocks (`СвПрекрЮЛ`, codes СЮЛПД; `СвПрекращ`, codes СИППД).
//!
//! The codes and their meanings are those the official schemas cite in
//! their annotations (ЕГРЮЛ 4.0.6: `СвСтатус` is formed only for 101, 105,
//! 111, 112, 121–199, 701, 702 and 801; ЕГРИП 4.0.5: `СвСтатус` only for a
//! farm whose head is absent, 101–104, and `СвПрекращ` for codes above 200),
//! with the classifier names as published decoders of the two classifiers
//! give them. The table is in README («Statuses»). A code not in it is never
//! read as active: the reader reports `active: null` and a fallback.

use serde::{Deserialize, Serialize};

/// The state of a subject, derived from all its status records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No status record: the register holds the subject as operating.
    #[default]
    Active,
    /// Liquidation under way (СЮЛСТ 101, 102).
    Liquidating,
    /// Bankruptcy proceedings (СЮЛСТ 113–117).
    Bankruptcy,
    /// Reorganisation under way (СЮЛСТ 121–199).
    Reorganising,
    /// The registrar decided to exclude it from the register as not
    /// operating (СЮЛСТ 105–110, СИПСТ 110).
    ExclusionPending,
    /// Share capital being reduced (СЮЛСТ 111).
    CapitalReduction,
    /// Decided to change its seat (СЮЛСТ 112).
    Relocating,
    /// A farm (КФХ) whose head is absent (СИПСТ 101–104).
    HeadAbsent,
    /// The registration is declared invalid or erroneous (СЮЛСТ 701, 702,
    /// 801; СИППД 601, 602, 701, 702, 801, 802).
    RegistrationInvalid,
    /// Ended: liquidated, or the entrepreneur stopped (a termination block).
    Terminated,
    /// Ended by reorganisation into another entity (СЮЛПД 3xx).
    Reorganised,
    /// Excluded from the register by the registrar (СЮЛПД 407, 414, 415,
    /// 418, 420; СИППД 209).
    Excluded,
    /// A status code mezhved does not know.
    Unknown,
}

impl State {
    /// Whether the subject operates in this state; `None` when unknown.
    /// Worst first: when records disagree, the least favourable wins.
    pub fn active(self) -> Option<bool> {
        match self {
            State::Active
            | State::Reorganising
            | State::CapitalReduction
            | State::Relocating
            | State::HeadAbsent => Some(true),
            State::Unknown => None,
            _ => Some(false),
        }
    }

    /// How bad a state is, to pick one among several records.
    pub fn severity(self) -> u8 {
        match self {
            State::Active => 0,
            State::CapitalReduction | State::Relocating => 1,
            State::Reorganising | State::HeadAbsent => 2,
            State::Unknown => 3,
            State::Bankruptcy => 4,
            State::ExclusionPending => 5,
            State::Liquidating => 6,
            State::RegistrationInvalid => 7,
            State::Reorganised | State::Excluded | State::Terminated => 8,
        }
    }
}

/// One row of a status table: code, state, the classifier's name.
pub type StatusRow = (&'static str, State, &'static str);

/// СЮЛСТ: the legal-entity statuses an ЕГРЮЛ `СвСтатус` can carry.
pub const LEGAL_ENTITY_STATUSES: &[StatusRow] = &[
    ("101", State::Liquidating, "Находится в стадии ликвидации"),
    (
        "102",
        State::Liquidating,
        "Находится в стадии ликвидации по решению суда",
    ),
    (
        "105",
        State::ExclusionPending,
        "Регистрирующим органом принято решение о предстоящем исключении недействующего юридического лица из ЕГРЮЛ",
    ),
    (
        "106",
        State::ExclusionPending,
        "Принято решение о предстоящем исключении юридического лица из ЕГРЮЛ (невозможность ликвидации)",
    ),
    (
        "107",
        State::ExclusionPending,
        "Принято решение о предстоящем исключении юридического лица из ЕГРЮЛ (сведения, в отношении которых внесена запись о недостоверности)",
    ),
    (
        "108",
        State::ExclusionPending,
        "Принято решение о предстоящем исключении юридического лица из ЕГРЮЛ (подпункт «г» пункта 5 статьи 21.1 129-ФЗ)",
    ),
    (
        "110",
        State::ExclusionPending,
        "Принято решение о предстоящем исключении юридического лица из ЕГРЮЛ (статья 21.3 129-ФЗ)",
    ),
    (
        "111",
        State::CapitalReduction,
        "Находится в процессе уменьшения уставного капитала",
    ),
    (
        "112",
        State::Relocating,
        "Принято решение об изменении места нахождения",
    ),
    (
        "113",
        State::Bankruptcy,
        "Возбуждено производство по делу о несостоятельности (банкротстве)",
    ),
    (
        "114",
        State::Bankruptcy,
        "В деле о несостоятельности (банкротстве) введено наблюдение",
    ),
    (
        "115",
        State::Bankruptcy,
        "В деле о несостоятельности (банкротстве) введено финансовое оздоровление",
    ),
    (
        "116",
        State::Bankruptcy,
        "В деле о несостоятельности (банкротстве) введено внешнее управление",
    ),
    (
        "117",
        State::Bankruptcy,
        "Признано несостоятельным (банкротом), открыто конкурсное производство",
    ),
    (
        "121",
        State::Reorganising,
        "Находится в процессе реорганизации в форме преобразования",
    ),
    (
        "122",
        State::Reorganising,
        "Находится в процессе реорганизации в форме слияния",
    ),
    (
        "123",
        State::Reorganising,
        "Находится в процессе реорганизации в форме разделения",
    ),
    (
        "124",
        State::Reorganising,
        "Находится в процессе реорганизации в форме присоединения к другому юридическому лицу",
    ),
    (
        "125",
        State::Reorganising,
        "Находится в процессе реорганизации в форме разделения, осуществляемой одновременно с присоединением",
    ),
    (
        "129",
        State::Reorganising,
        "Находится в процессе реорганизации при сочетании различных форм, прекратит деятельность при её завершении",
    ),
    (
        "131",
        State::Reorganising,
        "Находится в процессе реорганизации в форме выделения",
    ),
    (
        "132",
        State::Reorganising,
        "Находится в процессе реорганизации в форме присоединения к нему других юридических лиц",
    ),
    (
        "133",
        State::Reorganising,
        "Находится в процессе реорганизации в форме присоединения, осуществляемой одновременно с разделением",
    ),
    (
        "134",
        State::Reorganising,
        "Находится в процессе реорганизации в форме присоединения, осуществляемой одновременно с выделением",
    ),
    (
        "136",
        State::Reorganising,
        "Находится в процессе реорганизации в форме выделения, осуществляемой одновременно с присоединением",
    ),
    (
        "139",
        State::Reorganising,
        "Находится в процессе реорганизации при сочетании различных форм, продолжит деятельность при её завершении",
    ),
    (
        "701",
        State::RegistrationInvalid,
        "Регистрация признана недействительной по решению суда",
    ),
    (
        "702",
        State::RegistrationInvalid,
        "Внесение в ЕГРЮЛ сведений о юридическом лице, зарегистрированном до 01.07.2002, признано недействительным по решению суда",
    ),
    (
        "801",
        State::RegistrationInvalid,
        "Регистрация признана ошибочной по решению регистрирующего органа",
    ),
];

/// СИПСТ: the statuses an ЕГРИП `СвСтатус` can carry (a farm whose head is
/// absent), and the pending exclusion of an entrepreneur.
pub const ENTREPRENEUR_STATUSES: &[StatusRow] = &[
    (
        "101",
        State::HeadAbsent,
        "Глава КФХ отсутствует в связи со смертью",
    ),
    (
        "102",
        State::HeadAbsent,
        "Глава КФХ отсутствует (признан безвестно отсутствующим или умершим)",
    ),
    (
        "103",
        State::HeadAbsent,
        "Глава КФХ отсутствует в связи с аннулированием документа, подтверждающего право проживать в Российской Федерации",
    ),
    (
        "104",
        State::HeadAbsent,
        "Глава КФХ отсутствует в связи с окончанием срока действия документа, подтверждающего право проживать в Российской Федерации",
    ),
    (
        "110",
        State::ExclusionPending,
        "Принято решение о предстоящем исключении недействующего индивидуального предпринимателя из ЕГРИП",
    ),
];

/// The state a status code of `table` means; [`State::Unknown`] for a
/// code not in it.
pub fn status_state(table: &[StatusRow], code: &str) -> State {
    table
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(State::Unknown, |(_, s, _)| *s)
}

/// The state a termination block means, by its code: СЮЛПД for a legal
/// entity (`legal`), СИППД for an entrepreneur. A termination block always
/// ends the subject; the code only says how.
pub fn termination_state(legal: bool, code: &str) -> State {
    match code {
        "601" | "602" | "701" | "702" | "801" | "802" => State::RegistrationInvalid,
        "407" | "414" | "415" | "418" | "420" if legal => State::Excluded,
        "209" if !legal => State::Excluded,
        // СЮЛПД 3xx: ended by reorganisation; in СИППД 3xx ends a farm.
        c if legal && c.len() == 3 && c.starts_with('3') => State::Reorganised,
        _ => State::Terminated,
    }
}

/// The least favourable of several states; [`State::Active`] for none.
#[cfg(test)]
fn worst(states: impl IntoIterator<Item = State>) -> State {
    states
        .into_iter()
        .max_by_key(|s| s.severity())
        .unwrap_or(State::Active)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liquidation_after_another_status_is_not_active() {
        let states = ["121", "101"]
            .iter()
            .map(|c| status_state(LEGAL_ENTITY_STATUSES, c));
        let s = worst(states);
        assert_eq!(s, State::Liquidating);
        assert_eq!(s.active(), Some(false));
    }

    #[test]
    fn an_unknown_code_is_never_active() {
        let s = worst([
            status_state(LEGAL_ENTITY_STATUSES, "121"),
            status_state(LEGAL_ENTITY_STATUSES, "999"),
        ]);
        assert_eq!(s, State::Unknown);
        assert_eq!(s.active(), None);
    }

    #[test]
    fn voided_registration_and_exclusion_have_their_states() {
        assert_eq!(
            status_state(LEGAL_ENTITY_STATUSES, "701").active(),
            Some(false)
        );
        assert_eq!(termination_state(true, "407"), State::Excluded);
        assert_eq!(termination_state(false, "209"), State::Excluded);
        assert_eq!(termination_state(true, "304"), State::Reorganised);
        assert_eq!(termination_state(false, "802"), State::RegistrationInvalid);
        assert_eq!(termination_state(true, "201"), State::Terminated);
        // 301 in СИППД is a farm ended by its members' decision.
        assert_eq!(termination_state(false, "301"), State::Terminated);
    }

    #[test]
    fn every_code_the_schemas_name_is_in_the_tables() {
        for code in ["101", "105", "111", "112", "121", "701", "702", "801"] {
            assert_ne!(
                status_state(LEGAL_ENTITY_STATUSES, code),
                State::Unknown,
                "{code}"
            );
        }
        for code in ["101", "102", "103", "104"] {
            assert_ne!(
                status_state(ENTREPRENEUR_STATUSES, code),
                State::Unknown,
                "{code}"
            );
        }
    }
}
