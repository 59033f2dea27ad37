use crate::context::{DeclaredBlock, FlowEnd, IntendedFlow};
use crate::{declare_rule, AuditContext, Finding, Witness};
use fixedbitset::FixedBitSet;
use foldhash::{HashMap, HashMapExt};
use netseg_engine::{AdmitsAll, Answer, Endpoint, PortSet, ProfileId};
use netseg_model::{Direction, LabelSelector, Labels, PeerSelector, Protocol, NAMESPACE_NAME_LABEL};
use std::rc::Rc;
use std::sync::Arc;

declare_rule! {
    /// ## What it does
    /// Reports a flow the application declares or was seen making that the policies in effect deny. Declared
    /// flows are the ones `netseg generate` infers: a Service named in a container's env, args or command, a
    /// peer that the input's own NetworkPolicies name (an ingress rule admitting front-end declares front-end →
    /// catalogue), a LoadBalancer or NodePort Service. Observed flows come from `audit --flows FILE` (Hubble JSON
    /// or CSV, as `generate --flows` reads them). The evidence says where the flow was declared or seen, the side
    /// that denies it (the source's egress or the destination's ingress) and the policies isolating it, and the
    /// smallest change that admits it: the selector that does not match and the labels it missed, the port
    /// missing from a rule that names the peer, or the rule to add. A flow between two workloads goes to a name,
    /// so a source whose egress is isolated without DNS (UDP or TCP 53 to the cluster DNS, as NS145 checks it)
    /// breaks it too: the evidence says so, the change is the egress rule to kube-dns, and the witness is the
    /// lookup (`netseg can --from SOURCE --to kube-system/coredns --port 53 --protocol UDP`, when the DNS pods are
    /// in the input). A declaration that names many flows (a policy peer choosing a whole tier of workloads)
    /// gives one finding for the denied ones: the first explained, the count of the others and the next few named;
    /// a source that cannot resolve names gives one finding, counting each workload it declares flows to once.
    ///
    /// ## Why it matters
    /// Default-deny gets reverted when it breaks an application. A selector typo, a label that changed, a port
    /// left out or an egress default-deny added without the egress the application needs all break flows that
    /// the application depends on, and the break shows up as an outage rather than in review.
    ///
    /// ## Example
    /// ```yaml
    /// # wordpress's env names redis:6379; redis admits only pods labelled app=wordpres (a typo)
    /// spec:
    ///   podSelector: {matchLabels: {app: redis}}
    ///   ingress: [{from: [{podSelector: {matchLabels: {app: wordpres}}}], ports: [{port: 6379}]}]
    /// ```
    ///
    /// ## How to fix
    /// Apply the change the evidence names (here `app: wordpress` in the peer's selector), then confirm with
    /// the finding's `netseg can` line. If the flow is not needed any more, remove the reference.
    pub static RULE = NS147 "declared-flow-blocked" High;
}

/// How many of the other denied flows one declaration names are listed in its finding's evidence.
const LISTED: usize = 5;

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if !ctx.enforced() {
        return;
    }
    let grouper = (!ctx.options.intent.blocks.is_empty())
        .then(|| Grouper::new(ctx.declared.answer(), ctx.cluster.workloads.len()));
    let mut checker = Checker {
        ctx,
        dns: Dns::find(ctx),
        resolves: vec![None; ctx.cluster.workloads.len()],
        admits: HashMap::new(),
        grouper,
        groups: HashMap::new(),
        declarations: HashMap::new(),
        tally_of_declaration: Vec::new(),
        tally_of_source: vec![None; ctx.cluster.workloads.len()],
        tallies: Vec::new(),
        found: Vec::new(),
    };
    for flow in &ctx.options.intent.flows {
        let ports_denied = some_port_denied(ctx, flow);
        let declaration = checker.declaration(&flow.origin);
        checker.pair(flow, ports_denied, declaration);
    }
    for block in &ctx.options.intent.blocks {
        checker.block(block);
    }
    out.extend(checker.finish());
}

/// What a finding stands for beside its first flow: the other denied flows of one declaration, or the other
/// flows of one source that cannot resolve names.
#[derive(Clone, Copy)]
enum Group {
    /// A declaration, numbered by its text (see [`Checker::declaration`]).
    Declaration(u32),
    Unresolved(usize),
}

/// A finding and the flows it stands for beyond the one it explains.
struct Tally {
    finding: usize,
    others: u64,
    listed: Vec<String>,
    /// For a source that cannot resolve names, the destinations counted so far: a pair declared several ways (env,
    /// a policy on each side) breaks on the same lookup and counts once.
    destinations: Option<FixedBitSet>,
}

impl Tally {
    /// Counts a flow to `dst`, unless it is to a destination counted already; whether it counted.
    fn count(&mut self, dst: FlowEnd) -> bool {
        if let (Some(seen), FlowEnd::Workload(dst)) = (&mut self.destinations, dst) {
            if seen.put(dst) {
                return false;
            }
        }
        self.others += 1;
        true
    }
}

