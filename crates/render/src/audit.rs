//! `netseg audit` output: text for people, `netseg.audit/v1` JSON, SARIF 2.1.0 for code scanning, Markdown for
//! pull-request comments.

use crate::Style;
use netseg_audit::rules::REGISTRY;
use netseg_audit::{Finding, Report, Severity};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

pub const SCHEMA: &str = "netseg.audit/v1";

fn resource_name(finding: &Finding) -> String {
    match &finding.resource.namespace {
        Some(ns) => format!("{}/{}[{}]", ns, finding.resource.name, finding.resource.kind),
        None => format!("{} {}", finding.resource.kind, finding.resource.name),
    }
}

fn location(finding: &Finding) -> String {
    finding.location.as_ref().map(|l| l.to_string()).unwrap_or_default()
}

fn paint(style: Style, severity: Severity, text: &str) -> String {
    match severity {
        Severity::Critical | Severity::High => style.bad(text),
        Severity::Medium => style.strong(text),
        Severity::Low | Severity::Info => style.dim(text),
    }
}

fn summary_line(report: &Report) -> String {
    let counts: Vec<String> = report.counts().iter().map(|(s, n)| format!("{n} {}", s.as_str())).collect();
    let mut line = counts.join(", ");
    if report.suppressed() > 0 {
        line.push_str(&format!(" ({} suppressed)", report.suppressed()));
    }
    line
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

/// Grouped by severity, then namespace; each finding with its evidence, fix and witness.
pub fn text(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.strong(&format!("netseg audit: {}", summary_line(report))));
    let _ = writeln!(out, "{}", cni_line(report));
    for assumption in &report.assumptions {
        let _ = writeln!(out, "{}", style.dim(&format!("assumed: {assumption}")));
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
                    let _ = writeln!(out, "      {} {}", style.dim("check:"), witness.command());
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

pub(crate) fn finding_json(finding: &Finding) -> Value {
    let mut value = json!({
        "rule": finding.rule.code,
        "name": finding.rule.name,
        "severity": finding.severity,
        "resource": finding.resource,
        "location": finding.location.as_ref().map(|l| json!({"file": l.file, "line": l.line})),
        "message": finding.message,
        "evidence": finding.evidence,
        "remediation": finding.remediation,
    });
    if let Some(witness) = &finding.witness {
        value["witness"] = json!(witness);
    }
    if let Some(reason) = &finding.suppressed {
        value["suppressed"] = json!(reason);
    }
    value
}

pub fn json(report: &Report) -> Value {
    let mut summary = serde_json::Map::new();
    for (severity, count) in report.counts() {
        summary.insert(severity.as_str().to_string(), json!(count));
    }
    summary.insert("suppressed".into(), json!(report.suppressed()));
    json!({
        "schema": SCHEMA,
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "summary": summary,
        "cni": {"name": report.cni, "enforced": report.enforced},
        "assumptions": report.assumptions,
        "disabled_rules": report.disabled_rules,
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning ranks results by this CVSS-like score.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// A file path as a SARIF artifact URI: relative paths stay relative (to the repository root), `./` dropped.
fn artifact_uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    let encoded: String = path
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '#' => "%23".to_string(),
            '?' => "%3F".to_string(),
            '%' => "%25".to_string(),
            '\\' => "/".to_string(),
            other => other.to_string(),
        })
        .collect();
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

/// SARIF 2.1.0: one run, every rule described, results on the file and line of the offending object.
pub fn sarif(report: &Report, version: &str) -> Value {
    let rules: Vec<Value> = REGISTRY
        .iter()
        .map(|(rule, _)| {
            json!({
                "id": rule.code,
                "name": rule.name,
                "shortDescription": {"text": rule.summary()},
                "fullDescription": {"text": rule.summary()},
                "help": {"text": rule.docs, "markdown": rule.docs},
                "defaultConfiguration": {"level": sarif_level(rule.severity)},
                "properties": {"security-severity": security_severity(rule.severity), "tags": ["security", "kubernetes", "network-segmentation"]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let rule_index = REGISTRY.iter().position(|(r, _)| r.code == finding.rule.code).unwrap_or(0);
            let mut text = finding.message.clone();
            if !finding.evidence.is_empty() {
                text.push_str(&format!(" Evidence: {}.", finding.evidence.trim_end_matches('.')));
            }
            text.push_str(&format!(" Fix: {}.", finding.remediation.trim_end_matches('.')));
            let mut result = json!({
                "ruleId": finding.rule.code,
                "ruleIndex": rule_index,
                "level": sarif_level(finding.severity),
                "message": {"text": text},
                "partialFingerprints": {"netsegFinding/v1": format!("{}:{}", finding.rule.code, resource_name(finding))},
                "properties": {"severity": finding.severity.as_str(), "resource": resource_name(finding)},
            });
            if let Some(location) = &finding.location {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact_uri(&location.file)},
                        "region": {"startLine": location.line.max(1)},
                    },
                    "logicalLocations": [{"name": resource_name(finding), "kind": "resource"}],
                }]);
            }
            if let Some(reason) = &finding.suppressed {
                result["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "netseg",
                "version": version,
                "semanticVersion": version,
                "rules": rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ").replace('<', "&lt;")
}

/// For a pull-request comment: the counts, then one table row per finding, worst first.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("### netseg audit\n\n");
    let _ = writeln!(out, "{}  \n{}\n", summary_line(report), md(&cni_line(report)));
    let visible: Vec<&Finding> = report.findings.iter().filter(|f| f.suppressed.is_none()).collect();
    if visible.is_empty() {
        out.push_str("No findings.\n");
        return out;
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
    for assumption in &report.assumptions {
        let _ = writeln!(out, "\n> assumed: {}", md(assumption));
    }
    out
}
