//! The mesh layer's semantics, one rule per test, on small clusters written as their users write them.

use super::*;
use crate::request::Request;
use crate::tests::{cluster, pod};
use crate::{Analysis, Endpoint};

fn tcp(port: u16) -> PortSet {
    PortSet::single(Protocol::Tcp, port)
}

fn request(method: &str) -> Request {
    Request { method: Some(method.into()), path: Some("/".into()), ..Request::default() }
}

/// The outcome of a request on one TCP port, as `can --method` asks it.
fn decide(analysis: &Analysis<'_>, src: Endpoint, dst: Endpoint, port: u16, request: &Request) -> Outcome {
    let answer = analysis.mesh_answer(src, dst).expect("a pod destination");
    match answer.verdict(Protocol::Tcp, port) {
        Some(Verdict::Decided { decision, .. }) => decision.decide(request),
        Some(Verdict::Refused { why, by }) => Outcome::Denied { by: by.iter().cloned().collect(), why: why.clone() },
        Some(Verdict::Bypassed { why }) => Outcome::Allowed { by: Vec::new(), why: why.clone() },
        None => Outcome::Allowed { by: Vec::new(), why: "not captured".into() },
    }
}

/// The issue's worked example: shoes accepts POST from inventory-sa, and nothing else.
const SHOES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shoes, namespace: default}
spec:
  template:
    metadata: {labels: {app: shoes}}
    spec:
      containers: [{name: shoes, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: shoes, namespace: default}
spec:
  selector: {app: shoes}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: storefront, namespace: default}
spec:
  template:
    metadata: {labels: {app: storefront}}
    spec: {containers: [{name: storefront}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inventory, namespace: default}
spec:
  template:
    metadata: {labels: {app: inventory}}
    spec: {serviceAccountName: inventory-sa, containers: [{name: inventory}]}
---
apiVersion: "security.istio.io/v1beta1"
kind: "AuthorizationPolicy"
metadata: {name: "shoes-writer", namespace: default}
spec:
  selector: {matchLabels: {app: shoes}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/inventory-sa"]}}]
    to: [{operation: {methods: ["POST"]}}]
"#;

#[test]
fn shoes_writer_admits_post_from_inventory_sa_only() {
    let c = cluster(SHOES);
    let a = Analysis::new(&c);
    let (storefront, inventory, shoes) = (pod(&c, "storefront"), pod(&c, "inventory"), pod(&c, "shoes"));
    assert!(a.allowed(storefront, shoes).intersection(&tcp(8080)).is_empty(), "no rule admits storefront");
    let Outcome::Denied { why, .. } = decide(&a, storefront, shoes, 8080, &request("POST")) else { panic!("denied") };
    assert!(why.contains("none of their rules match"), "{why}");
    assert!(!a.allowed(inventory, shoes).intersection(&tcp(8080)).is_empty());
    assert!(matches!(decide(&a, inventory, shoes, 8080, &request("POST")), Outcome::Allowed { .. }));
    assert!(matches!(decide(&a, inventory, shoes, 8080, &request("GET")), Outcome::Denied { .. }));
    let restrictions = a.restrictions(inventory, shoes);
    let on_8080 = restrictions.iter().find(|r| r.ports.contains(Protocol::Tcp, 8080)).expect("8080 is restricted");
    let condition = &on_8080.any_of[0];
    assert_eq!(condition.admits, "POST only, from principal cluster.local/ns/default/sa/inventory-sa");
    assert_eq!(condition.by.name, "shoes-writer");
    assert_eq!(condition.by.rule, Some(0));
    assert_eq!(condition.layer, Layer::Istio);
    // Ports no Service declares are detected per connection: HTTP requests meet the same rule.
    let elsewhere = restrictions.iter().find(|r| r.ports.contains(Protocol::Tcp, 9000)).expect("9000 too");
    assert_eq!(
        elsewhere.any_of[0].admits,
        "over HTTP, POST only, from principal cluster.local/ns/default/sa/inventory-sa"
    );
    // UDP is never captured by the sidecar.
    assert!(a.allowed(storefront, shoes).contains(Protocol::Udp, 8080));
}

fn with_shoes(extra: &str) -> Cluster {
    cluster(&format!("{SHOES}---\n{extra}"))
}

#[test]
fn an_empty_spec_allows_nothing_and_one_empty_rule_allows_everything() {
    let nothing = with_shoes("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: none, namespace: default}\nspec: {}\n");
    let a = Analysis::new(&nothing);
    assert!(a
        .allowed(pod(&nothing, "shoes"), pod(&nothing, "storefront"))
        .intersection(&PortSet::protocol(Protocol::Tcp))
        .is_empty());
    let everything = with_shoes(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: all, namespace: default}\nspec:\n  rules: [{}]\n",
    );
    let a = Analysis::new(&everything);
    assert!(a.allowed(pod(&everything, "storefront"), pod(&everything, "shoes")).is_all(), "ALLOW rules are a union");
    assert!(a.restrictions(pod(&everything, "storefront"), pod(&everything, "shoes")).is_empty());
}

#[test]
fn deny_wins_over_allow_and_custom_is_unknown() {
    let c = with_shoes(concat!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: no-admin, namespace: default}\n",
        "spec:\n  action: DENY\n  rules:\n  - to: [{operation: {paths: ['/admin*']}}]\n---\n",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ext, namespace: default}\n",
        "spec:\n  action: CUSTOM\n  provider: {name: opa}\n  rules:\n  - to: [{operation: {paths: ['/ext*']}}]\n",
    ));
    let a = Analysis::new(&c);
    let (inventory, shoes) = (pod(&c, "inventory"), pod(&c, "shoes"));
    let admin = Request { method: Some("POST".into()), path: Some("/admin/x".into()), ..Request::default() };
    let Outcome::Denied { by, .. } = decide(&a, inventory, shoes, 8080, &admin) else { panic!("the DENY rule wins") };
    assert_eq!(by[0].name, "no-admin");
    let external = Request { method: Some("POST".into()), path: Some("/ext/1".into()), ..Request::default() };
    let Outcome::Unknown { why } = decide(&a, inventory, shoes, 8080, &external) else { panic!("CUSTOM is unknown") };
    assert!(why.contains("opa"), "{why}");
    let conditions = &a.restrictions(inventory, shoes)[0].any_of;
    assert!(conditions[0].admits.contains("unless path /admin*"), "{}", conditions[0].admits);
}

