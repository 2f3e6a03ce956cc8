//! The texts people read, in Russian and English, in one place: the
//! dashboard, `mezhved status`, the overdue notices and the reasons in
//! replies. Each text has a stable key; a text with parameters names them
//! in braces (`{field}`), the same ones in both languages (a test checks).
//! Logs and metric names stay English and are not here.
//!
//! Adding a text is adding one [`Entry`] to [`CATALOGUE`]; a refusal code
//! or a failure code without its texts fails the tests of this module.

use serde::{Deserialize, Serialize};

/// A language of the texts (`ops.language`, `mezhved status --lang`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Lang {
    #[default]
    Ru,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }
}

impl TryFrom<String> for Lang {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::parse(s).ok_or_else(|| format!("{s:?} is not a language: ru or en"))
    }
}

/// One text in both languages.
pub struct Entry {
    pub key: &'static str,
    pub en: &'static str,
    pub ru: &'static str,
}

const fn e(key: &'static str, en: &'static str, ru: &'static str) -> Entry {
    Entry { key, en, ru }
}

/// The text of `key` in `lang`; the key itself when there is none (a test
/// keeps every key the code asks for in the catalogue).
pub fn text(lang: Lang, key: &str) -> &str {
    match CATALOGUE.iter().find(|x| x.key == key) {
        Some(x) => match lang {
            Lang::Ru => x.ru,
            Lang::En => x.en,
        },
        None => key,
    }
}

/// A value as people read it (`kind.egrul` → «ЕГРЮЛ»): the text of
/// `group.value`, or the value itself when the catalogue has none (a kind
/// or a check newer than its texts).
pub fn label<'a>(lang: Lang, group: &str, value: &'a str) -> &'a str {
    let key = format!("{group}.{value}");
    match CATALOGUE.iter().find(|x| x.key == key) {
        Some(x) => match lang {
            Lang::Ru => x.ru,
            Lang::En => x.en,
        },
        None => value,
    }
}

