//! Issue #16's done-when on fixtures: NS147 names each broken flow of `intent-broken/` (a selector typo, a missing
//! DNS allowance, a missing port) with its cause, witness and change, and each change, applied, makes `can` allow
//! the flow; NS148 on `over-broad/` proposes a narrower rule, which, applied, keeps every known flow and ends the
//! finding.

use super::*;

fn findings(run: &Run, rule: &str) -> Vec<serde_json::Value> {
    let all = json(&run.stdout)["findings"].as_array().expect("findings").clone();
    all.into_iter().filter(|f| f["rule"] == rule).collect()
}

fn text(value: &serde_json::Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// A copy of a fixture folder in a temp dir, to apply changes to.
fn copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixture(name)).expect("fixture") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
    }
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let before = std::fs::read_to_string(&path).expect("read");
    assert!(before.contains(from), "{from} not in {file}");
    std::fs::write(&path, before.replacen(from, to, 1)).expect("write");
}

/// `netseg can` on a finding's witness; its exit status (0 allowed, 1 denied).
fn can_witness(witness: &serde_json::Value, input: &str) -> Run {
    let port = witness["port"].to_string();
    netseg(&[
        "can",
        "--from",
        text(&witness["from"]),
        "--to",
        text(&witness["to"]),
        "--protocol",
        text(&witness["protocol"]),
        "--port",
        &port,
        input,
    ])
}

