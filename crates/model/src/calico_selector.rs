//! Calico's selector language (`app == 'db' && !has(canary)`), parsed the way libcalico-go's tokenizer and parser
//! read it, with the column of the first thing that is wrong.
//!
//! The grammar, lowest precedence first: `expr := and ('||' and)*`, `and := op ('&&' op)*`, `op := '!'* (has(L) |
//! all() | global() | L == S | L != S | L contains S | L starts with S | L ends with S | L in {S, ...} | L not in
//! {S, ...} | '(' expr ')')`. Labels are runs of `a-z A-Z 0-9 _ . / -` (at most 512 bytes); strings are quoted with
//! `'` or `"` and have no escapes; only spaces and tabs separate tokens. The empty selector selects everything.
//! `!=` and `not in` also match endpoints that lack the label; `contains`, `starts with` and `ends with` need it.

use std::collections::BTreeSet;
use std::fmt;

/// libcalico-go's limit on one label name in a selector.
pub const MAX_LABEL_LENGTH: usize = 512;
/// The CRDs' limit on a selector field.
pub const MAX_SELECTOR_LENGTH: usize = 1024;

/// A parsed selector expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expr {
    /// `all()`, or the empty selector.
    All,
    /// `global()`: on its own it matches everything; in a rule's `namespaceSelector` it means "not in a namespace".
    Global,
    Has(String),
    Eq(String, String),
    /// Also true when the label is absent.
    Ne(String, String),
    In(String, BTreeSet<String>),
    /// Also true when the label is absent.
    NotIn(String, BTreeSet<String>),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Where a selector is wrong: a 1-based column (in characters) inside the expression, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

/// A Calico selector: the expression and the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CalicoSelector {
    pub expr: Expr,
}

impl CalicoSelector {
    /// Parses a selector as Calico does; an empty or blank one selects everything.
    pub fn parse(text: &str) -> Result<CalicoSelector, SelectorError> {
        if text.chars().count() > MAX_SELECTOR_LENGTH {
            return Err(SelectorError {
                column: MAX_SELECTOR_LENGTH + 1,
                message: format!("longer than {MAX_SELECTOR_LENGTH} characters, the limit of Calico's CRDs"),
            });
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser { text, tokens: &tokens, at: 0 };
        if parser.peek().kind == Kind::Eof {
            return Ok(CalicoSelector { expr: Expr::All });
        }
        let expr = parser.or_expression()?;
        let rest = parser.peek();
        if rest.kind != Kind::Eof {
            return Err(parser.error_at(rest, "unexpected content at the end of the selector (a missing && or ||?)"));
        }
        Ok(CalicoSelector { expr })
    }

    /// The selector that selects everything.
    pub fn all() -> CalicoSelector {
        CalicoSelector { expr: Expr::All }
    }

    pub fn is_all(&self) -> bool {
        self.expr == Expr::All
    }

    /// Whether an endpoint with these labels matches.
    pub fn matches<'a>(&self, labels: impl Fn(&str) -> Option<&'a str> + Copy) -> bool {
        self.expr.matches(labels)
    }

    /// Whether `global()` appears anywhere in the expression.
    pub fn uses_global(&self) -> bool {
        self.expr.any(&|e| matches!(e, Expr::Global))
    }

    /// Whether the expression is `global()` and nothing else.
    pub fn is_global(&self) -> bool {
        self.expr == Expr::Global
    }

    /// Every label name the expression reads.
    pub fn label_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        self.expr.collect_labels(&mut names);
        names
    }

    /// The same expression with `prefix` before every label name, as Calico turns a namespace selector into one
    /// over the `pcns.` labels that endpoints inherit from their namespace.
    pub fn with_prefix(&self, prefix: &str) -> CalicoSelector {
        CalicoSelector { expr: self.expr.map_labels(&|label| format!("{prefix}{label}")) }
    }

    /// The same expression with `all()` and `global()` replaced, as Calico rewrites a rule's namespace selector.
    pub fn replace_all_and_global(&self, all: &Expr, global: &Expr) -> CalicoSelector {
        CalicoSelector { expr: self.expr.replace_constants(all, global) }
    }

    /// `a && b`, flattened.
    pub fn and(parts: Vec<CalicoSelector>) -> CalicoSelector {
        let mut operands = Vec::new();
        for part in parts {
            match part.expr {
                Expr::All => {}
                Expr::And(inner) => operands.extend(inner),
                other => operands.push(other),
            }
        }
        let expr = match operands.len() {
            0 => Expr::All,
            1 => operands.pop().unwrap_or(Expr::All),
            _ => Expr::And(operands),
        };
        CalicoSelector { expr }
    }
}

