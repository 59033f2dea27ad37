//! Exit statuses, the same for every command: 0 when the answer passes, 1 when it is what the command gates on
//! (a finding at or above `--fail-on`, a denied `can`, a connection that `diff` sees open), 2 for input or usage
//! errors. A closed pipe on stdout is a clean exit.

/// The answer passes.
pub const PASS: u8 = 0;
/// The answer is what the command gates on.
pub const GATE: u8 = 1;
/// Input or usage error.
pub const ERROR: u8 = 2;

/// `status`, unless the input had errors (objects left out), which makes it [`ERROR`].
pub fn unless_input_errors(had_errors: bool, status: u8) -> u8 {
    if had_errors {
        ERROR
    } else {
        status
    }
}

/// Whether the error is stdout closed under us (`netseg reach | head`): not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