struct Checker<'c, 'a> {
    ctx: &'c AuditContext<'a>,
    dns: Dns,
    /// Per source workload, once asked: whether its pods can resolve names (its egress admits DNS, or is not
    /// isolated). Indexed rather than hashed: tier L asks it eight million times.
    resolves: Vec<Option<bool>>,
    /// Per port set of the blocks: which pairs of profiles are admitted on all of it, as asked so far.
    admits: HashMap<PortSet, AdmitsAll<'a, 'a>>,
    /// Groups workloads by profile (when there are blocks to check).
    grouper: Option<Grouper<'a>>,
    /// The ends of the blocks grouped by profile, by the address and length of the shared list: declarations share
    /// their ends (a policy's selected workloads, a peer chosen once), and each is grouped once.
    groups: HashMap<(usize, usize), Rc<ProfileGroups<'a>>>,
    /// Each declaration's text, numbered: a group is then hashed as a number, not as its text, flow after flow.
    declarations: HashMap<Arc<str>, u32>,
    /// The index in `tallies` of each group's tally, per declaration number and per source workload: looked up
    /// once per source and destination group, millions of times at tier L, so indexed rather than hashed.
    tally_of_declaration: Vec<Option<u32>>,
    tally_of_source: Vec<Option<u32>>,
    tallies: Vec<(Group, Tally)>,
    found: Vec<Finding>,
}

impl<'a> Checker<'_, 'a> {
    /// The workloads of one of the blocks' shared lists, grouped by profile (`None` when there are no blocks).
    fn grouped(&mut self, workloads: &Arc<[usize]>) -> Option<Rc<ProfileGroups<'a>>> {
        let key = (workloads.as_ptr() as usize, workloads.len());
        if let Some(known) = self.groups.get(&key) {
            return Some(known.clone());
        }
        let grouped = Rc::new(self.grouper.as_mut()?.group(workloads));
        self.groups.insert(key, grouped.clone());
        Some(grouped)
    }

    fn declaration(&mut self, origin: &Arc<str>) -> u32 {
        let next = self.declarations.len() as u32;
        *self.declarations.entry(origin.clone()).or_insert(next)
    }

    /// Whether the flow breaks on DNS: between two workloads (it goes to a name), neither of them the DNS, from a
    /// source whose egress is isolated and admits no lookup.
    fn dns_broken(&mut self, flow: &IntendedFlow) -> bool {
        let (FlowEnd::Workload(src), FlowEnd::Workload(dst)) = (flow.src, flow.dst) else { return false };
        !self.dns.servers.contains(&dst) && !self.source_resolves(src)
    }

    /// Whether the workload needs no DNS (it is the DNS) or its pods can resolve names.
    fn source_resolves(&mut self, src: usize) -> bool {
        if self.dns.servers.contains(&src) {
            return true;
        }
        match self.resolves[src] {
            Some(known) => known,
            None => {
                let known = resolves(self.ctx, &self.dns, src);
                self.resolves[src] = Some(known);
                known
            }
        }
    }

    /// The slot that holds the index of `group`'s tally.
    fn tally_slot(&mut self, group: Group) -> &mut Option<u32> {
        match group {
            Group::Declaration(declaration) => {
                let at = declaration as usize;
                if self.tally_of_declaration.len() <= at {
                    self.tally_of_declaration.resize(at + 1, None);
                }
                &mut self.tally_of_declaration[at]
            }
            Group::Unresolved(src) => &mut self.tally_of_source[src],
        }
    }

    fn tally_index(&self, group: Group) -> Option<usize> {
        let at = match group {
            Group::Declaration(declaration) => self.tally_of_declaration.get(declaration as usize).copied().flatten(),
            Group::Unresolved(src) => self.tally_of_source[src],
        };
        at.map(|at| at as usize)
    }

    fn tally(&mut self, group: Group) -> Option<&mut Tally> {
        let at = self.tally_index(group)?;
        Some(&mut self.tallies[at].1)
    }

    /// One flow the policies may deny (some port, over its pod pairs, when `ports_denied`), or that may break on
    /// DNS: the first of its group becomes a finding, the others are counted on it.
    fn pair(&mut self, flow: &IntendedFlow, ports_denied: bool, declaration: u32) {
        let dns_broken = self.dns_broken(flow);
        if !ports_denied && !dns_broken {
            return;
        }
        let group = match (ports_denied, flow.src) {
            (true, _) => Group::Declaration(declaration),
            (false, FlowEnd::Workload(src)) => Group::Unresolved(src),
            (false, FlowEnd::Address(_)) => return,
        };
        let ctx = self.ctx;
        if let Some(tally) = self.tally(group) {
            if tally.count(flow.dst) && tally.listed.len() < LISTED {
                tally.listed.push(format!("{} → {} {}", end_name(ctx, flow.src), end_name(ctx, flow.dst), flow.ports));
            }
            return;
        }
        let dns_side = if dns_broken { dns_side(self.ctx, &self.dns, flow) } else { None };
        let finding = match (ports_denied.then(|| denied(self.ctx, flow)).flatten(), dns_side) {
            (Some(mut denied), Some(side)) => {
                denied.sides.push(side);
                denied_finding(self.ctx, flow, denied)
            }
            (Some(denied), None) => denied_finding(self.ctx, flow, denied),
            (None, Some(side)) => match flow.src {
                FlowEnd::Workload(src) => Some(dns_finding(self.ctx, flow, src, side)),
                FlowEnd::Address(_) => None,
            },
            (None, None) => None,
        };
        let Some(finding) = finding else { return };
        let destinations = match (&group, flow.dst) {
            (Group::Unresolved(_), FlowEnd::Workload(dst)) => {
                let mut seen = FixedBitSet::with_capacity(self.ctx.cluster.workloads.len());
                seen.insert(dst);
                Some(seen)
            }
            _ => None,
        };
        let tally = Tally { finding: self.found.len(), others: 0, listed: Vec::new(), destinations };
        *self.tally_slot(group) = Some(self.tallies.len() as u32);
        self.tallies.push((group, tally));
        self.found.push(finding);
    }

    /// The flows of a declaration that names whole tiers: its sources and destinations are grouped by their
    /// profiles (pods no policy tells apart get the same answer), each pair of groups is judged once from the
    /// engine's factored answer, and only the flows of denied groups are visited, the counted ones in one step.
    fn block(&mut self, block: &DeclaredBlock) {
        let answer = self.ctx.declared.answer();
        let declaration = self.declaration(&block.origin);
        let Some(sources) = self.grouped(&block.sources) else { return };
        for (ports, members) in &block.destinations {
            let Some(destinations) = self.grouped(members) else { return };
            let mut admits = self.admits.remove(ports).unwrap_or_else(|| answer.admits_all(ports));
            for (source_profiles, source_workloads) in sources.iter() {
                for (destination_profiles, destination_workloads) in destinations.iter() {
                    let to =
                        Destinations { workloads: destination_workloads, ports, origin: &block.origin, declaration };
                    let ports_denied =
                        !source_profiles.iter().all(|&a| destination_profiles.iter().all(|&b| admits.pair(a, b)));
                    for &src in source_workloads {
                        if ports_denied || !self.source_resolves(src) {
                            self.flows_from(src, &to, ports_denied);
                        }
                    }
                }
            }
            self.admits.insert(ports.clone(), admits);
        }
    }

    /// The flows from `src` to each of `destinations` but itself, on `ports`: the first of their group explained,
    /// the others counted, in one step once the group's finding lists enough of them.
    fn flows_from(&mut self, src: usize, to: &Destinations<'_>, ports_denied: bool) {
        let Destinations { workloads: destinations, ports, origin, declaration } = *to;
        let group = if ports_denied { Group::Declaration(declaration) } else { Group::Unresolved(src) };
        for (at, &dst) in destinations.iter().enumerate() {
            // A flow that only breaks on DNS does not break when it goes to the DNS itself.
            if dst == src || (!ports_denied && self.dns.servers.contains(&dst)) {
                continue;
            }
            let tally = self.tally_index(group).map(|at| &mut self.tallies[at].1);
            if let Some(tally) = tally.filter(|t| t.listed.len() >= LISTED) {
                let servers = &self.dns.servers;
                let rest = &destinations[at..];
                if ports_denied {
                    // A declaration counts every flow: the rest but the source itself, without visiting them.
                    tally.others += (rest.len() - usize::from(rest.contains(&src))) as u64;
                } else {
                    for &dst in rest.iter().filter(|&&dst| dst != src && !servers.contains(&dst)) {
                        tally.count(FlowEnd::Workload(dst));
                    }
                }
                return;
            }
            let flow = IntendedFlow {
                src: FlowEnd::Workload(src),
                dst: FlowEnd::Workload(dst),
                ports: ports.clone(),
                origin: origin.clone(),
            };
            self.pair(&flow, ports_denied, declaration);
        }
    }

    /// The findings, each with the count of the flows it stands for and the next few of them.
    fn finish(mut self) -> Vec<Finding> {
        for (group, tally) in self.tallies {
            if tally.others == 0 {
                continue;
            }
            let finding = &mut self.found[tally.finding];
            let others = tally.others;
            match group {
                Group::Declaration(_) => {
                    finding.message.push_str(&format!(", and so are {others} more flow(s) the same declaration names"))
                }
                Group::Unresolved(_) => finding
                    .message
                    .push_str(&format!(", and so are the flows it declares to {others} more workload(s)")),
            }
            let rest = others - tally.listed.len() as u64;
            let more = if rest > 0 { format!(" and {rest} more") } else { String::new() };
            finding.evidence.push_str(&format!("; also denied: {}{more}", tally.listed.join(", ")));
        }
        self.found
    }
}