#[test]
fn http_fields_on_tcp_traffic_never_allow_and_deny_the_whole_port() {
    // The Service declares the port TCP: Istio cannot read HTTP on it.
    let tcp_service = SHOES.replace("name: http, port: 80", "name: tcp-shoes, port: 80");
    let c = cluster(&tcp_service);
    let a = Analysis::new(&c);
    assert!(
        a.allowed(pod(&c, "inventory"), pod(&c, "shoes")).intersection(&tcp(8080)).is_empty(),
        "the ALLOW rule's methods make it match no TCP connection"
    );
    let deny = format!(
        "{tcp_service}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: all, namespace: default}}\nspec:\n  rules: [{{}}]\n---\n\
         apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: deny-get, namespace: default}}\n\
         spec:\n  action: DENY\n  rules:\n  - to: [{{operation: {{methods: [GET], ports: ['8080']}}}}]\n"
    );
    let c = cluster(&deny);
    let a = Analysis::new(&c);
    let allowed = a.allowed(pod(&c, "storefront"), pod(&c, "shoes"));
    assert!(!allowed.contains(Protocol::Tcp, 8080), "the DENY rule denies all TCP traffic on 8080");
    assert!(allowed.contains(Protocol::Tcp, 8081), "and only on the port it names");
    // On an HTTP port the same DENY rule refuses GET only.
    let http = deny.replace("name: tcp-shoes, port: 80", "name: http, port: 80");
    let c = cluster(&http);
    let a = Analysis::new(&c);
    let (storefront, shoes) = (pod(&c, "storefront"), pod(&c, "shoes"));
    assert!(a.allowed(storefront, shoes).contains(Protocol::Tcp, 8080));
    assert!(matches!(decide(&a, storefront, shoes, 8080, &request("GET")), Outcome::Denied { .. }));
    assert!(matches!(decide(&a, storefront, shoes, 8080, &request("PUT")), Outcome::Allowed { .. }));
}