/// The text of `key` with its `{name}` parameters filled in.
pub fn fill(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut out = text(lang, key).to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A text to be rendered later, in whichever language is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Msg {
    pub fn new(key: &'static str) -> Self {
        Msg {
            key,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &'static str, value: impl std::fmt::Display) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    pub fn render(&self, lang: Lang) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fill(lang, self.key, &args)
    }
}

/// A text in both languages, made once (a readiness check's detail).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Both {
    pub en: String,
    pub ru: String,
}

impl Both {
    /// `f` rendered in each language.
    pub fn of(f: impl Fn(Lang) -> String) -> Self {
        Both {
            en: f(Lang::En),
            ru: f(Lang::Ru),
        }
    }

    /// The same text in both (an error from elsewhere, a path).
    pub fn same(s: impl Into<String>) -> Self {
        let s = s.into();
        Both {
            en: s.clone(),
            ru: s,
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Ru => &self.ru,
            Lang::En => &self.en,
        }
    }

    /// Both joined with `sep` to `other`.
    pub fn join(mut self, sep: &str, other: &Both) -> Self {
        self.en = format!("{}{sep}{}", self.en, other.en);
        self.ru = format!("{}{sep}{}", self.ru, other.ru);
        self
    }
}

impl From<Msg> for Both {
    fn from(m: Msg) -> Self {
        Both::of(|l| m.render(l))
    }
}

/// Every text whose key starts with `prefix`, in `lang`, keyed without the
/// prefix (the dashboard's table).
pub fn table(lang: Lang, prefix: &str) -> serde_json::Map<String, serde_json::Value> {
    CATALOGUE
        .iter()
        .filter_map(|x| {
            x.key.strip_prefix(prefix).map(|k| {
                let t = match lang {
                    Lang::Ru => x.ru,
                    Lang::En => x.en,
                };
                (k.to_owned(), serde_json::Value::String(t.to_owned()))
            })
        })
        .collect()
}

/// The Russian sentence for a refused message: what was wrong, naming the
/// field as an officer knows it.
pub fn refusal(lang: Lang, code: crate::request::InvalidCode, field: &str) -> String {
    use crate::request::InvalidCode as C;
    let key = match code {
        C::MalformedJson => "refusal.malformed_json",
        C::TooLarge => "refusal.too_large",
        C::MissingField => "refusal.missing_field",
        C::UnknownField => "refusal.unknown_field",
        C::WrongType => "refusal.wrong_type",
        C::InvalidValue => "refusal.invalid_value",
        C::InvalidCheckDigit => "refusal.invalid_check_digit",
        C::UnsafeCaseId => "refusal.unsafe_case_id",
        C::RequestIdReused => "refusal.request_id_reused",
        C::DuplicateKey => "refusal.duplicate_key",
        C::UnsafeReplyTo => "refusal.unsafe_reply_to",
        C::SchemaViolation => "refusal.schema_violation",
        C::UnsafePath => "refusal.unsafe_path",
        C::FileNotFound => "refusal.file_not_found",
    };
    fill(lang, key, &[("field", &field_label(lang, field))])
}

/// A field path as an officer reads it: `ИНН (subject.inn)`.
pub fn field_label(lang: Lang, field: &str) -> String {
    if field.is_empty() {
        return text(lang, "field.message").to_owned();
    }
    let last = field.rsplit('.').next().unwrap_or(field);
    let key = format!("field.{last}");
    match CATALOGUE.iter().find(|x| x.key == key) {
        Some(x) => format!(
            "{} ({field})",
            match lang {
                Lang::Ru => x.ru,
                Lang::En => x.en,
            }
        ),
        None => field.to_owned(),
    }
}

/// The catalogue. Keys: `refusal.<code>` (replies to refused messages),
/// `failure.<code>` (why a request failed), `note.<verdict>` (what a note
/// on a verdict means for the officer), `overdue.note`, `field.<name>`,
/// `verdict.<v>`, `state.<s>`, `kind.<k>`, `check.<name>…` (readiness),
/// `dash.<…>` (the dashboard page), `status.<…>` (`mezhved status`).
pub static CATALOGUE: &[Entry] = &[
    // Refusals: reason.message_ru of a refused reply (reason.message keeps
    // the gateway's precise English sentence for the operator).
    e(
        "refusal.malformed_json",
        "The request was not accepted: the message is not valid JSON (UTF-8).",
        "Запрос не принят: сообщение не является корректным JSON (UTF-8).",
    ),
    e(
        "refusal.too_large",
        "The request was not accepted: {field} is larger than allowed (the reason gives its size and the limit).",
        "Запрос не принят: {field} больше допустимого размера (размер и предел указаны в причине).",
    ),
    e(
        "refusal.missing_field",
        "The request was not accepted: a required field is missing: {field}.",
        "Запрос не принят: не заполнено обязательное поле {field}.",
    ),
    e(
        "refusal.unknown_field",
        "The request was not accepted: the request format has no field {field}.",
        "Запрос не принят: поле {field} не предусмотрено форматом запроса.",
    ),
    e(
        "refusal.wrong_type",
        "The request was not accepted: {field} has the wrong type of value.",
        "Запрос не принят: значение {field} имеет неверный тип.",
    ),
    e(
        "refusal.invalid_value",
        "The request was not accepted: the value of {field} is not valid.",
        "Запрос не принят: недопустимое значение {field}.",
    ),
    e(
        "refusal.invalid_check_digit",
        "The request was not accepted: {field} fails its check digit; check the number.",
        "Запрос не принят: не сходится контрольная цифра {field}; проверьте номер.",
    ),
    e(
        "refusal.unsafe_case_id",
        "The request was not accepted: the {field} must be 1–50 letters, digits, «-», «_» or «.», starting with a letter or digit.",
        "Запрос не принят: {field} должен состоять из 1–50 букв, цифр, «-», «_» или «.» и начинаться с буквы или цифры.",
    ),
    e(
        "refusal.request_id_reused",
        "The request was not accepted: {field} already belongs to another request (another case, or other content in the same case); give the request a new one.",
        "Запрос не принят: {field} уже принадлежит другому запросу (в другом деле или с другим содержанием в этом деле); присвойте запросу новый.",
    ),
    e(
        "refusal.duplicate_key",
        "The request was not accepted: {field} is given twice in one object; give each key once.",
        "Запрос не принят: {field} указан в одном объекте дважды; каждый ключ указывается один раз.",
    ),
    e(
        "refusal.schema_violation",
        "The request was not accepted: the business XML ({field}) does not follow the schema configured for its VS; see the reason for what is wrong.",
        "Запрос не принят: XML вида сведений ({field}) не соответствует схеме, настроенной для этого ВС; что именно не так, указано в причине.",
    ),
    e(
        "refusal.unsafe_reply_to",
        "The request was not accepted: {field} names one of the gateway's own queues; name the case system's reply queue.",
        "Запрос не принят: {field} указывает на собственную очередь шлюза; укажите очередь ответов системы делопроизводства.",
    ),
    e(
        "refusal.unsafe_path",
        "The request was not accepted: {field} leads out of the gateway's inbox; give a path relative to the inbox, with no «..» and no links pointing elsewhere.",
        "Запрос не принят: {field} ведёт за пределы входящего каталога шлюза; укажите путь относительно этого каталога, без «..» и без ссылок за его пределы.",
    ),
    e(
        "refusal.file_not_found",
        "The request was not accepted: the file named in {field} is not in the gateway's inbox (or is not a regular file); put it there first.",
        "Запрос не принят: файла, указанного в {field}, нет во входящем каталоге шлюза (или это не обычный файл); сначала поместите его туда.",
    ),
    // Field names in refusals.
    e("field.message", "the message", "сообщение"),
    e("field.request_id", "request id", "идентификатор запроса"),
    e("field.reply_to", "reply queue", "очередь ответов"),
    e("field.case_id", "case number", "номер дела"),
    e("field.kind", "kind of lookup", "вид запроса"),
    e("field.subject", "subject", "сведения о субъекте"),
    e("field.inn", "ИНН", "ИНН"),
    e("field.ogrn", "ОГРН", "ОГРН"),
    e("field.ogrnip", "ОГРНИП", "ОГРНИП"),
    e("field.snils", "СНИЛС", "СНИЛС"),
    e("field.kpp", "КПП", "КПП"),
    e(
        "field.as_of",
        "date of the information",
        "дата, на которую запрашиваются сведения",
    ),
    e("field.test", "test flag", "признак тестового запроса"),
    e(
        "field.personal_signature",
        "personal signature flag",
        "признак подписи должностного лица",
    ),
    e(
        "field.details",
        "details of the request",
        "реквизиты запроса",
    ),
    e(
        "field.requesting_body",
        "requesting body",
        "запрашивающий орган",
    ),
    e("field.service", "state service", "государственная услуга"),
    e(
        "field.registry_number",
        "service's register number",
        "реестровый номер услуги",
    ),
    e("field.legal_basis", "legal basis", "правовое основание"),
    e("field.act", "legal act", "нормативный правовой акт"),
    e("field.article", "article", "статья (пункт)"),
    e("field.official", "official", "должностное лицо"),
    e("field.name", "name", "наименование (ФИО)"),
    e("field.position", "position", "должность"),
    e("field.phone", "phone", "телефон"),
    e("field.email", "e-mail", "электронная почта"),
    e("field.path", "attachment's path", "путь к файлу вложения"),
    e(
        "field.mime_type",
        "attachment's MIME type",
        "тип файла вложения",
    ),
    e(
        "field.content_base64",
        "attachment's content",
        "содержимое вложения",
    ),
    e("field.attachments", "attachments", "вложения"),
    e(
        "field.applicant_consent",
        "applicant's consent",
        "согласие заявителя",
    ),
    // Failures: failure.reason_ru of a failed result (failure.reason keeps
    // the technical detail for the operator).
    e(
        "failure.answer_unreadable",
        "The agency's answer came but cannot be read as the answer to this request. Get the information another way (a paper request or the public register); the answer is kept in the case file.",
        "Ответ ведомства получен, но не может быть прочитан как ответ на этот запрос. Получите сведения иным способом (запрос на бумажном носителе или открытый реестр); ответ сохранён в деле.",
    ),
    e(
        "failure.answer_signature_invalid",
        "SMEV's signature on the answer did not verify: the answer cannot be relied on. Get the information another way; the answer is kept in the case file.",
        "Подпись СМЭВ на ответе не прошла проверку: ответу нельзя доверять. Получите сведения иным способом; ответ сохранён в деле.",
    ),
    e(
        "failure.stored_document_unreadable",
        "A document kept in the case file cannot be read. Get the information another way; the operator has the detail.",
        "Сохранённый в деле документ не удалось прочитать. Получите сведения иным способом; подробности — у оператора.",
    ),
    e(
        "failure.signing_failed",
        "The request could not be signed and sent to SMEV. Get the information another way; the operator checks the key and the certificate.",
        "Запрос не удалось подписать и направить в СМЭВ. Получите сведения иным способом; оператору — проверить ключ и сертификат.",
    ),
    e(
        "failure.send_failed",
        "SMEV did not take the request (a technical error). Get the information another way; the operator has the detail.",
        "СМЭВ не принял запрос из-за технической ошибки. Получите сведения иным способом; подробности — у оператора.",
    ),
    e(
        "failure.send_attempts_exhausted",
        "SMEV did not accept the request after repeated attempts. Get the information another way, or ask again later with a new request.",
        "СМЭВ не принял запрос после нескольких попыток. Получите сведения иным способом или направьте новый запрос позже.",
    ),
    e(
        "failure.attachment_failed",
        "An attachment of the request could not be prepared for sending (read, hashed or signed); the request was not sent. See the reason, fix the file and send the request again.",
        "Вложение запроса не удалось подготовить к отправке (прочитать, вычислить хеш или подписать); запрос не отправлен. Причина указана; исправьте файл и отправьте запрос заново.",
    ),
    e(
        "failure.attachment_transfer_failed",
        "SMEV's file store did not take an attachment of the request before its answer would have been due (or refused it); the request was not sent. Get the information another way.",
        "Файловое хранилище СМЭВ не приняло вложение запроса до истечения срока ответа (или отказало в приёме); запрос не отправлен. Получите сведения иным способом.",
    ),
    e(
        "failure.send_deadline_passed",
        "SMEV did not accept the request before its answer would have been due. Get the information another way.",
        "СМЭВ не принял запрос до истечения срока ответа. Получите сведения иным способом.",
    ),
    e(
        "failure.source_not_configured",
        "No source of the register is configured for this kind of lookup. Get the information another way; the operator checks [registers].",
        "Для этого вида запроса не настроен источник сведений реестра. Получите сведения иным способом; оператору — проверить настройки [registers].",
    ),
    e(
        "failure.source_failed",
        "The register's own source could not answer this request. Get the information another way (a paper request or the public register); the operator has the detail.",
        "Источник сведений реестра не смог ответить на этот запрос. Получите сведения иным способом (запрос на бумажном носителе или открытый реестр); подробности — у оператора.",
    ),
    e(
        "failure.source_attempts_exhausted",
        "The register's own source did not answer after repeated attempts. Get the information another way, or ask again later with a new request.",
        "Источник сведений реестра не ответил после нескольких попыток. Получите сведения иным способом или направьте новый запрос позже.",
    ),
    e(
        "failure.source_deadline_passed",
        "The register's own source did not answer before the request's deadline. Get the information another way.",
        "Источник сведений реестра не ответил до истечения срока запроса. Получите сведения иным способом.",
    ),
    e(
        "failure.attachment_refused",
        "The answer's attachments could not be taken (a malformed or oversized body, or an archive refused for safety). The answer is kept in the case file; request the document again or on paper.",
        "Вложения ответа не приняты (повреждённое или слишком большое сообщение либо архив отклонён по соображениям безопасности). Ответ сохранён в деле; запросите документ повторно или на бумажном носителе.",
    ),
    e(
        "failure.attachment_invalid",
        "An attachment of the answer is missing, or its hash or electronic signature does not check. The files are kept in the case file; do not rely on them, request the document again.",
        "Вложение ответа отсутствует либо не прошло проверку контрольной суммы или электронной подписи. Файлы сохранены в деле; не используйте их, запросите документ повторно.",
    ),
    // Notes on verdicts: note_ru of a result with a note.
    e(
        "note.unknown",
        "The answer does not establish the fact. Get the information another way (a paper request or the public register).",
        "Ответ не позволяет однозначно установить сведения. Получите их иным способом (запрос на бумажном носителе или открытый реестр).",
    ),
    e(
        "note.not_found",
        "The register holds no record of the subject.",
        "Сведения о субъекте в реестре не найдены.",
    ),
    e(
        "note.not_listed",
        "The subject is not in the register now, but the answer has records that need attention: check their dates.",
        "Сейчас субъекта в реестре нет, но в ответе есть записи, требующие внимания: проверьте их даты.",
    ),
    e(
        "note.other",
        "The answer carries an explanation that needs the officer's attention; see the facts of the answer.",
        "В ответе есть пояснение, требующее внимания специалиста; см. сведения ответа.",
    ),
    e(
        "overdue.note",
        "No answer to the interagency request within the time limit (5 working days, art. 7.2 of 210-FZ); the request keeps waiting for it, and the officer decides whether to ask again or on paper.",
        "Ответ на межведомственный запрос не получен в установленный срок (5 рабочих дней, ст. 7.2 210-ФЗ); запрос ожидает ответа, решение о повторном запросе или запросе на бумажном носителе принимает специалист.",
    ),
    // Verdicts, states and kinds as people read them.
    e("verdict.found", "found", "найден"),
    e("verdict.not_found", "not_found", "не найден"),
    e("verdict.has_debt", "has_debt", "есть задолженность"),
    e("verdict.no_debt", "no_debt", "нет задолженности"),
    e("verdict.unknown", "unknown", "не установлено"),
    e("verdict.listed", "listed", "в реестре"),
    e("verdict.not_listed", "not_listed", "нет в реестре"),
    e("verdict.rejected", "rejected", "отказ"),
    e("verdict.failed", "failed", "не получено"),
    e("verdict.refused", "refused", "отклонён"),
    e("state.accepted", "accepted", "принят"),
    e("state.retrying", "retrying", "повтор отправки"),
    e("state.sent", "sent", "отправлен"),
    e("state.overdue", "overdue", "просрочен"),
    e("state.answered", "answered", "ответ получен"),
    e("state.completed", "completed", "завершён"),
    e("state.failed", "failed", "не выполнен"),
    e("kind.egrul", "egrul", "ЕГРЮЛ"),
    e("kind.egrip", "egrip", "ЕГРИП"),
    e("kind.tax_debt", "tax_debt", "долг по налогам"),
    e("kind.unreliable_supplier", "unreliable_supplier", "РНП"),
    e("kind.foreign_agent", "foreign_agent", "иностранные агенты"),
    e("circuit.closed", "closed", "замкнута"),
    e("circuit.open", "open", "разомкнута"),
    e("circuit.half_open", "half_open", "пробный вызов"),
    // Readiness checks: their names and details.
    e("check.name.broker", "broker", "брокер RabbitMQ"),
    e("check.name.case_store", "case_store", "хранилище дел"),
    e("check.name.signing_key", "signing_key", "ключ подписи"),
    e("check.name.smev", "smev", "СМЭВ"),
    e(
        "check.name.smev_trust",
        "smev_trust",
        "доверие к подписи СМЭВ",
    ),
    e(
        "check.name.calendar",
        "calendar",
        "производственный календарь",
    ),
    e("check.name.registers", "registers", "источники реестров"),
    e(
        "check.broker.ok",
        "connected to RabbitMQ; consuming the requests queue",
        "подключён к RabbitMQ; очередь запросов принимается",
    ),
    e(
        "check.broker.not_consuming",
        "connected to RabbitMQ, but not consuming the requests queue",
        "подключён к RabbitMQ, но очередь запросов не принимается",
    ),
    e(
        "check.broker.failed",
        "{error}",
        "RabbitMQ недоступен: {error}",
    ),
    e(
        "check.broker.spool",
        "spool directory {dir}",
        "каталог-спул {dir}",
    ),
    e(
        "check.store.ok",
        "{root} is writable",
        "{root} доступен для записи",
    ),
    e(
        "check.store.paused",
        "cannot write since {since}: {reason}; intake paused (deliveries held, none returned to the queue), probing every {secs} s",
        "запись невозможна с {since}: {reason}; приём запросов приостановлен (сообщения удерживаются, в очередь не возвращаются), проверка каждые {secs} с",
    ),
    e(
        "check.store.failed",
        "cannot write: {error}",
        "запись невозможна: {error}",
    ),
    e(
        "check.store.crashed",
        "the check crashed: {error}",
        "проверка завершилась сбоем: {error}",
    ),
    e(
        "check.store.slow",
        "a write did not finish within 5 s",
        "запись не завершилась за 5 с",
    ),
    e(
        "check.cert.system",
        "{algorithm} certificate",
        "сертификат {algorithm}",
    ),
    e(
        "check.cert.personal",
        "personal (ЭП-СП) certificate",
        "сертификат должностного лица (ЭП-СП)",
    ),
    e(
        "check.cert.not_yet",
        "{what} {subject} is not valid yet (from {from})",
        "{what} {subject} ещё не действует (с {from})",
    ),
    e(
        "check.cert.expired",
        "{what} {subject} expired at {until}: SMEV refuses its signatures; install a renewed certificate (it is picked up without a restart)",
        "{what} {subject} истёк {until}: СМЭВ не примет его подписи; установите новый сертификат (он подхватится без перезапуска)",
    ),
    e(
        "check.cert.soon",
        "{what} {subject} valid until {until}: {days} days left, renew it soon",
        "{what} {subject} действует до {until}: осталось {days} дн., пора продлить",
    ),
    e(
        "check.cert.valid",
        "{what} {subject} valid until {until} ({days} days left)",
        "{what} {subject} действует до {until} (осталось {days} дн.)",
    ),
    e(
        "check.cert.reloaded",
        "reloaded from its files",
        "перечитан из файлов",
    ),
    e(
        "check.key.unloadable",
        "{error}",
        "ключ не загружается: {error}",
    ),
    e(
        "check.smev.down",
        "{endpoint}: {error}",
        "{endpoint} не отвечает: {error}",
    ),
    e(
        "check.smev.open",
        "{endpoint} answers again, but the circuit is open after failed calls: requests wait for its next probe",
        "{endpoint} снова отвечает, но после неудачных вызовов цепь разомкнута: запросы ждут следующей пробы",
    ),
    e(
        "check.smev.ok",
        "{endpoint} answers; circuit {circuit}",
        "{endpoint} отвечает; цепь {circuit}",
    ),
    e(
        "check.trust.none",
        "none of the {total} certificates in smev.trust is valid now: SMEV answers cannot be verified",
        "ни один из {total} сертификатов smev.trust сейчас не действует: ответы СМЭВ не проверить",
    ),
    e(
        "check.trust.ok",
        "{valid} of {total} trusted certificates valid",
        "действуют {valid} из {total} доверенных сертификатов",
    ),
    e(
        "check.trust.soon",
        "{valid} of {total} trusted certificates valid; expiring soon: {list}",
        "действуют {valid} из {total} доверенных сертификатов; скоро истекают: {list}",
    ),
    e(
        "check.trust.days",
        "{subject} ({days} days left)",
        "{subject} (осталось {days} дн.)",
    ),
    e(
        "check.calendar.ok",
        "{year} is covered by the Government's decree",
        "{year} год покрыт постановлением Правительства",
    ),
    e(
        "check.calendar.rule_only",
        "{year} has no decree in the calendar yet: deadlines follow the Labour Code's rule alone; add the decree to the calendar file",
        "для {year} года в календаре ещё нет постановления: сроки считаются только по правилу Трудового кодекса; добавьте постановление в файл календаря",
    ),
    e(
        "check.calendar.missing",
        "{year} is not in the calendar: deadlines follow the Labour Code's rule alone; add the year to the calendar file",
        "{year} года нет в календаре: сроки считаются только по правилу Трудового кодекса; добавьте год в файл календаря",
    ),
    // The dashboard (src/ops/dashboard.html: data-t="…", i18n("…")).
    e("dash.title", "mezhved — gateway", "mezhved — шлюз"),
    e("dash.loading", "loading…", "загрузка…"),
    e("dash.ready", "ready", "готов"),
    e("dash.not_ready", "not ready", "не готов"),
    e("dash.unreachable", "unreachable", "недоступен"),
    e(
        "dash.cannot_read",
        "cannot read /api/dashboard:",
        "не удаётся прочитать /api/dashboard:",
    ),
    e("dash.certificate", "certificate", "сертификат"),
    e("dash.days_left", "days left", "дн. осталось"),
    e("dash.updated", "updated", "обновлено"),
    e("dash.circuit", "circuit", "цепь"),
    e("dash.tile_accepted", "accepted", "принято"),
    e("dash.tile_results", "results", "результатов"),
    e(
        "dash.tile_failed",
        "failed (fallback)",
        "не получено (запасной путь)",
    ),
    e("dash.tile_refused", "refused (dead letters)", "отклонено"),
    e("dash.tile_pending", "pending", "в работе"),
    e("dash.tile_overdue", "overdue", "просрочено"),
    e("dash.tile_q_requests", "requests queue", "очередь запросов"),
    e(
        "dash.tile_q_dead",
        "dead-letter queue",
        "очередь отклонённых",
    ),
    e("dash.tile_q_replies", "replies queue", "очередь ответов"),
    e("dash.tile_q_retrying", "waiting to retry", "ждут повтора"),
    e(
        "dash.tile_answers_rejected",
        "answers refused (signature)",
        "ответы отклонены (подпись)",
    ),
    e(
        "dash.tile_smev_queue",
        "SMEV queue (for us)",
        "очередь СМЭВ (для нас)",
    ),
    e("dash.smev_queue_read", "read", "прочитана"),
    e(
        "dash.smev_queue_not_read",
        "not read yet",
        "ещё не прочитана",
    ),
    e(
        "dash.smev_queue_read_failed",
        "last read failed",
        "последнее чтение не удалось",
    ),
    e(
        "dash.tile_orphans",
        "answers for no request kept",
        "сохранено ответов без запроса",
    ),
    e(
        "dash.chart_throughput",
        "Throughput, last hour (per second)",
        "Пропускная способность за час (в секунду)",
    ),
    e("dash.chart_queues", "Queues, last hour", "Очереди за час"),
    e(
        "dash.chart_latency",
        "Latency accepted → result, last hour (s)",
        "От приёма до результата за час (с)",
    ),
    e("dash.legend_results", "results", "результаты"),
    e("dash.legend_accepted", "accepted", "принятые"),
    e("dash.legend_failed", "failed", "не получено"),
    e("dash.legend_requests", "requests", "запросы"),
    e("dash.legend_dead", "dead", "отклонённые"),
    e("dash.legend_pending", "pending", "в работе"),
    e("dash.legend_overdue", "overdue", "просроченные"),
    e(
        "dash.collecting",
        "collecting samples…",
        "накапливаются данные…",
    ),
    e("dash.max", "max", "макс."),
    e("dash.card_readiness", "Readiness", "Готовность"),
    e(
        "dash.card_pending",
        "Pending and overdue (oldest first)",
        "В работе и просроченные (сначала давние)",
    ),
    e(
        "dash.card_failures",
        "Recent results needing fallback",
        "Последние результаты, требующие запасного пути",
    ),
    e(
        "dash.card_dead",
        "Recent dead letters",
        "Последние отклонённые сообщения",
    ),
    e(
        "dash.card_errors",
        "Recent warnings and errors",
        "Последние предупреждения и ошибки (журнал, англ.)",
    ),
    e("dash.col_check", "check", "проверка"),
    e("dash.col_detail", "detail", "подробности"),
    e("dash.col_since", "since", "с"),
    e("dash.col_case", "case", "дело"),
    e("dash.col_kind", "kind", "вид"),
    e("dash.col_state", "state", "состояние"),
    e("dash.col_age", "age", "давность"),
    e("dash.col_due", "due", "срок"),
    e("dash.col_when", "when", "когда"),
    e("dash.col_verdict", "verdict", "результат"),
    e("dash.col_reason", "reason", "причина"),
    e("dash.col_code", "code", "код"),
    e("dash.col_level", "level", "уровень"),
    e("dash.col_message", "message", "сообщение"),
    e("dash.advisory", "(advisory)", "(рекомендательная)"),
    e(
        "dash.no_check",
        "no check has run yet",
        "проверок ещё не было",
    ),
    e(
        "dash.nothing_pending",
        "nothing pending",
        "ничего не ждёт ответа",
    ),
    e(
        "dash.none_since_start",
        "none since start",
        "с момента запуска — нет",
    ),
    e("dash.unit_s", "s", "с"),
    e("dash.unit_min", "min", "мин"),
    e("dash.unit_h", "h", "ч"),
    e("dash.unit_d", "d", "дн."),
    // `mezhved status`.
    e(
        "status.title",
        "mezhved status, {at} (Moscow time)",
        "Состояние mezhved на {at} (московское время)",
    ),
    e("status.queues_on", "Queues on {url}", "Очереди на {url}"),
    e(
        "status.unreachable",
        "unreachable: {error}",
        "недоступно: {error}",
    ),
    e("status.col_queue", "queue", "очередь"),
    e("status.col_messages", "messages", "сообщений"),
    e("status.col_consumers", "consumers", "получателей"),
    e("status.missing", "missing", "нет"),
    e(
        "status.store_error",
        "Case store: {error}",
        "Хранилище дел: {error}",
    ),
    e(
        "status.pending",
        "Pending requests in {root}: {pending} ({overdue} overdue)",
        "Запросы в работе в {root}: {pending} (просрочено: {overdue})",
    ),
    e("status.col_kind", "kind", "вид"),
    e("status.by_age", "by age: {list}", "по давности: {list}"),
    e("status.age_under_1m", "under 1m", "до 1 мин"),
    e("status.age_1m_to_1h", "1m to 1h", "от 1 мин до 1 ч"),
    e("status.age_1h_to_1d", "1h to 1d", "от 1 ч до 1 дн."),
    e("status.age_1d_to_5d", "1d to 5d", "от 1 до 5 дн."),
    e("status.age_over_5d", "over 5d", "более 5 дн."),
    e(
        "status.overdue_line",
        "overdue: case {case} {kind} (request {request}), due {due}",
        "просрочен: дело {case}, {kind} (запрос {request}), срок {due}",
    ),
    e(
        "status.fallbacks",
        "Results needing the officer's fallback in the last hour: {n}",
        "Результаты за последний час, требующие запасного пути: {n}",
    ),
    e(
        "status.no_ops",
        "Daemon: no ops server address (ops.listen is off or on a random port; pass --ops URL)",
        "Демон: адрес сервера ops неизвестен (ops.listen выключен или на случайном порту; укажите --ops URL)",
    ),
    e("status.daemon_error", "Daemon: {error}", "Демон: {error}"),
    e(
        "status.daemon",
        "Daemon {instance} at {url}: {state}",
        "Демон {instance} на {url}: {state}",
    ),
    e("status.ready", "ready", "готов"),
    e("status.not_ready", "NOT READY", "НЕ ГОТОВ"),
    e("status.check_ok", "ok  ", "норма"),
    e("status.check_fail", "FAIL", "СБОЙ "),
    e(
        "status.last_errors",
        "last warnings and errors:",
        "последние предупреждения и ошибки (журнал, англ.):",
    ),
    e("status.all_well", "All well.", "Всё в порядке."),
    e("status.attention", "Needs attention:", "Требует внимания:"),
    e(
        "status.need_broker",
        "RabbitMQ: {error}",
        "RabbitMQ недоступен: {error}",
    ),
    e(
        "status.need_queue",
        "queue {queue} does not exist (has mezhved run started?)",
        "очереди {queue} нет (запущен ли mezhved run?)",
    ),
    e(
        "status.need_consumer",
        "nobody consumes the requests queue: no daemon is running",
        "очередь запросов никто не принимает: демон не запущен",
    ),
    e(
        "status.need_dlq",
        "{n} dead letter(s) wait in {queue} (`mezhved dlq list`)",
        "в очереди отклонённых {queue} ждут сообщения: {n} (`mezhved dlq list`)",
    ),
    e(
        "status.need_store",
        "case store: {error}",
        "хранилище дел: {error}",
    ),
    e(
        "status.need_overdue",
        "{n} request(s) overdue: tell the officers (fallback to paper or the public register)",
        "просрочено запросов: {n}; сообщите специалистам (запрос на бумажном носителе или открытый реестр)",
    ),
    e(
        "status.need_fallback",
        "{n} result(s) in the last hour need the officer's fallback",
        "результатов за последний час, требующих запасного пути: {n}",
    ),
    e(
        "status.need_ready",
        "the daemon is not ready: {checks}",
        "демон не готов: {checks}",
    ),
    e(
        "status.need_daemon",
        "the daemon's ops server does not answer: {error}",
        "сервер ops демона не отвечает: {error}",
    ),
];

/// Stable codes of failures, each with its texts (`failure.<code>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The agency's answer could not be read as the answer to the request
    /// (its shape, its document id or its subject).
    AnswerUnreadable,
    AnswerSignatureInvalid,
    StoredDocumentUnreadable,
    SigningFailed,
    SendFailed,
    SendAttemptsExhausted,
    SendDeadlinePassed,
    /// A register's own source (ЕИС, Минюст): none configured for the route.
    SourceNotConfigured,
    SourceFailed,
    SourceAttemptsExhausted,
    SourceDeadlinePassed,
    /// An attachment could not be prepared (read, hashed, signed).
    AttachmentFailed,
    /// SMEV's file store did not take an attachment (past the deadline,
    /// or refused for good).
    AttachmentTransferFailed,
    /// The answer's attachments could not be taken at all (malformed
    /// multipart body, limits, an archive refused).
    AttachmentRefused,
    /// An attachment is missing, fails its hash or its signature.
    AttachmentInvalid,
}

