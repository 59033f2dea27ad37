use crate::context::{DeclaredBlock, FlowEnd, IntendedFlow};
use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::{Endpoint, Network, PortSet};
use netseg_model::{
    load_bytes, Cluster, Direction, Inventory, LabelSelector, Location, Operator, Peer, PeerSelector, PolicyPort,
    PolicyRule, PortRef, Protocol, NAMESPACE_NAME_LABEL,
};
use std::collections::BTreeSet;
use std::sync::Arc;

declare_rule! {
    /// ## What it does
    /// Reports a NetworkPolicy rule (ingress or egress) that admits peers or ports beyond every known flow to or
    /// from the pods it selects, and proposes the narrower rule that keeps every one of them. Known flows are the
    /// ones NS147 checks: declared (a Service named in env, args or command, a peer the input's own policies
    /// name, a LoadBalancer or NodePort Service) and observed (`audit --flows FILE`), plus DNS (UDP and TCP 53 to
    /// the cluster DNS) for egress. The rule runs only when the audit is told the known flows are the
    /// application's intent: with `--flows FILE`, or with `--intent-only` (the declared flows alone). Without
    /// either it never fires.
    ///
    /// A rule is over-broad when it admits workloads of the input that no known flow it keeps comes from (or goes
    /// to), pods of every namespace (`namespaceSelector: {}`, or no `from`/`to` at all, which also admits every
    /// address), or ports that no known flow uses. The proposal keeps the rule's own selectors and adds to them
    /// the namespace (`kubernetes.io/metadata.name`, for a peer in another namespace) and the stable labels of
    /// each kept peer (and of a selected StatefulSet the rule admitted: its replicas talk to each other, which no
    /// declaration says), and lists the ports the kept flows use. It is proven before it is shown, as `generate`
    /// proves its output: the rule is replaced in the cluster, the engine analyses it again, every known flow the
    /// policies allowed is still allowed, and no pod pair is allowed that was not before. The evidence names the flows it keeps and counts what the rule
    /// admits beyond them.
    ///
    /// Left alone: a rule whose pods have no known flow in its direction, or that keeps none of their known flows
    /// (nothing to compare it against: netseg cannot tell an unused rule from a flow it was not told about, such
    /// as monitoring or an Ingress controller); the peers of a rule that keeps a flow from or to an address
    /// outside the cluster (a LoadBalancer's clients are anyone), and of an egress rule that admits port 53 when
    /// the cluster DNS is not in the input; the ports of a rule with named ports. Calico and Cilium rules are not
    /// judged.
    ///
    /// ## Why it matters
    /// A policy that admits every namespace to reach a database used by two clients is segmentation in name
    /// only: any compromised pod anywhere in the cluster reaches it. The gap between what is allowed and what is
    /// used is the attack surface that the policy was written to remove.
    ///
    /// ## Example
    /// ```yaml
    /// # api is called by web (its env names api:8080) and by batch in namespace jobs (seen in --flows);
    /// # the policy admits every namespace on every port
    /// spec:
    ///   podSelector: {matchLabels: {app: api}}
    ///   ingress: [{from: [{namespaceSelector: {}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Replace the rule with the proposed one (here
    /// `{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: jobs}}, podSelector: {matchLabels:
    /// {app: batch}}}, {podSelector: {matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 8080}]}`),
    /// or, if the other peers are real clients, declare them (`--flows` with their traffic) and audit again.
    pub static RULE = NS148 "unused-allowance" Low;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if !ctx.enforced() || !ctx.options.judge_allowances {
        return;
    }
    let dns = dns_servers(ctx);
    for (p, policy) in ctx.cluster.policies.iter().enumerate() {
        let mut targets: Vec<usize> = ctx
            .declared
            .selected_pods(p)
            .into_iter()
            .filter_map(|e| match e {
                Endpoint::Pod { workload, .. } => Some(workload),
                Endpoint::Address(_) => None,
            })
            .collect();
        targets.dedup();
        if targets.is_empty() {
            continue;
        }
        for direction in [Direction::Ingress, Direction::Egress] {
            for index in 0..policy.rules(direction).len() {
                let judged = Judged { policy: p, direction, index, targets: &targets, dns: &dns };
                if let Some(finding) = judge(ctx, &judged) {
                    out.push(finding);
                }
            }
        }
    }
}

fn dns_ports() -> PortSet {
    PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)])
}

