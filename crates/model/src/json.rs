//! A strict JSON (RFC 8259) reader producing the same line-carrying tree as the YAML path.
//!
//! `kubectl get -A -o json` dumps are one huge flow document; a YAML scanner must keep every potential simple key
//! of a flow collection open, which costs gigabytes on a 200 MB dump. JSON needs none of that, so `.json` input is
//! read here: one pass, bytes to nodes, with the items of a top-level list handed over one at a time.

use crate::yaml::{Node, ParseLimits, Parsed, SyntaxError, Value};
use std::borrow::Cow;

/// What the decoders read of a value. The rest is checked as strictly as what is kept (syntax, nesting, the node
/// budget, duplicate keys: the same errors at the same lines) but never built: in a cluster dump, most of a pod is
/// probes, resources and status that no answer depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep {
    /// All of it.
    All,
    /// None of it.
    Nothing,
    /// An object of this shape; a value of another type is kept whole, for its decoder to report.
    Object(&'static Shape),
    /// A list of objects of this shape.
    Items(&'static Shape),
    /// A Kubernetes object (a document, or an item of a list): its shape follows its `kind` once that is read
    /// (`kubectl` writes `apiVersion` and `kind` first; an object whose kind comes later is kept whole).
    Resource,
}

/// What the decoders read of an object.
#[derive(Debug)]
pub(crate) struct Shape {
    /// Fields read in part, with what is read of each.
    parts: &'static [(&'static str, Keep)],
    /// Fields no decoder reads.
    unread: &'static [&'static str],
    /// Whether the fields in neither list are unread too.
    only_parts: bool,
}

impl Shape {
    /// Fields read in part as `parts` say, those in `unread` not read at all, the others read whole.
    pub(crate) const fn new(parts: &'static [(&'static str, Keep)], unread: &'static [&'static str]) -> Shape {
        Shape { parts, unread, only_parts: false }
    }

    /// Only the fields in `parts` read.
    pub(crate) const fn only(parts: &'static [(&'static str, Keep)]) -> Shape {
        Shape { parts, unread: &[], only_parts: true }
    }

    fn keep(&self, key: &str) -> Keep {
        if let Some((_, keep)) = self.parts.iter().find(|(part, _)| *part == key) {
            return *keep;
        }
        if self.only_parts || self.unread.contains(&key) {
            Keep::Nothing
        } else {
            Keep::All
        }
    }
}

/// Parses one JSON document, handing it (and, for a list, its items one by one) to `sink`.
pub fn parse_json(text: &str, limits: ParseLimits, sink: &mut dyn FnMut(Parsed)) -> Option<SyntaxError> {
    let budget = limits.node_budget(text.len());
    let mut reader = Reader { bytes: text.as_bytes(), text, pos: 0, line: 1, nodes: 0, budget, limits };
    let result = reader.document(sink);
    match result {
        Ok(()) => None,
        Err(message) => Some(SyntaxError { line: reader.line, message: format!("invalid JSON: {message}") }),
    }
}

/// Parses a run of a list's items (`{...}, {...}`), the first on line `first_line`, handing each to `sink` as
/// [`parse_json`] would hand the items of a list of kind `list_kind` that holds them.
pub(crate) fn parse_list_items(
    text: &str,
    first_line: u32,
    list_kind: Option<&str>,
    limits: ParseLimits,
    sink: &mut dyn FnMut(Parsed),
) -> Option<SyntaxError> {
    let budget = limits.node_budget(text.len());
    let mut reader = Reader { bytes: text.as_bytes(), text, pos: 0, line: first_line, nodes: 0, budget, limits };
    let result = (|| loop {
        reader.list_item(list_kind, sink)?;
        reader.skip_whitespace();
        match reader.peek() {
            None => return Ok(()),
            Some(b',') => reader.pos += 1,
            _ => return Err(format!("expected `,`, found {}", reader.describe())),
        }
    })();
    result.err().map(|message| SyntaxError { line: reader.line, message: format!("invalid JSON: {message}") })
}

/// A `List` document cut for reading on several threads: its items in runs of about equal size, and the rest.
#[derive(Debug)]
pub(crate) struct SplitList<'a> {
    /// Runs of consecutive items (`{...}, {...}`), each with the line it starts on.
    pub runs: Vec<(u32, &'a str)>,
    /// The document with an empty `items`, the lines the items took kept as blank lines, so that what follows
    /// them keeps its line numbers.
    pub rest: String,
    /// The list's kind, when it comes before `items` (what [`parse_json`] hands over with each item).
    pub list_kind: Option<String>,
}

