//! `netseg audit` output: text for people, `netseg.audit/v1` JSON, SARIF 2.1.0 for code scanning, Markdown for
//! pull-request comments.

use crate::JsonDocument;
use crate::Style;
use netseg_audit::rules::REGISTRY;
use netseg_audit::{Finding, Report, Resource, Severity, Witness};
use netseg_model::Location;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

pub const SCHEMA: &str = "netseg.audit/v1";

pub(crate) fn resource_name(finding: &Finding) -> String {
    match &finding.resource.namespace {
        Some(ns) => format!("{}/{}[{}]", ns, finding.resource.name, finding.resource.kind),
        None => format!("{} {}", finding.resource.kind, finding.resource.name),
    }
}

fn location(finding: &Finding) -> String {
    match &finding.location {
        // A list page from the API server is one line of JSON: its line number says nothing.
        Some(location) if location.file.starts_with("cluster://") => location.file.to_string(),
        Some(location) => location.to_string(),
        None => String::new(),
    }
}

fn paint(style: Style, severity: Severity, text: &str) -> String {
    match severity {
        Severity::Critical | Severity::High => style.bad(text),
        Severity::Medium => style.strong(text),
        Severity::Low | Severity::Info => style.dim(text),
    }
}

fn summary_line(report: &Report) -> String {
    counts_line(report.counts(), report.suppressed())
}

fn counts_line(counts: [(Severity, usize); 5], suppressed: usize) -> String {
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {}", s.as_str())).collect();
    let mut line = counts.join(", ");
    if suppressed > 0 {
        line.push_str(&format!(" ({suppressed} suppressed)"));
    }
    line
}

/// Unsuppressed findings per severity over every cluster, and the suppressed ones.
fn totals(reports: &[Report]) -> ([(Severity, usize); 5], usize) {
    let mut counts = Severity::ALL_WORST_FIRST.map(|s| (s, 0usize));
    for report in reports {
        for (total, (_, n)) in counts.iter_mut().zip(report.counts()) {
            total.1 += n;
        }
    }
    (counts, reports.iter().map(Report::suppressed).sum())
}

/// The `netseg can` command that confirms a witness, on the same cluster when the report is about one.
fn witness_command(report: &Report, witness: &netseg_audit::Witness) -> String {
    check_command(witness, report.cluster.as_deref(), &report.input)
}

/// The `netseg can` command that confirms a witness on `input` (as the user gave it), on the cluster `context`.
fn check_command(witness: &netseg_audit::Witness, context: Option<&str>, input: &[String]) -> String {
    let mut words: Vec<String> = context.map(|c| vec!["--context".to_string(), c.to_string()]).unwrap_or_default();
    words.extend(input.iter().cloned());
    witness.command_on(&words)
}

fn cni_line(report: &Report) -> String {
    if report.enforced {
        format!("CNI: {} (policies analysed as enforced)", report.cni)
    } else {
        format!(
            "CNI: {} (does not enforce NetworkPolicy: findings describe the effective, allow-all network)",
            report.cni
        )
    }
}

/// What the text report shows beyond the findings.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    pub style: Style,
    /// `-v`: every exempt workload with its reason, not only their number.
    pub verbose: bool,
}

/// The workloads some rules leave alone: their number, or (verbose) each with its reason.
fn exemption_lines(report: &Report, verbose: bool, out: &mut String, style: Style) {
    if report.exempt.is_empty() {
        return;
    }
    let count = report.exempt.len();
    let plural = if count == 1 { "" } else { "s" };
    if !verbose {
        let line = format!(
            "exempt: {count} workload{plural} that some rules leave alone by design (-v lists them with the reason)"
        );
        let _ = writeln!(out, "{}", style.dim(&line));
        return;
    }
    let _ = writeln!(
        out,
        "{}",
        style.dim(&format!("exempt: {count} workload{plural} that some rules leave alone by design:"))
    );
    for exemption in &report.exempt {
        let name = match &exemption.resource.namespace {
            Some(ns) => format!("{ns}/{}[{}]", exemption.resource.name, exemption.resource.kind),
            None => format!("{} {}", exemption.resource.kind, exemption.resource.name),
        };
        let line = format!("  {name} from {}: {}", exemption.rules, exemption.reason);
        let _ = writeln!(out, "{}", style.dim(&line));
    }
}