/// The cluster DNS workloads (pods labelled `k8s-app: kube-dns`), as NS145 finds them.
fn dns_servers(ctx: &AuditContext<'_>) -> Vec<usize> {
    (0..ctx.cluster.workloads.len())
        .filter(|&w| {
            ctx.cluster.workloads[w]
                .pods
                .iter()
                .any(|p| p.facts.labels.get("k8s-app").is_some_and(|v| &**v == "kube-dns"))
        })
        .collect()
}

struct Judged<'a> {
    policy: usize,
    direction: Direction,
    index: usize,
    /// The workloads the policy selects.
    targets: &'a [usize],
    dns: &'a [usize],
}

/// A known flow with a target at one end, seen from the rule: the other end and the ports the rule keeps.
struct Known {
    flow: IntendedFlow,
    other: FlowEnd,
    /// The ports of the flow this rule admits (empty: another rule's business).
    kept: PortSet,
}

fn judge(ctx: &AuditContext<'_>, judged: &Judged<'_>) -> Option<Finding> {
    let policy = &ctx.cluster.policies[judged.policy];
    let direction = judged.direction;
    let rule = &policy.rules(direction)[judged.index];
    let key = if direction == Direction::Ingress { "ingress" } else { "egress" };

    // Every known flow with one of the policy's pods on this rule's side, and what of it the rule admits.
    let intent = &ctx.options.intent;
    // A block's flows are visited only when a target is on this rule's side of it.
    let on_this_side = |block: &&DeclaredBlock| match direction {
        Direction::Ingress => {
            block.destinations.iter().flat_map(|(_, d)| d.iter()).any(|dst| judged.targets.contains(dst))
        }
        Direction::Egress => block.sources.iter().any(|src| judged.targets.contains(src)),
    };
    let mut flows: Vec<IntendedFlow> = Vec::new();
    if direction == Direction::Egress {
        for &t in judged.targets {
            for &server in judged.dns {
                flows.push(IntendedFlow {
                    src: FlowEnd::Workload(t),
                    dst: FlowEnd::Workload(server),
                    ports: dns_ports(),
                    origin: "DNS, which every pod needs".into(),
                });
            }
        }
    }
    let mut known = Vec::new();
    let declared = intent.blocks.iter().filter(on_this_side).flat_map(DeclaredBlock::flows);
    for flow in intent.flows.iter().cloned().chain(declared).chain(flows) {
        let (here, other) = match direction {
            Direction::Ingress => (flow.dst, flow.src),
            Direction::Egress => (flow.src, flow.dst),
        };
        let FlowEnd::Workload(target) = here else { continue };
        if !judged.targets.contains(&target) || other == here {
            continue;
        }
        let destination = if direction == Direction::Ingress { here } else { other };
        let kept = if admits(ctx, policy, rule, other).is_some() {
            flow.ports.intersection(&rule_ports(ctx, rule, destination))
        } else {
            PortSet::empty()
        };
        known.push(Known { flow, other, kept });
    }
    // Nothing to compare against: no known flow at all, or none that this rule is for.
    if known.is_empty() || known.iter().all(|k| k.kept.is_empty()) {
        return None;
    }
    let kept: Vec<&Known> = known.iter().filter(|k| !k.kept.is_empty()).collect();
    let mut kept_ports = PortSet::empty();
    for k in &kept {
        kept_ports.union_with(&k.kept);
    }
    let kept_peers: BTreeSet<usize> = kept
        .iter()
        .filter_map(|k| match k.other {
            FlowEnd::Workload(w) => Some(w),
            FlowEnd::Address(_) => None,
        })
        .collect();
    let named_ports = rule.ports.iter().any(|p| matches!(p.port, Some(PortRef::Name(_))));
    let dns_unknown = direction == Direction::Egress
        && judged.dns.is_empty()
        && !rule_ports(ctx, rule, FlowEnd::Address(std::net::Ipv4Addr::UNSPECIFIED.into()))
            .intersection(&dns_ports())
            .is_empty();
    let keep_peers = dns_unknown || kept.iter().any(|k| matches!(k.other, FlowEnd::Address(_)));

    // What the rule admits beyond the kept flows.
    let mut beyond: Vec<String> = Vec::new();
    let mut peers_wide = false;
    if !keep_peers {
        let extra: Vec<String> = (0..ctx.cluster.workloads.len())
            .filter(|w| {
                !kept_peers.contains(w) && !judged.targets.contains(w) && admits_workload(ctx, policy, rule, *w)
            })
            .map(|w| ctx.workload_name(w))
            .collect();
        if !extra.is_empty() {
            peers_wide = true;
            beyond.push(format!(
                "{} other workload{} of the input ({})",
                extra.len(),
                if extra.len() == 1 { "" } else { "s" },
                super::list(&extra, 4)
            ));
        }
        if rule.peers.is_empty() {
            peers_wide = true;
            beyond.push(format!(
                "every pod of every namespace, including namespaces created later, and every address (the rule has no `{}`)",
                if direction == Direction::Ingress { "from" } else { "to" }
            ));
        } else if rule
            .peers
            .iter()
            .any(|p| matches!(&p.selector, PeerSelector::Pods { namespaces: Some(ns), .. } if ns.is_empty()))
        {
            peers_wide = true;
            beyond.push("pods of every namespace, including namespaces created later (`namespaceSelector: {}`)".into());
        }
        let blocks: Vec<String> = rule
            .peers
            .iter()
            .filter_map(|p| match &p.selector {
                PeerSelector::IpBlock(block) => Some(block.cidr.to_string()),
                PeerSelector::Pods { .. } => None,
            })
            .collect();
        if !blocks.is_empty() {
            peers_wide = true;
            beyond.push(format!("the addresses of {}", blocks.join(", ")));
        }
    }
    let mut new_ports = kept_ports.clone();
    if dns_unknown {
        new_ports.union_with(&dns_ports());
    }
    let rule_all_ports = if named_ports {
        PortSet::empty()
    } else {
        rule_ports(ctx, rule, FlowEnd::Address(std::net::Ipv4Addr::UNSPECIFIED.into()))
    };
    let extra_ports = rule_all_ports.difference(&new_ports);
    let ports_wide = !named_ports && !extra_ports.is_empty();
    if ports_wide {
        beyond.push(format!(
            "{} port{} no known flow uses ({extra_ports})",
            extra_ports.count(),
            plural(extra_ports.count())
        ));
    }
    if !peers_wide && !ports_wide {
        return None;
    }

    // The narrower rule.
    let field = if direction == Direction::Ingress { "from" } else { "to" };
    let peers: Vec<String> = if peers_wide {
        let mut peers: Vec<String> = Vec::new();
        // Flows between one workload's pods are never declared; a StatefulSet's replicas usually talk to each
        // other (a database or queue cluster), so where the rule admitted them, they stay admitted.
        let own: Vec<usize> = judged
            .targets
            .iter()
            .copied()
            .filter(|&t| {
                ctx.cluster.workloads[t].id.kind == netseg_model::WorkloadKind::StatefulSet
                    && admits_workload(ctx, policy, rule, t)
            })
            .collect();
        for w in kept_peers.iter().copied().chain(own) {
            let peer = narrowed_peer(ctx, policy, rule, w);
            if !peers.contains(&peer) {
                peers.push(peer);
            }
        }
        peers
    } else {
        rule.peers.iter().map(|p| render_peer(&p.selector)).collect()
    };
    let ports: Vec<String> =
        if ports_wide { render_portset(&new_ports) } else { rule.ports.iter().map(render_port).collect() };
    let mut parts = Vec::new();
    if !peers.is_empty() || peers_wide {
        parts.push(format!("{field}: [{}]", peers.join(", ")));
    }
    if !ports.is_empty() {
        parts.push(format!("ports: [{}]", ports.join(", ")));
    }
    let proposal = format!("{{{}}}", parts.join(", "));

    let at = format!(
        "{key}[{}] of NetworkPolicy {}/{} ({}:{})",
        judged.index, policy.namespace, policy.name, policy.location.file, rule.line
    );
    let kept_words: Vec<String> = kept
        .iter()
        .map(|k| {
            let (src, dst) = (end_name(ctx, k.flow.src), end_name(ctx, k.flow.dst));
            format!("{src} → {dst} {} ({})", k.kept, k.flow.origin)
        })
        .collect();
    let mut evidence = vec![
        format!("{at} keeps {} known flow{}: {}", kept.len(), plural(kept.len() as u64), super::list(&kept_words, 5)),
        format!("beyond them it admits {}", beyond.join("; ")),
    ];
    let remediation = match prove(ctx, judged, &proposal, &known) {
        Ok(checked) => {
            evidence.push(format!(
                "proven: with the rule replaced, re-analysis allows every one of the {checked} known flow{} the policies allowed to or from its pods, and no pod pair it did not allow before",
                plural(checked as u64)
            ));
            format!("replace {at} with {proposal}")
        }
        Err(why) => {
            evidence.push(format!("the narrower rule {proposal} was not proposed: {why}"));
            format!("narrow {at} to the flows it keeps")
        }
    };
    let target_names: Vec<String> = judged.targets.iter().map(|&t| ctx.workload_name(t)).collect();
    let (resource, _) = ctx.policy_resource(judged.policy);
    Some(
        Finding::new(&RULE, resource, Some(Location { file: policy.location.file.clone(), line: rule.line }))
            .message(format!(
                "{key}[{}] of NetworkPolicy {}/{} admits more than the {} known flow{} {} {} use",
                judged.index,
                policy.namespace,
                policy.name,
                kept.len(),
                plural(kept.len() as u64),
                if direction == Direction::Ingress { "to" } else { "from" },
                super::list(&target_names, 3)
            ))
            .evidence(evidence.join("; "))
            .remediation(remediation),
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn end_name(ctx: &AuditContext<'_>, end: FlowEnd) -> String {
    match end {
        FlowEnd::Workload(w) => ctx.workload_name(w),
        FlowEnd::Address(a) => a.to_string(),
    }
}

/// The ports a rule admits toward `destination` (named ports resolved on a destination workload's containers).
fn rule_ports(ctx: &AuditContext<'_>, rule: &PolicyRule, destination: FlowEnd) -> PortSet {
    if rule.ports.is_empty() {
        return PortSet::all();
    }
    let mut ranges = Vec::new();
    for port in &rule.ports {
        match &port.port {
            None => ranges.push((port.protocol, 1, 65535)),
            Some(PortRef::Number(n)) => ranges.push((port.protocol, *n, port.end_port.unwrap_or(*n).max(*n))),
            Some(PortRef::Name(name)) => {
                let FlowEnd::Workload(w) = destination else { continue };
                for pod in &ctx.cluster.workloads[w].pods {
                    for c in &pod.facts.ports {
                        if c.name.as_deref() == Some(name.as_str()) && c.protocol == port.protocol {
                            ranges.push((c.protocol, c.port, c.port));
                        }
                    }
                }
            }
        }
    }
    PortSet::from_ranges(&ranges)
}

/// The first peer of the rule that admits `end` (`Some(None)` for a rule with no peers, which admits everything).
fn admits<'r>(
    ctx: &AuditContext<'_>,
    policy: &netseg_model::NetworkPolicy,
    rule: &'r PolicyRule,
    end: FlowEnd,
) -> Option<Option<&'r Peer>> {
    if rule.peers.is_empty() {
        return Some(None);
    }
    rule.peers
        .iter()
        .find(|peer| match (&peer.selector, end) {
            (PeerSelector::IpBlock(block), FlowEnd::Address(a)) => block.contains(a),
            (PeerSelector::Pods { .. }, FlowEnd::Workload(w)) => peer_matches(ctx, policy, &peer.selector, w),
            _ => false,
        })
        .map(Some)
}

