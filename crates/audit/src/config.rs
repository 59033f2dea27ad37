//! `.netseg.yaml`: severity overrides, disabled rules, allowed hostNetwork workloads, extra sensitive ports, tenant
//! label. Found from the working directory upward, or given with `--config`.

use crate::{RuleMeta, Severity};
use netseg_model::yaml::{parse_all, Node, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = ".netseg.yaml";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOverride {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where it was read from, if anywhere.
    pub path: Option<PathBuf>,
    /// By rule code or name.
    pub rules: HashMap<String, RuleOverride>,
    /// `namespace/name` of workloads allowed on the host network; `namespace/*` allows a whole namespace.
    pub host_network_allowed: Vec<String>,
    pub sensitive_ports: Vec<u16>,
    pub tenant_label: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: None,
            rules: HashMap::new(),
            // CNI agents, kube-proxy and node exporters live here and need the host network.
            host_network_allowed: vec!["kube-system/*".to_string()],
            sensitive_ports: Vec::new(),
            tenant_label: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl Config {
    /// `.netseg.yaml` in `start` or the nearest parent that has one.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        start.ancestors().map(|dir| dir.join(FILE_NAME)).find(|candidate| candidate.is_file())
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let error = |line: u32, message: String| ConfigError { file: file.clone(), line, message };
        let text = std::fs::read_to_string(path).map_err(|e| error(0, format!("cannot read: {e}")))?;
        let mut config = Config::parse(&text).map_err(|(line, message)| error(line, message))?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, (u32, String)> {
        let (documents, syntax) = parse_all(text);
        if let Some(syntax) = syntax {
            return Err((syntax.line, syntax.message));
        }
        let mut config = Config::default();
        let Some(root) = documents.first() else { return Ok(config) };
        let Value::Map(entries) = &root.value else { return Err((root.line, "expected a mapping".into())) };
        for (key, value) in entries {
            match key.as_str() {
                "rules" => config.rules = rule_overrides(value)?,
                "hostNetworkAllowed" => config.host_network_allowed = strings(value)?,
                "sensitivePorts" => {
                    config.sensitive_ports = list(value)?
                        .iter()
                        .map(|n| match n.value {
                            Value::Int(p) if (1..=65535).contains(&p) => Ok(p as u16),
                            _ => Err((n.line, "a port must be a number from 1 to 65535".to_string())),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "tenantLabel" => config.tenant_label = Some(string(value)?),
                other => {
                    return Err((
                        value.line,
                        format!(
                            "unknown setting `{other}`; known: rules, hostNetworkAllowed, sensitivePorts, tenantLabel"
                        ),
                    ))
                }
            }
        }
        Ok(config)
    }

    fn rule_override(&self, rule: &RuleMeta) -> Option<&RuleOverride> {
        self.rules.get(rule.code).or_else(|| self.rules.get(rule.name))
    }

    pub fn enabled(&self, rule: &RuleMeta) -> bool {
        self.rule_override(rule).and_then(|o| o.enabled).unwrap_or(true)
    }

    pub fn severity(&self, rule: &RuleMeta, default: Severity) -> Severity {
        self.rule_override(rule).and_then(|o| o.severity).unwrap_or(default)
    }

    pub fn host_network_allowed(&self, namespace: &str, name: &str) -> bool {
        self.host_network_allowed.iter().any(|pattern| match pattern.split_once('/') {
            Some((ns, "*")) => ns == namespace,
            Some((ns, workload)) => ns == namespace && workload == name,
            None => pattern == name,
        })
    }
}

fn list(node: &Node) -> Result<&[Node], (u32, String)> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => Err((node.line, format!("expected a list, found {}", node.type_name()))),
    }
}

fn string(node: &Node) -> Result<String, (u32, String)> {
    node.as_str().map(str::to_string).ok_or((node.line, format!("expected a string, found {}", node.type_name())))
}

fn strings(node: &Node) -> Result<Vec<String>, (u32, String)> {
    list(node)?.iter().map(string).collect()
}

fn rule_overrides(node: &Node) -> Result<HashMap<String, RuleOverride>, (u32, String)> {
    let Value::Map(entries) = &node.value else { return Err((node.line, "`rules` maps rule IDs to settings".into())) };
    let mut overrides = HashMap::new();
    for (rule, settings) in entries {
        if !crate::rules::REGISTRY.iter().any(|(meta, _)| meta.code == rule || meta.name == rule) {
            return Err((settings.line, format!("`{rule}` is not a rule ID or name (see docs/rules.md)")));
        }
        let Value::Map(fields) = &settings.value else {
            return Err((settings.line, "a rule's settings are `enabled` and `severity`".into()));
        };
        let mut setting = RuleOverride::default();
        for (field, value) in fields {
            match (field.as_str(), &value.value) {
                ("enabled", Value::Bool(b)) => setting.enabled = Some(*b),
                ("severity", Value::Str(s)) => {
                    setting.severity =
                        Some(Severity::parse(s).ok_or((
                            value.line,
                            format!("`{s}` is not a severity: critical, high, medium, low or info"),
                        ))?)
                }
                _ => {
                    return Err((
                        value.line,
                        format!("`{field}` is not a rule setting (enabled: true|false, severity: ...)"),
                    ))
                }
            }
        }
        overrides.insert(rule.clone(), setting);
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_setting() {
        let config = Config::parse(
            "rules:\n  NS103: {severity: low}\n  peer-selects-nothing: {enabled: false}\nhostNetworkAllowed: [monitoring/node-exporter]\nsensitivePorts: [8123]\ntenantLabel: team\n",
        )
        .expect("valid");
        let ns103 = crate::rules::REGISTRY.iter().find(|(m, _)| m.code == "NS103").expect("rule").0;
        let ns141 = crate::rules::REGISTRY.iter().find(|(m, _)| m.code == "NS141").expect("rule").0;
        assert_eq!(config.severity(ns103, Severity::Medium), Severity::Low);
        assert!(!config.enabled(ns141));
        assert!(config.host_network_allowed("monitoring", "node-exporter"));
        assert!(!config.host_network_allowed("kube-system", "anything"), "a list replaces the default");
        assert_eq!(config.sensitive_ports, [8123]);
        assert_eq!(config.tenant_label.as_deref(), Some("team"));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(Config::parse("rules:\n  NS999: {enabled: false}\n").map_err(|e| e.0), Err(2));
        assert_eq!(Config::parse("sensitivePorts: [0]\n").map_err(|e| e.0), Err(1));
        assert_eq!(Config::parse("colour: red\n").map_err(|e| e.0), Err(1));
    }
}
