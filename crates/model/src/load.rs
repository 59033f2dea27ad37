//! Inputs to objects: files, directories and stdin; multi-document YAML, JSON, `List`s and `kubectl get -o` dumps.

use crate::calico::ServiceAccount;
use crate::cilium::{CiliumConfig, CiliumPolicy};
use crate::decode;
use crate::diag::{Diagnostic, DiagnosticCode, Severity};
use crate::json::{parse_json, parse_list_items};
use crate::kube::*;
use crate::parallel::for_each_in_parallel;
use crate::yaml::{parse_documents, Node, ParseLimits, Parsed, SyntaxError, Value};
use foldhash::{HashMap, HashSet, HashSetExt};
pub use object::calico_kind_name;
use object::{apply, Decoder, Effect};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod object;
mod stream;

/// One thing the user named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    /// `-` is stdin, anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }
}

/// How much input netseg accepts. Every limit names its flag when it is hit; see docs/limits.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub parse: ParseLimits,
    /// Bytes read from all inputs together (`--max-input-bytes`); a file that would go over it is not read.
    pub max_input_bytes: u64,
    /// Diagnostics kept per severity (`--max-diagnostics`); the rest are counted in one summary diagnostic, so
    /// that a flood of bad documents cannot grow memory or drown the report.
    pub max_diagnostics: usize,
    /// Inputs of at least this many bytes are read on every core, a part on each (see [`crate::parallel`]);
    /// smaller ones are not worth the threads.
    pub parallel_from_bytes: u64,
}

/// 4 GiB: several times the largest cluster dump Kubernetes supports (150k pods as JSON is about 1 GB).
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 4 << 30;
pub const DEFAULT_MAX_DIAGNOSTICS: usize = 1_000;
/// 256 KiB: about a hundred objects, where a thread's start-up is lost in the parse.
pub const DEFAULT_PARALLEL_FROM_BYTES: u64 = 256 << 10;
/// Bytes read at a time from a JSON file read in parts.
const READ_BLOCK: usize = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            parse: ParseLimits::default(),
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_diagnostics: DEFAULT_MAX_DIAGNOSTICS,
            parallel_from_bytes: DEFAULT_PARALLEL_FROM_BYTES,
        }
    }
}

/// Diagnostics over the cap, per severity (error, warning, note).
#[derive(Debug, Default)]
struct DiagnosticCap {
    checked: usize,
    kept: [usize; 3],
    dropped: [usize; 3],
}

/// Every object read, before workloads are assembled; duplicates already resolved (the later one wins).
#[derive(Debug, Default)]
pub struct Inventory {
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<ClusterNode>,
    pub workloads: Vec<WorkloadObject>,
    pub services: Vec<Service>,
    pub policies: Vec<NetworkPolicy>,
    pub admin_policies: Vec<AdminPolicy>,
    pub cilium_policies: Vec<CiliumPolicy>,
    /// The `cilium-config` ConfigMap, when the input has one.
    pub cilium_config: Option<CiliumConfig>,
    pub endpoints: Vec<ServiceEndpoints>,
    pub ingresses: Vec<Ingress>,
    pub calico: crate::calico::CalicoObjects,
    pub service_accounts: Vec<ServiceAccount>,
    /// Istio, Linkerd and Consul objects and settings.
    pub mesh: crate::mesh::Meshes,
    /// ConfigMaps' `data` (at most [`crate::config::MAX_CONFIG_DATA_BYTES`] in all) and Secrets' key names.
    pub config_maps: Vec<crate::config::ConfigMap>,
    pub secrets: Vec<crate::config::SecretKeys>,
    /// Bytes of ConfigMap data kept so far.
    pub(crate) config_bytes: u64,
    pub diagnostics: Vec<Diagnostic>,
    pub files_read: usize,
    /// The files (and API lists) read, in the order they were read: where a finding about the whole input points.
    pub sources: Vec<Arc<str>>,
    /// Policies of kinds netseg does not analyse, with what they select (see [`crate::unmodelled`]).
    pub unmodelled: Vec<crate::unmodelled::UnmodelledPolicy>,
    pub documents_read: usize,
    /// Namespaced objects that name no namespace and went to `default` (no `-n` given).
    pub namespace_defaulted: usize,
    /// Documents that are Kubernetes objects (they name a `kind`), of any kind, read or skipped.
    pub objects_read: usize,
    /// Where objects that name no namespace go, as with `kubectl apply -n`; `default` when unset.
    pub default_namespace: Option<String>,
    pub limits: Limits,
    /// Bytes read so far, against `limits.max_input_bytes`.
    pub bytes_read: u64,
    seen: HashMap<object::ObjectKey, (usize, Location)>,
    cap: DiagnosticCap,
}

impl Inventory {
    /// An empty inventory: objects that name no namespace go to `default_namespace` (`default` when `None`).
    pub fn new(default_namespace: Option<String>, limits: Limits) -> Inventory {
        Inventory { default_namespace, limits, ..Inventory::default() }
    }