fn admits_workload(ctx: &AuditContext<'_>, policy: &netseg_model::NetworkPolicy, rule: &PolicyRule, w: usize) -> bool {
    let workload = &ctx.cluster.workloads[w];
    !workload.pods.is_empty()
        && !workload.pods.iter().all(|p| p.facts.host_network)
        && admits(ctx, policy, rule, FlowEnd::Workload(w)).is_some()
}

fn peer_matches(ctx: &AuditContext<'_>, policy: &netseg_model::NetworkPolicy, peer: &PeerSelector, w: usize) -> bool {
    let PeerSelector::Pods { namespaces, pods } = peer else { return false };
    let workload = &ctx.cluster.workloads[w];
    let in_namespace = match namespaces {
        None => workload.id.namespace == policy.namespace,
        Some(selector) => match ctx.cluster.namespace(&workload.id.namespace) {
            Some(ns) => selector.matches(&ns.labels),
            None => {
                selector.matches(&netseg_model::Labels::from([(NAMESPACE_NAME_LABEL, workload.id.namespace.as_str())]))
            }
        },
    };
    in_namespace && workload.pods.iter().any(|p| pods.as_ref().is_none_or(|s| s.matches(&p.facts.labels)))
}

/// The peer that admits workload `w` and nothing the rule's peer did not: the rule's own selectors with the
/// workload's namespace and stable labels added.
fn narrowed_peer(ctx: &AuditContext<'_>, policy: &netseg_model::NetworkPolicy, rule: &PolicyRule, w: usize) -> String {
    let workload = &ctx.cluster.workloads[w];
    let (namespaces, pods) = match admits(ctx, policy, rule, FlowEnd::Workload(w)) {
        Some(Some(Peer { selector: PeerSelector::Pods { namespaces, pods }, .. })) => {
            (namespaces.clone(), pods.clone())
        }
        _ => (Some(LabelSelector::default()), None),
    };
    let namespaces = match namespaces {
        None => None,
        Some(mut selector) => {
            if workload.id.namespace == policy.namespace && selector.is_empty() {
                None
            } else {
                selector.match_labels.insert(NAMESPACE_NAME_LABEL, workload.id.namespace.as_str());
                Some(selector)
            }
        }
    };
    let mut pods = pods.unwrap_or_default();
    let stable = workload.stable_selector();
    pods.match_labels.extend(stable.match_labels);
    for requirement in stable.match_expressions {
        if !pods.match_expressions.contains(&requirement) {
            pods.match_expressions.push(requirement);
        }
    }
    render_peer(&PeerSelector::Pods { namespaces, pods: Some(pods) })
}

