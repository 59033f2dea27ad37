//! The finding catalog. Each rule is one module under `rules/`: its documentation (the doc comment of
//! `declare_rule!`), its metadata, its check and its own passing and failing cases. The registry in `rules/mod.rs`
//! lists them; `docs/rules.md` is generated from the registry and a test keeps it in sync.

pub mod blast;
mod config;
mod context;
mod docs;
mod facts;
pub mod map;
pub mod rules;

pub use config::{Config, ConfigError, RuleOverride};
pub use context::{AuditContext, AuditOptions, FlowEnd, IntendedFlow};
pub use docs::rules_markdown;
pub use facts::{AddressSource, SensitiveFacts, DATASTORE_PORTS, METADATA_ADDRESSES};

use netseg_engine::Network;
use netseg_model::{Diagnostic, Location, Protocol};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL_WORST_FIRST: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Self::ALL_WORST_FIRST.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

/// A rule's identity and documentation, declared once in its module.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable ID, such as `NS101`.
    pub code: &'static str,
    /// Stable kebab-case name, such as `namespace-without-policy`.
    pub name: &'static str,
    pub severity: Severity,
    /// Markdown under the headings What it does / Why it matters / Example / How to fix.
    pub docs: &'static str,
}

impl RuleMeta {
    /// The first paragraph under "What it does", for one-line descriptions (SARIF, `--help`).
    pub fn summary(&self) -> String {
        let text = self.docs.split("## What it does").nth(1).unwrap_or(self.docs);
        let paragraph = text.trim_start().split("\n\n").next().unwrap_or_default();
        paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Declares a rule: its doc comment becomes its documentation.
macro_rules! declare_rule {
    ($(#[doc = $doc:literal])* pub static RULE = $code:ident $name:literal $severity:ident;) => {
        pub static RULE: $crate::RuleMeta = $crate::RuleMeta {
            code: stringify!($code),
            name: $name,
            severity: $crate::Severity::$severity,
            docs: concat!($($doc, "\n"),*),
        };
    };
}
pub(crate) use declare_rule;

/// The object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Resource {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// A concrete connection that proves a reachability finding: `netseg can --from FROM --to TO --port PORT
/// --protocol PROTOCOL` on the same input confirms it (ALLOWED; for NS147 declared-flow-blocked, DENIED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Witness {
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
}

impl Witness {
    pub fn command(&self) -> String {
        format!(
            "netseg can --from '{}' --to '{}' --protocol {} --port {}",
            self.from, self.to, self.protocol, self.port
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    #[serde(skip)]
    pub rule: &'static RuleMeta,
    pub severity: Severity,
    pub resource: Resource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub message: String,
    pub evidence: String,
    pub remediation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
    /// Why the finding is suppressed, when an annotation or the configuration silences it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

impl Finding {
    pub fn new(rule: &'static RuleMeta, resource: Resource, location: Option<Location>) -> Finding {
        Finding {
            rule,
            severity: rule.severity,
            resource,
            location,
            message: String::new(),
            evidence: String::new(),
            remediation: String::new(),
            witness: None,
            suppressed: None,
        }
    }

    pub fn message(mut self, text: impl Into<String>) -> Self {
        self.message = text.into();
        self
    }

    pub fn evidence(mut self, text: impl Into<String>) -> Self {
        self.evidence = text.into();
        self
    }

    pub fn remediation(mut self, text: impl Into<String>) -> Self {
        self.remediation = text.into();
        self
    }

    pub fn witness(mut self, witness: Option<Witness>) -> Self {
        self.witness = witness;
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// A workload that some rules leave alone by design, shown so that nothing is left out silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    pub resource: Resource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Which rules leave it alone, in words.
    pub rules: String,
    pub reason: String,
}

/// The audit's answer: findings worst first, and the facts the answer rests on.
#[derive(Debug, Clone)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The CNI as detected or given, and whether the policies were analysed as enforced.
    pub cni: String,
    pub enforced: bool,
    /// Defaults used where the input lacked a fact, in words.
    pub assumptions: Vec<String>,
    pub disabled_rules: Vec<&'static str>,
    /// The live cluster (its kubeconfig context) the findings are about; `None` for files.
    pub cluster: Option<String>,
    /// Workloads some rules leave alone, with the reason.
    pub exempt: Vec<Exemption>,
    /// The first input read, line 1: where a finding about the whole input (NS131) points when a format needs a
    /// place for every finding (SARIF).
    pub first_input: Option<Location>,
}

impl Report {
    /// Unsuppressed findings per severity, worst first.
    pub fn counts(&self) -> [(Severity, usize); 5] {
        Severity::ALL_WORST_FIRST
            .map(|s| (s, self.findings.iter().filter(|f| f.severity == s && f.suppressed.is_none()).count()))
    }

    pub fn suppressed(&self) -> usize {
        self.findings.iter().filter(|f| f.suppressed.is_some()).count()
    }

    /// The worst unsuppressed severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().filter(|f| f.suppressed.is_none()).map(|f| f.severity).max()
    }
}

/// Runs every enabled rule and orders the findings worst first.
pub fn audit(ctx: &AuditContext<'_>) -> Report {
    let mut findings = Vec::new();
    let mut disabled_rules = Vec::new();
    for (rule, check) in rules::REGISTRY {
        if !ctx.config.enabled(rule) {
            disabled_rules.push(rule.code);
            continue;
        }
        let start = findings.len();
        check(ctx, &mut findings);
        for finding in &mut findings[start..] {
            finding.severity = ctx.config.severity(rule, finding.severity);
        }
    }
    for finding in &mut findings {
        finding.suppressed = ctx.suppression(finding);
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.code.cmp(b.rule.code))
            .then_with(|| a.resource.cmp(&b.resource))
            .then_with(|| a.message.cmp(&b.message))
    });
    Report {
        findings,
        cni: ctx.cni.names(),
        enforced: ctx.enforced(),
        assumptions: ctx.facts.assumptions(),
        disabled_rules,
        cluster: None,
        exempt: ctx.exemptions(),
        first_input: ctx.cluster.sources.first().map(|file| Location { file: file.clone(), line: 1 }),
    }
}

#[cfg(test)]
mod testing;

/// Audits a network: every rule over its declared and effective analyses. For clients that need the report only
/// (the generator's proof); those that need more (the HTML report's network map) build the [`AuditContext`].
pub fn audit_network(
    network: &Network<'_>,
    diagnostics: &[Diagnostic],
    config: &Config,
    options: &AuditOptions,
) -> Report {
    audit(&AuditContext::new(network, config, diagnostics, options))
}
