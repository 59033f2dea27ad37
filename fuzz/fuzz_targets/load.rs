//! The loader on arbitrary bytes: YAML streams, JSON, lists, garbage. It must never panic, and whatever it keeps
//! must be well-formed enough for the engine: every object it returns assembles into a cluster that analyses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netseg_model::{load_bytes, Cluster, Inventory, Severity};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the reader, so one corpus exercises both, and whether parsing runs on its own thread
    // (the path inputs of more than a few hundred KiB take).
    let Some((&mode, bytes)) = data.split_first() else { return };
    let mut inventory = Inventory::default();
    if mode & 2 == 2 {
        inventory.limits.pipeline_from_bytes = 0;
    }
    load_bytes(&mut inventory, Arc::from("fuzz.yaml"), bytes, mode & 1 == 1);
    for diagnostic in &inventory.diagnostics {
        // Every diagnostic names its file, and a line within the input when it has one.
        assert_eq!(diagnostic.file.as_ref(), "fuzz.yaml");
        if let Some(line) = diagnostic.line {
            let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
            assert!(line >= 1 && line as usize <= lines, "line {line} of {lines}: {diagnostic}");
        }
        let _ = diagnostic.to_string();
    }
    let errors = inventory.diagnostics.iter().any(|d| d.severity == Severity::Error);
    let cluster = Cluster::from_inventory(inventory);
    let analysis = netseg_engine::Analysis::new(&cluster);
    let _ = analysis.workload_connections();
    let _ = errors;
});
