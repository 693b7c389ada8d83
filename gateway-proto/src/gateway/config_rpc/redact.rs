//! Secrets in what `config.*` answers: string values under secret-looking
//! keys become `__OPENCLAW_REDACTED__` (in `raw` too), and a write that
//! sends the placeholder back keeps the saved value.

use serde_json::{Map, Value};

pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

/// A key whose string value is a secret: token, password, apiKey, secret
/// (also as a suffix: `botToken`, `clientSecret`), but not a count such as
/// `maxTokens`.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["token", "password", "apikey", "secret"]
        .iter()
        .any(|s| k.ends_with(s))
}

/// The same value with every secret string replaced.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if is_secret_key(k) && !s.is_empty() => {
                            Value::String(REDACTED.into())
                        }
                        other => redact(other),
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn secrets<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                match v {
                    Value::String(s) if is_secret_key(k) && !s.is_empty() => out.push(s),
                    other => secrets(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| secrets(v, out)),
        _ => {}
    }
}

/// The file's text with every secret value of `parsed` replaced where it
/// stands as a quoted string (longest first, so a secret containing another
/// is replaced whole). The result is trusted only if it reads back as the
/// redacted config and no secret still shows in it (a secret written with
/// escapes, or so short that it appears in other text); otherwise the
/// redacted config is shown as JSON instead.
pub fn redact_raw(raw: &str, parsed: &Value) -> String {
    let mut found = Vec::new();
    secrets(parsed, &mut found);
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    let mut text = raw.to_owned();
    for secret in &found {
        for quote in ['"', '\'', '`'] {
            text = text.replace(
                &format!("{quote}{secret}{quote}"),
                &format!("{quote}{REDACTED}{quote}"),
            );
        }
    }
    let reads_back = super::parse_json5(&text).is_ok_and(|v| v == redact(parsed));
    if !reads_back || found.iter().any(|secret| text.contains(secret)) {
        return super::to_file_text(&redact(parsed));
    }
    text
}

/// `next` with every placeholder replaced by the value at the same path in
/// `saved`; the path of a placeholder that has none is an error.
pub fn restore(next: &Value, saved: &Value) -> Result<Value, String> {
    restore_at(next, Some(saved), "")
}

fn restore_at(next: &Value, saved: Option<&Value>, path: &str) -> Result<Value, String> {
    match next {
        Value::String(s) if s == REDACTED => match saved {
            Some(v @ Value::String(_)) => Ok(v.clone()),
            _ => Err(format!(
                "invalid config: {path} is {REDACTED} but no saved value exists for it"
            )),
        },
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let saved_child = saved.and_then(|s| s.get(k));
                restore_at(v, saved_child, &child).map(|v| (k.clone(), v))
            })
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| restore_at(v, saved.and_then(|s| s.get(i)), &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_counts_are_not() {
        let config = json!({"gateway": {"auth": {"mode": "token", "token": "s3cret"}},
            "models": {"providers": {"fake": {"apiKey": "k-1", "models": [{"maxTokens": 1000}]}}}});
        let shown = redact(&config);
        assert_eq!(shown["gateway"]["auth"]["token"], REDACTED);
        assert_eq!(shown["gateway"]["auth"]["mode"], "token");
        assert_eq!(shown["models"]["providers"]["fake"]["apiKey"], REDACTED);
        assert_eq!(
            shown["models"]["providers"]["fake"]["models"][0]["maxTokens"],
            1000
        );
        let raw = "{ gateway: { auth: { token: 's3cret' } } }";
        let parsed = json!({"gateway": {"auth": {"token": "s3cret"}}});
        assert_eq!(
            redact_raw(raw, &parsed),
            "{ gateway: { auth: { token: '__OPENCLAW_REDACTED__' } } }"
        );
        // A secret that also shows outside its string (or written with
        // escapes) is never left in: the redacted JSON is shown instead.
        let short = json!({"gateway": {"auth": {"token": "a"}}});
        let shown = redact_raw("{ gateway: { auth: { token: 'a' } } }", &short);
        assert!(
            !shown.contains("\"a\"") && shown.contains(REDACTED),
            "{shown}"
        );
        let escaped = json!({"gateway": {"auth": {"token": "q\"uote"}}});
        let shown = redact_raw(r#"{"gateway":{"auth":{"token":"q\"uote"}}}"#, &escaped);
        assert!(!shown.contains("uote"), "{shown}");
    }

    #[test]
    fn placeholders_restore_the_saved_value() {
        let saved = json!({"gateway": {"auth": {"token": "s3cret"}}});
        let next = json!({"gateway": {"auth": {"token": REDACTED}, "port": 1}});
        assert_eq!(
            restore(&next, &saved).unwrap(),
            json!({"gateway": {"auth": {"token": "s3cret"}, "port": 1}})
        );
        let orphan = json!({"gateway": {"auth": {"password": REDACTED}}});
        assert!(restore(&orphan, &saved)
            .unwrap_err()
            .contains("gateway.auth.password"));
    }
}
