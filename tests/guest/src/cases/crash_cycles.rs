//! Crash cycles: a driver process killed with SIGKILL at a random point, again and again, each
//! kill followed by a restart on the same device.
//!
//! A cycle starts a child process (a [`super::CHILDREN`] case) that binds the driver, checks what
//! the runs before it left, and then works until it is killed: edu's child copies to or from the
//! device by DMA, or unloads the driver; the NVMe child writes, or unloads. Each run is started
//! before the run it follows is killed, and told to go once that one is reaped
//! ([`wait_for_go`]), so that its probe comes while a transfer the killed run left may still run.
//! The parent chooses where to kill (during probe, a host-to-device transfer, a device-to-host
//! transfer, unbind, NVMe writes in flight) and how long after the child said it got there, from
//! a seeded generator: the seed is printed, and [`Plan::from_env`] takes it from
//! `DRYDOCK_CRASH_SEED`, so a failing run can be repeated (`drydock-guest crash-cycles DRIVER
//! CYCLES SEED`). After each kill the kernel log must hold no trouble ([`crate::trouble`]: a
//! DMAR fault, a VFIO warning).
//!
//! Every child, before it works, checks the runs before it:
//!
//! - the DMA buffers it allocates once bound hold zeros only, right away and again after the
//!   longest transfer a killed run may have left running (every run fills its buffers with
//!   [`marker`], which the check names if it finds it);
//! - (NVMe) every block whose write the controller acknowledged before a kill reads back as that
//!   write left it, or as a write submitted to it later and not acknowledged, before the child
//!   writes anything: the child journals each write before submitting it and again once it
//!   completed, and reads the journal of the runs before it ([`Journal`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use edu::{EduDriver, MAX_TRANSFER};
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::io::Io as _;
use kernel::pci;
use kernel::prelude::GFP_KERNEL;
use kernel::time::Delta;
use nvme_bench::drydock::Drydock;
use nvme_bench::integrity::{fill_block, first_difference};
use nvme_bench::workload::Rng;

use super::drivers::{start_edu, vfio, with_driver};
use super::nvme::{self, controller};
use super::{ensure, CaseResult};
use crate::kmsg::KernelLog;
use crate::trouble;
use drydock_nvme::{IoCommand, QueueConfig};

/// Cycles per run unless `DRYDOCK_CRASH_CYCLES` says otherwise: the bounded variant CI runs.
const DEFAULT_CYCLES: u32 = 50;
/// The environment variable with the number of cycles.
pub const CYCLES_ENV: &str = "DRYDOCK_CRASH_CYCLES";
/// The environment variable with the seed.
pub const SEED_ENV: &str = "DRYDOCK_CRASH_SEED";
/// The environment variable telling a child its run number.
const RUN_ENV: &str = "DRYDOCK_CRASH_RUN";
/// The environment variable telling a child what to do once it has checked.
const POINT_ENV: &str = "DRYDOCK_CRASH_POINT";
/// How long a child may take to reach the point where it is killed.
const PATIENCE: Duration = Duration::from_secs(60);
/// Longer than an edu transfer takes (about 100 ms): a transfer a killed run left running has
/// ended (or landed) by then.
const STALE_TRANSFER: Duration = Duration::from_millis(300);

/// What a child does once it has checked, and so where the parent kills it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    /// Killed at a random time from its start: in probe, or soon after.
    Probe,
    /// edu: copies its marker to the device by DMA, over and over.
    ToDevice,
    /// edu: copies the marker from the device into its buffer by DMA, over and over.
    FromDevice,
    /// NVMe: writes batches of eight blocks ranges, eight writes in flight.
    Writes,
    /// Unloads the driver (unbind, the DMA memory freed, the device closed).
    Unbind,
    /// Not killed: checks, stops cleanly and exits (the run after the last kill).
    Check,
}