    /// Forgets which objects were read, so that the next one of the same kind, namespace and name is no longer
    /// taken for a duplicate; for the end of loading, since the index is a large part of a loaded dump.
    pub(crate) fn drop_index(&mut self) {
        self.seen = HashMap::default();
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// Keeps at most `limits.max_diagnostics` diagnostics of each severity, counting the rest.
    fn cap_diagnostics(&mut self) {
        let max = self.limits.max_diagnostics;
        if self.cap.checked >= self.diagnostics.len() {
            return;
        }
        let fresh: Vec<Diagnostic> = self.diagnostics.drain(self.cap.checked..).collect();
        for diagnostic in fresh {
            let slot = diagnostic.severity as usize;
            if self.cap.kept[slot] < max {
                self.cap.kept[slot] += 1;
                self.diagnostics.push(diagnostic);
            } else {
                self.cap.dropped[slot] += 1;
            }
        }
        self.cap.checked = self.diagnostics.len();
    }

    /// One diagnostic per severity saying how many were not kept since the last summary.
    pub fn summarise_dropped(&mut self) {
        self.cap_diagnostics();
        let max = self.limits.max_diagnostics;
        for (slot, severity) in [Severity::Error, Severity::Warning, Severity::Note].into_iter().enumerate() {
            let dropped = std::mem::take(&mut self.cap.dropped[slot]);
            if dropped == 0 {
                continue;
            }
            let what = match severity {
                Severity::Error => "errors",
                Severity::Warning => "warnings",
                Severity::Note => "notes",
            };
            self.diagnostics.push(Diagnostic {
                severity,
                code: DiagnosticCode::TooManyDiagnostics,
                file: Arc::from("netseg"),
                line: None,
                object: None,
                field: None,
                message: format!(
                    "{dropped} more diagnostics ({what}) are not shown: only the first {max} {what} are kept \
                     (raise the limit with --max-diagnostics N)"
                ),
                hint: None,
            });
        }
        self.cap.checked = self.diagnostics.len();
    }
}

/// Loads every input. Problems become diagnostics; nothing stops the rest from loading.
pub fn load(inputs: &[Input], default_namespace: Option<&str>) -> Inventory {
    load_with(inputs, default_namespace, Limits::default())
}

/// [`load`] under explicit limits.
pub fn load_with(inputs: &[Input], default_namespace: Option<&str>, limits: Limits) -> Inventory {
    let mut inventory = Inventory::new(default_namespace.map(str::to_string), limits);
    load_inputs(&mut inventory, inputs);
    inventory
}

/// Loads every input into an inventory that may already hold objects (a live cluster's, say): a later object
/// replaces an earlier one of the same kind, namespace and name, as `kubectl apply` would.
pub fn load_inputs(inventory: &mut Inventory, inputs: &[Input]) {
    // Inputs that held no object, by their diagnostic's index: an error when nothing given holds an object, but a
    // warning beside inputs that do (a pre-commit hook hands over every changed YAML file, a repository's CI
    // configuration among them).
    let mut empty_inputs = Vec::new();
    for input in inputs {
        let objects_before = inventory.objects_read;
        let diagnostics_before = inventory.diagnostics.len();
        match input {
            Input::Stdin => {
                let name: Arc<str> = Arc::from("<stdin>");
                let remaining = inventory.limits.max_input_bytes.saturating_sub(inventory.bytes_read);
                let mut bytes = Vec::new();
                match std::io::stdin().lock().take(remaining.saturating_add(1)).read_to_end(&mut bytes) {
                    Ok(_) if bytes.len() as u64 > remaining => {
                        let message = over_input_limit(inventory, "stdin holds more", None);
                        file_error(inventory, name, message);
                    }
                    Ok(_) => load_bytes(inventory, name, &bytes, false),
                    Err(error) => file_error(inventory, name, format!("cannot read stdin: {error}")),
                }
            }
            Input::Path(path) => load_path(inventory, path),
        }
        let said_why = inventory.diagnostics[diagnostics_before.min(inventory.diagnostics.len())..]
            .iter()
            .any(|d| d.severity == Severity::Error && d.code.about_input());
        if inventory.objects_read == objects_before && !said_why {
            let (name, what) = match input {
                Input::Stdin => ("<stdin>".to_string(), "stdin"),
                Input::Path(path) if path.is_dir() => (path.display().to_string(), "the directory"),
                Input::Path(path) => (path.display().to_string(), "the file"),
            };
            empty_inputs.push(inventory.diagnostics.len());
            inventory.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                code: DiagnosticCode::NoObjects,
                file: Arc::from(name),
                line: None,
                object: None,
                field: None,
                message: format!(
                    "no Kubernetes object in {what}: nothing to analyse (a document needs `apiVersion` and `kind`)"
                ),
                hint: Some(match input {
                    Input::Stdin => "pipe manifests in, such as `kubectl get -A -o yaml ... | netseg COMMAND -`".into(),
                    Input::Path(_) if what == "the directory" => {
                        "netseg reads the .yaml, .yml and .json files under a directory; give the folder that holds \
                         the manifests"
                            .into()
                    }
                    Input::Path(_) => "give a file of Kubernetes manifests (YAML or JSON)".into(),
                }),
            });
        }
        inventory.cap_diagnostics();
    }
    if inventory.objects_read > 0 {
        for index in empty_inputs {
            if let Some(diagnostic) = inventory.diagnostics.get_mut(index) {
                if diagnostic.code == DiagnosticCode::NoObjects {
                    diagnostic.severity = Severity::Warning;
                    diagnostic.message.push_str("; the other inputs are analysed");
                }
            }
        }
    }
    let references = decode::mesh::references::check(&inventory.mesh.linkerd);
    inventory.diagnostics.extend(references);
    inventory.summarise_dropped();
}

fn over_input_limit(inventory: &Inventory, what: &str, size: Option<u64>) -> String {
    let size = size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
    format!(
        "not read: {what}{size} than the input limit leaves ({} of {} bytes already read; raise the limit with \
         --max-input-bytes SIZE, such as 8GB)",
        inventory.bytes_read, inventory.limits.max_input_bytes
    )
}

fn load_path(inventory: &mut Inventory, path: &Path) {
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    if path.is_dir() {
        collect_files(inventory, path, &mut files, &mut visited);
    } else {
        files.push(path.to_path_buf());
    }
    for file in files {
        let name: Arc<str> = Arc::from(file.display().to_string());
        let remaining = inventory.limits.max_input_bytes.saturating_sub(inventory.bytes_read);
        let size = std::fs::metadata(&file).ok().filter(|metadata| metadata.is_file()).map(|metadata| metadata.len());
        if let Some(size) = size.filter(|size| *size > remaining) {
            let message = over_input_limit(inventory, "the file is larger", Some(size));
            file_error(inventory, name, message);
            continue;
        }
        let json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        // A large JSON file is most likely a `kubectl get -o json` dump: read in parts, it is parsed as it is read.
        if let Some(size) = size.filter(|size| json && *size >= inventory.limits.parallel_from_bytes) {
            match std::fs::File::open(&file) {
                Ok(mut reader) => {
                    load_json_in_parts(inventory, name, &mut reader, size, READ_BLOCK, &mut || std::fs::read(&file));
                }
                Err(error) => file_error(inventory, name, format!("cannot read: {error}")),
            }
            continue;
        }
        match std::fs::read(&file) {
            Ok(bytes) => load_bytes(inventory, name, &bytes, json),
            Err(error) => file_error(inventory, name, format!("cannot read: {error}")),
        }
    }
}

