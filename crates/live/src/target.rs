//! Which clusters to read and how to reach them, by kubectl's rules: `--kubeconfig`, else `KUBECONFIG` (several
//! files, merged), else `~/.kube/config`, else the in-cluster service account; `--context`, else the current one.

use crate::error::{failure, LiveError};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct TargetRequest {
    pub kubeconfig: Option<PathBuf>,
    /// Contexts to read; empty means the current context (or the in-cluster configuration).
    pub contexts: Vec<String>,
}

/// One cluster, resolved: its name, its server and a client configuration that verifies TLS.
#[derive(Clone)]
pub struct Target {
    pub context: String,
    pub server: String,
    config: kube::Config,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds credentials: never print it.
        f.debug_struct("Target").field("context", &self.context).field("server", &self.server).finish()
    }
}

/// The context name of the in-cluster configuration, which has none of its own.
pub const IN_CLUSTER: &str = "in-cluster";

impl TargetRequest {
    /// Resolves every requested context; the first that cannot be resolved is the error.
    pub fn resolve(&self) -> Result<Vec<Target>, LiveError> {
        crate::block_on(self.resolve_async())?
    }

    async fn resolve_async(&self) -> Result<Vec<Target>, LiveError> {
        let kubeconfig = match &self.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|error| LiveError::Kubeconfig {
                source_name: path.display().to_string(),
                message: error_chain(&error),
            })?),
            None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
                Some(list) => kubeconfig_list(&list)?,
                None => default_kubeconfig()?,
            },
        };
        let Some(kubeconfig) = kubeconfig else {
            if !self.contexts.is_empty() {
                return Err(LiveError::Kubeconfig {
                    source_name: "--context".into(),
                    message:
                        "no kubeconfig was found (--kubeconfig, KUBECONFIG, ~/.kube/config) to look contexts up in"
                            .into(),
                });
            }
            let config = kube::Config::incluster()
                .map_err(|error| LiveError::NoConfiguration { message: error_chain(&error) })?;
            return Ok(vec![Target::new(IN_CLUSTER.into(), config)?]);
        };
        let contexts = if self.contexts.is_empty() {
            let current =
                kubeconfig.current_context.clone().filter(|c| !c.is_empty()).ok_or_else(|| LiveError::Kubeconfig {
                    source_name: self.source_name(),
                    message: "no current-context is set; name one with --context".into(),
                })?;
            vec![current]
        } else {
            self.contexts.clone()
        };
        let mut targets = Vec::new();
        for context in contexts {
            if !kubeconfig.contexts.iter().any(|c| c.name == context) {
                let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(LiveError::Kubeconfig {
                    source_name: self.source_name(),
                    message: format!("no context `{context}` (contexts: {})", known.join(", ")),
                });
            }
            let options = KubeConfigOptions { context: Some(context.clone()), ..KubeConfigOptions::default() };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options).await.map_err(|error| {
                LiveError::Kubeconfig {
                    source_name: format!("{} (context {context})", self.source_name()),
                    message: error_chain(&error),
                }
            })?;
            targets.push(Target::new(context, config)?);
        }
        Ok(targets)
    }

    fn source_name(&self) -> String {
        match &self.kubeconfig {
            Some(path) => path.display().to_string(),
            None if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) => "KUBECONFIG".into(),
            None => "~/.kube/config".into(),
        }
    }
}

/// The files `KUBECONFIG` lists, merged in order (the first to set a value wins); files that do not exist are
/// skipped, as kubectl skips them.
fn kubeconfig_list(list: &std::ffi::OsStr) -> Result<Option<Kubeconfig>, LiveError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty() && p.exists()) {
        let config = Kubeconfig::read_from(&path).map_err(|error| LiveError::Kubeconfig {
            source_name: format!("{} (in KUBECONFIG)", path.display()),
            message: error_chain(&error),
        })?;
        merged = Some(match merged {
            None => config,
            Some(earlier) => earlier.merge(config).map_err(|error| LiveError::Kubeconfig {
                source_name: "KUBECONFIG".into(),
                message: error_chain(&error),
            })?,
        });
    }
    Ok(merged)
}

/// `~/.kube/config` when it exists; its absence is not an error (the in-cluster configuration comes next).
fn default_kubeconfig() -> Result<Option<Kubeconfig>, LiveError> {
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else { return Ok(None) };
    let path = PathBuf::from(home).join(".kube").join("config");
    if !path.exists() {
        return Ok(None);
    }
    Kubeconfig::read_from(&path).map(Some).map_err(|error| LiveError::Kubeconfig {
        source_name: path.display().to_string(),
        message: error_chain(&error),
    })
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

impl Target {
    fn new(context: String, config: kube::Config) -> Result<Target, LiveError> {
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        // netseg reports on a cluster's security: an answer read over a connection anyone could intercept
        // proves nothing, so a kubeconfig that turns verification off is refused, not obeyed.
        if config.accept_invalid_certs {
            return Err(LiveError::InsecureSkipTlsVerify { context, server });
        }
        Ok(Target { context, server, config })
    }

    pub(crate) fn client(&self) -> Result<kube::Client, LiveError> {
        kube::Client::try_from(self.config.clone()).map_err(|error| failure(self, "", None, error))
    }

    /// The error for a failed request to `path`.
    pub(crate) fn failure(&self, path: &str, error: kube::Error) -> LiveError {
        failure(self, path, None, error)
    }

    /// The error for a failed list of `what` at `path`.
    pub(crate) fn failure_for(&self, path: &str, what: &'static str, error: kube::Error) -> LiveError {
        failure(self, path, Some(what), error)
    }
}
