//! Calico's policy model compiled into the generalised tiers of [`crate::rules`].
//!
//! Where Calico enforces the policies, a side walks Calico's tiers by `order` (no order: last; ties by name):
//! `kube-admin` (AdminNetworkPolicies, order 1000), the user's tiers, `default` (order 1,000,000: Kubernetes
//! NetworkPolicies at policy order 1000 beside Calico's policies of the tier) and `kube-baseline` (order
//! 10,000,000). Within a tier, policies go by `order` (none: last) then name; a rule's action decides the ports it
//! matches (Allow, Deny, Pass to the next tier, Log: go on); the ports no rule decides take the tier's
//! `defaultAction`, when some policy of the tier applies to the endpoint in that direction. An endpoint no tier
//! selects falls through to its profile, which allows. Staged policies are never enforced.
//!
//! Endpoints carry the labels Calico gives them: the pod's own, `projectcalico.org/namespace`,
//! `projectcalico.org/orchestrator`, `projectcalico.org/serviceaccount`, and their namespace's and service
//! account's labels behind `pcns.` and `pcsa.` (with `projectcalico.org/name`). NetworkSets and GlobalNetworkSets
//! (their nets) and HostEndpoints (their expected IPs) are the addresses selectors also match.

use crate::classes::ClassId;
use crate::portset::PortSet;
use crate::rules::{
    compile_admin_policy, compile_network_policy, tier_order, Action, CompiledRule, CompiledTier, EndpointMatch,
    PeerSet, PolicyKind, PortMatch, RuleOrigin, Selection, SelectorCache, SideCondition, TierId, TierPolicy, TierRule,
};
use fixedbitset::FixedBitSet;
use netseg_model::calico::{
    CalicoAction, CalicoPolicy, CalicoPort, CalicoProtocol, CalicoRule, EntityRule, ServiceAccountMatch, TierDefault,
    DEFAULT_TIER, DEFAULT_TIER_ORDER, KUBERNETES_POLICY_ORDER, KUBE_ADMIN_TIER, KUBE_ADMIN_TIER_ORDER,
    KUBE_BASELINE_TIER, KUBE_BASELINE_TIER_ORDER, NAMESPACE_LABEL, NAMESPACE_PREFIX, NAME_LABEL, ORCHESTRATOR_LABEL,
    SERVICE_ACCOUNT_LABEL, SERVICE_ACCOUNT_PREFIX,
};
use netseg_model::calico_selector::{CalicoSelector, Expr};
use netseg_model::{Cluster, Direction, IpBlock, Labels, Protocol, Tier};
use std::collections::HashMap;
use std::sync::Arc;

/// Every address block Calico's policies and network sets read: they tell addresses (and pods, by IP) apart.
pub fn blocks(cluster: &Cluster) -> Vec<IpBlock> {
    let block = |cidr: &netseg_model::Cidr| IpBlock { cidr: *cidr, except: Vec::new() };
    let mut blocks = Vec::new();
    for policy in cluster.calico.enforced().map(|(_, p)| p) {
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for entity in [&rule.source, &rule.destination] {
                blocks.extend(entity.nets.iter().chain(&entity.not_nets).map(block));
            }
        }
    }
    for set in &cluster.calico.network_sets {
        blocks.extend(set.nets.iter().map(block));
    }
    for host in &cluster.calico.host_endpoints {
        blocks.extend(host.expected_ips.iter().map(|ip| crate::addresses::host_block(*ip)));
    }
    blocks
}

/// An endpoint or address set a selector can pick, with the labels Calico gives it.
struct Candidate<'c> {
    labels: &'c Labels,
    namespace_labels: Option<&'c Labels>,
    service_account: Option<(&'c str, Option<&'c Labels>)>,
    /// The namespace's name, for `projectcalico.org/namespace` and `pcns.projectcalico.org/name`.
    namespace_name: Option<&'c str>,
}

impl<'c> Candidate<'c> {
    fn label(&self, key: &str) -> Option<&'c str> {
        match key {
            NAMESPACE_LABEL => return self.namespace_name,
            ORCHESTRATOR_LABEL if self.service_account.is_some() => return Some("k8s"),
            SERVICE_ACCOUNT_LABEL => return self.service_account.map(|(name, _)| name),
            _ => {}
        }
        if let Some(rest) = key.strip_prefix(NAMESPACE_PREFIX) {
            if self.namespace_name.is_some() {
                if rest == NAME_LABEL {
                    return self.namespace_name;
                }
                return self.namespace_labels.and_then(|labels| labels.get(rest)).map(|v| &**v);
            }
        }
        if let Some(rest) = key.strip_prefix(SERVICE_ACCOUNT_PREFIX) {
            if let Some((name, labels)) = self.service_account {
                if rest == NAME_LABEL {
                    return Some(name);
                }
                return labels.and_then(|labels| labels.get(rest)).map(|v| &**v);
            }
        }
        self.labels.get(key).map(|v| &**v)
    }

    fn matches(&self, selector: &CalicoSelector) -> bool {
        selector.matches(|key| self.label(key))
    }
}