impl Point {
    const ALL: [Point; 6] = [
        Point::Probe,
        Point::ToDevice,
        Point::FromDevice,
        Point::Writes,
        Point::Unbind,
        Point::Check,
    ];

    fn name(self) -> &'static str {
        match self {
            Point::Probe => "probe",
            Point::ToDevice => "host-to-device-dma",
            Point::FromDevice => "device-to-host-dma",
            Point::Writes => "writes-in-flight",
            Point::Unbind => "unbind",
            Point::Check => "check",
        }
    }

    /// The point a child was started for (`DRYDOCK_CRASH_POINT`).
    fn from_env() -> Result<Self, String> {
        let name = std::env::var(POINT_ENV).map_err(|_| format!("{POINT_ENV} is not set"))?;
        Self::ALL
            .into_iter()
            .find(|point| point.name() == name)
            .ok_or(format!("no crash point {name:?}"))
    }
}

/// The run number a child was given (`DRYDOCK_CRASH_RUN`).
fn run_from_env() -> Result<u32, String> {
    std::env::var(RUN_ENV)
        .ok()
        .and_then(|run| run.parse().ok())
        .ok_or(format!("{RUN_ENV} is not a number"))
}

/// How many cycles, with which seed.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Kill and restart cycles.
    cycles: u32,
    /// The seed of the generator that chooses the points and delays.
    seed: u64,
}

impl Plan {
    /// [`DEFAULT_CYCLES`] and a seed from the clock, unless `DRYDOCK_CRASH_CYCLES` and
    /// `DRYDOCK_CRASH_SEED` say otherwise.
    fn from_env() -> Result<Self, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            std::env::var(name).ok().map_or(Ok(None), |value| {
                value
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={value:?} is not a number"))
            })
        };
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64);
        let cycles = number(CYCLES_ENV)?.map_or(Ok(DEFAULT_CYCLES), u32::try_from);
        Ok(Plan {
            cycles: cycles.map_err(|e| e.to_string())?,
            seed: number(SEED_ENV)?.unwrap_or(clock),
        })
    }
}

