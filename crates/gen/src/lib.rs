//! A deterministic cluster generator for netseg's benchmarks and browser tests.
//!
//! Given a seed and a size it writes the same cluster every time: namespaces with team and env labels,
//! Deployments and StatefulSets with replicas, labels and named ports, Services, and NetworkPolicies in the
//! proportions real clusters show (a default-deny and a DNS allowance per namespace, then allow rules per workload:
//! pod, namespace and combined selectors, matchExpressions, ipBlocks with excepts, named ports, endPort ranges).
//! The Calico dialect ([`calico`]) segments the same cluster with Calico's tiers and objects instead.
//!
//! Two forms: `dump` is what `kubectl get -A -o json` returns (Pods with IPs, owned by ReplicaSets owned by
//! Deployments, or by StatefulSets), the realistic large input; `manifests` is what is applied (controllers with
//! pod templates, no Pods). The `adversarial` shape gives every pod distinct labels and fills policies with
//! overlapping CIDRs, to stress pod classes and address atoms.

pub mod calico;
pub mod yaml;

use serde_json::{json, Map, Value};
use std::io::{self, Write};

/// splitmix64: tiny, fast, and the same stream on every platform, which is all a generator needs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn hash(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len).map(|_| ALPHABET[self.below(ALPHABET.len())] as char).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `kubectl get -A -o json`: Pods with IPs, ReplicaSets, controllers, Services, policies.
    Dump,
    /// What is applied: controllers with templates, Services, policies; no Pods.
    Manifests,
    /// A dump without controllers (`kubectl get ns,pods,svc,netpol -A`): the pods as they are, for tools that
    /// would otherwise make up pods from the controllers' replicas.
    Pods,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Teams, environments, tiers of applications, policies like people write them.
    Realistic,
    /// Every pod's labels distinct, policies full of overlapping CIDRs.
    Adversarial,
}

/// Which objects segment the realistic cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Kubernetes NetworkPolicies (`networking.k8s.io/v1`).
    #[default]
    NetworkPolicy,
    /// Calico's own objects (`projectcalico.org/v3`): two Tiers with GlobalNetworkPolicies, GlobalNetworkSets, and
    /// per-namespace Calico NetworkPolicies in the `default` tier, one for each NetworkPolicy the other dialect writes.
    Calico,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub seed: u64,
    pub pods: usize,
    pub namespaces: usize,
    pub policies: usize,
    /// Average replicas of a Deployment; 1 makes every pod its own workload.
    pub replicas: usize,
    pub form: Form,
    pub shape: Shape,
    /// The adversarial shape always writes NetworkPolicies.
    pub dialect: Dialect,
}

/// The named sizes of the benchmarks.
pub const TIERS: &[(&str, usize, usize, usize, Shape)] = &[
    ("s-real", 5_400, 600, 13_700, Shape::Realistic),
    ("m", 10_000, 500, 10_000, Shape::Realistic),
    ("l", 50_000, 2_000, 20_000, Shape::Realistic),
    ("xl", 150_000, 10_000, 50_000, Shape::Realistic),
    ("adversarial", 20_000, 100, 5_000, Shape::Adversarial),
];

impl Spec {
    pub fn tier(name: &str) -> Option<Spec> {
        let &(_, pods, namespaces, policies, shape) = TIERS.iter().find(|t| t.0.eq_ignore_ascii_case(name))?;
        Some(Spec {
            seed: 1,
            pods,
            namespaces,
            policies,
            replicas: 3,
            form: Form::Dump,
            shape,
            dialect: Dialect::NetworkPolicy,
        })
    }
}

const TEAMS: &[&str] = &["payments", "checkout", "search", "identity", "catalog", "growth", "data", "platform"];
const ENVS: &[&str] = &["prod", "staging", "dev"];
const WORDS: &[&str] = &[
    "api", "web", "worker", "cart", "orders", "users", "auth", "billing", "ledger", "recs", "index", "feed", "mailer",
    "gateway", "profile", "media", "quotes", "ship", "tax", "audit",
];
const DATASTORES: &[(&str, &str, u16)] =
    &[("postgres", "postgres", 5432), ("redis", "redis", 6379), ("mysql", "mysql", 3306), ("kafka", "kafka", 9092)];
