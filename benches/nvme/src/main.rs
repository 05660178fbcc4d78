//! `nvme-bench`: drydock's NVMe driver against the kernel's nvme driver, side by side.
//!
//! ```text
//! nvme-bench [--drydock BDF] [--kernel BDF] [--seconds S] [--warmup S] [--region MIB]
//!            [--variants polled,polled-4k,interrupts,shadow,kernel,kernel-iopoll,kernel-sqpoll,
//!                        spdk,ublk]
//!            [--spdk PATH] [--only TEXT] [--repeat N] [--out DIR]
//! nvme-bench integrity BDF [--ios N]
//! nvme-bench hammer BDF
//! nvme-bench chart RESULTS.CSV
//! nvme-bench latency-chart RESULTS.CSV
//! nvme-bench host-chart HOST.CSV
//! ```
//!
//! The first form runs 4 KiB random reads and writes at queue depth 1 and 32, on one and two
//! queues, on the controller at `--drydock` through drydock's driver (polled queues with DMA
//! memory in 2 MiB huge pages and in 4 KiB pages, interrupt driven queues, polled queues with
//! shadow doorbells) and on the controller at `--kernel` through the kernel's nvme driver with
//! io_uring (interrupt driven, polled, polled with a submission thread); the variant `spdk` (a
//! peer, not run by default) runs SPDK's `spdk_nvme_perf` at `--spdk` on the controller at
//! `--drydock`, on one queue; the variant `ublk` (not run by default either: it needs a kernel with
//! ublk) starts drydock's NVMe driver as a process serving the `--drydock` controller's namespace
//! as a ublk disk (`nvme --ublk`) and drives that disk with the kernel variant's io_uring. It
//! reserves huge pages and gives the kernel's driver poll queues for
//! the run. It prints the table and writes it with
//! charts to `--out`; with `--repeat N` the whole matrix runs N times and the table shows the
//! median runs and the range of the ratios. It must run as root on a machine whose two controllers
//! are identical (drydock's test guest: `drydock-vm nvme-bench`). The second form runs the
//! data-integrity check; the third keeps 32 random writes in flight until the process is killed (a
//! guest test kills it with SIGKILL, then checks that the driver starts again). The fourth prints
//! the chart of a run's `results.csv` again (its `iops.svg`), as the report draws it now, and the
//! fifth its latency chart (`latency.svg`). The last prints the chart of the host benchmarks'
//! ratios (`benches/results/host.csv`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use drydock_host::dma::huge::PagePolicy;
use drydock_host::{exit_status, log_filter};
use nvme_bench::drydock::{self, Drydock, VfioBinding};
use nvme_bench::huge_pages::{self, PageUse, Reservation};
use nvme_bench::poll_queues::PollQueues;
use nvme_bench::report::{Report, UBLK};
use nvme_bench::spdk::{self, Spdk, SPDK};
use nvme_bench::stats::{self, Measurement};
use nvme_bench::ublk::{self, UblkDisk};
use nvme_bench::uring::Mode;
use nvme_bench::workload::{Op, Workload};
use nvme_bench::{integrity, uring};

const USAGE: &str = "usage:
  nvme-bench [--drydock BDF] [--kernel BDF] [--seconds S] [--warmup S] [--region MIB]
             [--variants polled,polled-4k,interrupts,shadow,kernel,kernel-iopoll,kernel-sqpoll,
                         spdk,ublk]
             [--spdk PATH] [--only TEXT] [--repeat N] [--out DIR]
  nvme-bench integrity BDF [--ios N]
  nvme-bench hammer BDF
  nvme-bench chart RESULTS.CSV
  nvme-bench latency-chart RESULTS.CSV
  nvme-bench host-chart HOST.CSV";

/// The exit statuses, after the usage.
const EXIT_STATUS: &str = "Exit status: 0 done, 1 failed (a device that could not be opened, an \
I/O error, an integrity\nmismatch), 2 bad command line.";

/// What the benchmark form was asked.
struct Options {
    drydock: String,
    kernel: String,
    seconds: f64,
    warmup: f64,
    region_mib: u64,
    variants: Vec<String>,
    only: Option<String>,
    out: Option<String>,
    repeat: usize,
    spdk: Option<String>,
}