/// The classes (pods on the pod network) and the address sets as candidates, once.
struct Universe<'c> {
    /// `(class, candidate)` for every class not on the host network.
    pods: Vec<(ClassId, Candidate<'c>)>,
    /// Indexes into `pods` by namespace name: a namespaced policy (and its rules without a `namespaceSelector`)
    /// can only pick its own namespace's endpoints, and thousands of policies need not scan every class.
    by_namespace: HashMap<&'c str, Vec<usize>>,
    /// Selections already made: rules repeat their peers (a tier label across an environment's namespaces).
    #[allow(clippy::type_complexity)]
    selections:
        std::cell::RefCell<HashMap<(CalicoSelector, Option<ServiceAccountMatch>, Option<Vec<String>>), Selection>>,
    /// Network sets and host endpoints: candidates with the blocks they stand for.
    sets: Vec<(Candidate<'c>, Vec<usize>)>,
}

impl<'c> Universe<'c> {
    fn new(cache: &SelectorCache<'c>) -> Universe<'c> {
        let cluster = cache.cluster;
        let classes = cache.classes;
        let accounts: HashMap<(&str, &str), &Labels> =
            cluster.service_accounts.iter().map(|sa| ((sa.namespace.as_str(), sa.name.as_str()), &sa.labels)).collect();
        let mut pods = Vec::new();
        for (id, class) in classes.classes.iter().enumerate() {
            if class.host_network {
                continue;
            }
            let namespace = &cluster.namespaces[class.namespace];
            let account = class.service_account.as_str();
            pods.push((
                id,
                Candidate {
                    labels: &class.labels,
                    namespace_labels: Some(&namespace.labels),
                    service_account: Some((account, accounts.get(&(namespace.name.as_str(), account)).copied())),
                    namespace_name: Some(namespace.name.as_str()),
                },
            ));
        }
        let block_of = |cidr: &netseg_model::Cidr| classes.block_id(&IpBlock { cidr: *cidr, except: Vec::new() });
        let mut sets = Vec::new();
        for set in &cluster.calico.network_sets {
            let namespace = set.namespace.as_deref().map(|name| cache.namespace_index(name));
            let namespace_labels = namespace.map(|i| &cluster.namespaces[i].labels);
            sets.push((
                Candidate {
                    labels: &set.labels,
                    namespace_labels,
                    service_account: None,
                    namespace_name: set.namespace.as_deref(),
                },
                set.nets.iter().filter_map(block_of).collect(),
            ));
        }
        for host in &cluster.calico.host_endpoints {
            let blocks = host
                .expected_ips
                .iter()
                .filter_map(|ip| classes.block_id(&crate::addresses::host_block(*ip)))
                .collect();
            sets.push((
                Candidate { labels: &host.labels, namespace_labels: None, service_account: None, namespace_name: None },
                blocks,
            ));
        }
        let mut by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, (_, candidate)) in pods.iter().enumerate() {
            if let Some(name) = candidate.namespace_name {
                by_namespace.entry(name).or_default().push(index);
            }
        }
        Universe { pods, by_namespace, sets, selections: Default::default() }
    }

    /// The pods a selector may pick: those of one namespace when it is scoped to one, else all.
    fn pods_in(&self, namespace: Option<&str>) -> Box<dyn Iterator<Item = &(ClassId, Candidate<'c>)> + '_> {
        match namespace {
            Some(name) => Box::new(self.by_namespace.get(name).into_iter().flatten().map(|&i| &self.pods[i])),
            None => Box::new(self.pods.iter()),
        }
    }

    /// The namespaces (with pods) whose endpoints a namespace scope (`pcns.` labels, `has(namespace)`) admits:
    /// the scope reads only what every endpoint of a namespace shares, so one endpoint answers for all.
    fn namespaces_in_scope(&self, scope: &CalicoSelector) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_namespace
            .iter()
            .filter(|(_, pods)| pods.first().is_some_and(|&i| self.pods[i].1.matches(scope)))
            .map(|(name, _)| name.to_string())
            .collect();
        names.sort_unstable();
        names
    }

    /// What a selector (already scoped, as Calico rewrites it) picks: pods as classes, sets as blocks.
    /// `namespaces`: the selector's namespace scope admits only these namespaces' pods, so only theirs are tried
    /// (network sets and host endpoints, few, are all tried: a scope such as `global()` admits those outside
    /// every namespace).
    fn select(
        &self,
        classes: usize,
        selector: &CalicoSelector,
        accounts: Option<&ServiceAccountMatch>,
        namespaces: Option<Vec<String>>,
    ) -> Selection {
        let key = (selector.clone(), accounts.cloned(), namespaces);
        if let Some(known) = self.selections.borrow().get(&key) {
            return known.clone();
        }
        let namespaces = key.2.as_deref();
        let mut set = FixedBitSet::with_capacity(classes);
        let pods: Box<dyn Iterator<Item = &(ClassId, Candidate<'c>)>> = match namespaces {
            Some(names) => Box::new(names.iter().flat_map(|name| self.pods_in(Some(name)))),
            None => self.pods_in(None),
        };
        for (id, candidate) in pods {
            if candidate.matches(selector) && accounts.is_none_or(|m| account_matches(candidate, m)) {
                set.insert(*id);
            }
        }
        let mut blocks = Vec::new();
        if accounts.is_none() {
            for (candidate, set_blocks) in &self.sets {
                if candidate.matches(selector) {
                    blocks.extend(set_blocks.iter().copied());
                }
            }
        }
        blocks.sort_unstable();
        blocks.dedup();
        let selection = Selection { classes: Arc::new(set), blocks };
        self.selections.borrow_mut().insert(key, selection.clone());
        selection
    }
}

fn account_matches(candidate: &Candidate<'_>, accounts: &ServiceAccountMatch) -> bool {
    let Some((name, labels)) = candidate.service_account else { return false };
    let by_name = accounts.names.is_empty() || accounts.names.iter().any(|n| n == name);
    let by_labels = accounts.selector.as_ref().is_none_or(|selector| {
        selector.matches(
            |key| {
                if key == NAME_LABEL {
                    Some(name)
                } else {
                    labels.and_then(|l| l.get(key)).map(|v| &**v)
                }
            },
        )
    });
    by_name && by_labels
}

/// `projectcalico.org/namespace == 'name'`.
fn in_namespace(name: &str) -> CalicoSelector {
    CalicoSelector { expr: Expr::Eq(NAMESPACE_LABEL.to_string(), name.to_string()) }
}

/// A rule's `namespaceSelector` as a selector over endpoint labels: `pcns.` before every label; `all()` is every
/// namespaced endpoint, `global()` every endpoint outside a namespace.
fn namespace_scope(selector: &CalicoSelector) -> CalicoSelector {
    let has = Expr::Has(NAMESPACE_LABEL.to_string());
    selector.with_prefix(NAMESPACE_PREFIX).replace_all_and_global(&has, &Expr::Not(Box::new(has.clone())))
}

/// Compiles one side of a rule: the conditions an entity rule sets on an endpoint, scoped as Calico scopes them
/// (a namespaced policy's selectors to its namespace unless a `namespaceSelector` says otherwise).
fn entity_match(
    universe: &Universe<'_>,
    classes: &crate::classes::Classes,
    entity: &EntityRule,
    namespace: Option<&str>,
) -> Option<EndpointMatch> {
    if entity.matches_any_endpoint() {
        return None;
    }
    let block_of = |cidr: &netseg_model::Cidr| {
        classes.block_id(&IpBlock { cidr: *cidr, except: Vec::new() }).unwrap_or(usize::MAX)
    };
    let selects = entity.selector.is_some()
        || entity.not_selector.is_some()
        || entity.namespace_selector.is_some()
        || entity.service_accounts.is_some();
    // Calico's conversion (libcalico-go's updateprocessors) ANDs the namespace part (the rule's namespaceSelector,
    // else a namespaced policy's own namespace) into the rule's selector whenever the rule selects at all. A
    // global policy's rule with only a notSelector is left with no positive selector: addresses outside every
    // endpoint match it, not only endpoints.
    let scope = match (&entity.namespace_selector, namespace) {
        (Some(selector), _) if selects => Some(namespace_scope(selector)),
        (None, Some(name)) if selects => Some(in_namespace(name)),
        _ => None,
    };
    // Which namespaces' endpoints the scope admits, so that only theirs are tried (the scope stays in the
    // selector: it is what decides for network sets and host endpoints).
    let only_namespaces = match (&scope, &entity.namespace_selector) {
        (Some(scope), Some(_)) => Some(universe.namespaces_in_scope(scope)),
        (Some(_), None) => namespace.map(|name| vec![name.to_string()]),
        (None, _) => None,
    };
    let positive = scope.is_some() || entity.selector.is_some() || entity.service_accounts.is_some();
    let selected = positive.then(|| {
        let selector =
            CalicoSelector::and(scope.into_iter().chain(entity.selector.clone()).collect::<Vec<CalicoSelector>>());
        universe.select(classes.len(), &selector, entity.service_accounts.as_ref(), only_namespaces)
    });
    let not_selected = entity.not_selector.as_ref().map(|s| universe.select(classes.len(), s, None, None));
    Some(EndpointMatch {
        selected,
        not_selected,
        // `services`: netseg does not resolve a Service's endpoints for Calico rules; the field narrows nothing,
        // so that the rule reads as broadly as it can match (docs/calico.md).
        services: None,
        nets: (!entity.nets.is_empty()).then(|| entity.nets.iter().map(block_of).collect()),
        not_nets: entity.not_nets.iter().map(block_of).collect(),
    })
}

/// The ports a rule matches: `destination.ports` (numbers, ranges, names) less `notPorts`, cut to `protocol` and
/// less `notProtocol`. A protocol without ports (ICMP, ...) matches nothing netseg answers about.
fn rule_ports(rule: &CalicoRule) -> PortMatch {
    let mut protocols = match rule.protocol {
        None => PortSet::all(),
        Some(CalicoProtocol::Ported(protocol)) => PortSet::protocol(protocol),
        Some(CalicoProtocol::Other(_)) => PortSet::empty(),
    };
    if let Some(CalicoProtocol::Ported(protocol)) = rule.not_protocol {
        protocols = protocols.difference(&PortSet::protocol(protocol));
    }
    let named_protocol = match rule.protocol {
        Some(CalicoProtocol::Ported(protocol)) => Some(protocol),
        _ => None,
    };
    let split = |ports: &[CalicoPort]| {
        let mut ranges = Vec::new();
        let mut named = Vec::new();
        for port in ports {
            match port {
                CalicoPort::Range(start, end) => {
                    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
                        ranges.push((protocol, *start, *end));
                    }
                }
                CalicoPort::Named(name) => named.push((name.clone(), named_protocol)),
            }
        }
        (PortSet::from_ranges(&ranges), named)
    };
    let destination = &rule.destination;
    let (numeric, named) =
        if destination.ports.is_empty() { (PortSet::all(), Vec::new()) } else { split(&destination.ports) };
    let (except, except_named) = split(&destination.not_ports);
    let mut ports = PortMatch::new(numeric, named);
    ports.except = except;
    ports.except_named = except_named;
    ports.protocols = protocols;
    ports
}

