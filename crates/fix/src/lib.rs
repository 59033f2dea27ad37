//! netseg's fixer and differ, clients of the engine and the audit: `generate` writes the NetworkPolicies that
//! close the audit's gaps and proves them by analysing the input with them again; `diff` says what a change of
//! the manifests opens and closes.

pub mod dialect;
pub mod diff;
pub mod flows;
pub mod generate;
pub mod manifest;
pub mod mesh_policy;
pub mod needs;
pub mod proof;
pub mod references;

pub use dialect::Dialect;
pub use generate::{plan, DnsTarget, GenerateOptions, Plan};
pub use manifest::{GeneratedPolicy, GeneratedRule};
pub use proof::{prove, Proof};
