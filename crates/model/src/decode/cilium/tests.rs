use crate::cilium::*;
use crate::diag::{DiagnosticCode, Severity};
use crate::kube::{Direction, Protocol};
use crate::load::{load_bytes, Inventory};
use crate::selector::{Labels, Operator};
use std::sync::Arc;

fn load(text: &str) -> Inventory {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("cilium.yaml"), text.as_bytes(), false);
    inventory
}

fn errors(inventory: &Inventory) -> Vec<(u32, String, String)> {
    of_severity(inventory, Severity::Error)
}

fn warnings(inventory: &Inventory) -> Vec<(u32, String, String)> {
    of_severity(inventory, Severity::Warning)
}

/// Warnings other than the interim one that says the engine does not apply Cilium policies yet.
fn validation_warnings(inventory: &Inventory) -> bool {
    inventory.diagnostics.iter().any(|d| d.severity == Severity::Warning && d.code != DiagnosticCode::UnmodelledPolicy)
}

fn of_severity(inventory: &Inventory, severity: Severity) -> Vec<(u32, String, String)> {
    inventory
        .diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| (d.line.unwrap_or(0), d.field.clone().unwrap_or_default(), d.message.clone()))
        .collect()
}

const CNP: &str = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: shop}\n";
const CCNP: &str = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: c}\n";

fn pod_labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

fn identity(labels: &Labels) -> CiliumIdentity<'_> {
    CiliumIdentity { k8s: Some(labels), reserved: &[] }
}

#[test]
fn the_star_wars_l7_policy_reads_whole() {
    let inventory = load(concat!(
        "apiVersion: \"cilium.io/v2\"\nkind: CiliumNetworkPolicy\nmetadata:\n  name: \"rule1\"\nspec:\n",
        "  description: \"L7 policy to restrict access to specific HTTP call\"\n",
        "  endpointSelector:\n    matchLabels:\n      org: empire\n      class: deathstar\n",
        "  ingress:\n  - fromEndpoints:\n    - matchLabels:\n        org: empire\n",
        "    toPorts:\n    - ports:\n      - port: \"80\"\n        protocol: TCP\n",
        "      rules:\n        http:\n        - method: \"POST\"\n          path: \"/v1/request-landing\"\n",
    ));
    assert!(errors(&inventory).is_empty() && !validation_warnings(&inventory), "{:?}", inventory.diagnostics);
    let policy = &inventory.cilium_policies[0];
    assert_eq!(policy.display_name(), "CiliumNetworkPolicy default/rule1");
    let rule = &policy.rules[0];
    assert!(rule.default_deny(Direction::Ingress) && !rule.default_deny(Direction::Egress));
    let CiliumSubject::Endpoints(subject) = &rule.subject else { panic!("endpoints") };
    let deathstar = pod_labels(&[("org", "empire"), ("class", "deathstar"), (POD_NAMESPACE_LABEL, "default")]);
    assert!(subject.matches(identity(&deathstar)));
    let elsewhere = pod_labels(&[("org", "empire"), ("class", "deathstar"), (POD_NAMESPACE_LABEL, "other")]);
    assert!(!subject.matches(identity(&elsewhere)), "a CiliumNetworkPolicy selects in its own namespace");
    let ingress = &rule.ingress[0];
    assert_eq!(ingress.peer_field, Some("fromEndpoints"));
    let CiliumPeerSelection::Endpoints(from) = &ingress.peers[0].selection else { panic!("endpoints") };
    let tiefighter = pod_labels(&[("org", "empire"), (POD_NAMESPACE_LABEL, "default")]);
    assert!(from.matches(identity(&tiefighter)));
    assert_eq!(ingress.peers[0].line, 13);
    let port_rule = &ingress.ports.as_ref().expect("ports")[0];
    assert_eq!(port_rule.ports[0].port, CiliumPortNumber::Number(80));
    assert_eq!(port_rule.ports[0].protocol, CiliumProtocol::One(Protocol::Tcp));
    let Some(L7Rules::Http(http)) = &port_rule.l7 else { panic!("http") };
    let (method, path) = (http[0].method.as_ref().expect("method"), http[0].path.as_ref().expect("path"));
    assert!(method.matches("POST") && !method.matches("GET") && !method.matches("XPOST"));
    assert!(path.matches("/v1/request-landing") && !path.matches("/v1/request-landing/x"));
    assert_eq!(http[0].line, 21);
}

