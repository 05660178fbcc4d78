//! Which pages back DMA memory: 2 MiB huge pages when the machine has them reserved, else 4 KiB.
//!
//! An IOMMU maps a 2 MiB huge page at a 2 MiB-aligned IOVA with one entry, so a pool chunk
//! ([`super::pool::CHUNK_SIZE`]) in a huge page is one mapping and one IOTLB entry, where the
//! same chunk in 4 KiB pages takes 512 entries, and a driver whose buffers span more than the
//! IOTLB covers pays for misses. Huge pages come only from the pool the administrator reserves
//! (`/proc/sys/vm/nr_hugepages`, or `hugepages=N` on the kernel command line).
//!
//! [`PAGES_ENV`] chooses ([`PagePolicy`]): `auto`, the default, takes a huge page while one is
//! free and 4 KiB pages otherwise, saying once per process that it falls back and why; `huge`
//! requires huge pages (a chunk fails, saying how to reserve some); `base` never takes them
//! (to compare the two, as the NVMe benchmark can).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::memory::PageMemory;
use crate::error::HostError;
use crate::sysfs::read_optional;

/// The environment variable that chooses the pages of DMA chunks: `auto`, `huge` or `base`.
pub const PAGES_ENV: &str = "DRYDOCK_DMA_PAGES";

/// Where the kernel counts 2 MiB huge pages, under the system's root.
const COUNTERS: &str = "sys/kernel/mm/hugepages/hugepages-2048kB";

/// How DMA chunks are backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePolicy {
    /// A huge page while one is free, else 4 KiB pages.
    Auto,
    /// Huge pages only.
    Huge,
    /// 4 KiB pages only.
    Base,
}

impl PagePolicy {
    /// Parses `auto`, `huge` or `base`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "auto" | "" => Some(Self::Auto),
            "huge" => Some(Self::Huge),
            "base" => Some(Self::Base),
            _ => None,
        }
    }

    /// The policy [`PAGES_ENV`] asks for, [`PagePolicy::Auto`] if unset; a value that names
    /// none is an error rather than silently ignored.
    pub fn from_env() -> Result<Self, HostError> {
        match std::env::var(PAGES_ENV) {
            Ok(text) => Self::parse(&text).ok_or(HostError::BadDmaPages { text }),
            Err(_) => Ok(Self::Auto),
        }
    }
}

/// The machine's 2 MiB huge pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HugePages {
    /// Reserved (`nr_hugepages`).
    pub total: u64,
    /// Reserved and not in use (`free_hugepages`).
    pub free: u64,
}

impl HugePages {
    /// Reads the counters of the system rooted at `root` (`/` for the running one); absent
    /// counters (a kernel without hugetlbfs) read as none.
    pub fn read(root: &Path) -> Self {
        let dir = root.join(COUNTERS);
        let number = |name: &str| {
            read_optional(&dir.join(name))
                .ok()
                .flatten()
                .and_then(|text| text.parse().ok())
                .unwrap_or(0)
        };
        Self {
            total: number("nr_hugepages"),
            free: number("free_hugepages"),
        }
    }
}

/// Whether the fallback to 4 KiB pages was logged in this process.
static FELL_BACK: AtomicBool = AtomicBool::new(false);

/// Logs, the first time in the process, that DMA chunks come in 4 KiB pages and `why`.
fn note_fallback(why: &str) {
    if !FELL_BACK.swap(true, Ordering::Relaxed) {
        log::info!(
            target: "drydock",
            "DMA memory in 4 KiB pages, not 2 MiB huge pages: {why}; each 2 MiB chunk then takes \
             512 IOMMU entries rather than one (reserve huge pages with `echo 64 > \
             /proc/sys/vm/nr_hugepages` as root; {PAGES_ENV}=base asks for 4 KiB pages without \
             this note)"
        );
    }
}

/// Maps `len` bytes of DMA memory (a multiple of 2 MiB) as [`PAGES_ENV`] and the machine's
/// reserve decide; see the module documentation. With `lock`, the pages are locked.
pub fn chunk_memory(len: usize, lock: bool) -> Result<PageMemory, HostError> {
    let policy = PagePolicy::from_env()?;
    chunk_memory_with(policy, HugePages::read(Path::new("/")), len, lock)
}

