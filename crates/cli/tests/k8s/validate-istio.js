// Validates the Istio AuthorizationPolicies of a YAML stream on stdin against Istio's CRD schema, with the
// `@kubernetes-models/istio` package (generated from Istio's CRDs). `.ci/run` installs it next to
// `kubernetes-models`; the test names that directory in NETSEG_K8S_MODELS. Other kinds are skipped. Prints one
// line per invalid document and exits 1 if there is one.
const path = require("path");
const root = process.env.NETSEG_K8S_MODELS;
const yaml = require(path.join(root, "node_modules/js-yaml"));
const v1 = require(path.join(root, "node_modules/@kubernetes-models/istio/security.istio.io/v1"));

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  let invalid = 0;
  let checked = 0;
  for (const doc of yaml.loadAll(input)) {
    if (doc === null || doc === undefined || doc.kind !== "AuthorizationPolicy") continue;
    if (doc.apiVersion !== "security.istio.io/v1") {
      console.log(`not a security.istio.io/v1 AuthorizationPolicy: ${doc.apiVersion}`);
      invalid++;
      continue;
    }
    try {
      new v1.AuthorizationPolicy(doc).validate();
      checked++;
    } catch (error) {
      console.log(`${doc.metadata && doc.metadata.namespace}/${doc.metadata && doc.metadata.name}: ${error.message}`);
      invalid++;
    }
  }
  console.log(`checked ${checked}, invalid ${invalid}`);
  process.exit(invalid > 0 ? 1 : 0);
});