fn action(action: CalicoAction) -> Action {
    match action {
        CalicoAction::Allow => Action::Allow,
        CalicoAction::Deny => Action::Deny,
        CalicoAction::Pass => Action::Pass,
        CalicoAction::Log => Action::Log,
    }
}

/// One Calico policy: its endpoints, its directions (`types` after defaulting) and its rules in order.
fn compile_policy(cache: &SelectorCache<'_>, universe: &Universe<'_>, index: usize) -> TierPolicy {
    let cluster = cache.cluster;
    let classes = cache.classes;
    let policy = &cluster.calico.policies[index];
    let mut subjects = FixedBitSet::with_capacity(classes.len());
    for (id, candidate) in universe.pods_in(policy.namespace.as_deref()) {
        if policy_selects(policy, candidate) {
            subjects.insert(*id);
        }
    }
    let mut rules = Vec::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        for (rule_index, rule) in policy.rules(direction).iter().enumerate() {
            let (peer, own) = match direction {
                Direction::Ingress => (&rule.source, &rule.destination),
                Direction::Egress => (&rule.destination, &rule.source),
            };
            let namespace = policy.namespace.as_deref();
            let peers = entity_match(universe, classes, peer, namespace).map(|m| vec![PeerSet::Calico(Arc::new(m))]);
            // The source port is the client's to pick, and an HTTP match is for Calico's application layer: such
            // a rule allows what it matches (some client or request gets through), and never reliably denies.
            let unreliable = !rule.source.ports.is_empty() || !rule.source.not_ports.is_empty() || rule.http.is_some();
            let never = unreliable && rule.action != CalicoAction::Allow;
            let subject = entity_match(universe, classes, own, namespace);
            let condition = (subject.is_some() || rule.ip_version.is_some() || never)
                .then(|| Arc::new(SideCondition { subject, ip_version: rule.ip_version, never }));
            rules.push(TierRule {
                action: action(rule.action),
                rule: CompiledRule {
                    origin: RuleOrigin { kind: PolicyKind::Calico, policy: index, direction, rule: rule_index },
                    peers,
                    ports: rule_ports(rule),
                    condition,
                },
            });
        }
    }
    let applies = [policy.applies_to(Direction::Ingress), policy.applies_to(Direction::Egress)];
    TierPolicy { kind: PolicyKind::Calico, index, subjects: Arc::new(subjects), applies, rules }
}