/// What a run writes into every DMA buffer it has: `drydock crash run N`, repeated.
fn marker(run: u32, len: usize) -> Vec<u8> {
    format!("drydock crash run {run:08} ")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

/// The text [`marker`] starts with, whichever the run.
const MARKER_PREFIX: &[u8] = b"drydock crash run ";

/// A child process of a cycle, its standard output read line by line on a thread.
struct CycleChild {
    child: Child,
    lines: Receiver<String>,
    /// The lines read so far.
    said: Vec<String>,
    /// Where [`CycleChild::go`] tells it to start.
    stdin: Option<ChildStdin>,
}

impl CycleChild {
    /// Starts the child case `case` as run `run`, to work at `point`; it waits for
    /// [`CycleChild::go`] before it touches the device.
    fn start(case: &str, run: u32, point: Point) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
        let mut child = Command::new(exe)
            .args(["case", case])
            .env(RUN_ENV, run.to_string())
            .env(POINT_ENV, point.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {case}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no pipe from the child")?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            said: Vec::new(),
            stdin,
        })
    }

    /// Tells the child to start.
    fn go(&mut self) -> CaseResult {
        let mut stdin = self
            .stdin
            .take()
            .ok_or("the child was told to go already")?;
        stdin
            .write_all(GO.as_bytes())
            .map_err(|e| format!("telling the child to go: {e}"))
    }

    /// Reads lines until the `count`th one that starts with `text`; fails if the child ends or
    /// says nothing for [`PATIENCE`].
    fn wait_for(&mut self, text: &str, count: usize) -> CaseResult {
        let mut seen = 0;
        while seen < count {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    seen += usize::from(line.starts_with(text));
                    self.said.push(line);
                }
                Err(_) => {
                    self.kill_and_reap()?;
                    return Err(format!(
                        "waiting for {text:?}, the child ended or fell silent; it said:\n{}",
                        self.said.join("\n")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Kills the child with SIGKILL and reaps it; fails if it had ended by itself.
    fn kill_and_reap(&mut self) -> CaseResult {
        let _ = self.child.kill();
        let status = self.child.wait().map_err(|e| e.to_string())?;
        // Everything it said before it died.
        self.said.extend(self.lines.try_iter());
        ensure!(
            status.signal() == Some(libc::SIGKILL),
            "the child ended by itself ({status}) before the kill; it said:\n{}",
            self.said.join("\n")
        );
        Ok(())
    }

    /// Whether the child said a line starting with `text`.
    fn has_said(&self, text: &str) -> bool {
        self.said.iter().any(|line| line.starts_with(text))
    }
}

/// What a child waits for, on its standard input, before it touches the device.
const GO: &str = "go\n";

/// Waits for [`GO`]: the parent has started this run before it killed the one before, so that it
/// restarts the driver as soon as the kill is done (within the transfer the killed run left
/// running, about 100 ms for edu), as a supervisor restarting a crashed driver would.
fn wait_for_go() -> CaseResult {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("waiting to be told to go: {e}"))?;
    ensure!(line == GO, "told {line:?}, not to go");
    Ok(())
}

/// What the child prints once probe is done.
const BOUND: &str = "bound";
/// What the child prints once the runs before it checked out.
const CHECKED: &str = "checked";
/// What the child prints before each transfer or batch of writes.
const WORKING: &str = "working";
/// What the child prints before it unloads the driver.
const UNBINDING: &str = "unbinding";

/// Runs the crash cycles of `plan` with the child case `case`, at the points `points`, with a
/// probe window of `probe_ms`, and at the end the check of the run after the last kill.
fn cycles(plan: Plan, case: &str, points: &[Point], probe_ms: u64) -> CaseResult {
    println!(
        "{} cycles of {case}, seed {} (repeat with {SEED_ENV}={} {CYCLES_ENV}={})",
        plan.cycles, plan.seed, plan.seed, plan.cycles
    );
    let mut rng = Rng::new(plan.seed);
    let mut log = KernelLog::from_now()?;
    let start = Instant::now();
    let mut tally: Vec<(String, u32)> = Vec::new();
    let choose = |rng: &mut Rng, run: u32| {
        if run < plan.cycles {
            points[rng.below(points.len() as u64) as usize]
        } else {
            Point::Check
        }
    };
    let mut point = choose(&mut rng, 0);
    let mut child = CycleChild::start(case, 0, point)?;
    child.go()?;
    for run in 0..plan.cycles {
        let cycle = format!("cycle {run} of seed {} ({})", plan.seed, point.name());
        let delay = kill_delay(&mut child, point, &mut rng, probe_ms)
            .map_err(|e| format!("{cycle}: {e}"))?;
        let next_point = choose(&mut rng, run + 1);
        let mut next = CycleChild::start(case, run + 1, next_point)?;
        std::thread::sleep(delay);
        child.kill_and_reap().map_err(|e| format!("{cycle}: {e}"))?;
        next.go()?;
        let landed = match point {
            Point::Probe if !child.has_said(BOUND) => "in probe",
            Point::Probe => "after probe",
            Point::Unbind if child.has_said("unbound") => "after unbind",
            Point::Unbind => "in unbind",
            _ if child.said.last().is_some_and(|l| l.starts_with(WORKING)) => "in flight",
            _ => "between",
        };
        let key = format!("{} {landed}", point.name());
        match tally.iter_mut().find(|(name, _)| *name == key) {
            Some((_, count)) => *count += 1,
            None => tally.push((key, 1)),
        }
        let records = log.show_new(None)?;
        let unexpected = trouble::unexpected(&records, &[]);
        ensure!(
            unexpected.is_empty(),
            "{cycle}: the kernel reported trouble after the kill:\n{}",
            crate::kmsg::lines(unexpected)
        );
        (child, point) = (next, next_point);
    }
    // The run after the last kill checks, and stops cleanly.
    let mut last = child;
    let status = last.child.wait().map_err(|e| e.to_string())?;
    last.said.extend(last.lines.try_iter());
    ensure!(
        status.success() && last.has_said(CHECKED),
        "the run after the last kill ended with {status}; it said:\n{}",
        last.said.join("\n")
    );
    for line in last.said.iter().filter(|line| line.starts_with(CHECKED)) {
        println!("the run after the last kill: {line}");
    }
    let records = log.show_new(None)?;
    let unexpected = trouble::unexpected(&records, &[]);
    ensure!(
        unexpected.is_empty(),
        "the kernel reported trouble in the last run:\n{}",
        crate::kmsg::lines(unexpected)
    );
    let elapsed = start.elapsed();
    println!("where the kills landed:");
    for (key, count) in &tally {
        println!("  {key}: {count}");
    }
    println!(
        "{} kills and restarts in {:.1} s ({:.2} s a cycle), no trouble in the kernel log",
        plan.cycles,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / f64::from(plan.cycles.max(1))
    );
    Ok(())
}

/// Waits until `child` reaches `point` (not at all for [`Point::Probe`]), and returns how long
/// after that to kill it.
fn kill_delay(
    child: &mut CycleChild,
    point: Point,
    rng: &mut Rng,
    probe_ms: u64,
) -> Result<Duration, String> {
    let (wait_for, delay_ms) = match point {
        Point::Probe => (None, probe_ms),
        Point::ToDevice | Point::FromDevice => (Some((WORKING, 1 + rng.below(3))), 100),
        Point::Writes => (Some((WORKING, 1 + rng.below(4))), 20),
        Point::Unbind => (Some((UNBINDING, 1)), 30),
        Point::Check => return Err("a check is not a kill point".into()),
    };
    if let Some((text, count)) = wait_for {
        child.wait_for(text, count as usize)?;
    }
    Ok(Duration::from_millis(rng.below(delay_ms)))
}

/// Allocates DMA buffers of `sizes` for `dev` and checks that they hold zeros only, at once and
/// again after [`STALE_TRANSFER`]; returns them for the run to fill with its [`marker`].
fn fresh_buffers(dev: &pci::Device<Bound>, sizes: &[usize]) -> Result<Vec<Coherent<[u8]>>, String> {
    let buffers = sizes
        .iter()
        .map(|&size| Coherent::<u8>::zeroed_slice(dev.as_ref(), size, GFP_KERNEL))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("allocating DMA memory: {e:?}"))?;
    for when in ["at once", "after the longest transfer"] {
        if when != "at once" {
            std::thread::sleep(STALE_TRANSFER);
        }
        for (i, buffer) in buffers.iter().enumerate() {
            let mut bytes = vec![0u8; buffer.size()];
            kernel::io::io_project!(buffer, [panic: 0..bytes.len()]).copy_to_slice(&mut bytes);
            if let Some(at) = bytes.iter().position(|&byte| byte != 0) {
                let found = bytes
                    .windows(MARKER_PREFIX.len() + 8)
                    .find(|window| window.starts_with(MARKER_PREFIX))
                    .map_or("no run's marker".to_owned(), |window| {
                        String::from_utf8_lossy(window).into_owned()
                    });
                return Err(format!(
                    "a fresh DMA buffer ({i}, {} bytes at {:#x}) is not zero {when}: byte {at} \
                     is {:#04x}; it holds {found}",
                    bytes.len(),
                    buffer.dma_address(),
                    bytes[at]
                ));
            }
        }
    }
    Ok(buffers)
}

/// Fills every buffer with run `run`'s [`marker`].
fn mark(buffers: &[Coherent<[u8]>], run: u32) {
    for buffer in buffers {
        let bytes = marker(run, buffer.size());
        kernel::io::io_project!(buffer, [panic: 0..bytes.len()]).copy_from_slice(&bytes);
    }
}

/// The sizes of the buffers a child checks: small pieces of a pool chunk, and one over half a
/// chunk, which gets a mapping of its own.
const CHECKED_SIZES: [usize; 5] = [4096, 4096, 16384, 65536, (1 << 20) + 4096];

/// edu killed with SIGKILL [`Plan::cycles`] times: in probe (where its self-test makes DMA
/// transfers), during host-to-device and device-to-host transfers, and in unbind; each restart
/// binds and transfers correctly, finds its fresh DMA buffers zeroed, and the kernel logs no
/// trouble.
pub fn edu_crash_cycles() -> CaseResult {
    let plan = Plan::from_env()?;
    let points = [
        Point::Probe,
        Point::ToDevice,
        Point::FromDevice,
        Point::Unbind,
    ];
    cycles(plan, "edu_crash_child", &points, 150)
}

/// Not listed: a run of [`edu_crash_cycles`].
pub fn edu_crash_child() -> CaseResult {
    let (run, point) = (run_from_env()?, Point::from_env()?);
    wait_for_go()?;
    let session = start_edu(vfio())?;
    println!("{BOUND}");
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        let buffers = fresh_buffers(dev, &CHECKED_SIZES)?;
        println!("{CHECKED}: {} fresh DMA buffers hold zeros", buffers.len());
        if matches!(point, Point::Check | Point::Unbind) {
            return Ok(());
        }
        mark(&buffers, run);
        let data = marker(run, MAX_TRANSFER);
        if point == Point::FromDevice {
            edu.write_to_device(dev, 0, &data)
                .map_err(|e| format!("DMA to the device: {e:?}"))?;
        }
        let mut back = vec![0u8; MAX_TRANSFER];
        loop {
            println!("{WORKING}");
            if point == Point::FromDevice {
                edu.read_from_device(dev, 0, &mut back)
                    .map_err(|e| format!("DMA from the device: {e:?}"))?;
                ensure!(back == data, "the device's buffer came back different");
            } else {
                edu.write_to_device(dev, 0, &data)
                    .map_err(|e| format!("DMA to the device: {e:?}"))?;
            }
        }
    })??;
    unbind_then_wait(point, || session.stop())
}

