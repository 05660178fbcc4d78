//! The kernel's polled NVMe path: poll queues for the nvme driver.
//!
//! io_uring's `IORING_SETUP_IOPOLL` polls a completion queue only if the nvme driver created
//! queues without interrupts for it: `poll_queues` of the `nvme` module. The parameter is writable
//! at run time whether the driver is a module or built in (`/sys/module/nvme/parameters/`), but
//! the driver sizes a controller's queue maps once, when it probes the controller (a reset does
//! not add poll queues to a controller probed without). So [`PollQueues::enable`] sets it,
//! unbinds the controller from the driver and binds it again, and checks that the namespace's
//! queue now polls (`queue/io_poll`): without poll queues an `IOPOLL` ring still works, but
//! completes through interrupts, and its rows would be mislabelled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drydock_host::sysfs::Sysfs;

use crate::uring::{block_device, NVME};

/// The nvme driver's parameter.
const PARAMETER: &str = "/sys/module/nvme/parameters/poll_queues";

/// Poll queues set up on a controller of the kernel's nvme driver. Dropping it puts the
/// parameter back as it was (the controller keeps its poll queues until its next reset).
pub struct PollQueues {
    /// The parameter's value before, if this changed it.
    previous: Option<String>,
    /// What was done, in a sentence for the results.
    pub summary: String,
}

impl PollQueues {
    /// Gives the controller at `address` (bound to the nvme driver) `queues` poll queues unless
    /// it polls already; returns them with the namespace's block device (`/dev/nvmeXnY`).
    pub fn enable(address: &str, queues: u32) -> Result<(Self, PathBuf), String> {
        let device = block_device(address)?;
        if read(&io_poll_attribute(&device)?)? == "1" {
            let summary = format!(
                "The kernel's nvme driver polls {} already (poll_queues={})",
                device.display(),
                read(Path::new(PARAMETER)).unwrap_or_else(|_| "?".into())
            );
            let this = Self {
                previous: None,
                summary,
            };
            return Ok((this, device));
        }
        let previous = read(Path::new(PARAMETER))?;
        write(Path::new(PARAMETER), &queues.to_string())?;
        let this = Self {
            previous: Some(previous.clone()),
            summary: format!(
                "nvme-bench set the nvme driver's poll_queues from {previous} to {queues} and \
                 bound {address} to the driver again to apply it"
            ),
        };
        let sysfs = Sysfs::system();
        let rebind = sysfs
            .unbind(address)
            .and_then(|()| sysfs.bind(address, NVME));
        rebind.map_err(|e| format!("binding {address} to {NVME} again: {e}"))?;
        let device = block_device(address)?;
        // The namespace's queue can appear a moment after its block device.
        let start = Instant::now();
        loop {
            match io_poll_attribute(&device).and_then(|path| read(&path)) {
                Ok(value) if value == "1" => return Ok((this, device)),
                _ if start.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                other => {
                    return Err(format!(
                        "{}'s queue does not poll with poll_queues={queues} (io_poll: {other:?})",
                        device.display()
                    ))
                }
            }
        }
    }
}

impl Drop for PollQueues {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            if let Err(e) = write(Path::new(PARAMETER), previous) {
                eprintln!("nvme-bench: putting poll_queues back: {e}");
            }
        }
    }
}

/// `queue/io_poll` of the block device at `path` (`/dev/nvmeXnY`).
fn io_poll_attribute(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} names no block device", path.display()))?;
    Ok(Path::new("/sys/block").join(name).join("queue/io_poll"))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|e| format!("reading {}: {e}", path.display()))
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}
