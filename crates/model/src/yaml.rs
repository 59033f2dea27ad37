//! A YAML/JSON document tree with a line for every node, built from `saphyr-parser` events under limits.
//!
//! The tree is held for one document at a time: the loader decodes it into narrow structs and drops it.
//! Limits are sized from the document itself, so that an honest document can never hit them while an alias
//! bomb or a pathologically nested one is refused with a message naming the limit.

use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// The deepest nesting a document may have by default. Kubernetes objects stay below 30 levels.
pub const MAX_DEPTH: usize = 512;
/// Nodes a document may expand to per input byte by default; see [`ParseLimits::node_budget`].
pub const ALIAS_EXPANSION: usize = 4;
/// Nodes allowed per document beyond its byte length; see [`ParseLimits::node_budget`].
pub const NODE_BUDGET_SLACK: usize = 100_000;

/// The parser's limits: sized so that an honest document never meets them, and raised by flags when one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// The deepest nesting of mappings and sequences (`--max-depth`).
    pub max_depth: usize,
    /// Nodes per input byte that aliases may expand a document to (`--max-alias-expansion`).
    pub alias_expansion: usize,
    /// Build the fields of JSON pods and workloads that no decoder reads (probes, resources, status) instead of
    /// checking and dropping them: for tests that hold the narrow read against the whole one.
    pub whole_json_objects: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_depth: MAX_DEPTH, alias_expansion: ALIAS_EXPANSION, whole_json_objects: false }
    }
}

impl ParseLimits {
    /// How many nodes a document of `bytes` bytes may expand to.
    ///
    /// Without aliases every node costs at least one byte of input, so the budget is only reachable through alias
    /// expansion; it then caps the expansion at a small multiple of the input size.
    pub fn node_budget(&self, bytes: usize) -> usize {
        bytes.saturating_mul(self.alias_expansion).saturating_add(NODE_BUDGET_SLACK)
    }

    pub(crate) fn too_deep(&self) -> String {
        format!(
            "nesting deeper than {} levels; no Kubernetes object is nested this deep (limit: --max-depth {})",
            self.max_depth, self.max_depth
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// 1-based line of the node's first character.
    pub line: u32,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub line: u32,
    pub message: String,
}

/// What the parser hands over: whole documents, and the items of a top-level `List` one at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Document(Node),
    /// An element of the `items` of a list document (a `kubectl get -o yaml|json` dump), handed over as soon as it
    /// is complete so that a dump of 100k pods is never held as one tree. `list_kind` is the list's `kind` when it
    /// came before `items`.
    ListItem {
        item: Node,
        list_kind: Option<String>,
    },
}

/// Parses every document in `text`, whose first line is line `first_line` of its file, handing each to `sink`.
///
/// A syntax error ends the chunk, since the parser cannot resynchronise; callers split files on `---` lines first
/// so that one broken document does not hide the next ones.
pub fn parse_documents(
    text: &str,
    first_line: u32,
    limits: ParseLimits,
    sink: &mut dyn FnMut(Parsed),
) -> Option<SyntaxError> {
    let mut builder = TreeBuilder::new(limits, text.len());
    let mut lines = LineCursor::new(text);
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(pair) => pair,
            Err(error) => {
                // At the end of input the parser's marker can stand one line past the last one.
                let last_line = offset_line(first_line, text.lines().count().max(1));
                let line = offset_line(first_line, lines.line_at(error.marker().index())).min(last_line);
                let message = if error.info().contains("recursion limit") {
                    "flow collections (`[`, `{`) nested deeper than 255 levels, the YAML parser's fixed limit; no \
                     Kubernetes object is nested this deep"
                        .to_string()
                } else {
                    format!("invalid YAML: {}", error.info())
                };
                return Some(SyntaxError { line, message });
            }
        };
        let line = offset_line(first_line, lines.line_at(span.start.index()));
        let result = builder.push(event, line);
        for item in builder.streamed.drain(..) {
            sink(Parsed::ListItem { item, list_kind: builder.root_kind.clone() });
        }
        match result {
            Ok(Some(document)) => sink(Parsed::Document(document)),
            Ok(None) => {}
            Err(error) => return Some(error),
        }
    }
    None
}

