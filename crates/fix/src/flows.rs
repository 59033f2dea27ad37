//! Observed flows: Hubble's JSON (`hubble observe -o json`, one object per line, each either a flow or a
//! `{"flow": ...}` response) and a plain CSV `src_namespace,src_workload,dst_namespace,dst_workload,port,protocol`.
//!
//! Endpoints resolve to workloads of the input (by Hubble's `workloads`, then the pod name, then the pod's IP) or,
//! for addresses outside the cluster, to the address. Only forwarded, non-reply L4 flows count: a reply is the
//! other half of a connection already counted, and a dropped flow is one the cluster refused.

use netseg_engine::query;
use netseg_model::{Cluster, Protocol};
use serde_json::Value;
use std::net::IpAddr;

/// One end of an observed flow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlowEndpoint {
    Workload(usize),
    Address(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFlow {
    pub src: FlowEndpoint,
    pub dst: FlowEndpoint,
    pub protocol: Protocol,
    pub port: u16,
    /// `flows.csv:3`.
    pub origin: String,
}

/// A line that could not be read, or an endpoint the input does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct FlowProblem {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
    /// Errors make the run exit 2; a flow that is merely not used (a reply, a drop, an endpoint outside the
    /// input) is a warning.
    pub error: bool,
}

/// The flows of a file, and what was wrong with the rest. The format is told by the content: a first
/// non-blank character `{` means Hubble JSON.
pub fn read(cluster: &Cluster, file: &str, text: &str) -> (Vec<ObservedFlow>, Vec<FlowProblem>) {
    if text.trim_start().starts_with('{') {
        read_hubble(cluster, file, text)
    } else {
        read_csv(cluster, file, text)
    }
}

fn problem(file: &str, line: usize, field: &str, message: impl Into<String>, error: bool) -> FlowProblem {
    FlowProblem { file: file.to_string(), line, field: field.to_string(), message: message.into(), error }
}

pub fn read_csv(cluster: &Cluster, file: &str, text: &str) -> (Vec<ObservedFlow>, Vec<FlowProblem>) {
    const COLUMNS: [&str; 6] = ["src_namespace", "src_workload", "dst_namespace", "dst_workload", "port", "protocol"];
    let mut flows = Vec::new();
    let mut problems = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let row = raw.trim();
        if row.is_empty() || row.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if index == 0 && cells.first() == Some(&"src_namespace") {
            continue;
        }
        if cells.len() != 5 && cells.len() != 6 {
            problems.push(problem(
                file,
                line,
                "row",
                format!("expected the columns {} (protocol optional), found {} cells", COLUMNS.join(","), cells.len()),
                true,
            ));
            continue;
        }
        let port = match cells[4].parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                problems.push(problem(file, line, "port", format!("`{}` is not a port 1-65535", cells[4]), true));
                continue;
            }
        };
        let protocol_text = cells.get(5).copied().filter(|p| !p.is_empty()).unwrap_or("TCP");
        let Some(protocol) = Protocol::from_user(protocol_text) else {
            problems.push(problem(file, line, "protocol", format!("`{protocol_text}` is not TCP, UDP or SCTP"), true));
            continue;
        };
        let mut end = |ns: &str, name: &str, column: &str| match csv_endpoint(cluster, ns, name) {
            Ok(endpoint) => Some(endpoint),
            Err(message) => {
                problems.push(problem(file, line, column, message, false));
                None
            }
        };
        let src = end(cells[0], cells[1], COLUMNS[1]);
        let dst = end(cells[2], cells[3], COLUMNS[3]);
        if let (Some(src), Some(dst)) = (src, dst) {
            flows.push(ObservedFlow { src, dst, protocol, port, origin: format!("{file}:{line}") });
        }
    }
    (flows, problems)
}