impl Expr {
    pub fn matches<'a>(&self, labels: impl Fn(&str) -> Option<&'a str> + Copy) -> bool {
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(label) => labels(label).is_some(),
            Expr::Eq(label, value) => labels(label) == Some(value.as_str()),
            Expr::Ne(label, value) => labels(label) != Some(value.as_str()),
            Expr::In(label, values) => labels(label).is_some_and(|v| values.contains(v)),
            Expr::NotIn(label, values) => labels(label).is_none_or(|v| !values.contains(v)),
            Expr::Contains(label, value) => labels(label).is_some_and(|v| v.contains(value.as_str())),
            Expr::StartsWith(label, value) => labels(label).is_some_and(|v| v.starts_with(value.as_str())),
            Expr::EndsWith(label, value) => labels(label).is_some_and(|v| v.ends_with(value.as_str())),
            Expr::Not(inner) => !inner.matches(labels),
            Expr::And(operands) => operands.iter().all(|o| o.matches(labels)),
            Expr::Or(operands) => operands.iter().any(|o| o.matches(labels)),
        }
    }

    fn any(&self, test: &dyn Fn(&Expr) -> bool) -> bool {
        test(self)
            || match self {
                Expr::Not(inner) => inner.any(test),
                Expr::And(operands) | Expr::Or(operands) => operands.iter().any(|o| o.any(test)),
                _ => false,
            }
    }

    fn collect_labels<'a>(&'a self, names: &mut Vec<&'a str>) {
        match self {
            Expr::All | Expr::Global => {}
            Expr::Has(label)
            | Expr::Eq(label, _)
            | Expr::Ne(label, _)
            | Expr::In(label, _)
            | Expr::NotIn(label, _)
            | Expr::Contains(label, _)
            | Expr::StartsWith(label, _)
            | Expr::EndsWith(label, _) => names.push(label),
            Expr::Not(inner) => inner.collect_labels(names),
            Expr::And(operands) | Expr::Or(operands) => operands.iter().for_each(|o| o.collect_labels(names)),
        }
    }

    fn map_labels(&self, rename: &dyn Fn(&str) -> String) -> Expr {
        match self {
            Expr::All => Expr::All,
            Expr::Global => Expr::Global,
            Expr::Has(l) => Expr::Has(rename(l)),
            Expr::Eq(l, v) => Expr::Eq(rename(l), v.clone()),
            Expr::Ne(l, v) => Expr::Ne(rename(l), v.clone()),
            Expr::In(l, v) => Expr::In(rename(l), v.clone()),
            Expr::NotIn(l, v) => Expr::NotIn(rename(l), v.clone()),
            Expr::Contains(l, v) => Expr::Contains(rename(l), v.clone()),
            Expr::StartsWith(l, v) => Expr::StartsWith(rename(l), v.clone()),
            Expr::EndsWith(l, v) => Expr::EndsWith(rename(l), v.clone()),
            Expr::Not(inner) => Expr::Not(Box::new(inner.map_labels(rename))),
            Expr::And(operands) => Expr::And(operands.iter().map(|o| o.map_labels(rename)).collect()),
            Expr::Or(operands) => Expr::Or(operands.iter().map(|o| o.map_labels(rename)).collect()),
        }
    }

    fn replace_constants(&self, all: &Expr, global: &Expr) -> Expr {
        match self {
            Expr::All => all.clone(),
            Expr::Global => global.clone(),
            Expr::Not(inner) => Expr::Not(Box::new(inner.replace_constants(all, global))),
            Expr::And(operands) => Expr::And(operands.iter().map(|o| o.replace_constants(all, global)).collect()),
            Expr::Or(operands) => Expr::Or(operands.iter().map(|o| o.replace_constants(all, global)).collect()),
            other => other.clone(),
        }
    }
}

fn quote(value: &str) -> String {
    // Calico strings have no escapes: a value holding `'` can only be written in double quotes.
    if value.contains('\'') {
        format!("\"{value}\"")
    } else {
        format!("'{value}'")
    }
}

