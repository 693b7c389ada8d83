//! A small JSON-schema validator whose messages match the reference's.
//!
//! Schemas are static descriptions ([`Schema`]) of the subset the protocol
//! uses: closed objects, string/integer bounds, enums, arrays, maps and
//! `anyOf`. Problems are reported already formatted the way the reference
//! gateway formats them, joined with `"; "` by [`SchemaError`]'s `Display`.
//!
//! The two reference generations disagree on details, so the wording is
//! chosen by a [`Dialect`]:
//!
//! | what failed          | `Ajv` (protocol 3, openclaw 2026.5)                        | `TypeBox` (protocol 4, openclaw 2026.9) |
//! |----------------------|------------------------------------------------------------|-----------------------------------------|
//! | missing properties   | one `must have required property 'x'` per missing property | only the first missing property         |
//! | unknown properties   | one `at <path or root>: unexpected property 'x'` each      | only the first unknown property         |
//! | minLength / maxLength| `must NOT have fewer/more than N characters`               | `must not have fewer/more than N characters` |
//! | maxItems / minItems  | `must NOT have more/fewer than N items`                    | `must not have more/fewer than N items` |
//! | uniqueItems          | `must NOT have duplicate items (items ## J and I are identical)` | `must not have duplicate items`   |
//! | minimum / maximum    | `must be >= N` / `must be <= N`                            | same                                    |
//! | type                 | `must be string` (`integer`, `object`, …)                  | same                                    |
//! | const / enum         | `must be equal to constant` / `must be equal to one of the allowed values` | same                    |
//! | pattern              | `must match pattern "<source>"`                            | same                                    |
//! | anyOf                | every branch's problems, then `must match a schema in anyOf` | same                                  |
//!
//! Every problem other than the property ones is prefixed with
//! `at <instance path>: ` unless it is about the root; identical texts are
//! reported once, first occurrence first. The `{"type":"bogus","foo":1}`
//! request frame therefore reads, at protocol 4,
//! `must have required property 'id'; at root: unexpected property 'foo'; at /type: must be equal to constant`:
//! the protocol-4 validator reports all missing properties as one problem and
//! the reference formatter names only the first of them.
//!
//! Keyword order inside an object is required, unknown properties, then the
//! properties themselves in schema order (both dialects). Inside an array,
//! TypeBox checks the items before the count and uniqueness, Ajv after.
//! String lengths are counted in Unicode scalar values (Ajv counts code
//! points; TypeBox counts graphemes, which only differs for combining
//! sequences).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::json::Json;
use super::ProtocolVersion;

/// Which reference generation's wording to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Ajv with `allErrors` (protocol 3 reference).
    Ajv,
    /// TypeBox's compiled validator (protocol 4 reference).
    TypeBox,
}

impl Dialect {
    pub fn for_protocol(version: ProtocolVersion) -> Dialect {
        match version {
            ProtocolVersion::V3 => Dialect::Ajv,
            ProtocolVersion::V4 => Dialect::TypeBox,
        }
    }
}

/// A static schema description.
#[derive(Debug)]
pub enum Schema {
    /// Anything, including absence (`{}` in JSON schema).
    Any,
    String(StringRules),
    /// A JSON number without fraction (`1.0` counts, as in JavaScript).
    Integer(IntegerRules),
    Number,
    Boolean,
    /// `{enum: [...]}` over strings; no separate type check, as in the schemas.
    Enum(&'static [&'static str]),
    /// `{type: "string", const: ...}`.
    Const(&'static str),
    Array(ArrayRules),
    /// A closed object (`additionalProperties: false`).
    Object(ObjectRules),
    /// An object whose every value matches (`patternProperties: {"^.*$": …}`).
    Map(&'static Schema),
    AnyOf(&'static [Schema]),
}

#[derive(Debug)]
pub struct StringRules {
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<Pattern>,
}

/// A `pattern` keyword: its source (quoted in the message) and a matcher
/// written by hand, which keeps a regex engine out of the core.
#[derive(Debug)]
pub struct Pattern {
    pub source: &'static str,
    pub matches: fn(&str) -> bool,
}

#[derive(Debug)]
pub struct IntegerRules {
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
}

#[derive(Debug)]
pub struct ArrayRules {
    pub items: &'static Schema,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
}

#[derive(Debug)]
pub struct ObjectRules {
    pub properties: &'static [Property],
    pub required: &'static [&'static str],
    /// Unknown properties are allowed (no `additionalProperties: false`).
    pub open: bool,
}

#[derive(Debug)]
pub struct Property {
    pub name: &'static str,
    pub schema: Schema,
}

impl Schema {
    /// `{type: "string"}`.
    pub const STRING: Schema = Schema::string(None, None);
    /// `{type: "string", minLength: 1}`, the protocol's most common field.
    pub const NON_EMPTY: Schema = Schema::string(Some(1), None);

    pub const fn string(min_length: Option<u64>, max_length: Option<u64>) -> Schema {
        Schema::String(StringRules {
            min_length,
            max_length,
            pattern: None,
        })
    }

    pub const fn integer(minimum: Option<i64>, maximum: Option<i64>) -> Schema {
        Schema::Integer(IntegerRules { minimum, maximum })
    }

    pub const fn array_of(items: &'static Schema) -> Schema {
        Schema::Array(ArrayRules {
            items,
            min_items: None,
            max_items: None,
            unique_items: false,
        })
    }

    pub const fn object(
        properties: &'static [Property],
        required: &'static [&'static str],
    ) -> Schema {
        Schema::Object(ObjectRules {
            properties,
            required,
            open: false,
        })
    }

    /// An object that also accepts properties it does not describe.
    pub const fn open_object(
        properties: &'static [Property],
        required: &'static [&'static str],
    ) -> Schema {
        match Schema::object(properties, required) {
            Schema::Object(rules) => Schema::Object(ObjectRules {
                open: true,
                ..rules
            }),
            closed => closed,
        }
    }
}