/// Cuts a `List` document (an object whose `items` [`parse_json`] hands over one by one) into about `runs` runs of
/// items, without parsing them: a scan that tracks strings and nesting finds where items end.
///
/// `None` when the text is not such a list, or when anything about it is unusual (an escape in a key, no item):
/// the caller then reads it whole, which also reports any error exactly. The runs and the rest are parsed strictly
/// by the caller, so a cut made on bad JSON shows up as a syntax error there.
pub(crate) fn split_list(text: &str, runs: usize) -> Option<SplitList<'_>> {
    let (open, kind) = list_items_open(text)?;
    cut_items(text, open, runs, kind)
}

/// Where the items of a `List` document open: the position of the `[` of its `items`, with the list's kind when it
/// comes before them. `None` when the text is not such a list, when anything about it is unusual (an escape in a
/// key), or when it ends before its items open (the start of a file read in parts).
pub(crate) fn list_items_open(text: &str) -> Option<(usize, Option<&str>)> {
    let bytes = text.as_bytes();
    let mut pos = skip_whitespace(bytes, 0);
    if bytes.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    let (mut api_version, mut kind): (Option<&str>, Option<&str>) = (None, None);
    loop {
        pos = skip_whitespace(bytes, pos);
        let key = plain_string(text, pos)?;
        pos = skip_whitespace(bytes, pos + key.len() + 2);
        if bytes.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_whitespace(bytes, pos + 1);
        if key == "items" {
            let is_list = match kind {
                Some(kind) => kind.ends_with("List"),
                None => api_version == Some("v1"),
            };
            if !is_list || bytes.get(pos) != Some(&b'[') {
                return None;
            }
            return Some((pos, kind));
        }
        let end = skip_value(bytes, pos)?;
        if bytes.get(pos) == Some(&b'"') {
            match key {
                "kind" => kind = Some(plain_string(text, pos)?),
                "apiVersion" => api_version = Some(plain_string(text, pos)?),
                _ => {}
            }
        }
        pos = skip_whitespace(bytes, end);
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            _ => return None,
        }
    }
}

/// The item of a list's `items` that starts at `start`, in bytes that may not hold all of it yet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NextItem {
    /// The item ends at `end`, and the `,` or the `]` that follows it is at `separator`.
    Item { end: usize, separator: usize },
    /// The bytes end before the item and what follows it do.
    Incomplete,
    /// Not the items of a list as a dump writes them: to be read whole, which reports where it breaks.
    Unusual,
}

/// Scans the item at `start` (past any whitespace) by its quotes and brackets alone, as [`split_list`] does.
pub(crate) fn next_item(bytes: &[u8], start: usize) -> NextItem {
    let Some(end) = skip_value(bytes, start) else {
        // A value cannot start with a delimiter; anything else ran out of bytes.
        return match bytes.get(start) {
            Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') => NextItem::Unusual,
            _ => NextItem::Incomplete,
        };
    };
    let separator = skip_whitespace(bytes, end);
    match bytes.get(separator) {
        Some(b',' | b']') => NextItem::Item { end, separator },
        Some(_) => NextItem::Unusual,
        None => NextItem::Incomplete,
    }
}

/// The items of the array at `open`, cut into runs, and the document without them.
fn cut_items<'a>(text: &'a str, open: usize, runs: usize, kind: Option<&str>) -> Option<SplitList<'a>> {
    let bytes = text.as_bytes();
    let mut items: Vec<(usize, usize)> = Vec::new();
    let mut pos = skip_whitespace(bytes, open + 1);
    let close = loop {
        let end = skip_value(bytes, pos)?;
        items.push((pos, end));
        pos = skip_whitespace(bytes, end);
        match bytes.get(pos) {
            Some(b',') => pos = skip_whitespace(bytes, pos + 1),
            Some(b']') => break pos,
            _ => return None,
        }
    };
    let (first, last) = (items.first()?.0, items.last()?.1);
    let target = (last - first) / runs.max(1) + 1;
    let mut cut = Vec::new();
    let (mut run_start, mut line) = (first, 1 + count_lines(&bytes[..first]));
    for (i, &(start, end)) in items.iter().enumerate() {
        if i > 0 && start - run_start >= target {
            cut.push((line, &text[run_start..items[i - 1].1]));
            line += count_lines(&bytes[run_start..start]);
            run_start = start;
        }
        if i + 1 == items.len() {
            cut.push((line, &text[run_start..end]));
        }
    }
    let blank_lines = count_lines(&bytes[open..close]);
    let mut rest = String::with_capacity(text.len() - (close - open) + blank_lines as usize);
    rest.push_str(&text[..=open]);
    rest.extend(std::iter::repeat_n('\n', blank_lines as usize));
    rest.push_str(&text[close..]);
    Some(SplitList { runs: cut, rest, list_kind: kind.map(str::to_string) })
}

