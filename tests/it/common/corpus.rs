//! Where the golden conformance corpus is, shared by every test that reads
//! it: `EKVPLAN_CONFORMANCE`, else `../shared/conformance` beside the repo.

use std::path::{Path, PathBuf};

/// The corpus root, or `None` after saying plainly (past libtest's output
/// capture) that `test` is skipped.
pub fn root(test: &str) -> Option<PathBuf> {
    let p = match std::env::var_os("EKVPLAN_CONFORMANCE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    };
    if p.join("corpus.json").is_file() {
        return Some(p);
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "{test}: SKIPPED: no conformance corpus at {} (set EKVPLAN_CONFORMANCE to its path)",
        p.display()
    );
    None
}
