//! drydock's NVMe driver as a disk of the kernel: the driver's process (`nvme --ublk`) serving the
//! controller's namespace as `/dev/ublkbN`, which [`crate::uring`] drives as it drives the
//! kernel's nvme.
//!
//! A request of the disk goes from io_uring through the block layer (blk-mq) to the kernel's ublk
//! driver, which hands it to the process through io_uring (`UBLK_IO_FETCH_REQ`); the process
//! copies a write's data from the request's pages into the tag's DMA buffer (`pread` on
//! `/dev/ublkcN`, ublk's user copy), submits the command to its NVMe queue, and on the
//! controller's interrupt copies a read's data back (`pwrite`) and commits the result, which
//! completes the block request. [`UblkDisk::start`] starts the process, [`UblkDisk::stop`] stops
//! it with SIGTERM and checks the disk went with it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::stats::Server;

/// ublk's control device, which exists where the kernel has ublk.
pub const CONTROL: &str = "/dev/ublk-control";

/// The name of the NVMe driver's binary, beside `nvme-bench`'s.
pub const NVME: &str = "nvme";

/// How long the process may take to serve its disk (a controller reset and Identify, under TCG
/// about a second) and to exit after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(60);

/// Fails, saying what to do, unless the kernel has ublk ([`CONTROL`]).
pub fn available() -> Result<(), String> {
    if Path::new(CONTROL).exists() {
        return Ok(());
    }
    Err(format!(
        "the variant ublk needs the kernel's ublk driver, and this kernel has no {CONTROL}: it \
         takes Linux 6.5 or later built with CONFIG_BLK_DEV_UBLK (`modprobe ublk_drv` if it is \
         a module); in drydock's guest, `drydock-vm nvme-bench --profile kernel73` (Debian's \
         6.1 has no ublk)"
    ))
}

/// `nvme --ublk` serving a controller's namespace as a disk.
///
/// # Invariants
///
/// `child` is the process serving `name` (`/dev/<name>`) until [`UblkDisk::stop`] reaps it; a
/// thread reads its log (standard error) into `log` so that the pipe never fills.
pub struct UblkDisk {
    child: Child,
    name: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl UblkDisk {
    /// Starts the driver's process (the binary [`NVME`] beside this one) on the controller at
    /// `address`, which must be bound to vfio-pci, and waits for its disk to appear.
    pub fn start(address: &str) -> Result<Self, String> {
        let binary = std::env::current_exe()
            .map_err(|e| format!("cannot find own binary: {e}"))?
            .with_file_name(NVME);
        let mut child = Command::new(&binary)
            .args(["--ublk", address])
            // `served as` and `serves again` are logged at the info level.
            .env("DRYDOCK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().ok_or("no pipe from the driver")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, lines): (_, Receiver<String>) = mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line.clone());
                // Nobody listens once the disk is served.
                let _ = sender.send(line);
            }
        });
        let mut disk = Self {
            child,
            name: String::new(),
            log,
        };
        let deadline = Instant::now() + PATIENCE;
        // The process logs `<BDF>n<NSID>: served as /dev/ublkbN` once its disk started, or
        // `serves again /dev/ublkbN` once it took back a disk a killed server left (a run that
        // failed before this one stops its server with SIGKILL, and ublk keeps the disk for
        // recovery).
        disk.name = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let served = line
                        .split_once("served as /dev/")
                        .or_else(|| line.split_once("serves again /dev/"));
                    if let Some((_, name)) = served {
                        break name.trim().to_owned();
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "`nvme --ublk {address}` served no disk within {PATIENCE:?}; its log:\n{}",
                        disk.log()
                    ))
                }
            }
        };
        let path = disk.path();
        while !path.exists() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not appear within {PATIENCE:?}",
                    path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(disk)
    }

    /// The disk's block device, `/dev/ublkbN`.
    pub fn path(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }

    /// The serving process, whose CPU time counts as the run's.
    pub fn server(&self) -> Result<Server, String> {
        Server::new(self.child.id())
    }

    /// The reads and the writes the disk completed so far, each merged one counted
    /// (`/sys/block/<name>/stat`).
    pub fn completed(&self) -> Result<(u64, u64), String> {
        let path = Path::new("/sys/block").join(&self.name).join("stat");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let fields: Vec<u64> = text
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        match fields[..] {
            // Reads completed, merged, sectors, ms; the same of writes; ...
            [reads, merged_reads, _, _, writes, merged_writes, ..] => {
                Ok((reads + merged_reads, writes + merged_writes))
            }
            _ => Err(format!(
                "{}: not a block device's stat: {text}",
                path.display()
            )),
        }
    }

    /// The hardware queues of the disk and the CPUs blk-mq maps to each
    /// (`/sys/block/<name>/mq/<queue>/cpu_list`), in a sentence.
    pub fn queue_map(&self) -> String {
        let dir = Path::new("/sys/block").join(&self.name).join("mq");
        let mut queues: Vec<(u32, String)> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let queue = entry.file_name().to_str()?.parse().ok()?;
                let cpus = std::fs::read_to_string(entry.path().join("cpu_list")).ok()?;
                Some((queue, cpus.trim().to_owned()))
            })
            .collect();
        queues.sort();
        let map: Vec<String> = queues
            .iter()
            .map(|(queue, cpus)| match cpus.as_str() {
                "" => format!("queue {queue}: no CPU"),
                cpus => format!("queue {queue}: CPU {cpus}"),
            })
            .collect();
        format!(
            "{} has {} hardware queue(s), each served by an NVMe I/O queue of its own ({})",
            self.path().display(),
            queues.len(),
            map.join(", ")
        )
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Stops the process with SIGTERM, checks that it exited with status 0 and that its disk
    /// went.
    pub fn stop(mut self) -> Result<(), String> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's, not yet
        // reaped, so it names no other process.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!(
                "kill({pid}, SIGTERM): {}",
                std::io::Error::last_os_error()
            ));
        }
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "`nvme --ublk` did not exit within {PATIENCE:?} of SIGTERM; its log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            return Err(format!(
                "`nvme --ublk` exited with {status} after SIGTERM; its log:\n{}",
                self.log()
            ));
        }
        let sys = Path::new("/sys/block").join(&self.name);
        let gone = || !sys.exists() && !self.path().exists();
        while !gone() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} stayed after its driver exited",
                    self.path().display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for UblkDisk {
    /// A disk not stopped ([`UblkDisk::stop`]: a failed run) is killed; its disk stays, waiting
    /// for a process to take it back (ublk's user recovery), as after any killed `nvme --ublk`.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
