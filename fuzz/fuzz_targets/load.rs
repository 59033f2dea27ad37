//! The loader on arbitrary bytes: YAML streams, JSON, lists, garbage. It must never panic, and whatever it keeps
//! must be well-formed enough for the engine: every object it returns assembles into a cluster that analyses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netseg_model::{load_bytes, Cluster, Inventory, Severity};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the reader, so one corpus exercises both, and whether the input is read on every core
    // (the path inputs of more than a few hundred KiB take); read that way, it must read as on one thread.
    let Some((&mode, bytes)) = data.split_first() else { return };
    let json = mode & 1 == 1;
    let load = |parallel_from_bytes| {
        let mut inventory = Inventory::default();
        inventory.limits.parallel_from_bytes = parallel_from_bytes;
        load_bytes(&mut inventory, Arc::from("fuzz.yaml"), bytes, json);
        inventory
    };
    let inventory = load(u64::MAX);
    if mode & 2 == 2 {
        let on_every_core = load(0);
        assert_eq!(read(&on_every_core), read(&inventory), "read on every core differs from one thread");
    }
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

/// What a load read, but for the index of objects seen (a hash map, printed in no fixed order).
fn read(i: &Inventory) -> String {
    format!(
        "{:?}",
        (
            &i.namespaces,
            &i.workloads,
            &i.services,
            &i.policies,
            &i.config_maps,
            &i.unmodelled,
            &i.mesh,
            &i.diagnostics,
            (i.documents_read, i.objects_read, i.namespace_defaulted)
        )
    )
}
