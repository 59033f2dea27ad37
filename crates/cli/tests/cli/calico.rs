//! Calico's objects through the real binary: every way Calico's API server refuses one (exit 2, file, line, field
//! and, for a selector, the column inside the expression; the other documents still analysed).

use super::bad_input::GOOD;
use super::*;

/// A GlobalNetworkPolicy that would deny `a/client` → `a/web` if it were valid, with `tail` under `spec`.
fn gnp(tail: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: broken}}\nspec:\n  selector: app == 'web'\n{tail}"
    )
}

/// The line of the document marked `#<`: where the diagnostic must point.
fn marked_line(text: &str) -> u32 {
    let index = text.lines().position(|l| l.contains("#<")).unwrap_or_else(|| panic!("no #< marker in\n{text}"));
    u32::try_from(index + 1).expect("small")
}

struct Case {
    bad: String,
    field: &'static str,
    message: &'static str,
}

fn case(bad: String, field: &'static str, message: &'static str) -> Case {
    Case { bad, field, message }
}

fn policy_cases() -> Vec<Case> {
    let deny = "  ingress:\n  - action: Deny\n";
    vec![
        case(gnp("  order: high #<\n"), "spec.order", "expected a number"),
        case(gnp("  tier: Security #<\n"), "spec.tier", "invalid tier name"),
        case(gnp("  types: [Ingress, Bogus] #<\n"), "spec.types[1]", "not a policy type"),
        case(gnp("  types: [Egress, Egress] #<\n"), "spec.types[1]", "more than once"),
        case(gnp("  types: [Ingress, Egress, Ingress] #<\n"), "spec.types", "at most two"),
        case(gnp("  serviceAccountSelector: \"name == 'x' ||\" #<\n"), "spec.serviceAccountSelector", "column 15"),
        case(gnp("  namespaceSelector: global() #<\n"), "spec.namespaceSelector", "global()"),
        case(gnp("  preDNAT: true #<\n  doNotTrack: true\n  applyOnForward: true\n"), "spec.preDNAT", "cannot both"),
        case(gnp("  preDNAT: true #<\n"), "spec.applyOnForward", "applyOnForward must be true"),
        case(gnp("  preDNAT: true\n  applyOnForward: true\n  egress: #<\n  - action: Allow\n"), "spec.egress", "egress rules"),
        case(gnp("  ingress:\n  - action: Reject #<\n"), "spec.ingress[0].action", "not an action"),
        case(gnp("  ingress:\n  - action: deny #<\n"), "spec.ingress[0].action", "did you mean `Deny`"),
        case(gnp("  ingress:\n  - source: {} #<\n"), "spec.ingress[0].action", "needs an action"),
        case(gnp(&format!("{deny}    ipVersion: 5 #<\n")), "spec.ingress[0].ipVersion", "use 4 or 6"),
        case(gnp(&format!("{deny}    protocol: tcp #<\n")), "spec.ingress[0].protocol", "case matters"),
        case(gnp(&format!("{deny}    protocol: 0 #<\n")), "spec.ingress[0].protocol", "outside 1-255"),
        case(gnp(&format!("{deny}    notProtocol: ICMPv7 #<\n")), "spec.ingress[0].notProtocol", "not a protocol"),
        case(gnp(&format!("{deny}    icmp: {{type: 8}} #<\n")), "spec.ingress[0].icmp", "require protocol ICMP"),
        case(
            gnp(&format!("{deny}    protocol: ICMP\n    icmp: {{code: 0}} #<\n")),
            "spec.ingress[0].icmp",
            "code specified without",
        ),
        case(
            gnp(&format!("{deny}    protocol: ICMP\n    icmp:\n      type: 300 #<\n")),
            "spec.ingress[0].icmp.type",
            "outside 0-254",
        ),
        case(
            gnp(&format!("{deny}    ipVersion: 6\n    protocol: ICMP #<\n")),
            "spec.ingress[0].protocol",
            "requires ipVersion 4",
        ),
        case(
            gnp(&format!("{deny}    source:\n      selector: app = 'client' #<\n")),
            "spec.ingress[0].source.selector",
            "column 5",
        ),
        case(
            gnp(&format!("{deny}    source:\n      notSelector: has(app #<\n")),
            "spec.ingress[0].source.notSelector",
            "column 8",
        ),
        case(
            gnp(&format!("{deny}    source:\n      namespaceSelector: \"team in {{'a' 'b'}}\" #<\n")),
            "spec.ingress[0].source.namespaceSelector",
            "column 14",
        ),
        case(
            gnp(&format!("{deny}    source:\n      namespaceSelector: global() || all() #<\n")),
            "spec.ingress[0].source.namespaceSelector",
            "whole namespaceSelector",
        ),
        case(
            gnp(&format!("{deny}    source:\n      selector: global() #<\n")),
            "spec.ingress[0].source.selector",
            "global() can only",
        ),
        case(
            gnp(&format!("{deny}    source:\n      serviceAccounts: {{selector: \"a ==\"}} #<\n")),
            "spec.ingress[0].source.serviceAccounts.selector",
            "column 5",
        ),
        case(
            gnp(&format!("{deny}    source:\n      nets: [10.0.0.0/33] #<\n")),
            "spec.ingress[0].source.nets[0]",
            "prefix length",
        ),
        case(
            gnp(&format!("{deny}    source:\n      nets: [10.1.2.3] #<\n")),
            "spec.ingress[0].source.nets[0]",
            "not a CIDR",
        ),
        case(
            gnp(&format!("{deny}    source:\n      notNets: [0.0.0.0/0] #<\n")),
            "spec.ingress[0].source.notNets",
            "catch-all",
        ),
        case(
            gnp(&format!("{deny}    ipVersion: 6\n    source:\n      nets: [10.0.0.0/8] #<\n")),
            "spec.ingress[0].source.nets",
            "ipVersion",
        ),
        case(
            gnp("  ingress:\n  - action: Deny #<\n    source: {nets: [10.0.0.0/8]}\n    destination: {nets: ['fd00::/8']}\n"),
            "spec.ingress[0]",
            "both IPv4 and IPv6",
        ),
        case(
            gnp(&format!("{deny}    destination:\n      ports: [80] #<\n")),
            "spec.ingress[0].destination.ports",
            "need a protocol",
        ),
        case(
            gnp(&format!("{deny}    protocol: ICMP\n    destination:\n      notPorts: [80] #<\n")),
            "spec.ingress[0].destination.notPorts",
            "has no ports",
        ),
        case(
            gnp(&format!("{deny}    protocol: TCP\n    destination:\n      ports: ['2000:1000'] #<\n")),
            "spec.ingress[0].destination.ports[0]",
            "min <= max",
        ),
        case(
            gnp(&format!("{deny}    protocol: TCP\n    destination:\n      ports: [0] #<\n")),
            "spec.ingress[0].destination.ports[0]",
            "1-65535",
        ),
        case(
            gnp(&format!("{deny}    protocol: TCP\n    destination:\n      ports: ['80:70000'] #<\n")),
            "spec.ingress[0].destination.ports[0]",
            "1-65535",
        ),
        case(
            gnp(&format!("{deny}    protocol: TCP\n    source:\n      ports: ['web server'] #<\n")),
            "spec.ingress[0].source.ports[0]",
            "not a port",
        ),
        case(
            gnp(&format!("{deny}    protocol: TCP\n    destination:\n      ports: [{{port: 80}}] #<\n")),
            "spec.ingress[0].destination.ports[0]",
            "expected a port number",
        ),
        case(
            gnp(&format!("{deny}    destination:\n      services: {{name: web, namespace: a}} #<\n")),
            "spec.ingress[0].destination.services",
            "not allowed in the destination",
        ),
        case(
            gnp("  egress:\n  - action: Deny\n    source:\n      services: {name: web, namespace: a} #<\n"),
            "spec.egress[0].source.services",
            "not allowed in the source",
        ),
        case(
            gnp("  egress:\n  - action: Deny\n    destination:\n      services: {name: web} #<\n"),
            "spec.egress[0].destination.services.namespace",
            "must name a namespace",
        ),
        case(
            gnp("  egress:\n  - action: Deny\n    destination:\n      services: {namespace: a} #<\n"),
            "spec.egress[0].destination.services.name",
            "service name",
        ),
        case(
            gnp("  egress:\n  - action: Deny\n    destination:\n      selector: app == 'x'\n      services: {name: w, namespace: a} #<\n"),
            "spec.egress[0].destination.services",
            "cannot be combined with selector",
        ),
        case(
            gnp("  egress:\n  - action: Deny\n    protocol: TCP\n    destination: #<\n      services: {name: w, namespace: a}\n      ports: [80]\n"),
            "spec.egress[0].destination",
            "cannot be specified with services",
        ),
        case(gnp("  ingress:\n  - action: Deny\n    http: {methods: [GET]} #<\n"), "spec.ingress[0].http", "only valid on Allow"),
        case(
            gnp("  ingress:\n  - action: Allow\n    protocol: UDP\n    http: {methods: [GET]} #<\n"),
            "spec.ingress[0].http",
            "protocol TCP",
        ),
        case(
            gnp("  egress:\n  - action: Allow\n    http: {methods: [GET]} #<\n"),
            "spec.egress[0].http",
            "not allowed in egress",
        ),
        case(
            gnp("  ingress:\n  - action: Allow\n    http:\n      methods: [GET, GET] #<\n"),
            "spec.ingress[0].http.methods[1]",
            "listed twice",
        ),
        case(
            gnp("  ingress:\n  - action: Allow\n    http:\n      paths: [{exact: api}] #<\n"),
            "spec.ingress[0].http.paths[0].exact",
            "must start with `/`",
        ),
        case(
            gnp("  ingress:\n  - action: Allow\n    http:\n      paths: [{exact: /a, prefix: /b}] #<\n"),
            "spec.ingress[0].http.paths[0]",
            "not both",
        ),
        case(
            gnp(&format!("{deny}    source:\n      nets: [{}] #<\n", vec!["10.0.0.0/8"; 257].join(", "))),
            "spec.ingress[0].source.nets",
            "at most 256",
        ),
        case(
            gnp(&format!("{deny}    protocol: TCP\n    destination:\n      ports: [{}] #<\n", vec!["80"; 51].join(", "))),
            "spec.ingress[0].destination.ports",
            "at most 50",
        ),
        case(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: broken.name.x} #<\nspec: {selector: app == 'web'}\n".into(),
            "metadata.name",
            "invalid GlobalNetworkPolicy name",
        ),
        case(
            "apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: {name: broken}\nspec:\n  stagedAction: Apply #<\n".into(),
            "spec.stagedAction",
            "not a staged action",
        ),
        case(
            "apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: {name: broken}\nspec:\n  stagedAction: Delete #<\n  selector: app == 'web'\n".into(),
            "spec",
            "stagedAction Delete",
        ),
    ]
}

