//! SPDK's `spdk_nvme_perf`, the peer of `nvme-bench`'s `spdk` variant: built by
//! `benches/nvme/spdk/build` (a static program, cached in `<cache>/spdk`) only when a benchmark
//! asks for that variant, never by the tests.

use std::path::PathBuf;

use crate::cache::Cache;
use crate::{process, Result};

/// The build command, relative to the workspace root.
pub const COMMAND: &str = "benches/nvme/spdk/build";

/// Whether the `nvme-bench` arguments `args` ask for the `spdk` variant (`--variants` naming it)
/// without naming the program (`--spdk`).
pub fn wanted(args: &[String]) -> bool {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    value("--variants").is_some_and(|v| v.split(',').any(|v| v == "spdk"))
        && !args.iter().any(|a| a == "--spdk")
}

/// Builds `spdk_nvme_perf` with the cache `cache`, or finds it built; returns its path.
pub fn build(cache: &Cache) -> Result<PathBuf> {
    let stdout = process::build_script(COMMAND, cache, &[])?;
    process::last_line(COMMAND, &stdout).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spdk_variant_asks_for_the_program() {
        let args = |line: &str| -> Vec<String> { line.split(' ').map(String::from).collect() };
        assert!(wanted(&args("--variants polled,spdk,kernel --seconds 3")));
        assert!(wanted(&args("--variants spdk")));
        assert!(!wanted(&args("--variants polled,kernel")));
        assert!(!wanted(&args("--only spdk")));
        assert!(!wanted(&args("--variants spdk --spdk /host/perf")));
        assert!(!wanted(&[]));
    }
}
