//! `netseg audit -o html` in a real browser: Debian's headless Chromium opens the report from disk, with the
//! network features a closed network needs turned off and a fresh profile. The page runs its own controls when its
//! address ends in `#netseg-selfcheck=WORKLOAD` (the severity filter, a click on the workload, which expands its
//! namespace when folded) and writes what it shows into `<pre id="netseg-selfcheck">`; the test reads that from
//! `--dump-dom` and the console from `--enable-logging=stderr`. The page logs nothing itself, so any console line
//! (an exception, a blocked request, a CSP violation) fails the test. The report's CSP allows no request, and the
//! page also counts the resources it loaded, which must be none.
//!
//! Skipped with a message when Chromium is absent; required when `NETSEG_REQUIRE_BROWSER=1` (CI).

use super::*;
use serde_json::Value;

fn required() -> bool {
    std::env::var("NETSEG_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("NETSEG_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from));
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        assert!(!required(), "NETSEG_REQUIRE_BROWSER=1 but no Chromium (apt-get install chromium)");
        eprintln!("skipped: no Chromium at /usr/bin/chromium (apt-get install chromium, or set NETSEG_CHROMIUM)");
    }
    found
}

/// Where the reports and screenshots go: `target/netseg-browser/`.
fn out_dir() -> PathBuf {
    let dir = repo_root().join("target/netseg-browser");
    std::fs::create_dir_all(&dir).expect("mkdir target/netseg-browser");
    dir.canonicalize().expect("canonical out dir")
}

const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

fn url(file: &Path, fragment: &str) -> String {
    format!("file://{}#{}", file.display(), fragment.replace('%', "%25").replace(' ', "%20"))
}

struct Page {
    dom: String,
    console: Vec<String>,
    check: Value,
}

fn open(browser: &Path, file: &Path, fragment: &str) -> Page {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(browser)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(url(file, fragment))
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let marker = "<pre id=\"netseg-selfcheck\" hidden=\"hidden\">";
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("the page wrote no self-check; its scripts did not run:\n{dom:.2000}"))
        + marker.len();
    let end = start + dom[start..].find("</pre>").expect("end of self-check");
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let check = serde_json::from_str(&text).unwrap_or_else(|e| panic!("self-check is not JSON ({e}): {text}"));
    Page { dom, console, check }
}

fn screenshot(browser: &Path, file: &Path, fragment: &str, png: &Path, size: &str) {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(browser)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={size}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url(file, fragment))
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "chromium screenshot failed: {}", String::from_utf8_lossy(&output.stderr));
    let bytes = std::fs::read(png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "screenshot {} looks empty", png.display());
}

/// What every page must show: no console line, no error, nothing blocked, nothing loaded, the script finished.
fn assert_clean(page: &Page) {
    assert!(page.console.is_empty(), "console output:\n{}", page.console.join("\n"));
    assert_eq!(page.check["errors"], serde_json::json!([]), "{}", page.check);
    assert_eq!(page.check["csp"], 0, "{}", page.check);
    assert_eq!(page.check["resources"], 0, "the page loaded something: {}", page.check);
    assert_eq!(page.check["done"], true);
}

fn write_report(args: &[&str], name: &str) -> PathBuf {
    let run = netseg(args);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let path = out_dir().join(name);
    std::fs::write(&path, &run.stdout).expect("write report");
    path
}