#[test]
fn strict_mtls_refuses_plaintext_and_permissive_admits_it_without_an_identity() {
    let outside = "apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: sleep, namespace: legacy}\nspec:\n  template:\n    metadata: {labels: {app: sleep}}\n    spec: {containers: [{name: sleep}]}\n";
    let strict = with_shoes(&format!(
        "{outside}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: default, namespace: istio-system}}\nspec: {{mtls: {{mode: STRICT}}}}\n"
    ));
    let a = Analysis::new(&strict);
    let answer = a.mesh_answer(pod(&strict, "sleep"), pod(&strict, "shoes")).expect("pod");
    let Some(Verdict::Refused { why, by }) = answer.verdict(Protocol::Tcp, 9000) else { panic!("refused") };
    assert!(why.contains("STRICT") && why.contains("outside the mesh"), "{why}");
    assert_eq!(by.as_ref().map(|b| b.name.as_str()), Some("default"));
    // PERMISSIVE (the default): plaintext comes in, but with no principal and no namespace, and the
    // notNamespaces form admits it (ISTIO-SECURITY-2021-004).
    let permissive = with_shoes(&format!(
        "{outside}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: not-dev, namespace: default}}\nspec:\n  selector: {{matchLabels: {{app: storefront}}}}\n  rules:\n  - from: [{{source: {{notNamespaces: [dev]}}}}]\n---\n\
         apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: only-default, namespace: default}}\nspec:\n  selector: {{matchLabels: {{app: inventory}}}}\n  rules:\n  - from: [{{source: {{namespaces: [default]}}}}]\n"
    ));
    let a = Analysis::new(&permissive);
    let sleep = pod(&permissive, "sleep");
    assert!(a.allowed(sleep, pod(&permissive, "storefront")).is_all(), "plaintext passes notNamespaces");
    assert!(a.allowed(sleep, pod(&permissive, "inventory")).intersection(&PortSet::protocol(Protocol::Tcp)).is_empty());
    assert!(a.allowed(pod(&permissive, "shoes"), pod(&permissive, "inventory")).is_all(), "mTLS carries the namespace");
}

#[test]
fn the_root_namespace_applies_mesh_wide_and_dry_runs_are_not_enforced() {
    let c = with_shoes(concat!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all, namespace: istio-system}\n",
        "spec:\n  action: DENY\n  rules: [{}]\n---\n",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n",
        "metadata: {name: trial, namespace: default, annotations: {istio.io/dry-run: 'true'}}\nspec: {}\n",
    ));
    let a = Analysis::new(&c);
    assert!(a
        .allowed(pod(&c, "shoes"), pod(&c, "storefront"))
        .intersection(&PortSet::protocol(Protocol::Tcp))
        .is_empty());
    let moved = c.mesh.istio.config.clone();
    let mut elsewhere = c.clone();
    elsewhere.mesh.istio.config = netseg_model::mesh::istio::MeshConfig { root_namespace: "mesh-root".into(), ..moved };
    let a = Analysis::new(&elsewhere);
    assert!(
        a.allowed(pod(&elsewhere, "shoes"), pod(&elsewhere, "storefront")).is_all(),
        "outside the root namespace the policy is istio-system's own, and the dry run enforces nothing"
    );
}

#[test]
fn excluded_ports_bypass_and_pods_outside_the_mesh_enforce_nothing() {
    let excluded = SHOES.replace(
        "    metadata: {labels: {app: shoes}}",
        "    metadata: {labels: {app: shoes}, annotations: {traffic.sidecar.istio.io/excludeInboundPorts: '8080'}}",
    );
    let c = cluster(&excluded);
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "storefront"), pod(&c, "shoes")).contains(Protocol::Tcp, 8080));
    assert!(!a.allowed(pod(&c, "storefront"), pod(&c, "shoes")).contains(Protocol::Tcp, 8081));
    let outside = SHOES.replace("labels: {istio-injection: enabled}", "labels: {}");
    let c = cluster(&outside);
    let a = Analysis::new(&c);
    let answer = a.mesh_answer(pod(&c, "storefront"), pod(&c, "shoes")).expect("pod");
    assert!(answer.passable.is_all());
    assert!(answer.notes[0].contains("enforces nothing here"), "{:?}", answer.notes);
}

