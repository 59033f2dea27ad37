//! netseg on the manifests of public projects, as their users apply them (`realworld/` of the folder
//! `NETSEG_SHARED_DIR` names, third-party data read in place). Each set must load without an error of netseg's own, and the findings must be the ones its
//! README says a careful reader finds. Skipped with a message when the sets are absent, unless
//! `NETSEG_REQUIRE_CORPUS=1` (CI).

use super::{json, netseg, shared_set};
use std::path::PathBuf;

fn realworld() -> Option<PathBuf> {
    shared_set("realworld", "README.md")
}

fn set(root: &std::path::Path, name: &str) -> String {
    root.join(name).display().to_string()
}

/// `(rule, resource name)` of every finding of an audit.
fn findings(audit: &serde_json::Value) -> Vec<(String, String)> {
    audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["resource"]["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn rules_of(audit: &serde_json::Value, rule: &str) -> Vec<String> {
    let mut names: Vec<String> = findings(audit).into_iter().filter(|(r, _)| r == rule).map(|(_, n)| n).collect();
    names.sort();
    names
}

/// The scenarios as the sets' README defines them: one per folder, one per subfolder for cilium and cni-calico,
/// one per file for the recipes.
pub fn scenarios(root: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).expect("read realworld").flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let children = || -> Vec<PathBuf> {
            let mut children: Vec<PathBuf> =
                std::fs::read_dir(&path).expect("read set").flatten().map(|e| e.path()).collect();
            children.sort();
            children
        };
        match name.as_str() {
            "cilium" | "cni-calico" => out.extend(children().into_iter().filter(|p| p.is_dir())),
            "np-recipes" => {
                out.extend(children().into_iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")));
            }
            _ => out.push(path),
        }
    }
    out.sort();
    out
}

#[test]
fn every_set_loads_without_an_error_of_netseg_s_own() {
    let Some(root) = realworld() else { return };
    let scenarios = scenarios(&root);
    assert!(scenarios.len() >= 20, "expected the whole collection, found {scenarios:?}");
    for scenario in scenarios {
        let path = scenario.display().to_string();
        let namespace = if path.ends_with("argo-cd") { vec!["-n", "argocd"] } else { Vec::new() };
        let mut args = vec!["reach", "-o", "json"];
        args.extend(&namespace);
        args.push(&path);
        let reach = netseg(&args);
        assert_eq!(reach.code, 0, "reach {path}:\n{}", reach.stderr);
        assert!(!reach.stderr.contains("error["), "reach {path}:\n{}", reach.stderr);
        json(&reach.stdout);
        let mut args = vec!["audit", "-o", "json", "--fail-on", "none"];
        args.extend(&namespace);
        args.push(&path);
        let audit = netseg(&args);
        assert_eq!(audit.code, 0, "audit {path}:\n{}", audit.stderr);
        let report = json(&audit.stdout);
        assert!(rules_of(&report, "NS144").is_empty(), "{path}: real manifests are not malformed: {}", audit.stdout);
    }
}

#[test]
fn guestbook_is_flat_and_its_redis_is_open_to_every_pod() {
    let Some(root) = realworld() else { return };
    let report = json(&netseg(&["audit", "-o", "json", &set(&root, "guestbook")]).stdout);
    assert_eq!(rules_of(&report, "NS101"), ["default"]);
    assert_eq!(rules_of(&report, "NS125"), ["redis-master", "redis-replica"]);
    let radius = netseg(&["blast-radius", "--from", "internet", &set(&root, "guestbook")]);
    assert!(radius.stdout.contains("path: the internet —TCP 80→ default/frontend[Deployment]"), "{}", radius.stdout);
}

