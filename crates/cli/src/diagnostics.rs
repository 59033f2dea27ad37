//! The loader's diagnostics on stderr.

use netseg_model::{Diagnostic, Severity};
use std::io::Write;

/// Prints diagnostics on stderr: notes only with `-v`, errors and warnings unless `skip_problems` (the audit turns
/// those into NS144 findings). Returns whether any object was left out.
pub fn report(diagnostics: &[Diagnostic], verbose: bool, skip_problems: bool) -> bool {
    let mut stderr = std::io::stderr().lock();
    for diagnostic in diagnostics {
        let shown = match diagnostic.severity {
            Severity::Note => verbose,
            _ => !skip_problems,
        };
        if shown {
            let _ = writeln!(stderr, "{diagnostic}");
        }
    }
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}
