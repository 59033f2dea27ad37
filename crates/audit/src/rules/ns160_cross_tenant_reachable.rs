use crate::rules::list;
use crate::{declare_rule, AuditContext, Finding};
use std::collections::BTreeMap;

declare_rule! {
    /// ## What it does
    /// With `tenantLabel` set in `.netseg.yaml` (a namespace label such as `tenant` or `team`), reports every
    /// workload that workloads of another tenant can reach, through all the tiers (admin, NetworkPolicy,
    /// baseline) and the CNI's enforcement. Namespaces without the label belong to no tenant and are not compared.
    ///
    /// ## Why it matters
    /// Tenant isolation is the promise of a shared cluster: one team's compromised pod must not reach another
    /// team's services. It is usually built from several layers (an admin Deny with Pass exceptions, namespace
    /// default-deny), and a gap in any of them reopens the path.
    ///
    /// ## Example
    /// ```yaml
    /// # .netseg.yaml
    /// tenantLabel: tenant
    /// # namespace blog {tenant: blog}, namespace shop {tenant: shop}, no policy between them
    /// ```
    ///
    /// ## How to fix
    /// Deny traffic between tenants at the admin tier (an AdminNetworkPolicy per tenant that passes its own
    /// namespaces to NetworkPolicy and denies every other), or isolate each namespace with default-deny.
    pub static RULE = NS160 "cross-tenant-reachable" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let Some(label) = ctx.config.tenant_label.as_deref() else { return };
    let tenant = |workload: usize| -> Option<&str> {
        let namespace = ctx.cluster.namespace(&ctx.cluster.workloads[workload].id.namespace)?;
        namespace.labels.get(label).map(|v| &**v)
    };
    // Per destination, the sources of other tenants that reach it.
    let mut reached: BTreeMap<usize, Vec<(usize, netseg_engine::PortSet)>> = BTreeMap::new();
    let all = netseg_engine::PortSet::all();
    for dst in 0..ctx.cluster.workloads.len() {
        let Some(to) = tenant(dst) else { continue };
        let sources: Vec<_> = ctx
            .sources_of(dst, &all)
            .into_iter()
            .filter(|(src, _)| tenant(*src).is_some_and(|from| from != to))
            .collect();
        if !sources.is_empty() {
            reached.insert(dst, sources);
        }
    }
    for (dst, sources) in reached {
        let names: Vec<String> = sources
            .iter()
            .map(|(src, ports)| {
                format!("{} (tenant {}) on {ports}", ctx.workload_name(*src), tenant(*src).unwrap_or(""))
            })
            .collect();
        let (resource, location) = ctx.workload_resource(dst);
        let witness = sources.first().and_then(|(src, ports)| ctx.witness_between(*src, dst, ports));
        let mut finding = Finding::new(&RULE, resource, location)
            .message(format!(
                "{} (tenant {}) is reachable from {} workload(s) of other tenants",
                ctx.workload_name(dst),
                tenant(dst).unwrap_or(""),
                sources.len()
            ))
            .evidence(format!("can connect: {}", list(&names, 5)))
            .remediation(format!(
                "deny traffic from other tenants at the admin tier (an AdminNetworkPolicy for tenant `{}` that passes its own namespaces and denies the rest), or isolate `{}` with default-deny",
                tenant(dst).unwrap_or(""),
                ctx.cluster.workloads[dst].id.namespace
            ));
        finding.witness = witness;
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::context::AuditOptions;
    use crate::testing::*;

    const TENANTS: &str = "
kind: Namespace
metadata: {name: blog, labels: {tenant: blog}}
---
kind: Namespace
metadata: {name: shop, labels: {tenant: shop}}
---
kind: Deployment
metadata: {name: web, namespace: blog}
spec: {template: {metadata: {labels: {app: web}}}}
---
kind: Deployment
metadata: {name: api, namespace: shop}
spec: {template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api, ports: [{containerPort: 8080}]}]}}}
";

    /// One policy per tenant: its own namespaces pass to NetworkPolicy, every other is denied.
    fn isolation(tenant: &str, priority: u32) -> String {
        format!("---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: isolate-{tenant}}}\nspec:\n  priority: {priority}\n  subject: {{namespaces: {{matchLabels: {{tenant: {tenant}}}}}}}\n  ingress:\n  - {{name: same-tenant, action: Pass, from: [{{namespaces: {{matchLabels: {{tenant: {tenant}}}}}}}]}}\n  - {{name: others, action: Deny, from: [{{namespaces: {{}}}}]}}\n")
    }

    fn config() -> Config {
        Config { tenant_label: Some("tenant".into()), ..Config::default() }
    }

    #[test]
    fn open_tenants_fail() {
        let report = audit_yaml_with(TENANTS, &config(), &AuditOptions::default());
        assert_eq!(names(&report, "NS160"), ["blog/web", "shop/api"]);
        let witness = of(&report, "NS160")[1].witness.clone().expect("witness");
        assert_eq!((witness.from.as_str(), witness.to.as_str()), ("blog/web[Deployment]", "shop/api[Deployment]"));
    }

    #[test]
    fn admin_isolation_passes() {
        let both = format!("{TENANTS}{}{}", isolation("blog", 1), isolation("shop", 2));
        let report = audit_yaml_with(&both, &config(), &AuditOptions::default());
        assert!(names(&report, "NS160").is_empty(), "{:?}", names(&report, "NS160"));
        // Isolating one tenant leaves the other reachable.
        let one = format!("{TENANTS}{}", isolation("shop", 1));
        let report = audit_yaml_with(&one, &config(), &AuditOptions::default());
        assert_eq!(names(&report, "NS160"), ["blog/web"]);
    }

    #[test]
    fn without_a_tenant_label_nothing_is_compared() {
        assert!(names(&audit_yaml(TENANTS), "NS160").is_empty());
    }
}