impl FailureCode {
    pub const ALL: [FailureCode; 15] = [
        FailureCode::AnswerUnreadable,
        FailureCode::AnswerSignatureInvalid,
        FailureCode::StoredDocumentUnreadable,
        FailureCode::SigningFailed,
        FailureCode::SendFailed,
        FailureCode::SendAttemptsExhausted,
        FailureCode::SendDeadlinePassed,
        FailureCode::SourceNotConfigured,
        FailureCode::SourceFailed,
        FailureCode::SourceAttemptsExhausted,
        FailureCode::SourceDeadlinePassed,
        FailureCode::AttachmentFailed,
        FailureCode::AttachmentTransferFailed,
        FailureCode::AttachmentRefused,
        FailureCode::AttachmentInvalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::AnswerUnreadable => "answer_unreadable",
            FailureCode::AnswerSignatureInvalid => "answer_signature_invalid",
            FailureCode::StoredDocumentUnreadable => "stored_document_unreadable",
            FailureCode::SigningFailed => "signing_failed",
            FailureCode::SendFailed => "send_failed",
            FailureCode::SendAttemptsExhausted => "send_attempts_exhausted",
            FailureCode::SendDeadlinePassed => "send_deadline_passed",
            FailureCode::SourceNotConfigured => "source_not_configured",
            FailureCode::SourceFailed => "source_failed",
            FailureCode::SourceAttemptsExhausted => "source_attempts_exhausted",
            FailureCode::SourceDeadlinePassed => "source_deadline_passed",
            FailureCode::AttachmentFailed => "attachment_failed",
            FailureCode::AttachmentTransferFailed => "attachment_transfer_failed",
            FailureCode::AttachmentRefused => "attachment_refused",
            FailureCode::AttachmentInvalid => "attachment_invalid",
        }
    }

    pub fn text(self, lang: Lang) -> String {
        text(lang, &format!("failure.{}", self.as_str())).to_owned()
    }
}