impl Property {
    pub const fn new(name: &'static str, schema: Schema) -> Property {
        Property { name, schema }
    }
}

/// Every problem found, in the reference's order and wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub problems: Vec<String>,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for SchemaError {}

/// Validate with the protocol-4 wording. `Value` objects iterate in key
/// order, so with several unknown properties the first reported may differ
/// from the peer's order; decoders validate the text itself to keep it.
pub fn validate(value: &Value, schema: &Schema) -> Result<(), SchemaError> {
    validate_with(value, schema, Dialect::TypeBox)
}

pub fn validate_with(value: &Value, schema: &Schema, dialect: Dialect) -> Result<(), SchemaError> {
    validate_json(Some(&Json::from_value(value)), schema, dialect)
}

/// Validate JSON text, keeping the sender's key order. `Ok(Err(_))` is a
/// schema failure; `Err(())` means the text is not JSON.
#[allow(clippy::result_unit_err)]
pub fn validate_text(
    text: &str,
    schema: &Schema,
    dialect: Dialect,
) -> Result<Result<(), SchemaError>, ()> {
    match Json::parse(text) {
        Some(json) => Ok(validate_json(Some(&json), schema, dialect)),
        None => Err(()),
    }
}

/// Validate JSON text against a top-level object schema without building a
/// tree of what the schema does not describe: only the values of the
/// object's own properties are parsed; other properties keep just their
/// names (enough to report them as unexpected), and a top-level array is
/// never looked into (it fails the object type anyway). A peer's megabytes
/// of unused JSON then cost one scan, not an allocation per node.
/// `Err(())` means the text is not JSON.
#[allow(clippy::result_unit_err)]
pub(crate) fn validate_object_text_shallow(
    text: &str,
    schema: &Schema,
    dialect: Dialect,
) -> Result<Result<(), SchemaError>, ()> {
    let Schema::Object(rules) = schema else {
        return validate_text(text, schema, dialect);
    };
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r']);
    let json = if trimmed.starts_with('[') {
        Json::Array(Vec::new())
    } else if trimmed.starts_with('{') {
        let props = super::json::top_level_props(trimmed).ok_or(())?;
        let mut entries: Vec<(String, Json)> = Vec::with_capacity(props.len());
        // Position of each key in `entries`: a repeated key keeps its first
        // position and takes the last value (an index, not a scan: a peer
        // may send millions of keys).
        let mut index: HashMap<std::borrow::Cow<'_, str>, usize> = HashMap::new();
        for (key, raw) in props {
            let value = if rules.properties.iter().any(|p| p.name == key) {
                Json::parse(raw.get()).ok_or(())?
            } else {
                Json::Null
            };
            match index.get(&key) {
                Some(&at) => entries[at].1 = value,
                None => {
                    index.insert(key.clone(), entries.len());
                    entries.push((key.into_owned(), value));
                }
            }
        }
        Json::Object(entries)
    } else {
        Json::parse(trimmed).ok_or(())?
    };
    Ok(validate_json(Some(&json), schema, dialect))
}

