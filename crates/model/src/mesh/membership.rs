//! Which mesh proxy stands in front of a pod, and which of its inbound ports the proxy never sees.
//!
//! Read from the labels and annotations the meshes' injectors read: Istio's `istio-injection` / `istio.io/rev`
//! namespace labels and `sidecar.istio.io/inject` pod label (and legacy annotation), `istio.io/dataplane-mode`
//! for ambient, Linkerd's `linkerd.io/inject` annotation on the pod or its namespace, Consul's
//! `consul.hashicorp.com/connect-inject`. A pod from a dump that already carries its injector's status
//! annotation, or the proxy's image, is in the mesh whatever the labels say. Host-network pods are never injected.

use crate::kube::{Namespace, PodFacts};
use crate::selector::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeshKind {
    Istio,
    Linkerd,
    Consul,
}

impl MeshKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MeshKind::Istio => "Istio",
            MeshKind::Linkerd => "Linkerd",
            MeshKind::Consul => "Consul",
        }
    }
}

/// A pod's place in the meshes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dataplane {
    /// The mesh whose proxy receives the pod's inbound traffic; `None` outside every mesh.
    pub mesh: Option<MeshKind>,
    /// Istio ambient: ztunnel (L4 only) rather than a sidecar.
    pub ambient: bool,
    /// Istio ambient: the waypoint (`namespace/name`) that serves the pod's L7 policy.
    pub waypoint: Option<String>,
    /// Inbound port ranges that bypass the proxy (excluded by annotation, or everything when capture is off).
    pub bypassed: Vec<(u16, u16)>,
    /// Why the pod is (or is not) in a mesh, in the input's words.
    pub reason: String,
}

impl Dataplane {
    pub fn in_mesh(&self) -> bool {
        self.mesh.is_some()
    }

    /// Whether the proxy sees inbound traffic on `port`.
    pub fn captures(&self, port: u16) -> bool {
        self.mesh.is_some() && !self.bypassed.iter().any(|(start, end)| (*start..=*end).contains(&port))
    }

    /// Whether the pod's own connections leave through the mesh (mTLS with its identity).
    pub fn sends_mtls(&self) -> bool {
        self.mesh.is_some()
    }
}

/// The pod's dataplane, given its namespace (`None` when the input does not define it).
pub fn dataplane(pod: &PodFacts, namespace: Option<&Namespace>) -> Dataplane {
    let empty = Labels::new();
    let ns_labels = namespace.map_or(&empty, |n| &n.labels);
    let ns_annotations = namespace.map_or(&empty, |n| &n.annotations);
    if pod.host_network {
        return Dataplane { reason: "on the host network, which no mesh injects".into(), ..Dataplane::default() };
    }
    if let Some(reason) = istio_sidecar(pod, ns_labels) {
        let mut bypassed = Vec::new();
        let include = pod.annotations.get("traffic.sidecar.istio.io/includeInboundPorts").map(|v| &**v);
        match include {
            None | Some("*") => {}
            Some(list) => {
                // Only the listed ports are captured: everything else bypasses the sidecar.
                let included = parse_port_list(list).unwrap_or_default();
                bypassed.extend(complement(&included));
            }
        }
        if let Some(list) = pod.annotations.get("traffic.sidecar.istio.io/excludeInboundPorts") {
            bypassed.extend(parse_port_list(list).unwrap_or_default());
        }
        return Dataplane {
            mesh: Some(MeshKind::Istio),
            bypassed: normalise(bypassed),
            reason,
            ..Dataplane::default()
        };
    }
    if let Some(reason) = linkerd_proxy(pod, ns_annotations) {
        let skipped = pod
            .annotations
            .get("config.linkerd.io/skip-inbound-ports")
            .or_else(|| ns_annotations.get("config.linkerd.io/skip-inbound-ports"));
        let bypassed = skipped.and_then(|list| parse_port_list(list).ok()).unwrap_or_default();
        return Dataplane {
            mesh: Some(MeshKind::Linkerd),
            bypassed: normalise(bypassed),
            reason,
            ..Dataplane::default()
        };
    }
    if let Some(reason) = consul_proxy(pod) {
        let transparent = pod
            .annotations
            .get("consul.hashicorp.com/transparent-proxy")
            .or_else(|| ns_labels.get("consul.hashicorp.com/transparent-proxy"))
            .is_none_or(|v| &**v != "false");
        let bypassed = if transparent {
            let excluded = pod.annotations.get("consul.hashicorp.com/transparent-proxy-exclude-inbound-ports");
            excluded.and_then(|list| parse_port_list(list).ok()).unwrap_or_default()
        } else {
            // Without transparent proxying, the application's own ports stay reachable directly; only the
            // sidecar's port enforces intentions.
            vec![(1, 65535)]
        };
        return Dataplane {
            mesh: Some(MeshKind::Consul),
            bypassed: normalise(bypassed),
            reason,
            ..Dataplane::default()
        };
    }
    if let Some(reason) = istio_ambient(pod, ns_labels) {
        let waypoint = waypoint_of(&pod.labels, ns_labels);
        let bypassed = if pod.annotations.get("ambient.istio.io/bypass-inbound-capture").is_some_and(|v| &**v == "true")
        {
            vec![(1, 65535)]
        } else {
            Vec::new()
        };
        return Dataplane { mesh: Some(MeshKind::Istio), ambient: true, waypoint, bypassed, reason };
    }
    Dataplane { reason: "no mesh injects it".into(), ..Dataplane::default() }
}