/// Grouped by severity, then namespace; each finding with its evidence, fix and witness.
pub fn text(report: &Report, style: Style) -> String {
    text_with(report, TextOptions { style, verbose: false })
}

/// [`text`] with the exemptions listed when `verbose`.
pub fn text_with(report: &Report, options: TextOptions) -> String {
    let style = options.style;
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.strong(&format!("netseg audit: {}", summary_line(report))));
    if let Some(context) = &report.cluster {
        let _ = writeln!(out, "cluster: {context}");
    }
    let _ = writeln!(out, "{}", cni_line(report));
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for assumption in &report.assumptions {
        let _ = writeln!(out, "{}", style.dim(&format!("assumed: {assumption}")));
    }
    exemption_lines(report, options.verbose, &mut out, style);
    // Per workload, the sensitive destinations its egress reaches (NS120, NS121, NS123, NS124) in one block.
    let mut egress: BTreeMap<&netseg_audit::Resource, Vec<&Finding>> = BTreeMap::new();
    for finding in report.findings.iter().filter(|f| f.suppressed.is_none() && EGRESS_RULES.contains(&f.rule.code)) {
        egress.entry(&finding.resource).or_default().push(finding);
    }
    for severity in Severity::ALL_WORST_FIRST {
        let findings: Vec<&Finding> =
            report.findings.iter().filter(|f| f.severity == severity && f.suppressed.is_none()).collect();
        if findings.is_empty() {
            continue;
        }
        let mut by_namespace: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
        for finding in findings {
            let namespace = match (&finding.resource.namespace, finding.resource.kind.as_str()) {
                (Some(namespace), _) => namespace.clone(),
                (None, "Namespace") => finding.resource.name.clone(),
                (None, _) => "(cluster)".to_string(),
            };
            by_namespace.entry(namespace).or_default().push(finding);
        }
        let _ = writeln!(out, "\n{}", paint(style, severity, &severity.as_str().to_uppercase()));
        for (namespace, findings) in by_namespace {
            let _ = writeln!(out, "  {}", style.strong(&namespace));
            for finding in findings {
                if let Some(group) = egress.get(&finding.resource).filter(|g| g.len() > 1) {
                    if EGRESS_RULES.contains(&finding.rule.code) {
                        if std::ptr::eq(group[0], finding) {
                            egress_block(&mut out, report, group, style);
                        }
                        continue;
                    }
                }
                let _ = writeln!(
                    out,
                    "    {} {}  {}  {}",
                    paint(style, severity, finding.rule.code),
                    finding.rule.name,
                    resource_name(finding),
                    style.dim(&location(finding))
                );
                let _ = writeln!(out, "      {}", finding.message);
                if !finding.evidence.is_empty() {
                    let _ = writeln!(out, "      {} {}", style.dim("evidence:"), finding.evidence);
                }
                let _ = writeln!(out, "      {} {}", style.dim("fix:"), finding.remediation);
                if let Some(witness) = &finding.witness {
                    let _ = writeln!(out, "      {} {}", style.dim("check:"), witness_command(report, witness));
                }
            }
        }
    }
    if report.suppressed() > 0 {
        let _ = writeln!(out, "\n{}", style.dim("SUPPRESSED"));
        for finding in report.findings.iter().filter(|f| f.suppressed.is_some()) {
            let reason = finding.suppressed.as_deref().unwrap_or_default();
            let _ =
                writeln!(out, "    {} {}  {}: {reason}", finding.rule.code, finding.rule.name, resource_name(finding));
        }
    }
    if report.findings.is_empty() {
        out.push_str("\nno findings\n");
    }
    out
}