/// For [`Point::Unbind`]: says so, runs `unload`, says so, and waits to be killed. For
/// [`Point::Check`]: unloads and returns.
fn unbind_then_wait(point: Point, unload: impl FnOnce()) -> CaseResult {
    println!("{UNBINDING}");
    unload();
    println!("unbound");
    if point == Point::Check {
        return Ok(());
    }
    std::thread::sleep(PATIENCE);
    Err("nobody killed me after unbind".into())
}

/// The blocks the NVMe cycles write: the first 4096 of the namespace (2 MiB of 512-byte blocks),
/// in slots of [`SLOT_BLOCKS`].
const REGION_BLOCKS: u64 = 4096;
/// The blocks of one slot: a write covers the start of one slot, 1 to 8 blocks.
const SLOT_BLOCKS: u64 = 8;
/// Writes in flight at once.
const DEPTH: usize = 8;

/// Where the NVMe children journal their writes.
fn journal_path() -> PathBuf {
    std::env::temp_dir().join("drydock-nvme-crash-journal")
}

/// What the journal of the NVMe children says each block may hold.
///
/// A child appends `S LBA BLOCKS GENERATION` before it submits a write and `A LBA BLOCKS
/// GENERATION` once the write completed successfully, each line with one `write(2)`, which a
/// SIGKILL cannot cut in two. A block whose write was acknowledged must hold that write's
/// generation, unless a write submitted to it afterwards was not acknowledged (killed in
/// flight): then it may hold that one's.
struct Journal {
    /// Per block: the generation of its last acknowledged write, and those submitted since.
    blocks: Vec<(Option<u32>, Vec<u32>)>,
}

