//! Inputs to objects: files, directories and stdin; multi-document YAML, JSON, `List`s and `kubectl get -o` dumps.

use crate::calico::{CalicoPolicyKind, ServiceAccount};
use crate::cilium::{CiliumConfig, CiliumPolicy, CiliumPolicyKind, CILIUM_CONFIG};
use crate::decode::{self, Ctx};
use crate::diag::{Diagnostic, DiagnosticCode, ObjectRef, Severity};
use crate::json::parse_json;
use crate::kube::*;
use crate::pipeline::{pipelined, sequential};
use crate::selector::NAMESPACE_NAME_LABEL;
use crate::yaml::{parse_documents, Node, ParseLimits, Parsed, SyntaxError, Value};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Inputs of at least this many bytes are parsed on a second thread while this one decodes (see
    /// [`crate::pipeline`]); smaller ones are not worth the thread.
    pub pipeline_from_bytes: u64,
}

/// 4 GiB: several times the largest cluster dump Kubernetes supports (150k pods as JSON is about 1 GB).
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 4 << 30;
pub const DEFAULT_MAX_DIAGNOSTICS: usize = 1_000;
/// 256 KiB: about a hundred objects, where a thread's start-up is lost in the parse.
pub const DEFAULT_PIPELINE_FROM_BYTES: u64 = 256 << 10;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            parse: ParseLimits::default(),
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_diagnostics: DEFAULT_MAX_DIAGNOSTICS,
            pipeline_from_bytes: DEFAULT_PIPELINE_FROM_BYTES,
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
    seen: HashMap<(String, String, String), (usize, Location)>,
    cap: DiagnosticCap,
}