#[test]
fn online_boutique_policies_follow_the_call_graph_but_leave_egress_open() {
    let Some(root) = realworld() else { return };
    let boutique = set(&root, "online-boutique");
    let report = json(&netseg(&["audit", "-o", "json", &boutique]).stdout);
    assert!(rules_of(&report, "NS101").is_empty(), "deny-all is present");
    // Every policy carries `egress: [{}]`: the deny-all's egress half is undone for all 12 workloads.
    let allow_all = findings(&report).into_iter().filter(|(r, _)| r == "NS146").count();
    assert_eq!(allow_all, 13, "12 egress allow-alls and frontend's ingress allow-all");
    assert_eq!(rules_of(&report, "NS120").len(), 12);
    // Policies use pod ports: the Service maps 5000 to 8080 and the policy allows 8080, which is right.
    assert!(rules_of(&report, "NS142").is_empty());
    let can =
        |from: &str, to: &str, port: &str| netseg(&["can", "--from", from, "--to", to, "--port", port, &boutique]).code;
    assert_eq!(can("default/cartservice", "default/redis-cart", "6379"), 0);
    assert_eq!(can("default/loadgenerator", "default/redis-cart", "6379"), 1);
    assert_eq!(can("default/checkoutservice", "default/emailservice", "8080"), 0);
    assert_eq!(can("default/frontend", "default/emailservice", "8080"), 1);
    // Without the policies component, the release file alone is flat.
    let release =
        json(&netseg(&["audit", "-o", "json", &set(&root, "online-boutique/kubernetes-manifests.yaml")]).stdout);
    assert_eq!(rules_of(&release, "NS101"), ["default"]);
    let radius = netseg(&["blast-radius", "--from", "internet", &boutique]);
    assert!(radius.stdout.contains("path: the internet —TCP 8080→ default/frontend[Deployment]"), "{}", radius.stdout);
}

#[test]
fn argo_cd_isolates_its_redis_and_opens_its_server_to_all() {
    let Some(root) = realworld() else { return };
    let argo = set(&root, "argo-cd");
    let report = json(&netseg(&["audit", "-n", "argocd", "-o", "json", &argo]).stdout);
    assert_eq!(rules_of(&report, "NS146"), ["argocd-server-network-policy"]);
    assert!(rules_of(&report, "NS125").is_empty(), "argocd-redis admits only three components");
    assert_eq!(rules_of(&report, "NS103").len(), 7, "no egress restriction anywhere");
    let can = |from: &str| {
        netseg(&["can", "-n", "argocd", "--from", from, "--to", "argocd/argocd-redis", "--port", "6379", &argo]).code
    };
    assert_eq!(can("argocd/argocd-server"), 0);
    assert_eq!(can("argocd/argocd-dex-server"), 1);
}

#[test]
fn flannel_enforces_nothing() {
    let Some(root) = realworld() else { return };
    let report = json(&netseg(&["audit", "-o", "json", &set(&root, "cni-flannel")]).stdout);
    assert_eq!(report["cni"]["name"], "flannel");
    assert_eq!(rules_of(&report, "NS130"), ["kube-flannel-ds"]);
    assert_eq!(report["findings"][0]["severity"], "critical");
}

#[test]
fn calico_installs_are_recognised_and_their_own_parts_are_not_findings() {
    let Some(root) = realworld() else { return };
    for (scenario, cni) in
        [("cni-calico/calico", "calico"), ("cni-calico/canal", "canal"), ("cni-calico/operator", "calico")]
    {
        let report = json(&netseg(&["audit", "-o", "json", &set(&root, scenario)]).stdout);
        assert_eq!(report["cni"]["name"], cni, "{scenario}");
        // calico-node, calico-kube-controllers and the Tigera operator run without policies by design.
        assert_eq!(findings(&report), Vec::<(String, String)>::new(), "{scenario}");
    }
}