fn blast_radius(from: &str, path: &str) -> Value {
    let run = netseg(&["blast-radius", "-o", "json", "--from", from, path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    json(&run.stdout)
}

fn sensitive_targets(radius: &Value) -> usize {
    let targets = radius["targets"].as_array().expect("targets");
    // The report counts datastores and sensitive addresses; kube-system is drawn as the workload it is.
    targets.iter().filter(|t| !matches!(t["sensitivity"].as_str(), Some("workload" | "kube-system"))).count()
}

#[test]
fn report_renders_the_flat_wordpress_example_in_chromium() {
    let Some(browser) = chromium() else { return };
    let report = write_report(&["audit", "-o", "html", &example("wordpress-flat")], "wordpress-flat.html");
    let page = open(&browser, &report, "netseg-selfcheck=blog/wordpress[Deployment]");
    assert_clean(&page);

    let audit = json(&netseg(&["audit", "-o", "json", &example("wordpress-flat")]).stdout);
    let findings = audit["findings"].as_array().expect("findings").len();
    assert_eq!(page.check["findingRows"], findings, "every finding is a row: {}", page.check);
    assert_eq!(page.check["highRows"], audit["summary"]["high"], "the severity filter: {}", page.check);
    // Three workloads in one expanded namespace, and the four sensitive addresses they reach.
    assert_eq!(page.check["graph"]["units"], 7, "{}", page.check);
    for text in ["blog/wordpress[Deployment]", "cloud metadata", "Redis 6379", "NS120", "netseg can --from"] {
        assert!(page.dom.contains(text), "the page shows {text}");
    }
    // The click shows the same blast radius as the command.
    let radius = blast_radius("blog/wordpress", &example("wordpress-flat"));
    assert_eq!(page.check["blast"]["origin"], "blog/wordpress[Deployment]");
    assert_eq!(page.check["blast"]["targets"], radius["targets"].as_array().expect("targets").len());
    assert_eq!(page.check["blast"]["sensitive"], sensitive_targets(&radius));

    screenshot(
        &browser,
        &report,
        "select=blog/wordpress[Deployment]",
        &out_dir().join("wordpress-flat.png"),
        "1400,1500",
    );
}

#[test]
fn report_stays_usable_at_5000_workloads_in_chromium() {
    let Some(browser) = chromium() else { return };
    let (namespaces, per_namespace) = (250, 20);
    let cluster = out_dir().join("cluster-5k");
    synthetic::write_cluster(&cluster, namespaces, per_namespace);
    let cluster_arg = cluster.display().to_string();
    let report = write_report(&["audit", "-o", "html", "--fail-on", "none", &cluster_arg], "cluster-5k.html");
    let size = std::fs::metadata(&report).expect("report").len();
    assert!(size < 16 << 20, "the 5k report is {size} bytes");

    let origin = format!("{}/{}[Deployment]", synthetic::namespace_name(0), synthetic::workload_name(0));
    let page = open(&browser, &report, &format!("netseg-selfcheck={origin}"));
    assert_clean(&page);
    let graph = &page.check["graph"];
    // Folded to one box per namespace (kube-system too), the origin's namespace expanded by the click, and the
    // sensitive addresses in their own column.
    let sensitive = graph["units"].as_u64().expect("units") as usize - namespaces - per_namespace;
    assert_eq!(graph["expanded"], 1, "{}", page.check);
    assert!((1..=4).contains(&sensitive), "{}", page.check);
    let drawn = graph["edgesDrawn"].as_u64().expect("drawn");
    assert!(drawn > 0 && drawn <= 2500, "{}", page.check);
    let radius = blast_radius(&origin, &cluster_arg);
    assert_eq!(page.check["blast"]["targets"], radius["targets"].as_array().expect("targets").len(), "{}", page.check);
    assert_eq!(page.check["blast"]["sensitive"], sensitive_targets(&radius));
    // Findings are shown 500 at a time. At this scale the workloads of a namespace that get the same answer share
    // one finding (NS120 to NS125), so there may be fewer than a page.
    let audit = netseg(&["audit", "-o", "json", "--fail-on", "none", &cluster_arg]);
    let findings = json(&audit.stdout)["findings"].as_array().expect("findings").len();
    assert_eq!(page.check["findingRows"], findings.min(500), "findings are shown 500 at a time: {}", page.check);

    screenshot(&browser, &report, &format!("select={origin}"), &out_dir().join("cluster-5k.png"), "1400,1000");
}

#[test]
fn hostile_manifest_text_stays_text() {
    let payload = "<img src=x onerror=document.body.dataset.pwned=1>";
    let script = "</script><script>document.body.dataset.pwned=2</script>";
    let dir = tree(&[(
        "evil<b>&.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  annotations:\n    netseg.io/ignore: NS120\n    netseg.io/ignore-reason: '{script}\u{2028}{payload}'\nspec:\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, ports: [{{containerPort: 8080}}]}}]}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: bad, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: '{payload}'}}}}\n---\nkind: Pod\nmetadata: {{name: '{payload}', namespace: shop}}\n"
        ),
    )]);
    let run = netseg(&["audit", "-o", "html", &dir.path().display().to_string()]);
    let html = run.stdout;
    assert!(html.contains("NS144") || html.contains("invalid label value"), "the bad label is a finding");
    assert!(html.contains("\\u003c/script\\u003e"), "the annotation is in the data, escaped");
    for raw in [payload, script, "<b>&", "\u{2028}"] {
        assert!(!html.contains(raw), "{raw:?} appears raw in the report");
    }
    assert_eq!(html.matches("<script").count(), 2, "only the data block and the report's own script");
    assert_eq!(html.matches("</script>").count(), 2);

    let Some(browser) = chromium() else { return };
    let report = out_dir().join("hostile.html");
    std::fs::write(&report, &html).expect("write report");
    let page = open(&browser, &report, "netseg-selfcheck");
    assert_clean(&page);
    assert!(!page.dom.contains("data-pwned"), "the planted script ran");
    // Shown as text (the filter lists the file, the suppression reason is in the data), never as markup.
    assert!(page.dom.contains("evil&lt;b&gt;&amp;.yaml"), "the file name is shown as text");
    assert!(page.dom.contains("&lt;img src=x onerror"), "the planted markup is shown as text");
}

/// Mermaid's own renderer (the npm bundle `.ci/run` fetches at a pinned version and checksum, named by
/// `NETSEG_MERMAID_JS`) accepts `reach -o mermaid` for every example and for names that look like Mermaid syntax.
#[test]
fn mermaid_output_renders_with_mermaid_js() {
    let Some(browser) = chromium() else { return };
    let Some(bundle) = std::env::var_os("NETSEG_MERMAID_JS").map(PathBuf::from).filter(|p| p.is_file()) else {
        assert!(!required(), "NETSEG_REQUIRE_BROWSER=1 but NETSEG_MERMAID_JS names no mermaid.min.js");
        eprintln!("skipped: set NETSEG_MERMAID_JS to Mermaid's dist/mermaid.min.js");
        return;
    };
    let tricky = tree(&[(
        "tricky.yaml",
        "kind: Pod\nmetadata: {name: end, namespace: subgraph}\nspec: {containers: [{name: c, ports: [{containerPort: 80}]}]}\n---\nkind: Pod\nmetadata: {name: 'a\"b<c>#d&e', namespace: graph}\n",
    )]);
    let tricky_path = tricky.path().display().to_string();
    let mut inputs: Vec<String> =
        ["wordpress-flat", "wordpress-segmented", "flannel-cluster", "host-network"].map(example).to_vec();
    inputs.push(tricky_path.clone());
    for (index, input) in inputs.iter().enumerate() {
        let run = netseg(&["reach", "-o", "mermaid", input]);
        if input == &tricky_path {
            // Mermaid keywords as names are fine: nodes are `nN`, subgraphs `nsN`.
            assert!(
                run.stdout.contains("\"end<br/>Pod\"") && run.stdout.contains("namespace subgraph"),
                "{}",
                run.stdout
            );
            // A loader that checks names as the API server does rejects this one; where it is read, it is escaped.
            assert!(!run.stdout.contains("a\"b") && !run.stdout.contains("<c>"), "{}", run.stdout);
        }
        let text = serde_json::to_string(&run.stdout).expect("json").replace('<', "\\u003c");
        let page = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><pre id=\"result\">pending</pre>\n\
             <script src=\"file://{}\"></script>\n<script>\nmermaid.initialize({{startOnLoad: false, securityLevel: 'strict'}});\n\
             mermaid.render('graph', {text}).then((r) => {{ document.getElementById('result').textContent = 'rendered ' + r.svg.length; }},\n\
             (e) => {{ document.getElementById('result').textContent = 'error ' + e; }});\n</script></body></html>\n",
            bundle.display()
        );
        let file = out_dir().join(format!("mermaid-{index}.html"));
        std::fs::write(&file, page).expect("write page");
        let profile = tempfile::tempdir().expect("profile dir");
        let output = Command::new(&browser)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--virtual-time-budget=20000", "--dump-dom"])
            .arg(url(&file, ""))
            .output()
            .expect("run chromium");
        let dom = String::from_utf8_lossy(&output.stdout);
        let result = dom.split("<pre id=\"result\">").nth(1).and_then(|r| r.split("</pre>").next()).unwrap_or("");
        assert!(result.starts_with("rendered "), "{input}: Mermaid says {result}\n{}", run.stdout);
    }
}

