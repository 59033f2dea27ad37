//! `netseg man`: the manual page netseg(1), generated from the one clap definition of every flag.

use crate::args::{Cli, ManArgs};
use crate::exit;
use crate::output::write_out;
use anyhow::{Context, Result};
use clap::CommandFactory;

pub fn run(args: &ManArgs) -> Result<u8> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    match &args.out {
        None => write_out(&page(command)?)?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
            let commands = command.get_subcommands().filter(|c| !c.is_hide_set()).cloned().collect::<Vec<_>>();
            for command in std::iter::once(command).chain(commands) {
                let path = dir.join(clap_mangen::Man::new(command.clone()).get_filename());
                std::fs::write(&path, page(command)?).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(exit::PASS)
}

/// One page in roff, in ASCII: other characters (the help's arrows and dashes) as groff's `\[uXXXX]` escapes, which
/// every groff renders without a preprocessor.
fn page(command: clap::Command) -> Result<String> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(command).render(&mut roff)?;
    let mut ascii = String::with_capacity(roff.len());
    for c in String::from_utf8_lossy(&roff).chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            ascii.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    Ok(ascii)
}