/// `ns,name` (a workload name, `name[Kind]` or a pod name), or `,ADDRESS` for an address outside the cluster.
fn csv_endpoint(cluster: &Cluster, namespace: &str, name: &str) -> Result<FlowEndpoint, String> {
    if let Ok(addr) = name.parse::<IpAddr>() {
        return Ok(address_endpoint(cluster, addr));
    }
    let text = format!("{namespace}/{name}");
    match query::resolve(cluster, &text) {
        Ok(query::Resolved { workload: Some(workload), .. }) => Ok(FlowEndpoint::Workload(workload)),
        Ok(resolved) => Err(format!("`{}` is not a workload of the input", resolved.display)),
        Err(error) => Err(format!("`{text}`: {error}; the flow is not used")),
    }
}

/// A pod's IP stands for its workload; any other address is outside the cluster.
fn address_endpoint(cluster: &Cluster, addr: IpAddr) -> FlowEndpoint {
    cluster
        .workloads
        .iter()
        .position(|w| w.pods.iter().any(|p| p.facts.ips.contains(&addr)))
        .map_or(FlowEndpoint::Address(addr), FlowEndpoint::Workload)
}

pub fn read_hubble(cluster: &Cluster, file: &str, text: &str) -> (Vec<ObservedFlow>, Vec<FlowProblem>) {
    let mut flows = Vec::new();
    let mut problems = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(raw) {
            Ok(value) => value,
            Err(error) => {
                problems.push(problem(file, line, "line", format!("not JSON: {error}"), true));
                continue;
            }
        };
        let flow = value.get("flow").unwrap_or(&value);
        if flow.get("source").is_none() && flow.get("IP").is_none() {
            continue; // node status and other events carry no flow
        }
        match hubble_flow(cluster, flow) {
            Ok(Some((src, dst, protocol, port))) => {
                flows.push(ObservedFlow { src, dst, protocol, port, origin: format!("{file}:{line}") })
            }
            Ok(None) => {}
            Err((field, message, error)) => problems.push(problem(file, line, field, message, error)),
        }
    }
    (flows, problems)
}

/// Hubble's field, in the proto name (`destination_port`) or its camelCase JSON name (`destinationPort`).
fn field<'v>(value: &'v Value, snake: &str) -> Option<&'v Value> {
    value.get(snake).or_else(|| {
        let mut camel = String::new();
        let mut upper = false;
        for c in snake.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                camel.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                camel.push(c);
            }
        }
        value.get(camel.as_str())
    })
}