/// Every document of `text` as a whole tree, list items left in place: for tests and small inputs.
pub fn parse_all(text: &str) -> (Vec<Node>, Option<SyntaxError>) {
    let mut documents = Vec::new();
    let mut items = Vec::new();
    let error = parse_documents(text, 1, ParseLimits::default(), &mut |parsed| match parsed {
        Parsed::Document(node) => documents.push(node),
        Parsed::ListItem { item, .. } => items.push(item),
    });
    if !items.is_empty() {
        for document in &mut documents {
            if let Value::Map(entries) = &mut document.value {
                if let Some((_, list)) = entries.iter_mut().find(|(k, _)| k == "items") {
                    list.value = Value::Seq(std::mem::take(&mut items));
                }
            }
        }
    }
    (documents, error)
}

/// Lines as editors, GitHub and SARIF count them: one after each `\n`. The YAML parser also starts a line at a
/// lone `\r`, so its own line numbers can run past the file's; this counts from its character offsets instead.
struct LineCursor<'t> {
    text: &'t str,
    chars: std::str::Chars<'t>,
    /// Characters consumed so far, and the line the next one is on.
    index: usize,
    line: usize,
}

impl<'t> LineCursor<'t> {
    fn new(text: &'t str) -> Self {
        LineCursor { text, chars: text.chars(), index: 0, line: 1 }
    }

    /// The 1-based line of the character at `index`. Events arrive in order, so this walks forward once overall.
    fn line_at(&mut self, index: usize) -> usize {
        if index < self.index {
            *self = LineCursor::new(self.text);
        }
        while self.index < index {
            match self.chars.next() {
                Some('\n') => self.line += 1,
                Some(_) => {}
                None => break,
            }
            self.index += 1;
        }
        self.line
    }
}

fn offset_line(first_line: u32, parser_line: usize) -> u32 {
    let relative = u32::try_from(parser_line.max(1)).unwrap_or(u32::MAX);
    first_line.saturating_add(relative - 1)
}

enum Frame {
    Seq { items: Vec<Node>, line: u32, anchor: usize },
    Map { entries: Vec<(String, Node)>, pending_key: Option<Node>, line: u32, anchor: usize },
}

struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    limits: ParseLimits,
    budget: usize,
    nodes: usize,
    root: Option<Node>,
    /// The current document's top-level `apiVersion` and `kind`, as far as they have been read.
    root_api_version: Option<String>,
    root_kind: Option<String>,
    /// Completed list items not yet handed over.
    streamed: Vec<Node>,
}

impl TreeBuilder {
    fn new(limits: ParseLimits, bytes: usize) -> Self {
        TreeBuilder {
            stack: Vec::new(),
            anchors: HashMap::new(),
            limits,
            budget: limits.node_budget(bytes),
            nodes: 0,
            root: None,
            root_api_version: None,
            root_kind: None,
            streamed: Vec::new(),
        }
    }

    /// Whether a node completed now is an item of a top-level list: the root is a mapping whose pending key is
    /// `items`, and what has been read of it says it is a list (`kind: ...List`, or `apiVersion: v1` before `kind`
    /// as kubectl writes dumps).
    fn is_list_item(&self) -> bool {
        if self.stack.len() != 2 || !matches!(self.stack[1], Frame::Seq { .. }) {
            return false;
        }
        let Frame::Map { pending_key: Some(key), .. } = &self.stack[0] else { return false };
        if key.as_str() != Some("items") {
            return false;
        }
        match &self.root_kind {
            Some(kind) => kind.ends_with("List"),
            None => self.root_api_version.as_deref() == Some("v1"),
        }
    }

