//! `netseg generate`: the NetworkPolicies that close the gaps, proven by analysing the input with them again. YAML
//! on stdout (or `--out DIR`), the proof on stderr.

use crate::args::GenerateArgs;
use crate::diagnostics;
use crate::exit;
use crate::input::{self, load_one};
use crate::output::write_out;
use crate::settings::Settings;
use anyhow::{anyhow, Context, Result};
use netseg_engine::Network;
use netseg_fix::manifest::to_yaml_stream;
use netseg_fix::{DnsTarget, GenerateOptions};

const GENERATED_HEADER: &str =
    "NetworkPolicies written by `netseg generate`: default-deny, DNS and the flows the workloads need.\n\
Each policy's netseg.io/reasons annotation says why each of its rules exists.";

pub fn run(settings: &Settings, args: &GenerateArgs) -> Result<u8> {
    let options = super::audit_options(&args.facts)?;
    let dns = args.dns.as_deref().map(str::parse::<DnsTarget>).transpose().map_err(|e| anyhow!("--dns {e}"))?;
    let config = input::config(None)?;
    let loaded = super::with_mesh_settings(load_one(settings, &args.input, "generate")?, &args.network);
    let cluster = &loaded.cluster;
    let mut had_errors = diagnostics::report(&loaded.diagnostics, settings.verbose, false);
    let network = Network::new(cluster, &super::network_choice(&args.network))?;
    let (flows, flow_errors) = super::read_flows(cluster, &args.flows, &args.input.paths)?;
    had_errors |= flow_errors;
    let generate_options = GenerateOptions {
        dns,
        ingress_namespaces: args.ingress_namespace.clone(),
        cluster_domain: args.cluster_domain.trim_matches('.').to_string(),
        flows,
        api_server: options.api_server.clone(),
    };
    let plan = netseg_fix::plan(&network, &generate_options).map_err(|e| anyhow!(e))?;
    let yaml = to_yaml_stream(&plan.policies, GENERATED_HEADER);
    let proof =
        netseg_fix::prove(&network, &loaded.diagnostics, &plan, &yaml, &config, &options).map_err(|e| anyhow!(e))?;
    eprint!("{}", netseg_render::generate::summary(cluster, &plan, &proof, args.allow_cuts, settings.stderr));
    if !proof.holds() && !args.allow_cuts {
        return Ok(exit::ERROR);
    }
    match &args.out {
        None => write_out(&yaml)?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
            let mut namespaces: Vec<&str> = plan.policies.iter().map(|p| p.namespace.as_str()).collect();
            namespaces.dedup();
            for namespace in namespaces {
                let policies: Vec<_> = plan.policies.iter().filter(|p| p.namespace == namespace).cloned().collect();
                let path = dir.join(format!("{namespace}.yaml"));
                std::fs::write(&path, to_yaml_stream(&policies, GENERATED_HEADER))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(exit::unless_input_errors(had_errors, exit::PASS))
}