impl Journal {
    /// Reads the journal (none yet: nothing written).
    fn read() -> Result<Self, String> {
        let mut blocks = vec![(None, Vec::new()); REGION_BLOCKS as usize];
        let text = match std::fs::read_to_string(journal_path()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("reading the journal: {e}")),
        };
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let parse = |i: usize| fields.get(i).and_then(|field| field.parse::<u64>().ok());
            let (Some(lba), Some(count), Some(generation)) = (parse(1), parse(2), parse(3)) else {
                return Err(format!("a journal line {line:?}"));
            };
            let generation = generation as u32;
            for (acked, pending) in &mut blocks[lba as usize..(lba + count) as usize] {
                match fields[0] {
                    "S" => pending.push(generation),
                    "A" => {
                        *acked = Some(generation);
                        pending.clear();
                    }
                    _ => return Err(format!("a journal line {line:?}")),
                }
            }
        }
        Ok(Self { blocks })
    }

    /// Reads the region back and checks every block with an acknowledged write; returns how
    /// many it checked.
    fn verify(&self, dev: &pci::Device<Bound>, queue: &drydock_nvme::Queue) -> Result<u64, String> {
        const CHUNK: u64 = 256;
        let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), CHUNK as usize * 512, GFP_KERNEL)
            .map_err(|e| format!("allocating DMA memory: {e:?}"))?;
        let mut block = [0u8; 512];
        let mut checked = 0;
        for first in (0..REGION_BLOCKS).step_by(CHUNK as usize) {
            let read = IoCommand::Read {
                lba: first,
                blocks: CHUNK as u32,
                buffer: &buffer,
                offset: 0,
            };
            queue
                .execute(dev, &read)
                .map_err(|e| format!("reading blocks {first}..: {e:?}"))?;
            for lba in first..first + CHUNK {
                let (Some(acked), pending) = &self.blocks[lba as usize] else {
                    continue;
                };
                let at = (lba - first) as usize * 512;
                kernel::io::io_project!(&buffer, [panic: at..at + 512]).copy_to_slice(&mut block);
                checked += 1;
                let fits = |generation: &u32| first_difference(&block, lba, *generation).is_none();
                if fits(acked) || pending.iter().any(fits) {
                    continue;
                }
                let word = |i: usize| {
                    u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
                };
                return Err(format!(
                    "block {lba}, whose write of generation {acked:#x} completed before a kill \
                     (writes submitted after it, not completed: {pending:x?}), reads back as block \
                     {} of generation {:#x}",
                    word(0),
                    word(1)
                ));
            }
        }
        Ok(checked)
    }
}

