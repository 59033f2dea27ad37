use crate::diag::Severity;
use crate::load::{load_bytes, load_inputs, Inventory};
use crate::mesh::consul::{HeaderTest, IntentionAction, SourceDecision};
use crate::mesh::istio::*;
use crate::mesh::linkerd::{AuthorizationTarget, DefaultPolicy, PathMatch, ProxyProtocol};
use crate::mesh::StringMatch;
use std::sync::Arc;

fn load(text: &str) -> Inventory {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("mesh.yaml"), text.as_bytes(), false);
    // The cross-object checks run once every input is read.
    load_inputs(&mut inventory, &[]);
    inventory
}

const SHOES_WRITER: &str = r#"apiVersion: "security.istio.io/v1beta1"
kind: "AuthorizationPolicy"
metadata: {name: "shoes-writer", namespace: default}
spec:
  selector: {matchLabels: {app: shoes}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/inventory-sa"]}}]
    to: [{operation: {methods: ["POST"]}}]
"#;

#[test]
fn the_shoes_writer_example_reads_as_written() {
    let inventory = load(SHOES_WRITER);
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let policy = &inventory.mesh.istio.authorization_policies[0];
    assert_eq!((policy.namespace.as_str(), policy.name.as_str()), ("default", "shoes-writer"));
    assert_eq!(policy.action, AuthorizationAction::Allow);
    assert_eq!(policy.target, PolicyTarget::Selector([("app", "shoes")].into()));
    let rule = &policy.rules[0];
    assert_eq!(rule.line, 7);
    assert_eq!(rule.from[0].principals, [StringMatch::Exact("cluster.local/ns/default/sa/inventory-sa".into())]);
    assert_eq!(rule.to[0].methods, [StringMatch::Exact("POST".into())]);
    assert_eq!(rule.http_fields(), ["methods"]);
}

#[test]
fn empty_spec_and_allow_all_rules_are_kept_apart() {
    let inventory = load(concat!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-nothing, namespace: foo}\nspec: {}\n---\n",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-all, namespace: foo}\nspec:\n  rules:\n  - {}\n",
    ));
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let policies = &inventory.mesh.istio.authorization_policies;
    assert!(policies[0].rules.is_empty());
    assert_eq!(policies[0].target, PolicyTarget::Namespace);
    assert_eq!(policies[1].rules.len(), 1);
    assert!(policies[1].rules[0].from.is_empty() && policies[1].rules[0].to.is_empty());
}

#[test]
fn every_field_of_a_rule_is_read() {
    let inventory = load(
        r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: foo, annotations: {istio.io/dry-run: "true"}}
spec:
  action: DENY
  targetRefs: [{kind: Service, group: "", name: shoes}]
  rules:
  - from:
    - source:
        notPrincipals: ["*"]
        namespaces: ["prod-*"]
        ipBlocks: ["10.0.0.0/8", "192.168.1.1"]
        remoteIpBlocks: ["1.2.3.4"]
    to:
    - operation:
        ports: ["8080"]
        notPaths: ["/admin*", "/x/{*}/y"]
        hosts: ["*.example.com"]
    when:
    - key: request.headers[X-Version]
      values: ["v1"]
    - key: source.ip
      notValues: ["10.1.0.0/16"]
"#,
    );
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let policy = &inventory.mesh.istio.authorization_policies[0];
    assert!(policy.dry_run);
    assert_eq!(policy.action, AuthorizationAction::Deny);
    let PolicyTarget::TargetRefs(refs) = &policy.target else { panic!("target refs") };
    assert_eq!(refs[0].kind, "Service");
    let source = &policy.rules[0].from[0];
    assert_eq!(source.not_principals, [StringMatch::Presence]);
    assert_eq!(source.ip_blocks.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["10.0.0.0/8", "192.168.1.1/32"]);
    let operation = &policy.rules[0].to[0];
    assert_eq!(operation.ports, [8080]);
    assert!(operation.not_paths[1].matches("/x/anything/y"));
    let when = &policy.rules[0].when;
    assert_eq!(when[0].key, ConditionKey::RequestHeader("x-version".into()));
    assert_eq!(when[1].not_values, ["10.1.0.0/16"]);
    assert_eq!(
        policy.rules[0].http_fields(),
        ["hosts", "notPaths", "when request.headers"],
        "Envoy reads remoteIpBlocks on TCP too"
    );
}