fn istio_sidecar(pod: &PodFacts, ns_labels: &Labels) -> Option<String> {
    if pod.annotations.contains_key("sidecar.istio.io/status") {
        return Some("its sidecar.istio.io/status annotation (injected by Istio)".into());
    }
    if pod.images.iter().any(|image| image.contains("istio/proxyv2") || image.contains("/proxyv2:")) {
        return Some("its istio-proxy container".into());
    }
    let pod_label = pod.labels.get("sidecar.istio.io/inject").map(|v| &**v);
    let ns_injection = ns_labels.get("istio-injection").map(|v| &**v);
    // Either label saying no wins; then either saying yes (or a revision label) injects.
    if ns_injection == Some("disabled") || pod_label == Some("false") {
        return None;
    }
    if pod.annotations.get("sidecar.istio.io/inject").is_some_and(|v| &**v == "false") {
        return None;
    }
    if ns_injection == Some("enabled") {
        return Some("namespace label istio-injection=enabled".into());
    }
    if pod_label == Some("true") {
        return Some("pod label sidecar.istio.io/inject=true".into());
    }
    if let Some(revision) = ns_labels.get("istio.io/rev") {
        return Some(format!("namespace label istio.io/rev={revision}"));
    }
    if let Some(revision) = pod.labels.get("istio.io/rev") {
        return Some(format!("pod label istio.io/rev={revision}"));
    }
    None
}

fn istio_ambient(pod: &PodFacts, ns_labels: &Labels) -> Option<String> {
    if pod.annotations.get("ambient.istio.io/redirection").is_some_and(|v| &**v == "enabled") {
        return Some("its ambient.istio.io/redirection annotation (enrolled in ambient)".into());
    }
    match pod.labels.get("istio.io/dataplane-mode").map(|v| &**v) {
        Some("ambient") => Some("pod label istio.io/dataplane-mode=ambient".into()),
        Some("none") => None,
        _ => ns_labels
            .get("istio.io/dataplane-mode")
            .filter(|mode| &***mode == "ambient")
            .map(|_| "namespace label istio.io/dataplane-mode=ambient".into()),
    }
}