/// NVMe controller 0 killed with SIGKILL [`Plan::cycles`] times: in probe, with eight writes in
/// flight, and in unbind; each restart finds its fresh DMA buffers zeroed and every block whose
/// write completed before a kill as that write left it, before it writes anything itself, and
/// the kernel logs no trouble.
pub fn nvme_crash_cycles() -> CaseResult {
    let plan = Plan::from_env()?;
    match std::fs::remove_file(journal_path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing the old journal: {e}"))
        }
        _ => {}
    }
    let points = [Point::Probe, Point::Writes, Point::Writes, Point::Unbind];
    cycles(plan, "nvme_crash_child", &points, 500)?;
    // The killed runs could not give the controller back to the kernel's driver.
    nvme::give_back_to_nvme()
}

/// Not listed: a run of [`nvme_crash_cycles`].
pub fn nvme_crash_child() -> CaseResult {
    let (run, point) = (run_from_env()?, Point::from_env()?);
    wait_for_go()?;
    let journal = Journal::read()?;
    let device = Drydock::open(&controller())?;
    println!("{BOUND}");
    device.with(|dev, ctrl| {
        let block_size = ctrl.namespace().block_size();
        ensure!(block_size == 512, "blocks of {block_size} bytes, not 512");
        let buffers = fresh_buffers(dev, &CHECKED_SIZES)?;
        let queue = ctrl
            .create_io_queue(
                dev,
                QueueConfig {
                    depth: DEPTH as u16 + 1,
                    interrupts: run % 2 == 1,
                    timeout: Delta::from_secs(30),
                },
            )
            .map_err(|e| format!("creating a queue: {e:?}"))?;
        let checked = journal.verify(dev, &queue)?;
        println!(
            "{CHECKED}: {} fresh DMA buffers hold zeros; {checked} blocks written before the \
             kills read back intact",
            buffers.len()
        );
        if matches!(point, Point::Check | Point::Unbind) {
            return ctrl
                .delete_io_queue(dev, &queue)
                .map_err(|e| format!("{e:?}"));
        }
        mark(&buffers, run);
        write_until_killed(dev, &queue, run)
    })??;
    unbind_then_wait(point, || drop(device))
}