/// What a note on `verdict` means for the officer, in `lang`.
pub fn note(lang: Lang, verdict: crate::lookup::Verdict) -> String {
    use crate::lookup::Verdict as V;
    let key = match verdict {
        V::Unknown => "note.unknown",
        V::NotFound => "note.not_found",
        V::NotListed => "note.not_listed",
        _ => "note.other",
    };
    text(lang, key).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Vec<&str> {
        let mut out: Vec<&str> = s
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(n, _)| n))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn every_key_is_unique_has_both_languages_and_the_same_parameters() {
        let mut seen = std::collections::HashSet::new();
        for x in CATALOGUE {
            assert!(seen.insert(x.key), "{} twice", x.key);
            assert!(
                !x.en.is_empty() && !x.ru.is_empty(),
                "{} lacks a text",
                x.key
            );
            assert_eq!(params(x.en), params(x.ru), "{}: parameters differ", x.key);
            assert!(
                x.ru.chars()
                    .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap()))
                    || x.key.starts_with("field.")
                    || x.key.starts_with("kind."),
                "{}: the Russian text has no Russian in it: {}",
                x.key,
                x.ru
            );
        }
    }

    #[test]
    fn every_refusal_code_and_failure_code_has_its_texts() {
        use crate::request::InvalidCode as C;
        for code in [
            C::MalformedJson,
            C::TooLarge,
            C::MissingField,
            C::UnknownField,
            C::WrongType,
            C::InvalidValue,
            C::InvalidCheckDigit,
            C::UnsafeCaseId,
            C::RequestIdReused,
            C::UnsafePath,
            C::FileNotFound,
        ] {
            let key = format!("refusal.{}", code.as_str());
            assert!(CATALOGUE.iter().any(|x| x.key == key), "no {key}");
        }
        for f in FailureCode::ALL {
            let key = format!("failure.{}", f.as_str());
            assert!(CATALOGUE.iter().any(|x| x.key == key), "no {key}");
        }
    }

    #[test]
    fn a_refusal_names_the_field_as_an_officer_knows_it() {
        let ru = refusal(
            Lang::Ru,
            crate::request::InvalidCode::InvalidCheckDigit,
            "subject.inn",
        );
        assert_eq!(
            ru,
            "Запрос не принят: не сходится контрольная цифра ИНН (subject.inn); проверьте номер."
        );
        let whole = refusal(Lang::Ru, crate::request::InvalidCode::MalformedJson, "");
        assert!(whole.starts_with("Запрос не принят"), "{whole}");
        assert_eq!(field_label(Lang::En, "x.unheard_of"), "x.unheard_of");
    }

    #[test]
    fn too_large_names_what_is_too_large_without_a_fixed_limit() {
        use crate::request::InvalidCode::TooLarge;
        assert_eq!(
            refusal(Lang::Ru, TooLarge, ""),
            "Запрос не принят: сообщение больше допустимого размера (размер и предел указаны в причине)."
        );
        assert_eq!(
            refusal(Lang::Ru, TooLarge, "attachments[0].content_base64"),
            "Запрос не принят: содержимое вложения (attachments[0].content_base64) больше допустимого размера (размер и предел указаны в причине)."
        );
    }

    #[test]
    fn a_value_without_a_text_is_shown_as_it_is() {
        assert_eq!(label(Lang::Ru, "kind", "egrul"), "ЕГРЮЛ");
        assert_eq!(label(Lang::Ru, "kind", "vs"), "vs");
    }

    #[test]
    fn languages_parse_and_messages_render_in_either() {
        assert_eq!("RU".parse::<Lang>(), Ok(Lang::Ru));
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert!("de".parse::<Lang>().is_err());
        let m = Msg::new("refusal.missing_field").arg("field", "x");
        assert!(m.render(Lang::En).contains("missing: x."));
        assert!(m.render(Lang::Ru).contains("поле x."));
    }

    /// Every key the dashboard asks for (`data-t="…"`, `t("…")`) is here.
    #[test]
    fn the_dashboard_asks_only_for_texts_the_catalogue_has() {
        let page = include_str!("ops/dashboard.html");
        let mut keys = Vec::new();
        for piece in page.split("data-t=\"").skip(1) {
            keys.push(piece.split('"').next().unwrap().to_owned());
        }
        for piece in page.split("i18n(\"").skip(1) {
            keys.push(piece.split('"').next().unwrap().to_owned());
        }
        for k in keys {
            let key = format!("dash.{k}");
            assert!(CATALOGUE.iter().any(|x| x.key == key), "no {key}");
        }
    }
}