#[test]
fn peer_authentications_and_the_mesh_config() {
    let inventory = load(concat!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\n",
        "spec: {mtls: {mode: STRICT}}\n---\n",
        "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: db, namespace: shop}\n",
        "spec:\n  selector: {matchLabels: {app: db}}\n  mtls: {mode: UNSET}\n  portLevelMtls:\n    '5432': {mode: DISABLE}\n---\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n",
        "data:\n  mesh: |-\n    rootNamespace: mesh-root\n    trustDomain: example.org\n",
    ));
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let peers = &inventory.mesh.istio.peer_authentications;
    assert_eq!(peers[0].mode, Some(MtlsMode::Strict));
    assert_eq!(peers[0].selector, None);
    assert_eq!(peers[1].mode, None);
    assert_eq!(peers[1].port_level, [(5432, Some(MtlsMode::Disable))]);
    let config = &inventory.mesh.istio.config;
    assert_eq!((config.root_namespace.as_str(), config.trust_domain.as_str()), ("mesh-root", "example.org"));
    assert_eq!(config.location.as_ref().map(|l| l.line), Some(15));
}

/// The Linkerd per-route policy task (linkerd.io, "Configuring Per-Route Authorization Policy").
pub(crate) const BOOKS_AUTHORS: &str = r#"apiVersion: policy.linkerd.io/v1beta3
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
"#;

#[test]
fn linkerd_objects_read_as_written() {
    let inventory = load(BOOKS_AUTHORS);
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let linkerd = &inventory.mesh.linkerd;
    assert_eq!(linkerd.servers[0].port, crate::kube::PortRef::Name("service".into()));
    assert_eq!(linkerd.servers[0].access_policy, DefaultPolicy::Deny);
    assert_eq!(linkerd.servers[0].proxy_protocol, ProxyProtocol::Detect);
    assert_eq!(linkerd.http_routes[0].servers, ["authors-server"]);
    assert_eq!(linkerd.http_routes[0].matches[0].path, Some(PathMatch::Prefix("/authors.json".into())));
    assert_eq!(linkerd.http_routes[0].matches[1].method.as_deref(), Some("GET"));
    assert_eq!(linkerd.authorization_policies[0].target, AuthorizationTarget::HttpRoute("authors-get-route".into()));
    assert_eq!(linkerd.mesh_tls_authentications[0].clients.identities.len(), 2);
}

#[test]
fn linkerd_and_consul_settings_from_their_config_maps() {
    let inventory = load(concat!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config, namespace: linkerd}\n",
        "data:\n  values: |\n    identityTrustDomain: corp.local\n    clusterNetworks: 10.0.0.0/8,fd00::/8\n    proxy:\n      defaultInboundPolicy: cluster-authenticated\n---\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: consul-consul-server-config, namespace: consul}\n",
        "data:\n  server.json: '{\"acl\": {\"enabled\": true, \"default_policy\": \"deny\"}}'\n",
    ));
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let linkerd = &inventory.mesh.linkerd.config;
    assert_eq!(linkerd.default_inbound_policy, DefaultPolicy::ClusterAuthenticated);
    assert_eq!(linkerd.trust_domain, "corp.local");
    assert_eq!(linkerd.cluster_networks.len(), 2);
    assert_eq!(inventory.mesh.consul.config.default_intention, IntentionAction::Deny);
}