/// Where pods get their addresses: a /14 holds 262,144, enough for the largest tier.
const POD_NETWORK_BASE: u32 = 0x0af4_0000; // 10.244.0.0

/// Container ports: name, number, protocol.
type Ports = Vec<(String, u16, &'static str)>;

/// A workload as planned, before it is written out in either form.
struct Planned {
    namespace: String,
    name: String,
    kind: &'static str,
    replicas: usize,
    labels: Map<String, Value>,
    ports: Ports,
}

/// Writes objects one by one, so that a 150k-pod cluster never sits in memory as a tree.
pub trait Sink {
    fn object(&mut self, object: &Value) -> io::Result<()>;
}

/// Generates the cluster into `sink`; returns how many pods were written (templates count their replicas).
pub fn generate(spec: &Spec, sink: &mut dyn Sink) -> io::Result<usize> {
    match spec.shape {
        Shape::Realistic => realistic(spec, sink),
        Shape::Adversarial => adversarial(spec, sink),
    }
}

fn namespace(name: &str, labels: Map<String, Value>) -> Value {
    let mut labels = labels;
    labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "labels": labels, "uid": uid(name), "resourceVersion": "1"},
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

fn uid(seed: &str) -> String {
    let mut rng =
        Rng::new(seed.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        rng.next_u64() as u32,
        rng.next_u64() as u16,
        rng.next_u64() as u16,
        rng.next_u64() as u16,
        rng.next_u64() & 0xffff_ffff_ffff
    )
}

fn container(name: &str, image: &str, ports: &[(String, u16, &str)]) -> Value {
    let ports: Vec<Value> =
        ports.iter().map(|(n, p, proto)| json!({"name": n, "containerPort": p, "protocol": proto})).collect();
    json!({"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "ports": ports,
           "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
           "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
           "readinessProbe": {"httpGet": {"path": "/healthz", "port": ports.first().map_or(json!(8080), |p| p["name"].clone())}, "periodSeconds": 10},
           "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"})
}

fn template(w: &Planned, extra_labels: &Map<String, Value>) -> Value {
    let mut labels = w.labels.clone();
    labels.extend(extra_labels.clone());
    json!({"metadata": {"labels": labels},
           "spec": {"containers": [container(&w.name, &format!("registry.example.com/{}/{}:1.4.2", w.namespace, w.name), &w.ports)],
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30}})
}

fn selector_labels(w: &Planned) -> Value {
    json!({"app": w.labels["app"]})
}

struct Addresses(u32);

impl Addresses {
    fn next(&mut self) -> String {
        let ip = POD_NETWORK_BASE + self.0;
        self.0 += 1;
        std::net::Ipv4Addr::from(ip).to_string()
    }
}

/// Writes a planned workload: its controller, and in a dump its ReplicaSet and Pods.
fn write_workload(w: &Planned, form: Form, rng: &mut Rng, ips: &mut Addresses, sink: &mut dyn Sink) -> io::Result<()> {
    let meta = |name: &str, labels: &Map<String, Value>| {
        json!({"name": name, "namespace": w.namespace, "labels": labels, "uid": uid(&format!("{}/{name}", w.namespace)),
               "resourceVersion": "48213", "creationTimestamp": "2026-11-02T09:14:07Z", "generation": 1})
    };
    let controller_spec = |extra: &Map<String, Value>| {
        let mut spec = json!({"replicas": w.replicas, "selector": {"matchLabels": selector_labels(w)},
                              "template": template(w, extra), "revisionHistoryLimit": 10});
        if w.kind == "StatefulSet" {
            spec["serviceName"] = json!(w.name);
            spec["podManagementPolicy"] = json!("OrderedReady");
        }
        spec
    };
    let api = "apps/v1";
    let mut controller = json!({"apiVersion": api, "kind": w.kind, "metadata": meta(&w.name, &w.labels),
                                "spec": controller_spec(&Map::new())});
    if form == Form::Dump {
        controller["status"] = json!({"replicas": w.replicas, "readyReplicas": w.replicas, "observedGeneration": 1});
    }
    if form != Form::Pods {
        sink.object(&controller)?;
    }
    if form == Form::Manifests {
        return Ok(());
    }
    let (owner_kind, owner_name, hash_label) = if w.kind == "Deployment" {
        let hash = rng.hash(10);
        let rs_name = format!("{}-{hash}", w.name);
        let mut extra = Map::new();
        extra.insert("pod-template-hash".into(), json!(hash));
        let mut labels = w.labels.clone();
        labels.extend(extra.clone());
        let mut rs_meta = meta(&rs_name, &labels);
        rs_meta["ownerReferences"] = json!([{"apiVersion": api, "kind": "Deployment", "name": w.name,
                                               "uid": uid(&format!("{}/{}", w.namespace, w.name)), "controller": true, "blockOwnerDeletion": true}]);
        let mut spec = controller_spec(&extra);
        spec["selector"]["matchLabels"]["pod-template-hash"] = json!(hash);
        if form == Form::Dump {
            sink.object(&json!({"apiVersion": api, "kind": "ReplicaSet", "metadata": rs_meta, "spec": spec,
                                "status": {"replicas": w.replicas, "readyReplicas": w.replicas}}))?;
        }
        ("ReplicaSet", rs_name, Some(("pod-template-hash", hash)))
    } else {
        ("StatefulSet", w.name.clone(), None)
    };
    let revision = rng.hash(10);
    for index in 0..w.replicas {
        let mut extra = Map::new();
        let name = match &hash_label {
            Some((key, hash)) => {
                extra.insert((*key).into(), json!(hash));
                format!("{owner_name}-{}", rng.hash(5))
            }
            None => {
                // What the StatefulSet controller really adds: each pod's labels are its own.
                extra.insert("controller-revision-hash".into(), json!(format!("{}-{revision}", w.name)));
                extra.insert("statefulset.kubernetes.io/pod-name".into(), json!(format!("{}-{index}", w.name)));
                format!("{}-{index}", w.name)
            }
        };
        let mut pod = template(w, &extra);
        let mut labels = w.labels.clone();
        labels.extend(extra);
        let mut pod_meta = meta(&name, &labels);
        pod_meta["ownerReferences"] = json!([{"apiVersion": api, "kind": owner_kind, "name": owner_name,
                                                "uid": uid(&format!("{}/{owner_name}", w.namespace)), "controller": true, "blockOwnerDeletion": true}]);
        pod["metadata"] = pod_meta;
        pod["spec"]["nodeName"] = json!(format!("node-{}", rng.below(5000)));
        let ip = ips.next();
        pod["status"] = json!({"phase": "Running", "hostIP": format!("192.168.{}.{}", rng.below(20), 1 + rng.below(250)),
                               "podIP": ip, "podIPs": [{"ip": ip}], "qosClass": "Burstable",
                               "conditions": [{"type": "Ready", "status": "True"}]});
        let mut object = json!({"apiVersion": "v1", "kind": "Pod"});
        if let (Some(o), Value::Object(p)) = (object.as_object_mut(), pod) {
            o.extend(p);
        }
        sink.object(&object)?;
    }
    Ok(())
}

fn service(w: &Planned) -> Value {
    let ports: Vec<Value> = w
        .ports
        .iter()
        .map(|(name, port, proto)| json!({"name": name, "port": if *port == 8080 { 80 } else { *port }, "targetPort": name, "protocol": proto}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": w.name, "namespace": w.namespace, "labels": {"app": w.labels["app"]}},
           "spec": {"type": "ClusterIP", "selector": selector_labels(w), "ports": ports}})
}

fn policy(namespace: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": namespace, "labels": {"managed-by": "platform"}}, "spec": spec})
}

/// The system namespaces every cluster has, whose pods the policies name: DNS, the ingress controller, monitoring.
fn system(spec: &Spec, rng: &mut Rng, ips: &mut Addresses, sink: &mut dyn Sink) -> io::Result<usize> {
    let systems: [(&str, &str, Map<String, Value>, Ports); 3] = [
        (
            "kube-system",
            "coredns",
            labels(&[("k8s-app", "kube-dns")]),
            vec![("dns".into(), 53, "UDP"), ("dns-tcp".into(), 53, "TCP"), ("metrics".into(), 9153, "TCP")],
        ),
        (
            "ingress-nginx",
            "ingress-nginx-controller",
            labels(&[("app", "ingress-nginx"), ("app.kubernetes.io/component", "controller")]),
            vec![("http".into(), 80, "TCP"), ("https".into(), 443, "TCP")],
        ),
        ("monitoring", "prometheus", labels(&[("app", "prometheus")]), vec![("web".into(), 9090, "TCP")]),
    ];
    let mut pods = 0;
    for (ns, name, mut labels, ports) in systems {
        sink.object(&namespace(ns, Map::new()))?;
        if !labels.contains_key("app") {
            labels.insert("app".into(), json!(name));
        }
        // Two replicas, as these run, unless every workload is to have one pod.
        let replicas = spec.replicas.clamp(1, 2);
        let w = Planned { namespace: ns.into(), name: name.into(), kind: "Deployment", replicas, labels, ports };
        write_workload(&w, spec.form, rng, ips, sink)?;
        pods += w.replicas;
    }
    Ok(pods)
}

fn labels(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

fn realistic(spec: &Spec, sink: &mut dyn Sink) -> io::Result<usize> {
    let mut rng = Rng::new(spec.seed);
    let mut ips = Addresses(0);
    let system_pods = system(spec, &mut rng, &mut ips, sink)?;
    if spec.dialect == Dialect::Calico {
        calico::cluster_wide(sink)?;
    }
    let app_namespaces = spec.namespaces.saturating_sub(3).max(1);
    let app_pods = spec.pods.saturating_sub(system_pods);
    let mut pods_written = system_pods;
    let mut policies_written = 0;
    for n in 0..app_namespaces {
        let team = TEAMS[n % TEAMS.len()];
        let env = ENVS[(n / TEAMS.len()) % ENVS.len()];
        let ns = format!("{team}-{env}-{n}");
        sink.object(&namespace(&ns, labels(&[("team", team), ("env", env)])))?;
        // Spread pods and policies evenly, the remainder to the first namespaces.
        let pod_budget = app_pods / app_namespaces + usize::from(n < app_pods % app_namespaces);
        let policy_budget = spec.policies / app_namespaces + usize::from(n < spec.policies % app_namespaces);
        let mut planned = Vec::new();
        let mut left = pod_budget;
        while left > 0 {
            let stateful = rng.chance(15);
            let replicas = if spec.replicas <= 1 {
                1
            } else if stateful {
                1 + rng.below(3)
            } else {
                1 + rng.below(2 * spec.replicas - 1)
            }
            .min(left);
            left -= replicas;
            let index = planned.len();
            let (name, kind, tier, ports) = if stateful {
                let (store, port_name, port) = *rng.pick(DATASTORES);
                (
                    format!("{store}-{index}"),
                    "StatefulSet",
                    "db",
                    vec![(port_name.to_string(), port, "TCP"), ("metrics".into(), 9187, "TCP")],
                )
            } else {
                let tier = if index % 3 == 0 { "frontend" } else { "backend" };
                (
                    format!("{}-{index}", rng.pick(WORDS)),
                    "Deployment",
                    tier,
                    vec![("http".to_string(), 8080, "TCP"), ("metrics".into(), 9090, "TCP")],
                )
            };
            let labels = labels(&[
                ("app", &name),
                ("tier", tier),
                ("team", team),
                ("version", "v1"),
                ("app.kubernetes.io/part-of", &ns),
            ]);
            planned.push(Planned { namespace: ns.clone(), name, kind, replicas, labels, ports });
        }
        for w in &planned {
            write_workload(w, spec.form, &mut rng, &mut ips, sink)?;
            sink.object(&service(w))?;
            pods_written += w.replicas;
        }
        policies_written += namespace_policies(&ns, env, &planned, policy_budget, spec.dialect, &mut rng, sink)?;
    }
    debug_assert!(policies_written <= spec.policies + 2 * app_namespaces);
    Ok(pods_written)
}

/// A namespace's policies: default-deny and DNS first, then allowances per workload, round after round, until the
/// budget is spent (real namespaces carry several policies per workload: one per client, per port, per purpose).
fn namespace_policies(
    ns: &str,
    env: &str,
    planned: &[Planned],
    budget: usize,
    dialect: Dialect,
    rng: &mut Rng,
    sink: &mut dyn Sink,
) -> io::Result<usize> {
    let mut written = 0;
    let emit = |name: String, spec: Value, sink: &mut dyn Sink, written: &mut usize| -> io::Result<bool> {
        if *written >= budget {
            return Ok(false);
        }
        // One decision per policy, so that both dialects draw the same random stream and segment the same cluster.
        let object = match dialect {
            Dialect::NetworkPolicy => policy(ns, &name, spec),
            Dialect::Calico => calico::translate(ns, &name, &spec),
        };
        sink.object(&object)?;
        *written += 1;
        Ok(true)
    };
    emit("default-deny".into(), json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}), sink, &mut written)?;
    emit(
        "allow-dns".into(),
        json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}),
        sink,
        &mut written,
    )?;
    if planned.is_empty() {
        return Ok(written);
    }
    let datastores: Vec<&Planned> = planned.iter().filter(|w| w.kind == "StatefulSet").collect();
    let mut round = 0;
    while written < budget {
        for (i, w) in planned.iter().enumerate() {
            let app = &w.labels["app"];
            let tier = w.labels["tier"].as_str().unwrap_or("backend");
            let select = json!({"matchLabels": {"app": app}});
            let template = (round * 7 + i) % 8;
            let (name, spec) = match (template, tier) {
                (_, "db") if round == 0 => (
                    format!("{}-from-backends", w.name),
                    json!({"podSelector": select, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]}]}}],
                                 "ports": [{"port": w.ports[0].0, "protocol": "TCP"}]}]}),
                ),
                (0, _) | (_, "frontend") if round == 0 => (
                    format!("{}-from-ingress", w.name),
                    json!({"podSelector": select, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                                           "podSelector": {"matchLabels": {"app": "ingress-nginx"}}}],
                                 "ports": [{"port": "http", "protocol": "TCP"}]}]}),
                ),
                (1, _) => (
                    format!("{}-metrics-r{round}", w.name),
                    json!({"podSelector": select, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                                           "podSelector": {"matchLabels": {"app": "prometheus"}}}],
                                 "ports": [{"port": "metrics"}]}]}),
                ),
                (2, _) if !datastores.is_empty() => {
                    let store = datastores[rng.below(datastores.len())];
                    (
                        format!("{}-to-{}-r{round}", w.name, store.name),
                        json!({"podSelector": select, "policyTypes": ["Egress"],
                        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": store.labels["app"]}}}],
                                    "ports": [{"port": store.ports[0].0, "protocol": "TCP"}]}]}),
                    )
                }
                (3, _) => (
                    format!("{}-to-internet-r{round}", w.name),
                    json!({"podSelector": select, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.169.254/32"]}}],
                                "ports": [{"port": 443, "protocol": "TCP"}]}]}),
                ),
                (4, _) => (
                    format!("{}-from-team-r{round}", w.name),
                    json!({"podSelector": select, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": w.labels["team"], "env": env}},
                                           "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "backend"]}]}}],
                                 "ports": [{"port": "http", "protocol": "TCP"}]}]}),
                ),
                (5, _) => (
                    format!("{}-to-partner-r{round}", w.name),
                    json!({"podSelector": select, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": format!("203.0.{}.0/24", 113 + rng.below(8))}}],
                                "ports": [{"port": 8000, "endPort": 8100, "protocol": "TCP"}]}]}),
                ),
                (6, _) => (
                    format!("{}-from-same-ns-r{round}", w.name),
                    json!({"podSelector": select, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]},
                                                                              {"key": "version", "operator": "Exists"}]}}],
                                 "ports": [{"port": "http", "protocol": "TCP"}]}]}),
                ),
                _ => (
                    format!("{}-to-env-r{round}", w.name),
                    json!({"podSelector": select, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": [env]}]},
                                        "podSelector": {"matchLabels": {"tier": "backend"}}}],
                                "ports": [{"port": 8080, "protocol": "TCP"}]}]}),
                ),
            };
            if !emit(name, spec, sink, &mut written)? {
                break;
            }
        }
        round += 1;
    }
    Ok(written)
}

