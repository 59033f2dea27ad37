//! Why a cluster could not be read, in the words a user acts on: which cluster, which server, what to check.

use crate::target::{error_chain, Target};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{source_name}: {message}")]
    Kubeconfig { source_name: String, message: String },
    #[error("no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a pod ({message})")]
    NoConfiguration { message: String },
    #[error(
        "context {context}: the kubeconfig sets insecure-skip-tls-verify for {server}; netseg does not read a \
         cluster over an unverified connection. Give the cluster's CA (certificate-authority-data or \
         certificate-authority) instead"
    )]
    InsecureSkipTlsVerify { context: String, server: String },
    #[error("context {context}: cannot reach the API server at {server}: {message}")]
    Unreachable { context: String, server: String, message: String },
    #[error(
        "context {context}: TLS failure talking to {server}: {message} (is the kubeconfig's certificate-authority \
         the one that signed the server's certificate?)"
    )]
    Tls { context: String, server: String, message: String },
    #[error(
        "context {context}: the API server at {server} rejected the credentials (401 Unauthorized: {message}); \
         the token or client certificate is expired or invalid: log in again or refresh the kubeconfig"
    )]
    Unauthorized { context: String, server: String, message: String },
    #[error(
        "context {context}: listing {what} is forbidden (403: {message}); netseg cannot analyse the cluster \
         soundly without them. Grant get/list on them (deploy/rbac.yaml has the ClusterRole)"
    )]
    Forbidden { context: String, what: String, message: String },
    #[error(
        "context {context}: GET {path}: 410 Gone ({message}): the list changed faster than netseg could page \
         through it and its continue token expired; run again"
    )]
    Expired { context: String, path: String, message: String },
    #[error("context {context}: GET {path} failed: {code} {message}")]
    Api { context: String, path: String, code: u16, message: String },
    #[error("context {context}: discovery: {message}")]
    Discovery { context: String, message: String },
    #[error("context {context}: cannot authenticate to {server}: {message}")]
    Credentials { context: String, server: String, message: String },
    #[error("-n {0}: not a namespace name (lowercase letters, digits and `-`, at most 63)")]
    InvalidNamespace(String),
    #[error("{0}")]
    Runtime(String),
}

/// Classifies a failed request by its cause: the HTTP status when the server answered, otherwise TLS versus an
/// unreachable server, found by walking the error's causes.
pub(crate) fn failure(target: &Target, path: &str, what: Option<&'static str>, error: kube::Error) -> LiveError {
    let context = target.context.clone();
    let server = target.server.clone();
    match error {
        kube::Error::Api(response) => match response.code {
            401 => LiveError::Unauthorized { context, server, message: response.message },
            403 => LiveError::Forbidden {
                context,
                what: what.map_or_else(|| path.to_string(), str::to_string),
                message: response.message,
            },
            410 => LiveError::Expired { context, path: path.to_string(), message: response.message },
            code => LiveError::Api { context, path: path.to_string(), code, message: response.message },
        },
        kube::Error::Auth(auth) => LiveError::Credentials { context, server, message: error_chain(&auth) },
        other => {
            let message = error_chain(&other);
            // rustls names certificate and handshake failures in these words, whichever layer wraps them.
            let tls_words = ["invalid peer certificate", "peer is incompatible", "received fatal alert"];
            if is_tls_failure(&other) || tls_words.iter().any(|w| message.contains(w)) {
                LiveError::Tls { context, server, message }
            } else {
                LiveError::Unreachable { context, server, message }
            }
        }
    }
}

fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(inner) = cause {
        if inner.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // An io::Error hides the error it wraps from `source()`: look inside it.
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|wrapped| wrapped.downcast_ref::<rustls::Error>().is_some()) {
                return true;
            }
        }
        cause = inner.source();
    }
    false
}