fn collect_files(inventory: &mut Inventory, dir: &Path, files: &mut Vec<PathBuf>, visited: &mut HashSet<PathBuf>) {
    // Symlinked directories can form loops; each real directory is walked once.
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if !visited.insert(real) {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            file_error(inventory, Arc::from(dir.display().to_string()), format!("cannot list directory: {error}"));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    if paths.iter().any(|p| p.file_name().is_some_and(|n| n == "Chart.yaml")) {
        unrendered_chart(inventory, dir);
        return;
    }
    for path in paths {
        if path.is_dir() {
            collect_files(inventory, &path, files, visited);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
        {
            files.push(path);
        }
    }
}

/// A Helm chart's folder: its templates are not objects until rendered, so none of it is read.
fn unrendered_chart(inventory: &mut Inventory, dir: &Path) {
    let dir = dir.display().to_string();
    inventory.diagnostics.push(Diagnostic {
        severity: Severity::Error,
        code: DiagnosticCode::UnrenderedTemplate,
        file: Arc::from(format!("{dir}/Chart.yaml")),
        line: None,
        object: None,
        field: None,
        message: "a Helm chart: its templates become Kubernetes objects only when rendered, so netseg reads none \
                  of it"
            .into(),
        hint: Some(format!("render it first: `helm template RELEASE {dir} [-f VALUES] | netseg COMMAND -`")),
    });
}

/// The first line of `text` with a Helm template action (`{{ .Values.x }}`, `{{ include "..." . }}`): text that
/// is a chart's template rather than a manifest. Other `{{ }}` text (Prometheus, Grafana and Alertmanager templates
/// inside a ConfigMap) does not count.
pub fn helm_template_line(text: &str) -> Option<u32> {
    const HELM: &[&str] = &[".Values", ".Release.", ".Chart.", ".Capabilities.", ".Files.", "include \"", "toYaml"];
    (1u32..).zip(text.lines()).find_map(|(number, line)| {
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after.find("}}").unwrap_or(after.len());
            if HELM.iter().any(|h| after[..end].contains(h)) {
                return Some(number);
            }
            rest = &after[end..];
        }
        None
    })
}

/// The chart folder above a template file (`chart/templates/x.yaml` → `chart`), when there is one.
fn chart_of(file: &str) -> Option<PathBuf> {
    Path::new(file).ancestors().skip(1).find(|dir| dir.join("Chart.yaml").is_file()).map(Path::to_path_buf)
}

fn file_error(inventory: &mut Inventory, file: Arc<str>, message: String) {
    inventory.diagnostics.push(Diagnostic {
        severity: Severity::Error,
        code: DiagnosticCode::UnreadableFile,
        file,
        line: None,
        object: None,
        field: None,
        message,
        hint: None,
    });
}

/// Loads one file's bytes. Public so that tests and fuzzers can feed bytes directly.
pub fn load_bytes(inventory: &mut Inventory, file: Arc<str>, bytes: &[u8], json: bool) {
    inventory.files_read += 1;
    inventory.sources.push(file.clone());
    let mut placer = Placer { inventory, file: file.clone(), waiting: Vec::new() };
    load_whole(&mut placer, bytes, json, None);
}

/// Loads a JSON file read in parts from `reader`, as [`load_bytes`] would load it whole: a large `List` (a
/// `kubectl get -o json` dump) is cut into runs of items as its bytes arrive, and the runs are parsed on the other
/// cores while the rest is read, so that reading overlaps parsing and the whole text is never held at once. Any
/// other document, and a list with anything unusual about it (a syntax error, bytes that are not UTF-8, a read
/// error), is read whole from `whole` instead, which reports what it finds as a whole read always has; the items
/// already in place are not put in place twice. `size` is the input's size as far as it is known; `block`, how
/// many bytes to read at a time. Public so that tests and fuzzers can feed bytes in parts of any size.
pub fn load_json_in_parts(
    inventory: &mut Inventory,
    file: Arc<str>,
    reader: &mut dyn Read,
    size: u64,
    block: usize,
    whole: &mut dyn FnMut() -> std::io::Result<Vec<u8>>,
) {
    inventory.files_read += 1;
    inventory.sources.push(file.clone());
    let limits = inventory.limits.parse;
    let default_namespace = inventory.default_namespace.clone();
    let decode = |parsed| decode_parsed(&file, default_namespace.as_deref(), parsed);
    let mut placer = Placer { inventory, file: file.clone(), waiting: Vec::new() };
    let already_put = match stream::read_list(reader, size, block, limits, &decode, &mut |d| placer.put(d, None)) {
        stream::Streamed::Read { bytes } => {
            placer.inventory.bytes_read = placer.inventory.bytes_read.saturating_add(bytes);
            return;
        }
        stream::Streamed::Whole { already_put } => already_put,
    };
    match whole() {
        Ok(bytes) => load_whole(&mut placer, &bytes, true, Some(already_put)),
        Err(error) => file_error(placer.inventory, file, format!("cannot read: {error}")),
    }
}

/// Loads one input's bytes, all at hand; `already_put` is `Some(n)` when they must be read whole, the first `n`
/// items of their list being in place already.
fn load_whole(placer: &mut Placer, bytes: &[u8], json: bool, already_put: Option<usize>) {
    let inventory = &mut *placer.inventory;
    let file = placer.file.clone();
    inventory.bytes_read = inventory.bytes_read.saturating_add(bytes.len() as u64);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = bytes[..error.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            inventory.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                code: DiagnosticCode::InvalidSyntax,
                file,
                line: Some(u32::try_from(line).unwrap_or(u32::MAX)),
                object: None,
                field: None,
                message: format!(
                    "not UTF-8 text (invalid byte at offset {}); is this a binary file?",
                    error.valid_up_to()
                ),
                hint: None,
            });
            return;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Helm renders YAML: a `{{ }}` inside a JSON file (a `kubectl get -o json` dump) is a string value's data, such
    // as a ConfigMap holding a template, not a template to render.
    let template_line = if json { None } else { helm_template_line(text) };
    if let Some(line) = template_line {
        let chart = chart_of(&file).map_or_else(|| "CHART".to_string(), |dir| dir.display().to_string());
        inventory.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            code: DiagnosticCode::UnrenderedTemplate,
            file,
            line: Some(line),
            object: None,
            field: None,
            message: "an unrendered Helm template (`{{ ... }}`): its objects exist only once rendered, so netseg \
                      reads none of this file"
                .into(),
            hint: Some(format!("render it first: `helm template RELEASE {chart} [-f VALUES] | netseg COMMAND -`")),
        });
        return;
    }
    // Stdin has no file name to go by: JSON is what starts like JSON.
    let json = json || (file.as_ref() == "<stdin>" && text.trim_start().starts_with(['{', '[']));
    let limits = inventory.limits.parse;
    let small = (text.len() as u64) < inventory.limits.parallel_from_bytes;
    let default_namespace = inventory.default_namespace.clone();
    let decode = |parsed| decode_parsed(&file, default_namespace.as_deref(), parsed);
    let mut put = |decoded| placer.put(decoded, Some(text));
    if json {
        let read_whole = match already_put {
            Some(n) => Some(n),
            None if small => Some(0),
            None => read_list_in_parallel(text, limits, &decode, &mut put),
        };
        if let Some(mut already_put) = read_whole {
            // The items put in place before a run broke off are the first a whole read hands over.
            let mut sink = |parsed| match parsed {
                Parsed::ListItem { .. } if already_put > 0 => already_put -= 1,
                parsed => put(decode(parsed)),
            };
            let error = parse_json(text, limits, &mut sink);
            put(Decoded::ChunkEnd(error));
        }
    } else {
        let read_chunk = |&(first_line, chunk): &(u32, &str)| {
            let mut decoded = Vec::new();
            let error = parse_documents(chunk, first_line, limits, &mut |parsed| decoded.push(decode(parsed)));
            decoded.push(Decoded::ChunkEnd(error));
            decoded
        };
        let chunks = split_documents(text);
        if small {
            chunks.iter().flat_map(read_chunk).for_each(put);
        } else {
            for_each_in_parallel(&chunks, read_chunk, |decoded| {
                decoded.into_iter().for_each(&mut put);
                true
            });
        }
    }
}

/// What one parsed document or list item adds to the inventory, decoded on the thread that parsed it.
fn decode_parsed(file: &Arc<str>, default_namespace: Option<&str>, parsed: Parsed) -> Decoded {
    let mut decoder = Decoder::new(file, default_namespace);
    match parsed {
        Parsed::Document(document) => {
            decoder.document(&document);
            let list_kind = document.get("kind").and_then(Node::as_str).map(str::to_string);
            Decoded::Document { list_kind, effects: decoder.effects }
        }
        // Items of a list whose kind comes after them, and that name no kind themselves, wait for the list's kind.
        Parsed::ListItem { item, list_kind: None } if item.get("kind").is_none() => Decoded::Waiting(item),
        Parsed::ListItem { item, list_kind } => {
            decoder.list_item(&item, list_kind.as_deref());
            Decoded::Item(decoder.effects)
        }
    }
}

/// Puts what one input's documents and items decode to in place, in input order.
struct Placer<'a> {
    inventory: &'a mut Inventory,
    file: Arc<str>,
    /// Items of a list whose kind is not known yet.
    waiting: Vec<Node>,
}