impl Inventory {
    /// An empty inventory: objects that name no namespace go to `default_namespace` (`default` when `None`).
    pub fn new(default_namespace: Option<String>, limits: Limits) -> Inventory {
        Inventory { default_namespace, limits, ..Inventory::default() }
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
        if let Ok(metadata) = std::fs::metadata(&file) {
            if metadata.is_file() && metadata.len() > remaining {
                let message = over_input_limit(inventory, "the file is larger", Some(metadata.len()));
                file_error(inventory, name, message);
                continue;
            }
        }
        match std::fs::read(&file) {
            Ok(bytes) => {
                let json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
                load_bytes(inventory, name, &bytes, json);
            }
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

/// Kustomize's fields that change, add or take objects from elsewhere: what netseg would miss by reading the
/// listed files as they are.
const KUSTOMIZE_TRANSFORMS: &[&str] = &[
    "namespace",
    "namePrefix",
    "nameSuffix",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "replicas",
    "helmCharts",
    "configMapGenerator",
    "secretGenerator",
    "generators",
    "transformers",
    "replacements",
    "vars",
    "bases",
    "components",
];

fn is_kustomization_file(file: &str) -> bool {
    Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "kustomization.yaml" | "kustomization.yml" | "Kustomization"))
}

/// A Kustomize source (`kustomization.yaml`). One that only lists files beside it is a note: the files are read as
/// they are, which is what it builds. One that transforms them or takes objects from elsewhere (`../base`, a URL)
/// is an error: netseg would analyse something other than what is applied.
fn kustomization(inventory: &mut Inventory, file: &Arc<str>, node: &Node) {
    let dir = Path::new(file.as_ref()).parent().map_or_else(|| ".".to_string(), |d| d.display().to_string());
    let dir = if dir.is_empty() { ".".to_string() } else { dir };
    let mut reasons: Vec<String> =
        KUSTOMIZE_TRANSFORMS.iter().filter(|field| node.get(field).is_some()).map(|f| format!("`{f}`")).collect();
    if let Some(Value::Seq(resources)) = node.get("resources").map(|r| &r.value) {
        for resource in resources.iter().filter_map(Node::as_str) {
            if resource.starts_with("..") || resource.starts_with('/') || resource.contains("://") {
                reasons.push(format!("resource `{resource}`"));
            }
        }
    }
    let render = format!("kustomize build {dir} | netseg COMMAND -");
    let (severity, code, message, hint) = if reasons.is_empty() {
        (
            Severity::Note,
            DiagnosticCode::SkippedDocument,
            "skipped: a Kustomize source that only lists files beside it, which netseg reads as they are".to_string(),
            None,
        )
    } else {
        (
            Severity::Error,
            DiagnosticCode::UnrenderedTemplate,
            format!(
                "a Kustomize source: with {} the objects applied are not the files as they are",
                reasons.join(", ")
            ),
            Some(format!("render it first: `{render}`")),
        )
    };
    inventory.diagnostics.push(Diagnostic {
        severity,
        code,
        file: file.clone(),
        line: Some(node.line),
        object: None,
        field: None,
        message,
        hint,
    });
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
    inventory.bytes_read = inventory.bytes_read.saturating_add(bytes.len() as u64);
    let limits = inventory.limits.parse;
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
    let chunks = if json { vec![(1, text)] } else { split_documents(text) };
    let two_threads = text.len() as u64 >= inventory.limits.pipeline_from_bytes;
    // The parser's side: every document and list item of every chunk, then how the chunk ended.
    let parse = move |emit: &mut dyn FnMut(ParseEvent)| {
        for (first_line, chunk) in chunks {
            let mut sink = |parsed| emit(ParseEvent::Item(parsed));
            let error = if json {
                parse_json(chunk, limits, &mut sink)
            } else {
                parse_documents(chunk, first_line, limits, &mut sink)
            };
            emit(ParseEvent::ChunkEnd(error));
        }
    };
    // Items of a list whose kind comes after them, and that name no kind themselves, wait for the list's kind.
    let mut waiting: Vec<Node> = Vec::new();
    let decode = |event| match event {
        ParseEvent::Item(Parsed::Document(document)) => {
            let list_kind = document.get("kind").and_then(Node::as_str);
            for item in waiting.drain(..) {
                load_list_item(inventory, &file, &item, list_kind);
            }
            load_document(inventory, &file, &document);
        }
        ParseEvent::Item(Parsed::ListItem { item, list_kind }) => {
            if item.get("kind").is_none() && list_kind.is_none() {
                waiting.push(item);
            } else {
                load_list_item(inventory, &file, &item, list_kind.as_deref());
            }
        }
        ParseEvent::ChunkEnd(error) => {
            // A chunk that broke off never named its list's kind: its waiting items are not read.
            waiting.clear();
            if let Some(error) = error {
                inventory.diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    code: DiagnosticCode::InvalidSyntax,
                    file: file.clone(),
                    line: Some(error.line),
                    object: None,
                    field: None,
                    message: format!("{} (the rest of this document is left out)", error.message),
                    hint: text
                        .lines()
                        .nth(error.line.saturating_sub(1) as usize)
                        .filter(|line| line.contains("{{"))
                        .map(|_| "`{{ ... }}` is template text: render the template first (`helm template`)".into()),
                });
            }
            inventory.cap_diagnostics();
        }
    };
    if two_threads {
        pipelined(parse, decode);
    } else {
        sequential(parse, decode);
    }
}

/// What the parsing stage hands the decoding stage: a parsed document or list item, or the end of a chunk (a
/// YAML stream's `---`-separated part, or the whole JSON text) with the syntax error that ended it early.
enum ParseEvent {
    Item(Parsed),
    ChunkEnd(Option<SyntaxError>),
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
    load_list_item(inventory, &file, node, None);
}

fn load_list_item(inventory: &mut Inventory, file: &Arc<str>, item: &Node, list_kind: Option<&str>) {
    if matches!(item.value, Value::Map(_)) {
        let implied = list_kind.and_then(|k| k.strip_suffix("List")).filter(|k| !k.is_empty());
        load_object(inventory, file, item, implied.map(|kind| (kind, "")));
    }
}

fn load_document(inventory: &mut Inventory, file: &Arc<str>, document: &Node) {
    inventory.documents_read += 1;
    match &document.value {
        Value::Null => {}
        Value::Map(_) => load_object(inventory, file, document, None),
        _ => note(inventory, file, document.line, "skipped: not a Kubernetes object (not a mapping)".into()),
    }
}

