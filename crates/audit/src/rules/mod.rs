//! The registry: every rule, in catalog order. Adding a rule is its module, its line here, and a fixture.

use crate::{AuditContext, Finding, RuleMeta};

mod ns101_namespace_without_policy;
mod ns102_no_default_deny_ingress;
mod ns103_no_default_deny_egress;
mod ns110_host_network;
mod ns111_host_port;
mod ns120_metadata_reachable;
mod ns121_api_server_reachable;
mod ns122_kube_system_reachable;
mod ns123_node_reachable;
mod ns124_internet_egress;
mod ns125_sensitive_port_exposed;
mod ns126_open_to_all_namespaces;
mod ns130_cni_not_enforcing;
mod ns131_cni_unknown;
mod ns132_unmodelled_policy;
mod ns140_policy_selects_nothing;
mod ns141_peer_selects_nothing;
mod ns142_unresolved_named_port;
mod ns143_ignored_rules;
pub(crate) mod ns144_malformed_policy;
pub(crate) mod ns145_dns_blocked;
mod ns146_allow_all_policy;
mod ns147_declared_flow_blocked;
mod ns148_unused_allowance;
mod ns150_admin_same_priority;
mod ns151_shadowed_admin_rule;
mod ns152_baseline_not_default;
mod ns160_cross_tenant_reachable;
mod ns170_calico_pass_to_profile;
mod ns171_calico_tier_drops_unmatched;
mod ns172_calico_host_endpoint_policy;
mod ns180_cilium_policy_inert;
mod ns181_cilium_enforcement_never;
mod ns182_fqdn_without_dns_rule;
mod ns183_cilium_world_egress;
mod ns184_l4_allow_cancels_l7;
mod ns185_cilium_cidr_aimed_at_pods;
mod ns186_cilium_deny_cuts_allow;
mod ns187_cilium_host_policy;
mod ns188_ipblock_ignored_for_pods;
mod ns190_mesh_policy_without_proxy;
mod ns191_plaintext_escapes_identity_rule;
mod ns192_mesh_allow_unreachable;
mod ns193_mesh_admits_every_client;
mod ns194_proxy_bypass_port;
mod ns195_ambient_l7_rule_at_ztunnel;
mod ns196_ambient_hbone_blocked;
mod ns197_mesh_only_control;
mod ns198_deny_rule_blocks_tcp_port;