/// The rules about what a workload's egress reaches, which text output shows as one block per workload.
const EGRESS_RULES: &[&str] = &["NS120", "NS121", "NS123", "NS124"];

/// One workload's reachable sensitive destinations: one line each (its severity, rule and what it reaches, with
/// the command that confirms it), then each distinct evidence and fix once. Shown under the worst severity.
fn egress_block(out: &mut String, report: &Report, group: &[&Finding], style: Style) {
    let first = group[0];
    let codes: Vec<&str> = group.iter().map(|f| f.rule.code).collect();
    let _ = writeln!(
        out,
        "    {}  sensitive-egress  {}  {}",
        paint(style, first.severity, &codes.join(" ")),
        resource_name(first),
        style.dim(&location(first))
    );
    let _ = writeln!(out, "      {} reaches {} sensitive destinations:", resource_name(first), group.len());
    for finding in group {
        let _ = writeln!(
            out,
            "      - {} {} {}: {}",
            paint(style, finding.severity, finding.severity.as_str()),
            finding.rule.code,
            finding.rule.name,
            finding.message
        );
        if let Some(witness) = &finding.witness {
            let _ = writeln!(out, "        {} {}", style.dim("check:"), witness_command(report, witness));
        }
    }
    let mut shown: Vec<&str> = Vec::new();
    for finding in group {
        for part in finding.evidence.split("; ").filter(|p| !p.is_empty()) {
            if !shown.contains(&part) {
                shown.push(part);
                let _ = writeln!(out, "      {} {part}", style.dim("evidence:"));
            }
        }
    }
    let mut fixes: Vec<&str> = Vec::new();
    for finding in group {
        if !fixes.contains(&finding.remediation.as_str()) {
            fixes.push(&finding.remediation);
            let _ = writeln!(out, "      {} {}", style.dim("fix:"), finding.remediation);
        }
    }
}

/// Several clusters in one report: the totals, then each cluster's findings under its name.
pub fn text_all(reports: &[Report], style: Style) -> String {
    text_all_with(reports, TextOptions { style, verbose: false })
}

/// [`text_all`] with the exemptions listed when `verbose`.
pub fn text_all_with(reports: &[Report], options: TextOptions) -> String {
    let style = options.style;
    if let [report] = reports {
        return text_with(report, options);
    }
    let (counts, suppressed) = totals(reports);
    let mut out = String::new();
    let line = format!("netseg audit of {} clusters: {}", reports.len(), counts_line(counts, suppressed));
    let _ = writeln!(out, "{}", style.strong(&line));
    for report in reports {
        let name = report.cluster.as_deref().unwrap_or("(files)");
        let _ = writeln!(out, "\n{}", style.strong(&format!("=== cluster {name} ===")));
        out.push_str(&text_with(report, options));
    }
    out
}

/// One finding in `netseg.audit/v1`, serialised from the finding as it stands (no JSON tree is built): the fields
/// in the schema's order; its witness carries the `command` that confirms it on the input (the input as the user
/// gave it; no command when unknown).
#[derive(Serialize)]
struct FindingJson<'f> {
    rule: &'static str,
    name: &'static str,
    severity: Severity,
    resource: &'f Resource,
    location: Option<LocationJson<'f>>,
    message: &'f str,
    evidence: &'f str,
    remediation: &'f str,
    #[serde(skip_serializing_if = "Option::is_none")]
    witness: Option<WitnessJson<'f>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<&'f str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'f str>,
}

#[derive(Serialize)]
struct LocationJson<'f> {
    file: &'f str,
    line: u32,
}

#[derive(Serialize)]
struct WitnessJson<'f> {
    #[serde(flatten)]
    witness: &'f Witness,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
}