/// Whether a policy selects an endpoint: its `selector`, in its namespace (namespaced kinds) or in the namespaces
/// its `namespaceSelector` picks (global kinds), run by a service account its `serviceAccountSelector` picks.
fn policy_selects(policy: &CalicoPolicy, candidate: &Candidate<'_>) -> bool {
    if let Some(namespace) = &policy.namespace {
        if candidate.namespace_name != Some(namespace.as_str()) {
            return false;
        }
    }
    if let Some(selector) = &policy.namespace_selector {
        if !candidate.matches(&namespace_scope(selector)) {
            return false;
        }
    }
    if let Some(selector) = &policy.service_account_selector {
        if !candidate.matches(&selector.with_prefix(SERVICE_ACCOUNT_PREFIX)) {
            return false;
        }
    }
    candidate.matches(&policy.selector)
}

/// One tier being assembled: its policies with their evaluation keys.
struct TierBuild {
    name: String,
    order: Option<f64>,
    default_action: Action,
    /// `(order, group, name)` per policy: policies go by order (none: last), then name.
    keys: Vec<(Option<f64>, String)>,
    policies: Vec<TierPolicy>,
}

fn sort_key(order: Option<f64>) -> (bool, f64) {
    (order.is_none(), order.unwrap_or(0.0))
}

