//! Reading a JSON object field by field, so that every refusal names the
//! exact field and says what was expected.

use serde_json::{Map, Value};

use super::{Invalid, InvalidCode};

pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Obj<'a> {
    pub fn root(v: &'a Value) -> Result<Self, Invalid> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                prefix: String::new(),
            }),
            _ => Err(Invalid::new(
                InvalidCode::WrongType,
                "",
                "the message must be a JSON object",
            )),
        }
    }

    pub fn prefix(&self) -> String {
        self.prefix.clone()
    }

    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub fn invalid(&self, key: &str, message: impl Into<String>) -> Invalid {
        Invalid::new(InvalidCode::InvalidValue, self.path(key), message)
    }

    pub fn allow_only(&self, keys: &[&str]) -> Result<(), Invalid> {
        match self.map.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(Invalid::new(
                InvalidCode::UnknownField,
                self.path(k),
                format!("unknown field {k:?}; allowed here: {}", keys.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong_type(&self, key: &str, expected: &str) -> Invalid {
        Invalid::new(
            InvalidCode::WrongType,
            self.path(key),
            format!("must be {expected}"),
        )
    }

    fn missing(&self, key: &str) -> Invalid {
        Invalid::new(
            InvalidCode::MissingField,
            self.path(key),
            format!("{} is required", self.path(key)),
        )
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.wrong_type(key, "a string")),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<&'a str, Invalid> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    /// A human-readable text: trimmed, non-empty, no control characters,
    /// at most `max` characters.
    pub fn opt_text(&self, key: &str, max: usize) -> Result<Option<String>, Invalid> {
        let Some(s) = self.opt_str(key)? else {
            return Ok(None);
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(self.missing(key));
        }
        if t.chars().count() > max {
            return Err(self.invalid(key, format!("at most {max} characters")));
        }
        if t.chars().any(char::is_control) {
            return Err(self.invalid(key, "control characters are not allowed"));
        }
        Ok(Some(t.to_owned()))
    }

    pub fn req_text(&self, key: &str, max: usize) -> Result<String, Invalid> {
        self.opt_text(key, max)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong_type(key, "true or false")),
        }
    }

    pub fn req_obj(&self, key: &str) -> Result<Obj<'a>, Invalid> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Value::Object(map)) => Ok(Obj {
                map,
                prefix: self.path(key),
            }),
            Some(_) => Err(self.wrong_type(key, "an object")),
        }
    }
}