#[test]
fn consul_intentions_read_as_written() {
    let inventory = load(
        r#"apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata: {name: api}
spec:
  destination: {name: api}
  sources:
  - name: web
    action: allow
  - name: admin
    permissions:
    - action: allow
      http:
        pathPrefix: /v2
        methods: [GET, PUT]
        header: [{name: X-Debug, present: true, invert: true}]
  - name: "*"
    action: deny
"#,
    );
    assert!(inventory.diagnostics.is_empty(), "{:?}", inventory.diagnostics);
    let intentions = &inventory.mesh.consul.intentions[0];
    assert_eq!(intentions.destination, "api");
    assert_eq!(intentions.sources[0].decision, SourceDecision::Action(IntentionAction::Allow));
    let SourceDecision::Permissions(permissions) = &intentions.sources[1].decision else { panic!("L7") };
    assert_eq!(permissions[0].http.methods, ["GET", "PUT"]);
    assert_eq!(permissions[0].http.headers[0].test, HeaderTest::Present);
    assert!(permissions[0].http.headers[0].invert);
}

#[test]
fn pod_templates_keep_the_mesh_annotations() {
    let inventory = load(concat!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n",
        "spec:\n  template:\n    metadata:\n      annotations:\n        traffic.sidecar.istio.io/excludeInboundPorts: '9090'\n",
        "        prometheus.io/scrape: 'true'\n      labels: {app: web}\n",
    ));
    let annotations = &inventory.workloads[0].pod.annotations;
    assert_eq!(annotations.len(), 1, "only the mesh's annotations are kept: {annotations:?}");
    assert_eq!(annotations.get("traffic.sidecar.istio.io/excludeInboundPorts").map(|v| &**v), Some("9090"));
}