/// A YAML scalar, quoted when a plain one would read as something else.
fn scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn render_selector(selector: &LabelSelector) -> String {
    let mut parts = Vec::new();
    if !selector.match_labels.is_empty() {
        let labels: Vec<String> =
            selector.match_labels.iter().map(|(k, v)| format!("{}: {}", scalar(k), scalar(v))).collect();
        parts.push(format!("matchLabels: {{{}}}", labels.join(", ")));
    }
    if !selector.match_expressions.is_empty() {
        let expressions: Vec<String> = selector
            .match_expressions
            .iter()
            .map(|r| {
                let operator = match r.operator {
                    Operator::In => "In",
                    Operator::NotIn => "NotIn",
                    Operator::Exists => "Exists",
                    Operator::DoesNotExist => "DoesNotExist",
                };
                let values: Vec<String> = r.values.iter().map(|v| scalar(v)).collect();
                if values.is_empty() {
                    format!("{{key: {}, operator: {operator}}}", scalar(&r.key))
                } else {
                    format!("{{key: {}, operator: {operator}, values: [{}]}}", scalar(&r.key), values.join(", "))
                }
            })
            .collect();
        parts.push(format!("matchExpressions: [{}]", expressions.join(", ")));
    }
    format!("{{{}}}", parts.join(", "))
}

