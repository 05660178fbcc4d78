//! DMA chunks in 2 MiB huge pages: a driver process takes its pool's chunks from the huge pages
//! the machine reserved, and says once why it falls back to 4 KiB pages when there are none.

use std::time::Duration;

use drydock_guest::layout::{self, Role};

use super::driver_process::DriverProcess;
use super::{ensure, CaseResult};
use crate::sysfs;

/// The kernel's count of reserved 2 MiB huge pages.
const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

/// The huge pages the case reserves: edu's pool needs one chunk.
const RESERVED: u64 = 4;

/// The log line of a driver whose DMA chunks fall back to 4 KiB pages, up to its reason.
const FALLBACK: &str = "DMA memory in 4 KiB pages, not 2 MiB huge pages";

/// `HugePages_Free` of /proc/meminfo.
fn free_huge_pages() -> Result<u64, String> {
    let meminfo =
        std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("HugePages_Free:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| "/proc/meminfo has no HugePages_Free".to_owned())
}

/// Reserves `count` huge pages (0 gives them back) and checks that all are free.
fn reserve(count: u64) -> Result<(), String> {
    std::fs::write(NR_HUGEPAGES, count.to_string())
        .map_err(|e| format!("writing {count} to {NR_HUGEPAGES}: {e}"))?;
    let free = free_huge_pages()?;
    ensure!(
        free == count,
        "{count} huge pages reserved, but {free} are free"
    );
    Ok(())
}

/// How many of the mappings of process `pid` are in 2 MiB pages (`KernelPageSize: 2048 kB` in
/// its smaps).
fn huge_mappings(pid: u32) -> Result<usize, String> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .map_err(|e| format!("/proc/{pid}/smaps: {e}"))?;
    Ok(smaps
        .lines()
        .filter(|line| {
            line.strip_prefix("KernelPageSize:")
                .is_some_and(|size| size.trim() == "2048 kB")
        })
        .count())
}

/// What one run of `edu self_test=1` showed while it served.
struct Seen {
    /// Its mappings in 2 MiB pages.
    huge_mappings: usize,
    /// Free huge pages meanwhile.
    free: u64,
    /// Its whole log.
    log: Vec<String>,
}

/// Runs `edu self_test=1` on edu with `env`, and looks at its memory once its self-test moved
/// data by DMA.
fn run_edu(edu: &str, env: &[(&str, &str)]) -> Result<Seen, String> {
    let mut driver = DriverProcess::start("edu", &["self_test=1", edu], env)?;
    driver.wait_for_line("self-test: DMA round trip of 4095 bytes identical")?;
    driver.wait_for_line(&format!("{edu}: bound to"))?;
    let huge_mappings = huge_mappings(driver.pid())?;
    let free = free_huge_pages()?;
    let log = driver.stop_with(libc::SIGTERM)?;
    println!("{huge_mappings} mappings in 2 MiB pages, {free} huge pages free");
    Ok(Seen {
        huge_mappings,
        free,
        log,
    })
}

/// With no huge page reserved, edu's DMA chunk is in 4 KiB pages and the driver says so once,
/// with the reason; with 4 reserved, the chunk takes one (`HugePages_Free` 3 while edu serves, a
/// mapping of the process in 2 MiB pages, no fallback line) and gives it back at exit;
/// `DRYDOCK_DMA_PAGES=base` keeps it in 4 KiB pages although huge ones are free, and
/// `DRYDOCK_DMA_PAGES=huge` with none reserved fails in one line saying how to reserve some.
pub fn edu_dma_chunk_in_a_huge_page() -> CaseResult {
    let edu = layout::device(Role::Edu).address();
    sysfs::bind(&edu, "vfio-pci")?;
    let result = (|| -> CaseResult {
        reserve(0)?;
        let none = run_edu(&edu, &[])?;
        let fallbacks: Vec<&String> = none.log.iter().filter(|l| l.contains(FALLBACK)).collect();
        ensure!(
            fallbacks.len() == 1
                && fallbacks[0].contains("no 2 MiB huge page is free (0 reserved)"),
            "without huge pages, edu should say once why it falls back: {fallbacks:?}"
        );
        ensure!(
            none.huge_mappings == 0,
            "without huge pages, edu has {} mappings in 2 MiB pages",
            none.huge_mappings
        );
        let forced = DriverProcess::start(
            "edu",
            &["self_test=1", &edu],
            &[("DRYDOCK_DMA_PAGES", "huge")],
        )?;
        let (status, log) = forced.wait_exit()?;
        ensure!(
            status.code() == Some(1) && log.iter().any(|l| l.contains("nr_hugepages")),
            "DRYDOCK_DMA_PAGES=huge without huge pages should fail saying how to reserve \
             some (exit {status})"
        );

        reserve(RESERVED)?;
        let huge = run_edu(&edu, &[])?;
        ensure!(
            huge.free == RESERVED - 1,
            "edu's one chunk should take one of the {RESERVED} huge pages: {} free",
            huge.free
        );
        ensure!(
            huge.huge_mappings >= 1,
            "edu has no mapping in 2 MiB pages although huge pages are free"
        );
        ensure!(
            !huge.log.iter().any(|l| l.contains(FALLBACK)),
            "edu fell back to 4 KiB pages although huge pages are free"
        );
        // Given back at exit.
        std::thread::sleep(Duration::from_millis(100));
        ensure!(
            free_huge_pages()? == RESERVED,
            "edu's huge page was not given back at exit"
        );
        let base = run_edu(&edu, &[("DRYDOCK_DMA_PAGES", "base")])?;
        ensure!(
            base.free == RESERVED && base.huge_mappings == 0,
            "DRYDOCK_DMA_PAGES=base still took a huge page ({} free, {} mappings)",
            base.free,
            base.huge_mappings
        );
        Ok(())
    })();
    // The reserve goes back whatever happened, for the cases after this one.
    let released = reserve(0);
    result.and(released)
}