/// What the command line asks.
enum Command {
    /// `--help`.
    Help,
    /// The benchmark matrix.
    Bench(Options),
    /// The data-integrity check of the controller at `address`, with `ios` I/Os.
    Integrity { address: String, ios: u64 },
    /// Writes on the controller at this address until killed.
    Hammer(String),
    /// Prints the chart of the `results.csv` at this path.
    Chart(String),
    /// Prints the latency chart of the `results.csv` at this path.
    LatencyChart(String),
    /// Prints the chart of the host benchmarks' CSV at this path.
    HostChart(String),
}

/// The `--help` text: the usage, how to set the log level, the exit statuses.
fn help() -> String {
    format!("{USAGE}\n\nLog level:\n{}\n{EXIT_STATUS}", log_filter::HELP)
}

fn main() -> ExitCode {
    drydock_runner::logger::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_command(&args) {
        Ok(Command::Help) => {
            println!("{}", help());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Bench(options)) => bench(&options),
        Ok(Command::Integrity { address, ios }) => integrity_main(&address, ios),
        Ok(Command::Hammer(address)) => hammer(&address),
        Ok(Command::Chart(path)) => chart(&path, Report::svg),
        Ok(Command::LatencyChart(path)) => chart(&path, Report::latency_svg),
        Ok(Command::HostChart(path)) => host_chart(&path),
        Err(problem) => {
            eprintln!("nvme-bench: {problem}; see `nvme-bench --help`");
            return ExitCode::from(exit_status::USAGE);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nvme-bench: {e}");
            ExitCode::from(exit_status::FAILURE)
        }
    }
}

/// Parses the command line; a bad one gives what is wrong, in one line.
fn parse_command(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        Some("-h" | "--help") => Ok(Command::Help),
        Some("integrity") => match &args[1..] {
            [address] => Ok(Command::Integrity {
                address: address.clone(),
                ios: 100_000,
            }),
            [address, flag, n] if flag == "--ios" => Ok(Command::Integrity {
                address: address.clone(),
                ios: n.parse().map_err(|_| format!("--ios: not a number: {n}"))?,
            }),
            _ => Err("integrity takes a BDF and optionally --ios N".into()),
        },
        Some("hammer") => match &args[1..] {
            [address] => Ok(Command::Hammer(address.clone())),
            _ => Err("hammer takes one BDF".into()),
        },
        Some("chart") => match &args[1..] {
            [path] => Ok(Command::Chart(path.clone())),
            _ => Err("chart takes the path of a results.csv".into()),
        },
        Some("latency-chart") => match &args[1..] {
            [path] => Ok(Command::LatencyChart(path.clone())),
            _ => Err("latency-chart takes the path of a results.csv".into()),
        },
        Some("host-chart") => match &args[1..] {
            [path] => Ok(Command::HostChart(path.clone())),
            _ => Err("host-chart takes the path of a host benchmarks' CSV".into()),
        },
        _ => parse(args).map(Command::Bench),
    }
}

/// The variants run when `--variants` names none.
const DEFAULT_VARIANTS: &[&str] = &[
    "polled",
    "polled-4k",
    "interrupts",
    "shadow",
    "kernel",
    "kernel-iopoll",
    "kernel-sqpoll",
];

/// The variants run only when `--variants` names them.
const OTHER_VARIANTS: &[&str] = &["spdk", "ublk"];