#[test]
fn calico_and_cilium_policies_are_evaluated() {
    let Some(root) = realworld() else { return };
    let yaobank = json(&netseg(&["audit", "-o", "json", &set(&root, "calico-yaobank")]).stdout);
    assert_eq!(rules_of(&yaobank, "NS132"), Vec::<String>::new());
    // The README: summary admits only the customer service account, database only summary's; attack, which no
    // policy selects and which runs as `default`, is refused by both; customer's L7 rule admits at L4.
    let can = |from: &str, to: &str| {
        let run = netseg(&["can", "--from", from, "--to", to, "--port", "80", &set(&root, "calico-yaobank")]);
        run.stdout.starts_with("ALLOWED")
    };
    assert!(can("default/customer", "default/summary"));
    assert!(can("default/summary", "default/database"));
    assert!(!can("default/attack", "default/summary"));
    assert!(!can("default/attack", "default/database"));
    assert!(!can("default/customer", "default/database"));
    assert!(can("default/attack", "default/customer"));
    let starwars = set(&root, "cilium/minikube-starwars");
    let reach = netseg(&["reach", &starwars]);
    assert!(!reach.stderr.contains("warning[unmodelled-policy]"), "{}", reach.stderr);
    // Cilium's demo: the later `rule1` (L3/L4) lets the empire land on port 80 and drops the alliance.
    let can = |from: &str, port: &str| {
        netseg(&["can", "--cni", "cilium", "--from", from, "--to", "default/deathstar", "--port", port, &starwars])
    };
    let tiefighter = can("default/tiefighter", "80");
    assert_eq!(tiefighter.code, 0, "{}{}", tiefighter.stdout, tiefighter.stderr);
    assert!(tiefighter.stdout.contains("of CiliumNetworkPolicy default/rule1"), "{}", tiefighter.stdout);
    let xwing = can("default/xwing", "80");
    assert_eq!(xwing.code, 1, "{}{}", xwing.stdout, xwing.stderr);
    assert!(xwing.stdout.contains("default-deny for ingress by CiliumNetworkPolicy default/rule1"), "{}", xwing.stdout);
}

/// Issue 12, failure 1: the "CNI infrastructure" exemption matched image names (`calico/`, `cilium/`), so the
/// Calico stars demo and Cilium's starwars app vanished from the audit, with the CNI unknown and nothing said.
#[test]
fn regression_cni_vendor_images_do_not_hide_calico_stars_or_cilium_starwars() {
    let Some(root) = realworld() else { return };
    let stars = netseg(&["audit", "-o", "json", &set(&root, "calico-stars")]);
    assert_eq!(stars.code, 1, "high findings fail the gate:\n{}", stars.stdout);
    let report = json(&stars.stdout);
    assert_eq!(report["exempt"], serde_json::json!([]), "the CNI is unknown: nothing is exempt");
    let namespaces: std::collections::BTreeSet<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "high")
        .filter_map(|f| f["resource"]["namespace"].as_str().or(f["resource"]["name"].as_str()).map(str::to_string))
        .collect();
    // The README: default-deny.yaml names no namespace, so `stars` and `client` are left open; management-ui has
    // no policy at all.
    for namespace in ["stars", "client", "management-ui"] {
        assert!(namespaces.contains(namespace), "{namespace} has high findings: {namespaces:?}");
    }
    assert_eq!(rules_of(&report, "NS125"), ["backend"], "backend's Redis port is open to management-ui's namespace");
    let starwars = json(&netseg(&["audit", "-o", "json", &set(&root, "cilium/minikube-starwars")]).stdout);
    assert_eq!(rules_of(&starwars, "NS120"), ["deathstar", "tiefighter", "xwing"]);
    // Cilium's policies isolate the deathstar and the empire: the namespace has policies.
    assert_eq!(rules_of(&starwars, "NS101"), Vec::<String>::new());
}