/// Every bad-input path of the mesh decoders: the document, the field the diagnostic names, its line, whether
/// it is an error (the object is left out) or a warning (kept), and a fragment of the message.
const BAD_INPUTS: &[(&str, &str, u32, Severity, &str)] = &[
    // Istio AuthorizationPolicy.
    ("kind: AuthorizationPolicy\nspec:\n  action: allow\n", "spec.action", 3, Severity::Error, "did you mean `ALLOW`"),
    ("kind: AuthorizationPolicy\nspec:\n  selector: {matchLabels: {a: b}}\n  targetRefs: [{kind: Gateway, name: g}]\n", "spec.targetRefs", 2, Severity::Error, "only one of targetRefs or selector"),
    ("kind: AuthorizationPolicy\nspec:\n  selector: {matchLabels: {a: b}}\n  targetRef: {kind: Gateway, name: g}\n", "spec.targetRef", 2, Severity::Error, "only one of targetRefs or selector"),
    ("kind: AuthorizationPolicy\nspec:\n  targetRefs: [{kind: Gateway, name: g, namespace: other}]\n", "spec.targetRefs[0].namespace", 3, Severity::Error, "cross-namespace"),
    ("kind: AuthorizationPolicy\nspec:\n  targetRefs: [{kind: Gateway}]\n", "spec.targetRefs[0]", 3, Severity::Error, "needs a kind and a name"),
    ("kind: AuthorizationPolicy\nspec:\n  selector: {matchLabels: {app: 'a*'}}\n", "spec.selector.matchLabels.app", 3, Severity::Error, "label value"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {ipBlocks: [10.0.0.0/33]}\n", "spec.rules[0].from[0].source.ipBlocks[0]", 5, Severity::Error, "bad CIDR"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {notIpBlocks: [10.0.0.300]}\n", "spec.rules[0].from[0].source.notIpBlocks[0]", 5, Severity::Error, "bad IP address"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {principals: [default/inventory-sa]}\n", "spec.rules[0].from[0].source.principals[0]", 5, Severity::Warning, "TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {notPrincipals: ['spiffe://cluster.local/ns/a/sa/b']}\n", "spec.rules[0].from[0].source.notPrincipals[0]", 5, Severity::Warning, "spiffe://"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {principals: ['']}\n", "spec.rules[0].from[0].source.principals[0]", 5, Severity::Error, "empty value"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {principals: [a/ns/b/sa/c], serviceAccounts: [c]}\n", "spec.rules[0].from[0].source", 5, Severity::Error, "cannot set serviceAccounts"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {serviceAccounts: ['ns/*']}\n", "spec.rules[0].from[0].source.serviceAccounts[0]", 5, Severity::Error, "wildcard"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {serviceAccounts: ['/sa']}\n", "spec.rules[0].from[0].source.serviceAccounts[0]", 5, Severity::Error, "empty part"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {trustDomains: ['a/b']}\n", "spec.rules[0].from[0].source.trustDomains[0]", 5, Severity::Error, "must not contain"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - source: {}\n", "spec.rules[0].from[0].source", 5, Severity::Error, "must not be empty"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from:\n    - {}\n", "spec.rules[0].from[0].source", 5, Severity::Error, "must be set"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - from: []\n", "spec.rules[0].from", 4, Severity::Error, "must not be empty"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to: []\n", "spec.rules[0].to", 4, Severity::Error, "must not be empty"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {}\n", "spec.rules[0].to[0].operation", 5, Severity::Error, "must not be empty"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - {}\n", "spec.rules[0].to[0].operation", 5, Severity::Error, "must be set"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - null\n", "spec.rules[0]", 4, Severity::Error, "must not be null"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {ports: [http]}\n", "spec.rules[0].to[0].operation.ports[0]", 5, Severity::Error, "bad port"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {ports: [8080]}\n", "spec.rules[0].to[0].operation.ports[0]", 5, Severity::Error, "quote it"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {notPorts: ['70000']}\n", "spec.rules[0].to[0].operation.notPorts[0]", 5, Severity::Error, "bad port"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {paths: [api/v1]}\n", "spec.rules[0].to[0].operation.paths[0]", 5, Severity::Warning, "does not start with `/`"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {paths: ['/a?b=c']}\n", "spec.rules[0].to[0].operation.paths[0]", 5, Severity::Warning, "query"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {paths: ['/{**}/foo/{*}']}\n", "spec.rules[0].to[0].operation.paths[0]", 5, Severity::Error, "last operator"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {notPaths: ['/foo/{id}']}\n", "spec.rules[0].to[0].operation.notPaths[0]", 5, Severity::Error, "outside a path template"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - to:\n    - operation: {methods: [get]}\n", "spec.rules[0].to[0].operation.methods[0]", 5, Severity::Warning, "did you mean `GET`"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - when:\n    - {key: source.hostname, values: [a]}\n", "spec.rules[0].when[0].key", 5, Severity::Error, "not an Istio attribute"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - when:\n    - {key: destination.namespace, values: [a]}\n", "spec.rules[0].when[0].key", 5, Severity::Error, "metadata.namespace"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - when:\n    - {key: request.headers, values: [a]}\n", "spec.rules[0].when[0].key", 5, Severity::Error, "request.headers[NAME]"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - when:\n    - {key: source.ip}\n", "spec.rules[0].when[0]", 5, Severity::Error, "at least one of `values` or `notValues`"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - when:\n    - {values: [a]}\n", "spec.rules[0].when[0].key", 5, Severity::Error, "must not be empty"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - when:\n    - key: source.ip\n      values: [nope]\n", "spec.rules[0].when[0].values[0]", 6, Severity::Error, "bad IP address"),
    ("kind: AuthorizationPolicy\nspec:\n  rules:\n  - when:\n    - key: destination.port\n      values: ['99999']\n", "spec.rules[0].when[0].values[0]", 6, Severity::Error, "bad port"),
    ("kind: AuthorizationPolicy\nspec:\n  action: DENY\n", "spec.rules", 2, Severity::Error, "DENY policy without rules"),
    ("kind: AuthorizationPolicy\nspec:\n  action: CUSTOM\n  provider: {name: ext}\n", "spec.rules", 2, Severity::Error, "CUSTOM policy without rules"),
    ("kind: AuthorizationPolicy\nspec:\n  action: CUSTOM\n  rules: [{}]\n", "spec.provider.name", 2, Severity::Error, "must name its extension provider"),
    ("kind: AuthorizationPolicy\nspec:\n  action: CUSTOM\n  provider: {name: ext}\n  rules:\n  - from:\n    - source: {principals: [a/ns/b/sa/c]}\n", "spec.rules[0].from[0].source.principals", 7, Severity::Error, "not supported with the CUSTOM action"),
    ("kind: AuthorizationPolicy\nspec:\n  action: CUSTOM\n  provider: {name: ext}\n  rules:\n  - when:\n    - {key: source.namespace, values: [a]}\n", "spec.rules[0].when[0].key", 7, Severity::Error, "not supported with the CUSTOM action"),
    ("kind: AuthorizationPolicy\nspec:\n  provider: {name: ext}\n", "spec.provider", 3, Severity::Error, "only for the CUSTOM action"),
    ("kind: AuthorizationPolicy\nmetadata: {annotations: {istio.io/dry-run: 'yes'}}\nspec: {}\n", "metadata.annotations.istio.io/dry-run", 2, Severity::Error, "not a boolean"),
    ("kind: AuthorizationPolicy\nmetadata: {annotations: {istio.io/dry-run: 'true'}}\nspec:\n  action: AUDIT\n  rules: [{}]\n", "metadata.annotations.istio.io/dry-run", 2, Severity::Error, "only supported on ALLOW and DENY"),
    ("kind: AuthorizationPolicy\nspec:\n  action: DENY\n  rules:\n  - to:\n    - operation: {methods: [GET]}\n", "spec.rules[0]", 5, Severity::Warning, "denies every TCP connection"),
    // Istio PeerAuthentication.
    ("kind: PeerAuthentication\nspec:\n  mtls: {mode: strict}\n", "spec.mtls.mode", 3, Severity::Error, "not an mTLS mode"),
    ("kind: PeerAuthentication\nspec:\n  portLevelMtls:\n    '8080': {mode: DISABLE}\n", "spec.portLevelMtls", 3, Severity::Error, "cannot have port level mTLS"),
    ("kind: PeerAuthentication\nspec:\n  selector: {matchLabels: {a: b}}\n  portLevelMtls:\n    http: {mode: DISABLE}\n", "spec.portLevelMtls.http", 5, Severity::Error, "range 1..65535"),
    ("kind: PeerAuthentication\nspec:\n  selector: {matchLabels: {a: b}}\n  portLevelMtls: {}\n", "spec.portLevelMtls", 4, Severity::Error, "at least one element"),
];

const ISTIO_HEADER: &str = "apiVersion: security.istio.io/v1\nmetadata: {name: bad, namespace: shop}\n";

#[test]
fn every_istio_bad_input_names_its_field_and_line_and_spares_the_rest() {
    let mut wrong_lines = Vec::new();
    for (body, field, line, severity, fragment) in BAD_INPUTS {
        // The header's metadata goes first unless the case brings its own.
        let document = if body.contains("metadata:") {
            format!(
                "apiVersion: security.istio.io/v1\n{}",
                body.replacen("metadata: {", "metadata: {name: bad, namespace: shop, ", 1)
            )
        } else {
            format!("{ISTIO_HEADER}{body}")
        };
        let text = format!("{document}---\n{SHOES_WRITER}");
        let inventory = load(&text);
        let line = line + 1 + u32::from(!body.contains("metadata:"));
        let found = inventory.diagnostics.iter().find(|d| d.field.as_deref() == Some(*field));
        let Some(diagnostic) = found else {
            panic!("no diagnostic on `{field}` for:\n{document}\ngot: {:#?}", inventory.diagnostics)
        };
        assert_eq!(diagnostic.severity, *severity, "{document}\n{diagnostic}");
        if diagnostic.line != Some(line) {
            wrong_lines.push(format!("{field}: expected {line}, got {:?}\n{document}", diagnostic.line));
            continue;
        }
        assert!(diagnostic.message.contains(fragment), "{document}\n{diagnostic}");
        assert_eq!(diagnostic.file.as_ref(), "mesh.yaml");
        let names: Vec<&str> = inventory
            .mesh
            .istio
            .authorization_policies
            .iter()
            .map(|p| p.name.as_str())
            .chain(inventory.mesh.istio.peer_authentications.iter().map(|p| p.name.as_str()))
            .collect();
        assert!(names.contains(&"shoes-writer"), "the next document is still read: {document}");
        assert_eq!(names.contains(&"bad"), *severity == Severity::Warning, "{document}\n{diagnostic}");
    }
    assert!(wrong_lines.is_empty(), "{}", wrong_lines.join("\n\n"));
}

/// Linkerd and Consul: the document (whole), the field, its line, severity and a message fragment.
const OTHER_BAD_INPUTS: &[(&str, &str, u32, Severity, &str)] = &[
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s, namespace: a}\nspec:\n  podSelector: {}\n", "spec.port", 4, Severity::Error, "needs a port"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s, namespace: a}\nspec:\n  podSelector: {}\n  port: 70000\n", "spec.port", 6, Severity::Error, "outside 1-65535"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s, namespace: a}\nspec:\n  podSelector: {}\n  port: 80\n  proxyProtocol: http\n", "spec.proxyProtocol", 7, Severity::Error, "HTTP/1"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s, namespace: a}\nspec:\n  port: 80\n", "spec.podSelector", 4, Severity::Error, "needs a podSelector"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s, namespace: a}\nspec:\n  podSelector: {}\n  port: 80\n  accessPolicy: allow\n", "spec.accessPolicy", 7, Severity::Error, "not a policy"),
    ("apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: z, namespace: a}\nspec:\n  server: {name: s}\n  client: {unauthenticated: true, meshTLS: {identities: ['*']}}\n", "spec.client", 6, Severity::Error, "exactly one of meshTLS"),
    ("apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: z, namespace: a}\nspec:\n  server: {name: s, selector: {}}\n  client: {unauthenticated: true}\n", "spec.server", 5, Severity::Error, "exactly one of name and selector"),
    ("apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: z, namespace: a}\nspec:\n  server: {name: s}\n  client:\n    unauthenticated: true\n    networks: [{cidr: 10.0.0.0/40}]\n", "spec.client.networks[0].cidr", 8, Severity::Error, "not a CIDR"),
    ("apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: z, namespace: a}\nspec:\n  server: {name: s}\n  client:\n    meshTLS:\n      identities: ['web*.a']\n", "spec.client.meshTLS.identities[0]", 8, Severity::Error, "not an identity"),
    ("apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: z, namespace: a}\nspec:\n  server: {name: s}\n  client:\n    meshTLS:\n      identities: [webapp]\n", "spec.client.meshTLS.identities[0]", 8, Severity::Warning, "serviceaccount.identity.linkerd"),
    ("apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: z, namespace: a}\nspec:\n  server: {name: s}\n  client:\n    meshTLS: {unauthenticatedTLS: true, identities: ['*']}\n", "spec.client.meshTLS", 7, Severity::Error, "exactly one of unauthenticatedTLS"),
    ("apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: z, namespace: a}\nspec:\n  server: {name: missing}\n  client: {unauthenticated: true}\n", "spec.server.name", 5, Severity::Warning, "does not define"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  targetRef: {group: apps, kind: Deployment, name: web}\n  requiredAuthenticationRefs: []\n", "spec.targetRef.kind", 5, Severity::Error, "not a target Linkerd authorizes"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  targetRef: {kind: Namespace, name: b}\n  requiredAuthenticationRefs: []\n", "spec.targetRef.name", 5, Severity::Error, "policy's own namespace"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  targetRef: {group: policy.linkerd.io, kind: Server, name: nothing}\n  requiredAuthenticationRefs: []\n", "spec.targetRef.name", 5, Severity::Warning, "authorizes nothing"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  targetRef: {kind: Namespace, name: a}\n  requiredAuthenticationRefs:\n  - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: gone}\n", "spec.requiredAuthenticationRefs[0].name", 7, Severity::Warning, "authorizes nobody"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  targetRef: {kind: Namespace, name: a}\n  requiredAuthenticationRefs:\n  - {kind: ServiceAccount, name: x}\n  - {kind: ServiceAccount, name: w}\n", "spec.requiredAuthenticationRefs", 6, Severity::Error, "at most one"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  targetRef: {kind: Namespace, name: a}\n  requiredAuthenticationRefs:\n  - {kind: Secret, name: x}\n", "spec.requiredAuthenticationRefs[0].kind", 7, Severity::Error, "not an authentication"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  requiredAuthenticationRefs: []\n", "spec.targetRef", 4, Severity::Error, "needs a targetRef"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {name: m, namespace: a}\nspec:\n  identities: ['*']\n  identityRefs: [{kind: ServiceAccount, name: x}]\n", "spec", 4, Severity::Error, "exactly one of identities and identityRefs"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {name: m, namespace: a}\nspec:\n  identityRefs: [{kind: Pod, name: x}]\n", "spec.identityRefs[0]", 5, Severity::Error, "ServiceAccount or a Namespace"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {name: nets, namespace: a}\nspec:\n  networks: []\n", "spec.networks", 5, Severity::Error, "at least one network"),
    ("apiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {name: nets, namespace: a}\nspec:\n  networks:\n  - cidr: 10.0.0.0/8\n    except: [11.0.0.0/8]\n", "spec.networks[0].except[0]", 7, Severity::Error, "outside the network"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {name: r, namespace: a}\nspec:\n  parentRefs: [{group: policy.linkerd.io, kind: Server, name: s}]\n  rules:\n  - matches:\n    - path: {type: Exact, value: authors}\n", "spec.rules[0].matches[0].path.value", 8, Severity::Error, "must start with `/`"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {name: r, namespace: a}\nspec:\n  parentRefs: [{group: policy.linkerd.io, kind: Server, name: s}]\n  rules:\n  - matches:\n    - method: get\n", "spec.rules[0].matches[0].method", 8, Severity::Error, "not one of GET"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {name: r, namespace: a}\nspec:\n  parentRefs: [{group: policy.linkerd.io, kind: Server, name: s}]\n  rules:\n  - matches:\n    - path: {type: RegularExpression, value: '/a(b'}\n", "spec.rules[0].matches[0].path.value", 8, Severity::Warning, "ignores this route"),
    ("apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {name: r, namespace: a}\nspec:\n  parentRefs: [{group: policy.linkerd.io, kind: Server, name: s}]\n  rules:\n  - matches:\n    - path: {type: Glob, value: /a}\n", "spec.rules[0].matches[0].path.type", 8, Severity::Error, "not a path match type"),
    // Consul.
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - {name: web, action: permit}\n", "spec.sources[0].action", 7, Severity::Error, "use allow or deny"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - {name: web, action: allow, permissions: []}\n", "spec.sources[0]", 7, Severity::Error, "not both"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - {name: web}\n", "spec.sources[0].action", 7, Severity::Error, "needs an action"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {}\n", "spec.destination.name", 5, Severity::Error, "needs a service name"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - {name: web, action: allow}\n  - {name: web, action: deny}\n", "spec.sources[1].name", 8, Severity::Error, "listed twice"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - name: web\n    permissions:\n    - action: allow\n      http: {pathExact: /a, pathPrefix: /b}\n", "spec.sources[0].permissions[0].http", 10, Severity::Error, "at most one of pathExact"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - name: web\n    permissions:\n    - action: allow\n      http: {pathPrefix: v2}\n", "spec.sources[0].permissions[0].http.pathPrefix", 10, Severity::Error, "must begin with `/`"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - name: web\n    permissions:\n    - action: allow\n      http: {methods: [FETCH]}\n", "spec.sources[0].permissions[0].http.methods[0]", 10, Severity::Error, "not an HTTP method"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - name: web\n    permissions:\n    - action: allow\n      http:\n        header: [{name: x, exact: a, prefix: b}]\n", "spec.sources[0].permissions[0].http.header[0]", 11, Severity::Error, "exactly one of present"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - name: web\n    permissions:\n    - action: allow\n      http: {pathRegex: '/a(b'}\n", "spec.sources[0].permissions[0].http.pathRegex", 10, Severity::Warning, "never matches"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: i, namespace: a}\nspec:\n  destination: {name: api}\n  sources:\n  - name: web\n    permissions:\n    - http: {pathExact: /a}\n", "spec.sources[0].permissions[0].action", 9, Severity::Error, "needs an action"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceDefaults\nmetadata: {name: api, namespace: a}\nspec: {protocol: udp}\n", "spec.protocol", 4, Severity::Error, "not a protocol"),
    ("apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata: {name: mine, namespace: a}\nspec: {config: {protocol: http}}\n", "metadata.name", 1, Severity::Error, "named `global`"),
    // Settings and annotations the meshes read.
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: '{rootNamespace: ['\n", "data.mesh", 5, Severity::Warning, "cannot read the embedded configuration"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config, namespace: linkerd}\ndata:\n  values: 'proxy: {defaultInboundPolicy: allow-all}'\n", "data.values", 5, Severity::Warning, "not one of"),
    ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: a\n  annotations: {traffic.sidecar.istio.io/excludeInboundPorts: 'http'}\n", "metadata.annotations.traffic.sidecar.istio.io/excludeInboundPorts", 6, Severity::Warning, "not a port"),
    // A version the mesh does not serve.
    ("apiVersion: security.istio.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec: {}\n", "apiVersion", 1, Severity::Warning, "v1 and v1beta1"),
];

