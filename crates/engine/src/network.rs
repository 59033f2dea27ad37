//! The network a cluster's answers describe, decided once: which CNI runs (detected, or named with `--cni`),
//! whether it enforces the policies (or the user assumes it does), how it reads them, the caveats that follow,
//! and the two analyses every command asks: the policies as declared, and the network as it really is.
//!
//! Every command builds one [`Network`] and passes it down (audit, generate, proof, diff, blast radius), so that
//! "are the policies enforced" has one answer.

use crate::{Analysis, EngineOptions};
use netseg_model::cni::{CniVerdict, UnknownCni};
use netseg_model::{Cluster, PolicyEnforcement};
use std::sync::OnceLock;

/// What the user says about the network: `--cni NAME`, `--assume-enforced`, `--policy-enforcement` and the mesh
/// settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkChoice {
    /// The CNI, instead of detecting it from the cluster.
    pub cni: Option<String>,
    /// Analyse the policies as declared even where the CNI does not enforce them.
    pub assume_enforced: bool,
    /// Cilium's policy enforcement mode, instead of the `enable-policy` of the cilium-config ConfigMap.
    pub cilium_enforcement: Option<netseg_model::PolicyEnforcement>,
    /// Mesh settings given on the command line, over what the input's ConfigMaps say.
    pub mesh: MeshChoice,
}

/// What the user says about the meshes' settings: `--trust-domain` and `--consul-default-intention`. They change
/// the cluster's objects' meaning, so they are laid over the cluster before it is analysed ([`MeshChoice::apply`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshChoice {
    /// Istio's trust domain (the first segment of every principal), instead of the `istio` ConfigMap's.
    pub trust_domain: Option<String>,
    /// Consul's default intention, instead of the server config's ACL default policy.
    pub consul_default_intention: Option<netseg_model::mesh::consul::IntentionAction>,
}

impl MeshChoice {
    /// Lays the settings over the cluster's: a flag wins over the input's config, and says so where `can` and the
    /// audit cite the setting.
    pub fn apply(&self, cluster: &mut Cluster) {
        if let Some(domain) = &self.trust_domain {
            let config = &mut cluster.mesh.istio.config;
            config.trust_domain = domain.clone();
            config.location = None;
        }
        if let Some(action) = self.consul_default_intention {
            cluster.mesh.consul.config = netseg_model::mesh::consul::ConsulConfig {
                default_intention: action,
                location: None,
                source: format!("--consul-default-intention {}", action.as_str()),
            };
        }
    }
}

/// How the network treats policies, independent of which cluster is analysed with it (the generator analyses the
/// input with its policies added, under the same setup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSetup {
    pub cni: CniVerdict,
    /// Whether the policies take effect: the CNI enforces them, none was found (taken as enforced), or the user
    /// assumes they are.
    pub enforced: bool,
    /// The CNI's semantics with the policies enforced: what the declared analysis uses.
    pub engine: EngineOptions,
    /// Caveats for every answer, in words.
    pub notes: Vec<String>,
    /// Cilium's policy enforcement mode where Cilium enforces its policies (`None`: it does not, or is not the
    /// CNI), as configured or given: `never` here, while `engine.cilium` holds what the declared analysis uses.
    pub cilium_mode: Option<PolicyEnforcement>,
}

impl NetworkSetup {
    pub fn decide(cluster: &Cluster, choice: &NetworkChoice) -> Result<NetworkSetup, UnknownCni> {
        let cni = CniVerdict::decide(cluster, choice.cni.as_deref())?;
        let mut enforced = choice.assume_enforced || cni.enforces() != Some(false);
        let mut notes = Vec::new();
        let cilium = cilium_enforcement(cluster, choice, &cni, &mut notes);
        if cilium == Some(PolicyEnforcement::Never) {
            enforced = choice.assume_enforced;
        }
        match cni.enforces() {
            Some(false) if !choice.assume_enforced => notes.push(format!(
                "the CNI ({}) does not enforce NetworkPolicy: this describes the effective, allow-all network \
                 (--assume-enforced shows what the policies declare)",
                cni.names()
            )),
            Some(false) => notes.push(format!(
                "the CNI ({}) does not enforce NetworkPolicy; --assume-enforced shows what the policies declare, not \
                 what the network does",
                cni.names()
            )),
            None => {
                notes.push("no CNI in the input: the policies are taken as enforced (--cni NAME to say which)".into())
            }
            Some(true) => {}
        }
        notes.extend(cni.semantics_notes());
        let mut engine = EngineOptions::for_cni(&cni);
        // With enforcement `never`, the declared analysis still shows what the policies say, as Cilium's default
        // mode would enforce them.
        engine.cilium =
            cilium.map(|mode| if mode == PolicyEnforcement::Never { PolicyEnforcement::Default } else { mode });
        let calico_policies = cluster.calico.enforced().count();
        if cni.detected.is_empty() && calico_policies > 0 {
            // Calico's policies only exist where Calico runs.
            engine.calico = true;
            notes.push(
                "Calico policies in the input: evaluated as Calico enforces them (--cni NAME to say otherwise)".into(),
            );
        } else if calico_policies > 0 && !engine.calico {
            notes.push(format!(
                "the CNI ({}) does not enforce Calico's policies: {calico_policies} Calico policies are left out (--cni calico \
                 to evaluate them)",
                cni.names()
            ));
        }
        let staged = cluster.calico.policies.len() - calico_policies + cluster.calico.staged_kubernetes.len();
        if engine.calico && staged > 0 {
            notes.push(format!("{staged} staged Calico policies are previews, never enforced: left out"));
        }
        Ok(NetworkSetup { cni, enforced, engine, notes, cilium_mode: cilium })
    }