fn set(values: &BTreeSet<String>) -> String {
    let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("{{{}}}", quoted.join(", "))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => f.write_str("all()"),
            Expr::Global => f.write_str("global()"),
            Expr::Has(l) => write!(f, "has({l})"),
            Expr::Eq(l, v) => write!(f, "{l} == {}", quote(v)),
            Expr::Ne(l, v) => write!(f, "{l} != {}", quote(v)),
            Expr::In(l, v) => write!(f, "{l} in {}", set(v)),
            Expr::NotIn(l, v) => write!(f, "{l} not in {}", set(v)),
            Expr::Contains(l, v) => write!(f, "{l} contains {}", quote(v)),
            Expr::StartsWith(l, v) => write!(f, "{l} starts with {}", quote(v)),
            Expr::EndsWith(l, v) => write!(f, "{l} ends with {}", quote(v)),
            Expr::Not(inner) => match inner.as_ref() {
                Expr::And(_) | Expr::Or(_) => write!(f, "!({inner})"),
                _ => write!(f, "!{inner}"),
            },
            Expr::And(operands) => {
                let parts: Vec<String> = operands
                    .iter()
                    .map(|o| if matches!(o, Expr::Or(_)) { format!("({o})") } else { o.to_string() })
                    .collect();
                f.write_str(&parts.join(" && "))
            }
            Expr::Or(operands) => {
                let parts: Vec<String> = operands.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join(" || "))
            }
        }
    }
}

impl fmt::Display for CalicoSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Label,
    Str,
    LBrace,
    RBrace,
    Comma,
    Eq,
    Ne,
    In,
    Not,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    All,
    Has,
    LParen,
    RParen,
    And,
    Or,
    Global,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    value: String,
    /// Byte offset in the selector.
    at: usize,
}

fn column(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(byte, |head| head.chars().count()) + 1
}

fn identifier_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-')
}

/// Skips spaces and tabs, the only separators Calico's tokenizer knows.
fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && (bytes[at] == b' ' || bytes[at] == b'\t') {
        at += 1;
    }
    at
}

fn word_boundary(bytes: &[u8], at: usize) -> bool {
    at >= bytes.len() || !identifier_char(bytes[at])
}

/// `words` in order at `at`, separated by blanks (or none: `notin`); the offset after them. As in libcalico-go, a
/// single word must end at a word boundary, and several words at one once the blanks after them are skipped.
fn words_at(bytes: &[u8], at: usize, words: &[&str]) -> Option<usize> {
    let mut cursor = at;
    for word in words {
        if !bytes[cursor..].starts_with(word.as_bytes()) {
            return None;
        }
        cursor += word.len();
        if words.len() > 1 {
            cursor = skip_blanks(bytes, cursor);
        }
    }
    word_boundary(bytes, cursor).then_some(cursor)
}

fn identifier(text: &str, at: usize) -> Result<(String, usize), SelectorError> {
    let bytes = text.as_bytes();
    let mut end = at;
    while end < bytes.len() && identifier_char(bytes[end]) {
        end += 1;
    }
    if end == at {
        let found = text[at..].chars().next().map_or("the end".to_string(), |c| format!("`{}`", c.escape_default()));
        return Err(SelectorError {
            column: column(text, at),
            message: format!("expected a label name, found {found}"),
        });
    }
    if end - at > MAX_LABEL_LENGTH {
        return Err(SelectorError {
            column: column(text, at),
            message: format!("label name longer than {MAX_LABEL_LENGTH} characters"),
        });
    }
    Ok((text[at..end].to_string(), end))
}