/// One group of a block's destinations, with what its flows share.
#[derive(Clone, Copy)]
struct Destinations<'d> {
    workloads: &'d [usize],
    ports: &'d PortSet,
    origin: &'d Arc<str>,
    declaration: u32,
}

/// Workloads grouped by the profiles of their pods: each group's profiles and the end of its workloads in one
/// shared list (most groups hold one workload, and a list each cost an allocation per workload).
struct ProfileGroups<'a> {
    groups: Vec<(&'a [ProfileId], usize)>,
    members: Vec<usize>,
}

impl<'a> ProfileGroups<'a> {
    fn iter(&self) -> impl Iterator<Item = (&'a [ProfileId], &[usize])> + '_ {
        let starts = std::iter::once(0).chain(self.groups.iter().map(|&(_, end)| end));
        self.groups.iter().zip(starts).map(|(&(profiles, end), start)| (profiles, &self.members[start..end]))
    }
}

/// Groups workloads by the profiles of their pods, in the order they first appear: a slot per profile number,
/// stamped per call, so that grouping a tier of thousands costs an array access per workload, not a hash.
struct Grouper<'a> {
    answer: Answer<'a, 'a>,
    /// Per workload, a number shared by exactly the workloads whose pods have the same profiles.
    number: Vec<u32>,
    /// Per number: the call that last used it, and its group's index in that call.
    slots: Vec<(u32, u32)>,
    /// Per workload of the current call, its group's index.
    group_of: Vec<u32>,
    call: u32,
}

