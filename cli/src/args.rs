//! The command line: subcommands, options and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// What `drydock --help` shows after the command list.
const AFTER_HELP: &str = "\
Examples:
  drydock list --class net                  network devices (dpdk-devbind.py --status-dev net)
  drydock bind 0000:01:00.0                 hand a device to vfio-pci (dpdk-devbind.py -b vfio-pci)
  drydock bind --driver uio_pci_generic 01:00.0
  drydock unbind 0000:01:00.0               give it back to its kernel driver (setup.sh reset)
  drydock unbind --all                      give back every device drydock took
  drydock check 0000:01:00.0                is everything in place to drive it? (setup.sh status)

Devices are named by PCI address, DDDD:BB:DD.F (the domain may be left out: BB:DD.F).
Binding needs root. The drivers devices had are remembered in /run/drydock, so `unbind` works
from any later invocation until the next boot. Exit status: 0 done (check: ready), 1 refused or
failed (check: not ready), 2 bad command line.";

/// List PCI devices, hand them to vfio-pci or uio_pci_generic and back, and check that a
/// userspace driver can run.
#[derive(Debug, Parser)]
#[command(name = "drydock", version, after_help = AFTER_HELP, arg_required_else_help = true)]
pub struct Cli {
    /// Read and write the sysfs and procfs trees under DIR instead of / (for inspecting a copied
    /// tree; nothing reacts to writes there).
    #[arg(long, value_name = "DIR", global = true, hide = true)]
    pub root: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show PCI devices: address, IDs and names, class, driver, IOMMU group and whether the group
    /// is usable through VFIO (like `dpdk-devbind.py --status`, `lspci -k`, `driverctl
    /// list-devices`)
    #[command(visible_alias = "status")]
    List(ListArgs),

    /// Hand devices to a userspace driver: vfio-pci (default) or uio_pci_generic (like
    /// `dpdk-devbind.py --bind`, `driverctl set-override`, SPDK's `setup.sh`)
    #[command(after_help = "\
The driver's module is loaded if needed. Each device's current driver is remembered, and
driver_override is set so that only the userspace driver may take the device, even after a
rescan. A device in use is refused (a mounted filesystem or the root filesystem on it, swap,
a network interface that is up, a process holding its VFIO or UIO node) unless --force is given.
For vfio-pci, every device in the IOMMU group must leave its kernel driver: drydock names the
others and binds them only with --group (or when they are named too).")]
    Bind(BindArgs),

    /// Give devices back to the driver they had before `drydock bind` (like `setup.sh reset`,
    /// `driverctl unset-override`; `dpdk-devbind.py --unbind` leaves them without a driver)
    #[command(after_help = "\
A device drydock has no record of (bound by hand or by another tool) is offered to the kernel's
drivers, as a fresh probe would; a device on its kernel driver is left alone.")]
    Unbind(UnbindArgs),

    /// Tell whether a driver process can run here, and how to fix each problem (like SPDK's
    /// `setup.sh status`, with fixes); exit status 0 only when ready
    #[command(after_help = "\
Checks the IOMMU (enabled, and why not), interrupt remapping, the vfio-pci or uio_pci_generic
driver, /dev/vfio permissions for the current user, RLIMIT_MEMLOCK against one DMA chunk (2 MiB),
huge pages, and UIO. With a device: its driver, its IOMMU group's viability and its node.")]
    Check(CheckArgs),
}

/// `drydock list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only devices of this class: a hex prefix of the class code (`02`, `0108`, `010802`) or a
    /// name: net, storage, nvme, display, bridge, serial-bus, crypto, accel, other
    #[arg(long, short = 'c', value_name = "CLASS")]
    pub class: Option<String>,

    /// Only devices of this vendor (hex, `8086`), or vendor and device (`8086:10d3`)
    #[arg(long, short = 'v', value_name = "VENDOR[:DEVICE]")]
    pub vendor: Option<String>,

    /// Only devices bound to this driver (`none` for devices without one)
    #[arg(long, short = 'd', value_name = "DRIVER")]
    pub driver: Option<String>,

    /// Print a JSON array, one object per device, for scripts
    #[arg(long)]
    pub json: bool,

    /// Take vendor, device and class names from this pci.ids file (default: the system's, from
    /// /usr/share/misc or /usr/share/hwdata)
    #[arg(long, value_name = "FILE")]
    pub pci_ids: Option<PathBuf>,
}

/// `drydock bind`.
#[derive(Debug, Args)]
pub struct BindArgs {
    /// The devices, by PCI address (DDDD:BB:DD.F or BB:DD.F)
    #[arg(value_name = "BDF", required = true)]
    pub devices: Vec<String>,

    /// The userspace driver: vfio-pci (behind the IOMMU) or uio_pci_generic (no DMA isolation)
    #[arg(
        long,
        short = 'd',
        short_alias = 'b',
        value_name = "DRIVER",
        default_value = "vfio-pci"
    )]
    pub driver: String,

    /// Also bind the other devices of each IOMMU group that keep it from being usable by VFIO
    #[arg(long)]
    pub group: bool,

    /// Take devices even if they are in use, and leave an IOMMU group unusable rather than
    /// refuse
    #[arg(long)]
    pub force: bool,
}

/// `drydock unbind`.
#[derive(Debug, Args)]
pub struct UnbindArgs {
    /// The devices, by PCI address
    #[arg(value_name = "BDF", required_unless_present = "all")]
    pub devices: Vec<String>,

    /// Give back every device drydock took and has not given back
    #[arg(long, conflicts_with = "devices")]
    pub all: bool,

    /// Also give back the other devices of each device's IOMMU group that drydock took
    #[arg(long)]
    pub group: bool,
}

/// `drydock check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A device to check as well, by PCI address
    #[arg(value_name = "BDF")]
    pub device: Option<String>,

    /// The userspace driver to check for: vfio-pci or uio_pci_generic
    #[arg(long, short = 'd', value_name = "DRIVER", default_value = "vfio-pci")]
    pub driver: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