/// `istio.io/use-waypoint` on the pod, else its namespace; `none` on the pod opts out.
fn waypoint_of(pod_labels: &Labels, ns_labels: &Labels) -> Option<String> {
    let (name, labels) = match pod_labels.get("istio.io/use-waypoint") {
        Some(name) => (name, pod_labels),
        None => (ns_labels.get("istio.io/use-waypoint")?, ns_labels),
    };
    if &**name == "none" || name.is_empty() {
        return None;
    }
    let namespace = labels.get("istio.io/use-waypoint-namespace").cloned();
    let namespace =
        namespace.unwrap_or_else(|| ns_labels.get(crate::NAMESPACE_NAME_LABEL).cloned().unwrap_or_default());
    Some(format!("{namespace}/{name}"))
}

fn linkerd_proxy(pod: &PodFacts, ns_annotations: &Labels) -> Option<String> {
    if pod.annotations.contains_key("linkerd.io/proxy-version") {
        return Some("its linkerd.io/proxy-version annotation (injected by Linkerd)".into());
    }
    if pod.images.iter().any(|image| image.contains("linkerd/proxy:") || image.ends_with("linkerd/proxy")) {
        return Some("its linkerd-proxy container".into());
    }
    match pod.annotations.get("linkerd.io/inject").map(|v| &**v) {
        Some(mode @ ("enabled" | "ingress")) => Some(format!("pod annotation linkerd.io/inject: {mode}")),
        Some(_) => None,
        None => match ns_annotations.get("linkerd.io/inject").map(|v| &**v) {
            Some(mode @ ("enabled" | "ingress")) => Some(format!("namespace annotation linkerd.io/inject: {mode}")),
            _ => None,
        },
    }
}

fn consul_proxy(pod: &PodFacts) -> Option<String> {
    if pod.annotations.get("consul.hashicorp.com/connect-inject-status").is_some_and(|v| &**v == "injected") {
        return Some("its consul.hashicorp.com/connect-inject-status annotation (injected by Consul)".into());
    }
    pod.annotations
        .get("consul.hashicorp.com/connect-inject")
        .filter(|v| &***v == "true")
        .map(|_| "pod annotation consul.hashicorp.com/connect-inject: \"true\"".into())
}

/// A comma-separated list of ports and `start-end` ranges (`*` is every port), as the injectors read them.
pub fn parse_port_list(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut ranges = Vec::new();
    for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        if item == "*" {
            ranges.push((1, 65535));
            continue;
        }
        let (start, end) = item.split_once('-').unwrap_or((item, item));
        let parse = |t: &str| t.trim().parse::<u16>().ok().filter(|p| *p >= 1);
        match (parse(start), parse(end)) {
            (Some(start), Some(end)) if start <= end => ranges.push((start, end)),
            _ => return Err(format!("`{item}` is not a port or a port range")),
        }
    }
    Ok(ranges)
}