/// 20k pods whose labels are all distinct, and policies whose ipBlocks overlap every which way.
fn adversarial(spec: &Spec, sink: &mut dyn Sink) -> io::Result<usize> {
    let mut rng = Rng::new(spec.seed);
    let mut ips = Addresses(0);
    let namespaces = spec.namespaces.max(1);
    for n in 0..namespaces {
        sink.object(&namespace(&format!("adv-{n}"), labels(&[("shard", &(n % 10).to_string())])))?;
    }
    for p in 0..spec.pods {
        let ns = format!("adv-{}", p % namespaces);
        let mut labels = labels(&[("id", &format!("p{p}"))]);
        for _ in 0..4 {
            labels.insert(format!("k{}", rng.below(24)), json!(format!("v{}", rng.below(6))));
        }
        let name = format!("pod-{p}");
        let ip = ips.next();
        let ports = [(format!("port-{}", rng.below(4)), 8000 + rng.below(4) as u16, "TCP")];
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": uid(&name)},
            "spec": {"containers": [container(&name, "registry.example.com/adv:1", &ports)]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}});
        sink.object(&pod)?;
    }
    let cidr = |rng: &mut Rng| {
        let prefix = 16 + rng.below(13);
        let host = POD_NETWORK_BASE + (rng.next_u64() as u32 & 0x0003_ffff);
        let mask = u32::MAX << (32 - prefix);
        (std::net::Ipv4Addr::from(host & mask), prefix, host)
    };
    for i in 0..spec.policies {
        let ns = format!("adv-{}", i % namespaces);
        let (network, prefix, host) = cidr(&mut rng);
        let inner = (prefix + 2 + rng.below(6)).min(32);
        let except = std::net::Ipv4Addr::from(host & (u32::MAX << (32 - inner)));
        let peer_block =
            json!({"ipBlock": {"cidr": format!("{network}/{prefix}"), "except": [format!("{except}/{inner}")]}});
        let peer_pods = json!({"podSelector": {"matchExpressions": [
            {"key": format!("k{}", rng.below(24)), "operator": *rng.pick(&["In", "NotIn"]), "values": [format!("v{}", rng.below(6))]}]}});
        let selector = json!({"matchLabels": {format!("k{}", rng.below(24)): format!("v{}", rng.below(6))}});
        let direction = *rng.pick(&["Ingress", "Egress"]);
        let key = if direction == "Ingress" { "from" } else { "to" };
        let rule_key = direction.to_ascii_lowercase();
        let ports = json!([{"port": format!("port-{}", rng.below(4)), "protocol": "TCP"}, {"port": 9000, "endPort": 9000 + rng.below(500), "protocol": "TCP"}]);
        let spec_value = json!({"podSelector": selector, "policyTypes": [direction],
                                rule_key: [{key: [peer_block, peer_pods], "ports": ports}]});
        sink.object(&policy(&ns, &format!("adv-{i}"), spec_value))?;
    }
    Ok(spec.pods)
}

