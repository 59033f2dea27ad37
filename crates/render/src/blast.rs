//! `netseg blast-radius` output.

use crate::Style;
use netseg_audit::blast::BlastRadius;
use serde_json::{json, Value};
use std::fmt::Write;

pub const SCHEMA: &str = "netseg.blast-radius/v1";

pub fn text(radius: &BlastRadius, style: Style) -> String {
    let mut out = String::new();
    let sensitive = radius.targets.iter().filter(|t| t.sensitivity.is_sensitive()).count();
    let deepest = radius.targets.iter().map(|t| t.hops).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "{}",
        style.strong(&format!(
            "blast radius of {}: {} targets, {sensitive} sensitive, up to {deepest} hop(s)",
            radius.origin,
            radius.targets.len()
        ))
    );
    let mut heading = None;
    for target in &radius.targets {
        let section = if target.sensitivity.is_sensitive() { "SENSITIVE" } else { "REACHABLE" };
        if heading != Some(section) {
            heading = Some(section);
            let _ =
                writeln!(out, "\n{}", if section == "SENSITIVE" { style.bad(section) } else { style.strong(section) });
        }
        let label = target.sensitivity.label();
        let _ = writeln!(
            out,
            "  {}  [{label}] {}  ({} hop{})",
            style.strong(&target.name),
            target.detail,
            target.hops,
            if target.hops == 1 { "" } else { "s" }
        );
        let mut chain = target.path.first().map(|h| h.from.clone()).unwrap_or_default();
        for hop in &target.path {
            let _ = write!(chain, " —{}→ {}", hop.ports, hop.to);
        }
        let _ = writeln!(out, "    {}", style.dim(&format!("path: {chain}")));
    }
    if radius.targets.is_empty() {
        out.push_str("\nnothing: the origin reaches no workload and no sensitive address\n");
    }
    out
}

pub fn json(radius: &BlastRadius) -> Value {
    json!({"schema": SCHEMA, "origin": radius.origin, "targets": radius.targets})
}
