//! Renderers: engine answers to text for people (optionally coloured), JSON with versioned schemas, CSV,
//! Markdown, Graphviz DOT, Mermaid, a self-contained HTML report, and the differ's and the generator's reports.
//! Nothing here computes connectivity.

pub mod audit;
pub mod blast;
pub mod can;
mod can_calico;
mod can_cilium;
pub mod diff;
pub mod generate;
pub mod graph;
pub mod html;
pub mod reach;
mod style;

pub use style::Style;

use netseg_engine::addresses::IpRange;
use netseg_engine::ReachEndpoint;
use netseg_model::Cluster;

/// The id users see for a reach endpoint: `ns/name[Kind]`, a CIDR, or address ranges.
pub fn endpoint_id(cluster: &Cluster, endpoint: &ReachEndpoint) -> String {
    match endpoint {
        ReachEndpoint::Workload(index) => cluster.workloads[*index].id.to_string(),
        ReachEndpoint::External { ranges } => ranges_id(ranges),
    }
}

/// One CIDR when the ranges are exactly one, else the ranges joined by commas.
pub fn ranges_id(ranges: &[IpRange]) -> String {
    let cidrs: Vec<_> = ranges.iter().flat_map(IpRange::cidrs).collect();
    if cidrs.len() == 1 {
        return cidrs[0].to_string();
    }
    let whole_families: Vec<String> = ranges
        .iter()
        .map(|r| match r.cidrs().as_slice() {
            [single] => single.to_string(),
            _ if r.start == r.end => r.start.to_string(),
            _ => format!("{}-{}", r.start, r.end),
        })
        .collect();
    whole_families.join(",")
}

/// JSON for people and line-based tools alike: the top-level object pretty, each list item compact on its own line.
pub fn json_text(value: &serde_json::Value) -> String {
    use serde_json::Value;
    let Value::Object(map) = value else { return format!("{value}\n") };
    let mut out = String::from("{\n");
    for (index, (key, item)) in map.iter().enumerate() {
        let key = Value::String(key.clone());
        match item {
            Value::Array(items) if !items.is_empty() => {
                out.push_str(&format!("  {key}: [\n"));
                for (i, element) in items.iter().enumerate() {
                    let comma = if i + 1 < items.len() { "," } else { "" };
                    out.push_str(&format!("    {element}{comma}\n"));
                }
                out.push_str("  ]");
            }
            _ => out.push_str(&format!("  {key}: {item}")),
        }
        out.push_str(if index + 1 < map.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}