/// A JSON `List`, as `kubectl get -o json` writes it.
pub struct JsonList<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonList<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"metadata\": {\"resourceVersion\": \"\"},\n  \"items\": [\n")?;
        Ok(JsonList { out, first: true })
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n  ]\n}\n")?;
        Ok(self.out)
    }
}

impl<W: Write> Sink for JsonList<W> {
    fn object(&mut self, object: &Value) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        self.out.write_all(b"    ")?;
        serde_json::to_writer(&mut self.out, object)?;
        Ok(())
    }
}

/// A multi-document YAML stream, as Helm or `kubectl get ... -o yaml` per object writes it.
pub struct YamlStream<W: Write> {
    pub out: W,
}

impl<W: Write> Sink for YamlStream<W> {
    fn object(&mut self, object: &Value) -> io::Result<()> {
        self.out.write_all(b"---\n")?;
        let mut text = String::new();
        yaml::write(&mut text, object, 0);
        self.out.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<Value>);
    impl Sink for Collect {
        fn object(&mut self, object: &Value) -> io::Result<()> {
            self.0.push(object.clone());
            Ok(())
        }
    }

    fn run(spec: &Spec) -> Vec<Value> {
        let mut sink = Collect(Vec::new());
        generate(spec, &mut sink).expect("in memory");
        sink.0
    }