#[test]
fn every_linkerd_consul_and_settings_bad_input_names_its_field_and_line() {
    let mut wrong_lines = Vec::new();
    for (document, field, line, severity, fragment) in OTHER_BAD_INPUTS {
        let text = format!("{document}---\n{SHOES_WRITER}");
        let inventory = load(&text);
        let found = inventory.diagnostics.iter().find(|d| d.field.as_deref() == Some(*field));
        let Some(diagnostic) = found else {
            panic!("no diagnostic on `{field}` for:\n{document}\ngot: {:#?}", inventory.diagnostics)
        };
        assert_eq!(diagnostic.severity, *severity, "{document}\n{diagnostic}");
        if diagnostic.line != Some(*line) {
            wrong_lines.push(format!("{field}: expected {line}, got {:?}\n{document}", diagnostic.line));
            continue;
        }
        assert!(diagnostic.message.contains(fragment), "{document}\n{diagnostic}");
        assert_eq!(inventory.mesh.istio.authorization_policies.len(), 1, "the next document is still read: {document}");
        let kept = inventory.mesh.linkerd.servers.len()
            + inventory.mesh.linkerd.server_authorizations.len()
            + inventory.mesh.linkerd.authorization_policies.len()
            + inventory.mesh.linkerd.mesh_tls_authentications.len()
            + inventory.mesh.linkerd.network_authentications.len()
            + inventory.mesh.linkerd.http_routes.len()
            + inventory.mesh.consul.intentions.len()
            + inventory.mesh.consul.service_defaults.len()
            + usize::from(inventory.mesh.consul.proxy_defaults.is_some());
        let is_mesh_object = !document.contains("kind: ConfigMap")
            && !document.contains("kind: Pod")
            && !document.contains("v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: a}\nspec: {}");
        if is_mesh_object {
            assert_eq!(kept == 1, *severity == Severity::Warning, "{document}\n{diagnostic}");
        }
    }
    assert!(wrong_lines.is_empty(), "{}", wrong_lines.join("\n\n"));
}

#[test]
fn gateway_routes_of_other_gateways_are_skipped_not_errors() {
    let inventory = load(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: a}\nspec:\n  parentRefs: [{name: public-gateway}]\n",
    );
    assert!(inventory.mesh.linkerd.http_routes.is_empty());
    assert!(inventory.diagnostics.iter().all(|d| d.severity == Severity::Note), "{:?}", inventory.diagnostics);
}
