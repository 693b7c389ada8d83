//! A small JSON-schema-like validator whose messages match the reference's.
//! CONTRACT (implementation pending).

use serde_json::Value;

/// A static schema description (closed objects, enums, string/integer bounds).
#[derive(Debug)]
pub enum Schema {
    Any,
    Placeholder,
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

pub fn validate(value: &Value, schema: &Schema) -> Result<(), SchemaError> {
    let _ = (value, schema);
    todo!("wire helper")
}
