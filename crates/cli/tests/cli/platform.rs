//! Platform namespaces (issue 12, failure 6): a `kubectl get -A` dump with CoreDNS gave high NS101 on kube-system
//! and NS120 on coredns, which `generate` leaves alone by design, so the audit failed forever. They are reported as
//! low, with a fix a user can act on, and the summary says so.

use super::*;

/// `kubectl get ns,deploy,svc,netpol -A -o yaml`, shortened: CoreDNS in kube-system, an application isolated by a
/// default-deny.
const DUMP: &str = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: kube-system}
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
  spec:
    selector: {matchLabels: {k8s-app: kube-dns}}
    template:
      metadata: {labels: {k8s-app: kube-dns}}
      spec:
        containers:
        - name: coredns
          image: registry.k8s.io/coredns/coredns:v1.11.1
          ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: kube-dns, namespace: kube-system}
  spec:
    selector: {k8s-app: kube-dns}
    ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
  spec:
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny-all, namespace: shop}
  spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
";

#[test]
fn kube_system_findings_are_low_with_a_remedy_and_noted_in_the_summary() {
    let run = netseg_stdin(&["audit", "-o", "json", "-"], DUMP);
    assert_eq!(run.code, 0, "platform findings do not fail the default gate:\n{}", run.stdout);
    let report = json(&run.stdout);
    let platform: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["resource"]["namespace"] == "kube-system" || f["resource"]["name"] == "kube-system")
        .collect();
    let rules: Vec<&str> = platform.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"NS101") && rules.contains(&"NS120"), "{rules:?}");
    for finding in &platform {
        assert!(matches!(finding["severity"].as_str(), Some("low" | "info")), "{finding}");
        let fix = finding["remediation"].as_str().unwrap_or_default();
        assert!(fix.contains("platform namespace") && fix.contains("CoreDNS"), "{fix}");
    }
    let notes = report["notes"].as_array().expect("notes");
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("platform namespaces (kube-node-lease, kube-public, kube-system)"))),
        "{notes:?}"
    );
    let text = netseg_stdin(&["audit", "-"], DUMP);
    assert!(text.stdout.contains("note: ") && text.stdout.contains("reported as low"), "{}", text.stdout);
}