/// The tiers in Calico's evaluation order, with the Kubernetes policies where Calico places them.
pub fn compile_tiers(cluster: &Cluster, classes: &crate::classes::Classes) -> Vec<CompiledTier> {
    let mut cache = SelectorCache::new(cluster, classes);
    let universe = Universe::new(&cache);
    let tier_default = |name: &str, fallback: Action| {
        cluster.calico.tier(name).map_or(fallback, |t| match t.default_action {
            TierDefault::Deny => Action::Deny,
            TierDefault::Pass => Action::Pass,
        })
    };
    let mut builds: Vec<TierBuild> = Vec::new();
    let fixed = |name: &str, order: f64, fallback: Action| TierBuild {
        name: name.to_string(),
        order: Some(order),
        default_action: tier_default(name, fallback),
        keys: Vec::new(),
        policies: Vec::new(),
    };
    let mut admin = fixed(KUBE_ADMIN_TIER, KUBE_ADMIN_TIER_ORDER, Action::Pass);
    let mut default = fixed(DEFAULT_TIER, DEFAULT_TIER_ORDER, Action::Deny);
    let mut baseline = fixed(KUBE_BASELINE_TIER, KUBE_BASELINE_TIER_ORDER, Action::Pass);
    // The Kubernetes policies first, at their cluster positions (the accessors of the NetworkPolicy tier index
    // them so), sorted in by key.
    for (position, index) in tier_order(cluster, Tier::Admin).into_iter().enumerate() {
        let priority = cluster.admin_policies[index].priority;
        admin.keys.push((Some(f64::from(priority)), format!("kanp.{position:010}")));
        admin.policies.push(compile_admin_policy(&mut cache, index));
    }
    for (position, index) in tier_order(cluster, Tier::Baseline).into_iter().enumerate() {
        baseline.keys.push((Some(KUBERNETES_POLICY_ORDER), format!("kbanp.{position:010}")));
        baseline.policies.push(compile_admin_policy(&mut cache, index));
    }
    for index in 0..cluster.policies.len() {
        default.keys.push((Some(KUBERNETES_POLICY_ORDER), format!("knp.default.{}", cluster.policies[index].name)));
        default.policies.push(compile_network_policy(&mut cache, index));
    }
    for tier in &cluster.calico.tiers {
        if ![KUBE_ADMIN_TIER, DEFAULT_TIER, KUBE_BASELINE_TIER].contains(&tier.name.as_str()) {
            builds.push(TierBuild {
                name: tier.name.clone(),
                order: tier.order,
                default_action: tier_default(&tier.name, Action::Deny),
                keys: Vec::new(),
                policies: Vec::new(),
            });
        }
    }
    // Pre-DNAT and untracked policies are rendered only for host endpoints (Felix gives a workload endpoint its
    // normal tiers alone), and netseg evaluates no host endpoint as a subject: NS172 reports them.
    for (index, policy) in cluster.calico.enforced().filter(|(_, p)| !p.host_endpoints_only()) {
        let compiled = compile_policy(&cache, &universe, index);
        let key = (policy.order, policy.name.clone());
        let build = match policy.tier.as_str() {
            KUBE_ADMIN_TIER => &mut admin,
            DEFAULT_TIER => &mut default,
            KUBE_BASELINE_TIER => &mut baseline,
            name => match builds.iter().position(|b| b.name == name) {
                Some(position) => &mut builds[position],
                None => {
                    // A tier the input does not define: Calico refuses such policies, netseg evaluates them last.
                    builds.push(TierBuild {
                        name: name.to_string(),
                        order: None,
                        default_action: Action::Deny,
                        keys: Vec::new(),
                        policies: Vec::new(),
                    });
                    let last = builds.len() - 1;
                    &mut builds[last]
                }
            },
        };
        build.keys.push(key);
        build.policies.push(compiled);
    }
    builds.sort_by(|a, b| {
        sort_key(a.order)
            .partial_cmp(&sort_key(b.order))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut all: Vec<(TierId, TierBuild)> =
        builds.into_iter().enumerate().map(|(i, b)| (TierId::Calico(i), b)).collect();
    all.push((TierId::Admin, admin));
    all.push((TierId::NetworkPolicy, default));
    all.push((TierId::Baseline, baseline));
    all.sort_by(|(_, a), (_, b)| {
        sort_key(a.order)
            .partial_cmp(&sort_key(b.order))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.name.cmp(&b.name))
    });
    all.into_iter().map(|(id, build)| assemble(id, build, classes.len())).collect()
}

fn assemble(id: TierId, build: TierBuild, classes: usize) -> CompiledTier {
    let union = id == TierId::NetworkPolicy && build.policies.iter().all(|p| p.kind == PolicyKind::NetworkPolicy);
    let mut rank: Vec<usize> = (0..build.keys.len()).collect();
    rank.sort_by(|&a, &b| {
        let (ka, kb) = (&build.keys[a], &build.keys[b]);
        sort_key(ka.0).partial_cmp(&sort_key(kb.0)).unwrap_or(std::cmp::Ordering::Equal).then_with(|| ka.1.cmp(&kb.1))
    });
    let mut position = vec![0; rank.len()];
    for (place, &policy) in rank.iter().enumerate() {
        position[policy] = place;
    }
    let mut tier = CompiledTier::named(
        id,
        Arc::from(build.name.as_str()),
        build.order,
        build.policies,
        classes,
        build.default_action,
        union,
    );
    for lists in &mut tier.applying {
        for list in lists.iter_mut() {
            list.sort_by_key(|&p| position[p]);
        }
    }
    tier
}

/// A Calico Pass rule whose passed traffic no later tier takes up for some endpoint it applies to: it falls
/// through to the endpoint's profile, which allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassToProfile {
    /// The rule (`origin.policy` indexes `Cluster::calico.policies`).
    pub origin: RuleOrigin,
    /// The endpoints it happens to.
    pub endpoints: Vec<crate::Endpoint>,
}