fn other_cases() -> Vec<Case> {
    let tier = |spec: &str, name: &str| {
        format!("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: {name}\nspec:\n{spec}")
    };
    // A missing field is reported on the `spec:` line.
    let hep = |spec: &str| {
        let mark = if spec.contains("#<") { "" } else { " #<" };
        format!("apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {{name: broken}}\nspec:{mark}\n{spec}")
    };
    let set = |kind: &str, meta: &str, spec: &str| {
        format!("apiVersion: crd.projectcalico.org/v1\nkind: {kind}\nmetadata: {meta}\nspec:\n{spec}")
    };
    vec![
        case(tier("  order: 100\n", "security.team #<"), "metadata.name", "tier name"),
        case(tier("  defaultAction: Allow #<\n", "security"), "spec.defaultAction", "Deny or Pass"),
        case(tier("  order: 5 #<\n", "default"), "spec.order", "must be 1000000"),
        case(tier("  order: 1000 #<\n", "kube-admin"), "spec.defaultAction", "must be Pass"),
        case(hep("  interfaceName: eth0\n"), "spec.node", "node must be specified"),
        case(hep("  node: n1\n"), "spec.interfaceName", "at least one of interfaceName or expectedIPs"),
        case(hep("  node: n1\n  expectedIPs: [10.0.0.300] #<\n"), "spec.expectedIPs[0]", "not an IP address"),
        case(
            hep("  node: n1\n  interfaceName: eth0\n  ports:\n  - {name: ssh, port: 22, protocol: ICMP} #<\n"),
            "spec.ports[0].protocol",
            "has no ports",
        ),
        case(
            hep("  node: n1\n  interfaceName: eth0\n  ports:\n  - {name: ssh} #<\n"),
            "spec.ports[0]",
            "needs a name, a port and a protocol",
        ),
        case(
            set("GlobalNetworkSet", "{name: broken}", "  nets: [10.0.0.0/8, 300.0.0.0/8] #<\n"),
            "spec.nets[1]",
            "not a CIDR",
        ),
        case(
            set(
                "NetworkSet",
                "{name: broken, namespace: a, labels: {projectcalico.org/namespace: a}} #<",
                "  nets: [10.0.0.0/8]\n",
            ),
            "metadata.labels",
            "not a valid label name",
        ),
    ]
}