impl<'a> Grouper<'a> {
    fn new(answer: Answer<'a, 'a>, workloads: usize) -> Grouper<'a> {
        let mut numbers: HashMap<&[ProfileId], u32> = HashMap::new();
        let number: Vec<u32> = (0..workloads)
            .map(|w| {
                let next = numbers.len() as u32;
                *numbers.entry(answer.profiles_of(w)).or_insert(next)
            })
            .collect();
        let slots = vec![(0, 0); numbers.len()];
        Grouper { answer, number, slots, group_of: Vec::new(), call: 0 }
    }

    fn group(&mut self, workloads: &[usize]) -> ProfileGroups<'a> {
        self.call += 1;
        // First each group and its size, then each workload placed in its group's range, in input order.
        let mut groups: Vec<(&'a [ProfileId], usize)> = Vec::new();
        self.group_of.clear();
        for &w in workloads {
            let slot = &mut self.slots[self.number[w] as usize];
            if slot.0 != self.call {
                *slot = (self.call, groups.len() as u32);
                groups.push((self.answer.profiles_of(w), 0));
            }
            groups[slot.1 as usize].1 += 1;
            self.group_of.push(slot.1);
        }
        let mut next: Vec<usize> = Vec::with_capacity(groups.len());
        let mut end = 0;
        for group in &mut groups {
            next.push(end);
            end += group.1;
            group.1 = end;
        }
        let mut members = vec![0; workloads.len()];
        for (&w, &group) in workloads.iter().zip(&self.group_of) {
            members[next[group as usize]] = w;
            next[group as usize] += 1;
        }
        ProfileGroups { groups, members }
    }
}

/// The finding for a flow whose ports the policies deny.
fn denied_finding(ctx: &AuditContext<'_>, flow: &IntendedFlow, denied: Denied) -> Option<Finding> {
    let (resource, location) = match (flow.dst, flow.src) {
        (FlowEnd::Workload(w), _) | (FlowEnd::Address(_), FlowEnd::Workload(w)) => ctx.workload_resource(w),
        (FlowEnd::Address(_), FlowEnd::Address(_)) => return None,
    };
    let (protocol, port) = denied.missing.first().unwrap_or((Protocol::Tcp, 0));
    let mut evidence = vec![format!("declared or seen: {}", flow.origin)];
    let mut changes = Vec::new();
    for side in &denied.sides {
        evidence.push(side.why.clone());
        changes.push(side.change.clone());
    }
    Some(
        Finding::new(&RULE, resource, location)
            .message(format!(
                "{} → {} {} is declared but the policies deny it",
                end_name(ctx, flow.src),
                end_name(ctx, flow.dst),
                denied.missing
            ))
            .evidence(evidence.join("; "))
            .remediation(changes.join("; "))
            .witness(Some(Witness { from: end_name(ctx, flow.src), to: end_name(ctx, flow.dst), protocol, port })),
    )
}

/// Whether the policies as they take effect deny some port of the flow between some pair of its pods: a cheap
/// test that lets most flows through before [`denied`] explains the rest.
fn some_port_denied(ctx: &AuditContext<'_>, flow: &IntendedFlow) -> bool {
    let destinations = endpoints(ctx, flow.dst);
    endpoints(ctx, flow.src).into_iter().any(|src| {
        destinations.iter().any(|&dst| src != dst && !flow.ports.difference(&ctx.declared.allowed(src, dst)).is_empty())
    })
}

fn end_name(ctx: &AuditContext<'_>, end: FlowEnd) -> String {
    match end {
        FlowEnd::Workload(w) => ctx.workload_name(w),
        FlowEnd::Address(a) => a.to_string(),
    }
}

struct Side {
    why: String,
    change: String,
    /// The `netseg can` question that shows this side's denial, when it is not the flow itself (DNS).
    witness: Option<Witness>,
}

/// The cluster DNS: the workloads labelled `k8s-app: kube-dns` (as NS145 finds them), if the input has them.
struct Dns {
    servers: Vec<usize>,
    ports: PortSet,
}

impl Dns {
    fn find(ctx: &AuditContext<'_>) -> Dns {
        let servers = (0..ctx.cluster.workloads.len())
            .filter(|&w| {
                ctx.cluster.workloads[w]
                    .pods
                    .iter()
                    .any(|p| p.facts.labels.get("k8s-app").is_some_and(|v| &**v == "kube-dns"))
            })
            .collect();
        Dns { servers, ports: PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)]) }
    }
}

/// The egress rule that lets a workload's pods resolve names: UDP and TCP 53 to the cluster DNS pods.
const DNS_RULE: &str = "{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}";

/// Whether the workload's pods can resolve names: its egress is not isolated, or admits DNS to the cluster DNS
/// (or, without the DNS pods in the input, some rule mentions port 53). A flow between two workloads goes to a
/// name (a Service), which the source resolves first: without DNS it breaks before it starts, whatever the rules
/// between the two say.
fn resolves(ctx: &AuditContext<'_>, dns: &Dns, src: usize) -> bool {
    if !ctx.isolated(src, Direction::Egress) {
        return true;
    }
    match dns.servers.first() {
        Some(&server) => {
            let server_pods: Vec<Endpoint> = ctx.pods(server).collect();
            ctx.pods(src).all(|pod| {
                server_pods.iter().any(|&s| !ctx.declared.allowed(pod, s).intersection(&dns.ports).is_empty())
            })
        }
        None => super::ns145_dns_blocked::rules_mention_dns(ctx, src),
    }
}

