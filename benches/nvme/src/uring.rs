//! The kernel's nvme driver: the same workloads on its block device, with `O_DIRECT` and
//! io_uring at the same queue depth, one ring per thread.
//!
//! Each thread registers its file and its buffers with its ring (`IORING_REGISTER_FILES`,
//! `IORING_REGISTER_BUFFERS`), so the kernel pins the buffers once, as drydock's DMA buffers are
//! mapped once, as fio does with `--ioengine=io_uring --fixedbufs --registerfiles`. Each batch of
//! completions is reaped and resubmitted with one `io_uring_enter`. Three [`Mode`]s: the kernel's
//! interrupt-driven path, its polled path (`IORING_SETUP_IOPOLL`, fio's `--hipri`: the waiting
//! thread polls the controller's completion queue, which needs the nvme driver's poll queues, see
//! [`crate::poll_queues`]), and its polled path with a kernel thread that submits and polls
//! (`IORING_SETUP_SQPOLL` as well, fio's `--sqthread_poll`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drydock_admin::binding;
use drydock_host::sysfs::Sysfs;
use io_uring::{opcode, types, IoUring};

use crate::drydock::with_progress;
use crate::report::{KERNEL, KERNEL_IOPOLL, KERNEL_SQPOLL};
use crate::stats::{CpuSample, CpuTime, Latencies, Measurement, Server};
use crate::workload::{Op, Rng, Workload, IO_SIZE};

/// The kernel driver of NVMe controllers.
pub const NVME: &str = "nvme";

/// Returns the first namespace's block device (`/dev/nvmeXnY`) of the controller at `address`,
/// waiting for it to appear, after giving the controller back to the kernel's nvme driver if
/// drydock had handed it to a userspace driver ([`binding::unbind`], as `drydock unbind` does).
pub fn block_device(address: &str) -> Result<PathBuf, String> {
    let sysfs = Sysfs::system();
    if sysfs.driver(address).as_deref() != Some(NVME) {
        binding::unbind(&sysfs, address)
            .map_err(|e| format!("giving {address} back to its driver: {e}"))?;
    }
    if let Some(other) = sysfs.driver(address).filter(|driver| driver != NVME) {
        return Err(format!("{address} is bound to {other}, not to {NVME}"));
    }
    let dir = Path::new("/sys/bus/pci/devices").join(address).join("nvme");
    let start = Instant::now();
    loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|controllers| {
            controllers.flatten().find_map(|controller| {
                let name = controller.file_name().to_string_lossy().into_owned();
                let mut namespaces: Vec<String> = std::fs::read_dir(controller.path())
                    .ok()?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&format!("{name}n")))
                    .collect();
                namespaces.sort();
                namespaces.into_iter().next()
            })
        });
        if let Some(namespace) = found {
            let path = Path::new("/dev").join(namespace);
            if path.exists() {
                return Ok(path);
            }
        }
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "{address} shows no namespace block device under {}",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How the kernel's io_uring completes a run's I/Os.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The controller interrupts; the waiting thread sleeps in `io_uring_enter`.
    Interrupts,
    /// `IORING_SETUP_IOPOLL`: the thread polls the completion queue in `io_uring_enter`.
    Iopoll,
    /// `IORING_SETUP_IOPOLL` and `IORING_SETUP_SQPOLL`: a kernel thread of the process submits
    /// and polls; the thread sleeps in `io_uring_enter` until completions are posted.
    Sqpoll,
}

impl Mode {
    /// The label of the mode's measurements.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Interrupts => KERNEL,
            Mode::Iopoll => KERNEL_IOPOLL,
            Mode::Sqpoll => KERNEL_SQPOLL,
        }
    }

    /// The ring of this mode, with room for `entries`.
    fn ring(self, entries: u32) -> std::io::Result<IoUring> {
        let mut builder = IoUring::builder();
        match self {
            Mode::Interrupts => {}
            Mode::Iopoll => {
                builder.setup_iopoll();
            }
            Mode::Sqpoll => {
                // The SQ thread sleeps after 100 ms without work: between runs, not within one.
                builder.setup_iopoll().setup_sqpoll(100);
            }
        }
        builder.build(entries)
    }
}

/// How long the I/Os in flight at the end of a run may take to complete.
const DRAIN: Duration = Duration::from_secs(10);

/// Page-aligned memory for `O_DIRECT`.
struct AlignedBuffer {
    ptr: *mut u8,
    layout: Layout,
}

impl AlignedBuffer {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, 4096).expect("a valid layout");
        // SAFETY: the layout has a non-zero size (callers ask for at least one I/O).
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Self { ptr, layout }
    }
}