/// `value` is `None` when the validated thing is absent (JavaScript
/// `undefined`), which only [`Schema::Any`] accepts.
pub(crate) fn validate_json(
    value: Option<&Json>,
    schema: &Schema,
    dialect: Dialect,
) -> Result<(), SchemaError> {
    let mut v = Validator {
        dialect,
        problems: Vec::new(),
        seen: HashSet::new(),
    };
    let mut path = String::new();
    match value {
        Some(value) => v.check(&mut path, schema, value),
        None => v.check_absent(schema),
    }
    if v.problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaError {
            problems: v.problems,
        })
    }
}

struct Validator {
    dialect: Dialect,
    problems: Vec<String>,
    // Dedupe index; only looked up, so its order never reaches an output.
    seen: HashSet<String>,
}

/// An instance-path segment, escaped as a JSON pointer for Ajv; TypeBox
/// joins keys unescaped.
fn push_segment(path: &mut String, key: &str, dialect: Dialect) {
    path.push('/');
    match dialect {
        Dialect::Ajv => {
            for c in key.chars() {
                match c {
                    '~' => path.push_str("~0"),
                    '/' => path.push_str("~1"),
                    c => path.push(c),
                }
            }
        }
        Dialect::TypeBox => path.push_str(key),
    }
}

fn type_name(schema: &Schema) -> Option<&'static str> {
    match schema {
        Schema::String(_) | Schema::Const(_) => Some("string"),
        Schema::Integer(_) => Some("integer"),
        Schema::Number => Some("number"),
        Schema::Boolean => Some("boolean"),
        Schema::Array(_) => Some("array"),
        Schema::Object(_) | Schema::Map(_) => Some("object"),
        Schema::Any | Schema::Enum(_) | Schema::AnyOf(_) => None,
    }
}