#[test]
fn ns147_names_a_selector_typo_a_missing_dns_allowance_and_a_missing_port_and_their_changes_work() {
    let dir = copy("intent-broken");
    let input = dir.path().display().to_string();
    let flows = dir.path().join("flows.csv").display().to_string();
    let run = netseg(&["audit", "-o", "json", "--flows", &flows, &input]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let found = findings(&run, "NS147");
    let find = |prefix: &str, cause: &str| -> serde_json::Value {
        found
            .iter()
            .find(|f| text(&f["message"]).starts_with(prefix) && text(&f["evidence"]).contains(cause))
            .unwrap_or_else(|| panic!("no {prefix} ({cause}) in {found:#?}"))
            .clone()
    };
    // The typo: web → api, declared by web's env; the label the peer missed.
    let typo = find(
        "shop/web[Deployment] → shop/api[Deployment] TCP 8080 is declared but the policies deny it",
        "env API_URL",
    );
    assert!(text(&typo["remediation"]).contains("it wants app=wbe (it has app=web)"), "{typo}");
    // The missing DNS: worker → api, allowed on TCP 8080 on both sides, but worker cannot resolve `api`.
    let dns = find("shop/worker[Deployment] → shop/api[Deployment] TCP 8080 is declared but", "missing DNS");
    // One finding for the source, its destinations counted once however many declarations name them (env and the
    // policies' peers name worker → api three times here).
    assert!(text(&dns["message"]).ends_with("cannot resolve it: its egress denies DNS"), "{dns}");
    assert_eq!(found.iter().filter(|f| text(&f["evidence"]).contains("missing DNS")).count(), 1, "once per source");
    let dns_rule = text(&dns["remediation"])
        .strip_prefix("add to shop/worker[Deployment]'s egress: ")
        .unwrap_or_else(|| panic!("{dns}"))
        .to_string();
    assert!(dns_rule.contains("k8s-app: kube-dns") && dns_rule.contains("{protocol: UDP, port: 53}"), "{dns_rule}");
    assert_eq!(dns["witness"]["to"], "kube-system/coredns[Deployment]");
    // The missing port: api → db, seen in the flow file only.
    let port = find("shop/api[Deployment] → shop/db[StatefulSet] TCP 5432", "flows.csv:3");
    assert!(
        text(&port["remediation"]).starts_with("add TCP 5432 to the ports of ingress[0] of NetworkPolicy shop/db-in"),
        "{port}"
    );
    // Every witness is denied now.
    for finding in [&typo, &dns, &port] {
        let can = can_witness(&finding["witness"], &input);
        assert_eq!(can.code, 1, "{finding}: {}", can.stdout);
    }

    // Each change, applied.
    edit(dir.path(), "policies.yaml", "{app: wbe}", "{app: web}");
    edit(dir.path(), "policies.yaml", "ports: [{port: 5433}]", "ports: [{port: 5433}, {protocol: TCP, port: 5432}]");
    edit(
        dir.path(),
        "policies.yaml",
        "  - {to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 8080}]}\n",
        &format!(
            "  - {{to: [{{podSelector: {{matchLabels: {{app: api}}}}}}], ports: [{{port: 8080}}]}}\n  - {dns_rule}\n"
        ),
    );
    for finding in [&typo, &dns, &port] {
        let can = can_witness(&finding["witness"], &input);
        assert_eq!(can.code, 0, "{finding}: {}", can.stdout);
        assert!(can.stdout.contains("ALLOWED"), "{}", can.stdout);
    }
    let after = netseg(&["audit", "-o", "json", "--flows", &flows, &input]);
    assert!(findings(&after, "NS147").is_empty(), "{:#?}", findings(&after, "NS147"));
}

#[test]
fn ns148_proposes_a_narrower_rule_that_keeps_every_known_flow() {
    let dir = copy("over-broad");
    let input = dir.path().display().to_string();
    let flows = dir.path().join("flows.csv").display().to_string();
    // Without flows or --intent-only, NS148 never fires.
    assert!(findings(&netseg(&["audit", "-o", "json", &input]), "NS148").is_empty());

    let run = netseg(&["audit", "-o", "json", "--fail-on", "none", "--flows", &flows, &input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let found = findings(&run, "NS148");
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f["severity"], "low");
    assert_eq!(f["location"]["line"], 86, "{f}");
    let evidence = text(&f["evidence"]);
    assert!(evidence.contains("keeps 2 known flows"), "{evidence}");
    assert!(evidence.contains("2 other workloads of the input (jobs/scanner[Deployment], shop/cache[Deployment])"));
    assert!(evidence.contains("196604 ports no known flow uses"), "{evidence}");
    assert!(evidence.contains("proven: "), "{evidence}");
    let proposal = text(&f["remediation"]).split_once(" with ").map(|(_, p)| p.to_string()).unwrap_or_default();
    assert_eq!(
        proposal,
        "{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: jobs}}, podSelector: {matchLabels: {app: batch}}}, {podSelector: {matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 8080}]}"
    );

    // --intent-only judges against the declared flows alone: web only.
    let declared = netseg(&["audit", "-o", "json", "--intent-only", &input]);
    let alone = findings(&declared, "NS148");
    assert_eq!(alone.len(), 1, "{alone:#?}");
    assert!(text(&alone[0]["remediation"])
        .ends_with("with {from: [{podSelector: {matchLabels: {app: web}}}], ports: [{protocol: TCP, port: 8080}]}"));
    let both = netseg(&["audit", "--intent-only", "--flows", &flows, &input]);
    assert_eq!(both.code, 2, "--intent-only means no flow file: {}", both.stderr);

    // The proposal, applied: every known flow is still allowed, what was beyond is denied, NS148 is gone.
    edit(dir.path(), "app.yaml", "  - {from: [{namespaceSelector: {}}]}\n", &format!("  - {proposal}\n"));
    let after = netseg(&["audit", "-o", "json", "--fail-on", "none", "--flows", &flows, &input]);
    assert!(findings(&after, "NS148").is_empty(), "{:#?}", findings(&after, "NS148"));
    assert!(findings(&after, "NS147").is_empty(), "{:#?}", findings(&after, "NS147"));
    for (from, port, allowed) in [
        ("shop/web", "8080", true),
        ("jobs/batch", "8080", true),
        ("jobs/scanner", "8080", false),
        ("shop/cache", "8080", false),
        ("shop/web", "9090", false),
    ] {
        let can = netseg(&["can", "--from", from, "--to", "shop/api", "--port", port, &input]);
        assert_eq!(can.code, if allowed { 0 } else { 1 }, "{from} → api:{port}: {}", can.stdout);
    }
}