    fn count(objects: &[Value], kind: &str) -> usize {
        objects.iter().filter(|o| o["kind"] == kind).count()
    }

    fn small(form: Form, shape: Shape) -> Spec {
        Spec {
            seed: 7,
            pods: 300,
            namespaces: 12,
            policies: 200,
            replicas: 3,
            form,
            shape,
            dialect: Dialect::NetworkPolicy,
        }
    }

    #[test]
    fn the_same_seed_writes_the_same_cluster() {
        let spec = small(Form::Dump, Shape::Realistic);
        assert_eq!(run(&spec), run(&spec));
        assert_ne!(run(&spec), run(&Spec { seed: 8, ..spec }));
    }

    #[test]
    fn a_dump_has_exactly_the_requested_pods_namespaces_and_policies() {
        let objects = run(&small(Form::Dump, Shape::Realistic));
        assert_eq!(count(&objects, "Pod"), 300);
        assert_eq!(count(&objects, "Namespace"), 12);
        assert_eq!(count(&objects, "NetworkPolicy"), 200);
        let ips: std::collections::HashSet<&Value> =
            objects.iter().map(|o| &o["status"]["podIP"]).filter(|ip| !ip.is_null()).collect();
        assert_eq!(ips.len(), 300, "every pod has its own IP");
    }

