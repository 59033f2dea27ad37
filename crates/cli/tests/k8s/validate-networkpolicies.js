// Validates every document of a YAML stream on stdin against the Kubernetes OpenAPI schema of its kind, with the
// `kubernetes-models` package (schemas generated from the API server's OpenAPI). `.ci/run` installs it; the test
// names its directory in NETSEG_K8S_MODELS. Prints one line per invalid document and exits 1 if there is one.
const path = require("path");
const root = process.env.NETSEG_K8S_MODELS;
const yaml = require(path.join(root, "node_modules/js-yaml"));
const { NetworkPolicy } = require(path.join(root, "node_modules/kubernetes-models/networking.k8s.io/v1"));

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  let invalid = 0;
  let checked = 0;
  for (const doc of yaml.loadAll(input)) {
    if (doc === null || doc === undefined) continue;
    if (doc.kind !== "NetworkPolicy" || doc.apiVersion !== "networking.k8s.io/v1") {
      console.log(`not a networking.k8s.io/v1 NetworkPolicy: ${doc.apiVersion}/${doc.kind}`);
      invalid++;
      continue;
    }
    try {
      new NetworkPolicy(doc).validate();
      checked++;
    } catch (error) {
      console.log(`${doc.metadata && doc.metadata.namespace}/${doc.metadata && doc.metadata.name}: ${error.message}`);
      invalid++;
    }
  }
  console.log(`checked ${checked}, invalid ${invalid}`);
  process.exit(invalid > 0 ? 1 : 0);
});