/// Sorted, merged ranges.
fn normalise(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if u32::from(start) <= u32::from(last.1) + 1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn complement(ranges: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut result = Vec::new();
    let mut next = 1u32;
    for (start, end) in normalise(ranges.to_vec()) {
        if u32::from(start) > next {
            result.push((next as u16, start - 1));
        }
        next = u32::from(end) + 1;
    }
    if next <= 65535 {
        result.push((next as u16, 65535));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> PodFacts {
        PodFacts {
            labels: labels.iter().map(|(k, v)| (*k, *v)).collect(),
            annotations: annotations.iter().map(|(k, v)| (*k, *v)).collect(),
            ..PodFacts::default()
        }
    }

    fn namespace(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Namespace {
        let mut labels: Labels = labels.iter().map(|(k, v)| (*k, *v)).collect();
        labels.insert(crate::NAMESPACE_NAME_LABEL, "shop");
        Namespace {
            name: "shop".into(),
            labels,
            annotations: annotations.iter().map(|(k, v)| (*k, *v)).collect(),
            ignore: Default::default(),
            location: None,
        }
    }

    #[test]
    fn istio_injection_follows_the_injector_rules() {
        let enabled = namespace(&[("istio-injection", "enabled")], &[]);
        assert_eq!(dataplane(&pod(&[], &[]), Some(&enabled)).mesh, Some(MeshKind::Istio));
        let opted_out = pod(&[("sidecar.istio.io/inject", "false")], &[]);
        assert_eq!(dataplane(&opted_out, Some(&enabled)).mesh, None, "the pod label saying no wins");
        let disabled = namespace(&[("istio-injection", "disabled")], &[]);
        let opted_in = pod(&[("sidecar.istio.io/inject", "true")], &[]);
        assert_eq!(dataplane(&opted_in, Some(&disabled)).mesh, None, "the namespace label saying no wins");
        assert_eq!(dataplane(&opted_in, Some(&namespace(&[], &[]))).mesh, Some(MeshKind::Istio));
        let revision = namespace(&[("istio.io/rev", "canary")], &[]);
        assert_eq!(dataplane(&pod(&[], &[]), Some(&revision)).mesh, Some(MeshKind::Istio));
        let legacy = pod(&[], &[("sidecar.istio.io/inject", "false")]);
        assert_eq!(dataplane(&legacy, Some(&enabled)).mesh, None);
        let mut host = pod(&[], &[]);
        host.host_network = true;
        assert_eq!(dataplane(&host, Some(&enabled)).mesh, None);
    }

    #[test]
    fn excluded_and_included_inbound_ports_bypass_the_sidecar() {
        let enabled = namespace(&[("istio-injection", "enabled")], &[]);
        let excluded = pod(&[], &[("traffic.sidecar.istio.io/excludeInboundPorts", "9090, 8081")]);
        let plane = dataplane(&excluded, Some(&enabled));
        assert!(!plane.captures(9090) && !plane.captures(8081) && plane.captures(8080));
        let included = pod(&[], &[("traffic.sidecar.istio.io/includeInboundPorts", "8080")]);
        let plane = dataplane(&included, Some(&enabled));
        assert!(plane.captures(8080) && !plane.captures(8081) && !plane.captures(1));
    }

    #[test]
    fn ambient_with_a_waypoint() {
        let ambient = namespace(&[("istio.io/dataplane-mode", "ambient"), ("istio.io/use-waypoint", "waypoint")], &[]);
        let plane = dataplane(&pod(&[], &[]), Some(&ambient));
        assert!(plane.ambient);
        assert_eq!(plane.waypoint.as_deref(), Some("shop/waypoint"));
        let none = pod(&[("istio.io/use-waypoint", "none")], &[]);
        assert_eq!(dataplane(&none, Some(&ambient)).waypoint, None);
        let out = pod(&[("istio.io/dataplane-mode", "none")], &[]);
        assert!(!dataplane(&out, Some(&ambient)).in_mesh());
    }

    #[test]
    fn linkerd_and_consul_injection() {
        let meshed =
            namespace(&[], &[("linkerd.io/inject", "enabled"), ("config.linkerd.io/skip-inbound-ports", "4000-4010")]);
        let plane = dataplane(&pod(&[], &[]), Some(&meshed));
        assert_eq!(plane.mesh, Some(MeshKind::Linkerd));
        assert!(!plane.captures(4005) && plane.captures(4011));
        let disabled = pod(&[], &[("linkerd.io/inject", "disabled")]);
        assert!(!dataplane(&disabled, Some(&meshed)).in_mesh());
        let consul = pod(&[], &[("consul.hashicorp.com/connect-inject", "true")]);
        assert_eq!(dataplane(&consul, None).mesh, Some(MeshKind::Consul));
        let no_tproxy = pod(
            &[],
            &[("consul.hashicorp.com/connect-inject", "true"), ("consul.hashicorp.com/transparent-proxy", "false")],
        );
        assert!(!dataplane(&no_tproxy, None).captures(8080));
    }

    #[test]
    fn port_lists() {
        assert_eq!(parse_port_list("80, 443,8000-8010"), Ok(vec![(80, 80), (443, 443), (8000, 8010)]));
        assert!(parse_port_list("http").is_err());
        assert!(parse_port_list("90-80").is_err());
        assert_eq!(complement(&[(1, 79), (81, 65535)]), vec![(80, 80)]);
    }
}
