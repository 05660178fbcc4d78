//! The command line: subcommands, options and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// What `drydock --help` shows after the command list.
const AFTER_HELP: &str = "\
Examples:
  drydock list --class net         network devices (dpdk-devbind.py --status-dev net)
  drydock list -d 8086:            Intel devices (-s and -d as lspci takes them)
  drydock bind 0000:01:00.0        hand a device to vfio-pci (dpdk-devbind.py -b vfio-pci)
  drydock bind -n 01:00.0          say what binding would do, and change nothing
  drydock bind -b uio_pci_generic 01:00.0
  drydock bind --user alice 01:00.0  and alice runs its driver, without root
  drydock unbind 0000:01:00.0      give it back to its kernel driver (setup.sh reset)
  drydock unbind --all             give back every device drydock took
  drydock check 0000:01:00.0       is everything in place to drive it? (setup.sh status)

Devices are named by PCI address, DDDD:BB:DD.F (the domain may be left out: BB:DD.F). Binding
needs root. The drivers devices had are remembered in /run/drydock, so `unbind` works from any
later invocation until the next boot.

Exit status: 0 done (check: ready), 1 refused or failed (check: not ready), 2 bad command line,
70 a bug. RUST_LOG=debug (or DRYDOCK_LOG=debug) shows each change drydock makes in sysfs.";

/// Flags whose meaning changed, with what to write instead: (subcommand, old flag, advice).
/// `-d` now means what it means to `lspci`, vendor and device IDs, so it no longer names a
/// driver, and `-v` (lspci's "verbose") no longer names a vendor.
pub const RENAMED: &[(&str, &str, &str)] = &[
    (
        "list",
        "-v",
        "`-v VENDOR` is now `-d VENDOR:`, as lspci spells it, or `--ids VENDOR:`",
    ),
    (
        "bind",
        "-d",
        "`-d DRIVER` is now `-b DRIVER`, as dpdk-devbind.py spells it, or `--driver DRIVER`",
    ),
    ("check", "-d", "`-d DRIVER` is now `--driver DRIVER`"),
];

/// List PCI devices, hand them to vfio-pci or uio_pci_generic and back, and check that a
/// userspace driver can run.
#[derive(Debug, Parser)]
#[command(
    name = "drydock",
    version,
    after_help = AFTER_HELP,
    arg_required_else_help = true,
    max_term_width = 100
)]
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
others and binds them only with --group (or when they are named too). --user NAME hands the
devices' VFIO nodes (group node, device cdev, /dev/iommu) to NAME, so its driver needs no root;
`drydock check BDF` run as NAME says what else it lacks (RLIMIT_MEMLOCK).")]
    Bind(BindArgs),

    /// Give devices back to the driver they had before `drydock bind` (like `setup.sh reset`,
    /// `driverctl unset-override`; `dpdk-devbind.py --unbind` leaves them without a driver)
    #[command(after_help = "\
A device drydock has no record of (bound by hand or by another tool) is offered to the kernel's
drivers, as a fresh probe would; a device on its kernel driver is left alone. VFIO nodes handed to
a user with `bind --user` are given back to root first.")]
    Unbind(UnbindArgs),

    /// Tell whether a driver process can run here, and how to fix each problem (like SPDK's
    /// `setup.sh status`, with fixes); exit status 0 only when ready
    #[command(after_help = "\
Checks the IOMMU (enabled, and why not), interrupt remapping, the vfio-pci or uio_pci_generic
driver, /dev/vfio permissions for the current user, RLIMIT_MEMLOCK against what the driver locks
for DMA (one 2 MiB chunk, or what the drydock driver `--for` names locks per device), huge pages,
and UIO. With a device: its driver, its IOMMU group's viability and its node.")]
    Check(CheckArgs),

    /// Write a driver crate for a PCI device: a driver file that builds as a Linux 7.3 module
    /// too, tests on the simulated bus with a model of the device, and the driver's binary
    #[command(after_help = "\