/// The namespace view: a generated cluster of a few hundred pods (about 150 workloads and more, where the report
/// starts folded) opens on one box per namespace with the connections between them and their workload-pair counts,
/// the sensitive addresses beside them, and a click on a workload drills into its namespace.
#[test]
fn a_generated_cluster_opens_on_the_namespace_view() {
    let Some(browser) = chromium() else { return };
    let path = out_dir().join("generated-600.json");
    crate::scale::write_flat_dump(&path, 7, 600, 12, 2);
    let cluster_arg = path.display().to_string();
    let report = write_report(&["audit", "-o", "html", "--fail-on", "none", &cluster_arg], "generated-600.html");

    // Folded on open: no workload box, one box per namespace, the sensitive addresses in their column.
    let page = open(&browser, &report, "netseg-selfcheck");
    assert_clean(&page);
    let graph = &page.check["graph"];
    assert_eq!(graph["expanded"], 0, "{}", page.check);
    let workloads = page.check["nodesInData"].as_u64().expect("nodes");
    assert!(workloads > 150, "{}", page.check);
    let namespaces = page.dom.matches("class=\"unit namespace").count();
    let units = graph["units"].as_u64().expect("units") as usize;
    assert!(
        namespaces >= 12 && units > namespaces && units <= namespaces + 4,
        "{namespaces} of {units}: {}",
        page.check
    );
    assert!(graph["edgesDrawn"].as_u64().expect("drawn") > 0, "{}", page.check);
    assert!(page.dom.contains("workload pairs)"), "the connections between namespaces carry their pair counts");
    assert!(page.dom.contains("folded by namespace"), "the note says the view is folded");

    // A workload selected: its namespace expanded, its blast radius as the command's.
    let audit = json(&netseg(&["audit", "-o", "json", "--fail-on", "none", &cluster_arg]).stdout);
    let finding = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "NS124")
        .expect("an NS124 finding");
    let origin = finding["witness"]["from"].as_str().expect("witness").to_string();
    let page = open(&browser, &report, &format!("netseg-selfcheck={origin}"));
    assert_clean(&page);
    assert_eq!(page.check["graph"]["expanded"], 1, "{}", page.check);
    let radius = blast_radius(&origin, &cluster_arg);
    assert_eq!(page.check["blast"]["targets"], radius["targets"].as_array().expect("targets").len(), "{}", page.check);
}