/// [`chunk_memory`] for a given policy and reserve.
pub fn chunk_memory_with(
    policy: PagePolicy,
    pages: HugePages,
    len: usize,
    lock: bool,
) -> Result<PageMemory, HostError> {
    match policy {
        PagePolicy::Base => PageMemory::new(len, false, lock),
        PagePolicy::Huge => PageMemory::new(len, true, lock).map_err(|err| match err {
            HostError::Os { .. } => HostError::NoHugePages {
                total: pages.total,
                free: pages.free,
            },
            other => other,
        }),
        PagePolicy::Auto if pages.free == 0 => {
            note_fallback(&format!(
                "no 2 MiB huge page is free ({} reserved)",
                pages.total
            ));
            PageMemory::new(len, false, lock)
        }
        PagePolicy::Auto => match PageMemory::new(len, true, lock) {
            Ok(memory) => Ok(memory),
            Err(HostError::Os { source, .. }) => {
                note_fallback(&format!(
                    "mapping a huge page failed ({source}) with {} of {} free",
                    pages.free, pages.total
                ));
                PageMemory::new(len, false, lock)
            }
            Err(other) => Err(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dma::memory::HUGE_PAGE_SIZE;
    use drydock_sim::sysfs::FakeSys;

    #[test]
    fn policies_parse_as_documented() {
        assert_eq!(PagePolicy::parse("auto"), Some(PagePolicy::Auto));
        assert_eq!(PagePolicy::parse("huge\n"), Some(PagePolicy::Huge));
        assert_eq!(PagePolicy::parse("base"), Some(PagePolicy::Base));
        assert_eq!(PagePolicy::parse("2M"), None);
        let err = HostError::BadDmaPages { text: "2M".into() };
        assert!(
            err.to_string().contains("`auto`, `huge` or `base`"),
            "{err}"
        );
    }

    #[test]
    fn the_reserve_is_read_from_the_kernels_counters() {
        let fake = FakeSys::new("huge-counters");
        assert_eq!(HugePages::read(fake.root()), HugePages::default());
        fake.write_file(&format!("{COUNTERS}/nr_hugepages"), "64\n");
        fake.write_file(&format!("{COUNTERS}/free_hugepages"), "60\n");
        assert_eq!(
            HugePages::read(fake.root()),
            HugePages {
                total: 64,
                free: 60
            }
        );
    }

    #[test]
    fn without_a_free_huge_page_a_chunk_is_in_base_pages_and_says_why() {
        let none = HugePages { total: 8, free: 0 };
        let memory = chunk_memory_with(PagePolicy::Auto, none, HUGE_PAGE_SIZE, false).unwrap();
        assert!(!memory.is_huge());
        assert_eq!(memory.len(), HUGE_PAGE_SIZE);
        assert!(
            FELL_BACK.load(Ordering::Relaxed),
            "the fallback was not logged"
        );
        // Forced base pages never take a huge page, even when some are free here.
        let here = HugePages::read(Path::new("/"));
        let base = chunk_memory_with(PagePolicy::Base, here, HUGE_PAGE_SIZE, false).unwrap();
        assert!(!base.is_huge());
    }

    /// What this machine offers decides which path runs: with huge pages free (after `echo 8 >
    /// /proc/sys/vm/nr_hugepages`), a chunk is one; without, forcing them fails saying how to
    /// reserve some, and a reserve that vanished between reading and mapping falls back.
    #[test]
    fn a_chunk_is_a_huge_page_when_one_is_free_here() {
        let here = HugePages::read(Path::new("/"));
        println!("this machine: {here:?}");
        if here.free > 0 {
            let memory = chunk_memory_with(PagePolicy::Auto, here, HUGE_PAGE_SIZE, false).unwrap();
            assert!(memory.is_huge());
            assert_eq!(memory.as_ptr().as_ptr().addr() % HUGE_PAGE_SIZE, 0);
            let forced = chunk_memory_with(PagePolicy::Huge, here, HUGE_PAGE_SIZE, false);
            assert!(forced.unwrap().is_huge());
        } else {
            let err = chunk_memory_with(PagePolicy::Huge, here, HUGE_PAGE_SIZE, false).unwrap_err();
            assert!(matches!(err, HostError::NoHugePages { .. }), "{err:?}");
            assert!(err.to_string().contains("nr_hugepages"), "{err}");
            let stale = HugePages { total: 1, free: 1 };
            let memory = chunk_memory_with(PagePolicy::Auto, stale, HUGE_PAGE_SIZE, false).unwrap();
            assert!(!memory.is_huge());
        }
    }
}