type HubbleAnswer = Result<Option<(FlowEndpoint, FlowEndpoint, Protocol, u16)>, (&'static str, String, bool)>;

fn hubble_flow(cluster: &Cluster, flow: &Value) -> HubbleAnswer {
    let verdict = flow.get("verdict").and_then(Value::as_str).unwrap_or("FORWARDED");
    let reply = field(flow, "is_reply").and_then(Value::as_bool).unwrap_or(false)
        || flow.get("reply").and_then(Value::as_bool).unwrap_or(false);
    if verdict != "FORWARDED" || reply {
        return Ok(None);
    }
    let Some(l4) = flow.get("l4") else { return Ok(None) }; // ICMP and L7-only records name no port
    let (protocol, ports) = match (l4.get("TCP"), l4.get("UDP"), l4.get("SCTP")) {
        (Some(tcp), _, _) => (Protocol::Tcp, tcp),
        (_, Some(udp), _) => (Protocol::Udp, udp),
        (_, _, Some(sctp)) => (Protocol::Sctp, sctp),
        _ => return Ok(None),
    };
    let port = field(ports, "destination_port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or(("l4.destination_port", "a flow without a destination port 1-65535".to_string(), true))?;
    let ip = flow.get("IP");
    let src = hubble_endpoint(cluster, flow.get("source"), ip.and_then(|i| i.get("source")))
        .map_err(|m| ("source", m, false))?;
    let dst = hubble_endpoint(cluster, flow.get("destination"), ip.and_then(|i| i.get("destination")))
        .map_err(|m| ("destination", m, false))?;
    Ok(Some((src, dst, protocol, port)))
}

fn hubble_endpoint(cluster: &Cluster, endpoint: Option<&Value>, ip: Option<&Value>) -> Result<FlowEndpoint, String> {
    let namespace = endpoint.and_then(|e| e.get("namespace")).and_then(Value::as_str).filter(|n| !n.is_empty());
    if let (Some(endpoint), Some(namespace)) = (endpoint, namespace) {
        let workloads = endpoint.get("workloads").and_then(Value::as_array).into_iter().flatten();
        for workload in workloads {
            let name = workload.get("name").and_then(Value::as_str).unwrap_or_default();
            let kind = workload.get("kind").and_then(Value::as_str).unwrap_or_default();
            let text =
                if kind.is_empty() { format!("{namespace}/{name}") } else { format!("{namespace}/{name}[{kind}]") };
            if let Ok(query::Resolved { workload: Some(w), .. }) = query::resolve(cluster, &text) {
                return Ok(FlowEndpoint::Workload(w));
            }
        }
        if let Some(pod) = field(endpoint, "pod_name").and_then(Value::as_str).filter(|p| !p.is_empty()) {
            if let Ok(query::Resolved { workload: Some(w), .. }) =
                query::resolve(cluster, &format!("{namespace}/{pod}"))
            {
                return Ok(FlowEndpoint::Workload(w));
            }
            if let Some(w) = owner_by_pod_name(cluster, namespace, pod) {
                return Ok(FlowEndpoint::Workload(w));
            }
            return Err(format!("pod {namespace}/{pod} belongs to no workload of the input; the flow is not used"));
        }
    }
    let addr = ip
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<IpAddr>().ok())
        .ok_or_else(|| "neither a workload of the input nor an IP address".to_string())?;
    match address_endpoint(cluster, addr) {
        FlowEndpoint::Address(_) if namespace.is_some() => Err(format!(
            "{addr} is a pod in namespace {} that the input does not have; the flow is not used",
            namespace.unwrap_or_default()
        )),
        endpoint => Ok(endpoint),
    }
}

/// Pods of a Deployment are named `<deployment>-<replicaset hash>-<suffix>`, of a StatefulSet `<name>-<ordinal>`,
/// of a DaemonSet or Job `<name>-<suffix>`: the workload whose name is the longest such prefix.
fn owner_by_pod_name(cluster: &Cluster, namespace: &str, pod: &str) -> Option<usize> {
    cluster
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| w.id.namespace == namespace)
        .filter(|(_, w)| pod.strip_prefix(w.id.name.as_str()).is_some_and(|rest| rest.starts_with('-')))
        .max_by_key(|(_, w)| w.id.name.len())
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_model::{load_bytes, Inventory};
    use std::sync::Arc;

    fn cluster() -> Cluster {
        let mut inventory = Inventory::default();
        let text = concat!(
            "kind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {template: {metadata: {labels: {app: web}}}}\n---\n",
            "kind: StatefulSet\nmetadata: {name: db, namespace: shop}\nspec: {template: {metadata: {labels: {app: db}}}}\n",
        );
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        Cluster::from_inventory(inventory)
    }

    fn names(c: &Cluster, flows: &[ObservedFlow]) -> Vec<String> {
        let end = |e: &FlowEndpoint| match e {
            FlowEndpoint::Workload(w) => c.workloads[*w].id.to_string(),
            FlowEndpoint::Address(a) => a.to_string(),
        };
        flows.iter().map(|f| format!("{} {} {} {}", end(&f.src), end(&f.dst), f.protocol, f.port)).collect()
    }

    #[test]
    fn csv_rows_with_header_comments_and_addresses() {
        let c = cluster();
        let text = "src_namespace,src_workload,dst_namespace,dst_workload,port,protocol\n# a comment\nshop,web,shop,db,5432,TCP\nshop,web,,203.0.113.9,443\nshop,web,shop,db[StatefulSet],53,udp\n";
        let (flows, problems) = read(&c, "f.csv", text);
        assert_eq!(problems, []);
        assert_eq!(
            names(&c, &flows),
            [
                "shop/web[Deployment] shop/db[StatefulSet] TCP 5432",
                "shop/web[Deployment] 203.0.113.9 TCP 443",
                "shop/web[Deployment] shop/db[StatefulSet] UDP 53"
            ]
        );
        assert_eq!(flows[0].origin, "f.csv:3");
    }

    #[test]
    fn csv_problems_name_the_line_and_column() {
        let c = cluster();
        let (flows, problems) = read(
            &c,
            "f.csv",
            "shop,web,shop,db,0,TCP\nshop,web,shop,db,80,ICMP\nshop,web,shop\nshop,ghost,shop,db,80,TCP\n",
        );
        assert!(flows.is_empty());
        let described: Vec<(usize, &str, bool)> =
            problems.iter().map(|p| (p.line, p.field.as_str(), p.error)).collect();
        assert_eq!(described, [(1, "port", true), (2, "protocol", true), (3, "row", true), (4, "src_workload", false)]);
    }

    #[test]
    fn hubble_flows_count_forwarded_requests_only() {
        let c = cluster();
        let text = [
            // A request, wrapped as `hubble observe -o json` prints it.
            r#"{"flow":{"verdict":"FORWARDED","IP":{"source":"10.0.1.5","destination":"10.0.2.7"},"l4":{"TCP":{"source_port":40000,"destination_port":5432}},"source":{"namespace":"shop","pod_name":"web-6d4cf56db6-x2x4z","labels":["k8s:app=web"]},"destination":{"namespace":"shop","pod_name":"db-0","workloads":[{"name":"db","kind":"StatefulSet"}]},"is_reply":false},"node_name":"n1"}"#,
            // Its reply, a drop, a node event and an ICMP flow: none is a flow to allow.
            r#"{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"source_port":5432,"destination_port":40000}},"source":{"namespace":"shop","pod_name":"db-0"},"destination":{"namespace":"shop","pod_name":"web-6d4cf56db6-x2x4z"},"is_reply":true}}"#,
            r#"{"flow":{"verdict":"DROPPED","l4":{"TCP":{"destination_port":22}},"source":{"namespace":"shop","pod_name":"web-1"},"destination":{"namespace":"shop","pod_name":"db-0"}}}"#,
            r#"{"node_status":{"state":"NODE_CONNECTED"}}"#,
            r#"{"flow":{"verdict":"FORWARDED","l4":{"ICMPv4":{"type":8}},"source":{"namespace":"shop","pod_name":"web-1"},"IP":{"destination":"1.1.1.1"}}}"#,
            // A bare flow in camelCase JSON names, to an address outside the cluster.
            r#"{"verdict":"FORWARDED","IP":{"source":"10.0.1.5","destination":"93.184.216.34"},"l4":{"UDP":{"destinationPort":123}},"source":{"namespace":"shop","podName":"web-6d4cf56db6-x2x4z"},"destination":{"identity":2,"labels":["reserved:world"]},"isReply":false}"#,
            "",
            "not json",
            r#"{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":80}},"source":{"namespace":"other","pod_name":"x-1"},"IP":{"source":"10.9.9.9","destination":"10.0.2.7"},"destination":{"namespace":"shop","pod_name":"db-0"}}}"#,
        ]
        .join("\n");
        let (flows, problems) = read(&c, "h.json", &text);
        assert_eq!(
            names(&c, &flows),
            ["shop/web[Deployment] shop/db[StatefulSet] TCP 5432", "shop/web[Deployment] 93.184.216.34 UDP 123"]
        );
        assert_eq!(flows[1].origin, "h.json:6");
        let described: Vec<(usize, &str, bool)> =
            problems.iter().map(|p| (p.line, p.field.as_str(), p.error)).collect();
        assert_eq!(described, [(8, "line", true), (9, "source", false)]);
    }
}
