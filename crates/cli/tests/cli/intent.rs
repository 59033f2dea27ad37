//! NS147 declared-flow-blocked (issue #16): the flows the application declares (the inference `generate` uses)
//! or was seen making (`audit --flows`), checked against the policies in effect.

use super::*;

fn ns147(paths: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let run = netseg(&[&["audit", "-o", "json", "--fail-on", "high"], paths].concat());
    let findings = json(&run.stdout)["findings"].as_array().expect("findings").clone();
    let found = findings.into_iter().filter(|f| f["rule"] == "NS147").collect();
    (run, found)
}

/// An egress default-deny on Sock Shop without the egress its own ingress policies imply: front-end → catalogue
/// (admitted by catalogue-access) breaks. NS147 names the flow, where it was declared, and the rule to add; with
/// that rule, the finding goes and `can` allows the flow.
#[test]
fn an_egress_default_deny_breaks_flows_the_ingress_policies_declare() {
    let deny = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-egress, namespace: sock-shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n";
    let dir = tree(&[("deny.yaml", deny)]);
    let deny = dir.path().join("deny.yaml").display().to_string();
    let input = fixture("policy-declared");
    let (run, found) = ns147(&[&input, &deny]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let catalogue = found
        .iter()
        .find(|f| {
            f["message"].as_str().is_some_and(|m| {
                m.starts_with("sock-shop/front-end[Deployment] → sock-shop/catalogue[Deployment] TCP 80")
            })
        })
        .unwrap_or_else(|| panic!("{found:?}"));
    let evidence = catalogue["evidence"].as_str().unwrap_or_default();
    assert!(
        evidence.contains("NetworkPolicy sock-shop/catalogue-access ingress[0] admits pods name=front-end"),
        "{evidence}"
    );
    assert!(
        evidence.contains("the egress of sock-shop/front-end[Deployment] is isolated by sock-shop/deny-egress"),
        "{evidence}"
    );
    assert_eq!(
        catalogue["remediation"],
        "add to sock-shop/front-end[Deployment]'s egress: {to: [{podSelector: {matchLabels: {name: catalogue}}}], ports: TCP 80}"
    );
    assert_eq!(catalogue["witness"]["to"], "sock-shop/catalogue[Deployment]");

    // The change, applied.
    let allow = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: front-end-out, namespace: sock-shop}\nspec:\n  podSelector: {matchLabels: {name: front-end}}\n  policyTypes: [Egress]\n  egress: [{to: [{podSelector: {matchLabels: {name: catalogue}}}], ports: [{protocol: TCP, port: 80}]}]\n";
    let fixed = tree(&[("allow.yaml", allow)]);
    let allow = fixed.path().join("allow.yaml").display().to_string();
    let (_, after) = ns147(&[&input, &deny, &allow]);
    assert!(
        !after.iter().any(|f| f["message"].as_str().is_some_and(|m| m.contains("→ sock-shop/catalogue[Deployment]"))),
        "{after:?}"
    );
    let can = netseg(&[
        "can",
        "--from",
        "sock-shop/front-end",
        "--to",
        "sock-shop/catalogue",
        "--port",
        "80",
        &input,
        &deny,
        &allow,
    ]);
    assert_eq!(can.code, 0, "{}", can.stdout);
}