fn render_peer(peer: &PeerSelector) -> String {
    match peer {
        PeerSelector::IpBlock(block) => {
            if block.except.is_empty() {
                format!("{{ipBlock: {{cidr: {}}}}}", block.cidr)
            } else {
                let except: Vec<String> = block.except.iter().map(|c| c.to_string()).collect();
                format!("{{ipBlock: {{cidr: {}, except: [{}]}}}}", block.cidr, except.join(", "))
            }
        }
        PeerSelector::Pods { namespaces, pods } => {
            let mut parts = Vec::new();
            if let Some(ns) = namespaces {
                parts.push(format!("namespaceSelector: {}", render_selector(ns)));
            }
            match pods {
                Some(pods) => parts.push(format!("podSelector: {}", render_selector(pods))),
                None if namespaces.is_none() => parts.push("podSelector: {}".into()),
                None => {}
            }
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn render_port(port: &PolicyPort) -> String {
    match (&port.port, port.end_port) {
        (None, _) => format!("{{protocol: {}}}", port.protocol),
        (Some(PortRef::Number(n)), Some(end)) if end > *n => {
            format!("{{protocol: {}, port: {n}, endPort: {end}}}", port.protocol)
        }
        (Some(PortRef::Number(n)), _) => format!("{{protocol: {}, port: {n}}}", port.protocol),
        (Some(PortRef::Name(name)), _) => format!("{{protocol: {}, port: {}}}", port.protocol, scalar(name)),
    }
}

fn render_portset(ports: &PortSet) -> Vec<String> {
    let mut out = Vec::new();
    for protocol in Protocol::ALL {
        for &(start, end) in ports.ranges(protocol) {
            out.push(if (start, end) == (1, 65535) {
                format!("{{protocol: {protocol}}}")
            } else if start == end {
                format!("{{protocol: {protocol}, port: {start}}}")
            } else {
                format!("{{protocol: {protocol}, port: {start}, endPort: {end}}}")
            });
        }
    }
    out
}

/// The proof: the proposal read back through the loader, put in place of the rule, the cluster analysed again.
/// Every known flow the policies allowed to or from the policy's pods is still allowed, and no pair of a policy's
/// pod and a workload's pod (or a known address) is allowed that was not. Returns how many flows it checked.
fn prove(ctx: &AuditContext<'_>, judged: &Judged<'_>, proposal: &str, known: &[Known]) -> Result<usize, String> {
    let policy = &ctx.cluster.policies[judged.policy];
    let (key, kind) = match judged.direction {
        Direction::Ingress => ("ingress", "Ingress"),
        Direction::Egress => ("egress", "Egress"),
    };
    let document = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {}, namespace: {}}}\nspec:\n  podSelector: {{}}\n  policyTypes: [{kind}]\n  {key}:\n  - {proposal}\n",
        scalar(&policy.name),
        scalar(&policy.namespace)
    );
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("<NS148 proposal>"), document.as_bytes(), false);
    if let Some(problem) = inventory.diagnostics.iter().find(|d| d.severity != netseg_model::Severity::Note) {
        return Err(format!("it does not read back cleanly ({problem})"));
    }
    let Some(new_rule) = inventory.policies.first().and_then(|p| p.rules(judged.direction).first()).cloned() else {
        return Err("it does not read back as a rule".into());
    };
    let mut cluster: Cluster = ctx.cluster.clone();
    let rules = match judged.direction {
        Direction::Ingress => &mut cluster.policies[judged.policy].ingress,
        Direction::Egress => &mut cluster.policies[judged.policy].egress,
    };
    let Some(slot) = rules.get_mut(judged.index) else { return Err("the rule is not in the policy".into()) };
    *slot = new_rule;
    let network = Network::with_setup(&cluster, ctx.setup.clone());
    let after = network.declared();
    let before = ctx.declared;
    let ends = |end: FlowEnd| -> Vec<Endpoint> {
        match end {
            FlowEnd::Workload(w) => ctx.pods(w).collect(),
            FlowEnd::Address(a) => vec![Endpoint::Address(a)],
        }
    };
    let mut checked = 0;
    for k in known {
        for &src in &ends(k.flow.src) {
            for &dst in &ends(k.flow.dst) {
                if src == dst {
                    continue;
                }
                let was = before.allowed(src, dst).intersection(&k.flow.ports);
                let lost = was.difference(&after.allowed(src, dst));
                if !lost.is_empty() {
                    return Err(format!(
                        "{} → {} would lose {lost}",
                        end_name(ctx, k.flow.src),
                        end_name(ctx, k.flow.dst)
                    ));
                }
            }
        }
        checked += 1;
    }
    // Nothing new: every pair of a policy's pod and a workload's first pod, and the known addresses.
    let mut others: Vec<Endpoint> = (0..ctx.cluster.workloads.len())
        .filter(|&w| !ctx.cluster.workloads[w].pods.is_empty())
        .map(|workload| Endpoint::Pod { workload, pod: 0 })
        .collect();
    for k in known {
        if let FlowEnd::Address(a) = k.other {
            others.push(Endpoint::Address(a));
        }
    }
    for &t in judged.targets {
        for own in ctx.pods(t) {
            for &other in &others {
                let (src, dst) = match judged.direction {
                    Direction::Ingress => (other, own),
                    Direction::Egress => (own, other),
                };
                if src == dst {
                    continue;
                }
                let new = after.allowed(src, dst).difference(&before.allowed(src, dst));
                if !new.is_empty() {
                    return Err(format!("it would newly allow {new} between {src:?} and {dst:?}"));
                }
            }
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use crate::context::{FlowEnd, IntendedFlow, Intent};
    use crate::testing::*;
    use crate::AuditOptions;
    use netseg_engine::PortSet;
    use netseg_model::Protocol;

    // Workloads in order: other/batch (0), shop/api (1), shop/web (2), shop/worker (3).
    const APP: &str = concat!(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: api, namespace: shop, labels: {app: api}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]}\n---\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, labels: {app: web}}\nspec: {containers: [{name: c, image: i}]}\n---\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: worker, namespace: shop, labels: {app: worker}}\nspec: {containers: [{name: c, image: i}]}\n---\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: batch, namespace: other, labels: {app: batch}}\nspec: {containers: [{name: c, image: i}]}\n---\n",
    );

    fn web_to_api(judge: bool) -> AuditOptions {
        AuditOptions {
            intent: Intent {
                flows: vec![IntendedFlow {
                    src: FlowEnd::Workload(2),
                    dst: FlowEnd::Workload(1),
                    ports: PortSet::single(Protocol::Tcp, 8080),
                    origin: "env API_URL names api (app.yaml:3)".into(),
                }],
                blocks: Vec::new(),
            },
            judge_allowances: judge,
            ..AuditOptions::default()
        }
    }

    fn policy(rule: &str) -> String {
        format!(
            "{APP}apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: api, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: api}}}}\n  ingress:\n  - {rule}\n"
        )
    }

    #[test]
    fn a_rule_open_to_every_namespace_fails_with_a_proven_narrower_rule() {
        let report =
            audit_yaml_with(&policy("{from: [{namespaceSelector: {}}]}"), &Default::default(), &web_to_api(true));
        let found = of(&report, "NS148");
        assert_eq!(found.len(), 1, "{report:?}");
        let f = found[0];
        assert!(f.evidence.contains("keeps 1 known flow: shop/web[Pod] → shop/api[Pod] TCP 8080"), "{}", f.evidence);
        assert!(
            f.evidence.contains("2 other workloads of the input (other/batch[Pod], shop/worker[Pod])"),
            "{}",
            f.evidence
        );
        assert!(f.evidence.contains("pods of every namespace"), "{}", f.evidence);
        assert!(f.evidence.contains("proven: "), "{}", f.evidence);
        assert!(
            f.remediation.ends_with(
                "with {from: [{podSelector: {matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 8080}]}"
            ),
            "{}",
            f.remediation
        );
    }

    #[test]
    fn a_client_in_another_namespace_is_pinned_to_its_namespace() {
        let mut options = web_to_api(true);
        options.intent.flows.push(IntendedFlow {
            src: FlowEnd::Workload(0),
            dst: FlowEnd::Workload(1),
            ports: PortSet::single(Protocol::Tcp, 8080),
            origin: "observed flow flows.csv:2".into(),
        });
        let report = audit_yaml_with(
            &policy("{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}"),
            &Default::default(),
            &options,
        );
        let found = of(&report, "NS148");
        assert_eq!(found.len(), 1, "{report:?}");
        assert!(found[0].evidence.contains("keeps 2 known flows"), "{}", found[0].evidence);
        assert!(
            found[0].evidence.contains("1 other workload of the input (shop/worker[Pod])"),
            "{}",
            found[0].evidence
        );
        assert!(
            found[0].remediation.ends_with(
                "with {from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}, podSelector: {matchLabels: {app: batch}}}, {podSelector: {matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 8080}]}"
            ),
            "{}",
            found[0].remediation
        );
    }

    #[test]
    fn a_rule_on_every_port_fails_and_keeps_its_peers() {
        let report = audit_yaml_with(
            &policy("{from: [{podSelector: {matchLabels: {app: web}}}]}"),
            &Default::default(),
            &web_to_api(true),
        );
        let found = of(&report, "NS148");
        assert_eq!(found.len(), 1, "{report:?}");
        assert!(
            found[0].remediation.ends_with(
                "with {from: [{podSelector: {matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 8080}]}"
            ),
            "{}",
            found[0].remediation
        );
    }

    #[test]
    fn a_rule_admitting_only_what_is_used_passes() {
        let exact = policy("{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 8080}]}");
        assert!(of(&audit_yaml_with(&exact, &Default::default(), &web_to_api(true)), "NS148").is_empty());
    }

    #[test]
    fn without_flows_or_intent_only_it_never_fires() {
        let open = policy("{from: [{namespaceSelector: {}}]}");
        assert!(of(&audit_yaml_with(&open, &Default::default(), &web_to_api(false)), "NS148").is_empty());
    }

    #[test]
    fn a_rule_whose_pods_have_no_known_flow_is_left_alone() {
        let open = policy("{from: [{namespaceSelector: {}}]}");
        let options = AuditOptions { judge_allowances: true, ..AuditOptions::default() };
        assert!(of(&audit_yaml_with(&open, &Default::default(), &options), "NS148").is_empty());
    }
}