const AMBIENT: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {serviceAccountName: web, containers: [{name: web}]}
"#;

#[test]
fn ztunnel_enforces_layer_four_only() {
    let l7 = format!(
        "{AMBIENT}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: get-only, namespace: shop}}\n\
         spec:\n  selector: {{matchLabels: {{app: api}}}}\n  rules:\n  - to: [{{operation: {{methods: [GET]}}}}]\n"
    );
    let c = cluster(&l7);
    let a = Analysis::new(&c);
    assert!(
        a.allowed(pod(&c, "web"), pod(&c, "api")).intersection(&tcp(8080)).is_empty(),
        "without a waypoint the L7 ALLOW rule never matches, and the ALLOW policy denies the rest"
    );
    let deny = format!(
        "{AMBIENT}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: deny-get, namespace: shop}}\n\
         spec:\n  action: DENY\n  selector: {{matchLabels: {{app: api}}}}\n  rules:\n  - to: [{{operation: {{methods: [GET]}}}}]\n"
    );
    let c = cluster(&deny);
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "web"), pod(&c, "api")).is_all(), "ztunnel skips the DENY rule it cannot read");
}

#[test]
fn a_waypoint_enforces_layer_seven_but_the_pod_address_is_a_way_around() {
    let waypoint = AMBIENT.replace(
        "istio.io/dataplane-mode: ambient}",
        "istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}",
    );
    let l7 = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: get-only, namespace: shop}\n\
              spec:\n  targetRefs: [{kind: Service, group: '', name: api}]\n  rules:\n  - to: [{operation: {methods: [GET]}}]\n";
    let c = cluster(&format!("{waypoint}---\n{l7}"));
    let a = Analysis::new(&c);
    let (web, api) = (pod(&c, "web"), pod(&c, "api"));
    assert!(matches!(decide(&a, web, api, 8080, &request("DELETE")), Outcome::Allowed { .. }), "straight to the pod");
    assert!(a.restrictions(web, api).is_empty(), "the pod's address bypasses the waypoint's rule");
    // Istio's advice: let the pod's ztunnel admit only the waypoint.
    let only_waypoint = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: via-waypoint, namespace: shop}\n\
              spec:\n  selector: {matchLabels: {app: api}}\n  rules:\n  - from: [{source: {principals: [cluster.local/ns/shop/sa/waypoint]}}]\n";
    let c = cluster(&format!("{waypoint}---\n{l7}---\n{only_waypoint}"));
    let a = Analysis::new(&c);
    let (web, api) = (pod(&c, "web"), pod(&c, "api"));
    assert!(matches!(decide(&a, web, api, 8080, &request("DELETE")), Outcome::Denied { .. }));
    assert!(matches!(decide(&a, web, api, 8080, &request("GET")), Outcome::Allowed { .. }));
    let restrictions = a.restrictions(web, api);
    let on_8080 = restrictions.iter().find(|r| r.ports.contains(Protocol::Tcp, 8080)).expect("restricted");
    assert_eq!(on_8080.any_of.len(), 1, "{:?}", on_8080.any_of);
    assert_eq!(on_8080.any_of[0].admits, "through the waypoint shop/waypoint: GET only");
}