fn is_integer(value: &Json) -> bool {
    match value {
        Json::Number(n) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn has_type(value: &Json, name: &str) -> bool {
    match name {
        "string" => matches!(value, Json::String(_)),
        "integer" => is_integer(value),
        "number" => matches!(value, Json::Number(_)),
        "boolean" => matches!(value, Json::Bool(_)),
        "array" => matches!(value, Json::Array(_)),
        "object" => matches!(value, Json::Object(_)),
        _ => true,
    }
}

impl Validator {
    fn report(&mut self, path: &str, message: &str) {
        let text = if path.is_empty() {
            message.to_owned()
        } else {
            format!("at {path}: {message}")
        };
        self.push(text);
    }

    fn push(&mut self, text: String) {
        if self.seen.insert(text.clone()) {
            self.problems.push(text);
        }
    }

    fn not(&self) -> &'static str {
        match self.dialect {
            Dialect::Ajv => "NOT",
            Dialect::TypeBox => "not",
        }
    }

    fn check_absent(&mut self, schema: &Schema) {
        if let Some(name) = type_name(schema) {
            self.report("", &format!("must be {name}"));
        } else {
            match schema {
                Schema::Any => {}
                Schema::Enum(_) => self.report("", "must be equal to one of the allowed values"),
                _ => self.report("", "must match a schema in anyOf"),
            }
        }
    }

    fn check(&mut self, path: &mut String, schema: &Schema, value: &Json) {
        if let Some(name) = type_name(schema) {
            if !has_type(value, name) {
                self.report(path, &format!("must be {name}"));
            }
        }
        match schema {
            Schema::Any | Schema::Number | Schema::Boolean => {}
            Schema::String(rules) => {
                if let Json::String(s) = value {
                    self.check_string(path, rules, s);
                }
            }
            Schema::Integer(rules) => {
                // Bounds apply to any number, even one that failed `integer`.
                if let Some(n) = value.as_f64() {
                    if let Some(max) = rules.maximum {
                        if n > max as f64 {
                            self.report(path, &format!("must be <= {max}"));
                        }
                    }
                    if let Some(min) = rules.minimum {
                        if n < min as f64 {
                            self.report(path, &format!("must be >= {min}"));
                        }
                    }
                }
            }
            Schema::Const(expected) => {
                if value.as_str() != Some(*expected) {
                    self.report(path, "must be equal to constant");
                }
            }
            Schema::Enum(allowed) => {
                if !value.as_str().is_some_and(|s| allowed.contains(&s)) {
                    self.report(path, "must be equal to one of the allowed values");
                }
            }
            Schema::Array(rules) => {
                if let Json::Array(items) = value {
                    self.check_array(path, rules, items);
                }
            }
            Schema::Object(rules) => {
                if let Json::Object(entries) = value {
                    self.check_object(path, rules, entries);
                }
            }
            Schema::Map(values) => {
                if let Json::Object(entries) = value {
                    for (key, item) in entries {
                        let len = path.len();
                        push_segment(path, key, self.dialect);
                        self.check(path, values, item);
                        path.truncate(len);
                    }
                }
            }
            Schema::AnyOf(branches) => self.check_any_of(path, branches, value),
        }
    }

    fn check_string(&mut self, path: &str, rules: &StringRules, s: &str) {
        let not = self.not();
        let len = s.chars().count() as u64;
        if let Some(max) = rules.max_length {
            if len > max {
                self.report(path, &format!("must {not} have more than {max} characters"));
            }
        }
        if let Some(min) = rules.min_length {
            if len < min {
                self.report(
                    path,
                    &format!("must {not} have fewer than {min} characters"),
                );
            }
        }
        if let Some(pattern) = &rules.pattern {
            if !(pattern.matches)(s) {
                self.report(path, &format!("must match pattern \"{}\"", pattern.source));
            }
        }
    }

    fn check_array(&mut self, path: &mut String, rules: &ArrayRules, items: &[Json]) {
        if self.dialect == Dialect::TypeBox {
            self.check_items(path, rules, items);
        }
        let not = self.not();
        let count = items.len() as u64;
        if let Some(max) = rules.max_items {
            if count > max {
                self.report(path, &format!("must {not} have more than {max} items"));
            }
        }
        if let Some(min) = rules.min_items {
            if count < min {
                self.report(path, &format!("must {not} have fewer than {min} items"));
            }
        }
        if rules.unique_items {
            if let Some((j, i)) = first_duplicate(items) {
                let message = match self.dialect {
                    Dialect::Ajv => format!(
                        "must NOT have duplicate items (items ## {j} and {i} are identical)"
                    ),
                    Dialect::TypeBox => "must not have duplicate items".to_owned(),
                };
                self.report(path, &message);
            }
        }
        if self.dialect == Dialect::Ajv {
            self.check_items(path, rules, items);
        }
    }

    fn check_items(&mut self, path: &mut String, rules: &ArrayRules, items: &[Json]) {
        for (index, item) in items.iter().enumerate() {
            let len = path.len();
            path.push('/');
            path.push_str(&index.to_string());
            self.check(path, rules.items, item);
            path.truncate(len);
        }
    }

    fn check_object(&mut self, path: &mut String, rules: &ObjectRules, entries: &[(String, Json)]) {
        let has = |key: &str| entries.iter().any(|(k, _)| k == key);
        let at = if path.is_empty() {
            String::new()
        } else {
            format!("at {path}: ")
        };
        for name in rules.required.iter().filter(|name| !has(name)) {
            self.push(format!("{at}must have required property '{name}'"));
            if self.dialect == Dialect::TypeBox {
                break;
            }
        }
        let known = |key: &str| rules.properties.iter().any(|p| p.name == key);
        let root = if path.is_empty() {
            "at root".to_owned()
        } else {
            format!("at {path}")
        };
        for (key, _) in entries.iter().filter(|(k, _)| !rules.open && !known(k)) {
            self.push(format!("{root}: unexpected property '{key}'"));
            if self.dialect == Dialect::TypeBox {
                break;
            }
        }
        for property in rules.properties {
            if let Some((_, item)) = entries.iter().find(|(k, _)| k == property.name) {
                let len = path.len();
                push_segment(path, property.name, self.dialect);
                self.check(path, &property.schema, item);
                path.truncate(len);
            }
        }
    }

    fn check_any_of(&mut self, path: &mut String, branches: &[Schema], value: &Json) {
        let mut failed = Vec::new();
        for branch in branches {
            let mut inner = Validator {
                dialect: self.dialect,
                problems: Vec::new(),
                seen: HashSet::new(),
            };
            inner.check(path, branch, value);
            if inner.problems.is_empty() {
                return;
            }
            failed.extend(inner.problems);
        }
        for problem in failed {
            self.push(problem);
        }
        self.report(path, "must match a schema in anyOf");
    }
}

/// Ajv's scan for `uniqueItems`: from the end, the first item equal to a
/// later one, as `(later index, earlier index)`.
fn first_duplicate(items: &[Json]) -> Option<(usize, usize)> {
    for i in (0..items.len()).rev() {
        for j in (i + 1..items.len()).rev() {
            if items[i] == items[j] {
                return Some((j, i));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static SMALL: Schema = Schema::object(
        &[
            Property::new("type", Schema::Const("req")),
            Property::new("id", Schema::NON_EMPTY),
            Property::new("method", Schema::NON_EMPTY),
            Property::new("n", Schema::integer(Some(1), Some(10))),
            Property::new("s", Schema::string(Some(2), Some(3))),
            Property::new(
                "tags",
                Schema::Array(ArrayRules {
                    items: &Schema::NON_EMPTY,
                    min_items: Some(1),
                    max_items: Some(2),
                    unique_items: true,
                }),
            ),
            Property::new("m", Schema::Map(&Schema::Boolean)),
            Property::new("e", Schema::Enum(&["a", "b"])),
        ],
        &["type", "id", "method"],
    );

    fn text(value: serde_json::Value, dialect: Dialect) -> String {
        validate_with(&value, &SMALL, dialect)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn required_and_unknown_per_dialect() {
        let v = json!({"type": "bogus", "foo": 1, "bar": 2});
        assert_eq!(
            text(v.clone(), Dialect::TypeBox),
            "must have required property 'id'; at root: unexpected property 'bar'; at /type: must be equal to constant"
        );
        assert_eq!(
            text(v, Dialect::Ajv),
            "must have required property 'id'; must have required property 'method'; at root: unexpected property 'bar'; at root: unexpected property 'foo'; at /type: must be equal to constant"
        );
    }

    #[test]
    fn bounds_wording() {
        let base = json!({"type": "req", "id": "1", "method": "m"});
        let with = |k: &str, v: serde_json::Value| {
            let mut o = base.clone();
            o[k] = v;
            o
        };
        assert_eq!(
            text(with("n", json!("ten")), Dialect::TypeBox),
            "at /n: must be integer"
        );
        assert_eq!(
            text(with("n", json!(0)), Dialect::TypeBox),
            "at /n: must be >= 1"
        );
        assert_eq!(
            text(with("n", json!(11)), Dialect::Ajv),
            "at /n: must be <= 10"
        );
        assert_eq!(
            text(with("n", json!(0.5)), Dialect::Ajv),
            "at /n: must be integer; at /n: must be >= 1"
        );
        assert_eq!(text(with("n", json!(3.0)), Dialect::Ajv), "");
        assert_eq!(
            text(with("s", json!("x")), Dialect::Ajv),
            "at /s: must NOT have fewer than 2 characters"
        );
        assert_eq!(
            text(with("s", json!("wxyz")), Dialect::TypeBox),
            "at /s: must not have more than 3 characters"
        );
        assert_eq!(
            text(with("s", json!(5)), Dialect::TypeBox),
            "at /s: must be string"
        );
        assert_eq!(
            text(with("type", json!(5)), Dialect::TypeBox),
            "at /type: must be string; at /type: must be equal to constant"
        );
        assert_eq!(
            text(with("e", json!("c")), Dialect::Ajv),
            "at /e: must be equal to one of the allowed values"
        );
        assert_eq!(
            text(with("m", json!({"x": 1})), Dialect::TypeBox),
            "at /m/x: must be boolean"
        );
        assert_eq!(
            text(with("tags", json!([])), Dialect::Ajv),
            "at /tags: must NOT have fewer than 1 items"
        );
        assert_eq!(
            text(with("tags", json!(["a", "", "a"])), Dialect::Ajv),
            "at /tags: must NOT have more than 2 items; at /tags: must NOT have duplicate items (items ## 2 and 0 are identical); at /tags/1: must NOT have fewer than 1 characters"
        );
        assert_eq!(
            text(with("tags", json!(["a", "", "a"])), Dialect::TypeBox),
            "at /tags/1: must not have fewer than 1 characters; at /tags: must not have more than 2 items; at /tags: must not have duplicate items"
        );
    }

    #[test]
    fn absent_and_wrong_root() {
        assert_eq!(
            validate_json(None, &SMALL, Dialect::Ajv)
                .unwrap_err()
                .to_string(),
            "must be object"
        );
        assert_eq!(text(json!([1]), Dialect::TypeBox), "must be object");
        assert!(validate_json(None, &Schema::Any, Dialect::Ajv).is_ok());
    }

    #[test]
    fn any_of_reports_branches_then_summary() {
        static AO: Schema = Schema::AnyOf(&[Schema::NON_EMPTY, Schema::Boolean]);
        let e = validate_with(&json!(1), &AO, Dialect::TypeBox).unwrap_err();
        assert_eq!(
            e.to_string(),
            "must be string; must be boolean; must match a schema in anyOf"
        );
        assert!(validate_with(&json!(true), &AO, Dialect::TypeBox).is_ok());
    }

    #[test]
    fn ajv_escapes_pointer_segments() {
        static M: Schema = Schema::Map(&Schema::Boolean);
        let e = validate_with(&json!({"a/b~": 1}), &M, Dialect::Ajv).unwrap_err();
        assert_eq!(e.to_string(), "at /a~1b~0: must be boolean");
    }
}