    /// The same CNI with its policies taken as enforced, whatever it does: what the generator proves its
    /// policies under.
    pub fn assuming_enforced(&self) -> NetworkSetup {
        NetworkSetup { enforced: true, ..self.clone() }
    }

    /// The options of the effective analysis: the CNI's semantics, the policies enforced or not.
    pub fn effective_engine(&self) -> EngineOptions {
        EngineOptions { policies_enforced: self.enforced, ..self.engine.clone() }
    }
}

/// Whether Cilium enforces its own policies here, and in which mode: where Cilium is the CNI (detected or named),
/// or where no CNI is in the input and Cilium policies are (taken as enforced, as NetworkPolicies are). Elsewhere
/// Cilium's policies are inert, and a note says so.
fn cilium_enforcement(
    cluster: &Cluster,
    choice: &NetworkChoice,
    cni: &CniVerdict,
    notes: &mut Vec<String>,
) -> Option<PolicyEnforcement> {
    let has_policies = !cluster.cilium_policies.is_empty();
    let runs = cni.runs("cilium") || (cni.detected.is_empty() && has_policies);
    if !runs {
        if has_policies {
            notes.push(format!(
                "the CNI ({}) does not enforce CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy: the {} Cilium \
                 policies in the input change nothing",
                cni.names(),
                cluster.cilium_policies.len()
            ));
        }
        return None;
    }
    let configured = cluster.cilium_config.as_ref().and_then(|config| config.enforcement);
    let (mode, source) = match (choice.cilium_enforcement, configured) {
        (Some(mode), _) => (mode, "--policy-enforcement"),
        (None, Some(mode)) => (mode, "the cilium-config ConfigMap"),
        (None, None) => (PolicyEnforcement::Default, ""),
    };
    match mode {
        PolicyEnforcement::Never => notes.push(format!(
            "Cilium's policy enforcement mode is `never` ({source}): no policy of any kind is enforced{}",
            if choice.assume_enforced { "; --assume-enforced shows what the policies declare" } else { "" }
        )),
        PolicyEnforcement::Always => notes.push(format!(
            "Cilium's policy enforcement mode is `always` ({source}): every pod is default-deny in both \
             directions, whether a policy selects it or not"
        )),
        PolicyEnforcement::Default => {}
    }
    Some(mode)
}

/// A cluster under a [`NetworkSetup`], with its analyses, each built on first use: `can` and `reach` ask only for
/// the effective one, and where the policies are enforced the declared one is the same analysis.
pub struct Network<'c> {
    pub cluster: &'c Cluster,
    pub setup: NetworkSetup,
    effective: OnceLock<Analysis<'c>>,
    declared: OnceLock<Analysis<'c>>,
}

impl<'c> Network<'c> {
    /// Decides the setup from the cluster and the user's choice, and analyses the cluster under it.
    pub fn new(cluster: &'c Cluster, choice: &NetworkChoice) -> Result<Network<'c>, UnknownCni> {
        Ok(Network::with_setup(cluster, NetworkSetup::decide(cluster, choice)?))
    }

    pub fn with_setup(cluster: &'c Cluster, setup: NetworkSetup) -> Network<'c> {
        Network { cluster, setup, effective: OnceLock::new(), declared: OnceLock::new() }
    }

    /// What the network really does: the policies as declared where they are enforced, else the allow-all
    /// network.
    pub fn effective(&self) -> &Analysis<'c> {
        self.effective.get_or_init(|| Analysis::with_options(self.cluster, &self.setup.effective_engine()))
    }

    /// The policies as written, whether or not anything enforces them.
    pub fn declared(&self) -> &Analysis<'c> {
        if self.setup.enforced {
            self.effective()
        } else {
            self.declared.get_or_init(|| Analysis::with_options(self.cluster, &self.setup.engine))
        }
    }