impl Placer<'_> {
    /// `text`, the input when it is at hand, gives a syntax error its hint.
    fn put(&mut self, decoded: Decoded, text: Option<&str>) {
        match decoded {
            Decoded::Item(effects) => apply(self.inventory, effects),
            Decoded::Waiting(item) => self.waiting.push(item),
            Decoded::Document { list_kind, effects } => {
                let default_namespace = self.inventory.default_namespace.clone();
                let mut decoder = Decoder::new(&self.file, default_namespace.as_deref());
                for item in self.waiting.drain(..) {
                    decoder.list_item(&item, list_kind.as_deref());
                }
                apply(self.inventory, decoder.effects);
                apply(self.inventory, effects);
            }
            Decoded::ChunkEnd(error) => {
                // A chunk that broke off never named its list's kind: its waiting items are not read.
                self.waiting.clear();
                if let Some(error) = error {
                    self.inventory.diagnostics.push(Diagnostic {
                        severity: Severity::Error,
                        code: DiagnosticCode::InvalidSyntax,
                        file: self.file.clone(),
                        line: Some(error.line),
                        object: None,
                        field: None,
                        message: format!("{} (the rest of this document is left out)", error.message),
                        hint: text
                            .and_then(|text| text.lines().nth(error.line.saturating_sub(1) as usize))
                            .filter(|line| line.contains("{{"))
                            .map(|_| {
                                "`{{ ... }}` is template text: render the template first (`helm template`)".into()
                            }),
                    });
                }
                self.inventory.cap_diagnostics();
            }
        }
    }
}

/// A JSON `List` read on every core: runs of its items parsed and decoded in parallel and put in place in order,
/// then the list around them. `Some(n)` when the text must be read whole instead, its first `n` items being in
/// place already: it is not such a list, or it breaks somewhere, and read whole it reports the break where it is
/// and as it always has.
fn read_list_in_parallel(
    text: &str,
    limits: ParseLimits,
    decode: &(impl Fn(Parsed) -> Decoded + Sync),
    put: &mut impl FnMut(Decoded),
) -> Option<usize> {
    // A JSON node takes at least a byte, so a budget of a node per byte is never reached; a smaller one (a
    // `--max-alias-expansion` of 0) counts nodes across the whole document, which only a whole read can.
    if limits.node_budget(text.len()) < text.len() {
        return Some(0);
    }
    // Several runs per thread, so that a thread that finishes early takes another.
    let Some(split) = crate::json::split_list(text, 8 * crate::parallel::threads()) else { return Some(0) };
    // The list around the items first: where it breaks before them, a whole read hands over no item.
    let mut list = Vec::new();
    if parse_json(&split.rest, limits, &mut |parsed| list.push(decode(parsed))).is_some() {
        return Some(0);
    }
    let list_kind = split.list_kind.as_deref();
    let mut items_put = 0;
    let mut broken = false;
    let read_run = |&(first_line, run): &(u32, &str)| {
        let mut decoded = Vec::new();
        let error = parse_list_items(run, first_line, list_kind, limits, &mut |parsed| decoded.push(decode(parsed)));
        (decoded, error)
    };
    for_each_in_parallel(&split.runs, read_run, |(decoded, error)| {
        if error.is_some() {
            broken = true;
            return false;
        }
        // One decoded result per item.
        items_put += decoded.len();
        decoded.into_iter().for_each(&mut *put);
        true
    });
    if broken {
        return Some(items_put);
    }
    list.into_iter().for_each(&mut *put);
    put(Decoded::ChunkEnd(None));
    None
}

/// What parsing and decoding a chunk yields, to be put in place in input order.
enum Decoded {
    Item(Vec<Effect>),
    /// A list item that names no kind, of a list whose kind is not known yet.
    Waiting(Node),
    /// A document, with its `kind`: the kind of the list its waiting items belong to.
    Document {
        list_kind: Option<String>,
        effects: Vec<Effect>,
    },
    /// The end of a chunk, with the syntax error that ended it early.
    ChunkEnd(Option<SyntaxError>),
}

/// Decodes one object and puts it in place at once.
fn load_object(inventory: &mut Inventory, file: &Arc<str>, node: &Node, implied: Option<(&str, &str)>) {
    let mut decoder = Decoder::new(file, inventory.default_namespace.as_deref());
    decoder.object(node, implied);
    apply(inventory, decoder.effects);
}

/// Loads one page of a list response from the API server (`GET /apis/apps/v1/deployments`). Its items carry
/// neither `kind` nor `apiVersion`: the request said what they are, so the caller does too. Returns the list's
/// `metadata.continue`, the token for the next page, when there is one.
pub fn load_api_list(
    inventory: &mut Inventory,
    source: Arc<str>,
    text: &str,
    kind: &str,
    api_version: &str,
) -> Option<String> {
    inventory.files_read += 1;
    if inventory.sources.last() != Some(&source) {
        inventory.sources.push(source.clone());
    }
    inventory.bytes_read = inventory.bytes_read.saturating_add(text.len() as u64);
    let limits = inventory.limits.parse;
    let mut next_page = None;
    let mut sink = |parsed| match parsed {
        Parsed::ListItem { item, .. } => {
            if matches!(item.value, Value::Map(_)) {
                load_object(inventory, &source, &item, Some((kind, api_version)));
            }
        }
        Parsed::Document(list) => {
            inventory.documents_read += 1;
            // Items stream only when `kind` comes before them; otherwise they are still in the tree.
            if let Some(Value::Seq(items)) = list.get("items").map(|i| &i.value) {
                for item in items.iter().filter(|item| matches!(item.value, Value::Map(_))) {
                    load_object(inventory, &source, item, Some((kind, api_version)));
                }
            }
            next_page = list
                .get("metadata")
                .and_then(|m| m.get("continue"))
                .and_then(Node::as_str)
                .filter(|token| !token.is_empty())
                .map(str::to_string);
        }
    };
    if let Some(error) = parse_json(text, limits, &mut sink) {
        inventory.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            code: DiagnosticCode::InvalidSyntax,
            file: source.clone(),
            line: Some(error.line),
            object: None,
            field: None,
            message: format!("{} (the rest of this page is left out)", error.message),
            hint: None,
        });
    }
    next_page
}