/// Between ambient pods the network judges ztunnel's HBONE tunnel (TCP 15008), never the application's port; a
/// client outside the mesh still reaches the application port in plaintext. The factored answer agrees.
#[test]
fn ambient_clients_reach_istio_pods_through_hbone_15008() {
    let policy = |ports: &str| {
        format!(
            "{AMBIENT}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: cron, namespace: default}}\n\
             spec: {{template: {{metadata: {{labels: {{app: cron}}}}, spec: {{containers: [{{name: cron}}]}}}}}}\n\
             ---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: api, namespace: shop}}\n\
             spec:\n  podSelector: {{matchLabels: {{app: api}}}}\n  ingress: [{{ports: [{ports}]}}]\n"
        )
    };
    let c = cluster(&policy("{port: 8080}"));
    let a = Analysis::new(&c);
    let (web, api, cron) = (pod(&c, "web"), pod(&c, "api"), pod(&c, "cron"));
    let tcp_all = PortSet::protocol(Protocol::Tcp);
    assert!(a.allowed(web, api).intersection(&tcp_all).is_empty(), "8080 as written, but the wire carries 15008");
    assert!(a.allowed(cron, api).contains(Protocol::Tcp, 8080), "plaintext from outside the mesh");
    assert!(!a.allowed(cron, api).contains(Protocol::Tcp, 9090));
    let explanation = a.explain(web, api);
    assert_eq!(explanation.ingress.hbone.as_ref().map(|wire| wire.contains(Protocol::Tcp, 8080)), Some(true));
    assert!(a.explain(cron, api).ingress.hbone.is_none());

    let c = cluster(&policy("{port: 8080}, {port: 15008}"));
    let a = Analysis::new(&c);
    let (web, api, cron) = (pod(&c, "web"), pod(&c, "api"), pod(&c, "cron"));
    assert!(a.allowed(web, api).contains(Protocol::Tcp, 9090), "admitting the tunnel admits every TCP port");
    assert!(!a.allowed(cron, api).contains(Protocol::Tcp, 9090));
    let reach = a.reach();
    let index = |name: &str| c.workloads.iter().position(|w| w.id.name == name).expect("workload");
    let from_web = reach
        .connections
        .iter()
        .find(|conn| conn.src == index("web") && conn.dst == index("api"))
        .expect("web reaches api");
    assert_eq!(from_web.allowed, a.allowed(web, api), "the factored answer tunnels too");
}

/// The egress side of an ambient client: a rule admitting TCP 8080 to every pod reaches a pod outside the mesh
/// on 8080 but an Istio pod on nothing (the wire carries 15008), and the factored answer tells the two apart.
#[test]
fn an_ambient_clients_egress_is_judged_per_destination() {
    let text = format!(
        "{AMBIENT}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: cron, namespace: default}}\n\
         spec: {{template: {{metadata: {{labels: {{app: cron}}}}, spec: {{containers: [{{name: cron, ports: [{{containerPort: 8080}}]}}]}}}}}}\n\
         ---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: web, namespace: shop}}\n\
         spec:\n  podSelector: {{matchLabels: {{app: web}}}}\n  policyTypes: [Egress]\n  egress: \
         [{{to: [{{namespaceSelector: {{}}}}], ports: [{{port: 8080}}]}}]\n"
    );
    let c = cluster(&text);
    let a = Analysis::new(&c);
    let (web, api, cron) = (pod(&c, "web"), pod(&c, "api"), pod(&c, "cron"));
    assert!(a.allowed(web, api).is_empty(), "8080 as written, 15008 on the wire");
    assert_eq!(a.allowed(web, cron), tcp(8080), "plaintext to a pod outside the mesh");
    let index = |name: &str| c.workloads.iter().position(|w| w.id.name == name).expect("workload");
    let reach = a.reach();
    let between = |src: &str, dst: &str| {
        reach
            .connections
            .iter()
            .find(|conn| conn.src == index(src) && conn.dst == index(dst))
            .map(|conn| conn.allowed.clone())
    };
    assert_eq!(between("web", "api"), None);
    assert_eq!(between("web", "cron"), Some(tcp(8080)));
}