/// Appends a line to the journal ([`Journal`]) in one `write(2)`.
fn note(journal: &mut File, kind: char, lba: u64, blocks: u32, generation: u32) -> CaseResult {
    journal
        .write_all(format!("{kind} {lba} {blocks} {generation}\n").as_bytes())
        .map_err(|e| format!("writing the journal: {e}"))
}

/// Writes batches of [`DEPTH`] writes to distinct slots of the region, journaling each, until
/// killed.
fn write_until_killed(
    dev: &pci::Device<Bound>,
    queue: &drydock_nvme::Queue,
    run: u32,
) -> CaseResult {
    let slot_bytes = SLOT_BLOCKS as usize * 512;
    let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), DEPTH * slot_bytes, GFP_KERNEL)
        .map_err(|e| format!("allocating DMA memory: {e:?}"))?;
    let mut journal = OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal_path())
        .map_err(|e| format!("opening the journal: {e}"))?;
    let mut rng = Rng::new(u64::from(run) ^ 0x6a09_e667);
    let mut block = [0u8; 512];
    // Generations of this run: its number above, a count below; never 0, as nothing is.
    let mut generation = 0x8000_0000 | run << 16;
    loop {
        println!("{WORKING}");
        let mut slots: Vec<u64> = Vec::with_capacity(DEPTH);
        while slots.len() < DEPTH {
            let slot = rng.below(REGION_BLOCKS / SLOT_BLOCKS);
            if !slots.contains(&slot) {
                slots.push(slot);
            }
        }
        let mut in_flight = Vec::with_capacity(DEPTH);
        for (i, slot) in slots.into_iter().enumerate() {
            let (lba, blocks) = (slot * SLOT_BLOCKS, 1 + rng.below(SLOT_BLOCKS) as u32);
            generation += 1;
            for b in 0..u64::from(blocks) {
                fill_block(&mut block, lba + b, generation);
                let at = i * slot_bytes + b as usize * 512;
                kernel::io::io_project!(&buffer, [panic: at..at + 512]).copy_from_slice(&block);
            }
            note(&mut journal, 'S', lba, blocks, generation)?;
            let write = IoCommand::Write {
                lba,
                blocks,
                buffer: &buffer,
                offset: i * slot_bytes,
            };
            let tag = queue
                .submit(dev, &write)
                .map_err(|e| format!("submitting a write: {e:?}"))?;
            in_flight.push((tag, lba, blocks, generation));
        }
        for (tag, lba, blocks, generation) in in_flight {
            let completion = queue
                .wait_for(dev, tag)
                .map_err(|e| format!("waiting for a write: {e:?}"))?;
            completion
                .to_result()
                .map_err(|e| format!("a write of {blocks} blocks at {lba}: {e:?}"))?;
            note(&mut journal, 'A', lba, blocks, generation)?;
        }
    }
}