fn note(inventory: &mut Inventory, file: &Arc<str>, line: u32, message: String) {
    inventory.diagnostics.push(Diagnostic {
        severity: Severity::Note,
        code: DiagnosticCode::SkippedDocument,
        file: file.clone(),
        line: Some(line),
        object: None,
        field: None,
        message,
        hint: None,
    });
}

/// Policy kinds that restrict traffic but that netseg does not analyse yet, by API group, with who enforces them.
const UNMODELLED_POLICIES: &[(&str, &[&str], &str)] = &[
    ("crd.antrea.io/", &["NetworkPolicy", "ClusterNetworkPolicy"], "Antrea"),
    ("k8s.cni.cncf.io/", &["MultiNetworkPolicy"], "a multi-network plugin"),
];

/// Who enforces the policy, when it is of a kind netseg does not analyse.
fn unmodelled_policy(kind: &str, api_version: &str) -> Option<&'static str> {
    UNMODELLED_POLICIES
        .iter()
        .find(|(group, kinds, _)| api_version.starts_with(group) && kinds.contains(&kind))
        .map(|(_, _, engine)| *engine)
}

/// A policy kind netseg reads, in an API version it does not: the policy still restricts traffic that the answers
/// leave out, which is worth a warning, not a quiet note. `served` says which versions are read ("of `v1`").
fn unread_version(
    inventory: &mut Inventory,
    file: &Arc<str>,
    node: &Node,
    kind: &str,
    served: &str,
    api_version: &str,
) {
    let name = node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?");
    inventory.diagnostics.push(Diagnostic {
        severity: Severity::Warning,
        code: DiagnosticCode::SkippedDocument,
        file: file.clone(),
        line: Some(node.line),
        object: Some(ObjectRef { kind: kind.to_string(), namespace: None, name: name.to_string() }),
        field: Some("apiVersion".into()),
        message: format!(
            "not analysed: netseg reads {kind} {served}, not `{api_version}`; the answers ignore what it restricts"
        ),
        hint: None,
    });
}

fn unmodelled(inventory: &mut Inventory, file: &Arc<str>, node: &Node, kind: &str, engine: &'static str) {
    let metadata = node.get("metadata");
    let name = metadata.and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?");
    let cluster_scoped =
        ["Global", "StagedGlobal", "Cluster", "CiliumClusterwide"].iter().any(|prefix| kind.starts_with(prefix));
    let namespace = (!cluster_scoped).then(|| {
        let given = metadata.and_then(|m| m.get("namespace")).and_then(Node::as_str);
        given.map(str::to_string).or_else(|| inventory.default_namespace.clone()).unwrap_or_else(|| "default".into())
    });
    // Staged policies are never enforced: they restrict nothing a finding could leave out.
    if !kind.starts_with("Staged") {
        let api_version = node.get("apiVersion").and_then(Node::as_str).unwrap_or_default();
        // A later definition replaces an earlier one, as `kubectl apply` would.
        inventory.unmodelled.retain(|p| !(p.kind == kind && p.name == name && p.namespace == namespace));
        inventory.unmodelled.push(crate::unmodelled::UnmodelledPolicy {
            kind: kind.to_string(),
            namespace: namespace.clone(),
            name: name.to_string(),
            engine,
            location: Location { file: file.clone(), line: node.line },
            selection: crate::unmodelled::selection(kind, api_version, node.get("spec")),
        });
    }
    inventory.diagnostics.push(Diagnostic {
        severity: Severity::Warning,
        code: DiagnosticCode::UnmodelledPolicy,
        file: file.clone(),
        line: Some(node.line),
        object: Some(ObjectRef { kind: kind.to_string(), namespace, name: name.into() }),
        field: None,
        message: format!(
            "not analysed: netseg does not model this kind yet, so the answers ignore what {engine} enforces \
             with it and may show more connectivity than the cluster allows"
        ),
        hint: None,
    });
}

/// The one version Cilium serves its policies in.
const CILIUM_API_VERSION: &str = "cilium.io/v2";
/// The API versions Calico serves its objects at: the aggregated API server, and the CRDs it stores them in.
const CALICO_API_VERSIONS: &[&str] = &["projectcalico.org/v3", "crd.projectcalico.org/v1"];

