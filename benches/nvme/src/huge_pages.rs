//! 2 MiB huge pages against 4 KiB pages for drydock's DMA memory, in one run.
//!
//! drydock's DMA pool backs its 2 MiB chunks (the driver's queues and data buffers) with huge
//! pages from the machine's reserve, or with 4 KiB pages, as [`PAGES_ENV`] says when a chunk is
//! mapped. [`Reservation::make`] reserves huge pages for the run; each drydock session then opens
//! with the policy of its variant ([`select`]): [`PagePolicy::Huge`], which fails rather than
//! fall back, or [`PagePolicy::Base`]. [`PageUse`] records the huge pages in use while each
//! session's chunks are mapped, which shows that the run used the pages its rows name.

use std::path::Path;

use drydock_host::dma::huge::{HugePages, PagePolicy, PAGES_ENV};

/// The reserve's size in the kernel (`vm.nr_hugepages`).
const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

/// The machine's reserve of 2 MiB huge pages, raised for the run if it was smaller. Dropping it
/// puts the reserve back as it was.
pub struct Reservation {
    /// The reserve's size before, if this changed it.
    previous: Option<u64>,
    /// Whether huge pages are free for the run.
    pub available: bool,
    /// What was done, in a sentence for the results.
    pub summary: String,
}

impl Reservation {
    /// Raises the reserve to `pages` if it is smaller; says what it got, and never fails (without
    /// huge pages, the run has no 2 MiB rows).
    pub fn make(pages: u64) -> Self {
        let before = HugePages::read(Path::new("/"));
        let mut previous = None;
        let mut written = String::new();
        if before.total < pages {
            match std::fs::write(NR_HUGEPAGES, pages.to_string()) {
                Ok(()) => {
                    previous = Some(before.total);
                    written = format!("nvme-bench raised {NR_HUGEPAGES} from {}; ", before.total);
                }
                Err(e) => written = format!("writing {pages} to {NR_HUGEPAGES} failed ({e}); "),
            }
        }
        let after = HugePages::read(Path::new("/"));
        Self {
            previous,
            available: after.free > 0,
            summary: format!(
                "{written}2 MiB huge pages: {} reserved, {} free",
                after.total, after.free
            ),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(previous) = self.previous {
            if let Err(e) = std::fs::write(NR_HUGEPAGES, previous.to_string()) {
                eprintln!("nvme-bench: putting {NR_HUGEPAGES} back to {previous}: {e}");
            }
        }
    }
}

/// Makes the drydock sessions opened from now on back their DMA chunks as `policy` says.
///
/// The pool reads [`PAGES_ENV`] when it maps a chunk; the benchmark opens a session (and its
/// pool) after this, between runs, when only the main thread runs.
pub fn select(policy: PagePolicy) {
    let value = match policy {
        PagePolicy::Auto => "auto",
        PagePolicy::Huge => "huge",
        PagePolicy::Base => "base",
    };
    std::env::set_var(PAGES_ENV, value);
}

/// The largest number of huge pages seen in use while sessions of each policy had their chunks
/// mapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageUse {
    /// Under [`PagePolicy::Huge`] or [`PagePolicy::Auto`].
    pub huge: u64,
    /// Under [`PagePolicy::Base`].
    pub base: u64,
}

impl PageUse {
    /// Records the huge pages in use now, in a session of `policy`.
    pub fn sample(&mut self, policy: PagePolicy) {
        let pages = HugePages::read(Path::new("/"));
        self.record(policy, pages.total.saturating_sub(pages.free));
    }

    /// Records `in_use` huge pages in a session of `policy`.
    pub fn record(&mut self, policy: PagePolicy, in_use: u64) {
        let max = match policy {
            PagePolicy::Base => &mut self.base,
            PagePolicy::Huge | PagePolicy::Auto => &mut self.huge,
        };
        *max = (*max).max(in_use);
    }

    /// What the samples show, in a sentence for the results.
    pub fn summary(&self) -> String {
        format!(
            "Huge pages in use during the drydock runs: up to {} in the sessions with 2 MiB \
             pages, up to {} in those with 4 KiB pages",
            self.huge, self.base
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_use_keeps_each_policys_largest_sample() {
        let mut seen = PageUse::default();
        seen.record(PagePolicy::Huge, 3);
        seen.record(PagePolicy::Huge, 2);
        seen.record(PagePolicy::Base, 0);
        seen.record(PagePolicy::Auto, 4);
        assert_eq!(seen, PageUse { huge: 4, base: 0 });
        assert!(seen
            .summary()
            .contains("up to 4 in the sessions with 2 MiB pages, up to 0"));
    }
}
