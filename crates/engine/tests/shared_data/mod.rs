//! Where the third-party test data is: the folder named by `NETSEG_SHARED_DIR`, holding `corpus/` and
//! `realworld/`, else a folder `shared` beside the checkout. It is read in place, never copied. The CLI tests find
//! it the same way (`crates/cli/tests/cli/main.rs`).

use std::path::{Path, PathBuf};

/// `relative` under the shared folder when `marker` (a file in it) is there; otherwise a note and `None`, or a
/// failure when `NETSEG_REQUIRE_CORPUS=1` (CI) requires the data.
pub fn shared_set(relative: &str, marker: &str) -> Option<PathBuf> {
    let shared = match std::env::var_os("NETSEG_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = shared.join(relative);
    let dir = dir.canonicalize().unwrap_or(dir);
    if dir.join(marker).is_file() {
        return Some(dir);
    }
    let missing =
        format!("{} not found (NETSEG_SHARED_DIR names the folder holding corpus/ and realworld/)", dir.display());
    assert!(
        std::env::var("NETSEG_REQUIRE_CORPUS").map_or(true, |v| v != "1"),
        "{missing}, and NETSEG_REQUIRE_CORPUS=1 requires it"
    );
    println!("{missing}: skipped");
    None
}
