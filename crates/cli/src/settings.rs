//! What every command shares, resolved once from the global flags and the environment: colour, verbosity, the
//! default namespace, the input limits and the answer-size limit.

use crate::args::{Cli, ColorChoice};
use anyhow::{Context, Result};
use netseg_engine::answer_limit;
use netseg_render::Style;
use std::io::IsTerminal;

pub struct Settings {
    /// `-v`: notes too (skipped documents, what a live read did).
    pub verbose: bool,
    /// `-n`: the namespace of objects that name none, and with `--cluster` the only one read.
    pub namespace: Option<String>,
    pub limits: netseg_model::Limits,
    /// How the answer on stdout is drawn.
    pub stdout: Style,
    /// How what goes to stderr is drawn (the generator's proof).
    pub stderr: Style,
    /// Whether to show a live read's progress (stderr is a terminal).
    pub progress: bool,
}

impl Settings {
    pub fn resolve(cli: &Cli) -> Settings {
        Settings {
            verbose: cli.verbose,
            namespace: cli.namespace.clone(),
            limits: netseg_model::Limits {
                parse: netseg_model::ParseLimits {
                    max_depth: cli.limits.max_depth,
                    alias_expansion: cli.limits.max_alias_expansion,
                    ..netseg_model::ParseLimits::default()
                },
                max_input_bytes: cli.limits.max_input_bytes,
                max_diagnostics: cli.limits.max_diagnostics,
                ..netseg_model::Limits::default()
            },
            stdout: Style { color: color(cli.color, std::io::stdout().is_terminal()) },
            stderr: Style { color: color(cli.color, std::io::stderr().is_terminal()) },
            progress: std::io::stderr().is_terminal(),
        }
    }

    /// Refuses to list more allowed pairs one by one than fit in memory (`NETSEG_MAX_PAIRS` raises the limit). The
    /// environment is read here, when pairs are about to be listed, so that a bad value fails only the commands
    /// it concerns.
    pub fn refuse_listing(&self, pairs: u64) -> Result<()> {
        let limit = match std::env::var("NETSEG_MAX_PAIRS") {
            Ok(text) => text.parse().with_context(|| format!("NETSEG_MAX_PAIRS={text} is not a number"))?,
            Err(_) => answer_limit::DEFAULT_MAX_PAIRS,
        };
        Ok(answer_limit::refuse_listing(pairs, limit)?)
    }
}

/// `--color auto` colours a terminal unless NO_COLOR is set (https://no-color.org).
fn color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}
