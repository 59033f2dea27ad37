//! A deterministic synthetic cluster for tests at scale: `namespaces` namespaces of `per_namespace` workloads each,
//! plus kube-system with CoreDNS. Most namespaces are segmented as a careful team would do it (default-deny both
//! ways, DNS, web ← anyone on 8080, web → api on 8443, api → cache and database); every tenth is left flat (no
//! policy), so the picture has both, and flat namespaces reach the web tier of every other namespace.

use std::fmt::Write;
use std::path::Path;

/// The workload roles, by position in a namespace: name suffix, container port, port name.
const ROLES: [(&str, u16, &str); 4] =
    [("web", 8080, "http"), ("api", 8443, "https"), ("cache", 6379, "redis"), ("db", 5432, "postgres")];

pub fn namespace_name(index: usize) -> String {
    format!("team-{index:03}")
}

pub fn workload_name(index: usize) -> String {
    format!("w{index:02}-{}", ROLES[index % ROLES.len()].0)
}

/// Whether the generator leaves this namespace without any policy.
pub fn is_flat(namespace: usize) -> bool {
    namespace % 10 == 0
}

/// Writes one YAML file per namespace into `dir`.
pub fn write_cluster(dir: &Path, namespaces: usize, per_namespace: usize) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut system = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n---\n");
    system.push_str(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coredns, namespace: kube-system}\nspec:\n  selector: {matchLabels: {k8s-app: kube-dns}}\n  template:\n    metadata: {labels: {k8s-app: kube-dns}}\n    spec: {containers: [{name: coredns, image: coredns:1.11, ports: [{containerPort: 53, protocol: UDP}, {containerPort: 53, protocol: TCP}]}]}\n",
    );
    std::fs::write(dir.join("kube-system.yaml"), system).expect("write");
    for ns in 0..namespaces {
        let name = namespace_name(ns);
        let mut out = String::new();
        let _ = writeln!(out, "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{team: t{ns}}}}}");
        for w in 0..per_namespace {
            let (role, port, port_name) = ROLES[w % ROLES.len()];
            let workload = workload_name(w);
            let _ = writeln!(
                out,
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {workload}, namespace: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {workload}}}}}\n  template:\n    metadata: {{labels: {{app: {workload}, tier: {role}}}}}\n    spec: {{containers: [{{name: main, image: registry.example/{role}:1.0, ports: [{{name: {port_name}, containerPort: {port}}}]}}]}}"
            );
        }
        if !is_flat(ns) {
            out.push_str(&segmentation_policies(&name));
        }
        std::fs::write(dir.join(format!("{name}.yaml")), out).expect("write");
    }
}

fn segmentation_policies(ns: &str) -> String {
    let policy = |name: &str, spec: &str| {
        format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}\n")
    };
    [
        policy("default-deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]"),
        policy(
            "allow-dns",
            "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]",
        ),
        policy("web-ingress", "  podSelector: {matchLabels: {tier: web}}\n  ingress:\n  - ports: [{port: 8080}]"),
        policy(
            "web-to-api",
            "  podSelector: {matchLabels: {tier: web}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {matchLabels: {tier: api}}}]\n    ports: [{port: 8443}]",
        ),
        policy(
            "api-from-web",
            "  podSelector: {matchLabels: {tier: api}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {tier: web}}}]\n    ports: [{port: https}]",
        ),
        policy(
            "api-to-data",
            "  podSelector: {matchLabels: {tier: api}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {matchExpressions: [{key: tier, operator: In, values: [cache, db]}]}}]\n    ports: [{port: 6379}, {port: 5432}]",
        ),
        policy(
            "data-from-api",
            "  podSelector: {matchExpressions: [{key: tier, operator: In, values: [cache, db]}]}\n  ingress:\n  - from: [{podSelector: {matchLabels: {tier: api}}}]\n    ports: [{port: redis}, {port: postgres}]",
        ),
    ]
    .concat()
}
