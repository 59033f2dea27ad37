//! A small block-style YAML writer for generated objects: mappings and sequences as `kubectl -o yaml` lays them
//! out, strings plain where YAML 1.1 reads them back as the same string, double-quoted otherwise.

use serde_json::Value;

/// Appends `value` as block YAML, each line indented by `indent` spaces.
pub fn write(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                pad(out, indent);
                scalar(out, key);
                out.push(':');
                nested(out, item, indent + 2);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                pad(out, indent);
                out.push('-');
                // A mapping item starts on the dash's line, as kubectl writes it.
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        let mut first = String::new();
                        write(&mut first, item, indent + 2);
                        out.push(' ');
                        out.push_str(first.trim_start());
                    }
                    _ => nested(out, item, indent + 2),
                }
            }
        }
        other => {
            pad(out, indent);
            inline(out, other);
            out.push('\n');
        }
    }
}

fn nested(out: &mut String, item: &Value, indent: usize) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write(out, item, indent);
        }
        // kubectl does not indent a sequence under its key.
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write(out, item, indent - 2);
        }
        other => {
            out.push(' ');
            inline(out, other);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn inline(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => scalar(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn scalar(out: &mut String, text: &str) {
    if plain_is_safe(text) {
        out.push_str(text);
    } else {
        // A JSON string is a valid YAML double-quoted scalar with the same value.
        out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
    }
}

/// Whether `text` written plain reads back as the same string (not a number, boolean, null or indicator).
fn plain_is_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    let chars_ok = text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/' | '_'));
    let starts_ok = first.is_ascii_alphabetic() || first == '/';
    let lower = text.to_ascii_lowercase();
    let reserved = matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | ".inf" | ".nan"
    );
    chars_ok && starts_ok && !reserved
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_kubectl_style_blocks_and_quotes_what_would_change_meaning() {
        let mut out = String::new();
        write(&mut out, &json!({"a": {"b": "yes", "c": ["x", {"d": 1, "e": "10.0.0.0/8"}]}, "f": {}, "g": "8080"}), 0);
        assert_eq!(out, "a:\n  b: \"yes\"\n  c:\n  - x\n  - d: 1\n    e: \"10.0.0.0/8\"\nf: {}\ng: \"8080\"\n");
    }
}
