//! ConfigMaps (their `data`), Secrets (their key names only) and the references containers make to them.

use super::{join, truncate, Ctx};
use crate::config::{ConfigKind, ConfigMap, ConfigRef, ConfigUse, ConfigValue, SecretKeys, MAX_CONFIG_MAP_BYTES};
use crate::diag::DiagnosticCode;
use crate::kube::Location;
use crate::yaml::{Node, Value};

/// A ConfigMap's `data`: each value a string, each key a valid key. `binaryData` is not read. Every valid key is
/// kept here; [`keep_within_budget`] then drops what the input may not keep, in input order.
pub(crate) fn config_map(
    ctx: &mut Ctx<'_>,
    root: &Node,
    namespace: String,
    name: String,
    location: Location,
) -> ConfigMap {
    let mut data = Vec::new();
    let Some(entries) = root.get("data").and_then(|d| ctx.map(d, "data")) else {
        return ConfigMap { namespace, name, data, location };
    };
    let Value::Map(entries) = &entries.value else { return ConfigMap { namespace, name, data, location } };
    for (key, value) in entries {
        let field = join("data", key);
        if let Err(why) = validate_key(key) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                value.line,
                &field,
                format!("invalid key `{}`: {why}", truncate(key)),
            );
            continue;
        }
        let text = match &value.value {
            Value::Str(text) => text.as_str(),
            Value::Null => "",
            _ => {
                ctx.wrong_type(value, &field, "a string (quote numbers and booleans)");
                continue;
            }
        };
        data.push(ConfigValue { key: key.clone(), value: text.to_string(), line: value.line });
    }
    ConfigMap { namespace, name, data, location }
}

/// Drops the keys past [`MAX_CONFIG_MAP_BYTES`] in this ConfigMap or past `budget`, what the input may still keep,
/// and takes what is kept from the budget. Returns the warning to give when keys were dropped.
///
/// Apart from decoding, because the budget is the whole input's: objects decoded on other threads take from it
/// in input order.
pub(crate) fn keep_within_budget(config_map: &mut ConfigMap, budget: &mut u64) -> Option<String> {
    let mut kept = 0usize;
    let before = config_map.data.len();
    config_map.data.retain(|value| {
        let size = value.key.len() + value.value.len();
        if kept + size > MAX_CONFIG_MAP_BYTES || size as u64 > *budget {
            return false;
        }
        kept += size;
        *budget -= size as u64;
        true
    });
    let dropped = before - config_map.data.len();
    (dropped > 0).then(|| {
        format!(
            "{dropped} key(s) not read: over the {} MiB kept per ConfigMap or the {} MiB kept for the whole input; \
             the hosts they name are not declared flows",
            MAX_CONFIG_MAP_BYTES >> 20,
            crate::config::MAX_CONFIG_DATA_BYTES >> 20
        )
    })
}

/// A Secret's key names, from `data` and `stringData`. The values are neither kept nor checked, so that no
/// diagnostic can quote one.
pub(crate) fn secret(
    ctx: &mut Ctx<'_>,
    root: &Node,
    namespace: String,
    name: String,
    location: Location,
) -> SecretKeys {
    let mut keys: Vec<String> = Vec::new();
    for part in ["data", "stringData"] {
        let Some(node) = root.get(part) else { continue };
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => continue,
            // Not `wrong_type`: it would quote a string.
            _ => {
                let message = format!("expected a mapping, found {}", node.type_name());
                ctx.error(DiagnosticCode::WrongType, node.line, part, message);
                continue;
            }
        };
        for (key, value) in entries {
            if let Err(why) = validate_key(key) {
                let message = format!("invalid key `{}`: {why}", truncate(key));
                ctx.error(DiagnosticCode::InvalidValue, value.line, &join(part, key), message);
            } else if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    SecretKeys { namespace, name, keys, location }
}

/// A ConfigMap or Secret key: at most 253 characters of letters, digits, `-`, `_` and `.`, not `.` or `..`.
fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > 253 {
        return Err("a key has 1 to 253 characters");
    }
    if key == "." || key == ".." {
        return Err("`.` and `..` are not keys");
    }
    if !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("a key is made of letters, digits, `-`, `_` and `.`");
    }
    Ok(())
}