    fn charge(&mut self, count: usize, line: u32) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(count);
        if self.nodes > self.budget {
            return Err(SyntaxError {
                line,
                message: format!(
                    "document expands to more than {} nodes (limit: {} per input byte + {NODE_BUDGET_SLACK}, \
                     --max-alias-expansion {}); aliases (`*name`) repeat too much. This looks like an alias bomb",
                    self.budget, self.limits.alias_expansion, self.limits.alias_expansion
                ),
            });
        }
        Ok(())
    }

    fn push(&mut self, event: Event<'_>, line: u32) -> Result<Option<Node>, SyntaxError> {
        match event {
            Event::DocumentStart(_) => {
                self.anchors.clear();
                self.nodes = 0;
                self.root = None;
                self.root_api_version = None;
                self.root_kind = None;
            }
            Event::DocumentEnd => return Ok(self.root.take()),
            Event::Scalar(text, style, anchor, _tag) => {
                self.charge(1, line)?;
                let node = Node { value: resolve_scalar(&text, style), line };
                self.attach(node, anchor)?;
            }
            Event::Alias(anchor) => {
                let Some(node) = self.anchors.get(&anchor).cloned() else {
                    return Err(SyntaxError { line, message: "alias to an unknown anchor".into() });
                };
                self.charge(count_nodes(&node), line)?;
                self.attach(Node { line, ..node }, 0)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.charge(1, line)?;
                self.open(Frame::Seq { items: Vec::new(), line, anchor }, line)?;
            }
            Event::MappingStart(anchor, _) => {
                self.charge(1, line)?;
                self.open(Frame::Map { entries: Vec::new(), pending_key: None, line, anchor }, line)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, line, anchor }) => (Node { value: Value::Seq(items), line }, anchor),
                    Some(Frame::Map { entries, line, anchor, .. }) => {
                        (Node { value: Value::Map(entries), line }, anchor)
                    }
                    None => return Err(SyntaxError { line, message: "unbalanced collection end".into() }),
                };
                self.attach(node, anchor)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(None)
    }

    fn open(&mut self, frame: Frame, line: u32) -> Result<(), SyntaxError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(SyntaxError { line, message: self.limits.too_deep() });
        }
        self.stack.push(frame);
        Ok(())
    }

    fn attach(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        if self.is_list_item() {
            self.streamed.push(node);
            return Ok(());
        }
        let at_root = self.stack.len() == 1;
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, pending_key, .. }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    let key_line = key.line;
                    let key_text = match key.value {
                        Value::Str(s) => s,
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            return Err(SyntaxError {
                                line: key_line,
                                message: "a mapping key that is itself a list or mapping".into(),
                            })
                        }
                    };
                    if key_text == "<<" {
                        return merge_into(entries, node, key_line);
                    }
                    if at_root {
                        match (key_text.as_str(), &node.value) {
                            ("apiVersion", Value::Str(v)) => self.root_api_version = Some(v.clone()),
                            ("kind", Value::Str(v)) => self.root_kind = Some(v.clone()),
                            _ => {}
                        }
                    }
                    if entries.iter().any(|(k, _)| *k == key_text) {
                        return Err(SyntaxError {
                            line: key_line,
                            message: format!("duplicate key `{key_text}`; the API server would reject this document"),
                        });
                    }
                    // A nested collection starts on the line after its key; point diagnostics at the key.
                    let mut node = node;
                    if matches!(node.value, Value::Seq(_) | Value::Map(_)) {
                        node.line = key_line;
                    }
                    entries.push((key_text, node));
                }
            },
        }
        Ok(())
    }
}

/// YAML 1.1 merge keys (`<<: *base`), which kubectl's YAML decoder honours.
fn merge_into(entries: &mut Vec<(String, Node)>, source: Node, line: u32) -> Result<(), SyntaxError> {
    let maps = match source.value {
        Value::Map(map) => vec![map],
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|item| match item.value {
                Value::Map(map) => Some(map),
                _ => None,
            })
            .collect(),
        _ => return Err(SyntaxError { line, message: "merge key `<<` needs a mapping".into() }),
    };
    for map in maps {
        for (key, value) in map {
            if !entries.iter().any(|(k, _)| *k == key) {
                entries.push((key, value));
            }
        }
    }
    Ok(())
}