/// A selector typo: WordPress's env names redis; redis admits `app: wordpres`. NS147 names the label it missed.
#[test]
fn a_selector_typo_is_named_with_the_label_it_missed() {
    let typo = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: redis-in, namespace: blog}\nspec:\n  podSelector: {matchLabels: {app: redis}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: wordpres}}}], ports: [{port: 6379}]}]\n";
    let dir = tree(&[("typo.yaml", typo)]);
    let (run, found) = ns147(&[&example("wordpress-flat"), &dir.path().join("typo.yaml").display().to_string()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let redis = found.iter().find(|f| f["resource"]["name"] == "redis").unwrap_or_else(|| panic!("{found:?}"));
    let remediation = redis["remediation"].as_str().unwrap_or_default();
    assert!(remediation.contains("it wants app=wordpres (it has app=wordpress)"), "{remediation}");
    assert!(
        redis["evidence"]
            .as_str()
            .unwrap_or_default()
            .contains("env WP_REDIS_HOST names redis (examples/wordpress-flat/wordpress.yaml:"),
        "{redis}"
    );
}

/// `audit --flows`: an observed flow the segmented example denies is NS147, naming the flow file and line; a bad
/// row is an error naming file, line and column, and exits 2.
#[test]
fn observed_flows_the_policies_deny_are_findings() {
    let flows = tree(&[
        (
            "flows.csv",
            "src_namespace,src_workload,dst_namespace,dst_workload,port,protocol\nblog,mysql,blog,redis,6379,TCP\n",
        ),
        ("bad.csv", "blog,mysql,blog,redis,notaport,TCP\n"),
    ]);
    let csv = flows.path().join("flows.csv").display().to_string();
    let (run, found) = ns147(&["--flows", &csv, &example("wordpress-segmented")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let seen = found
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("blog/mysql[StatefulSet] → blog/redis[Deployment] TCP 6379"))
        })
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(seen["evidence"].as_str().unwrap_or_default().contains(&format!("observed flow {csv}:2")), "{seen}");
    let (without, _) = ns147(&[&example("wordpress-segmented")]);
    assert_eq!(without.code, 0, "nothing declared is blocked: {}", without.stdout);

    let bad = flows.path().join("bad.csv").display().to_string();
    let run = netseg(&["audit", "--flows", &bad, &example("wordpress-segmented")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("error: {bad}:1:")), "{}", run.stderr);
}

/// `diff --flows`: segmenting the flat example only removes connectivity, but it breaks an observed flow
/// (mysql → redis, which nothing declares): the flow is named under BROKEN FLOWS and the gate fails.
#[test]
fn diff_fails_a_change_that_breaks_an_observed_flow() {
    let flows = tree(&[("flows.csv", "blog,mysql,blog,redis,6379,TCP\n")]);
    let csv = flows.path().join("flows.csv").display().to_string();
    let (old, new) = (example("wordpress-flat"), example("wordpress-segmented"));
    let run = netseg(&["diff", "--flows", &csv, &old, &new]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("BROKEN FLOWS (declared or observed, denied after the change)\n  ✗ blog/mysql[StatefulSet] → blog/redis[Deployment] TCP 6379 is declared but the policies deny it\n"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("observed flow {csv}:1")), "{}", run.stdout);
    let json_run = netseg(&["diff", "-o", "json", "--flows", &csv, &old, &new]);
    assert_eq!(json_run.code, 1);
    assert!(json_run.stdout.contains("\"NS147\""), "{}", json_run.stdout);
    // Without the flow, the same change keeps every declared flow and passes.
    let plain = netseg(&["diff", &old, &new]);
    assert_eq!(plain.code, 0, "{}", plain.stdout);
    assert!(!plain.stdout.contains("BROKEN"), "{}", plain.stdout);
}