/// The ConfigMaps and Secrets a pod spec's containers read: `env[].valueFrom`, `envFrom[]`, and the volumes
/// they mount (`configMap`, `secret`, `projected.sources[]`). Wrong types here are the API server's business and
/// change no connectivity, so they are skipped rather than reported.
pub(crate) fn pod_config_refs(spec: &Node) -> Vec<ConfigRef> {
    let mut refs = Vec::new();
    let volumes = volumes(spec);
    for list in ["containers", "initContainers"] {
        let Some(Value::Seq(containers)) = spec.get(list).map(|l| &l.value) else { continue };
        for container in containers {
            let name = container.get("name").and_then(Node::as_str).unwrap_or("?").to_string();
            if let Some(Value::Seq(env)) = container.get("env").map(|e| &e.value) {
                for variable in env {
                    let Some(var) = variable.get("name").and_then(Node::as_str) else { continue };
                    let Some(from) = variable.get("valueFrom") else { continue };
                    for (field, kind) in
                        [("configMapKeyRef", ConfigKind::ConfigMap), ("secretKeyRef", ConfigKind::Secret)]
                    {
                        let Some(reference) = from.get(field) else { continue };
                        let (Some(object), Some(key)) =
                            (reference.get("name").and_then(Node::as_str), reference.get("key").and_then(Node::as_str))
                        else {
                            continue;
                        };
                        refs.push(ConfigRef {
                            container: name.clone(),
                            kind,
                            name: object.to_string(),
                            keys: Some(vec![key.to_string()]),
                            used_as: ConfigUse::Env(var.to_string()),
                            line: reference.line,
                        });
                    }
                }
            }
            if let Some(Value::Seq(env_from)) = container.get("envFrom").map(|e| &e.value) {
                for source in env_from {
                    let prefix = source.get("prefix").and_then(Node::as_str).unwrap_or("").to_string();
                    for (field, kind) in [("configMapRef", ConfigKind::ConfigMap), ("secretRef", ConfigKind::Secret)] {
                        let Some(reference) = source.get(field) else { continue };
                        let Some(object) = reference.get("name").and_then(Node::as_str) else { continue };
                        refs.push(ConfigRef {
                            container: name.clone(),
                            kind,
                            name: object.to_string(),
                            keys: None,
                            used_as: ConfigUse::EnvFrom { prefix: prefix.clone() },
                            line: reference.line,
                        });
                    }
                }
            }
            if let Some(Value::Seq(mounts)) = container.get("volumeMounts").map(|m| &m.value) {
                for mount in mounts {
                    let Some(volume) = mount.get("name").and_then(Node::as_str) else { continue };
                    for (kind, object, keys, line) in volumes.iter().filter(|v| v.0 == volume).flat_map(|v| &v.1) {
                        refs.push(ConfigRef {
                            container: name.clone(),
                            kind: *kind,
                            name: object.clone(),
                            keys: keys.clone(),
                            used_as: ConfigUse::File { volume: volume.to_string() },
                            line: *line,
                        });
                    }
                }
            }
        }
    }
    refs
}

type VolumeSource = (ConfigKind, String, Option<Vec<String>>, u32);