/// Linkerd's per-route policy task: books and webapp may GET authors; after the modify route is authorized
/// for webapp only, webapp may DELETE and books may not.
#[test]
fn linkerd_routes_authorize_per_route() {
    let text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: booksapp, annotations: {{linkerd.io/inject: enabled}}}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: authors, namespace: booksapp}}\nspec:\n  template:\n    metadata: {{labels: {{app: authors, project: booksapp}}}}\n    spec:\n      serviceAccountName: authors\n      containers: [{{name: service, ports: [{{name: service, containerPort: 7001}}]}}]\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: books, namespace: booksapp}}\nspec:\n  template:\n    metadata: {{labels: {{app: books}}}}\n    spec: {{serviceAccountName: books, containers: [{{name: books}}]}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: webapp, namespace: booksapp}}\nspec:\n  template:\n    metadata: {{labels: {{app: webapp}}}}\n    spec: {{serviceAccountName: webapp, containers: [{{name: webapp}}]}}\n---\n\
         {}---\n\
         apiVersion: policy.linkerd.io/v1beta1\nkind: HTTPRoute\nmetadata: {{name: authors-modify-route, namespace: booksapp}}\nspec:\n  parentRefs: [{{name: authors-server, kind: Server, group: policy.linkerd.io}}]\n  rules:\n  - matches:\n    - {{path: {{value: /authors/, type: PathPrefix}}, method: DELETE}}\n---\n\
         apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {{name: authors-modify-policy, namespace: booksapp}}\nspec:\n  targetRef: {{group: policy.linkerd.io, kind: HTTPRoute, name: authors-modify-route}}\n  requiredAuthenticationRefs: [{{name: authors-modify-authn, kind: MeshTLSAuthentication, group: policy.linkerd.io}}]\n---\n\
         apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {{name: authors-modify-authn, namespace: booksapp}}\nspec:\n  identities: [webapp.booksapp.serviceaccount.identity.linkerd.cluster.local]\n",
        netseg_model_books()
    );
    let c = cluster(&text);
    let a = Analysis::new(&c);
    let (authors, books, webapp) = (pod(&c, "authors"), pod(&c, "books"), pod(&c, "webapp"));
    let get = Request { method: Some("GET".into()), path: Some("/authors/1.json".into()), ..Request::default() };
    let delete = Request { method: Some("DELETE".into()), path: Some("/authors/1.json".into()), ..Request::default() };
    assert!(matches!(decide(&a, books, authors, 7001, &get), Outcome::Allowed { .. }));
    assert!(matches!(decide(&a, books, authors, 7001, &delete), Outcome::Denied { .. }), "books may not delete");
    assert!(matches!(decide(&a, webapp, authors, 7001, &delete), Outcome::Allowed { .. }));
    let put = Request { method: Some("PUT".into()), path: Some("/authors/1.json".into()), ..Request::default() };
    let Outcome::Denied { why, .. } = decide(&a, webapp, authors, 7001, &put) else { panic!("no route for PUT") };
    assert!(why.contains("404"), "{why}");
    // Other ports of authors have no Server: the cluster default (all-unauthenticated) admits everyone.
    assert!(a.allowed(books, authors).contains(Protocol::Tcp, 9999));
}

fn netseg_model_books() -> &'static str {
    // The Server, route, policy and authentication of the task, as the model tests read them.
    r#"apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: authors-server, namespace: booksapp}
spec:
  podSelector: {matchLabels: {app: authors, project: booksapp}}
  port: service
---
apiVersion: policy.linkerd.io/v1beta1
kind: HTTPRoute
metadata: {name: authors-get-route, namespace: booksapp}
spec:
  parentRefs: [{name: authors-server, kind: Server, group: policy.linkerd.io}]
  rules:
  - matches:
    - path: {value: "/authors.json"}
      method: GET
    - path: {value: "/authors/", type: "PathPrefix"}
      method: GET
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: authors-get-policy, namespace: booksapp}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: authors-get-route}
  requiredAuthenticationRefs:
  - {name: authors-get-authn, kind: MeshTLSAuthentication, group: policy.linkerd.io}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: authors-get-authn, namespace: booksapp}
spec:
  identities:
  - "books.booksapp.serviceaccount.identity.linkerd.cluster.local"
  - "webapp.booksapp.serviceaccount.identity.linkerd.cluster.local"
"#
}