pub(crate) fn count_lines(bytes: &[u8]) -> u32 {
    u32::try_from(memchr::memchr_iter(b'\n', bytes).count()).unwrap_or(u32::MAX)
}

fn skip_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        pos += 1;
    }
    pos
}

/// The contents of the string at `pos` when it holds no escape.
fn plain_string(text: &str, pos: usize) -> Option<&str> {
    let rest = text.get(pos..)?.strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

/// Where the value at `pos` ends, by its quotes and brackets alone (the parser checks the rest).
fn skip_value(bytes: &[u8], pos: usize) -> Option<usize> {
    match *bytes.get(pos)? {
        b'"' => skip_string(bytes, pos),
        b'{' | b'[' => {
            let (mut depth, mut pos) = (0usize, pos);
            loop {
                match *bytes.get(pos)? {
                    b'"' => {
                        pos = skip_string(bytes, pos)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(pos + 1);
                        }
                    }
                    _ => {}
                }
                pos += 1;
            }
        }
        _ => {
            let delimiter = |b: &u8| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n');
            let length = bytes[pos..].iter().position(delimiter).unwrap_or(bytes.len() - pos);
            (length > 0).then_some(pos + length)
        }
    }
}

/// Where the string at `pos` ends, just past its closing quote.
fn skip_string(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut pos = pos + 1;
    loop {
        // Most of a dump is inside strings: jump to the next quote or escape.
        pos += memchr::memchr2(b'"', b'\\', bytes.get(pos..)?)?;
        match bytes[pos] {
            b'"' => return Some(pos + 1),
            _ => pos += 2,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    line: u32,
    nodes: usize,
    budget: usize,
    limits: ParseLimits,
}

type Result<T> = std::result::Result<T, String>;

/// A node in place of a value that was checked but not kept.
const DROPPED: Node = Node { value: Value::Null, line: 0 };

impl<'a> Reader<'a> {
    fn document(&mut self, sink: &mut dyn FnMut(Parsed)) -> Result<()> {
        self.skip_whitespace();
        if self.pos >= self.bytes.len() {
            return Ok(());
        }
        let root = if self.peek() == Some(b'{') {
            self.object(0, Keep::Resource, Some(sink))?
        } else {
            self.value(0, Keep::All)?
        };
        self.skip_whitespace();
        if self.pos < self.bytes.len() {
            return Err("unexpected text after the end of the document".into());
        }
        sink(Parsed::Document(root));
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(&byte) = self.bytes.get(self.pos) {
            match byte {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected `{}`, found {}", byte as char, self.describe()))
        }
    }

    fn describe(&self) -> String {
        match self.text.get(self.pos..).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("`{c}`"),
            None => "the end of the input".into(),
        }
    }

    fn charge(&mut self) -> Result<()> {
        self.nodes += 1;
        if self.nodes > self.budget {
            return Err(format!("more than {} nodes", self.budget));
        }
        Ok(())
    }

    /// A value, built as far as `keep` says ([`DROPPED`] for what it drops).
    fn value(&mut self, depth: usize, keep: Keep) -> Result<Node> {
        self.skip_whitespace();
        self.charge()?;
        let line = self.line;
        match self.peek() {
            Some(b'{') => self.object(depth, keep, None),
            Some(b'[') => {
                if depth >= self.limits.max_depth {
                    return Err(self.limits.too_deep());
                }
                let item_keep = match keep {
                    Keep::Nothing => Keep::Nothing,
                    Keep::Items(shape) => Keep::Object(shape),
                    Keep::All | Keep::Object(_) | Keep::Resource => Keep::All,
                };
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        let item = self.value(depth + 1, item_keep)?;
                        if !matches!(keep, Keep::Nothing) {
                            items.push(item);
                        }
                        self.skip_whitespace();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(format!("expected `,` or `]`, found {}", self.describe())),
                        }
                    }
                }
                Ok(Node { value: Value::Seq(items), line })
            }
            Some(b'"') => {
                let text = self.string()?;
                Ok(match keep {
                    Keep::Nothing => DROPPED,
                    _ => Node { value: Value::Str(text.into_owned()), line },
                })
            }
            Some(b't') => self.literal("true", Value::Bool(true), line),
            Some(b'f') => self.literal("false", Value::Bool(false), line),
            Some(b'n') => self.literal("null", Value::Null, line),
            Some(b'-' | b'0'..=b'9') => self.number(line),
            _ => Err(format!("expected a value, found {}", self.describe())),
        }
    }

    /// An object; at the root (`sink` given) the `items` of a list are handed over one by one instead of kept.
    fn object(&mut self, depth: usize, keep: Keep, mut sink: Option<&mut dyn FnMut(Parsed)>) -> Result<Node> {
        if depth >= self.limits.max_depth {
            return Err(self.limits.too_deep());
        }
        let line = self.line;
        self.pos += 1;
        let mut entries: Vec<(String, Node)> = Vec::new();
        // Keys whose values were dropped, still compared with the next ones: a duplicate is an error wherever it is.
        let mut dropped: Vec<Cow<'a, str>> = Vec::new();
        let mut shape = match keep {
            Keep::Object(shape) => Some(shape),
            _ => None,
        };
        let build = !matches!(keep, Keep::Nothing);
        let (mut api_version, mut kind): (Option<String>, Option<String>) = (None, None);
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Node { value: Value::Map(entries), line });
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(format!("expected a quoted key, found {}", self.describe()));
            }
            let key_line = self.line;
            let key = self.string()?;
            self.expect(b':')?;
            if entries.iter().any(|(k, _)| *k == *key) || dropped.contains(&key) {
                self.line = key_line;
                return Err(format!("duplicate key `{key}`; the API server would reject this document"));
            }
            let is_list = match &kind {
                Some(kind) => kind.ends_with("List"),
                None => api_version.as_deref() == Some("v1"),
            };
            let value_keep = match shape {
                _ if !build => Keep::Nothing,
                Some(shape) => shape.keep(&key),
                None => Keep::All,
            };
            let value = match sink.as_deref_mut() {
                Some(sink) if key == "items" && is_list => self.streamed_items(depth, kind.as_deref(), sink)?,
                _ => self.value(depth + 1, value_keep)?,
            };
            if matches!(value_keep, Keep::Nothing) {
                dropped.push(key);
            } else {
                if depth == 0 {
                    match (&*key, &value.value) {
                        ("apiVersion", Value::Str(v)) => api_version = Some(v.clone()),
                        ("kind", Value::Str(v)) => kind = Some(v.clone()),
                        _ => {}
                    }
                }
                if matches!(keep, Keep::Resource) && key == "kind" && !self.limits.whole_json_objects {
                    if let Value::Str(kind) = &value.value {
                        shape = crate::decode::unread::object_shape(kind);
                    }
                }
                let value = if matches!(value.value, Value::Seq(_) | Value::Map(_)) {
                    Node { line: key_line, ..value }
                } else {
                    value
                };
                entries.push((key.into_owned(), value));
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(format!("expected `,` or `}}`, found {}", self.describe())),
            }
        }
        Ok(Node { value: Value::Map(entries), line })
    }

    /// One item of a root list's `items`, handed to `sink`: at the depth of the root object's `items` array's
    /// elements, which a run of items read alone is read at too.
    fn list_item(&mut self, list_kind: Option<&str>, sink: &mut dyn FnMut(Parsed)) -> Result<()> {
        let item = self.value(2, Keep::Resource)?;
        sink(Parsed::ListItem { item, list_kind: list_kind.map(str::to_string) });
        Ok(())
    }

    /// The elements of a root list's `items`, each handed to `sink` as soon as it is read; returns an empty list.
    fn streamed_items(&mut self, depth: usize, list_kind: Option<&str>, sink: &mut dyn FnMut(Parsed)) -> Result<Node> {
        self.skip_whitespace();
        let line = self.line;
        if self.peek() != Some(b'[') {
            return self.value(depth + 1, Keep::All);
        }
        self.pos += 1;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.list_item(list_kind, sink)?;
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("expected `,` or `]`, found {}", self.describe())),
                }
            }
        }
        Ok(Node { value: Value::Seq(Vec::new()), line })
    }

    fn literal(&mut self, word: &str, value: Value, line: u32) -> Result<Node> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(Node { value, line })
        } else {
            Err(format!("expected a value, found {}", self.describe()))
        }
    }

    fn number(&mut self, line: u32) -> Result<Node> {
        let start = self.pos;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let text = &self.text[start..self.pos];
        if let Ok(int) = text.parse::<i64>() {
            return Ok(Node { value: Value::Int(int), line });
        }
        match text.parse::<f64>() {
            Ok(float) if float.is_finite() => Ok(Node { value: Value::Float(float), line }),
            _ => Err(format!("`{text}` is not a number")),
        }
    }

    /// A string's contents: borrowed from the text unless it holds an escape.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.pos += 1;
        let first = self.pos;
        let mut out: Option<String> = None;
        loop {
            let start = self.pos;
            while let Some(&byte) = self.bytes.get(self.pos) {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            match self.peek() {
                Some(b'"') => {
                    let text = match out {
                        None => Cow::Borrowed(&self.text[first..self.pos]),
                        Some(mut out) => {
                            out.push_str(&self.text[start..self.pos]);
                            Cow::Owned(out)
                        }
                    };
                    self.pos += 1;
                    return Ok(text);
                }
                Some(b'\\') => {
                    let out = out.get_or_insert_with(String::new);
                    out.push_str(&self.text[start..self.pos]);
                    self.pos += 1;
                    let escape = self.peek().ok_or("an unfinished escape")?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let c = self.unicode_escape()?;
                            out.push(c);
                        }
                        other => return Err(format!("`\\{}` is not a JSON escape", other as char)),
                    }
                }
                Some(_) => return Err("a control character inside a string".into()),
                None => return Err("a string that never ends".into()),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.text.get(self.pos..self.pos + 4).ok_or("a short \\u escape")?;
        let value = u32::from_str_radix(digits, 16).map_err(|_| format!("`\\u{digits}` is not a \\u escape"))?;
        self.pos += 4;
        Ok(value)
    }

    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.pos..].starts_with(b"\\u") {
                return Err("a lone surrogate in a \\u escape".into());
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err("a lone surrogate in a \\u escape".into());
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| "a lone surrogate in a \\u escape".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(text: &str) -> (Vec<Parsed>, Option<SyntaxError>) {
        let mut out = Vec::new();
        let error = parse_json(text, ParseLimits::default(), &mut |p| out.push(p));
        (out, error)
    }

    #[test]
    fn values_lines_and_escapes() {
        let (parsed, error) =
            documents("{\"a\": [1, 2.5, true, null],\n \"b\": {\"c\": \"x\\u00e9\\ud83d\\ude00\\n\"}}");
        assert_eq!(error, None);
        let Parsed::Document(root) = &parsed[0] else { panic!("a document") };
        assert_eq!(root.get("b").map(|b| b.line), Some(2));
        assert_eq!(root.get("b").and_then(|b| b.get("c")).and_then(Node::as_str), Some("xé😀\n"));
        assert_eq!(root.get("a").map(|a| a.type_name()), Some("list"));
    }

    fn read_with(text: &str, whole_json_objects: bool) -> (Vec<Parsed>, Option<SyntaxError>) {
        let mut out = Vec::new();
        let limits = ParseLimits { whole_json_objects, ..ParseLimits::default() };
        let error = parse_json(text, limits, &mut |p| out.push(p));
        (out, error)
    }

    const POD: &str = r#"{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "p", "uid": "u\u00e9", "labels": {"uid": "x", "resources": "y"},
  "managedFields": [{"f:spec": {"f:containers": {}}}], "ownerReferences": [{"apiVersion": "apps/v1",
  "kind": "ReplicaSet", "name": "r", "uid": "u", "controller": true}]},
 "spec": {"tolerations": [{"key": 1}], "nodeName": "n", "containers": [{"name": "c", "image": "i",
  "resources": {"limits": {"cpu": 2}}, "readinessProbe": null, "ports": [{"containerPort": 80}]}]},
 "status": {"phase": "Running", "conditions": [[], {}], "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}}"#;

    #[test]
    fn what_no_decoder_reads_of_a_pod_is_dropped_and_the_rest_kept() {
        let (narrow, error) = read_with(POD, false);
        assert_eq!(error, None);
        let (whole, _) = read_with(POD, true);
        let [Parsed::Document(narrow)] = narrow.as_slice() else { panic!("one document") };
        let [Parsed::Document(whole)] = whole.as_slice() else { panic!("one document") };
        let path = |node: &Node, path: &[&str]| path.iter().try_fold(node.clone(), |n, key| n.get(key).cloned());
        for unread in [
            &["metadata", "uid"][..],
            &["metadata", "managedFields"],
            &["spec", "tolerations"],
            &["status", "phase"],
            &["status", "conditions"],
        ] {
            assert!(path(whole, unread).is_some(), "{unread:?} is in the input");
            assert!(path(narrow, unread).is_none(), "{unread:?} is dropped");
        }
        // Free-form maps keep every key, even one named like a field that is dropped elsewhere.
        for read in [&["metadata", "labels"][..], &["spec", "nodeName"], &["status", "podIPs"], &["status", "podIP"]] {
            assert_eq!(path(narrow, read), path(whole, read), "{read:?}");
        }
        let container = |root: &Node| match root.get("spec").and_then(|s| s.get("containers")).map(|c| &c.value) {
            Some(Value::Seq(items)) => items[0].clone(),
            _ => panic!("a list of containers"),
        };
        assert!(container(narrow).get("resources").is_none() && container(narrow).get("readinessProbe").is_none());
        assert_eq!(container(narrow).get("ports"), container(whole).get("ports"));
        let owner = |root: &Node| match root.get("metadata").and_then(|m| m.get("ownerReferences")).map(|o| &o.value) {
            Some(Value::Seq(items)) => items[0].clone(),
            _ => panic!("a list of owners"),
        };
        assert!(owner(narrow).get("uid").is_none());
        assert_eq!(owner(narrow).get("controller"), owner(whole).get("controller"));
    }

    #[test]
    fn what_is_dropped_is_checked_as_strictly_as_what_is_kept() {
        // Each broken where the narrow read drops the value: the same error on the same line as the whole read.
        for broken in [
            POD.replace(r#""readinessProbe": null"#, r#""readinessProbe": {"a": 1, "a": 2}"#),
            POD.replace(r#""phase": "Running""#, r#""phase": "Run\qning""#),
            POD.replace(r#""phase": "Running""#, "\"phase\": \"Run\u{1}ning\""),
            POD.replace(r#""conditions": [[], {}]"#, r#""conditions": [[], {}"#),
            POD.replace(r#""tolerations": [{"key": 1}]"#, r#""tolerations": [{"key": 01x}]"#),
            POD.replace(r#""tolerations": [{"key": 1}]"#, r#""tolerations": [{"key": tru}]"#),
            POD.replace(r#""uid": "u\u00e9""#, r#""uid": "u\ud800""#),
            POD.replace(r#""uid": "u\u00e9""#, r#""uid": 1, "uid": 2"#),
            POD.replace(
                r#""managedFields": [{"f:spec": {"f:containers": {}}}]"#,
                &format!("\"managedFields\": {}", "[".repeat(600)),
            ),
        ] {
            let (_, narrow) = read_with(&broken, false);
            let (_, whole) = read_with(&broken, true);
            assert!(narrow.is_some(), "{broken}");
            assert_eq!(narrow, whole, "{broken}");
        }
        // The node budget counts what is dropped.
        let limits =
            |whole_json_objects| ParseLimits { alias_expansion: 0, whole_json_objects, ..ParseLimits::default() };
        let many = POD.replace(r#""conditions": [[], {}]"#, &format!("\"conditions\": [{}0]", "0, ".repeat(100_001)));
        let mut errors = [false, true].map(|whole| parse_json(&many, limits(whole), &mut |_| {}));
        assert!(errors[0].as_ref().is_some_and(|e| e.message.contains("nodes")), "{:?}", errors[0]);
        assert_eq!(errors[0].take(), errors[1].take());
    }

    #[test]
    fn an_object_whose_kind_comes_after_its_fields_is_kept_whole() {
        let late = r#"{"apiVersion": "v1", "metadata": {"name": "p", "uid": "u"}, "kind": "Pod"}"#;
        let (parsed, _) = read_with(late, false);
        let [Parsed::Document(root)] = parsed.as_slice() else { panic!("one document") };
        assert!(root.get("metadata").and_then(|m| m.get("uid")).is_some());
    }

    #[test]
    fn list_items_are_streamed() {
        let (parsed, error) = documents("{\"apiVersion\": \"v1\", \"items\": [\n{\"kind\": \"Pod\"},\n{\"kind\": \"Service\"}], \"kind\": \"List\"}");
        assert_eq!(error, None);
        assert_eq!(parsed.len(), 3);
        assert!(matches!(&parsed[1], Parsed::ListItem { item, .. } if item.line == 3));
        assert!(matches!(&parsed[2], Parsed::Document(_)));
    }

    #[test]
    fn errors_name_the_line() {
        let (_, error) = documents("{\"a\": 1,\n \"b\": }");
        assert_eq!(error.map(|e| e.line), Some(2));
        let (_, error) = documents("{\"a\": 1, \"a\": 2}");
        assert!(error.is_some_and(|e| e.message.contains("duplicate")));
        let (_, error) = documents(&"[".repeat(10_000));
        assert!(error.is_some_and(|e| e.message.contains("nesting")));
        let (_, error) = documents("{\"a\": 1} trailing");
        assert!(error.is_some());
    }

    #[test]
    fn a_list_is_cut_between_items_and_keeps_its_lines() {
        let text = "{\"kind\": \"PodList\",\n \"items\": [\n{\"a\": \"],\\\"{\"},\n{\"b\": [1, {}]}, 3,\n\"x\"\n],\n\"metadata\": {}}";
        let split = split_list(text, 3).unwrap_or_else(|| panic!("a list"));
        assert_eq!(split.runs.len(), 3);
        let items: Vec<&str> = split.runs.iter().map(|(_, run)| *run).collect();
        assert_eq!(items.join(",").replace(['\n', ' '], ""), "{\"a\":\"],\\\"{\"},{\"b\":[1,{}]},3,\"x\"");
        for (line, run) in &split.runs {
            let offset = run.as_ptr() as usize - text.as_ptr() as usize;
            assert_eq!(*line as usize, 1 + text[..offset].matches('\n').count(), "{run}");
        }
        assert_eq!(split.list_kind.as_deref(), Some("PodList"));
        assert_eq!(split.rest, "{\"kind\": \"PodList\",\n \"items\": [\n\n\n\n],\n\"metadata\": {}}");
        assert_eq!(split.rest.lines().count(), text.lines().count(), "what follows the items keeps its lines");
    }

    #[test]
    fn an_item_is_scanned_in_bytes_that_may_end_before_it_does() {
        let text = br#"{"a": "x,]"}, 3 ]"#;
        assert_eq!(next_item(text, 0), NextItem::Item { end: 12, separator: 12 });
        for cut in 0..=12 {
            assert_eq!(next_item(&text[..cut], 0), NextItem::Incomplete, "cut at {cut}");
        }
        assert_eq!(next_item(text, 14), NextItem::Item { end: 15, separator: 16 });
        // A number at the end of the bytes may go on in the next ones.
        assert_eq!(next_item(&text[..15], 14), NextItem::Incomplete);
        for unusual in [&b"{} x"[..], b"]", b",", b"}"] {
            assert_eq!(next_item(unusual, 0), NextItem::Unusual, "{:?}", String::from_utf8_lossy(unusual));
        }
    }

    #[test]
    fn what_is_not_a_plain_list_is_not_cut() {
        for text in [
            "[1, 2]",
            "{\"kind\": \"Pod\", \"items\": [1, 2]}",
            "{\"kind\": \"List\", \"items\": {}}",
            "{\"kind\": \"List\", \"items\": []}",
            "{\"ki\\u006ed\": \"List\", \"items\": [1]}",
            "{\"kind\": \"List\", \"items\": [1, 2",
        ] {
            assert!(split_list(text, 4).is_none(), "{text}");
        }
        // Without a kind before them, items are a list's when the apiVersion is `v1`, as the reader hands them over.
        assert!(split_list("{\"apiVersion\": \"v1\", \"items\": [1]}", 4).is_some());
    }
}