/// Splits a YAML stream at `---` lines, so that a syntax error in one document does not hide the others.
///
/// A `---` at the start of a line always ends a document in YAML, even inside a block scalar, so this split
/// never changes what a valid stream means.
fn split_documents(text: &str) -> Vec<(u32, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u32;
    let mut offset = 0usize;
    for (line, raw_line) in (1u32..).zip(text.split_inclusive('\n')) {
        let is_marker = raw_line.starts_with("---")
            && raw_line[3..].chars().next().is_none_or(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r');
        if is_marker && offset > start {
            chunks.push((start_line, &text[start..offset]));
            start = offset;
            start_line = line;
        }
        offset += raw_line.len();
    }
    if offset > start || chunks.is_empty() {
        chunks.push((start_line, &text[start..]));
    }
    chunks
}

/// Loads one object that another document embeds (a test case holding the policies in effect, for one), so that
/// its diagnostics point at the embedding file's lines.
pub fn load_embedded_object(inventory: &mut Inventory, file: Arc<str>, node: &Node) {
    if matches!(node.value, Value::Map(_)) {
        load_object(inventory, &file, node, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Inventory {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        inventory
    }

    /// Loads `text` on this thread alone and with parsing and decoding on others: everything read must be the same.
    fn assert_same_on_one_and_two_threads(file: &str, text: &str, json: bool) -> Inventory {
        assert_same_across_threads(file, text, json, 0)
    }

    /// As [`assert_same_on_one_and_two_threads`], with `config_bytes_spent` of the input's ConfigMap budget gone.
    fn assert_same_across_threads(file: &str, text: &str, json: bool, config_bytes_spent: u64) -> Inventory {
        let load_with = |threshold, whole_json_objects| {
            let mut inventory = Inventory::default();
            inventory.limits.parallel_from_bytes = threshold;
            inventory.limits.parse.whole_json_objects = whole_json_objects;
            inventory.config_bytes = config_bytes_spent;
            load_bytes(&mut inventory, Arc::from(file), text.as_bytes(), json);
            inventory
        };
        let (one, two) = (load_with(u64::MAX, false), load_with(0, false));
        // Everything but the duplicate index, a hash map whose printed order is random.
        let read = |i: &Inventory| {
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {} {} {} {}",
                i.namespaces,
                i.workloads,
                i.config_maps,
                i.unmodelled,
                i.mesh,
                i.diagnostics,
                i.documents_read,
                i.objects_read,
                i.namespace_defaulted,
                i.config_bytes
            )
        };
        assert_eq!(read(&one), read(&two));
        if json {
            // What no decoder reads is dropped unbuilt: the same as built and not read.
            assert_eq!(read(&one), read(&load_with(u64::MAX, true)), "the narrow read differs from the whole one");
            // Read in parts of every size: one byte at a time, parts that cut characters and items anywhere, and
            // parts larger than a run.
            for block in [1, 7, 4096, 1 << 20] {
                let mut inventory = Inventory { config_bytes: config_bytes_spent, ..Inventory::default() };
                let (size, mut reader) = (text.len() as u64, text.as_bytes());
                let mut whole = || Ok(text.as_bytes().to_vec());
                load_json_in_parts(&mut inventory, Arc::from(file), &mut reader, size, block, &mut whole);
                assert_eq!(read(&one), read(&inventory), "read in parts of {block} bytes");
                assert_eq!(inventory.bytes_read, size);
            }
        }
        two
    }

    #[test]
    fn objects_decoded_on_other_threads_are_put_in_place_in_input_order() {
        // What depends on order: a later definition replacing an earlier one, the input's budget of ConfigMap data
        // (nearly spent here, and taken from by ConfigMaps that are rejected), the last mesh setting winning, and a
        // redefined policy of a kind netseg does not model.
        let mut text = String::new();
        for i in 0..900 {
            let n = i % 300;
            text.push_str(&format!("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{n}}}\n"));
            let bad_key = if i % 5 == 0 { ", 'bad key': x" } else { "" };
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{n}, namespace: a}}\ndata: {{k: '{}'{bad_key}}}\n",
                "v".repeat(i % 13)
            ));
            if i % 100 == 7 {
                let policy = if i % 200 == 7 { "deny" } else { "allow" };
                text.push_str(&format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: consul-server-config, namespace: c}}\n\
                     data: {{server.json: '{{\"acl\": {{\"enabled\": true, \"default_policy\": \"{policy}\"}}}}'}}\n"
                ));
                text.push_str(&format!(
                    "---\napiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {{name: np, namespace: a}}\n\
                     spec: {{priority: {i}}}\n"
                ));
            }
        }
        let spent = crate::config::MAX_CONFIG_DATA_BYTES - 3000;
        let inventory = assert_same_across_threads("t.yaml", &text, false, spent);
        assert_eq!(inventory.workloads.len(), 300);
        assert_eq!(inventory.namespace_defaulted, 900);
        assert_eq!(inventory.unmodelled.len(), 1);
        let over_budget = inventory.diagnostics.iter().filter(|d| d.message.contains("key(s) not read")).count();
        assert!(over_budget > 100, "the budget runs out part way: {over_budget}");
        assert!(inventory.config_bytes <= crate::config::MAX_CONFIG_DATA_BYTES);
    }

    #[test]
    fn a_yaml_stream_parsed_on_a_second_thread_reads_as_on_one() {
        // Enough documents for several hand-overs, a broken one in the middle and a list whose kind comes last.
        let mut text = String::new();
        for i in 0..700 {
            text.push_str(&format!("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: a}}\n"));
            if i == 350 {
                text.push_str("spec: [unclosed\n");
            }
        }
        text.push_str("---\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: late}}\nkind: List\n");
        let inventory = assert_same_on_one_and_two_threads("t.yaml", &text, false);
        assert_eq!(inventory.workloads.len(), 699);
        assert_eq!(inventory.namespaces.len(), 1);
        assert!(inventory.diagnostics.iter().any(|d| d.code == DiagnosticCode::InvalidSyntax && d.line.is_some()));
    }

    /// A `kubectl get -o json` dump of `count` pods: `kind` after `items`, every hundredth pod named invalidly, the
    /// items spread over lines, with strings that hold brackets, commas and escaped quotes.
    fn json_pod_list(count: usize, items_name_their_kind: bool) -> String {
        let items: Vec<String> = (0..count)
            .map(|i| {
                let name = if i % 100 == 0 { format!("P_{i}") } else { format!("p{i}") };
                let kind = if items_name_their_kind { r#""kind": "Pod", "# } else { "" };
                format!(
                    "{{\"apiVersion\": \"v1\", {kind}\"metadata\": {{\"name\": \"{name}\", \"namespace\": \"a\",\n  \
                     \"annotations\": {{\"note\": \"a ], b }}, \\\"c\\\" [{{\"}}}}}}"
                )
            })
            .collect();
        format!(
            "{{\"apiVersion\": \"v1\", \"items\": [\n{}\n],\n\"kind\": \"List\", \"metadata\": {{}}}}\n",
            items.join(",\n")
        )
    }

    #[test]
    fn a_json_list_read_on_every_core_reads_as_on_one() {
        let text = json_pod_list(1000, true);
        assert!(crate::json::split_list(&text, 16).is_some_and(|split| split.runs.len() > 1));
        let inventory = assert_same_on_one_and_two_threads("t.json", &text, true);
        assert_eq!(inventory.workloads.len(), 990);
        assert!(
            inventory.diagnostics.iter().all(|d| d.code == DiagnosticCode::InvalidValue),
            "{:?}",
            inventory.diagnostics
        );
    }

    #[test]
    fn a_json_list_read_in_parts_is_not_read_again_whole() {
        let with_kinds = json_pod_list(3000, true);
        let kind_after_items = json_pod_list(3000, false).replace(r#""kind": "List""#, r#""kind": "PodList""#);
        let with_bom = format!("\u{feff}{with_kinds}");
        for text in [with_kinds, kind_after_items, with_bom] {
            assert!(text.len() > 4 * stream_smallest_run(), "several runs: {} bytes", text.len());
            for block in [1, 4096] {
                let mut inventory = Inventory::default();
                let (size, mut reader) = (text.len() as u64, text.as_bytes());
                let mut read_whole = false;
                let mut whole = || {
                    read_whole = true;
                    Ok(text.as_bytes().to_vec())
                };
                load_json_in_parts(&mut inventory, Arc::from("t.json"), &mut reader, size, block, &mut whole);
                assert!(!read_whole, "parts of {block} bytes");
                assert_eq!(inventory.workloads.len(), 2970);
            }
        }
    }

    /// Reads `text` in parts of 4 KiB from a reader that fails after `fail_after` bytes (when given), and from
    /// `whole` when a whole read takes over.
    fn load_in_parts(
        text: &[u8],
        fail_after: Option<usize>,
        whole: &mut dyn FnMut() -> std::io::Result<Vec<u8>>,
    ) -> Inventory {
        struct Failing<'a>(&'a [u8], usize);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.1 == 0 {
                    return Err(std::io::Error::other("the disk is gone"));
                }
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                (self.0, self.1) = (&self.0[n..], self.1 - n);
                Ok(n)
            }
        }
        let mut reader = Failing(text, fail_after.unwrap_or(usize::MAX));
        let mut inventory = Inventory::default();
        load_json_in_parts(&mut inventory, Arc::from("t.json"), &mut reader, text.len() as u64, 4096, whole);
        inventory
    }

    #[test]
    fn a_json_list_read_in_parts_keeps_the_items_before_a_byte_that_is_not_utf8() {
        let mut text = json_pod_list(3000, true).into_bytes();
        let at = text.windows(7).position(|w| w == b"\"p2501\"").unwrap_or_else(|| panic!("an item"));
        text[at + 2] = 0xff;
        let mut whole = Inventory::default();
        load_bytes(&mut whole, Arc::from("t.json"), &text, true);
        assert_eq!(whole.workloads.len(), 0, "read whole, the file is not text");
        let in_parts = load_in_parts(&text, None, &mut || Ok(text.clone()));
        let error = in_parts.diagnostics.last();
        assert_eq!(error, whole.diagnostics.last(), "the same error, naming the same byte and line");
        assert!(error.is_some_and(|e| e.message.contains("not UTF-8")), "{error:?}");
        assert!((1..2970).contains(&in_parts.workloads.len()), "{} items before the byte", in_parts.workloads.len());
    }

    #[test]
    fn a_json_list_whose_reading_fails_half_way_is_read_whole_or_reports_the_failure() {
        let text = json_pod_list(3000, true).into_bytes();
        let mut whole = Inventory::default();
        load_bytes(&mut whole, Arc::from("t.json"), &text, true);
        let read = |i: &Inventory| format!("{:?} {:?}", i.workloads, i.diagnostics);
        // Read again whole, it is read as if it had been read whole from the start.
        let again = load_in_parts(&text, Some(text.len() / 2), &mut || Ok(text.clone()));
        assert_eq!(read(&again), read(&whole));
        // Failing again, the failure is reported.
        let failed = load_in_parts(&text, Some(text.len() / 2), &mut || Err(std::io::Error::other("the disk is gone")));
        let error = failed.diagnostics.last();
        assert!(error.is_some_and(|e| e.message == "cannot read: the disk is gone"), "{error:?}");
    }

    fn stream_smallest_run() -> usize {
        stream::SMALLEST_RUN
    }

    #[test]
    fn a_json_dump_reads_alike_with_what_no_decoder_reads_dropped() {
        // Every kind with a shape, each with the fields the narrow read drops (some of the wrong type, which no
        // decoder reports), beside what is read; and a pod whose kind comes last, which is kept whole.
        let probes = r#""readinessProbe": {"httpGet": {"port": "http"}}, "resources": [1], "securityContext": 7,
            "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": {"x": null}"#;
        let pod_spec = format!(
            r#"{{"dnsPolicy": "ClusterFirst", "tolerations": "all", "affinity": {{}}, "nodeName": "n1",
            "serviceAccountName": "sa", "volumes": [{{"name": "v", "configMap": {{"name": "cm"}}}}],
            "containers": [{{"name": "c", "image": "i:1", {probes}, "volumeMounts": [{{"name": "v", "mountPath": "/etc/c"}}], "env": [{{"name": "U", "value": "http://db:5432"}}],
            "ports": [{{"name": "http", "containerPort": 8080}}, {{"containerPort": 9090, "protocol": "TCP"}}]}}],
            "initContainers": [{{"name": "init", "image": "i:0", {probes}}}]}}"#
        );
        let metadata = |name: &str| {
            format!(
                r#"{{"name": "{name}", "namespace": "a", "uid": "u", "resourceVersion": "1", "generation": 2,
                "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{{"manager": "m"}}],
                "labels": {{"app": "{name}", "uid": "label-named-like-a-dropped-field"}},
                "annotations": {{"sidecar.istio.io/inject": "true"}}}}"#
            )
        };
        let template =
            format!(r#"{{"metadata": {{"labels": {{"app": "x"}}, "creationTimestamp": null}}, "spec": {pod_spec}}}"#);
        let items = [
            format!(
                r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "p", "namespace": "a", "uid": "u",
                "ownerReferences": [{{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "u",
                "controller": true, "blockOwnerDeletion": true}}]}}, "spec": {pod_spec},
                "status": {{"phase": "Running", "hostIP": "1.2.3.4", "conditions": [{{"type": "Ready"}}],
                "podIP": "10.0.0.1", "podIPs": [{{"ip": "10.0.0.1"}}, {{"ip": "fd00::1"}}]}}}}"#
            ),
            format!(
                r#"{{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}, "spec": {{"replicas": 3,
                "strategy": {{"type": "RollingUpdate"}}, "selector": {{"matchLabels": {{"app": "x"}}}},
                "template": {template}}}, "status": {{"replicas": "three"}}}}"#,
                metadata("d")
            ),
            format!(
                r#"{{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {}, "spec": {{"schedule": "* * * * *",
                "jobTemplate": {{"spec": {{"backoffLimit": 1, "template": {template}}}}}}}}}"#,
                metadata("cj")
            ),
            format!(
                r#"{{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {}, "spec": {{"serviceName": "s",
                "volumeClaimTemplates": [{{"metadata": {{"name": "data"}}}}], "selector": {{"matchLabels": {{"app": "x"}}}},
                "template": {template}}}}}"#,
                metadata("ss")
            ),
            format!(r#"{{"apiVersion": "v1", "metadata": {}, "spec": {pod_spec}, "kind": "Pod"}}"#, metadata("late")),
        ];
        let text = format!(r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#, items.join(",\n"));
        let inventory = assert_same_on_one_and_two_threads("t.json", &text, true);
        assert_eq!(inventory.workloads.len(), 5);
        let pod = &inventory.workloads[0];
        assert_eq!(pod.pod.ips.len(), 2, "both addresses of podIPs");
        assert_eq!(pod.pod.node_name.as_deref(), Some("n1"));
        assert_eq!(pod.pod.ports.len(), 2);
        assert_eq!(pod.pod.images.len(), 2);
        assert!(pod.owner.as_ref().is_some_and(|o| o.name == "r"));
        for workload in &inventory.workloads[1..4] {
            assert_eq!(workload.pod.labels.get("app").map(|v| &**v), Some("x"), "{}", workload.id);
        }
        assert!(inventory.workloads[4].pod.labels.get("uid").is_some(), "labels keep every key");
        assert!(inventory.diagnostics.iter().all(|d| d.severity != Severity::Error), "{:?}", inventory.diagnostics);
    }

    #[test]
    fn a_json_list_whose_items_wait_for_its_kind_reads_as_on_one() {
        // `PodList`'s items name no kind: they are Pods once the list's kind, after them, is read.
        let text = json_pod_list(1000, false).replace(r#""kind": "List""#, r#""kind": "PodList""#);
        let inventory = assert_same_on_one_and_two_threads("t.json", &text, true);
        assert_eq!(inventory.workloads.len(), 990);
    }

    #[test]
    fn what_follows_a_lists_items_keeps_its_lines() {
        // An object of another kind whose `items` are read as a list's (an apiVersion of `v1` and no kind before
        // them): the diagnostics about it, after its items, name the lines they are on.
        let text = json_pod_list(3000, false)
            .replace(r#""kind": "List", "metadata": {}"#, r#""kind": "Service", "metadata": {"name": "Bad_Name"}"#);
        let inventory = assert_same_on_one_and_two_threads("t.json", &text, true);
        let last_line = u32::try_from(text.lines().count()).unwrap_or(u32::MAX);
        assert!(
            inventory.diagnostics.iter().any(|d| d.line == Some(last_line) && d.message.contains("Bad_Name")),
            "{:?}",
            inventory.diagnostics.last()
        );
    }

    #[test]
    fn a_node_budget_for_the_whole_list_counts_across_every_item() {
        // With no alias expansion allowed, the budget is a fixed number of nodes for the whole document.
        let text = json_pod_list(20_000, true);
        let load_with_threshold = |threshold| {
            let mut inventory = Inventory::default();
            inventory.limits.parallel_from_bytes = threshold;
            inventory.limits.parse.alias_expansion = 0;
            load_bytes(&mut inventory, Arc::from("t.json"), text.as_bytes(), true);
            let syntax = inventory.diagnostics.iter().find(|d| d.code == DiagnosticCode::InvalidSyntax);
            (inventory.workloads.len(), syntax.map(|d| d.message.clone()).unwrap_or_default())
        };
        let (one, every_core) = (load_with_threshold(u64::MAX), load_with_threshold(0));
        assert!(one.1.contains("nodes"), "the budget is reached: {}", one.1);
        assert_eq!(one, every_core);
    }

    #[test]
    fn a_broken_json_list_read_on_every_core_reports_as_on_one() {
        let text = json_pod_list(1000, true);
        // Broken before the items, in an item half way, in the list after the items, and at its very end.
        let broken_start = text.replacen(r#""apiVersion": "v1""#, r#""apiVersion": v1"#, 1);
        // (quotes and brackets still balanced, so that the item's run is cut as usual and breaks when parsed)
        let broken_item = text.replacen(r#""p501", "namespace": "a""#, r#""p501", "namespace": nope"#, 1);
        // (an unclosed string, which throws the cut itself off)
        let broken_quote = text.replacen(r#""p502""#, r#""p502"#, 1);
        let broken_rest = text.replace(r#""metadata": {}"#, r#""metadata": {]"#);
        let broken_end = format!("{}, \"oops\"}}", text.trim_end().trim_end_matches('}'));
        for broken in [broken_start, broken_item, broken_quote, broken_rest, broken_end] {
            let inventory = assert_same_on_one_and_two_threads("t.json", &broken, true);
            let syntax = inventory.diagnostics.iter().filter(|d| d.code == DiagnosticCode::InvalidSyntax).count();
            assert_eq!(syntax, 1, "the break is reported once: {:?}", inventory.diagnostics.last());
            assert_ne!(broken, text);
        }
    }

    #[test]
    fn regression_fuzz_validate_helm_text_inside_a_json_string_is_data() {
        // Found by the `validate` fuzz target: an annotation (here; a label in the fuzz input) holding `{{ toYaml }}` in a JSON file made the whole
        // file an unrendered Helm template, and its objects vanished.
        let text = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a", "annotations": {"x": "{{ toYaml . }}"}}, "spec": {"containers": [{"name": "c"}]}}"#;
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.json"), text.as_bytes(), true);
        assert!(inventory.diagnostics.iter().all(|d| d.code != DiagnosticCode::UnrenderedTemplate));
        assert_eq!(inventory.workloads.len(), 1, "{:?}", inventory.diagnostics);
    }

    #[test]
    fn a_broken_document_does_not_hide_the_next() {
        let inventory =
            load_str("kind: Pod\nmetadata: {name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n");
        assert_eq!(inventory.workloads.len(), 1);
        assert_eq!(inventory.workloads[0].id.name, "b");
        assert_eq!(inventory.workloads[0].location.line, 4);
        let error = inventory.diagnostics.iter().find(|d| d.severity == Severity::Error).expect("syntax error");
        assert_eq!(error.line, Some(2), "the line of the unclosed mapping, not the next document's `---`");
    }

    #[test]
    fn lists_and_typed_lists_are_unpacked() {
        let inventory = load_str(
            "kind: List\nitems:\n- kind: Namespace\n  metadata: {name: a}\n---\nkind: PodList\nitems:\n- metadata: {name: p, namespace: a}\n",
        );
        assert_eq!(inventory.namespaces.len(), 1);
        assert_eq!(inventory.workloads[0].id.kind, WorkloadKind::Pod);
        assert_eq!(inventory.workloads[0].location.line, 8);
    }

    #[test]
    fn dump_items_stream_with_kind_before_or_after_items() {
        let kubectl =
            "apiVersion: v1\nitems:\n- kind: Pod\n  metadata: {name: a}\n- metadata: {name: b}\nkind: PodList\n";
        let inventory = load_str(kubectl);
        let names: Vec<&str> = inventory.workloads.iter().map(|w| w.id.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let api = "{\"apiVersion\": \"apps/v1\", \"kind\": \"DeploymentList\", \"items\": [\n{\"metadata\": {\"name\": \"d\"}}]}";
        let inventory = load_str(api);
        assert_eq!(inventory.workloads[0].id.kind, WorkloadKind::Deployment);
        assert_eq!(inventory.workloads[0].location.line, 2);
    }

    #[test]
    fn api_server_endpoints_ingresses_and_suppressions_are_read() {
        let inventory = load_str(concat!(
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: kubernetes, namespace: default}\n",
            "subsets: [{addresses: [{ip: 172.18.0.2}], ports: [{name: https, port: 6443}]}]\n---\n",
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n",
            "metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}\n",
            "endpoints: [{addresses: [172.18.0.3]}]\nports: [{port: 6443, protocol: TCP}]\n---\n",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: blog}\n",
            "spec: {rules: [{http: {paths: [{backend: {service: {name: wordpress}}}]}}]}\n---\n",
            "kind: Pod\nmetadata: {name: p, annotations: {netseg.io/ignore: 'NS110, NS111', netseg.io/ignore-reason: agent}}\n",
        ));
        assert!(!inventory.has_errors(), "{:?}", inventory.diagnostics);
        assert_eq!(inventory.endpoints.len(), 2);
        assert_eq!(inventory.endpoints[0].addresses, ["172.18.0.2".parse::<std::net::IpAddr>().expect("ip")]);
        assert_eq!(inventory.endpoints[1].service, "kubernetes");
        assert_eq!(inventory.endpoints[1].ports, [(Protocol::Tcp, 6443)]);
        assert_eq!(inventory.ingresses[0].backend_services, ["wordpress"]);
        let ignore = &inventory.workloads[0].ignore;
        assert!(ignore.covers("NS111", "host-port") && !ignore.covers("NS101", "x"));
        assert_eq!(ignore.reason.as_deref(), Some("agent"));
    }

    #[test]
    fn api_list_pages_take_kind_and_api_version_from_the_request() {
        let mut inventory = Inventory::default();
        let page = r#"{"kind":"NetworkPolicyList","apiVersion":"networking.k8s.io/v1","metadata":{"resourceVersion":"7","continue":"next-page"},"items":[{"metadata":{"name":"deny","namespace":"shop"},"spec":{"podSelector":{}}}]}"#;
        let next =
            load_api_list(&mut inventory, Arc::from("cluster://c/np"), page, "NetworkPolicy", "networking.k8s.io/v1");
        assert_eq!(next.as_deref(), Some("next-page"));
        assert_eq!(inventory.policies.len(), 1, "{:?}", inventory.diagnostics);
        // The last page has an empty token; `kind` after `items` still works.
        let page = r#"{"items":[{"metadata":{"name":"web","namespace":"shop"}}],"metadata":{"continue":""},"apiVersion":"apps/v1","kind":"DeploymentList"}"#;
        let next = load_api_list(&mut inventory, Arc::from("cluster://c/deploy"), page, "Deployment", "apps/v1");
        assert_eq!(next, None);
        assert_eq!(inventory.workloads[0].id.kind, WorkloadKind::Deployment);
        let page = r#"{"kind":"AdminNetworkPolicyList","apiVersion":"policy.networking.k8s.io/v1alpha1","metadata":{},"items":[{"metadata":{"name":"a"},"spec":{"priority":10,"subject":{"namespaces":{}}}}]}"#;
        load_api_list(
            &mut inventory,
            Arc::from("cluster://c/anp"),
            page,
            "AdminNetworkPolicy",
            "policy.networking.k8s.io/v1alpha1",
        );
        assert_eq!(inventory.admin_policies.len(), 1, "the admin policy is read: {:?}", inventory.diagnostics);
        load_api_list(&mut inventory, Arc::from("cluster://c/broken"), "{\"items\": [", "Pod", "v1");
        assert!(inventory
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error && d.file.as_ref() == "cluster://c/broken"));
    }

    #[test]
    fn unread_kinds_are_noted_not_errors() {
        let inventory = load_str("kind: PodTemplate\nmetadata: {name: c}\n---\nfoo: bar\n");
        assert!(!inventory.has_errors());
        assert_eq!(inventory.diagnostics.len(), 2);
        assert!(inventory.diagnostics.iter().all(|d| d.severity == Severity::Note));
    }

    #[test]
    fn duplicates_keep_the_later_object() {
        let inventory = load_str(
            "kind: Pod\nmetadata: {name: a, labels: {v: '1'}}\n---\nkind: Pod\nmetadata: {name: a, labels: {v: '2'}}\n",
        );
        assert_eq!(inventory.workloads.len(), 1);
        assert_eq!(inventory.workloads[0].pod.labels.get("v").map(|v| &**v), Some("2"));
        assert!(inventory.diagnostics.iter().any(|d| d.code == DiagnosticCode::DuplicateObject));
    }

    #[test]
    fn pods_alike_share_one_copy_of_each_label_string_and_image() {
        let pod = |name: &str| {
            format!(
                "kind: Pod\nmetadata: {{name: {name}, labels: {{app: web, tier: front}}}}\n\
                 spec: {{containers: [{{name: c, image: 'registry.example/web:1'}}]}}\n---\n"
            )
        };
        let inventory = load_str(&(pod("a") + &pod("b")));
        let [a, b] = [&inventory.workloads[0].pod, &inventory.workloads[1].pod];
        for key in ["app", "tier"] {
            let (first, second) = (a.labels.get(key).expect("a's label"), b.labels.get(key).expect("b's label"));
            assert!(Arc::ptr_eq(first, second), "{key}: one copy");
            let keys = |pod: &PodFacts| pod.labels.keys().find(|k| &***k == key).cloned().expect("the key");
            assert!(Arc::ptr_eq(&keys(a), &keys(b)), "{key}: one copy of the key");
        }
        assert!(Arc::ptr_eq(&a.images[0], &b.images[0]));
    }

    #[test]
    fn binary_garbage_is_an_error_not_a_panic() {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("g.yaml"), &[0xff, 0xfe, 0x00, 0x41], false);
        assert!(inventory.has_errors());
    }

    #[test]
    fn calico_objects_are_read_in_both_api_groups() {
        let inventory = load_str(concat!(
            "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100, defaultAction: Pass}\n---\n",
            "apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: deny}\nspec: {selector: all()}\n---\n",
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: api, namespace: shop}\nspec: {tier: security}\n---\n",
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: api, namespace: shop}\nspec: {podSelector: {}}\n---\n",
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: internet, labels: {role: world}}\nspec: {nets: [0.0.0.0/0, 10.0.0.1]}\n---\n",
            "apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: partners, namespace: shop}\nspec: {nets: [192.0.2.0/24]}\n---\n",
            "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: node1-eth0, labels: {role: node}}\nspec: {node: node1, interfaceName: eth0, expectedIPs: [10.0.0.5]}\n---\n",
            "apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata: {name: try, namespace: shop}\nspec: {stagedAction: Set, podSelector: {}}\n---\n",
            "apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: {name: next}\nspec: {stagedAction: Delete, tier: default}\n---\n",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: api, namespace: shop, labels: {team: a}}\n",
        ));
        assert!(!inventory.has_errors(), "{:?}", inventory.diagnostics);
        let calico = &inventory.calico;
        assert_eq!(calico.tiers[0].order, Some(100.0));
        assert_eq!(calico.policies.len(), 3);
        assert_eq!(calico.policies[1].tier, "security");
        assert_eq!(inventory.policies.len(), 1, "the Kubernetes NetworkPolicy of the same name is its own object");
        assert!(!inventory.diagnostics.iter().any(|d| d.code == DiagnosticCode::DuplicateObject));
        assert_eq!(calico.network_sets[0].nets[1].to_string(), "10.0.0.1/32");
        assert_eq!(calico.network_sets[1].namespace.as_deref(), Some("shop"));
        assert_eq!(calico.host_endpoints[0].expected_ips.len(), 1);
        assert_eq!(calico.staged_kubernetes[0].policy.name, "try");
        assert!(calico.policies[2].kind.is_staged());
        assert_eq!(inventory.service_accounts[0].labels.get("team").map(|v| &**v), Some("a"));
    }

    #[test]
    fn a_bad_calico_policy_is_left_out_and_the_rest_is_read() {
        let inventory = load_str(concat!(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: bad}\nspec:\n  selector: app == db\n---\n",
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: good}\nspec: {selector: app == 'db'}\n",
        ));
        let error = inventory.diagnostics.iter().find(|d| d.severity == Severity::Error).expect("an error");
        assert_eq!((error.line, error.field.as_deref()), (Some(5), Some("spec.selector")));
        assert!(error.message.contains("column 8"), "{}", error.message);
        assert_eq!(error.object.as_ref().map(|o| o.name.as_str()), Some("bad"));
        let names: Vec<&str> = inventory.calico.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["good"]);
    }

    #[test]
    fn old_network_policy_api_is_skipped() {
        let inventory =
            load_str("apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec: {}\n");
        assert!(inventory.policies.is_empty());
        assert!(!inventory.has_errors());
    }
}