fn tokenize(text: &str) -> Result<Vec<Token>, SelectorError> {
    let bytes = text.as_bytes();
    let mut tokens: Vec<Token> = Vec::new();
    let mut at = 0;
    loop {
        at = skip_blanks(bytes, at);
        if at >= bytes.len() {
            tokens.push(Token { kind: Kind::Eof, value: String::new(), at });
            return Ok(tokens);
        }
        let start = at;
        let simple = |kind: Kind| Token { kind, value: String::new(), at: start };
        let after_label = tokens.last().is_some_and(|t| t.kind == Kind::Label);
        match bytes[at] {
            b'(' => {
                tokens.push(simple(Kind::LParen));
                at += 1;
            }
            b')' => {
                tokens.push(simple(Kind::RParen));
                at += 1;
            }
            b'{' => {
                tokens.push(simple(Kind::LBrace));
                at += 1;
            }
            b'}' => {
                tokens.push(simple(Kind::RBrace));
                at += 1;
            }
            b',' => {
                tokens.push(simple(Kind::Comma));
                at += 1;
            }
            quote @ (b'"' | b'\'') => {
                let Some(length) = text[at + 1..].find(char::from(quote)) else {
                    return Err(SelectorError {
                        column: column(text, at),
                        message: "unterminated string (Calico strings have no escapes)".into(),
                    });
                };
                tokens.push(Token { kind: Kind::Str, value: text[at + 1..at + 1 + length].to_string(), at });
                at += length + 2;
            }
            b'=' => {
                if bytes[at..].starts_with(b"==") {
                    tokens.push(simple(Kind::Eq));
                    at += 2;
                } else {
                    return Err(SelectorError {
                        column: column(text, at),
                        message: "expected `==` (a single `=` is not an operator)".into(),
                    });
                }
            }
            b'!' => {
                if bytes[at..].starts_with(b"!=") {
                    tokens.push(simple(Kind::Ne));
                    at += 2;
                } else {
                    tokens.push(simple(Kind::Not));
                    at += 1;
                }
            }
            b'&' => {
                if bytes[at..].starts_with(b"&&") {
                    tokens.push(simple(Kind::And));
                    at += 2;
                } else {
                    return Err(SelectorError { column: column(text, at), message: "expected `&&`".into() });
                }
            }
            b'|' => {
                if bytes[at..].starts_with(b"||") {
                    tokens.push(simple(Kind::Or));
                    at += 2;
                } else {
                    return Err(SelectorError { column: column(text, at), message: "expected `||`".into() });
                }
            }
            _ if after_label => {
                let operators: [(&[&str], Kind); 5] = [
                    (&["contains"], Kind::Contains),
                    (&["starts", "with"], Kind::StartsWith),
                    (&["ends", "with"], Kind::EndsWith),
                    (&["not", "in"], Kind::NotIn),
                    (&["in"], Kind::In),
                ];
                let Some((end, kind)) =
                    operators.iter().find_map(|(words, kind)| words_at(bytes, at, words).map(|end| (end, *kind)))
                else {
                    let label = tokens.last().map(|t| t.value.clone()).unwrap_or_default();
                    return Err(SelectorError {
                        column: column(text, at),
                        message: format!(
                            "expected an operator after label `{label}` (==, !=, in, not in, contains, starts with, \
                             ends with)"
                        ),
                    });
                };
                tokens.push(simple(kind));
                at = end;
            }
            _ => {
                let call = |name: &str| bytes[at..].starts_with(name.as_bytes());
                if call("has(") {
                    let inner = skip_blanks(bytes, at + 4);
                    let (label, end) = identifier(text, inner)?;
                    let close = skip_blanks(bytes, end);
                    if bytes.get(close) != Some(&b')') {
                        return Err(SelectorError {
                            column: column(text, close),
                            message: "expected `)` to close `has(`".into(),
                        });
                    }
                    tokens.push(Token { kind: Kind::Has, value: label, at: start });
                    at = close + 1;
                } else if call("all(") || call("global(") {
                    let kind = if call("all(") { Kind::All } else { Kind::Global };
                    let open = if kind == Kind::All { 4 } else { 7 };
                    let close = skip_blanks(bytes, at + open);
                    if bytes.get(close) != Some(&b')') {
                        let name = if kind == Kind::All { "all(" } else { "global(" };
                        return Err(SelectorError {
                            column: column(text, close),
                            message: format!("expected `)` after `{name}`: it takes no arguments"),
                        });
                    }
                    tokens.push(simple(kind));
                    at = close + 1;
                } else {
                    let (label, end) = identifier(text, at)?;
                    tokens.push(Token { kind: Kind::Label, value: label, at: start });
                    at = end;
                }
            }
        }
    }
}