impl<'f> FindingJson<'f> {
    fn new(finding: &'f Finding, cluster: Option<&'f str>, input: &[String]) -> FindingJson<'f> {
        FindingJson {
            rule: finding.rule.code,
            name: finding.rule.name,
            severity: finding.severity,
            resource: &finding.resource,
            location: finding.location.as_ref().map(|l| LocationJson { file: &l.file, line: l.line }),
            message: &finding.message,
            evidence: &finding.evidence,
            remediation: &finding.remediation,
            witness: finding.witness.as_ref().map(|witness| WitnessJson {
                witness,
                command: (!input.is_empty()).then(|| check_command(witness, cluster, input)),
            }),
            suppressed: finding.suppressed.as_deref(),
            cluster,
        }
    }
}

/// One finding as JSON (see [`FindingJson`]), for the documents that embed findings in a larger tree.
pub(crate) fn finding_json(finding: &Finding, cluster: Option<&str>, input: &[String]) -> Value {
    serde_json::to_value(FindingJson::new(finding, cluster, input)).unwrap_or(Value::Null)
}

fn cni_json(report: &Report) -> Value {
    json!({"name": report.cni, "enforced": report.enforced})
}

fn summary_json(counts: [(Severity, usize); 5], suppressed: usize) -> Value {
    let mut summary = serde_json::Map::new();
    for (severity, count) in counts {
        summary.insert(severity.as_str().to_string(), json!(count));
    }
    summary.insert("suppressed".into(), json!(suppressed));
    Value::Object(summary)
}

/// The `netseg.audit/v1` document of one or several clusters, as [`crate::json_text`] lays it out, written as it
/// goes: each finding is serialised straight to `out`, never gathered into one tree first (a flat cluster's audit
/// can hold tens of thousands of findings). With several clusters, every finding carries its `cluster`, `summary`
/// is the total, and each cluster's CNI, assumptions and counts are under `clusters`.
pub fn write_json(out: &mut dyn std::io::Write, reports: &[Report]) -> std::io::Result<()> {
    let mut document = JsonDocument::start(out)?;
    document.field("schema", &SCHEMA)?;
    let findings = reports.iter().flat_map(|report| {
        report.findings.iter().map(|finding| FindingJson::new(finding, report.cluster.as_deref(), &report.input))
    });
    document.values("findings", findings)?;
    // Lists go one item to a line and everything else on its key's line, as `json_text` lays out a tree.
    if let [report] = reports {
        document.field("summary", &summary_json(report.counts(), report.suppressed()))?;
        document.field("cni", &cni_json(report))?;
        document.values("assumptions", &report.assumptions)?;
        document.values("notes", &report.notes)?;
        document.values("exempt", &report.exempt)?;
        document.values("disabled_rules", &report.disabled_rules)?;
        if let Some(cluster) = &report.cluster {
            document.field("cluster", cluster)?;
        }
        return document.finish();
    }
    let (counts, suppressed) = totals(reports);
    document.field("summary", &summary_json(counts, suppressed))?;
    let clusters = reports.iter().map(|report| {
        json!({
            "cluster": report.cluster,
            "summary": summary_json(report.counts(), report.suppressed()),
            "cni": cni_json(report),
            "assumptions": report.assumptions,
            "notes": report.notes,
            "exempt": report.exempt,
        })
    });
    document.values("clusters", clusters)?;
    document.values("disabled_rules", reports.first().map(|r| r.disabled_rules.as_slice()).unwrap_or_default())?;
    document.finish()
}

pub(crate) fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning ranks results by this CVSS-like score.
pub(crate) fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// A file path as a SARIF artifact URI that GitHub code scanning accepts: relative paths stay relative (to the
/// repository root), `./` dropped, absolute paths become `file://` URIs, and every character a URI reference
/// cannot hold is percent-encoded. A page read from a live cluster (`cluster://CONTEXT/api/v1/pods`) becomes the
/// relative `cluster/CONTEXT/api/v1/pods`: code scanning rejects an upload whose absolute URIs use another scheme
/// than the checkout's `file://`.
pub(crate) fn artifact_uri(path: &str) -> String {
    if let Some(live) = path.strip_prefix("cluster://") {
        return format!("cluster/{}", encode_uri_path(live));
    }
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    if path.starts_with('/') {
        format!("file://{}", encode_uri_path(path))
    } else {
        encode_uri_path(path)
    }
}