/// Secrets' values never appear in any output: a distinctive value planted in a Secret (`data` and `stringData`,
/// read by `secretKeyRef`, `envFrom.secretRef` and a mounted volume), as the password of a connection string in
/// env, and in a ConfigMap-held URL, is in no format of any command (audit, generate, diff, reach, can,
/// blast-radius), with or without `--flows`.
#[test]
fn secret_values_never_appear_in_any_output() {
    const PLANTED: &str = "Zq7planted-secret-9Xw";
    let encoded = "WnE3cGxhbnRlZC1zZWNyZXQtOVh3"; // base64 of PLANTED
    let app = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop, annotations: {{kubectl.kubernetes.io/last-applied-configuration: '{{\"data\": {{\"password\": \"{encoded}\"}}}}'}}}}\ndata: {{password: {encoded}, DB_HOST: {encoded}}}\nstringData: {{url: \"postgres://app:{PLANTED}@pg:5432/shop\"}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web-config, namespace: shop}}\ndata: {{CACHE_URL: \"redis://:{PLANTED}@pg:5432/0\", app.conf: \"db=postgres://app:{PLANTED}@pg:5432/shop\"}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        image: example/web\n        env:\n        - {{name: DB_URL, value: \"postgres://app:{PLANTED}@pg:5432/shop\"}}\n        - name: DB_PASSWORD\n          valueFrom: {{secretKeyRef: {{name: db, key: password}}}}\n        - name: DB_URL2\n          valueFrom: {{secretKeyRef: {{name: db, key: url}}}}\n        envFrom: [{{secretRef: {{name: db}}}}, {{configMapRef: {{name: web-config}}}}]\n        volumeMounts: [{{name: s, mountPath: /s}}, {{name: c, mountPath: /c}}]\n      volumes:\n      - {{name: s, secret: {{secretName: db}}}}\n      - {{name: c, configMap: {{name: web-config}}}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: pg, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: pg}}}}\n  template:\n    metadata: {{labels: {{app: pg}}}}\n    spec: {{containers: [{{name: pg, image: postgres, ports: [{{containerPort: 5432}}]}}]}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: pg, namespace: shop}}\nspec: {{selector: {{app: pg}}, ports: [{{port: 5432}}]}}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: shop}}\nspec: {{podSelector: {{matchLabels: {{app: pg}}}}, policyTypes: [Ingress]}}\n"
    );
    let flows = "src_namespace,src_workload,dst_namespace,dst_workload,port,protocol\nshop,web,shop,pg,5432,TCP\n";
    let dir = tree(&[("app.yaml", app.as_str()), ("flows.csv", flows)]);
    let input = dir.path().join("app.yaml").display().to_string();
    let flows = dir.path().join("flows.csv").display().to_string();
    let (generate, out) = {
        let run = netseg(&["generate", &input]);
        let out = tree(&[("generated.yaml", run.stdout.as_str())]);
        (run, out)
    };
    assert_eq!(generate.code, 0, "{}", generate.stderr);
    assert!(generate.stderr.contains("env DB_URL names pg:5432"), "the reference is used: {}", generate.stderr);
    assert!(
        generate.stderr.contains("env CACHE_URL from ConfigMap shop/web-config key CACHE_URL names pg:5432"),
        "{}",
        generate.stderr
    );
    assert!(
        generate.stderr.contains("takes key DB_HOST of Secret shop/db"),
        "a key name is a note: {}",
        generate.stderr
    );
    let generated = out.path().join("generated.yaml").display().to_string();
    let mut runs = vec![generate, netseg(&["generate", "-v", "--flows", &flows, &input])];
    for format in ["text", "json", "sarif", "markdown", "html"] {
        runs.push(netseg(&["audit", "-o", format, "--fail-on", "none", "-v", &input]));
        runs.push(netseg(&["audit", "-o", format, "--fail-on", "none", "--flows", &flows, &input]));
    }
    for format in ["text", "json", "sarif", "markdown", "mermaid", "dot", "html"] {
        runs.push(netseg(&["diff", "-o", format, &input, &generated]));
        runs.push(netseg(&["diff", "-o", format, "--flows", &flows, &generated, &input]));
    }
    for format in ["text", "json", "csv", "md", "dot", "mermaid"] {
        runs.push(netseg(&["reach", "-v", "-o", format, &input]));
    }
    for format in ["text", "json"] {
        runs.push(netseg(&["can", "-o", format, "--from", "shop/web", "--to", "shop/pg", "--port", "5432", &input]));
        runs.push(netseg(&["blast-radius", "-o", format, "--from", "shop/web", &input]));
    }
    assert!(runs.iter().any(|r| r.stdout.contains("NS147")), "the flows are checked");
    for run in &runs {
        assert_ne!(run.code, 2, "every command ran: {}", run.stderr);
    }
    for run in &runs {
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(PLANTED) && !text.contains(encoded), "a Secret value leaked:\n{text}");
        }
    }
}

/// A web app configured through ConfigMaps: `env[].valueFrom.configMapKeyRef` (a JDBC URL with a password),
/// `envFrom[].configMapRef` with a prefix (a Redis URL), and a ConfigMap mounted as a file (a Kafka broker list,
/// and a bare word that names a Service but is no address).
const CONFIGURED_APP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: shop}
data:
  DB_URL: jdbc:postgresql://app:Cm9planted-pw@pg:5432/shop
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cache-config, namespace: shop}
data:
  URL: rediss://:Cm9planted-pw@redis.shop.svc.cluster.local:6379/0