/// The variants of `list` (comma-separated), each checked to be one nvme-bench has.
fn variants(list: &str) -> Result<Vec<String>, String> {
    list.split(',')
        .map(|variant| {
            if DEFAULT_VARIANTS.contains(&variant) || OTHER_VARIANTS.contains(&variant) {
                Ok(variant.to_owned())
            } else {
                Err(format!(
                    "--variants: no variant `{variant}` (the variants: {},{})",
                    DEFAULT_VARIANTS.join(","),
                    OTHER_VARIANTS.join(",")
                ))
            }
        })
        .collect()
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        drydock: "0000:00:04.0".into(),
        kernel: "0000:00:05.0".into(),
        seconds: 5.0,
        warmup: 1.0,
        region_mib: 64,
        variants: DEFAULT_VARIANTS.iter().map(|v| v.to_string()).collect(),
        only: None,
        out: None,
        repeat: 1,
        spdk: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned().ok_or(format!("{arg} needs a value"));
        let number = |text: String| {
            text.parse::<f64>()
                .map_err(|_| format!("{arg}: not a number: {text}"))
        };
        match arg.as_str() {
            "--drydock" => options.drydock = value()?,
            "--kernel" => options.kernel = value()?,
            "--seconds" => options.seconds = number(value()?)?,
            "--warmup" => options.warmup = number(value()?)?,
            "--region" => options.region_mib = number(value()?)? as u64,
            "--variants" => options.variants = variants(&value()?)?,
            "--only" => options.only = Some(value()?),
            "--out" => options.out = Some(value()?),
            "--repeat" => options.repeat = (number(value()?)? as usize).max(1),
            "--spdk" => options.spdk = Some(value()?),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Ok(options)
}

/// The workloads of the matrix.
fn workloads(options: &Options) -> Vec<Workload> {
    let mut list = Vec::new();
    for op in [Op::Read, Op::Write] {
        for depth in [1, 32] {
            for queues in [1, 2] {
                let workload = Workload {
                    op,
                    depth,
                    queues,
                    duration: Duration::from_secs_f64(options.seconds),
                    warmup: Duration::from_secs_f64(options.warmup),
                    region: options.region_mib << 20,
                };
                if options
                    .only
                    .as_ref()
                    .is_none_or(|only| workload.name().contains(only.as_str()))
                {
                    list.push(workload);
                }
            }
        }
    }
    list
}

/// Prints a progress line that rewrites itself.
struct Progress {
    index: usize,
    total: usize,
}

impl Progress {
    fn run(
        &mut self,
        label: &str,
        workload: &Workload,
        f: impl FnOnce(&(dyn Fn(u64) + Sync)) -> Result<Measurement, String>,
    ) -> Result<Measurement, String> {
        self.index += 1;
        let start = Instant::now();
        let prefix = format!(
            "[{:2}/{}] {label:<32} {:<18}",
            self.index,
            self.total,
            workload.name()
        );
        let show = |ios: u64| {
            let t = start.elapsed().as_secs_f64();
            let measured = (t - workload.warmup.as_secs_f64()).max(0.0);
            eprint!(
                "\r{prefix} {t:5.1} s  {ios:8} I/Os  {:8.0} IOPS   ",
                ios as f64 / measured.max(1e-3)
            );
        };
        let result = f(&show);
        match &result {
            Ok(m) => eprintln!(
                "\r{prefix} {:8.0} IOPS  mean {:7.1} µs  p99 {:7.1} µs  errors {}      ",
                m.iops(),
                m.latency.mean_us,
                m.latency.p99_us,
                m.errors
            ),
            Err(e) => eprintln!("\r{prefix} failed: {e}"),
        }
        result
    }
}

/// The 2 MiB huge pages nvme-bench reserves for drydock's DMA memory, if fewer are.
const HUGE_PAGES: u64 = 32;

/// The poll queues nvme-bench gives the kernel's nvme driver for its polled variants.
const POLL_QUEUES: u32 = 1;

/// How a drydock driver instance is set up for its runs.
#[derive(Clone, Copy)]
struct Instance {
    /// With shadow doorbells.
    shadow: bool,
    /// The pages of its DMA memory.
    pages: PagePolicy,
}

fn bench(options: &Options) -> Result<(), String> {
    let workloads = workloads(options);
    let wants = |v: &str| options.variants.iter().any(|w| w == v);
    if wants("ublk") {
        ublk::available()?;
    }
    let drydock_modes: Vec<&str> = ["polled", "interrupts"]
        .into_iter()
        .filter(|m| wants(m))
        .collect();
    let kernel_modes: Vec<Mode> = [
        ("kernel", Mode::Interrupts),
        ("kernel-iopoll", Mode::Iopoll),
        ("kernel-sqpoll", Mode::Sqpoll),
    ]
    .into_iter()
    .filter(|(variant, _)| wants(variant))
    .map(|(_, mode)| mode)
    .collect();
    let per_workload = drydock_modes.len()
        + usize::from(wants("polled-4k"))
        + usize::from(wants("shadow"))
        + usize::from(wants("ublk"))
        + kernel_modes.len();
    let spdk_runs = workloads.iter().filter(|w| w.queues == 1).count();
    let mut progress = Progress {
        index: 0,
        total: options.repeat
            * (workloads.len() * per_workload + usize::from(wants("spdk")) * spdk_runs),
    };
    let mut notes = Vec::new();
    let mut note = |text: String| {
        eprintln!("nvme-bench: {text}");
        notes.push(text);
    };
    // The kernel's polled variants need poll queues, which its interrupt-driven one does not
    // use: one controller setup serves all three.
    let (_poll_queues, kernel_device) = if kernel_modes.is_empty() {
        (None, None)
    } else if kernel_modes.iter().any(|m| *m != Mode::Interrupts) {
        let (poll, device) = PollQueues::enable(&options.kernel, POLL_QUEUES)?;
        note(poll.summary.clone());
        (Some(poll), Some(device))
    } else {
        (None, Some(uring::block_device(&options.kernel)?))
    };
    let uses_drydock = !drydock_modes.is_empty() || wants("polled-4k") || wants("shadow");
    // The drydock variants other than `polled-4k` take huge pages, and fail rather than fall
    // back if there are none; without a reserve, they take what the pool finds.
    let mut huge = PagePolicy::Auto;
    let _reservation = uses_drydock.then(|| {
        let reservation = Reservation::make(HUGE_PAGES);
        if reservation.available {
            huge = PagePolicy::Huge;
        }
        note(format!(
            "{}; drydock's DMA memory: {} for `drydock polled, 4 KiB pages`, {} for the other \
             drydock variants",
            reservation.summary,
            "4 KiB pages (DRYDOCK_DMA_PAGES=base)",
            if reservation.available {
                "2 MiB huge pages (DRYDOCK_DMA_PAGES=huge)"
            } else {
                "what the pool finds (DRYDOCK_DMA_PAGES=auto: no huge page is free)"
            }
        ));
        reservation
    });
    note(match stats::clocksource() {
        Some(name) => format!(
            "The kernel's clock source: {name} (every timestamp reads it: `tsc` in the vDSO, \
             `hpet` through a system call and an MMIO read)"
        ),
        None => "The kernel's clock source is unknown (sysfs does not say)".into(),
    });
    note(match stats::irq_time_accounting() {
        Some(true) => "The kernel times interrupts exactly (CONFIG_IRQ_TIME_ACCOUNTING): the \
                       irq+softirq column is exact"
            .into(),
        Some(false) => "The kernel has no CONFIG_IRQ_TIME_ACCOUNTING (no irqtime_account_irq in \
                        /proc/kallsyms): the irq+softirq column is sampled at the tick, and \
                        interrupts count in the time of the task they interrupt"
            .into(),
        None => "Whether the kernel times interrupts exactly is unknown (/proc/kallsyms \
                 unreadable)"
            .into(),
    });
    // The controller stays with vfio-pci from the first drydock run to the end, when it goes
    // back to the driver it had, if this took it from one.
    let _binding = if uses_drydock || wants("spdk") || wants("ublk") {
        Some(VfioBinding::take(&options.drydock)?)
    } else {
        None
    };
    let mut page_use = PageUse::default();
    let spdk = match (wants("spdk"), &options.spdk) {
        (false, _) => None,
        (true, Some(path)) => Some(Spdk::new(path.into())?),
        (true, None) => return Err("the variant spdk needs --spdk PATH".into()),
    };
    let mut measurements = Vec::new();
    let mut queue_map = None;
    // Every variant of a workload runs back to back, so that a change in the load of the host
    // (a shared machine) falls on all of them alike; the matrix is repeated `--repeat` times.
    for _ in 0..options.repeat {
        for workload in &workloads {
            let mut drydock = |instance: Instance, modes: &[&str]| {
                drydock_runs(
                    options,
                    workload,
                    instance,
                    modes,
                    &mut progress,
                    &mut page_use,
                )
            };
            if !drydock_modes.is_empty() {
                let instance = Instance {
                    shadow: false,
                    pages: huge,
                };
                measurements.extend(drydock(instance, &drydock_modes)?);
            }
            if wants("polled-4k") {
                let instance = Instance {
                    shadow: false,
                    pages: PagePolicy::Base,
                };
                measurements.extend(drydock(instance, &["polled"])?);
            }
            // A driver instance of its own (probe: controller reset), as shadow doorbells cannot
            // be turned off without one.
            if wants("shadow") {
                let instance = Instance {
                    shadow: true,
                    pages: huge,
                };
                measurements.extend(drydock(instance, &["polled"])?);
            }
            if let Some(spdk) = spdk.as_ref().filter(|_| workload.queues == 1) {
                measurements
                    .push(progress.run(SPDK, workload, |_| spdk.run(&options.drydock, workload))?);
            }
            // Right before the kernel's interrupt-driven io_uring, its partner.
            if wants("ublk") {
                let (measurement, map) = ublk_run(options, workload, &mut progress)?;
                measurements.push(measurement);
                queue_map = Some(map);
            }
            if let Some(path) = &kernel_device {
                for &mode in &kernel_modes {
                    measurements.push(progress.run(mode.label(), workload, |show| {
                        uring::run(path, workload, mode, mode.label(), None, show)
                    })?);
                }
            }
        }
    }
    if uses_drydock {
        note(page_use.summary());
    }
    if let Some(map) = queue_map {
        note(format!(
            "`{UBLK}`: drydock's NVMe driver as a process (`nvme --ublk {}`: interrupt-driven \
             NVMe queues, ublk's user copy) serving the namespace as a ublk disk, started and \
             stopped (SIGTERM) for each workload, driven as `kernel io_uring` drives the \
             kernel's nvme; its process CPU column counts the serving process's threads too; \
             {map}; an io_uring thread's requests go to the hardware queue of the CPU it \
             submits on",
            options.drydock
        ));
    }

    let report = Report {
        measurements,
        setup: setup(options, &notes),
    };
    println!("{}", report.markdown());
    if let Some(out) = &options.out {
        report
            .write(std::path::Path::new(out))
            .map_err(|e| format!("writing the results to {out}: {e}"))?;
        if spdk.is_some() {
            let path = std::path::Path::new(out).join("spdk.md");
            std::fs::write(&path, spdk::versus(&report.measurements))
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        eprintln!("nvme-bench: results written to {out}");
    }
    Ok(())
}

/// Binds drydock's driver to the controller as `instance` says and runs `workload` in each of
/// `modes` ("polled", "interrupts"); records the huge pages in use in `page_use`.
fn drydock_runs(
    options: &Options,
    workload: &Workload,
    instance: Instance,
    modes: &[&str],
    progress: &mut Progress,
    page_use: &mut PageUse,
) -> Result<Vec<Measurement>, String> {
    huge_pages::select(instance.pages);
    let device = Drydock::open(&options.drydock)?;
    device.with(|dev, ctrl| {
        if instance.shadow {
            ctrl.enable_shadow_doorbells(dev)
                .map_err(|e| format!("enabling shadow doorbells: {e:?}"))?;
        }
        let mut measurements = Vec::new();
        for mode in modes {
            let interrupts = *mode == "interrupts";
            let label = match (instance.shadow, interrupts, instance.pages) {
                (true, _, _) => "drydock polled, shadow doorbells",
                (false, true, _) => "drydock interrupts",
                (false, false, PagePolicy::Base) => "drydock polled, 4 KiB pages",
                (false, false, _) => "drydock polled",
            };
            measurements.push(progress.run(label, workload, |show| {
                drydock::run(dev, ctrl, workload, interrupts, label, show)
            })?);
        }
        // The driver's DMA chunks are still mapped.
        page_use.sample(instance.pages);
        Ok(measurements)
    })?
}

/// Starts drydock's NVMe driver serving the `--drydock` controller as a ublk disk, runs
/// `workload` on the disk as the kernel's interrupt-driven io_uring variant runs it on the
/// kernel's nvme (counting the serving process's CPU time as the run's), checks that the disk
/// completed the I/Os measured, and stops the process. Returns the measurement and the disk's
/// queue map ([`UblkDisk::queue_map`]).
fn ublk_run(
    options: &Options,
    workload: &Workload,
    progress: &mut Progress,
) -> Result<(Measurement, String), String> {
    let disk = UblkDisk::start(&options.drydock)?;
    let map = disk.queue_map();
    let server = disk.server()?;
    let before = disk.completed()?;
    let measurement = progress
        .run(UBLK, workload, |show| {
            uring::run(
                &disk.path(),
                workload,
                Mode::Interrupts,
                UBLK,
                Some(server),
                show,
            )
        })
        .map_err(|e| format!("{e}; the log of `nvme --ublk`:\n{}", disk.log()))?;
    let after = disk.completed()?;
    let through = match workload.op {
        Op::Read => after.0 - before.0,
        Op::Write => after.1 - before.1,
    };
    // The disk also completed the warm-up's I/Os, which the measurement leaves out.
    if through < measurement.ios {
        return Err(format!(
            "{} completed {through} {} while io_uring measured {}: the I/O did not go through \
             the disk",
            disk.path().display(),
            workload.op,
            measurement.ios
        ));
    }
    disk.stop()?;
    Ok((measurement, map))
}

/// A description of the machine, the options and what nvme-bench set up (`notes`), for the
/// results file.
fn setup(options: &Options, notes: &[String]) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let release = read("/proc/sys/kernel/osrelease");
    format!(
        "Kernel {}, {cpus} CPU(s) ({model}). drydock's driver on {} (VFIO), the kernel's nvme \
         driver on {} (io_uring, O_DIRECT, registered buffers and file). 4 KiB random I/O over \
         the first {} MiB, {} s measured after {} s of warm-up per run; one thread per queue; \
         every variant of a workload back to back, the matrix {} time(s). {}.",
        release.trim(),
        options.drydock,
        options.kernel,
        options.region_mib,
        options.seconds,
        options.warmup,
        options.repeat,
        notes.join(". ")
    ) + if options.variants.iter().any(|v| v == "spdk") {
        spdk::SETUP
    } else {
        ""
    }
}

/// Prints the SVG chart `draw` draws of the run whose `results.csv` is at `path`.
fn chart(path: &str, draw: fn(&Report) -> String) -> Result<(), String> {
    let csv = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    print!("{}", draw(&Report::from_csv(&csv)?));
    Ok(())
}

/// Prints the SVG chart of the host benchmarks whose CSV is at `path`.
fn host_chart(path: &str) -> Result<(), String> {
    let csv = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    print!("{}", nvme_bench::host::svg(&csv)?);
    Ok(())
}

/// The data-integrity check: `ios` I/Os on the controller at `address`.
fn integrity_main(address: &str, ios: u64) -> Result<(), String> {
    let device = Drydock::open(address)?;
    let report = device.with(|dev, ctrl| {
        integrity::run(dev, ctrl, ios, 0x5eed, &|done| {
            eprint!("\rintegrity: {done} I/Os");
        })
    })??;
    eprintln!();
    println!("{report:#?}");
    if report.mismatches > 0 || report.errors > 0 {
        return Err(format!(
            "{} mismatches, {} errors",
            report.mismatches, report.errors
        ));
    }
    Ok(())
}

/// Keeps 32 random 4 KiB writes in flight on the controller at `address` until killed; says
/// "hammering" on standard output once I/O runs.
fn hammer(address: &str) -> Result<(), String> {
    let device = Drydock::open(address)?;
    device.with(|dev, ctrl| {
        let workload = Workload {
            op: Op::Write,
            depth: 32,
            queues: 1,
            duration: Duration::from_secs(24 * 3600),
            warmup: Duration::ZERO,
            region: ctrl.namespace().blocks * ctrl.namespace().block_size() as u64,
        };
        drydock::run(dev, ctrl, &workload, true, "hammer", &|ios| {
            if ios > 0 {
                println!("hammering: {ios} I/Os");
            }
        })
        .map(|_| ())
    })?
}
