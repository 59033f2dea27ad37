//! The loader's diagnostics on stderr.

use netseg_model::{Diagnostic, Severity};
use std::io::Write;

/// Prints diagnostics on stderr: notes only with `-v`, errors and warnings unless `skip_problems` (the audit turns
/// those into NS144 findings). Returns whether any object was left out.
pub fn report(diagnostics: &[Diagnostic], verbose: bool, skip_problems: bool) -> bool {
    report_unless(diagnostics, verbose, |_| skip_problems)
}

/// [`report`], leaving out the errors and warnings that `skipped` says are shown elsewhere (the audit's findings).
pub fn report_unless(diagnostics: &[Diagnostic], verbose: bool, skipped: impl Fn(&Diagnostic) -> bool) -> bool {
    let mut stderr = std::io::stderr().lock();
    for diagnostic in diagnostics {
        let shown = match diagnostic.severity {
            Severity::Note => verbose,
            _ => !skipped(diagnostic),
        };
        if shown {
            let _ = writeln!(stderr, "{diagnostic}");
        }
    }
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

/// Whether the input as a whole had an error (a path that cannot be read, an input with no object, a source to
/// render first): every command, `audit` included, then exits 2.
pub fn input_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error && d.code.about_input())
}
