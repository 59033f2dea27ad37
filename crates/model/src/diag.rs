//! Diagnostics about the input: each names the file, the line and the field it is about.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The object (or file) is left out of the analysis: the API server would reject it.
    Error,
    /// The object is analysed as the API server would store it, but something in it is probably a mistake.
    Warning,
    /// Informational: a document that netseg skips, a default it applied.
    Note,
}

/// What went wrong, as a stable kebab-case code, so that tools and the audit can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosticCode {
    /// The file could not be read.
    UnreadableFile,
    /// Not valid YAML or JSON, or a document over one of the parser's limits.
    InvalidSyntax,
    /// A field has the wrong type for the Kubernetes API.
    WrongType,
    /// A value the API server's validation rejects (CIDR, operator, port, name, ...).
    InvalidValue,
    /// A field missing that the API server requires.
    MissingField,
    /// A field the API server does not know: dropped on create, with a warning.
    UnknownField,
    /// The same object twice in the input; the later one wins, as with `kubectl apply`.
    DuplicateObject,
    /// A document that is not a Kubernetes object netseg reads.
    SkippedDocument,
    /// A policy of a kind netseg does not analyse yet (CNI- or mesh-specific): the answers ignore what it
    /// restricts, so they may show more connectivity than the cluster has.
    UnmodelledPolicy,
    /// More diagnostics than `--max-diagnostics` keeps: the summary of those not shown.
    TooManyDiagnostics,
    /// A field its project has deprecated: read and analysed as the last release that honours it does.
    DeprecatedField,
    /// An input (file, directory or stdin) that holds no Kubernetes object: a wrong path, an empty pipe.
    NoObjects,
    /// A Helm chart or template, or a Kustomize source that transforms what it lists: the objects it stands for
    /// exist only once rendered (`helm template`, `kustomize build`).
    UnrenderedTemplate,
}

impl DiagnosticCode {
    /// Whether the diagnostic is about the input as a whole (a path that cannot be read, an input with no object,
    /// a source to render first) rather than about one object in it: every command makes these errors exit 2.
    pub fn about_input(self) -> bool {
        matches!(self, DiagnosticCode::UnreadableFile | DiagnosticCode::NoObjects | DiagnosticCode::UnrenderedTemplate)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticCode::UnreadableFile => "unreadable-file",
            DiagnosticCode::InvalidSyntax => "invalid-syntax",
            DiagnosticCode::WrongType => "wrong-type",
            DiagnosticCode::InvalidValue => "invalid-value",
            DiagnosticCode::MissingField => "missing-field",
            DiagnosticCode::UnknownField => "unknown-field",
            DiagnosticCode::DuplicateObject => "duplicate-object",
            DiagnosticCode::SkippedDocument => "skipped-document",
            DiagnosticCode::UnmodelledPolicy => "unmodelled-policy",
            DiagnosticCode::TooManyDiagnostics => "too-many-diagnostics",
            DiagnosticCode::DeprecatedField => "deprecated-field",
            DiagnosticCode::NoObjects => "no-objects",
            DiagnosticCode::UnrenderedTemplate => "unrendered-template",
        }
    }
}

/// Which object a diagnostic is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: DiagnosticCode,
    pub file: Arc<str>,
    pub line: Option<u32>,
    pub object: Option<ObjectRef>,
    /// The field's path inside the object, such as `spec.ingress[0].from[1].ipBlock.cidr`.
    pub field: Option<String>,
    pub message: String,
    /// A "did you mean" or "how to fix" hint.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, "{level}[{}]: {}", self.code.as_str(), self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(":")?;
        if let Some(object) = &self.object {
            write!(f, " {object}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " field `{field}`")?;
        }
        if self.object.is_some() || self.field.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)?;
        if self.severity == Severity::Error && self.object.is_some() {
            f.write_str(" (object left out of the analysis)")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}