/// The CNI's own parts are exempt by what they are, and the report says which and why.
#[test]
fn cni_components_are_exempt_by_identity_and_listed_with_the_reason() {
    let Some(root) = realworld() else { return };
    let report = json(&netseg(&["audit", "-o", "json", &set(&root, "cni-calico/calico")]).stdout);
    let exempt: Vec<(String, String)> = report["exempt"]
        .as_array()
        .expect("exempt")
        .iter()
        .map(|e| {
            (e["resource"]["name"].as_str().unwrap_or_default().into(), e["reason"].as_str().unwrap_or_default().into())
        })
        .collect();
    let names: Vec<&str> = exempt.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["calico-kube-controllers", "calico-node"]);
    assert!(exempt[0].1.contains("the namespace of its agent kube-system/calico-node[DaemonSet]"), "{exempt:?}");
    assert!(exempt[1].1.contains("the DaemonSet the calico CNI was detected by"), "{exempt:?}");
    let text = netseg(&["audit", &set(&root, "cni-calico/calico")]);
    assert!(text.stdout.contains("exempt: 2 workloads"), "{}", text.stdout);
}

/// Issue 12, failure 7: NS125 on calico-yaobank's database said "every pod and address may connect" while a Calico
/// GlobalNetworkPolicy restricts it; online-boutique's NS120 cited "an address range" where the rule is
/// `egress: [{}]`, naming no policy.
#[test]
fn regression_findings_name_the_deciding_rule_and_the_policies_netseg_does_not_analyse() {
    let Some(root) = realworld() else { return };
    let yaobank = json(&netseg(&["audit", "-o", "json", &set(&root, "calico-yaobank")]).stdout);
    let finding = |report: &serde_json::Value, rule: &str, name: &str| -> serde_json::Value {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule"] == rule && f["resource"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {rule} on {name}"))
    };
    // While netseg does not model Calico's policies (NS132 says so), every finding they may narrow says so too.
    if rules_of(&yaobank, "NS132").contains(&"database".to_string()) {
        let database = finding(&yaobank, "NS125", "database");
        let evidence = database["evidence"].as_str().unwrap_or_default();
        assert!(evidence.contains("GlobalNetworkPolicy database"), "{evidence}");
        assert!(evidence.contains("selects it"), "{evidence}");
        assert!(!evidence.contains("GlobalNetworkPolicy summary"), "summary's selector does not match: {evidence}");
        let attack = finding(&yaobank, "NS120", "attack");
        assert!(!attack["evidence"].as_str().unwrap_or_default().contains("not analysed"), "no policy selects attack");
    }
    let boutique = json(&netseg(&["audit", "-o", "json", &set(&root, "online-boutique")]).stdout);
    let frontend = finding(&boutique, "NS120", "frontend");
    let evidence = frontend["evidence"].as_str().unwrap_or_default();
    assert!(evidence.contains("of NetworkPolicy default/frontend ("), "{evidence}");
    assert!(evidence.contains("names no destination"), "{evidence}");
    assert!(!evidence.contains("address range"), "{evidence}");
    let remediation = frontend["remediation"].as_str().unwrap_or_default();
    assert!(remediation.starts_with("replace egress rule"), "{remediation}");
}

/// Issue 12, failure 8: `audit` dropped the duplicate-object warnings the other commands print. The recipes folder
/// read as one cluster defines `foo-deny-egress` twice (recipe 11 and its variant): a NetworkPolicy silently
/// replaced by a second definition matters.
#[test]
fn regression_audit_shows_the_duplicate_policy_of_the_recipes_folder() {
    let Some(root) = realworld() else { return };
    let recipes = set(&root, "np-recipes");
    let audit = netseg(&["audit", "--fail-on", "none", &recipes]);
    let reach = netseg(&["reach", &recipes]);
    let duplicate = |stderr: &str| {
        stderr
            .lines()
            .any(|l| l.starts_with("warning[duplicate-object]") && l.contains("NetworkPolicy default/foo-deny-egress"))
    };
    assert!(duplicate(&reach.stderr), "{}", reach.stderr);
    assert!(duplicate(&audit.stderr), "audit shows it like reach:\n{}", audit.stderr);
}