/// A Calico kind netseg reads, when `api_version` is Calico's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CalicoKind {
    Tier,
    Policy(CalicoPolicyKind),
    StagedKubernetesNetworkPolicy,
    NetworkSet,
    GlobalNetworkSet,
    HostEndpoint,
}

fn calico_kind(kind: &str, api_version: &str) -> Option<CalicoKind> {
    if !CALICO_API_VERSIONS.contains(&api_version) {
        return None;
    }
    Some(match kind {
        "Tier" => CalicoKind::Tier,
        "NetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::NetworkPolicy),
        "GlobalNetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::GlobalNetworkPolicy),
        "StagedNetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::StagedNetworkPolicy),
        "StagedGlobalNetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::StagedGlobalNetworkPolicy),
        "StagedKubernetesNetworkPolicy" => CalicoKind::StagedKubernetesNetworkPolicy,
        "NetworkSet" => CalicoKind::NetworkSet,
        "GlobalNetworkSet" => CalicoKind::GlobalNetworkSet,
        "HostEndpoint" => CalicoKind::HostEndpoint,
        _ => return None,
    })
}

impl CalicoKind {
    fn cluster_scoped(self) -> bool {
        match self {
            CalicoKind::Tier | CalicoKind::GlobalNetworkSet | CalicoKind::HostEndpoint => true,
            CalicoKind::Policy(kind) => kind.is_global(),
            CalicoKind::StagedKubernetesNetworkPolicy | CalicoKind::NetworkSet => false,
        }
    }
}

/// The kind as diagnostics and findings name it: Calico's NetworkPolicy is told apart from Kubernetes' by its group.
pub fn calico_kind_name(kind: &str) -> String {
    if kind == "NetworkPolicy" {
        "projectcalico.org/NetworkPolicy".to_string()
    } else {
        kind.to_string()
    }
}

fn admin_policy_kind(kind: &str) -> Option<AdminPolicyKind> {
    match kind {
        "AdminNetworkPolicy" => Some(AdminPolicyKind::AdminNetworkPolicy),
        "BaselineAdminNetworkPolicy" => Some(AdminPolicyKind::BaselineAdminNetworkPolicy),
        "ClusterNetworkPolicy" => Some(AdminPolicyKind::ClusterNetworkPolicy),
        _ => None,
    }
}

fn admin_api_version(kind: AdminPolicyKind) -> &'static str {
    match kind {
        AdminPolicyKind::AdminNetworkPolicy | AdminPolicyKind::BaselineAdminNetworkPolicy => {
            "policy.networking.k8s.io/v1alpha1"
        }
        AdminPolicyKind::ClusterNetworkPolicy => "policy.networking.k8s.io/v1alpha2",
    }
}

