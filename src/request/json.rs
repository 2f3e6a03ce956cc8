//! Reading a JSON object field by field, so that every refusal names the
//! exact field and says what was expected.

use std::cell::RefCell;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{Invalid, InvalidCode};

/// Parses a JSON document, refusing a key that appears twice in one object
/// at any depth: a reader that keeps the last value and one that keeps the
/// first would read such a message differently, so it is not read at all.
pub(super) fn parse_strict(body: &[u8]) -> Result<Value, Invalid> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Strict {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match duplicate.into_inner() {
        Some((path, key)) => Invalid::new(
            InvalidCode::DuplicateKey,
            join(&path, &key),
            format!(
                "the key {key:?} appears more than once in {}; each key may be given once",
                if path.is_empty() {
                    "the message"
                } else {
                    path.as_str()
                }
            ),
        ),
        None => Invalid::new(
            InvalidCode::MalformedJson,
            "",
            format!("the body is not valid JSON: {e}"),
        ),
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A `serde_json::Value` built while watching for repeated keys; the first
/// one found is reported through `duplicate` (path of its object, key).
struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<(String, String)>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, out.len()),
            duplicate: self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some((self.path.clone(), key));
                return Err(de::Error::custom("duplicate key"));
            }
            let v = map.next_value_seed(Strict {
                path: join(&self.path, &key),
                duplicate: self.duplicate,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

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

    /// An array (absent or null: `None`).
    pub fn opt_array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.wrong_type(key, "an array")),
        }
    }

    /// An object found elsewhere (an array's element), under `prefix`.
    pub fn nested(v: &'a Value, prefix: String) -> Result<Self, Invalid> {
        match v {
            Value::Object(map) => Ok(Obj { map, prefix }),
            _ => Err(Invalid::new(
                InvalidCode::WrongType,
                prefix,
                "must be an object",
            )),
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
