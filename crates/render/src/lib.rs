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
    let mut out = Vec::new();
    let written = (|| {
        let mut document = JsonDocument::start(&mut out)?;
        for (key, item) in map {
            match item {
                Value::Array(items) => document.values(key, items)?,
                _ => document.field(key, item)?,
            }
        }
        document.finish()
    })();
    // Writing into a Vec fails only when serialising does, which a Value never does.
    debug_assert!(written.is_ok());
    String::from_utf8(out).unwrap_or_default()
}

/// The layout of [`json_text`] written field by field, so that a list of millions of items goes out as it is
/// produced instead of being built whole first.
pub struct JsonDocument<'w> {
    out: &'w mut dyn std::io::Write,
    fields: usize,
}

impl<'w> JsonDocument<'w> {
    pub fn start(out: &'w mut dyn std::io::Write) -> std::io::Result<Self> {
        out.write_all(b"{\n")?;
        Ok(JsonDocument { out, fields: 0 })
    }

    fn key(&mut self, key: &str) -> std::io::Result<()> {
        self.out.write_all(if self.fields == 0 { b"  " } else { b",\n  " })?;
        self.fields += 1;
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.write_all(b": ")
    }

    /// A field whose value is written compact on the key's line.
    pub fn field(&mut self, key: &str, value: &impl serde::Serialize) -> std::io::Result<()> {
        self.key(key)?;
        Ok(serde_json::to_writer(&mut *self.out, value)?)
    }

    /// A list with each item on its own line, written by `write_item` (compact JSON) as the items come.
    pub fn list<T, E: Into<std::io::Error>>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = T>,
        mut write_item: impl FnMut(&mut dyn std::io::Write, T) -> Result<(), E>,
    ) -> std::io::Result<()> {
        self.key(key)?;
        let mut empty = true;
        for item in items {
            self.out.write_all(if empty { b"[\n    " } else { b",\n    " })?;
            empty = false;
            write_item(&mut *self.out, item).map_err(Into::into)?;
        }
        self.out.write_all(if empty { b"[]" } else { b"\n  ]" })
    }

    /// A list of values, each compact on its own line.
    pub fn values<T: serde::Serialize>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = T>,
    ) -> std::io::Result<()> {
        self.list(key, items, |out, item| serde_json::to_writer(out, &item))
    }

    pub fn finish(self) -> std::io::Result<()> {
        self.out.write_all(if self.fields == 0 { b"}\n" } else { b"\n}\n" })
    }
}