    #[test]
    fn manifests_have_templates_that_add_up_to_the_pods() {
        let objects = run(&small(Form::Manifests, Shape::Realistic));
        assert_eq!(count(&objects, "Pod"), 0);
        let replicas: u64 = objects
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
            .map(|o| o["spec"]["replicas"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(replicas, 300);
    }

    #[test]
    fn policies_use_every_construct_the_issue_names() {
        let text = serde_json::to_string(&run(&small(Form::Manifests, Shape::Realistic))).expect("json");
        for construct in [
            "\"except\"",
            "\"endPort\"",
            "\"matchExpressions\"",
            "\"namespaceSelector\"",
            "\"port\":\"http\"",
            "\"policyTypes\":[\"Ingress\",\"Egress\"]",
        ] {
            assert!(text.contains(construct), "no {construct}");
        }
    }

    #[test]
    fn one_replica_makes_every_pod_its_own_workload() {
        let objects = run(&Spec { replicas: 1, ..small(Form::Manifests, Shape::Realistic) });
        let controllers: Vec<&Value> =
            objects.iter().filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet").collect();
        assert_eq!(controllers.len(), 300);
        assert!(controllers.iter().all(|o| o["spec"]["replicas"] == 1));
    }

    #[test]
    fn adversarial_pods_have_distinct_labels() {
        let objects = run(&Spec { pods: 500, namespaces: 5, policies: 50, ..small(Form::Dump, Shape::Adversarial) });
        let labels: std::collections::HashSet<String> =
            objects.iter().filter(|o| o["kind"] == "Pod").map(|o| o["metadata"]["labels"].to_string()).collect();
        assert_eq!(labels.len(), 500);
        assert_eq!(count(&objects, "NetworkPolicy"), 50);
    }

    fn calico(form: Form) -> Spec {
        Spec { dialect: Dialect::Calico, ..small(form, Shape::Realistic) }
    }

    #[test]
    fn the_calico_dialect_segments_the_same_cluster_with_calico_objects() {
        let plain = run(&small(Form::Dump, Shape::Realistic));
        let objects = run(&calico(Form::Dump));
        assert_eq!(objects, run(&calico(Form::Dump)), "deterministic from the seed");
        let calico_kind = |kind: &str| {
            objects.iter().filter(|o| o["apiVersion"] == "projectcalico.org/v3" && o["kind"] == kind).count()
        };
        assert_eq!(count(&objects, "NetworkPolicy"), calico_kind("NetworkPolicy"), "no Kubernetes policy left");
        assert_eq!(calico_kind("NetworkPolicy"), 200, "one Calico policy for each NetworkPolicy");
        assert_eq!(calico_kind("Tier"), 2);
        assert_eq!(calico_kind("GlobalNetworkPolicy"), 3);
        assert_eq!(calico_kind("GlobalNetworkSet"), 8);
        assert_eq!(calico_kind("NetworkSet"), 1);
        // The cluster itself is the NetworkPolicy dialect's, object for object.
        let workloads = |objects: &[Value]| -> Vec<Value> {
            objects
                .iter()
                .filter(|o| o["kind"] != "NetworkPolicy" && o["apiVersion"] != "projectcalico.org/v3")
                .cloned()
                .collect()
        };
        assert_eq!(workloads(&objects), workloads(&plain));
    }

    /// Loads a generated Calico cluster as netseg does and asks it questions that only Calico's tiers answer.
    #[test]
    fn the_calico_dialect_loads_without_errors_and_its_tiers_decide() {
        use netseg_engine::query::{self, PortQuery, Resolver};
        use netseg_engine::{Action, Analysis, EngineOptions, TierHit};
        use netseg_model::{load_cluster, Input, Severity};

        let path = std::env::temp_dir().join(format!("netseg-gen-calico-{}.yaml", std::process::id()));
        let mut stream = YamlStream { out: Vec::new() };
        generate(&calico(Form::Dump), &mut stream).expect("in memory");
        std::fs::write(&path, &stream.out).expect("write the cluster");
        let (cluster, diagnostics) = load_cluster(&[Input::Path(path.clone())], None);
        let _ = std::fs::remove_file(&path);
        let errors: Vec<_> = diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cluster.calico.policies.len(), 203);
        assert!(cluster.policies.is_empty(), "no Kubernetes policy");

        let analysis = Analysis::with_options(&cluster, &EngineOptions { calico: true, ..EngineOptions::default() });
        let resolver = Resolver::new(&cluster);
        let frontend = cluster
            .workloads
            .iter()
            .find(|w| w.pods.first().is_some_and(|p| p.facts.labels.get("tier").map(|v| &**v) == Some("frontend")))
            .expect("a frontend");
        let ask = |from: &str, to: &str, port: u16| {
            let from = resolver.resolve(from).expect("from");
            let to = resolver.resolve(to).expect("to");
            query::verdict(
                &analysis,
                from,
                to,
                PortQuery::new(Some("TCP"), Some(port)).expect("port"),
                Default::default(),
            )
        };
        let ingress =
            cluster.workloads.iter().find(|w| w.id.namespace == "ingress-nginx").expect("the ingress controller");
        let policy_name = |hit: &TierHit| cluster.calico.policies[hit.origin.policy].name.clone();

        // The ingress controller reaches a frontend's http port: allowed by the platform tier's policy.
        let verdict = ask(&ingress.id.to_string(), &frontend.id.to_string(), 8080);
        assert!(!verdict.allowed_ports.is_empty(), "{verdict:?}");
        let platform =
            verdict.explanation.ingress.tiers.iter().find(|t| &*t.name == "platform").expect("platform tier");
        assert!(
            platform.hits.iter().any(|h| h.action == Action::Allow && policy_name(h) == "platform.ingress-controller"),
            "{platform:?}"
        );

        // The cloud metadata address is denied by the security tier, before any application policy.
        let verdict = ask(&frontend.id.to_string(), "169.254.169.254", 80);
        assert!(verdict.allowed_ports.is_empty(), "{verdict:?}");
        let security = verdict.explanation.egress.tiers.iter().find(|t| &*t.name == "security").expect("security tier");
        assert!(security.hits.iter().any(|h| h.action == Action::Deny && policy_name(h) == "security.baseline"));
    }
}
