//! The loader on arbitrary bytes: YAML streams, JSON, lists, garbage. It must never panic, and whatever it keeps
//! must be well-formed enough for the engine: every object it returns assembles into a cluster that analyses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netseg_model::{load_bytes, load_json_in_parts, Cluster, Inventory, Severity};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the reader, so one corpus exercises both, whether the input is read on every core (the
    // path inputs of more than a few hundred KiB take) and whether a JSON input is read in parts (as large JSON
    // files are); read either way, it must read as on one thread.
    let Some((&mode, bytes)) = data.split_first() else { return };
    let json = mode & 1 == 1;
    let load = |parallel_from_bytes| {
        let mut inventory = Inventory::default();
        inventory.limits.parallel_from_bytes = parallel_from_bytes;
        load_bytes(&mut inventory, Arc::from("fuzz.yaml"), bytes, json);
        inventory
    };
    let inventory = load(u64::MAX);
    if json {
        // What no decoder reads of a pod or a workload is checked but not built: the same as built and not read.
        let mut whole = Inventory::default();
        whole.limits.parallel_from_bytes = u64::MAX;
        whole.limits.parse.whole_json_objects = true;
        load_bytes(&mut whole, Arc::from("fuzz.yaml"), bytes, json);
        assert_eq!(read(&whole), read(&inventory), "the narrow read differs from the whole one");
    }
    if mode & 2 == 2 {
        let on_every_core = load(0);
        assert_eq!(read(&on_every_core), read(&inventory), "read on every core differs from one thread");
    }
    if json && mode & 4 == 4 {
        // Read in parts of 1 to 32 bytes, as a large JSON file is: the same as read whole, but that the items
        // before a byte that is not UTF-8 are read (read whole, none is), and its error is the same.
        let block = 1 + usize::from(mode >> 3);
        let mut in_parts = Inventory::default();
        let (mut reader, mut whole) = (bytes, || Ok(bytes.to_vec()));
        load_json_in_parts(&mut in_parts, Arc::from("fuzz.yaml"), &mut reader, bytes.len() as u64, block, &mut whole);
        if std::str::from_utf8(bytes).is_ok() {
            assert_eq!(read(&in_parts), read(&inventory), "read in parts of {block} bytes differs from read whole");
        } else {
            assert_eq!(in_parts.diagnostics.last(), inventory.diagnostics.last(), "read in parts of {block} bytes");
        }
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