/// Why a flow whose source cannot resolve names breaks, and the egress rule that mends it.
fn dns_side(ctx: &AuditContext<'_>, dns: &Dns, flow: &IntendedFlow) -> Option<Side> {
    let (FlowEnd::Workload(src), FlowEnd::Workload(dst)) = (flow.src, flow.dst) else { return None };
    let name = ctx.workload_name(src);
    let witness = dns.servers.first().map(|&server| Witness {
        from: name.clone(),
        to: ctx.workload_name(server),
        protocol: Protocol::Udp,
        port: 53,
    });
    let policies: Vec<String> = ctx
        .pods(src)
        .next()
        .map(|pod| ctx.declared.isolating(pod, Direction::Egress))
        .unwrap_or_default()
        .iter()
        .map(|&p| {
            let policy = &ctx.cluster.policies[p];
            format!("{}/{} ({})", policy.namespace, policy.name, policy.location)
        })
        .collect();
    let to = match dns.servers.first() {
        Some(&server) => ctx.workload_name(server),
        None => "the cluster DNS".into(),
    };
    Some(Side {
        why: format!(
            "missing DNS: the egress of {name} is isolated by {} and no rule admits UDP or TCP 53 to {to}, so {name} cannot resolve the name of {}",
            if policies.is_empty() { "a policy netseg does not list".to_string() } else { policies.join(", ") },
            ctx.workload_name(dst)
        ),
        change: format!("add to {name}'s egress: {DNS_RULE}"),
        witness,
    })
}

/// A flow whose only break is DNS: the finding is on the source, and its witness is the DNS lookup.
fn dns_finding(ctx: &AuditContext<'_>, flow: &IntendedFlow, src: usize, side: Side) -> Finding {
    let (resource, location) = ctx.workload_resource(src);
    let witness = side.witness.clone();
    Finding::new(&RULE, resource, location)
        .message(format!(
            "{} → {} {} is declared but {} cannot resolve it: its egress denies DNS",
            end_name(ctx, flow.src),
            end_name(ctx, flow.dst),
            flow.ports,
            end_name(ctx, flow.src)
        ))
        .evidence(format!("declared or seen: {}; {}", flow.origin, side.why))
        .remediation(side.change)
        .witness(witness)
}

struct Denied {
    missing: PortSet,
    sides: Vec<Side>,
}

fn endpoints(ctx: &AuditContext<'_>, end: FlowEnd) -> Vec<Endpoint> {
    match end {
        FlowEnd::Workload(w) => ctx.pods(w).collect(),
        FlowEnd::Address(a) => vec![Endpoint::Address(a)],
    }
}

/// The ports of the flow the policies as written deny (over every pod pair), and why on each side.
fn denied(ctx: &AuditContext<'_>, flow: &IntendedFlow) -> Option<Denied> {
    let sources = endpoints(ctx, flow.src);
    let destinations = endpoints(ctx, flow.dst);
    let mut egress = flow.ports.clone();
    let mut ingress = flow.ports.clone();
    let mut first: Option<(Endpoint, Endpoint)> = None;
    for &src in &sources {
        for &dst in &destinations {
            let explanation = ctx.declared.explain(src, dst);
            if explanation.same_pod {
                continue;
            }
            let before = (egress.clone(), ingress.clone());
            egress = egress.intersection(&explanation.egress.allowed);
            ingress = ingress.intersection(&explanation.ingress.allowed);
            if first.is_none() && (before.0 != egress || before.1 != ingress) {
                first = Some((src, dst));
            }
        }
    }
    let allowed = egress.intersection(&ingress);
    let missing = flow.ports.difference(&allowed);
    let (src, dst) = first?;
    if missing.is_empty() {
        return None;
    }
    let mut sides = Vec::new();
    let egress_missing = flow.ports.difference(&egress);
    if !egress_missing.is_empty() {
        if let (Endpoint::Pod { .. }, FlowEnd::Workload(subject)) = (src, flow.src) {
            sides.push(side(ctx, subject, src, flow.dst, Direction::Egress, &egress_missing));
        }
    }
    let ingress_missing = flow.ports.difference(&ingress);
    if !ingress_missing.is_empty() {
        if let (Endpoint::Pod { .. }, FlowEnd::Workload(subject)) = (dst, flow.dst) {
            sides.push(side(ctx, subject, dst, flow.src, Direction::Ingress, &ingress_missing));
        }
    }
    Some(Denied { missing, sides })
}

fn namespace_labels(ctx: &AuditContext<'_>, name: &str) -> Labels {
    ctx.cluster
        .namespace(name)
        .map(|ns| ns.labels.clone())
        .unwrap_or_else(|| Labels::from([(NAMESPACE_NAME_LABEL, name)]))
}

/// The labels of `selector` that `labels` lacks or has with another value, as `key=wanted (has value)`.
fn mismatches(selector: &LabelSelector, labels: &Labels) -> Vec<String> {
    let mut out: Vec<String> = selector
        .match_labels
        .iter()
        .filter(|(k, v)| labels.get(k) != Some(v))
        .map(|(k, v)| match labels.get(k) {
            Some(has) => format!("{k}={v} (it has {k}={has})"),
            None => format!("{k}={v} (it has no {k})"),
        })
        .collect();
    if out.is_empty() && !selector.matches(labels) {
        out.push(format!("{selector}"));
    }
    out
}