/// NS147 in the report: a selector typo breaks wordpress → redis, which WordPress's env declares. The broken flow
/// is in the graph's data as a `broken` edge; in the browser it is drawn red and dashed, and listed in a
/// "Broken flows" section before the graph and the other findings.
#[test]
fn report_lists_broken_flows_first_and_draws_them() {
    let typo = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: redis-in, namespace: blog}\nspec:\n  podSelector: {matchLabels: {app: redis}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: wordpres}}}], ports: [{port: 6379}]}]\n";
    let dir = tree(&[("typo.yaml", typo)]);
    let typo = dir.path().join("typo.yaml").display().to_string();
    let report = write_report(&["audit", "-o", "html", &example("wordpress-flat"), &typo], "broken-flows.html");
    let html = std::fs::read_to_string(&report).expect("report");
    let start = html.find("id=\"netseg-data\">").expect("data") + "id=\"netseg-data\">".len();
    let data = json(&html[start..start + html[start..].find("</script>").expect("end")]);
    let graph = &data["graph"];
    let broken =
        graph["styles"].as_array().expect("styles").iter().position(|s| s == "broken").expect("a broken style");
    let node = |id: &str| graph["nodes"].as_array().expect("nodes").iter().position(|n| n[1] == id).expect(id);
    let (wordpress, redis) = (node("blog/wordpress[Deployment]"), node("blog/redis[Deployment]"));
    let edges: Vec<&Value> =
        graph["edges"].as_array().expect("edges").iter().filter(|e| e[4] == broken as u64).collect();
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert_eq!(
        (edges[0][0].as_u64(), edges[0][1].as_u64(), edges[0][2].as_u64()),
        (Some(0), Some(wordpress as u64), Some(redis as u64))
    );
    assert_eq!(graph["labels"][edges[0][3].as_u64().expect("label") as usize], "TCP 6379 denied");

    let Some(browser) = chromium() else { return };
    let page = open(&browser, &report, "netseg-selfcheck");
    assert_clean(&page);
    assert_eq!(page.check["brokenFlowRows"], 1, "{}", page.check);
    assert!(page.check["brokenEdges"].as_u64().is_some_and(|n| n >= 1), "{}", page.check);
    let (broken_at, findings_at) =
        (page.dom.find("Broken flows").expect("section"), page.dom.find("<h2>Findings").expect("findings"));
    assert!(broken_at < findings_at, "the broken flows come first");
}