pub type Check = fn(&AuditContext<'_>, &mut Vec<Finding>);

/// Whether a rule that reads the application's declared flows (`AuditOptions::intent`) is enabled: inferring
/// them is the costliest step before the rules on large clusters, and nothing else reads them.
pub fn intent_read(config: &crate::Config) -> bool {
    config.enabled(&ns147_declared_flow_blocked::RULE) || config.enabled(&ns148_unused_allowance::RULE)
}

/// Whether a rule runs on a core of its own while the others run in turn on this one. NS147 visits the flows the
/// application declares (millions at tier L) and takes about as long as every other rule together; the others
/// question the factored answer, share its memo of addresses and are each short, so they stay on one core (run
/// side by side, two of them held their working sets at once and tier XL went over 2 GiB).
pub fn runs_aside(rule: &RuleMeta) -> bool {
    rule.code == ns147_declared_flow_blocked::RULE.code
}

pub static REGISTRY: &[(&RuleMeta, Check)] = &[
    (&ns101_namespace_without_policy::RULE, ns101_namespace_without_policy::check),
    (&ns102_no_default_deny_ingress::RULE, ns102_no_default_deny_ingress::check),
    (&ns103_no_default_deny_egress::RULE, ns103_no_default_deny_egress::check),
    (&ns110_host_network::RULE, ns110_host_network::check),
    (&ns111_host_port::RULE, ns111_host_port::check),
    (&ns120_metadata_reachable::RULE, ns120_metadata_reachable::check),
    (&ns121_api_server_reachable::RULE, ns121_api_server_reachable::check),
    (&ns122_kube_system_reachable::RULE, ns122_kube_system_reachable::check),
    (&ns123_node_reachable::RULE, ns123_node_reachable::check),
    (&ns124_internet_egress::RULE, ns124_internet_egress::check),
    (&ns125_sensitive_port_exposed::RULE, ns125_sensitive_port_exposed::check),
    (&ns126_open_to_all_namespaces::RULE, ns126_open_to_all_namespaces::check),
    (&ns130_cni_not_enforcing::RULE, ns130_cni_not_enforcing::check),
    (&ns131_cni_unknown::RULE, ns131_cni_unknown::check),
    (&ns132_unmodelled_policy::RULE, ns132_unmodelled_policy::check),
    (&ns140_policy_selects_nothing::RULE, ns140_policy_selects_nothing::check),
    (&ns141_peer_selects_nothing::RULE, ns141_peer_selects_nothing::check),
    (&ns142_unresolved_named_port::RULE, ns142_unresolved_named_port::check),
    (&ns143_ignored_rules::RULE, ns143_ignored_rules::check),
    (&ns144_malformed_policy::RULE, ns144_malformed_policy::check),
    (&ns145_dns_blocked::RULE, ns145_dns_blocked::check),
    (&ns146_allow_all_policy::RULE, ns146_allow_all_policy::check),
    (&ns147_declared_flow_blocked::RULE, ns147_declared_flow_blocked::check),
    (&ns148_unused_allowance::RULE, ns148_unused_allowance::check),
    (&ns150_admin_same_priority::RULE, ns150_admin_same_priority::check),
    (&ns151_shadowed_admin_rule::RULE, ns151_shadowed_admin_rule::check),
    (&ns152_baseline_not_default::RULE, ns152_baseline_not_default::check),
    (&ns160_cross_tenant_reachable::RULE, ns160_cross_tenant_reachable::check),
    (&ns170_calico_pass_to_profile::RULE, ns170_calico_pass_to_profile::check),
    (&ns171_calico_tier_drops_unmatched::RULE, ns171_calico_tier_drops_unmatched::check),
    (&ns172_calico_host_endpoint_policy::RULE, ns172_calico_host_endpoint_policy::check),
    (&ns180_cilium_policy_inert::RULE, ns180_cilium_policy_inert::check),
    (&ns181_cilium_enforcement_never::RULE, ns181_cilium_enforcement_never::check),
    (&ns182_fqdn_without_dns_rule::RULE, ns182_fqdn_without_dns_rule::check),
    (&ns183_cilium_world_egress::RULE, ns183_cilium_world_egress::check),
    (&ns184_l4_allow_cancels_l7::RULE, ns184_l4_allow_cancels_l7::check),
    (&ns185_cilium_cidr_aimed_at_pods::RULE, ns185_cilium_cidr_aimed_at_pods::check),
    (&ns186_cilium_deny_cuts_allow::RULE, ns186_cilium_deny_cuts_allow::check),
    (&ns187_cilium_host_policy::RULE, ns187_cilium_host_policy::check),
    (&ns188_ipblock_ignored_for_pods::RULE, ns188_ipblock_ignored_for_pods::check),
    (&ns190_mesh_policy_without_proxy::RULE, ns190_mesh_policy_without_proxy::check),
    (&ns191_plaintext_escapes_identity_rule::RULE, ns191_plaintext_escapes_identity_rule::check),
    (&ns192_mesh_allow_unreachable::RULE, ns192_mesh_allow_unreachable::check),
    (&ns193_mesh_admits_every_client::RULE, ns193_mesh_admits_every_client::check),
    (&ns194_proxy_bypass_port::RULE, ns194_proxy_bypass_port::check),
    (&ns195_ambient_l7_rule_at_ztunnel::RULE, ns195_ambient_l7_rule_at_ztunnel::check),
    (&ns196_ambient_hbone_blocked::RULE, ns196_ambient_hbone_blocked::check),
    (&ns197_mesh_only_control::RULE, ns197_mesh_only_control::check),
    (&ns198_deny_rule_blocks_tcp_port::RULE, ns198_deny_rule_blocks_tcp_port::check),
];

/// Namespaces that hold at least one workload NetworkPolicies can govern, in order.
/// The namespaces with governed workloads, each with its governed workloads, in the cluster's order: grouped in
/// one pass (a scan of every workload per namespace was quadratic at 10,000 namespaces).
pub(crate) fn workloads_by_namespace(ctx: &AuditContext<'_>) -> Vec<(String, Vec<usize>)> {
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for workload in ctx.governed_workloads() {
        let namespace = ctx.cluster.workloads[workload].id.namespace.as_str();
        let slot = *index.entry(namespace).or_insert_with(|| {
            groups.push((namespace.to_string(), Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(workload);
    }
    groups
}

/// The addresses of the pods on the pod network, with their workloads' names: what the rules about address
/// blocks that Cilium never matches against pods (NS185, NS188) test the blocks against.
pub(crate) struct PodAddresses(Vec<(std::net::IpAddr, String)>);

impl PodAddresses {
    pub(crate) fn of(cluster: &netseg_model::Cluster) -> PodAddresses {
        PodAddresses(
            cluster
                .workloads
                .iter()
                .flat_map(|w| {
                    w.pods
                        .iter()
                        .filter(|p| !p.facts.host_network)
                        .flat_map(move |p| p.facts.ips.iter().map(move |ip| (*ip, w.id.to_string())))
                })
                .collect(),
        )
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many of the addresses the block covers, and the first `limit` of them as "workload at address".
    pub(crate) fn covered_by(&self, block: &netseg_model::IpBlock, limit: usize) -> (usize, Vec<String>) {
        let covered: Vec<&(std::net::IpAddr, String)> = self.0.iter().filter(|(ip, _)| block.contains(*ip)).collect();
        (covered.len(), covered.iter().take(limit).map(|(ip, w)| format!("{w} at {ip}")).collect())
    }
}

/// Up to `limit` names, then "and N more".
pub(crate) fn list(names: &[String], limit: usize) -> String {
    if names.len() <= limit {
        names.join(", ")
    } else {
        format!("{} and {} more", names[..limit].join(", "), names.len() - limit)
    }
}

/// Above this many governed workloads, the rules about what one workload reaches or is reached by (NS120 to
/// NS125) report the workloads of a namespace that the answer cannot tell apart once, as a group, instead of once
/// each: at 50,000 pods a flat cluster would otherwise get tens of thousands of findings that say the same thing.
/// At or below it every workload keeps its own finding. The same scale at which `audit -o html` opens on
/// namespaces.
pub const GROUP_ABOVE: usize = 300;

/// A rule's subjects as the groups its findings are about, in order of each group's first workload. Up to
/// [`GROUP_ABOVE`] governed workloads every workload is a group of its own. Above it, the workloads of one
/// namespace with the same `verdict` form one group: `verdict` is what the rule's finding depends on (the
/// workload's situation in the effective answer, what it reaches, its sensitive ports), so that one finding, asked
/// and worded for the group's first workload, holds for each. A workload whose own annotation suppresses the rule
/// stays alone, so that the suppression stays exact.
pub(crate) fn subject_groups<K: std::hash::Hash + Eq>(
    ctx: &AuditContext<'_>,
    rule: &RuleMeta,
    workloads: impl IntoIterator<Item = usize>,
    verdict: impl Fn(usize) -> K,
) -> Vec<Vec<usize>> {
    let workloads: Vec<usize> = workloads.into_iter().collect();
    if ctx.governed_workloads().count() <= GROUP_ABOVE {
        return workloads.into_iter().map(|w| vec![w]).collect();
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index: std::collections::HashMap<(&str, K), usize> = std::collections::HashMap::new();
    for w in workloads {
        let workload = &ctx.cluster.workloads[w];
        if workload.ignore.covers(rule.code, rule.name) {
            groups.push(vec![w]);
            continue;
        }
        let at = *index.entry((workload.id.namespace.as_str(), verdict(w))).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(w);
    }
    groups
}

/// The grouping of the rules about what a workload's egress reaches (NS120, NS121, NS123, NS124): its egress
/// situations, which decide what it may send to every address and why.
pub(crate) fn egress_groups(ctx: &AuditContext<'_>, rule: &RuleMeta) -> Vec<Vec<usize>> {
    let answer = ctx.effective.answer();
    subject_groups(ctx, rule, ctx.governed_workloads(), |w| answer.situations_of(w, netseg_model::Direction::Egress))
}

/// Who a group's finding is about: its one workload, or "N workloads of namespace `X` (the first few)", with the
/// namespace as the resource; `plural` says whether the words take a plural verb.
pub(crate) struct Subject {
    pub words: String,
    pub plural: bool,
    pub resource: crate::Resource,
    pub location: Option<netseg_model::Location>,
}

pub(crate) fn subject(ctx: &AuditContext<'_>, group: &[usize]) -> Subject {
    let first = group[0];
    if group.len() == 1 {
        let (resource, location) = ctx.workload_resource(first);
        return Subject { words: ctx.workload_name(first), plural: false, resource, location };
    }
    let namespace = &ctx.cluster.workloads[first].id.namespace;
    let names: Vec<String> = group.iter().take(3).map(|&w| ctx.workload_name(w)).collect();
    let shown = list_of(&names, group.len() as u64);
    let location = ctx
        .cluster
        .namespace(namespace)
        .and_then(|ns| ns.location.clone())
        .or_else(|| Some(ctx.cluster.workloads[first].location.clone()));
    Subject {
        words: format!("{} workloads of namespace `{namespace}` ({shown})", group.len()),
        plural: true,
        resource: crate::Resource { kind: "Namespace".into(), namespace: None, name: namespace.clone() },
        location,
    }
}

/// `names`, the first of `total`, then "and N more" when there are more.
pub(crate) fn list_of(names: &[String], total: u64) -> String {
    let more = total.saturating_sub(names.len() as u64);
    if more == 0 {
        names.join(", ")
    } else {
        format!("{} and {more} more", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    /// `count` Deployments in each of `namespaces`, every other one a Redis, plus a kube-system workload.
    fn many(namespaces: &[&str], count: usize) -> String {
        let mut text = String::from("kind: Deployment\nmetadata: {name: metrics, namespace: kube-system}\nspec: {template: {metadata: {labels: {app: metrics}}, spec: {containers: [{name: m, ports: [{containerPort: 10250}]}]}}}\n");
        for ns in namespaces {
            for i in 0..count {
                let port = if i % 2 == 0 { 6379 } else { 8080 };
                text.push_str(&format!("---\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec: {{template: {{metadata: {{labels: {{app: app-{i}}}}}, spec: {{containers: [{{name: c, ports: [{{containerPort: {port}}}]}}]}}}}}}\n"));
            }
        }
        text
    }

    #[test]
    fn at_scale_the_workloads_of_a_namespace_with_one_answer_are_one_finding() {
        let report = audit_yaml(&many(&["a", "b"], 160));
        for code in ["NS120", "NS121", "NS122", "NS123", "NS124"] {
            // One finding per namespace; kube-system's one workload keeps its own (NS122 leaves kube-system out).
            let findings: Vec<_> = of(&report, code).into_iter().filter(|f| f.resource.name != "metrics").collect();
            assert_eq!(findings.len(), 2, "{code}: {:?}", names(&report, code));
            assert_eq!(findings[0].resource.kind, "Namespace");
            assert!(
                findings[0].message.starts_with(
                    "160 workloads of namespace `a` (a/app-0[Deployment], a/app-1[Deployment], a/app-10[Deployment] and 157 more)"
                ),
                "{}",
                findings[0].message
            );
            let witness = findings[0].witness.as_ref().expect("a witness");
            assert!(witness.from.starts_with("a/"), "{witness:?}");
        }
        // The datastores of a namespace together, with the others' count: 80 Redis each, reached by 320 workloads.
        let redis = of(&report, "NS125");
        assert_eq!(redis.len(), 2, "{:?}", names(&report, "NS125"));
        assert!(redis[0].message.starts_with("80 workloads of namespace `a`"), "{}", redis[0].message);
        assert!(
            redis[0].message.contains("open to other namespaces:") && redis[0].message.contains("and 157 more"),
            "{}",
            redis[0].message
        );
        assert!(redis[0].evidence.contains("and 314 more"), "{}", redis[0].evidence);
        assert!(redis[0].witness.is_some());
    }

    #[test]
    fn up_to_the_threshold_every_workload_keeps_its_finding() {
        let report = audit_yaml(&many(&["a"], 150));
        assert_eq!(of(&report, "NS120").len(), 151);
        assert_eq!(of(&report, "NS125").len(), 75);
        assert!(of(&report, "NS125").iter().all(|f| f.resource.kind == "Deployment"));
    }

    #[test]
    fn the_declared_flows_are_inferred_while_ns147_or_ns148_is_enabled() {
        let config = |text: &str| crate::Config::parse(text).expect("config");
        assert!(super::intent_read(&config("{}")));
        assert!(super::intent_read(&config("rules: {NS147: {enabled: false}}")), "NS148 still reads them");
        assert!(super::intent_read(&config(
            "rules: {declared-flow-blocked: {enabled: true}, NS148: {enabled: false}}"
        )));
        assert!(!super::intent_read(&config("rules: {NS147: {enabled: false}, unused-allowance: {enabled: false}}")));
    }
}
