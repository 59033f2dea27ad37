use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports containers that bind a `hostPort`, outside the workloads allowed on the host network.
    ///
    /// ## Why it matters
    /// A host port is opened on the node's address. Traffic to it arrives from wherever the node is reachable,
    /// and many CNIs apply no NetworkPolicy to it, so the port bypasses the segmentation the namespace has.
    ///
    /// ## Example
    /// ```yaml
    /// ports:
    /// - containerPort: 9100
    ///   hostPort: 9100
    /// ```
    ///
    /// ## How to fix
    /// Remove `hostPort` and expose the port through a Service (ClusterIP, or NodePort/LoadBalancer when it must
    /// be reachable from outside), so that policies govern who reaches it.
    pub static RULE = NS111 "host-port" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (w, workload) in ctx.cluster.workloads.iter().enumerate() {
        if ctx.config.host_network_allowed(&workload.id.namespace, &workload.id.name) || ctx.is_cni_component(w) {
            continue;
        }
        let mut host_ports: Vec<String> = workload
            .pods
            .iter()
            .flat_map(|p| &p.facts.ports)
            .filter_map(|port| port.host_port.map(|h| format!("{} {h} (container port {})", port.protocol, port.port)))
            .collect();
        host_ports.sort();
        host_ports.dedup();
        if host_ports.is_empty() {
            continue;
        }
        let (resource, location) = ctx.workload_resource(w);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!("{} opens host port(s) on its node: {}", ctx.workload_name(w), host_ports.join(", ")))
                .evidence("containers[].ports[].hostPort binds the port on the node's own address")
                .remediation("remove hostPort and expose the port through a Service"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn host_port_fails_and_plain_port_passes() {
        let report = audit_yaml("kind: Pod\nmetadata: {name: a, namespace: x}\nspec: {containers: [{name: c, ports: [{containerPort: 80, hostPort: 8080}]}]}\n---\nkind: Pod\nmetadata: {name: b, namespace: x}\nspec: {containers: [{name: c, ports: [{containerPort: 80}]}]}\n");
        assert_eq!(names(&report, "NS111"), ["x/a"]);
        assert!(of(&report, "NS111")[0].message.contains("TCP 8080"));
    }
}
