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
pub use context::{AuditContext, AuditOptions, DeclaredBlock, EgressCause, FlowEnd, IntendedFlow, Intent};
pub use docs::rules_markdown;
pub use facts::{AddressSource, SensitiveFacts, DATASTORE_PORTS, METADATA_ADDRESSES};

use netseg_engine::Network;
use netseg_model::parallel::beside;
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
    /// The `netseg can` command without the input: [`Witness::command_on`] adds it.
    pub fn command(&self) -> String {
        format!(
            "netseg can --from {} --to {} --protocol {} --port {}",
            shell_quote(&self.from),
            shell_quote(&self.to),
            self.protocol,
            self.port
        )
    }

    /// The command that confirms the finding when pasted into a shell: `input` is the input as the user gave it
    /// (flags such as `-n NAME`, then the paths), each word quoted for the shell.
    pub fn command_on(&self, input: &[String]) -> String {
        let mut command = self.command();
        for word in input {
            command.push(' ');
            command.push_str(&shell_quote(word));
        }
        command
    }
}

/// `word` as one word for a POSIX shell: as it is when it holds only characters no shell treats specially, else in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
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
    /// What the reader should know about the input as a whole (no workload in it, many objects put in `default`).
    pub notes: Vec<String>,
    /// The input as the user gave it (flags such as `-n NAME`, then the paths, unquoted), which every `check:`
    /// command repeats so that it runs on the same input.
    pub input: Vec<String>,
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
    let mut found: Vec<Vec<Finding>> = rules::REGISTRY.iter().map(|_| Vec::new()).collect();
    let enabled: Vec<bool> = rules::REGISTRY.iter().map(|(rule, _)| ctx.config.enabled(rule)).collect();
    std::thread::scope(|scope| {
        // Started first, so that they run beside all the others; where the system refuses a thread, a rule runs
        // here after them.
        let aside: Vec<_> = (rules::REGISTRY.iter().enumerate())
            .filter(|&(at, (rule, _))| enabled[at] && rules::runs_aside(rule))
            .map(|(at, &(_, check))| {
                let rule = beside(scope, move || {
                    let mut found = Vec::new();
                    check(ctx, &mut found);
                    found
                });
                (at, rule)
            })
            .collect();
        for (at, &(rule, check)) in rules::REGISTRY.iter().enumerate() {
            if !enabled[at] {
                disabled_rules.push(rule.code);
            } else if !rules::runs_aside(rule) {
                check(ctx, &mut found[at]);
            }
        }
        for (at, rule) in aside {
            found[at] = rule.join();
        }
    });
    for ((rule, _), mut found) in rules::REGISTRY.iter().zip(found) {
        for finding in &mut found {
            platform_finding(ctx, finding);
            finding.severity = ctx.config.severity(rule, finding.severity);
        }
        findings.append(&mut found);
    }
    for finding in &mut findings {
        finding.suppressed = ctx.suppression(finding);
        if let Some(note) = ctx.unmodelled_note(finding) {
            finding.evidence = if finding.evidence.is_empty() {
                note
            } else {
                format!("{}; {note}", finding.evidence.trim_end_matches('.'))
            };
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.code.cmp(b.rule.code))
            .then_with(|| a.resource.cmp(&b.resource))
            .then_with(|| a.message.cmp(&b.message))
    });
    let mut notes = input_notes(ctx.cluster);
    let platform = findings.iter().filter(|f| f.remediation.contains(PLATFORM_REMEDY_MARK)).count();
    if platform > 0 {
        notes.push(format!(
            "{platform} findings on platform namespaces ({}) are reported as low: `netseg generate` leaves \
             them alone by design; see each finding's fix",
            platform_namespaces(ctx).into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Report {
        findings,
        cni: ctx.cni.names(),
        enforced: ctx.enforced(),
        assumptions: ctx.facts.assumptions(),
        notes,
        input: Vec::new(),
        disabled_rules,
        cluster: None,
        exempt: ctx.exemptions(),
        first_input: ctx.cluster.sources.first().map(|file| Location { file: file.clone(), line: 1 }),
    }
}

/// The connectivity rules that a platform namespace's findings are lowered for.
const PLATFORM_RULES: &[&str] =
    &["NS101", "NS102", "NS103", "NS120", "NS121", "NS122", "NS123", "NS124", "NS125", "NS126", "NS145"];
const PLATFORM_REMEDY_MARK: &str = "is a platform namespace";

/// Kubernetes' own namespaces and the CNI's.
fn platform_namespaces(ctx: &AuditContext<'_>) -> std::collections::BTreeSet<String> {
    let mut namespaces: std::collections::BTreeSet<String> =
        ["kube-system", "kube-public", "kube-node-lease"].iter().map(|n| n.to_string()).collect();
    namespaces.extend(ctx.cni.namespaces().into_iter().map(str::to_string));
    namespaces
}

/// A connectivity finding in a platform namespace is low, with a remedy a user can act on: `generate` does not
/// cover these namespaces by design (their components need the API server, the nodes and every namespace's DNS
/// queries), so a high finding there could never be closed by netseg's own fix. The configuration may still set
/// the rule's severity.
fn platform_finding(ctx: &AuditContext<'_>, finding: &mut Finding) {
    if !PLATFORM_RULES.contains(&finding.rule.code) {
        return;
    }
    let namespace = match (&finding.resource.namespace, finding.resource.kind.as_str()) {
        (Some(namespace), _) => namespace.clone(),
        (None, "Namespace") => finding.resource.name.clone(),
        _ => return,
    };
    if !platform_namespaces(ctx).contains(&namespace) {
        return;
    }
    finding.severity = finding.severity.min(Severity::Low);
    finding.remediation = format!(
        "{}; `{namespace}` {PLATFORM_REMEDY_MARK}, which `netseg generate` leaves alone by design: isolate it by \
         hand with the allowances its components need (CoreDNS: ingress on UDP and TCP 53 from every namespace, \
         egress to the API server and the upstream resolvers), or accept it with `netseg.io/ignore` on the \
         namespace",
        finding.remediation.trim_end_matches('.')
    );
}

/// Above this many, objects put in `default` for want of a namespace are worth a note.
const MANY_DEFAULTED: usize = 5;

/// Notes on the input as a whole, for the summary.
fn input_notes(cluster: &netseg_model::Cluster) -> Vec<String> {
    let mut notes = Vec::new();
    if cluster.workloads.is_empty() {
        notes.push(
            "the input holds no workload (Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob, ...): no connection \
             to analyse, so the reachability rules have nothing to report"
                .to_string(),
        );
    }
    if cluster.namespace_defaulted >= MANY_DEFAULTED {
        notes.push(format!(
            "{} objects name no namespace and were put in `default`, as `kubectl apply` without -n would; pass \
             -n NAMESPACE if they are applied elsewhere",
            cluster.namespace_defaulted
        ));
    }
    notes
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

/// Whether an audit finding carries this loader diagnostic (NS144 for a malformed object, NS132 for a policy netseg
/// does not analyse), so that `audit` shows the rest on stderr as every other command does.
pub fn reported_as_finding(diagnostic: &Diagnostic) -> bool {
    diagnostic.code == netseg_model::DiagnosticCode::UnmodelledPolicy
        || rules::ns144_malformed_policy::classify(diagnostic).is_some()
}