struct Parser<'t> {
    text: &'t str,
    tokens: &'t [Token],
    at: usize,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Token {
        // The token list always ends with Eof, and the parser never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> &'t Token {
        let token = self.peek();
        if token.kind != Kind::Eof {
            self.at += 1;
        }
        token
    }

    fn error_at(&self, token: &Token, message: &str) -> SelectorError {
        SelectorError { column: column(self.text, token.at), message: message.to_string() }
    }

    fn or_expression(&mut self) -> Result<Expr, SelectorError> {
        let mut operands = vec![self.and_expression()?];
        while self.peek().kind == Kind::Or {
            self.next();
            operands.push(self.and_expression()?);
        }
        Ok(if operands.len() == 1 { operands.remove(0) } else { Expr::Or(operands) })
    }

    fn and_expression(&mut self) -> Result<Expr, SelectorError> {
        let mut operands = vec![self.operation()?];
        while self.peek().kind == Kind::And {
            self.next();
            operands.push(self.operation()?);
        }
        Ok(if operands.len() == 1 { operands.remove(0) } else { Expr::And(operands) })
    }

    fn string(&mut self, operator: &str) -> Result<String, SelectorError> {
        let token = self.next();
        if token.kind == Kind::Str {
            Ok(token.value.clone())
        } else {
            Err(self.error_at(token, &format!("expected a quoted string after `{operator}`")))
        }
    }

    fn operation(&mut self) -> Result<Expr, SelectorError> {
        let mut negated = false;
        while self.peek().kind == Kind::Not {
            self.next();
            negated = !negated;
        }
        let token = self.next();
        let expr = match token.kind {
            Kind::Has => Expr::Has(token.value.clone()),
            Kind::All => Expr::All,
            Kind::Global => Expr::Global,
            Kind::Label => {
                let label = token.value.clone();
                let operator = self.next();
                match operator.kind {
                    Kind::Eq => Expr::Eq(label, self.string("==")?),
                    Kind::Ne => Expr::Ne(label, self.string("!=")?),
                    Kind::Contains => Expr::Contains(label, self.string("contains")?),
                    Kind::StartsWith => Expr::StartsWith(label, self.string("starts with")?),
                    Kind::EndsWith => Expr::EndsWith(label, self.string("ends with")?),
                    Kind::In | Kind::NotIn => {
                        let open = self.next();
                        if open.kind != Kind::LBrace {
                            return Err(self.error_at(open, "expected a set literal `{'a', 'b'}`"));
                        }
                        let mut values = BTreeSet::new();
                        while self.peek().kind == Kind::Str {
                            values.insert(self.next().value.clone());
                            if self.peek().kind == Kind::Comma {
                                self.next();
                            } else {
                                break;
                            }
                        }
                        let close = self.next();
                        if close.kind != Kind::RBrace {
                            return Err(
                                self.error_at(close, "expected `}` to close the set (values are quoted strings)")
                            );
                        }
                        if operator.kind == Kind::In {
                            Expr::In(label, values)
                        } else {
                            Expr::NotIn(label, values)
                        }
                    }
                    Kind::Eof => return Err(self.error_at(operator, "unexpected end of the selector after a label")),
                    _ => return Err(self.error_at(operator, "expected == or != (or in, not in, contains, ...)")),
                }
            }
            Kind::LParen => {
                let inner = self.or_expression()?;
                let close = self.next();
                if close.kind != Kind::RParen {
                    return Err(self.error_at(close, "expected `)`"));
                }
                inner
            }
            Kind::Eof => return Err(self.error_at(token, "unexpected end of the selector")),
            _ => return Err(self.error_at(token, "expected a label, has(), all(), global(), `!` or `(`")),
        };
        Ok(if negated { Expr::Not(Box::new(expr)) } else { expr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(text: &str) -> CalicoSelector {
        CalicoSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> SelectorError {
        match CalicoSelector::parse(text) {
            Ok(parsed) => panic!("{text} parsed as {parsed}"),
            Err(error) => error,
        }
    }

    fn matches(selector: &str, labels: &[(&str, &str)]) -> bool {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        parse(selector).matches(|key| labels.get(key).copied())
    }

    #[test]
    fn every_operator_matches_as_calico_documents() {
        let web = [("app", "web"), ("tier", "frontend-v2")];
        assert!(matches("app == 'web'", &web));
        assert!(matches("app == \"web\"", &web));
        assert!(!matches("app == 'db'", &web));
        assert!(matches("app != 'db'", &web));
        assert!(matches("missing != 'x'", &web), "!= matches when the label is absent");
        assert!(matches("app in {'db', 'web'}", &web));
        assert!(!matches("missing in {'x'}", &web));
        assert!(matches("missing not in {'x'}", &web), "not in matches when the label is absent");
        assert!(!matches("app not in {'web'}", &web));
        assert!(matches("app notin {'db'}", &web), "libcalico-go also reads `notin`");
        assert!(matches("has(tier)", &web));
        assert!(matches("!has(missing)", &web));
        assert!(matches("tier contains 'end-v'", &web));
        assert!(matches("tier starts with 'front'", &web));
        assert!(matches("tier ends with 'v2'", &web));
        assert!(!matches("missing contains ''", &web), "contains needs the label");
        assert!(matches("all()", &web) && matches("", &[]) && matches("  ", &[]) && matches("global()", &[]));
        assert!(matches("app == 'db' || tier starts with 'front'", &web));
        assert!(!matches("app == 'web' && !(tier ends with '2')", &web));
        assert!(matches("!!has(app)", &web));
        assert!(!matches("app in {}", &[]) && matches("app not in {'a',}", &web));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let labels = [("a", "1")];
        assert!(matches("a == '1' || b == '1' && c == '1'", &labels));
        assert!(!matches("(a == '1' || b == '1') && c == '1'", &labels));
    }

    #[test]
    fn labels_may_hold_prefixes_dots_and_slashes() {
        let labels = [("projectcalico.org/namespace", "shop"), ("pcns.kubernetes.io/metadata.name", "shop")];
        assert!(matches("projectcalico.org/namespace == 'shop'", &labels));
        assert!(matches("pcns.kubernetes.io/metadata.name in {'shop'}", &labels));
    }

    #[test]
    fn errors_name_the_column_inside_the_expression() {
        let e = error("app = 'web'");
        assert_eq!(e.column, 5, "{e}");
        assert!(e.message.contains("=="));
        let e = error("app == web");
        assert_eq!(e.column, 8, "{e}");
        assert!(e.message.contains("quoted string"));
        assert_eq!(error("app == 'web").column, 8);
        assert_eq!(error("app == 'a' && ").column, 15);
        assert_eq!(error("(app == 'a'").column, 12);
        assert_eq!(error("app is 'a'").column, 5);
        assert_eq!(error("has(app").column, 8);
        assert_eq!(error("has()").column, 5);
        assert_eq!(error("all(x)").column, 5);
        assert_eq!(error("app == 'a' app == 'b'").column, 12);
        assert_eq!(error("a & b").column, 3);
        assert_eq!(error("a | b").column, 3);
        assert_eq!(error("app in ('a')").column, 8);
        assert_eq!(error("app in {'a' 'b'}").column, 13);
        assert_eq!(error("app in {a}").column, 9);
        assert_eq!(error("é == 'x'").column, 1);
        assert_eq!(error("'é' == 'x'").column, 1);
        assert_eq!(error("x == 'é' && y = 'z'").column, 15, "columns count characters, not bytes");
        assert!(error(&format!("{} == 'x'", "a".repeat(513))).message.contains("longer"));
        assert!(error(&"a".repeat(1025)).message.contains("1024"));
    }

    #[test]
    fn a_newline_is_not_a_separator() {
        // libcalico-go skips only spaces and tabs.
        assert_eq!(error("a == 'x'\n&& b == 'y'").column, 9);
    }

    #[test]
    fn prefixing_and_rewriting_follow_calico() {
        let namespaces = parse("team == 'a' && !has(env)").with_prefix("pcns.");
        assert_eq!(namespaces.to_string(), "pcns.team == 'a' && !has(pcns.env)");
        let rewritten = parse("all()").replace_all_and_global(&Expr::Has("x".into()), &Expr::Global);
        assert_eq!(rewritten.to_string(), "has(x)");
        assert!(parse("global()").is_global() && parse("!global()").uses_global());
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "app == 'web'",
            "a in {'x', 'y'} && (b == 'c' || !has(d))",
            "!(a == 'b' && c != 'd')",
            "x not in {}",
            "v == \"it's\"",
            "t starts with 'a' || t ends with 'b' || t contains 'c'",
        ] {
            let parsed = parse(text);
            assert_eq!(parse(&parsed.to_string()), parsed, "{text} -> {parsed}");
        }
    }
}