#[test]
fn selectors_get_the_namespace_cilium_adds() {
    let inventory = load(&format!(
        "{CCNP}spec:\n  endpointSelector: {{}}\n  ingress:\n  - fromEndpoints: [{{}}]\n  - fromEndpoints: [{{matchLabels: {{\"reserved:host\": \"\"}}}}]\n  - fromEndpoints: [{{matchLabels: {{\"k8s:io.kubernetes.pod.namespace\": kube-system, k8s-app: kube-dns}}}}]\n"
    ));
    assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
    let rule = &inventory.cilium_policies[0].rules[0];
    let selector = |i: usize| match &rule.ingress[i].peers[0].selection {
        CiliumPeerSelection::Endpoints(selector) => selector.clone(),
        other => panic!("{other:?}"),
    };
    // Clusterwide: `{}` is every pod (a namespace label exists), never a reserved identity.
    let pod = pod_labels(&[("app", "x"), (POD_NAMESPACE_LABEL, "a")]);
    assert!(selector(0).matches(identity(&pod)));
    assert!(!selector(0).matches(CiliumIdentity { k8s: None, reserved: &["host"] }));
    assert!(selector(1).matches(CiliumIdentity { k8s: None, reserved: &["host"] }));
    let dns = pod_labels(&[("k8s-app", "kube-dns"), (POD_NAMESPACE_LABEL, "kube-system")]);
    assert!(selector(2).matches(identity(&dns)));
    // Namespaced: `{}` is the policy's namespace only, and a namespace in the endpointSelector is replaced.
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{matchLabels: {{\"k8s:io.kubernetes.pod.namespace\": other}}}}\n  egress:\n  - toEndpoints: [{{}}]\n"
    ));
    let warned = warnings(&inventory);
    assert!(
        warned.iter().any(|(line, field, m)| *line == 5
            && field == "spec.endpointSelector"
            && m.contains("own namespace `shop`")),
        "{warned:?}"
    );
    let rule = &inventory.cilium_policies[0].rules[0];
    let CiliumSubject::Endpoints(subject) = &rule.subject else { panic!() };
    assert!(subject.matches(identity(&pod_labels(&[(POD_NAMESPACE_LABEL, "shop")]))));
    assert!(!subject.matches(identity(&pod_labels(&[(POD_NAMESPACE_LABEL, "other")]))));
    let CiliumPeerSelection::Endpoints(to) = &rule.egress[0].peers[0].selection else { panic!() };
    assert!(!to.matches(identity(&pod)) && to.matches(identity(&pod_labels(&[(POD_NAMESPACE_LABEL, "shop")]))));
}

#[test]
fn an_empty_rule_is_default_deny_and_an_empty_list_selects_nothing() {
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{matchLabels: {{org: empire}}}}\n  ingress:\n  - {{}}\n  egress:\n  - toEndpoints: []\n    toPorts: [{{ports: [{{port: \"80\"}}]}}]\n  - toPorts: [{{ports: [{{port: \"53\", protocol: UDP}}]}}]\n"
    ));
    assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
    let rule = &inventory.cilium_policies[0].rules[0];
    assert!(rule.default_deny(Direction::Ingress) && rule.default_deny(Direction::Egress));
    let empty = &rule.ingress[0];
    assert!(empty.peer_field.is_none() && !empty.any_peer());
    let explicit = &rule.egress[0];
    assert_eq!(explicit.peer_field, Some("toEndpoints"));
    assert!(explicit.peers.is_empty() && !explicit.any_peer());
    assert!(rule.egress[1].any_peer(), "ports without a peer field: an L4-only rule for every peer");
}

#[test]
fn entities_cidrs_services_and_fqdns_are_read() {
    let inventory = load(&format!(
        concat!(
            "{}spec:\n  endpointSelector: {{}}\n  egress:\n",
            "  - toEntities: [world, kube-apiserver, world-ipv6]\n",
            "  - toCIDR: [20.1.1.1, 10.0.0.0/8]\n",
            "  - toCIDRSet: [{{cidr: 10.0.0.0/8, except: [10.96.0.0/12]}}, {{cidrGroupRef: partners}}]\n",
            "  - toServices: [{{k8sService: {{serviceName: db}}}}, {{k8sServiceSelector: {{selector: {{matchLabels: {{env: staging}}}}, namespace: other}}}}]\n",
            "  - toFQDNs: [{{matchName: My.Example.com}}, {{matchPattern: \"*.cilium.io\"}}]\n",
            "    toPorts: [{{ports: [{{port: \"443\", protocol: TCP}}]}}]\n",
            "  - toEndpoints: [{{matchLabels: {{k8s-app: kube-dns}}}}]\n",
            "    toPorts: [{{ports: [{{port: \"53\", protocol: ANY}}], rules: {{dns: [{{matchPattern: \"*\"}}]}}}}]\n",
        ),
        CNP
    ));
    assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
    let rule = &inventory.cilium_policies[0].rules[0];
    let kinds: Vec<Vec<CiliumPeerSelection>> =
        rule.egress.iter().map(|r| r.peers.iter().map(|p| p.selection.clone()).collect()).collect();
    assert_eq!(
        kinds[0],
        [CiliumEntity::World, CiliumEntity::KubeApiserver, CiliumEntity::WorldIpv6].map(CiliumPeerSelection::Entity)
    );
    let CiliumPeerSelection::Cidr(single) = &kinds[1][0] else { panic!() };
    assert_eq!(single.cidr.to_string(), "20.1.1.1/32", "a bare address is a /32");
    let CiliumPeerSelection::Cidr(set) = &kinds[2][0] else { panic!() };
    assert_eq!((set.cidr.to_string(), set.except[0].to_string()), ("10.0.0.0/8".into(), "10.96.0.0/12".into()));
    assert!(matches!(&kinds[2][1], CiliumPeerSelection::CidrGroup(name) if name.contains("partners")));
    assert_eq!(
        kinds[3][0],
        CiliumPeerSelection::Service(CiliumServiceRef::Named { namespace: Some("shop".into()), name: "db".into() })
    );
    assert!(
        matches!(&kinds[3][1], CiliumPeerSelection::Service(CiliumServiceRef::Selector { namespace: Some(ns), .. }) if ns == "other")
    );
    let CiliumPeerSelection::Fqdn(name) = &kinds[4][0] else { panic!() };
    assert!(name.matches("my.example.com") && name.text() == "my.example.com.");
    let dns_rule = &rule.egress[5].ports.as_ref().expect("ports")[0];
    assert!(matches!(&dns_rule.l7, Some(L7Rules::Dns(rules)) if rules[0].matches("anything.at.all")));
    assert_eq!(dns_rule.ports[0].protocol, CiliumProtocol::Any);
}

#[test]
fn ports_read_as_ciliums_parser_reads_them() {
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{}}\n  ingress:\n  - toPorts: [{{ports: [{{port: \"0\"}}, {{port: HTTP-Alt}}, {{port: \"010\"}}, {{port: \"80\", endPort: 444}}, {{port: \"8_080\", protocol: SCTP}}, {{port: \"90\", endPort: 80}}]}}]\n"
    ));
    assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
    let ports = &inventory.cilium_policies[0].rules[0].ingress[0].ports.as_ref().expect("ports")[0].ports;
    let numbers: Vec<(CiliumPortNumber, Option<u16>)> = ports.iter().map(|p| (p.port.clone(), p.end_port)).collect();
    assert_eq!(
        numbers,
        [
            (CiliumPortNumber::All, None),
            (CiliumPortNumber::Named("http-alt".into()), None),
            (CiliumPortNumber::Number(8), None),
            (CiliumPortNumber::Number(80), Some(444)),
            (CiliumPortNumber::Number(8080), None),
            (CiliumPortNumber::Number(90), None),
        ],
        "\"010\" is octal in Go's base-0 parse; an endPort below the port is ignored"
    );
    assert!(warnings(&inventory).iter().any(|(_, f, m)| f.ends_with("ports[5].endPort") && m.contains("alone")));
}

#[test]
fn spec_and_specs_together_are_both_enforced_with_a_warning() {
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{}}\n  ingress: [{{}}]\nspecs:\n- endpointSelector: {{}}\n  egress: [{{}}]\n- endpointSelector: {{}}\n  ingressDeny: [{{fromEntities: [world]}}]\n"
    ));
    assert!(errors(&inventory).is_empty());
    let policy = &inventory.cilium_policies[0];
    let fields: Vec<&str> = policy.rules.iter().map(|r| r.field.as_str()).collect();
    assert_eq!(fields, ["spec", "specs[0]", "specs[1]"]);
    assert!(warnings(&inventory)
        .iter()
        .any(|(line, field, m)| *line == 7 && field == "specs" && m.contains("all 3 rules")));
}

#[test]
fn deprecated_requires_and_unknown_fields_warn_and_keep_the_policy() {
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{}}\n  ingress:\n  - fromRequires: [{{matchLabels: {{env: prod}}}}]\n    fromEndpoint: []\n"
    ));
    assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
    let deprecated =
        inventory.diagnostics.iter().find(|d| d.code == DiagnosticCode::DeprecatedField).expect("deprecated warning");
    assert_eq!(deprecated.field.as_deref(), Some("spec.ingress[0].fromRequires"));
    let unknown = inventory.diagnostics.iter().find(|d| d.code == DiagnosticCode::UnknownField).expect("unknown");
    assert!(unknown.hint.as_deref().unwrap_or_default().contains("fromEndpoints"), "{unknown:?}");
    let rule = &inventory.cilium_policies[0].rules[0];
    assert_eq!(rule.ingress[0].requires.len(), 1);
    // The requirement is namespaced as Cilium namespaces fromRequires in a CiliumNetworkPolicy.
    let prod_elsewhere = pod_labels(&[("env", "prod"), (POD_NAMESPACE_LABEL, "other")]);
    assert!(!rule.ingress[0].requires[0].matches(identity(&prod_elsewhere)));
}

#[test]
fn every_input_error_names_line_and_field_and_drops_only_its_object() {
    let cases: &[(&str, &str, &str)] = &[
        ("status: {}\n", "spec", "needs `spec` or `specs`"),
        ("spec:\n  ingress: [{}]\n", "spec.endpointSelector", "needs an endpointSelector"),
        ("spec:\n  endpointSelector: {}\n  nodeSelector: {}\n  ingress: [{}]\n", "spec.nodeSelector", "both"),
        ("spec:\n  nodeSelector: {}\n  ingress: [{}]\n", "spec.nodeSelector", "host policies"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toEntities: [internet]}]\n", "spec.egress[0].toEntities[0]", "unsupported entity"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toEntities: [World]}]\n", "spec.egress[0].toEntities[0]", "did you mean `world`"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toCIDR: [10.0.0.0/33]}]\n", "spec.egress[0].toCIDR[0]", "not a CIDR"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toCIDRSet: [{cidr: 10.0.0.1}]}]\n", "spec.egress[0].toCIDRSet[0].cidr", "not a CIDR"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toCIDRSet: [{cidr: 10.0.0.0/8, except: [11.0.0.0/16]}]}]\n", "spec.egress[0].toCIDRSet[0].except[0]", "does not contain"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toCIDRSet: [{cidr: 10.0.0.0/8, cidrGroupRef: g}]}]\n", "spec.egress[0].toCIDRSet[0]", "exactly one"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}], fromCIDR: [10.0.0.0/8]}]\n", "spec.ingress[0]", "combining"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toServices: [{k8sService: {serviceName: a}}], toPorts: [{ports: [{port: \"80\"}]}]}]\n", "spec.egress[0]", "toServices and toPorts"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: 80}]}]}]\n", "spec.ingress[0].toPorts[0].ports[0].port", "quoted"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"70000\"}]}]}]\n", "spec.ingress[0].toPorts[0].ports[0].port", "not a port"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"08\"}]}]}]\n", "spec.ingress[0].toPorts[0].ports[0].port", "not a port"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"\"}]}]}]\n", "spec.ingress[0].toPorts[0].ports[0].port", "must be specified"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"80\", protocol: tcp}]}]}]\n", "spec.ingress[0].toPorts[0].ports[0].protocol", "case matters"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"80\", endPort: 70000}]}]}]\n", "spec.ingress[0].toPorts[0].ports[0].endPort", "outside 0-65535"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: {http: [{path: \"/v1/(\"}]}}]}]\n", "spec.ingress[0].toPorts[0].rules.http[0].path", "not a valid regular expression"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: {http: [{method: \"[GET\"}]}}]}]\n", "spec.ingress[0].toPorts[0].rules.http[0].method", "not a valid regular expression"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"80\"}], rules: {http: [{path: /}]}}]}]\n", "spec.ingress[0].toPorts[0].rules.http", "only apply to TCP"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"0\", protocol: TCP}], rules: {http: [{path: /}]}}]}]\n", "spec.ingress[0].toPorts[0].rules.http", "port is 0"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"53\", protocol: UDP}], rules: {dns: [{matchName: a.com}]}}]}]\n", "spec.ingress[0].toPorts[0].rules.dns", "not allowed on ingress"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{rules: {dns: [{matchName: a.com}]}}]}]\n", "spec.egress[0].toPorts[0].rules.dns", "port 53"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"53\", endPort: 60}], rules: {dns: [{matchName: a.com}]}}]}]\n", "spec.egress[0].toPorts[0].rules.dns", "port ranges"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: {http: [{}], kafka: [{}]}}]}]\n", "spec.egress[0].toPorts[0].rules", "multiple L7"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: {}}]}]\n", "spec.egress[0].toPorts[0].rules", "sets none"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: {l7: [{a: b}]}}]}]\n", "spec.egress[0].toPorts[0].rules.l7proto", "l7proto"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"9092\", protocol: TCP}], rules: {kafka: [{role: produce, apiKey: fetch}]}}]}]\n", "spec.egress[0].toPorts[0].rules.kafka[0].apiKey", "cannot both"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: {http: [{headerMatches: [{value: x}]}]}}]}]\n", "spec.egress[0].toPorts[0].rules.http[0].headerMatches[0].name", "header name"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toFQDNs: [{matchName: a.com, matchPattern: \"*.a.com\"}]}]\n", "spec.egress[0].toFQDNs[0]", "only one of"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toFQDNs: [{matchName: \"a b.com\"}]}]\n", "spec.egress[0].toFQDNs[0].matchName", "not a DNS name"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"80\"}]}], icmps: [{fields: [{type: 8}]}]}]\n", "spec.egress[0]", "icmps may only"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: \"80\", protocol: TCP}], listener: {name: l, envoyConfig: {name: e}}}]}]\n", "spec.ingress[0].toPorts[0].listener", "not allowed on ingress"),
        ("spec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: \"443\", protocol: TCP}], serverNames: [\"\"]}]}]\n", "spec.egress[0].toPorts[0].serverNames[0]", "empty server name"),
        ("spec:\n  endpointSelector: {matchExpressions: [{key: app, operator: in, values: [a]}]}\n  ingress: [{}]\n", "spec.endpointSelector.matchExpressions[0].operator", "not a valid operator"),
        ("spec:\n  endpointSelector: {matchLabels: {\"k8s:app name\": a}}\n  ingress: [{}]\n", "spec.endpointSelector.matchLabels.k8s:app name", "invalid label key"),
        ("spec:\n  endpointSelector: {}\n  ingress: [{authentication: {mode: maybe}}]\n", "spec.ingress[0].authentication.mode", "authentication mode"),
    ];
    for (body, field, words) in cases {
        let text = format!("{CNP}{body}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: next, namespace: shop}}\n");
        let inventory = load(&text);
        let found = errors(&inventory);
        assert!(
            found.iter().any(|(line, f, message)| f == field && message.contains(words) && *line >= 1),
            "{body}: expected {field} / {words}, got {found:?}"
        );
        assert!(inventory.cilium_policies.is_empty(), "{body}: the object must be left out");
        assert_eq!(inventory.workloads.len(), 1, "{body}: the next document is still read");
    }
    // Host policies: only DNS L7 rules.
    let inventory = load(&format!(
        "{CCNP}spec:\n  nodeSelector: {{}}\n  ingress: [{{toPorts: [{{ports: [{{port: \"80\", protocol: TCP}}], rules: {{http: [{{}}]}}}}]}}]\n"
    ));
    assert!(errors(&inventory)
        .iter()
        .any(|(_, f, m)| f == "spec.ingress[0].toPorts[0].rules.http" && m.contains("host policies")));
    // More than 40 ports in one entry.
    let ports: Vec<String> = (1..=41).map(|p| format!("{{port: \"{p}\"}}")).collect();
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{}}\n  ingress: [{{toPorts: [{{ports: [{}]}}]}}]\n",
        ports.join(", ")
    ));
    assert!(errors(&inventory)
        .iter()
        .any(|(_, f, m)| f == "spec.ingress[0].toPorts[0].ports" && m.contains("at most 40")));
}