/// Percent-encodes what RFC 3986 does not allow in a path (and `:`, which in a relative path's first segment would
/// read as a scheme), byte by byte of the UTF-8.
fn encode_uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'=' => out.push(char::from(byte)),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A finding's words as full sentences for code scanning, which shows the first sentence as the alert's title:
/// the message, then the evidence and the fix, each ending with a period.
pub(crate) fn sarif_message(message: &str, evidence: &str, remediation: &str) -> String {
    let mut text = sentence(message);
    if !evidence.trim().is_empty() {
        text.push_str(&format!(" Evidence: {}", sentence(evidence)));
    }
    if !remediation.trim().is_empty() {
        text.push_str(&format!(" Fix: {}", sentence(remediation)));
    }
    text
}

/// Capitalised (unless it starts with a name such as `default/web[Deployment]` or `` `blog` ``) and ending with a
/// period.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let first_word = text.split_whitespace().next().unwrap_or_default();
    let plain_word = first_word.chars().all(|c| c.is_ascii_alphabetic() || c == '-' || c == ',');
    let mut out = String::with_capacity(text.len() + 1);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if plain_word => {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
        _ => out.push_str(text),
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A result's locations: the finding's own file and line, else `fallback` (the first input, for findings about the
/// whole input) with a message saying so. Code scanning rejects a whole upload in which any result has no location
/// or a location without a physical one (`locationFromSarifResult: expected at least one location`).
pub(crate) fn sarif_locations(location: Option<&Location>, fallback: Option<&Location>, name: &str) -> Value {
    let (location, note) = match (location, fallback) {
        (Some(location), _) => (location, None),
        (None, Some(fallback)) => {
            (fallback, Some("The finding is about the whole input; its first file stands for it.".to_string()))
        }
        (None, None) => return json!([]),
    };
    let mut value = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": artifact_uri(&location.file)},
            "region": {"startLine": location.line.max(1)},
        },
        "logicalLocations": [{"name": name, "kind": "resource"}],
    });
    if let Some(note) = note {
        value["message"] = json!({"text": note});
    }
    json!([value])
}

/// A rule as code scanning describes it: both descriptions (at most 1024 characters), the help in text and
/// Markdown, the default level, and the security severity and tags it ranks and filters by.
pub(crate) fn sarif_rule(rule: &netseg_audit::RuleMeta) -> Value {
    let summary: String = rule.summary().chars().take(1024).collect();
    json!({
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": summary},
        "help": {"text": rule.docs, "markdown": rule.docs},
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
        "properties": {"security-severity": security_severity(rule.severity), "tags": ["security", "kubernetes", "network-segmentation"]},
    })
}

/// SARIF 2.1.0: one run, every rule described, results on the file and line of the offending object.
pub fn sarif(report: &Report, version: &str) -> Value {
    sarif_all(std::slice::from_ref(report), version)
}

/// SARIF 2.1.0 with one run per cluster, each tagged with its cluster.
pub fn sarif_all(reports: &[Report], version: &str) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": reports.iter().map(|report| sarif_run(report, version)).collect::<Vec<_>>(),
    })
}