#[test]
fn invalid_calico_objects_are_left_out_with_file_line_field_and_column() {
    for case in policy_cases().into_iter().chain(other_cases()) {
        let line = marked_line(&case.bad);
        let dir = tree(&[("good.yaml", GOOD), ("bad.yaml", &case.bad)]);
        let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
        let name = case.message;
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        let location = format!("bad.yaml:{line}:");
        let diagnostic = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error[") && l.contains(&location) && l.contains(&format!("`{}`", case.field)))
            .unwrap_or_else(|| {
                panic!("{name}: expected an error at {location} on `{}` in\n{}", case.field, run.stderr)
            });
        assert!(diagnostic.contains(case.message), "{name}: expected `{}` in\n{diagnostic}", case.message);
        assert!(
            diagnostic.contains("broken")
                || diagnostic.contains("security")
                || diagnostic.contains("default")
                || diagnostic.contains("kube-admin"),
            "{diagnostic}"
        );
        let pairs = pairs(&json(&run.stdout));
        assert!(
            !pairs.contains(&("a/client[Pod]".to_string(), "b/db[Pod]".to_string())),
            "{name}: the other documents must still be analysed"
        );
    }
}

#[test]
fn a_selector_error_shows_the_expression_and_column() {
    let bad = gnp("  ingress:\n  - action: Deny\n    source:\n      selector: \"app == 'client' && role in ('a')\"\n");
    let dir = tree(&[("good.yaml", GOOD), ("bad.yaml", &bad)]);
    let run = netseg(&["reach", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "bad.yaml:9: GlobalNetworkPolicy broken field `spec.ingress[0].source.selector`: invalid selector \
             `app == 'client' && role in ('a')`: at column 28: expected a set literal"
        ),
        "{}",
        run.stderr
    );
}

/// A security tier that passes `a/client` on to the default tier and denies everything else to `a/web`, and a
/// Kubernetes NetworkPolicy in the default tier that admits `a/client` on port 80 only.
const TIERED: &str = "\
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.web}
spec:
  tier: security
  selector: app == 'web'
  ingress:
  - action: Pass
    source: {selector: app == 'client'}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
";

#[test]
fn can_names_the_calico_tier_policy_rule_file_and_line() {
    let dir = tree(&[("good.yaml", GOOD), ("tiers.yaml", TIERED)]);
    let path = dir.path().display().to_string();
    let run = netseg(&["can", "--cni", "calico", "--from", "a/client", "--to", "a/web", "--port", "80", &path]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "tiers.yaml:6) ingress rule 0 (line 13) passes to the next tier: from selector `app == 'client'`, on TCP 80"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("tiers.yaml:16) ingress rule 0 (line 22) allows"), "{}", run.stdout);
    assert!(run
        .stdout
        .contains("security `GlobalNetworkPolicy security.web` Pass → default `NetworkPolicy a/web` Allow"));

    let run = netseg(&["can", "--cni", "calico", "--from", "a/client", "--to", "a/web", "--port", "81", &path]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("tier `default` (order 1000000): no rule matches TCP 81; the tier's default action denies them"),
        "{}",
        run.stdout
    );

    let run = netseg(&["can", "--cni", "calico", "--from", "b/db", "--to", "a/web", "--port", "80", &path]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("tier `security` (order 100): no rule matches TCP 80; the tier's default action denies them"),
        "{}",
        run.stdout
    );

    for (from, port) in [("a/client", "80"), ("a/client", "81"), ("b/db", "80"), ("a/web", "80")] {
        let args = ["can", "-o", "json", "--cni", "calico", "--from", from, "--to", "a/web", "--port", port, &path];
        let run = netseg(&args);
        super::schemas::check_json_output(&args, &run);
    }
    let args = ["can", "-o", "json", "--cni", "calico", "--from", "a/client", "--to", "a/web", "--port", "81", &path];
    let value = json(&netseg(&args).stdout);
    assert_eq!(value["steps"][1]["by"][0]["kind"], "GlobalNetworkPolicy");
    assert_eq!(value["steps"][1]["by"][0]["line"], 13);
    assert_eq!(value["steps"][1]["by"][1]["kind"], "TierDefault");
    assert_eq!(value["steps"][1]["by"][1]["tier"], "default");
}

#[test]
fn reach_sees_calico_policies_only_where_calico_enforces_them() {
    let dir = tree(&[("good.yaml", GOOD), ("tiers.yaml", TIERED)]);
    let path = dir.path().display().to_string();
    let calico = pairs(&json(&netseg(&["reach", "-o", "json", "--cni", "calico", &path]).stdout));
    assert!(calico.contains(&("a/client[Pod]".to_string(), "a/web[Pod]".to_string())));
    assert!(!calico.contains(&("b/db[Pod]".to_string(), "a/web[Pod]".to_string())), "the security tier denies");
    let run = netseg(&["reach", "-o", "json", "--cni", "cilium", &path]);
    assert!(run.stderr.is_empty() || !run.stderr.contains("unmodelled-policy"), "{}", run.stderr);
}

/// A pre-DNAT policy that reads as if it denied every pod's ingress: Calico applies it at host endpoints only.
const PRE_DNAT: &str = "kind: Pod
metadata: {name: a, namespace: shop, labels: {app: a}}
---
kind: Pod
metadata: {name: b, namespace: shop, labels: {app: b}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge}
spec:
  selector: all()
  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny
";

#[test]
fn pre_dnat_policies_do_not_govern_pods_and_are_reported_and_noted() {
    let dir = tree(&[("edge.yaml", PRE_DNAT)]);
    let path = dir.path().display().to_string();
    let pods = netseg(&["can", "--cni", "calico", "--from", "shop/a", "--to", "shop/b", "--port", "80", &path]);
    assert_eq!(pods.code, 0, "{}", pods.stdout);
    assert!(!pods.stdout.contains("NS172"), "pod to pod passes no host endpoint: {}", pods.stdout);
    let outside = netseg(&["can", "--cni", "calico", "--from", "8.8.8.8", "--to", "shop/b", "--port", "80", &path]);
    assert!(
        outside.stdout.contains("GlobalNetworkPolicy edge (") && outside.stdout.contains("is preDNAT, applyOnForward"),
        "{}",
        outside.stdout
    );
    let audit = netseg(&["audit", "--cni", "calico", "-o", "json", &path]);
    let findings = json(&audit.stdout)["findings"].as_array().expect("findings").clone();
    let ns172: Vec<&serde_json::Value> = findings.iter().filter(|f| f["rule"] == "NS172").collect();
    assert_eq!(ns172.len(), 1, "{}", audit.stdout);
    assert_eq!(ns172[0]["location"]["line"], 7, "the policy's first line");
}