fn count_nodes(node: &Node) -> usize {
    let mut count = 0usize;
    let mut pending = vec![node];
    while let Some(node) = pending.pop() {
        count += 1;
        match &node.value {
            Value::Seq(items) => pending.extend(items.iter()),
            Value::Map(entries) => pending.extend(entries.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    count
}

/// Resolves a scalar the way kubectl's YAML decoder (YAML 1.1 rules) does for the types we read.
fn resolve_scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => return Value::Bool(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            return Value::Bool(false)
        }
        _ => {}
    }
    if let Some(int) = parse_int(text) {
        return Value::Int(int);
    }
    if looks_like_float(text) {
        if let Ok(float) = text.parse::<f64>() {
            return Value::Float(float);
        }
    }
    Value::Str(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = digits.strip_prefix("0o") {
        i64::from_str_radix(octal, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if negative { -value } else { value })
}

fn looks_like_float(text: &str) -> bool {
    let body = text.trim_start_matches(['-', '+']);
    !body.is_empty()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let (mut docs, error) = parse_all(text);
        assert_eq!(error, None);
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn nodes_carry_their_lines() {
        let doc = one("a: 1\nb:\n  c: x\n");
        assert_eq!(doc.get("b").and_then(|b| b.get("c")).map(|c| c.line), Some(3));
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let doc = one("a: '80'\nb: 80\nc: yes\nd: 1.5\n");
        assert_eq!(doc.get("a").and_then(Node::as_str), Some("80"));
        assert_eq!(doc.get("b").map(|n| n.value.clone()), Some(Value::Int(80)));
        assert_eq!(doc.get("c").map(|n| n.value.clone()), Some(Value::Bool(true)));
        assert_eq!(doc.get("d").map(|n| n.value.clone()), Some(Value::Float(1.5)));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let prev = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let (_, error) = parse_all(&text);
        let error = error.expect("alias bomb must be refused");
        assert!(error.message.contains("alias"), "{}", error.message);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let text = "[".repeat(100_000);
        let (_, error) = parse_all(&text);
        assert!(error.is_some());
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let (_, error) = parse_all("a: 1\na: 2\n");
        assert_eq!(error.map(|e| e.line), Some(2));
    }

    #[test]
    fn merge_keys_are_honoured() {
        let doc = one("base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n");
        assert!(doc.get("m").and_then(|m| m.get("x")).is_some());
    }

    /// Found by the `load` fuzz target: an unterminated flow mapping at the end of input made the parser report
    /// an error one line past the last one.
    #[test]
    fn regression_fuzz_error_at_end_of_input_names_a_real_line() {
        for text in ["kind: Pod\nspec: {a\nb:c", "kind: Pod\nspec: {a\nb:c\n", "x: [1,\n"] {
            let (_, error) = parse_all(text);
            let error = error.expect("a syntax error");
            assert!(error.line as usize <= text.lines().count(), "{text:?}: line {}", error.line);
        }
    }

    /// Found by the `load` fuzz target: a lone carriage return ends a line for the YAML parser but not for an
    /// editor, so diagnostics after it named lines past the end of the file.
    #[test]
    fn regression_fuzz_lone_carriage_return_does_not_shift_lines() {
        let text = "kind: Pod\nmetadata:\n  name: a\r  # a stray CR\nspec:\n  x: 1\n  x: 2\n";
        let (_, error) = parse_all(text);
        let error = error.expect("the duplicate key");
        assert_eq!(error.line, 6, "{}", error.message);
        let (documents, _) = parse_all("a: 1\r\nb: 2\n");
        assert_eq!(documents[0].get("b").map(|b| b.line), Some(2), "CRLF is one line end");
    }

    #[test]
    fn json_parses_with_lines() {
        let doc = one("{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"a\"}\n}\n");
        assert_eq!(doc.get("metadata").map(|m| m.line), Some(3));
    }
}
