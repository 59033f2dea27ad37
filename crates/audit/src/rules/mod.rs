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
mod ns180_cilium_policy_inert;
mod ns181_cilium_enforcement_never;
mod ns182_fqdn_without_dns_rule;
mod ns183_cilium_world_egress;
mod ns184_l4_allow_cancels_l7;
mod ns185_cilium_cidr_aimed_at_pods;
mod ns190_mesh_policy_without_proxy;
mod ns191_plaintext_escapes_identity_rule;
mod ns192_mesh_allow_unreachable;
mod ns193_mesh_admits_every_client;
mod ns194_proxy_bypass_port;
mod ns195_ambient_l7_rule_at_ztunnel;
mod ns196_ambient_hbone_blocked;
mod ns197_mesh_only_control;

pub type Check = fn(&AuditContext<'_>, &mut Vec<Finding>);

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
    (&ns180_cilium_policy_inert::RULE, ns180_cilium_policy_inert::check),
    (&ns181_cilium_enforcement_never::RULE, ns181_cilium_enforcement_never::check),
    (&ns182_fqdn_without_dns_rule::RULE, ns182_fqdn_without_dns_rule::check),
    (&ns183_cilium_world_egress::RULE, ns183_cilium_world_egress::check),
    (&ns184_l4_allow_cancels_l7::RULE, ns184_l4_allow_cancels_l7::check),
    (&ns185_cilium_cidr_aimed_at_pods::RULE, ns185_cilium_cidr_aimed_at_pods::check),
    (&ns190_mesh_policy_without_proxy::RULE, ns190_mesh_policy_without_proxy::check),
    (&ns191_plaintext_escapes_identity_rule::RULE, ns191_plaintext_escapes_identity_rule::check),
    (&ns192_mesh_allow_unreachable::RULE, ns192_mesh_allow_unreachable::check),
    (&ns193_mesh_admits_every_client::RULE, ns193_mesh_admits_every_client::check),
    (&ns194_proxy_bypass_port::RULE, ns194_proxy_bypass_port::check),
    (&ns195_ambient_l7_rule_at_ztunnel::RULE, ns195_ambient_l7_rule_at_ztunnel::check),
    (&ns196_ambient_hbone_blocked::RULE, ns196_ambient_hbone_blocked::check),
    (&ns197_mesh_only_control::RULE, ns197_mesh_only_control::check),
];

/// Namespaces that hold at least one workload NetworkPolicies can govern, in order.
pub(crate) fn namespaces_with_workloads(ctx: &AuditContext<'_>) -> Vec<String> {
    let mut namespaces: Vec<String> =
        ctx.governed_workloads().map(|w| ctx.cluster.workloads[w].id.namespace.clone()).collect();
    namespaces.dedup();
    namespaces
}

/// Up to `limit` names, then "and N more".
pub(crate) fn list(names: &[String], limit: usize) -> String {
    if names.len() <= limit {
        names.join(", ")
    } else {
        format!("{} and {} more", names[..limit].join(", "), names.len() - limit)
    }
}