fn sarif_run(report: &Report, version: &str) -> Value {
    let rules: Vec<Value> = REGISTRY.iter().map(|(rule, _)| sarif_rule(rule)).collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let rule_index = REGISTRY.iter().position(|(r, _)| r.code == finding.rule.code).unwrap_or(0);
            let text = sarif_message(&finding.message, &finding.evidence, &finding.remediation);
            let mut result = json!({
                "ruleId": finding.rule.code,
                "ruleIndex": rule_index,
                "level": sarif_level(finding.severity),
                "message": {"text": text},
                "partialFingerprints": {"netsegFinding/v1": match &report.cluster {
                    Some(cluster) => format!("{}:{cluster}:{}", finding.rule.code, resource_name(finding)),
                    None => format!("{}:{}", finding.rule.code, resource_name(finding)),
                }},
                "properties": {"severity": finding.severity.as_str(), "resource": resource_name(finding)},
            });
            if let Some(cluster) = &report.cluster {
                result["properties"]["cluster"] = json!(cluster);
            }
            result["locations"] =
                sarif_locations(finding.location.as_ref(), report.first_input.as_ref(), &resource_name(finding));
            if let Some(reason) = &finding.suppressed {
                result["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            result
        })
        .collect();
    let mut run = json!({
        "tool": {"driver": {
            "name": "netseg",
            "version": version,
            "semanticVersion": version,
            "rules": rules,
        }},
        "results": results,
        "columnKind": "unicodeCodePoints",
    });
    if let Some(cluster) = &report.cluster {
        run["properties"] = json!({"cluster": cluster});
    }
    run
}

pub(crate) fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ").replace('<', "&lt;")
}

/// For a pull-request comment: the counts, then one table row per finding, worst first.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("### netseg audit\n\n");
    markdown_body(report, &mut out);
    out
}

/// Several clusters: the totals, then one section per cluster.
pub fn markdown_all(reports: &[Report]) -> String {
    if let [report] = reports {
        return markdown(report);
    }
    let (counts, suppressed) = totals(reports);
    let mut out = format!("### netseg audit of {} clusters\n\n{}\n", reports.len(), counts_line(counts, suppressed));
    for report in reports {
        let _ = writeln!(out, "\n#### cluster `{}`\n", md(report.cluster.as_deref().unwrap_or("(files)")));
        markdown_body(report, &mut out);
    }
    out
}