For example: `drydock new drivers/mydev -d 1af4:1041` in drydock's checkout (a workspace member,
joining the kernel proof only when listed in tests/kernel/drivers), or `drydock new ~/mydev -d
8086:10d3` anywhere else (a workspace of its own depending on drydock by path, or by git with
--drydock URL). `cargo test` passes at once; the registers are placeholders to replace with the
device's. docs/new-driver.md goes from there to the VM and a kernel tree.")]
    New(NewArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output
    #[command(after_help = "\
For example: `drydock completions bash > /etc/bash_completion.d/drydock` (or into
~/.local/share/bash-completion/completions/drydock for one user);
`drydock completions zsh > \"${fpath[1]}/_drydock\"`;
`drydock completions fish > ~/.config/fish/completions/drydock.fish`.")]
    Completions(CompletionsArgs),

    /// Print the manual page, drydock(1), or a subcommand's, drydock-bind(1), in roff to standard
    /// output
    #[command(after_help = "\
For example: `drydock man | man -l -`, or `drydock man > /usr/local/share/man/man1/drydock.1`
and `drydock man bind > /usr/local/share/man/man1/drydock-bind.1`.")]
    Man(ManArgs),
}

/// `drydock list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only devices in this slot, as `lspci -s` takes it: `[[[[DOMAIN]:]BUS]:][DEV][.[FN]]` in
    /// hex, any part left out or `*` matching all (`00:04.0`, `04.0`, `00:04`, `.1`)
    #[arg(long, short = 's', value_name = "SLOT")]
    pub slot: Option<String>,

    /// Only devices with these IDs, as `lspci -d` takes them: `[VENDOR]:[DEVICE][:CLASS]` in hex,
    /// any part left out or `*` matching all (`8086:10d3`, `1af4:`, `:1041`)
    #[arg(long, short = 'd', value_name = "VENDOR:DEVICE", alias = "vendor")]
    pub ids: Option<String>,

    /// Only devices of this class: a hex prefix of the class code (`02`, `0108`, `010802`) or a
    /// name: net, storage, nvme, display, bridge, serial-bus, crypto, accel, other
    #[arg(long, short = 'c', value_name = "CLASS")]
    pub class: Option<String>,

    /// Only devices bound to this driver (`none` for devices without one)
    #[arg(long, value_name = "DRIVER")]
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
    #[arg(long, short = 'b', value_name = "DRIVER", default_value = "vfio-pci")]
    pub driver: String,

    /// Also bind the other devices of each IOMMU group that keep it from being usable by VFIO
    #[arg(long)]
    pub group: bool,

    /// Take devices even if they are in use, and leave an IOMMU group unusable rather than
    /// refuse
    #[arg(long)]
    pub force: bool,

    /// Say what binding would do (and refuse what it would refuse), and change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Give this user (and GROUP, if named; `:GROUP` for the group alone) the devices' VFIO
    /// nodes, so that a driver runs as them without root; `drydock unbind` takes them back
    #[arg(long, short = 'u', value_name = "NAME[:GROUP]")]
    pub user: Option<String>,
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
    #[arg(long, value_name = "DRIVER", default_value = "vfio-pci")]
    pub driver: String,

    /// The drydock driver that will run (edu, nvme): RLIMIT_MEMLOCK is checked against what it
    /// locks for DMA per device, instead of one 2 MiB chunk
    #[arg(long = "for", value_name = "PROGRAM")]
    pub program: Option<String>,

    /// Print the report as a JSON object, for scripts (docs/cli.md describes it)
    #[arg(long)]
    pub json: bool,
}

/// `drydock new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The crate's directory, new or empty; its last component names the crate, as for `cargo
    /// new` (in drydock's checkout: drivers/NAME)
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// The device's IDs, as lspci -n shows them: VENDOR:DEVICE in hex, and :CLASS (base class
    /// and subclass) when the kernel has no constant for the vendor
    #[arg(
        long,
        short = 'd',
        value_name = "VENDOR:DEVICE[:CLASS]",
        required = true
    )]
    pub ids: String,

    /// The crate's name, which is also the kernel module's (default: the directory's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The drydock the crate depends on: a checkout's path or a git URL (default: the checkout
    /// PATH is in, else the one this drydock was built from)
    #[arg(long, value_name = "PATH|URL")]
    pub drydock: Option<String>,
}

/// `drydock completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `drydock man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand, for its own page
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
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