impl crate::Analysis<'_> {
    /// Calico Pass rules after which no tier applies to some of the policy's endpoints (in the rule's direction):
    /// what they pass is allowed by the profile. Empty where Calico's tiers are not evaluated.
    pub fn calico_passes_to_profile(&self) -> Vec<PassToProfile> {
        let mut found = Vec::new();
        for (position, tier) in self.tiers.iter().enumerate() {
            for policy in tier.policies.iter().filter(|p| p.kind == PolicyKind::Calico) {
                for rule in policy.rules.iter().filter(|r| r.action == Action::Pass) {
                    let slot = crate::rules::direction_slot(rule.direction());
                    let open: Vec<ClassId> = policy
                        .subjects
                        .ones()
                        .filter(|&class| self.tiers[position + 1..].iter().all(|t| t.applying[slot][class].is_empty()))
                        .collect();
                    if !open.is_empty() {
                        found.push(PassToProfile {
                            origin: rule.rule.origin,
                            endpoints: self.pods_in(open.into_iter()),
                        });
                    }
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use crate::{Endpoint, Network, NetworkChoice, PortSet};
    use netseg_model::load::{load_bytes, Inventory};
    use netseg_model::{Cluster, Protocol};
    use std::sync::Arc;

    fn cluster(text: &str) -> Cluster {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        let errors: Vec<String> = inventory
            .diagnostics
            .iter()
            .filter(|d| d.severity == netseg_model::Severity::Error)
            .map(|d| d.message.clone())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        Cluster::from_inventory(inventory)
    }

    fn calico() -> NetworkChoice {
        NetworkChoice { cni: Some("calico".into()), ..NetworkChoice::default() }
    }

    fn pod(c: &Cluster, name: &str) -> Endpoint {
        let workload = c.workloads.iter().position(|w| w.id.name == name).expect("fixture pod");
        Endpoint::Pod { workload, pod: 0 }
    }

    /// Pods `web` (app=web, port 80 named http), `client` (app=client) and `bad` (role=bad) in `a`; `other`
    /// (app=client) in `b` (team=blue); `sa-pod` in `a` run as service account `robot` (tier=backend).
    const PODS: &str = "kind: Namespace\nmetadata: {name: a, labels: {team: red}}\n---\n\
        kind: Namespace\nmetadata: {name: b, labels: {team: blue}}\n---\n\
        kind: Pod\nmetadata: {name: web, namespace: a, labels: {app: web}}\n\
        spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}\n---\n\
        kind: Pod\nmetadata: {name: client, namespace: a, labels: {app: client}}\n---\n\
        kind: Pod\nmetadata: {name: bad, namespace: a, labels: {role: bad}}\n---\n\
        kind: Pod\nmetadata: {name: other, namespace: b, labels: {app: client}}\n---\n\
        kind: ServiceAccount\nmetadata: {name: robot, namespace: a, labels: {tier: backend}}\n---\n\
        kind: Pod\nmetadata: {name: sa-pod, namespace: a}\nspec: {serviceAccountName: robot}\n---\n";

    fn allowed(text: &str, src: &str, dst: &str) -> PortSet {
        let c = cluster(&format!("{PODS}{text}"));
        let network = Network::new(&c, &calico()).expect("calico");
        network.effective().allowed(pod(&c, src), pod(&c, dst))
    }

    const GNP: &str = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n";
    const NP: &str = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n";

    #[test]
    fn a_global_default_deny_isolates_every_workload_and_unselected_endpoints_allow() {
        assert!(allowed("", "client", "web").is_all());
        let deny = format!("{GNP}metadata: {{name: deny}}\nspec: {{selector: all(), types: [Ingress, Egress]}}\n");
        assert!(allowed(&deny, "client", "web").is_empty());
        let web_only = format!("{GNP}metadata: {{name: deny}}\nspec: {{selector: app == 'web', types: [Ingress]}}\n");
        assert!(allowed(&web_only, "client", "web").is_empty());
        assert!(allowed(&web_only, "web", "client").is_all());
    }

    #[test]
    fn a_lower_order_deny_beats_a_kubernetes_allow_in_the_default_tier() {
        let knp = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow, namespace: a}\n\
            spec: {podSelector: {matchLabels: {app: web}}, ingress: [{}]}\n---\n";
        let deny = |order: u32| {
            format!(
                "{knp}{NP}metadata: {{name: deny-bad, namespace: a}}\nspec:\n  order: {order}\n  selector: app == 'web'\n  \
                 ingress:\n  - action: Deny\n    source: {{selector: role == 'bad'}}\n"
            )
        };
        assert!(allowed(&deny(100), "bad", "web").is_empty());
        assert!(allowed(&deny(100), "client", "web").is_all());
        // After the Kubernetes policy (order 1000), its allow decides first.
        assert!(allowed(&deny(2000), "bad", "web").is_all());
    }

    #[test]
    fn pass_hands_over_to_the_next_tier_and_the_tier_default_denies_the_rest() {
        let tier =
            "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n---\n";
        let policy = format!(
            "{tier}{GNP}metadata: {{name: security.web}}\nspec:\n  tier: security\n  selector: app == 'web'\n  ingress:\n  \
             - action: Pass\n    source: {{selector: app == 'client'}}\n  - action: Allow\n    source: {{namespaceSelector: team == 'blue'}}\n"
        );
        // Passed to the default tier, which no policy of selects: the profile allows.
        assert!(allowed(&policy, "client", "web").is_all());
        // Allowed in the security tier.
        assert!(allowed(&policy, "other", "web").is_all());
        // Neither rule matched: the security tier's implicit deny.
        assert!(allowed(&policy, "bad", "web").is_empty());
        let passing = policy.replace("spec: {order: 100}", "spec: {order: 100, defaultAction: Pass}");
        assert!(allowed(&passing, "bad", "web").is_all());
        // Passed, then a default-tier policy that only allows `other` denies `client`.
        let knp = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: only, namespace: a}\n\
            spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]}\n";
        assert!(allowed(&format!("{policy}{knp}"), "client", "web").is_empty());
    }

    #[test]
    fn ports_protocols_and_named_ports() {
        let policy = |rule: &str| {
            format!(
                "{GNP}metadata: {{name: p}}\nspec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n{rule}"
            )
        };
        let tcp80 =
            allowed(&policy("    protocol: TCP\n    destination: {ports: [80, '8000:8080']}\n"), "client", "web");
        assert!(tcp80.contains(Protocol::Tcp, 80) && tcp80.contains(Protocol::Tcp, 8080));
        assert!(!tcp80.contains(Protocol::Udp, 80) && !tcp80.contains(Protocol::Tcp, 81));
        let named = allowed(&policy("    protocol: TCP\n    destination: {ports: [http]}\n"), "client", "web");
        assert_eq!(named, PortSet::single(Protocol::Tcp, 80));
        let not_ports = allowed(&policy("    protocol: TCP\n    destination: {notPorts: [http]}\n"), "client", "web");
        assert!(!not_ports.contains(Protocol::Tcp, 80) && not_ports.contains(Protocol::Tcp, 81));
        assert!(!not_ports.contains(Protocol::Udp, 81));
        let not_udp = allowed(&policy("    notProtocol: UDP\n"), "client", "web");
        assert!(not_udp.contains(Protocol::Tcp, 1) && !not_udp.contains(Protocol::Udp, 1));
        assert!(allowed(&policy("    protocol: ICMP\n"), "client", "web").is_empty());
    }

    #[test]
    fn selectors_see_calico_labels_namespaces_and_service_accounts() {
        let allow_from = |source: &str| {
            format!(
                "{GNP}metadata: {{name: p}}\nspec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n    source: {source}\n"
            )
        };
        let by_namespace_label = allow_from("{selector: \"projectcalico.org/namespace == 'b'\"}");
        assert!(allowed(&by_namespace_label, "other", "web").is_all());
        assert!(allowed(&by_namespace_label, "client", "web").is_empty());
        let pcns = allow_from("{selector: \"pcns.team == 'red' && app == 'client'\"}");
        assert!(allowed(&pcns, "client", "web").is_all() && allowed(&pcns, "other", "web").is_empty());
        let ns_name = allow_from("{namespaceSelector: \"projectcalico.org/name == 'b'\"}");
        assert!(allowed(&ns_name, "other", "web").is_all() && allowed(&ns_name, "client", "web").is_empty());
        let accounts = allow_from("{serviceAccounts: {names: [robot]}}");
        assert!(allowed(&accounts, "sa-pod", "web").is_all() && allowed(&accounts, "client", "web").is_empty());
        let by_sa_labels = allow_from("{serviceAccounts: {selector: tier == 'backend'}}");
        assert!(allowed(&by_sa_labels, "sa-pod", "web").is_all());
        let not_selector = allow_from("{notSelector: role == 'bad'}");
        assert!(allowed(&not_selector, "client", "web").is_all() && allowed(&not_selector, "bad", "web").is_empty());
        // A namespaced policy's selectors stay in its namespace.
        let namespaced = format!(
            "{NP}metadata: {{name: p, namespace: a}}\nspec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n    \
             source: {{selector: app == 'client'}}\n"
        );
        assert!(allowed(&namespaced, "client", "web").is_all() && allowed(&namespaced, "other", "web").is_empty());
        let by_sa = format!(
            "{GNP}metadata: {{name: p}}\nspec: {{serviceAccountSelector: tier == 'backend', types: [Egress]}}\n"
        );
        assert!(allowed(&by_sa, "sa-pod", "web").is_empty() && allowed(&by_sa, "client", "web").is_all());
    }

    /// Found by the differential test against network-config-analyzer (crates/cli/tests/cli/nca.rs, Calico seed
    /// 20): a GlobalNetworkPolicy rule with only `notSelector` was read as "every endpoint but these", so addresses
    /// outside the cluster never matched it. Calico adds no positive selector there, so they do; a namespaced
    /// policy's rule keeps its namespace.
    #[test]
    fn calico_global_not_selector_alone_matches_addresses_outside_every_endpoint() {
        let egress = |kind: &str, meta: &str| {
            format!(
                "{PODS}{kind}metadata: {meta}\nspec:\n  selector: app == 'client'\n  types: [Egress]\n  egress:\n  \
                 - action: Allow\n    destination: {{notSelector: app == 'web'}}\n"
            )
        };
        let outside = Endpoint::Address("198.51.100.1".parse().expect("ip"));
        let global = cluster(&egress(GNP, "{name: p}"));
        let network = Network::new(&global, &calico()).expect("calico");
        let client = pod(&global, "client");
        assert!(network.effective().allowed(client, outside).is_all());
        assert!(network.effective().allowed(client, pod(&global, "web")).is_empty());
        let namespaced = cluster(&egress(NP, "{name: p, namespace: a}"));
        let network = Network::new(&namespaced, &calico()).expect("calico");
        assert!(network.effective().allowed(pod(&namespaced, "client"), outside).is_empty());
    }

    #[test]
    fn network_sets_are_the_external_ends_selectors_match() {
        let text = format!(
            "{PODS}apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {{name: partners, labels: {{kind: partner}}}}\n\
             spec: {{nets: [203.0.113.0/24]}}\n---\n{GNP}metadata: {{name: egress}}\nspec:\n  selector: app == 'client'\n  \
             egress:\n  - action: Allow\n    destination: {{selector: kind == 'partner'}}\n"
        );
        let c = cluster(&text);
        let network = Network::new(&c, &calico()).expect("calico");
        let client = pod(&c, "client");
        let partner = Endpoint::Address("203.0.113.7".parse().expect("ip"));
        let elsewhere = Endpoint::Address("198.51.100.1".parse().expect("ip"));
        assert!(network.effective().allowed(client, partner).is_all());
        assert!(network.effective().allowed(client, elsewhere).is_empty());
    }

    #[test]
    fn staged_policies_and_other_cnis_leave_calico_policies_out() {
        let staged = "apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: {name: deny}\n\
             spec: {selector: all(), types: [Ingress]}\n";
        let c = cluster(&format!("{PODS}{staged}"));
        let network = Network::new(&c, &calico()).expect("calico");
        assert!(network.effective().allowed(pod(&c, "client"), pod(&c, "web")).is_all());
        assert!(network.notes().iter().any(|n| n.contains("staged")), "{:?}", network.notes());

        let deny = format!("{GNP}metadata: {{name: deny}}\nspec: {{selector: all(), types: [Ingress]}}\n");
        let c = cluster(&format!("{PODS}{deny}"));
        let cilium = NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() };
        let network = Network::new(&c, &cilium).expect("cilium");
        assert!(network.effective().allowed(pod(&c, "client"), pod(&c, "web")).is_all());
        assert!(network.notes().iter().any(|n| n.contains("does not enforce Calico")), "{:?}", network.notes());
        // No CNI in the input: Calico's policies say Calico runs.
        let network = Network::new(&c, &NetworkChoice::default()).expect("none");
        assert!(network.effective().allowed(pod(&c, "client"), pod(&c, "web")).is_empty());
    }
}