impl Drop for AlignedBuffer {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated with `layout` and is freed once.
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

/// Runs `workload` on the block device at `path` in `mode`: one thread and one ring per queue of
/// the workload. The measurement is labelled `label`, and its CPU time counts `server`'s, the
/// process serving the device if one does (a ublk disk's).
pub fn run(
    path: &Path,
    workload: &Workload,
    mode: Mode,
    label: &str,
    server: Option<Server>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Measurement, String> {
    let completed = AtomicU64::new(0);
    let start = Instant::now();
    let measure_from = start + workload.warmup;
    let until = measure_from + workload.duration;
    let (latencies, errors, cpu) = with_progress(&completed, progress, || {
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..workload.queues)
                .map(|i| {
                    let completed = &completed;
                    scope.spawn(move || {
                        ring_loop(
                            path,
                            workload,
                            mode,
                            i as u64 + 1,
                            completed,
                            measure_from,
                            until,
                        )
                    })
                })
                .collect();
            let now = Instant::now();
            std::thread::sleep(measure_from.saturating_duration_since(now));
            let cpu_start = CpuSample::counting(server);
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            let cpu = CpuTime::since(cpu_start);
            let mut latencies = Latencies::default();
            let mut errors = 0;
            for thread in threads {
                let (l, e) = thread.join().map_err(|_| "a worker panicked")??;
                latencies.merge(l);
                errors += e;
            }
            Ok::<_, String>((latencies, errors, cpu))
        })
    })?;
    Ok(Measurement::new(
        label,
        *workload,
        latencies,
        errors,
        workload.duration,
        cpu,
    ))
}

/// One thread of a run: `workload.depth` I/Os in flight on a ring of its own.
fn ring_loop(
    path: &Path,
    workload: &Workload,
    mode: Mode,
    seed: u64,
    completed: &AtomicU64,
    measure_from: Instant,
    until: Instant,
) -> Result<(Latencies, u64), String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    let depth = workload.depth;
    let buffer = AlignedBuffer::new(depth * IO_SIZE);
    // SAFETY: the buffer is valid memory of that length.
    unsafe { std::ptr::write_bytes(buffer.ptr, 0xa5, depth * IO_SIZE) };
    let mut ring = mode
        .ring((depth as u32).next_power_of_two().max(2))
        .map_err(|e| format!("io_uring_setup ({}): {e}", mode.label()))?;
    let iovecs: Vec<libc::iovec> = (0..depth)
        .map(|slot| libc::iovec {
            // SAFETY: the offset stays inside the buffer.
            iov_base: unsafe { buffer.ptr.add(slot * IO_SIZE) }.cast(),
            iov_len: IO_SIZE,
        })
        .collect();
    // SAFETY: the buffers stay allocated until the ring is dropped, before `buffer`.
    unsafe { ring.submitter().register_buffers(&iovecs) }
        .map_err(|e| format!("registering buffers: {e}"))?;
    ring.submitter()
        .register_files(&[file.as_raw_fd()])
        .map_err(|e| format!("registering the file: {e}"))?;

    let mut rng = Rng::new(seed);
    let slots = workload.slots();
    let mut started = vec![Instant::now(); depth];
    let mut latencies = Latencies::with_capacity(1 << 20);
    let mut errors = 0;
    let mut push = |ring: &mut IoUring, slot: usize, started: &mut [Instant]| {
        let offset = rng.below(slots) * IO_SIZE as u64;
        let ptr = iovecs[slot].iov_base.cast::<u8>();
        let entry = match workload.op {
            Op::Read => opcode::ReadFixed::new(types::Fixed(0), ptr, IO_SIZE as u32, slot as u16)
                .offset(offset)
                .build(),
            Op::Write => opcode::WriteFixed::new(types::Fixed(0), ptr, IO_SIZE as u32, slot as u16)
                .offset(offset)
                .build(),
        }
        .user_data(slot as u64);
        started[slot] = Instant::now();
        // SAFETY: the entry's buffer is registered and stays valid; the ring has room for
        // `depth` entries and at most `depth` are in flight.
        unsafe { ring.submission().push(&entry) }
            .map_err(|_| "the submission ring is full".to_owned())
    };
    for slot in 0..depth {
        push(&mut ring, slot, &mut started)?;
    }
    let mut in_flight = depth;
    let mut done = Vec::with_capacity(depth);
    while in_flight > 0 {
        // An I/O lost on the way (a device that never completes it) fails the run rather than
        // hanging it, on a ring without IOPOLL: the kernel bounds that wait by the timeout (an
        // hrtimer armed per wait, on the kernel's rows and the ublk rows alike), while an IOPOLL
        // ring's wait polls the device and ignores it.
        let left = (until + DRAIN).saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{in_flight} I/O(s) did not complete within {DRAIN:?} of the run's end"
            ));
        }
        let timeout = types::Timespec::from(left);
        match ring
            .submitter()
            .submit_with_args(1, &types::SubmitArgs::new().timespec(&timeout))
        {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
            Err(e) => return Err(format!("io_uring_enter: {e}")),
        }
        let now = Instant::now();
        done.clear();
        done.extend(
            ring.completion()
                .map(|c| (c.user_data() as usize, c.result())),
        );
        for &(slot, result) in &done {
            in_flight -= 1;
            if result != IO_SIZE as i32 {
                errors += 1;
            } else if now >= measure_from && now <= until {
                latencies.record(now - started[slot]);
                completed.fetch_add(1, Ordering::Relaxed);
            }
            if now < until {
                push(&mut ring, slot, &mut started)?;
                in_flight += 1;
            }
        }
    }
    drop(ring);
    Ok((latencies, errors))
}