/// `implied` is the kind and apiVersion that the object's list gives it, for objects that name neither.
fn load_object(inventory: &mut Inventory, file: &Arc<str>, node: &Node, implied: Option<(&str, &str)>) {
    let kind = match node.get("kind").map(|k| &k.value) {
        Some(Value::Str(kind)) => kind.as_str(),
        _ => match implied {
            Some((kind, _)) => kind,
            None if is_kustomization_file(file) => {
                kustomization(inventory, file, node);
                return;
            }
            None => {
                note(
                    inventory,
                    file,
                    node.line,
                    "skipped: a document with no `kind` is not a Kubernetes object".into(),
                );
                return;
            }
        },
    };
    if kind == "List" || (kind.ends_with("List") && node.get("items").is_some()) {
        match node.get("items").map(|i| &i.value) {
            Some(Value::Seq(items)) => {
                for item in items {
                    load_list_item(inventory, file, item, Some(kind));
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => note(inventory, file, node.line, format!("skipped: `{kind}` whose items is not a list")),
        }
        return;
    }
    let api_version =
        node.get("apiVersion").and_then(Node::as_str).or(implied.map(|(_, api_version)| api_version)).unwrap_or("");
    if api_version.starts_with("kustomize.config.k8s.io/")
        || (matches!(kind, "Kustomization" | "Component") && is_kustomization_file(file))
    {
        // Kustomize's own file, not a cluster object.
        kustomization(inventory, file, node);
        return;
    }
    inventory.objects_read += 1;
    if let Some(engine) = unmodelled_policy(kind, api_version) {
        unmodelled(inventory, file, node, kind, engine);
        return;
    }
    let calico = calico_kind(kind, api_version);
    let workload_kind = WorkloadKind::from_kind(kind).filter(|_| calico.is_none());
    let admin_kind = admin_policy_kind(kind);
    let mesh_kind = match decode::mesh::MeshKind::of(kind, api_version) {
        Some(Ok(mesh_kind)) => Some(mesh_kind),
        Some(Err(served)) => {
            // A mesh policy of a version netseg does not read still restricts traffic: a warning, not a note.
            let served = format!("of versions {served}");
            unread_version(inventory, file, node, kind, &served, api_version);
            return;
        }
        None => None,
    };
    let config_map_name = node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("");
    let mesh_config = kind == "ConfigMap" && decode::mesh::config::is_mesh_config(config_map_name);
    let cilium_kind = CiliumPolicyKind::from_kind(kind).filter(|_| api_version.starts_with("cilium.io/"));
    let cilium_config = kind == "ConfigMap"
        && node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str) == Some(CILIUM_CONFIG);
    let read = matches!(
        kind,
        "Namespace"
            | "Node"
            | "Service"
            | "NetworkPolicy"
            | "Endpoints"
            | "EndpointSlice"
            | "Ingress"
            | "ServiceAccount"
            | "ConfigMap"
            | "Secret"
    ) || workload_kind.is_some()
        || admin_kind.is_some()
        || cilium_kind.is_some()
        || cilium_config
        || calico.is_some()
        || mesh_kind.is_some()
        || mesh_config;
    if !read {
        note(inventory, file, node.line, format!("skipped: kind `{kind}` is not read by netseg"));
        return;
    }
    if kind == "NetworkPolicy" && calico.is_none() && api_version != "networking.k8s.io/v1" {
        note(
            inventory,
            file,
            node.line,
            format!("skipped: NetworkPolicy of apiVersion `{api_version}`; only networking.k8s.io/v1 is served by Kubernetes"),
        );
        return;
    }
    if let Some(admin_kind) = admin_kind {
        let served = admin_api_version(admin_kind);
        if api_version != served {
            // Other projects (Antrea, for one) have kinds of the same name in their own API groups, and
            // network-policy-api has versions netseg does not read: either way the policy restricts traffic that
            // the answers leave out, which is worth a warning, not a quiet note.
            unread_version(inventory, file, node, kind, &format!("of `{served}`"), api_version);
            return;
        }
    }
    if cilium_kind.is_some() && api_version != CILIUM_API_VERSION {
        // Cilium serves its policies in v2 only; another version is not an object any cluster holds.
        unread_version(inventory, file, node, kind, &format!("of `{CILIUM_API_VERSION}`"), api_version);
        return;
    }
    let clusterwide = cilium_kind == Some(CiliumPolicyKind::CiliumClusterwideNetworkPolicy);
    let cluster_scoped = matches!(kind, "Namespace" | "Node")
        || admin_kind.is_some()
        || clusterwide
        || calico.is_some_and(CalicoKind::cluster_scoped);
    let name_guess = node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?");
    let default_namespace = inventory.default_namespace.clone().unwrap_or_else(|| "default".to_string());
    let namespace_guess =
        node.get("metadata").and_then(|m| m.get("namespace")).and_then(Node::as_str).unwrap_or(&default_namespace);
    let object_kind = if calico.is_some() { calico_kind_name(kind) } else { kind.to_string() };
    let object_ref = ObjectRef {
        kind: object_kind.clone(),
        namespace: (!cluster_scoped).then(|| namespace_guess.to_string()),
        name: name_guess.to_string(),
    };
    let mut ctx = Ctx::new(file, Some(object_ref));
    let location = Location { file: file.clone(), line: node.line };
    let Some(meta) = decode::metadata(&mut ctx, node) else {
        inventory.diagnostics.append(&mut ctx.diagnostics);
        return;
    };
    if meta.namespace.is_none() && !cluster_scoped && inventory.default_namespace.is_none() {
        inventory.namespace_defaulted += 1;
    }
    let namespace = meta.namespace.clone().unwrap_or_else(|| default_namespace.clone());
    let name = meta.name.clone();
    let key = (object_kind, if cluster_scoped { String::new() } else { namespace.clone() }, name.clone());
    enum Loaded {
        Mesh(decode::mesh::MeshObject),
        Namespace(Namespace),
        Node(ClusterNode),
        Workload(WorkloadObject),
        Service(Service),
        Policy(NetworkPolicy),
        Admin(AdminPolicy),
        Cilium(CiliumPolicy),
        CiliumConfig(CiliumConfig),
        ConfigMap(crate::config::ConfigMap),
        Secret(crate::config::SecretKeys),
        Endpoints(ServiceEndpoints),
        Ingress(Ingress),
        ServiceAccount(ServiceAccount),
        CalicoTier(crate::calico::CalicoTier),
        CalicoPolicy(crate::calico::CalicoPolicy),
        StagedKubernetes(crate::calico::StagedKubernetesPolicy),
        NetworkSet(crate::calico::NetworkSet),
        HostEndpoint(crate::calico::HostEndpoint),
    }
    let loaded = match kind {
        _ if calico.is_some() => {
            let Some(calico) = calico else { return };
            let namespaced = (!cluster_scoped).then(|| namespace.clone());
            match calico {
                CalicoKind::Tier => Loaded::CalicoTier(decode::calico_tier(&mut ctx, node, name, location.clone())),
                CalicoKind::Policy(policy_kind) => Loaded::CalicoPolicy(decode::calico_policy(
                    &mut ctx,
                    node,
                    policy_kind,
                    namespaced,
                    name,
                    meta.ignore,
                    location.clone(),
                )),
                CalicoKind::StagedKubernetesNetworkPolicy => Loaded::StagedKubernetes(
                    decode::staged_kubernetes_policy(&mut ctx, node, namespace, name, meta.ignore, location.clone()),
                ),
                CalicoKind::NetworkSet | CalicoKind::GlobalNetworkSet => Loaded::NetworkSet(decode::network_set(
                    &mut ctx,
                    node,
                    namespaced,
                    name,
                    meta.labels,
                    location.clone(),
                )),
                CalicoKind::HostEndpoint => {
                    Loaded::HostEndpoint(decode::host_endpoint(&mut ctx, node, name, meta.labels, location.clone()))
                }
            }
        }
        "ServiceAccount" => {
            Loaded::ServiceAccount(ServiceAccount { namespace, name, labels: meta.labels, location: location.clone() })
        }
        "Namespace" => {
            let mut labels = meta.labels;
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
            Loaded::Namespace(Namespace {
                name,
                labels,
                annotations: meta.annotations,
                ignore: meta.ignore,
                location: Some(location.clone()),
            })
        }
        "Node" => Loaded::Node(decode::cluster_node(&mut ctx, node, name, meta.labels, location.clone())),
        "Service" => Loaded::Service(decode::service(&mut ctx, node, namespace, name, meta.ignore, location.clone())),
        "NetworkPolicy" => {
            Loaded::Policy(decode::network_policy(&mut ctx, node, namespace, name, meta.ignore, location.clone()))
        }
        "Endpoints" | "EndpointSlice" => {
            Loaded::Endpoints(decode::service_endpoints(&mut ctx, node, kind, &meta, namespace, location.clone()))
        }
        "Ingress" => Loaded::Ingress(decode::ingress(&mut ctx, node, namespace, name, location.clone())),
        _ if cilium_config => Loaded::CiliumConfig(decode::cilium_config(&mut ctx, node, namespace, location.clone())),
        _ if cilium_kind.is_some() => {
            let Some(cilium_kind) = cilium_kind else { return };
            let namespace = (!clusterwide).then_some(namespace);
            Loaded::Cilium(decode::cilium_policy(
                &mut ctx,
                node,
                cilium_kind,
                namespace,
                name,
                meta.ignore,
                location.clone(),
            ))
        }
        "ConfigMap" => {
            decode::mesh::config::config_map(&mut ctx, node, &name, &location, &mut inventory.mesh);
            let mut budget = crate::config::MAX_CONFIG_DATA_BYTES.saturating_sub(inventory.config_bytes);
            let before = budget;
            let config_map = decode::config_map(&mut ctx, node, namespace, name, location.clone(), &mut budget);
            inventory.config_bytes += before - budget;
            Loaded::ConfigMap(config_map)
        }
        "Secret" => Loaded::Secret(decode::secret(&mut ctx, node, namespace, name, location.clone())),
        _ if mesh_kind.is_some() => {
            let Some(mesh_kind) = mesh_kind else { return };
            let created = node
                .get("metadata")
                .and_then(|m| m.get("creationTimestamp"))
                .and_then(Node::as_str)
                .map(str::to_string);
            let object = decode::mesh::Object {
                namespace,
                name,
                labels: &meta.labels,
                created,
                ignore: meta.ignore.clone(),
                location: location.clone(),
            };
            match decode::mesh::decode(&mut ctx, mesh_kind, node, object) {
                Some(object) => Loaded::Mesh(object),
                None => {
                    inventory.diagnostics.append(&mut ctx.diagnostics);
                    note(
                        inventory,
                        file,
                        node.line,
                        format!("skipped: {kind} `{name_guess}` attaches to no Linkerd Server"),
                    );
                    return;
                }
            }
        }
        _ if admin_kind.is_some() => {
            let Some(admin_kind) = admin_kind else { return };
            Loaded::Admin(decode::admin_policy(&mut ctx, node, admin_kind, name, meta.ignore, location.clone()))
        }
        _ => {
            let Some(workload_kind) = workload_kind else { return };
            let pod = decode::pod_facts(&mut ctx, node, workload_kind, meta.labels, meta.annotations);
            let selector = decode::workload_selector(&mut ctx, node, workload_kind);
            Loaded::Workload(WorkloadObject {
                id: WorkloadRef { namespace, name, kind: workload_kind },
                owner: meta.owner,
                selector,
                pod,
                ignore: meta.ignore,
                location: location.clone(),
            })
        }
    };
    let rejected = ctx.rejected;
    inventory.diagnostics.append(&mut ctx.diagnostics);
    if rejected {
        return;
    }
    if let Some((_, earlier)) = inventory.seen.get(&key) {
        inventory.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            code: DiagnosticCode::DuplicateObject,
            file: file.clone(),
            line: Some(node.line),
            object: Some(ObjectRef {
                kind: key.0.clone(),
                namespace: (!cluster_scoped).then(|| key.1.clone()),
                name: key.2.clone(),
            }),
            field: None,
            message: format!(
                "defined again (first at {earlier}); the later definition is used, as `kubectl apply` would"
            ),
            hint: None,
        });
    }
    let slot = inventory.seen.get(&key).map(|(index, _)| *index);
    macro_rules! store {
        ($list:expr, $value:expr) => {{
            match slot {
                Some(index) => $list[index] = $value,
                None => {
                    inventory.seen.insert(key, ($list.len(), location));
                    $list.push($value);
                }
            }
        }};
    }
    match loaded {
        Loaded::Namespace(v) => store!(inventory.namespaces, v),
        Loaded::Node(v) => store!(inventory.nodes, v),
        Loaded::Workload(v) => store!(inventory.workloads, v),
        Loaded::Service(v) => store!(inventory.services, v),
        Loaded::Policy(v) => store!(inventory.policies, v),
        Loaded::Admin(v) => store!(inventory.admin_policies, v),
        Loaded::Cilium(v) => store!(inventory.cilium_policies, v),
        Loaded::CiliumConfig(v) => inventory.cilium_config = Some(v),
        Loaded::ConfigMap(v) => store!(inventory.config_maps, v),
        Loaded::Secret(v) => store!(inventory.secrets, v),
        Loaded::Endpoints(v) => store!(inventory.endpoints, v),
        Loaded::Ingress(v) => store!(inventory.ingresses, v),
        Loaded::ServiceAccount(v) => store!(inventory.service_accounts, v),
        Loaded::CalicoTier(v) => store!(inventory.calico.tiers, v),
        Loaded::CalicoPolicy(v) => store!(inventory.calico.policies, v),
        Loaded::StagedKubernetes(v) => store!(inventory.calico.staged_kubernetes, v),
        Loaded::NetworkSet(v) => store!(inventory.calico.network_sets, v),
        Loaded::HostEndpoint(v) => store!(inventory.calico.host_endpoints, v),
        Loaded::Mesh(object) => {
            use decode::mesh::MeshObject;
            match object {
                MeshObject::IstioAuthorization(v) => store!(inventory.mesh.istio.authorization_policies, v),
                MeshObject::IstioPeerAuthentication(v) => store!(inventory.mesh.istio.peer_authentications, v),
                MeshObject::LinkerdServer(v) => store!(inventory.mesh.linkerd.servers, v),
                MeshObject::LinkerdServerAuthorization(v) => store!(inventory.mesh.linkerd.server_authorizations, v),
                MeshObject::LinkerdAuthorization(v) => store!(inventory.mesh.linkerd.authorization_policies, v),
                MeshObject::LinkerdMeshTls(v) => store!(inventory.mesh.linkerd.mesh_tls_authentications, v),
                MeshObject::LinkerdNetwork(v) => store!(inventory.mesh.linkerd.network_authentications, v),
                MeshObject::LinkerdRoute(v) => store!(inventory.mesh.linkerd.http_routes, v),
                MeshObject::ConsulIntentions(v) => store!(inventory.mesh.consul.intentions, v),
                MeshObject::ConsulServiceDefaults(v) => store!(inventory.mesh.consul.service_defaults, v),
                MeshObject::ConsulProxyDefaults(v) => {
                    // There is one, `global`: a later one replaces it.
                    inventory.seen.entry(key).or_insert((0, location));
                    inventory.mesh.consul.proxy_defaults = Some(v);
                }
            }
        }
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

    /// Loads `text` with parsing on a second thread and on this one: everything read must be the same.
    fn assert_same_on_one_and_two_threads(file: &str, text: &str, json: bool) -> Inventory {
        let load_with_threshold = |threshold| {
            let mut inventory = Inventory::default();
            inventory.limits.pipeline_from_bytes = threshold;
            load_bytes(&mut inventory, Arc::from(file), text.as_bytes(), json);
            inventory
        };
        let (one, two) = (load_with_threshold(u64::MAX), load_with_threshold(0));
        // Everything but the duplicate index, a hash map whose printed order is random.
        let read = |i: &Inventory| {
            format!("{:?} {:?} {:?} {} {}", i.namespaces, i.workloads, i.diagnostics, i.documents_read, i.objects_read)
        };
        assert_eq!(read(&one), read(&two));
        two
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

    #[test]
    fn a_json_list_parsed_on_a_second_thread_reads_as_on_one() {
        let items: Vec<String> = (0..1000)
            .map(|i| {
                // Every hundredth pod has an invalid name: its error must come out in the same place.
                let name = if i % 100 == 0 { format!("P_{i}") } else { format!("p{i}") };
                format!(r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}", "namespace": "a"}}}}"#)
            })
            .collect();
        let text = format!("{{\"kind\": \"List\", \"items\": [\n{}\n], \"oops\"}}", items.join(",\n"));
        let inventory = assert_same_on_one_and_two_threads("t.json", &text, true);
        assert_eq!(inventory.workloads.len(), 990);
        let syntax = inventory.diagnostics.iter().filter(|d| d.code == DiagnosticCode::InvalidSyntax).count();
        assert_eq!(syntax, 1, "the broken end of the list is reported once");
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
        assert_eq!(inventory.workloads[0].pod.labels.get("v").map(String::as_str), Some("2"));
        assert!(inventory.diagnostics.iter().any(|d| d.code == DiagnosticCode::DuplicateObject));
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
        assert_eq!(inventory.service_accounts[0].labels.get("team").map(String::as_str), Some("a"));
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
