//! Writing the answer on stdout.

use anyhow::Result;
use std::io::Write;

/// Writes the rendered answer and flushes, so that a closed pipe is reported here (and exits cleanly).
pub fn write_out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Writes an answer as it is produced, through one buffer, and flushes, so that a closed pipe is reported here.
pub fn stream_out(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write(&mut stdout)?;
    stdout.flush()?;
    Ok(())
}

/// `--version` of the generator, for reports that name what made them.
pub fn generator() -> String {
    format!("netseg {}", env!("CARGO_PKG_VERSION"))
}