#[test]
fn linkerd_default_policies_by_pod_namespace_and_cluster() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, annotations: {linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: all-authenticated}}\n---\n\
        kind: Pod\nmetadata: {name: server, namespace: a}\n---\n\
        kind: Pod\nmetadata: {name: open, namespace: a, annotations: {config.linkerd.io/default-inbound-policy: all-unauthenticated}}\n---\n\
        kind: Pod\nmetadata: {name: meshed, namespace: a}\n---\n\
        kind: Pod\nmetadata: {name: plain, namespace: b}\n";
    let c = cluster(text);
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "meshed"), pod(&c, "server")).is_all());
    assert!(a.allowed(pod(&c, "plain"), pod(&c, "server")).intersection(&PortSet::protocol(Protocol::Tcp)).is_empty());
    assert!(a.allowed(pod(&c, "plain"), pod(&c, "open")).is_all(), "the pod's annotation wins");
    let outside: Endpoint = Endpoint::Address("8.8.8.8".parse().expect("ip"));
    assert!(a.allowed(outside, pod(&c, "server")).intersection(&PortSet::protocol(Protocol::Tcp)).is_empty());
}

const CONSUL: &str = r#"
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}, annotations: {consul.hashicorp.com/connect-inject: "true"}}
spec: {containers: [{name: api, ports: [{containerPort: 8080}]}]}
---
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{port: 8080}]}
---
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}, annotations: {consul.hashicorp.com/connect-inject: "true"}}
---
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
kind: Pod
metadata: {name: admin, namespace: shop, labels: {app: admin}, annotations: {consul.hashicorp.com/connect-inject: "true"}}
---
kind: Service
metadata: {name: admin, namespace: shop}
spec: {selector: {app: admin}, ports: [{port: 80}]}
---
kind: Pod
metadata: {name: legacy, namespace: shop}
---
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata: {name: api, namespace: shop}
spec:
  destination: {name: api}
  sources:
  - name: admin
    permissions:
    - action: deny
      http: {pathPrefix: /v2/secrets}
    - action: allow
      http: {pathPrefix: /v2, methods: [GET, PUT]}
  - name: "*"
    action: deny
"#;

#[test]
fn consul_intentions_by_precedence_and_permission_order() {
    let c = cluster(CONSUL);
    let a = Analysis::new(&c);
    let (api, web, admin, legacy) = (pod(&c, "api"), pod(&c, "web"), pod(&c, "admin"), pod(&c, "legacy"));
    assert!(a.allowed(web, api).intersection(&tcp(8080)).is_empty(), "the wildcard source denies web");
    let put = Request { method: Some("PUT".into()), path: Some("/v2/widgets".into()), ..Request::default() };
    assert!(matches!(decide(&a, admin, api, 8080, &put), Outcome::Allowed { .. }));
    let secret = Request { method: Some("GET".into()), path: Some("/v2/secrets/1".into()), ..Request::default() };
    assert!(matches!(decide(&a, admin, api, 8080, &secret), Outcome::Denied { .. }), "the earlier permission wins");
    let post = Request { method: Some("POST".into()), path: Some("/v2/widgets".into()), ..Request::default() };
    let Outcome::Allowed { why, .. } = decide(&a, admin, api, 8080, &post) else { panic!("default allow") };
    assert!(why.contains("default intention is allow"), "no permission matches: the default decides: {why}");
    assert!(a.allowed(legacy, api).intersection(&tcp(8080)).is_empty(), "plaintext from outside the mesh");
    let mut denying = c.clone();
    denying.mesh.consul.config.default_intention = netseg_model::mesh::consul::IntentionAction::Deny;
    let a = Analysis::new(&denying);
    assert!(matches!(decide(&a, admin, api, 8080, &post), Outcome::Denied { .. }));
}

#[test]
fn profiles_keep_apart_what_the_mesh_treats_differently() {
    let c = cluster(SHOES);
    let a = Analysis::new(&c);
    // storefront and inventory differ only by service account, which the policy names.
    let reach = a.reach();
    let shoes = c.workloads.iter().position(|w| w.id.name == "shoes").expect("shoes");
    let from = |name: &str| {
        let src = c.workloads.iter().position(|w| w.id.name == name).expect("workload");
        reach.connections.iter().find(|c| c.src == src && c.dst == shoes).map(|c| c.allowed.clone()).unwrap_or_default()
    };
    assert!(from("inventory").contains(Protocol::Tcp, 8080));
    assert!(!from("storefront").contains(Protocol::Tcp, 8080));
}