    pub fn cni(&self) -> &CniVerdict {
        &self.setup.cni
    }

    pub fn enforced(&self) -> bool {
        self.setup.enforced
    }

    pub fn notes(&self) -> &[String] {
        &self.setup.notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Endpoint;
    use netseg_model::load::{load_bytes, Inventory};
    use std::sync::Arc;

    fn cluster(text: &str) -> Cluster {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        Cluster::from_inventory(inventory)
    }

    #[test]
    fn the_mesh_flags_win_over_the_inputs_config_and_say_so() {
        let mut c = cluster(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata: {mesh: \"trustDomain: corp.example\"}\n",
        );
        assert_eq!(c.mesh.istio.config.trust_domain, "corp.example");
        MeshChoice::default().apply(&mut c);
        assert_eq!(c.mesh.istio.config.trust_domain, "corp.example", "no flag, no change");
        let choice = MeshChoice {
            trust_domain: Some("example.org".into()),
            consul_default_intention: Some(netseg_model::mesh::consul::IntentionAction::Deny),
        };
        choice.apply(&mut c);
        assert_eq!(c.mesh.istio.config.trust_domain, "example.org");
        assert_eq!(c.mesh.istio.config.location, None);
        assert_eq!(c.mesh.consul.config.default_intention, netseg_model::mesh::consul::IntentionAction::Deny);
        assert_eq!(c.mesh.consul.config.source, "--consul-default-intention deny");
    }

    const FLANNEL: &str = "kind: DaemonSet\nmetadata: {name: kube-flannel-ds, namespace: kube-system}\n\
        spec: {template: {spec: {containers: [{name: f, image: \"docker.io/flannel/flannel:v0.25.6\"}]}}}\n---\n";
    const DENY: &str = "kind: Pod\nmetadata: {name: web, namespace: a}\n---\n\
        kind: Pod\nmetadata: {name: client, namespace: a}\n---\n\
        apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: a}\n\
        spec: {podSelector: {}}\n";

    fn pod(c: &Cluster, name: &str) -> Endpoint {
        let workload = c.workloads.iter().position(|w| w.id.name == name).expect("fixture pod");
        Endpoint::Pod { workload, pod: 0 }
    }

    #[test]
    fn a_cni_that_enforces_nothing_leaves_the_declared_policies_out_of_the_effective_network() {
        let c = cluster(&format!("{FLANNEL}{DENY}"));
        let network = Network::new(&c, &NetworkChoice::default()).expect("detected");
        assert!(!network.enforced());
        assert!(network.effective().allowed(pod(&c, "client"), pod(&c, "web")).is_all());
        assert!(network.declared().allowed(pod(&c, "client"), pod(&c, "web")).is_empty());
        assert!(network.notes()[0].contains("does not enforce NetworkPolicy: this describes the effective"));

        let assumed = NetworkChoice { assume_enforced: true, ..NetworkChoice::default() };
        let network = Network::new(&c, &assumed).expect("detected");
        assert!(network.enforced() && network.effective().allowed(pod(&c, "client"), pod(&c, "web")).is_empty());
        assert!(std::ptr::eq(network.effective(), network.declared()), "one analysis when they agree");
    }

    #[test]
    fn no_cni_in_the_input_takes_the_policies_as_enforced_with_a_note() {
        let c = cluster(DENY);
        let network = Network::new(&c, &NetworkChoice::default()).expect("no CNI is no error");
        assert!(network.enforced() && network.notes()[0].starts_with("no CNI in the input"));
        assert!(network.effective().allowed(pod(&c, "client"), pod(&c, "web")).is_empty());
    }

    #[test]
    fn cilium_named_by_the_user_changes_the_semantics_and_says_so() {
        let c = cluster(DENY);
        let choice = NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() };
        let network = Network::new(&c, &choice).expect("cilium is known");
        assert!(!network.setup.engine.ip_blocks_match_pods && network.enforced());
        assert_eq!(
            network.notes(),
            ["Cilium: ipBlocks do not match in-cluster pods, only addresses outside the cluster"]
        );
        let unknown = NetworkChoice { cni: Some("nope".into()), ..NetworkChoice::default() };
        assert!(Network::new(&c, &unknown).is_err());
    }

    #[test]
    fn assuming_enforced_keeps_the_cni_and_enforces() {
        let c = cluster(&format!("{FLANNEL}{DENY}"));
        let setup = NetworkSetup::decide(&c, &NetworkChoice::default()).expect("detected");
        let proof = setup.assuming_enforced();
        assert!(proof.enforced && proof.cni == setup.cni && proof.effective_engine().policies_enforced);
        assert!(!setup.effective_engine().policies_enforced);
    }
}