/// Why `subject`'s side denies the flow to or from `other`, and the smallest change that admits it.
fn side(
    ctx: &AuditContext<'_>,
    subject: usize,
    pod: Endpoint,
    other: FlowEnd,
    direction: Direction,
    missing: &PortSet,
) -> Side {
    let key = if direction == Direction::Egress { "egress" } else { "ingress" };
    let subject_name = ctx.workload_name(subject);
    let policies = ctx.declared.isolating(pod, direction);
    let names: Vec<String> = policies
        .iter()
        .map(|&p| {
            let policy = &ctx.cluster.policies[p];
            let every = if policy.pod_selector.is_empty() {
                format!(", whose empty podSelector selects every pod of {}", policy.namespace)
            } else {
                String::new()
            };
            format!("{}/{} ({}{every})", policy.namespace, policy.name, policy.location)
        })
        .collect();
    let why = format!(
        "the {key} of {subject_name} is isolated by {} and no rule admits {} on {missing}",
        if names.is_empty() { "a policy netseg does not list".to_string() } else { names.join(", ") },
        end_name(ctx, other)
    );
    let FlowEnd::Workload(other_index) = other else {
        return Side {
            why,
            change: format!(
                "add an {key} rule whose ipBlock covers {} (outside the cluster) on {missing}",
                end_name(ctx, other)
            ),
            witness: None,
        };
    };
    let other_workload = &ctx.cluster.workloads[other_index];
    let other_labels = other_workload.pods.first().map(|p| p.facts.labels.clone()).unwrap_or_default();
    let other_ns_labels = namespace_labels(ctx, &other_workload.id.namespace);
    // A rule whose peer matches the other end but not these ports: the port is missing.
    // Else the peer closest to matching: the selector that does not match and the labels it missed.
    let mut port_missing: Option<String> = None;
    let mut closest: Option<(usize, String)> = None;
    for &p in &policies {
        let policy = &ctx.cluster.policies[p];
        for (index, rule) in policy.rules(direction).iter().enumerate() {
            for peer in &rule.peers {
                let PeerSelector::Pods { namespaces, pods } = &peer.selector else { continue };
                let ns_miss = match namespaces {
                    None if policy.namespace == other_workload.id.namespace => Vec::new(),
                    None => vec![format!("the namespace {} (the peer has no namespaceSelector)", policy.namespace)],
                    Some(selector) => mismatches(selector, &other_ns_labels),
                };
                let pod_miss = pods.as_ref().map(|s| mismatches(s, &other_labels)).unwrap_or_default();
                let at = format!(
                    "{key}[{index}] of NetworkPolicy {}/{} ({}:{})",
                    policy.namespace, policy.name, policy.location.file, peer.line
                );
                if ns_miss.is_empty() && pod_miss.is_empty() {
                    port_missing.get_or_insert(format!("add {missing} to the ports of {at}, whose peer matches"));
                    continue;
                }
                let count = ns_miss.len() + pod_miss.len();
                if closest.as_ref().is_none_or(|(best, _)| count < *best) {
                    let wanted: Vec<String> = ns_miss.into_iter().chain(pod_miss).collect();
                    closest = Some((
                        count,
                        format!(
                            "the peer of {at} does not match {}: it wants {}",
                            ctx.workload_name(other_index),
                            wanted.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    let change = match (port_missing, closest) {
        (Some(change), _) => change,
        (None, Some((_, change))) => format!("fix the selector: {change}"),
        (None, None) => {
            let labels: Vec<String> = other_labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let peer = if other_workload.id.namespace == ctx.cluster.workloads[subject].id.namespace {
                format!("podSelector: {{matchLabels: {{{}}}}}", labels.join(", "))
            } else {
                format!(
                    "namespaceSelector: {{matchLabels: {{{NAMESPACE_NAME_LABEL}: {}}}}}, podSelector: {{matchLabels: {{{}}}}}",
                    other_workload.id.namespace,
                    labels.join(", ")
                )
            };
            let field = if direction == Direction::Egress { "to" } else { "from" };
            format!("add to {subject_name}'s {key}: {{{field}: [{{{peer}}}], ports: {missing}}}")
        }
    };
    Side { why, change, witness: None }
}

#[cfg(test)]
mod tests {
    use crate::context::{DeclaredBlock, FlowEnd, IntendedFlow, Intent};
    use crate::testing::*;
    use crate::AuditOptions;
    use netseg_engine::PortSet;
    use netseg_model::Protocol;
    use std::sync::Arc;

    const APP: &str = concat!(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, labels: {app: web}}\nspec: {containers: [{name: c, image: i}]}\n---\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: redis, namespace: shop, labels: {app: redis}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 6379}]}]}\n---\n",
    );

    fn web_to_redis() -> AuditOptions {
        AuditOptions {
            intent: Intent {
                flows: vec![IntendedFlow {
                    src: FlowEnd::Workload(1),
                    dst: FlowEnd::Workload(0),
                    ports: PortSet::single(Protocol::Tcp, 6379),
                    origin: "env REDIS_HOST names redis (app.yaml:3)".into(),
                }],
                blocks: Vec::new(),
            },
            ..AuditOptions::default()
        }
    }

    fn policy(from: &str, port: u16) -> String {
        format!(
            "{APP}apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: redis, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: redis}}}}\n  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: {from}}}}}}}], ports: [{{port: {port}}}]}}]\n"
        )
    }

    #[test]
    fn a_selector_typo_fails_and_names_the_label() {
        let report = audit_yaml_with(&policy("wbe", 6379), &Default::default(), &web_to_redis());
        let found = of(&report, "NS147");
        assert_eq!(found.len(), 1, "{report:?}");
        assert!(found[0].evidence.contains("declared or seen: env REDIS_HOST names redis (app.yaml:3)"));
        assert!(found[0].remediation.contains("it wants app=wbe (it has app=web)"), "{}", found[0].remediation);
        assert_eq!(found[0].witness.as_ref().map(|w| (w.to.as_str(), w.port)), Some(("shop/redis[Pod]", 6379)));
    }

    #[test]
    fn a_missing_port_fails_and_names_the_rule() {
        let report = audit_yaml_with(&policy("web", 6380), &Default::default(), &web_to_redis());
        let found = of(&report, "NS147");
        assert!(
            found[0].remediation.starts_with("add TCP 6379 to the ports of ingress[0] of NetworkPolicy shop/redis"),
            "{}",
            found[0].remediation
        );
    }

    #[test]
    fn a_missing_dns_allowance_fails_and_names_the_dns_rule() {
        let dns = "apiVersion: v1\nkind: Pod\nmetadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}\nspec: {containers: [{name: c, image: i}]}\n---\n";
        let egress = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-out, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  egress: [{to: [{podSelector: {matchLabels: {app: redis}}}], ports: [{port: 6379}]}]\n";
        // The pods in order: kube-system/coredns, shop/redis, shop/web.
        let mut options = web_to_redis();
        options.intent.flows[0].src = FlowEnd::Workload(2);
        options.intent.flows[0].dst = FlowEnd::Workload(1);
        let text = format!("{dns}{}{egress}", policy("web", 6379));
        let report = audit_yaml_with(&text, &Default::default(), &options);
        let found = of(&report, "NS147");
        assert_eq!(found.len(), 1, "{report:?}");
        assert!(found[0].message.ends_with("cannot resolve it: its egress denies DNS"), "{}", found[0].message);
        assert!(found[0].evidence.contains("missing DNS: the egress of shop/web[Pod] is isolated by shop/web-out"));
        assert!(found[0].remediation.contains("k8s-app: kube-dns"), "{}", found[0].remediation);
        assert_eq!(
            found[0].witness.as_ref().map(|w| (w.to.as_str(), w.protocol, w.port)),
            Some(("kube-system/coredns[Pod]", Protocol::Udp, 53))
        );
        let allowed = text.replace("ports: [{port: 6379}]}]\n", "ports: [{port: 6379}]}, {to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{protocol: UDP, port: 53}]}]\n");
        assert!(of(&audit_yaml_with(&allowed, &Default::default(), &options), "NS147").is_empty());
    }

    /// A source that cannot resolve names breaks every flow it declares: one finding, counting each destination
    /// once however many declarations name it.
    #[test]
    fn a_source_without_dns_is_one_finding_counting_its_destinations_once() {
        let dns = "apiVersion: v1\nkind: Pod\nmetadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}\nspec: {containers: [{name: c, image: i}]}\n---\n";
        let db = "apiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: shop, labels: {app: db}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 5432}]}]}\n---\n";
        let open_egress = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-out, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  egress: [{to: [{podSelector: {}}]}]\n";
        // The pods in order: kube-system/coredns, shop/db, shop/redis, shop/web.
        let text = format!("{dns}{db}{APP}{open_egress}");
        let flow = |dst: usize, port: u16, origin: &str| IntendedFlow {
            src: FlowEnd::Workload(3),
            dst: FlowEnd::Workload(dst),
            ports: PortSet::single(Protocol::Tcp, port),
            origin: origin.into(),
        };
        let flows = vec![
            flow(2, 6379, "env REDIS_HOST names redis (app.yaml:3)"),
            flow(2, 6379, "NetworkPolicy shop/redis ingress[0] admits pods app=web (p.yaml:4)"),
            flow(1, 5432, "env DB_HOST names db (app.yaml:4)"),
        ];
        let options = AuditOptions { intent: Intent { flows, blocks: Vec::new() }, ..AuditOptions::default() };
        let found = of(&audit_yaml_with(&text, &Default::default(), &options), "NS147")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].message.ends_with("its egress denies DNS, and so are the flows it declares to 1 more workload(s)"),
            "{}",
            found[0].message
        );
        assert!(
            found[0].evidence.ends_with("also denied: shop/web[Pod] → shop/db[Pod] TCP 5432"),
            "{}",
            found[0].evidence
        );
    }

    /// Regression: one egress rule naming a whole tier declared a flow to each of its workloads, and a generated
    /// 2,000-pod cluster got 63,080 NS147 findings (90 MiB of JSON). One declaration, one finding, with the count.
    #[test]
    fn the_denied_flows_of_one_declaration_read_as_one_finding_with_the_count() {
        let backends: String = (0..8)
            .map(|i| format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: db-{i}, namespace: shop, labels: {{tier: backend}}}}\nspec: {{containers: [{{name: c, image: i, ports: [{{containerPort: 5432}}]}}]}}\n---\n"))
            .collect();
        let deny = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {matchLabels: {tier: backend}}, policyTypes: [Ingress]}\n";
        // The pods in order: shop/db-0 .. shop/db-7, then shop/web.
        let origin: Arc<str> = "NetworkPolicy shop/web egress[0] lets out to pods tier=backend (p.yaml:9)".into();
        let ports = PortSet::single(Protocol::Tcp, 5432);
        let flows: Vec<IntendedFlow> = (0..8)
            .map(|db| IntendedFlow {
                src: FlowEnd::Workload(8),
                dst: FlowEnd::Workload(db),
                ports: ports.clone(),
                origin: origin.clone(),
            })
            .collect();
        // The same declaration as one block (as `netseg_fix::needs` gives it), and as its flows one by one.
        let block = DeclaredBlock {
            sources: Arc::from([8usize]),
            destinations: vec![(ports.clone(), (0..8).collect())],
            origin: origin.clone(),
        };
        let text = format!("{backends}apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: shop, labels: {{app: web}}}}\nspec: {{containers: [{{name: c, image: i}}]}}\n---\n{deny}");
        for intent in [Intent { flows, blocks: Vec::new() }, Intent { flows: Vec::new(), blocks: vec![block] }] {
            let options = AuditOptions { intent, ..AuditOptions::default() };
            let report = audit_yaml_with(&text, &Default::default(), &options);
            let found = of(&report, "NS147");
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(
                found[0].message.ends_with("and so are 7 more flow(s) the same declaration names"),
                "{}",
                found[0].message
            );
            assert!(
                found[0].evidence.contains("also denied: shop/web[Pod] → shop/db-1[Pod] TCP 5432"),
                "{}",
                found[0].evidence
            );
            assert!(found[0].evidence.ends_with(" and 2 more"), "five listed, the rest counted: {}", found[0].evidence);
            assert_eq!(found[0].witness.as_ref().map(|w| w.to.as_str()), Some("shop/db-0[Pod]"));
        }
    }

    /// Each finding as (what it groups: the declaration, or the source that cannot resolve names; how many
    /// denied flows it stands for).
    fn tallies(text: &str, intent: Intent) -> Vec<(String, u64)> {
        let options = AuditOptions { intent, ..AuditOptions::default() };
        let report = audit_yaml_with(text, &Default::default(), &options);
        let mut out: Vec<(String, u64)> = of(&report, "NS147")
            .iter()
            .map(|f| {
                let others = f
                    .message
                    .split(", and so are ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .map_or(0, |n| n.parse::<u64>().expect("a count"));
                let group = if f.message.contains("cannot resolve it") {
                    format!("dns {:?}", f.resource)
                } else {
                    f.evidence.split("; ").next().unwrap_or_default().to_string()
                };
                (group, others + 1)
            })
            .collect();
        out.sort();
        out
    }

    /// The factored check of a block (sources and destinations grouped by profile) against the same flows checked
    /// one by one: every declaration and every source that cannot resolve names must count the same denied flows,
    /// under each combination of policies.
    #[test]
    fn a_block_counts_the_same_denied_flows_as_its_flows_one_by_one() {
        let pods = concat!(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: api, namespace: a, labels: {app: api}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 80, name: http}]}]}\n---\n",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: a, labels: {app: db}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 5432}]}]}\n---\n",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: a, labels: {app: web}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}\n---\n",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: cache, namespace: b, labels: {app: cache}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}\n---\n",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: job, namespace: b, labels: {app: job}}\nspec: {containers: [{name: c, image: i}]}\n---\n",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}\nspec: {containers: [{name: c, image: i}]}\n---\n",
        );
        let policy = |ns: &str, name: &str, spec: &str| {
            format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n---\n")
        };
        let policies = [
            policy("a", "db-in", "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 5432}]}]}"),
            policy("a", "web-out", "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 80}]}]}"),
            policy("b", "deny", "{podSelector: {}, policyTypes: [Ingress]}"),
            policy("a", "api-in", "{podSelector: {matchLabels: {app: api}}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: http}]}]}"),
            policy("b", "job-out", "{podSelector: {matchLabels: {app: job}}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{port: 53, protocol: UDP}]}]}"),
        ];
        // The workloads in order: a/api, a/db, a/web, b/cache, b/job, kube-system/coredns.
        let web = PortSet::single(Protocol::Tcp, 80);
        let both = PortSet::from_ranges(&[(Protocol::Tcp, 80, 80), (Protocol::Tcp, 5432, 5432)]);
        let blocks = vec![
            DeclaredBlock {
                sources: Arc::from([0usize, 1, 2, 3, 4, 5]),
                destinations: vec![(web.clone(), (0..6).collect())],
                origin: "everyone to everyone on 80 (t.yaml:1)".into(),
            },
            DeclaredBlock {
                sources: Arc::from([2usize, 0, 4]),
                destinations: vec![(PortSet::single(Protocol::Tcp, 5432), Arc::from([1])), (both, Arc::from([0, 3]))],
                origin: "a few to a few (t.yaml:2)".into(),
            },
        ];
        let mut found_something = (false, false);
        for mask in 0..(1u32 << policies.len()) {
            let mut text = pods.to_string();
            for (i, policy) in policies.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    text.push_str(policy);
                }
            }
            let as_blocks = Intent { flows: Vec::new(), blocks: blocks.clone() };
            let one_by_one = Intent { flows: as_blocks.all_flows().collect(), blocks: Vec::new() };
            let (factored, flat) = (tallies(&text, as_blocks), tallies(&text, one_by_one));
            assert_eq!(factored, flat, "policies {mask:05b}");
            found_something.0 |= factored.iter().any(|(group, _)| group.starts_with("declared"));
            found_something.1 |= factored.iter().any(|(group, _)| group.starts_with("dns"));
        }
        assert_eq!(found_something, (true, true), "both kinds of finding are compared");
    }

    #[test]
    fn an_allowed_flow_passes() {
        assert!(of(&audit_yaml_with(&policy("web", 6379), &Default::default(), &web_to_redis()), "NS147").is_empty());
        assert!(of(&audit_yaml_with(APP, &Default::default(), &web_to_redis()), "NS147").is_empty());
    }
}