fn markdown_body(report: &Report, out: &mut String) {
    if let Some(cluster) = &report.cluster {
        let _ = writeln!(out, "cluster: `{}`  ", md(cluster));
    }
    let _ = writeln!(out, "{}  \n{}\n", summary_line(report), md(&cni_line(report)));
    let visible: Vec<&Finding> = report.findings.iter().filter(|f| f.suppressed.is_none()).collect();
    if visible.is_empty() {
        out.push_str("No findings.\n");
        return;
    }
    out.push_str("| severity | rule | resource | location | finding | fix |\n|---|---|---|---|---|---|\n");
    for finding in visible {
        let _ = writeln!(
            out,
            "| {} | {} `{}` | `{}` | {} | {} | {} |",
            finding.severity.as_str(),
            finding.rule.code,
            finding.rule.name,
            md(&resource_name(finding)),
            md(&location(finding)),
            md(&finding.message),
            md(&finding.remediation)
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "\n> note: {}", md(note));
    }
    for assumption in &report.assumptions {
        let _ = writeln!(out, "\n> assumed: {}", md(assumption));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_all(reports: &[Report]) -> String {
        let mut out = Vec::new();
        write_json(&mut out, reports).expect("a report serialises");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    fn report_of(cluster: &str, namespace: &str) -> Report {
        let resource = Resource { kind: "Namespace".into(), namespace: None, name: namespace.into() };
        let location = Some(Location { file: "cluster://x/api/v1/namespaces".into(), line: 1 });
        let (rule, _) = REGISTRY.iter().find(|(rule, _)| rule.code == "NS101").expect("NS101 is registered");
        let finding = Finding::new(rule, resource, location)
            .message(format!("namespace {namespace} has no NetworkPolicy"))
            .witness(Some(Witness {
                from: format!("{namespace}/a[Deployment]"),
                to: format!("{namespace}/b[Deployment]"),
                protocol: netseg_model::Protocol::Tcp,
                port: 80,
            }));
        Report {
            findings: vec![finding],
            cni: "calico".into(),
            enforced: true,
            assumptions: vec!["no API server address".into()],
            notes: Vec::new(),
            input: vec!["--cluster".into()],
            disabled_rules: vec!["NS148"],
            cluster: Some(cluster.into()),
            exempt: Vec::new(),
            first_input: None,
        }
    }

    #[test]
    fn the_json_of_several_clusters_is_one_document_with_a_line_per_list_item() {
        let text = json_all(&[report_of("prod", "shop"), report_of("stage", "blog")]);
        let document: Value = serde_json::from_str(&text).expect("the document is JSON");
        assert_eq!(document["schema"], SCHEMA);
        let findings = document["findings"].as_array().expect("findings");
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[1]["cluster"], "stage");
        assert_eq!(findings[1]["witness"]["from"], "blog/a[Deployment]");
        assert_eq!(
            findings[1]["witness"]["command"],
            "netseg can --from 'blog/a[Deployment]' --to 'blog/b[Deployment]' --protocol TCP --port 80 --context \
             stage --cluster"
        );
        assert_eq!(document["clusters"][0]["cluster"], "prod");
        assert_eq!(document["summary"]["high"], 2);
        assert_eq!(document["disabled_rules"], json!(["NS148"]));
        // The layout `json_text` gives a tree: each finding and each cluster on a line of its own.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.iter().filter(|line| line.starts_with("    {\"rule\":\"NS101\"")).count(), 2, "{text}");
        assert_eq!(lines.iter().filter(|line| line.starts_with("    {\"cluster\":")).count(), 2, "{text}");
    }

    #[test]
    fn the_json_of_one_report_is_the_tree_json_text_lays_out() {
        let report = report_of("prod", "shop");
        let tree = json!({
            "schema": SCHEMA,
            "findings": [finding_json(&report.findings[0], report.cluster.as_deref(), &report.input)],
            "summary": summary_json(report.counts(), report.suppressed()),
            "cni": {"name": "calico", "enforced": true},
            "assumptions": ["no API server address"],
            "notes": [],
            "exempt": [],
            "disabled_rules": ["NS148"],
            "cluster": "prod",
        });
        assert_eq!(json_all(&[report]), crate::json_text(&tree));
    }

    #[test]
    fn artifact_uris_are_uri_references_code_scanning_accepts() {
        assert_eq!(artifact_uri("./deploy/web app.yaml"), "deploy/web%20app.yaml");
        assert_eq!(artifact_uri("/work/a#b.yaml"), "file:///work/a%23b.yaml");
        assert_eq!(artifact_uri("k8s\\prod\\x.yaml"), "k8s/prod/x.yaml");
        assert_eq!(artifact_uri("c:x.yaml"), "c%3Ax.yaml", "a colon in the first segment would read as a scheme");
        assert_eq!(artifact_uri("ü.yaml"), "%C3%BC.yaml");
        assert_eq!(artifact_uri("cluster://prod/api/v1/pods"), "cluster/prod/api/v1/pods");
    }

    #[test]
    fn sarif_messages_are_full_sentences() {
        assert_eq!(
            sarif_message("no CNI in the input", "nothing found", "pass --cni NAME"),
            "No CNI in the input. Evidence: Nothing found. Fix: Pass --cni NAME."
        );
        assert_eq!(
            sarif_message("default/web[Deployment] can reach 169.254.169.254", "", "isolate egress."),
            "default/web[Deployment] can reach 169.254.169.254. Fix: Isolate egress."
        );
    }

    #[test]
    fn a_finding_without_a_place_points_at_the_first_input() {
        let first = Location { file: "deploy/app.yaml".into(), line: 1 };
        let located = sarif_locations(None, Some(&first), "Cluster cluster");
        assert_eq!(located[0]["physicalLocation"]["artifactLocation"]["uri"], "deploy/app.yaml");
        assert!(located[0]["message"]["text"].as_str().is_some_and(|t| t.contains("whole input")));
        let own = Location { file: "x.yaml".into(), line: 7 };
        assert_eq!(sarif_locations(Some(&own), Some(&first), "x")[0]["physicalLocation"]["region"]["startLine"], 7);
    }
}
