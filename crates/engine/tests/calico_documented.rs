//! Calico's documented evaluation rules (docs.tigera.io, "Tier" reference and "Get started with policy tiers"),
//! each stated as netseg's own fixture with the outcome the documentation gives.

use netseg_engine::{Analysis, Endpoint, EngineOptions, PortSet};
use netseg_model::load::{load_bytes, Inventory};
use netseg_model::Cluster;
use std::sync::Arc;

fn cluster(text: &str) -> Cluster {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("docs.yaml"), text.as_bytes(), false);
    assert!(
        inventory.diagnostics.iter().all(|d| d.severity != netseg_model::Severity::Error),
        "{:?}",
        inventory.diagnostics
    );
    Cluster::from_inventory(inventory)
}

const PODS: &str = "kind: Pod\nmetadata: {name: frontend, namespace: shop, labels: {app: frontend}}\n---\n\
    kind: Pod\nmetadata: {name: backend, namespace: shop, labels: {app: backend}}\n---\n";

fn allowed(text: &str) -> PortSet {
    let c = cluster(&format!("{PODS}{text}"));
    let a = Analysis::with_options(&c, &EngineOptions { calico: true, ..EngineOptions::default() });
    let pod = |name: &str| Endpoint::Pod {
        workload: c.workloads.iter().position(|w| w.id.name == name).expect("pod"),
        pod: 0,
    };
    a.allowed(pod("frontend"), pod("backend"))
}

fn tier(name: &str, order: u32, default_action: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {{order: {order}, defaultAction: {default_action}}}\n---\n")
}

fn gnp(name: &str, tier: &str, order: u32, action: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: {name}}}\n\
         spec: {{tier: {tier}, order: {order}, selector: app == 'backend', ingress: [{{action: {action}}}]}}\n---\n"
    )
}

/// "Tiers are sorted by their order, smallest number first": the first tier's Deny wins over a later Allow.
#[test]
fn tiers_go_smallest_order_first() {
    let text = format!(
        "{}{}{}{}",
        tier("platform", 100, "Deny"),
        tier("security", 200, "Deny"),
        gnp("security.allow", "security", 1, "Allow"),
        gnp("platform.deny", "platform", 1, "Deny")
    );
    assert!(allowed(&text).is_empty());
    let swapped = text.replace("order: 100, defaultAction", "order: 300, defaultAction");
    assert!(allowed(&swapped).is_all());
}

/// "If a policy in the tier passes the packet, the next tier containing a policy that applies to the endpoint
/// processes it": a tier in between whose policies select other endpoints is skipped.
#[test]
fn pass_goes_to_the_next_tier_that_applies() {
    let other = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: middle.other}\n\
        spec: {tier: middle, selector: app == 'nothing', ingress: [{action: Deny}]}\n---\n";
    let text = format!(
        "{}{}{}{}{other}{}",
        tier("first", 100, "Deny"),
        tier("middle", 200, "Deny"),
        tier("last", 300, "Deny"),
        gnp("first.pass", "first", 1, "Pass"),
        gnp("last.allow", "last", 1, "Allow")
    );
    assert!(allowed(&text).is_all());
}

/// "If the tier applies to the endpoint but takes no action on the packet, the packet is dropped", unless the tier's
/// defaultAction is Pass.
#[test]
fn a_tier_that_applies_and_decides_nothing_drops_unless_it_passes() {
    let log_only = gnp("quiet.log", "quiet", 1, "Log");
    assert!(allowed(&format!("{}{log_only}", tier("quiet", 100, "Deny"))).is_empty());
    assert!(allowed(&format!("{}{log_only}", tier("quiet", 100, "Pass"))).is_all());
}

/// Within a tier, policies go by order: a lower order decides first.
#[test]
fn within_a_tier_the_lower_order_decides() {
    let text = format!(
        "{}{}{}",
        tier("app", 100, "Deny"),
        gnp("app.deny", "app", 20, "Deny"),
        gnp("app.allow", "app", 10, "Allow")
    );
    assert!(allowed(&text).is_all());
    let text = format!(
        "{}{}{}",
        tier("app", 100, "Deny"),
        gnp("app.deny", "app", 10, "Deny"),
        gnp("app.allow", "app", 20, "Allow")
    );
    assert!(allowed(&text).is_empty());
}

/// Kubernetes NetworkPolicies live in the default tier; a tier ordered before it decides first.
#[test]
fn kubernetes_policies_sit_in_the_default_tier() {
    let knp = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: shop}\n\
        spec: {podSelector: {}, ingress: [{}]}\n---\n";
    assert!(allowed(&format!("{knp}{}{}", tier("security", 100, "Deny"), gnp("security.deny", "security", 1, "Deny")))
        .is_empty());
    // The default tier's order is 1,000,000: a tier ordered after it comes too late.
    assert!(
        allowed(&format!("{knp}{}{}", tier("late", 2_000_000, "Deny"), gnp("late.deny", "late", 1, "Deny"))).is_all()
    );
}
