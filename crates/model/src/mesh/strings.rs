//! The string matching the meshes share: Istio's exact, prefix (`abc*`), suffix (`*abc`) and presence (`*`)
//! forms, which Linkerd's identities use too.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    /// `*`: any non-empty value.
    Presence,
}

impl StringMatch {
    /// Istio's reading of a rule string: `*` is presence, a leading `*` a suffix match, a trailing `*` a prefix
    /// match; a `*` anywhere else is a literal character.
    pub fn parse(text: &str) -> StringMatch {
        if text == "*" {
            StringMatch::Presence
        } else if let Some(suffix) = text.strip_prefix('*') {
            StringMatch::Suffix(suffix.to_string())
        } else if let Some(prefix) = text.strip_suffix('*') {
            StringMatch::Prefix(prefix.to_string())
        } else {
            StringMatch::Exact(text.to_string())
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(exact) => value == exact,
            StringMatch::Prefix(prefix) => value.starts_with(prefix.as_str()),
            StringMatch::Suffix(suffix) => value.ends_with(suffix.as_str()),
            StringMatch::Presence => !value.is_empty(),
        }
    }

    /// The same match, case-insensitively (Istio compares hosts this way).
    pub fn matches_ignoring_case(&self, value: &str) -> bool {
        let lower = value.to_ascii_lowercase();
        match self {
            StringMatch::Exact(exact) => lower == exact.to_ascii_lowercase(),
            StringMatch::Prefix(prefix) => lower.starts_with(&prefix.to_ascii_lowercase()),
            StringMatch::Suffix(suffix) => lower.ends_with(&suffix.to_ascii_lowercase()),
            StringMatch::Presence => !value.is_empty(),
        }
    }
}

impl fmt::Display for StringMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringMatch::Exact(exact) => f.write_str(exact),
            StringMatch::Prefix(prefix) => write!(f, "{prefix}*"),
            StringMatch::Suffix(suffix) => write!(f, "*{suffix}"),
            StringMatch::Presence => f.write_str("*"),
        }
    }
}

/// A glob in which every `*` stands for any run of characters (Istio's `namespaces` and `source.namespace`).
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() || !value.ends_with(last) {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_string_forms() {
        assert!(StringMatch::parse("abc*").matches("abcd"));
        assert!(StringMatch::parse("abc*").matches("abc"));
        assert!(StringMatch::parse("*abc").matches("xabc"));
        assert!(!StringMatch::parse("*").matches(""));
        assert!(StringMatch::parse("*").matches("x"));
        assert!(StringMatch::parse("a*c").matches("a*c"), "a star in the middle is literal");
        assert!(!StringMatch::parse("a*c").matches("abc"));
        assert_eq!(StringMatch::parse("*.example.com").to_string(), "*.example.com");
    }

    #[test]
    fn globs_match_any_run() {
        assert!(glob_matches("prod-*", "prod-eu"));
        assert!(glob_matches("*-eu-*", "prod-eu-1"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("a*b*c", "acb"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("ab*ba", "aba"), "the two ends may not overlap");
    }
}