#[test]
fn a_rule_without_entries_has_no_effect_and_says_so() {
    for body in ["spec:\n  endpointSelector: {}\n  egress:\n", "spec:\n  endpointSelector: {}\n  ingress: []\n"] {
        let inventory = load(&format!("{CNP}{body}"));
        assert!(errors(&inventory).is_empty(), "{body}");
        assert!(
            warnings(&inventory).iter().any(|(line, f, m)| *line == 4 && f == "spec" && m.contains("no effect")),
            "{body}: {:?}",
            warnings(&inventory)
        );
        assert!(inventory.cilium_policies[0].rules.is_empty(), "{body}");
    }
}

#[test]
fn other_versions_are_skipped_with_a_warning() {
    let inventory = load("apiVersion: cilium.io/v1\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec: {}\n");
    assert!(inventory.cilium_policies.is_empty() && errors(&inventory).is_empty());
    assert!(warnings(&inventory).iter().any(|(_, f, m)| f == "apiVersion" && m.contains("cilium.io/v2")));
}

#[test]
fn regular_expressions_follow_re2_where_the_regex_crate_differs() {
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{}}\n  ingress: [{{toPorts: [{{ports: [{{port: \"80\", protocol: TCP}}], rules: {{http: [{{path: \"\\\\Q/a.b\\\\E/.*\", headers: [\"X-Token: abc\", X-Trace]}}]}}}}]}}]\n"
    ));
    assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
    let port_rule = &inventory.cilium_policies[0].rules[0].ingress[0].ports.as_ref().expect("ports")[0];
    let Some(L7Rules::Http(http)) = &port_rule.l7 else { panic!() };
    let path = http[0].path.as_ref().expect("path");
    assert!(path.matches("/a.b/c") && !path.matches("/axb/c"), "\\Q...\\E quotes its text");
    assert_eq!(
        http[0].headers[0],
        HeaderMatch { name: "x-token".into(), value: Some("abc".into()), secret: false, mismatch: None }
    );
    assert_eq!(http[0].headers[1].value, None);
}

#[test]
fn the_agent_configuration_is_read_from_cilium_config() {
    let inventory = load(concat!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config, namespace: kube-system}\n",
        "data: {enable-policy: Always, cluster-name: prod, policy-cidr-match-mode: nodes, enable-l7-proxy: \"false\"}\n",
    ));
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let config = inventory.cilium_config.as_ref().expect("config");
    assert_eq!(config.enforcement, Some(PolicyEnforcement::Always));
    assert_eq!(config.cluster_name.as_deref(), Some("prod"));
    assert!(config.cidr_match_nodes && !config.l7_proxy);
    let inventory = load(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config, namespace: kube-system}\ndata: {enable-policy: sometimes}\n",
    );
    assert!(errors(&inventory)
        .iter()
        .any(|(line, f, m)| *line == 4 && f == "data.enable-policy" && m.contains("default, always or never")));
    assert!(inventory.cilium_config.is_none());
    // Other ConfigMaps are still skipped.
    let inventory = load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {enable-policy: never}\n");
    assert!(inventory.cilium_config.is_none() && errors(&inventory).is_empty());
}

#[test]
fn hostile_regular_expressions_meet_a_limit() {
    let huge = "(a{1000}){1000}";
    let inventory = load(&format!(
        "{CNP}spec:\n  endpointSelector: {{}}\n  ingress: [{{toPorts: [{{ports: [{{port: \"80\", protocol: TCP}}], rules: {{http: [{{path: \"{huge}\"}}]}}}}]}}]\n"
    ));
    assert!(errors(&inventory).iter().any(|(_, _, m)| m.contains("limit")), "{:?}", inventory.diagnostics);
}

#[test]
fn operators_and_sources_round_trip_in_display() {
    let selector = CiliumSelector {
        requirements: vec![
            CiliumRequirement {
                source: LabelSource::K8s,
                key: "app".into(),
                operator: Operator::In,
                values: vec!["web".into()],
            },
            CiliumRequirement {
                source: LabelSource::Reserved,
                key: "host".into(),
                operator: Operator::DoesNotExist,
                values: vec![],
            },
        ],
    };
    assert_eq!(selector.to_string(), "k8s:app=web,!reserved:host");
}