/// Each volume's name with the ConfigMaps and Secrets it projects.
fn volumes(spec: &Node) -> Vec<(String, Vec<VolumeSource>)> {
    let Some(Value::Seq(volumes)) = spec.get("volumes").map(|v| &v.value) else { return Vec::new() };
    let source = |node: &Node, kind: ConfigKind, name_field: &str| -> Option<VolumeSource> {
        let name = node.get(name_field).and_then(Node::as_str)?.to_string();
        let keys = match node.get("items").map(|i| &i.value) {
            Some(Value::Seq(items)) => {
                Some(items.iter().filter_map(|i| i.get("key").and_then(Node::as_str)).map(str::to_string).collect())
            }
            _ => None,
        };
        Some((kind, name, keys, node.line))
    };
    volumes
        .iter()
        .filter_map(|volume| {
            let name = volume.get("name").and_then(Node::as_str)?.to_string();
            let mut sources = Vec::new();
            if let Some(config) = volume.get("configMap") {
                sources.extend(source(config, ConfigKind::ConfigMap, "name"));
            }
            if let Some(secret) = volume.get("secret") {
                sources.extend(source(secret, ConfigKind::Secret, "secretName"));
            }
            if let Some(Value::Seq(projected)) =
                volume.get("projected").and_then(|p| p.get("sources")).map(|s| &s.value)
            {
                for item in projected {
                    if let Some(config) = item.get("configMap") {
                        sources.extend(source(config, ConfigKind::ConfigMap, "name"));
                    }
                    if let Some(secret) = item.get("secret") {
                        sources.extend(source(secret, ConfigKind::Secret, "name"));
                    }
                }
            }
            (!sources.is_empty()).then_some((name, sources))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigKind, ConfigUse, MAX_CONFIG_DATA_BYTES};
    use crate::diag::{DiagnosticCode, Severity};
    use crate::load::{load_bytes, Inventory};
    use std::sync::Arc;

    fn load(text: &str) -> Inventory {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        inventory
    }

    /// The first diagnostic's (severity, field, line, message).
    fn first(inventory: &Inventory) -> (Severity, String, u32, String) {
        let d = inventory.diagnostics.first().unwrap_or_else(|| panic!("no diagnostic"));
        (d.severity, d.field.clone().unwrap_or_default(), d.line.unwrap_or(0), d.message.clone())
    }

    #[test]
    fn config_map_data_is_kept_with_lines_and_binary_data_ignored() {
        let inventory = load(concat!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\n",
            "data:\n  DB_URL: postgres://pg:5432/shop\n  empty:\nbinaryData: {blob: AAEC}\n",
        ));
        assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
        let config = &inventory.config_maps[0];
        assert_eq!((config.namespace.as_str(), config.name.as_str()), ("shop", "app"));
        let url = config.get("DB_URL").map(|v| (v.value.as_str(), v.line));
        assert_eq!(url, Some(("postgres://pg:5432/shop", 5)));
        assert_eq!(config.get("empty").map(|v| v.value.as_str()), Some(""));
        assert!(config.get("blob").is_none());
    }

    #[test]
    fn config_map_errors_name_the_field_and_line() {
        let cases: &[(&str, &str, u32, &str)] = &[
            ("data: [a]\n", "data", 4, "expected a mapping"),
            (
                "data:\n  port: 8080\n",
                "data.port",
                5,
                "expected a string (quote numbers and booleans), found integer `8080`",
            ),
            ("data:\n  enabled: yes\n", "data.enabled", 5, "boolean"),
            ("data:\n  'a b': x\n", "data.a b", 5, "invalid key `a b`"),
            ("data:\n  '..': x\n", "data...", 5, "`.` and `..` are not keys"),
        ];
        for (data, field, line, message) in cases {
            let inventory =
                load(&format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: shop}}\n{data}"));
            let (severity, found_field, found_line, found_message) = first(&inventory);
            assert_eq!((severity, found_field.as_str(), found_line), (Severity::Error, *field, *line), "{data}");
            assert!(found_message.contains(message), "{data}: {found_message}");
            assert!(inventory.config_maps.is_empty(), "a ConfigMap the API server rejects is left out: {data}");
        }
    }

    #[test]
    fn a_config_map_over_the_size_limit_keeps_what_fits_and_warns() {
        let big = "x".repeat(700 * 1024);
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big, namespace: shop}}\ndata:\n  a: {big}\n  b: {big}\n  c: redis:6379\n"
        );
        let inventory = load(&text);
        let keys: Vec<&str> = inventory.config_maps[0].data.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["a", "c"], "b does not fit in 1 MiB; c does");
        let (severity, field, line, message) = first(&inventory);
        assert_eq!((severity, field.as_str(), line), (Severity::Warning, "data", 4));
        assert!(message.starts_with("1 key(s) not read"), "{message}");
    }

    #[test]
    fn the_whole_input_keeps_a_bounded_amount_of_config_map_data() {
        let mut inventory = Inventory::default();
        inventory.config_bytes = MAX_CONFIG_DATA_BYTES - 10;
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {a: '12345', b: redis:6379}\n";
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        let keys: Vec<&str> = inventory.config_maps[0].data.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["a"]);
        assert_eq!(inventory.diagnostics[0].severity, Severity::Warning);
    }

    #[test]
    fn secrets_keep_key_names_only_and_quote_no_value() {
        let inventory = load(concat!(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\n",
            "data: {password: c2VjcmV0}\nstringData: {REDIS_URL: 'redis://:hunter2@redis:6379', password: x}\n",
        ));
        assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
        assert_eq!(inventory.secrets[0].keys, ["password", "REDIS_URL"]);
        let dump = format!("{inventory:?}");
        assert!(!dump.contains("hunter2") && !dump.contains("c2VjcmV0"), "a Secret value is in memory: {dump}");

        for (data, field, line, message) in [
            ("data: hunter2\n", "data", 4, "expected a mapping, found string"),
            ("stringData: [hunter2]\n", "stringData", 4, "expected a mapping, found"),
            ("data:\n  'a/b': aHVudGVyMg==\n", "data.a/b", 5, "invalid key `a/b`"),
        ] {
            let inventory =
                load(&format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\n{data}"));
            let (severity, found_field, found_line, found_message) = first(&inventory);
            assert_eq!((severity, found_field.as_str(), found_line), (Severity::Error, field, line), "{data}");
            assert!(found_message.contains(message), "{data}: {found_message}");
            assert_ne!(inventory.diagnostics[0].code, DiagnosticCode::UnknownField);
            let all = format!("{:?}", inventory.diagnostics);
            assert!(!all.contains("hunter2") && !all.contains("aHVudGVyMg"), "{all}");
        }
    }

    #[test]
    fn containers_references_to_config_maps_and_secrets() {
        let inventory = load(concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n",
            "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n",
            "      containers:\n      - name: web\n        env:\n",
            "        - name: DB_URL\n          valueFrom: {configMapKeyRef: {name: app, key: db}}\n",
            "        - name: PW\n          valueFrom: {secretKeyRef: {name: creds, key: password}}\n",
            "        envFrom:\n        - {prefix: APP_, configMapRef: {name: env}}\n        - secretRef: {name: more}\n",
            "        volumeMounts: [{name: conf, mountPath: /etc/app}, {name: all, mountPath: /etc/all}]\n",
            "      volumes:\n      - name: conf\n        configMap: {name: files, items: [{key: app.properties, path: a}]}\n",
            "      - name: all\n        projected: {sources: [{configMap: {name: whole}}, {secret: {name: tls}}]}\n",
            "      - name: unused\n        configMap: {name: nobody}\n",
        ));
        assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
        let refs = &inventory.workloads[0].pod.config_refs;
        type Summary<'a> = (ConfigKind, &'a str, Option<Vec<String>>, &'a ConfigUse, u32);
        let summary: Vec<Summary> =
            refs.iter().map(|r| (r.kind, r.name.as_str(), r.keys.clone(), &r.used_as, r.line)).collect();
        let env = |name: &str| ConfigUse::Env(name.into());
        let file = |volume: &str| ConfigUse::File { volume: volume.into() };
        let keys = |k: &str| Some(vec![k.to_string()]);
        assert_eq!(
            summary,
            [
                (ConfigKind::ConfigMap, "app", keys("db"), &env("DB_URL"), 13),
                (ConfigKind::Secret, "creds", keys("password"), &env("PW"), 15),
                (ConfigKind::ConfigMap, "env", None, &ConfigUse::EnvFrom { prefix: "APP_".into() }, 17),
                (ConfigKind::Secret, "more", None, &ConfigUse::EnvFrom { prefix: String::new() }, 18),
                (ConfigKind::ConfigMap, "files", keys("app.properties"), &file("conf"), 22),
                (ConfigKind::ConfigMap, "whole", None, &file("all"), 24),
                (ConfigKind::Secret, "tls", None, &file("all"), 24),
            ]
        );
    }
}