---
apiVersion: v1
kind: ConfigMap
metadata: {name: files, namespace: shop}
data:
  app.properties: |
    team=billing
    kafka.bootstrap.servers=kafka:9092,kafka.shop:9092
  unused.txt: billing:8080
";

fn configured_workloads() -> String {
    let backend = |name: &str, port: u16| {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: {name}, image: example/{name}, ports: [{{containerPort: {port}}}]}}]}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: {port}}}]}}\n"
        )
    };
    let web = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example/web
        env:
        - name: DATABASE_URL
          valueFrom: {configMapKeyRef: {name: app-config, key: DB_URL}}
        - name: BROKER_URL
          valueFrom: {secretKeyRef: {name: creds, key: broker-url}}
        envFrom:
        - {prefix: CACHE_, configMapRef: {name: cache-config}}
        volumeMounts: [{name: conf, mountPath: /etc/app}]
      volumes:
      - name: conf
        configMap: {name: files, items: [{key: app.properties, path: app.properties}]}
";
    let deny = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n";
    [
        web.to_string(),
        backend("pg", 5432),
        backend("redis", 6379),
        backend("kafka", 9092),
        backend("billing", 8080),
        deny.into(),
    ]
    .concat()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).unwrap_or_else(|| panic!("{needle}"))
}

/// Intent read from ConfigMaps: each flow a ConfigMap's value declares is NS147 when the policies deny it, with
/// the ConfigMap's file and line of the key and the line where the workload reads it; the credential in the URL
/// is in no output, and a bare word in a mounted file declares nothing.
#[test]
fn flows_declared_in_config_maps_are_checked_with_where_they_were_read() {
    let app = configured_workloads();
    let dir = tree(&[("config.yaml", CONFIGURED_APP), ("app.yaml", app.as_str())]);
    let (config, workloads) =
        (dir.path().join("config.yaml").display().to_string(), dir.path().join("app.yaml").display().to_string());
    let (run, found) = ns147(&[&dir.path().display().to_string()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let evidence = |to: &str| -> String {
        found
            .iter()
            .find(|f| {
                f["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(&format!("shop/web[Deployment] → shop/{to}[Deployment]")))
            })
            .map(|f| f["evidence"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no NS147 for web → {to}: {found:?}"))
    };
    let pg = evidence("pg");
    let expected = format!(
        "env DATABASE_URL from ConfigMap shop/app-config key DB_URL names pg:5432 ({config}:{}, read at {workloads}:{})",
        line_of(CONFIGURED_APP, "DB_URL:"),
        line_of(&app, "configMapKeyRef")
    );
    assert!(pg.contains(&expected), "{pg}\nwanted: {expected}");
    let redis = evidence("redis");
    assert!(
        redis
            .contains("env CACHE_URL from ConfigMap shop/cache-config key URL names redis.shop.svc.cluster.local:6379"),
        "{redis}"
    );
    let kafka = evidence("kafka");
    assert!(
        kafka.contains(
            "file app.properties of volume conf from ConfigMap shop/files key app.properties names kafka:9092"
        ),
        "{kafka}"
    );
    assert!(
        !found.iter().any(|f| f["message"].as_str().is_some_and(|m| m.contains("shop/billing"))),
        "a bare word in a mounted file, and a key not mounted, declare nothing: {found:?}"
    );
    assert!(!run.stdout.contains("Cm9planted-pw"), "{}", run.stdout);

    // generate reads the same intent; the Secret key named like an address is a note, its value unread.
    let generate = netseg(&["generate", &dir.path().display().to_string()]);
    assert_eq!(generate.code, 0, "{}", generate.stderr);
    assert!(generate.stderr.contains("key DB_URL names pg:5432"), "{}", generate.stderr);
    assert!(
        generate.stderr.contains("env BROKER_URL takes key broker-url of Secret shop/creds"),
        "{}",
        generate.stderr
    );
    assert!(!generate.stdout.contains("Cm9planted-pw") && !generate.stderr.contains("Cm9planted-pw"));
}
