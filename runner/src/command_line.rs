//! The command line of a driver process.
//!
//! Every driver binary takes the same arguments, in the spirit of `insmod` plus a device list:
//!
//! ```text
//! DRIVER [--uio] [--vfio=group|cdev] [--trap-bars] [DRIVER-FLAGS...] [BDF...] [PARAM=VALUE...]
//! ```
//!
//! - `BDF`s (`0000:00:04.0` or `00:04.0`) name the devices to drive; without any, every device
//!   bound to vfio-pci (or uio_pci_generic with `--uio`) is opened and the driver's ID table picks;
//! - `PARAM=VALUE` (or `MODULE.PARAM=VALUE`) sets a module parameter, as `insmod` does;
//! - `--uio` uses the UIO backend (no IOMMU, no DMA isolation) instead of VFIO;
//! - `--vfio=group` or `--vfio=cdev` forces VFIO's group interface or its device cdev with
//!   iommufd (by default drydock takes the cdev where the kernel offers it; `--vfio=auto` leaves
//!   the choice to `DRYDOCK_VFIO_INTERFACE`, else to drydock);
//! - `--trap-bars` reaches BARs with `pread`/`pwrite` instead of mapping them;
//! - flags a binary declares for itself (such as a demo mode) are passed back to it.
//!
//! [`parse`] turns the arguments into [`Options`] for the runtime, and [`main`] is the whole `main`
//! of a driver binary that needs nothing else. Help and messages name the binary (`nvme`), which
//! is what the user typed, not the module (`drydock_nvme`). A bad command line exits with status 2,
//! as the `drydock` command does ([`drydock_host::exit_status`]).

use std::path::Path;
use std::process::ExitCode;

use drydock_host::exit_status;
use drydock_host::log_filter;
use drydock_host::module::ModuleDescriptor;
use drydock_host::pci_id::parse_bdf;
use drydock_host::vfio::{Interface, VfioOptions};

use crate::runtime::{run, Backend, Devices, Options};

/// A flag a driver binary adds to the common ones: its spelling and its help line.
pub type ExtraFlag = (&'static str, &'static str);

/// A parsed command line.
pub struct CommandLine {
    /// What the runtime should open.
    pub options: Options,
    /// The binary's own flags that were given.
    pub flags: Vec<&'static str>,
}

impl CommandLine {
    /// Whether the binary's own flag `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// The outcome of parsing that is not a command line to run.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// `--help` was asked for: print this and exit successfully.
    Help(String),
    /// The arguments are wrong: print this on standard error and exit with status 2
    /// ([`exit_status::USAGE`]).
    Usage(String),
}

/// The name a binary was run as: the file name of `argv[0]` (`nvme`), or `fallback` when there
/// is none.
pub fn program_name(fallback: &str) -> String {
    std::env::args_os()
        .next()
        .and_then(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| fallback.to_owned())
}

/// Parses `args` (without the program name) for `module`, setting its parameters. `program` is
/// the binary's name, for the help and the messages.
pub fn parse(
    module: &'static ModuleDescriptor,
    program: &str,
    args: impl IntoIterator<Item = String>,
    extra: &[ExtraFlag],
) -> Result<CommandLine, Exit> {
    let mut vfio = VfioOptions::default();
    let mut uio = false;
    let mut addresses = Vec::new();
    let mut flags = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Err(Exit::Help(usage(module, program, extra))),
            "--uio" => uio = true,
            "--trap-bars" => vfio.trap_bars = true,
            choice if choice.starts_with("--vfio=") => {
                let text = &choice["--vfio=".len()..];
                vfio.interface = Interface::parse_choice(text).ok_or_else(|| {
                    Exit::Usage(format!(
                        "`{choice}` names no VFIO interface: write --vfio=group, --vfio=cdev or \
                         --vfio=auto"
                    ))
                })?;
            }
            flag if flag.starts_with('-') => match extra.iter().find(|(name, _)| *name == flag) {
                Some((name, _)) => flags.push(*name),
                None => {
                    return Err(Exit::Usage(format!(
                        "unknown option `{flag}`; `{program} --help` lists the options"
                    )))
                }
            },
            param if param.contains('=') => module
                .set_param(param)
                .map_err(|err| Exit::Usage(format!("{err}; `{program} --help` lists them")))?,
            address => {
                if parse_bdf(address).is_none() {
                    return Err(Exit::Usage(format!(
                        "`{address}` is not a PCI address (DDDD:BB:DD.F or BB:DD.F), a PARAM=VALUE \
                         or an option; `drydock list` shows the addresses, `{program} --help` the \
                         options"
                    )));
                }
                let full = if address.matches(':').count() == 1 {
                    format!("0000:{address}")
                } else {
                    address.to_owned()
                };
                addresses.push(full.to_ascii_lowercase());
            }
        }
    }
    let options = Options {
        backend: if uio {
            Backend::Uio
        } else {
            Backend::Vfio(vfio)
        },
        devices: if addresses.is_empty() {
            Devices::All
        } else {
            Devices::Addresses(addresses)
        },
        ..Options::default()
    };
    Ok(CommandLine { options, flags })
}

/// The `--help` text of `program`, the binary of `module`.
pub fn usage(module: &'static ModuleDescriptor, program: &str, extra: &[ExtraFlag]) -> String {
    let info = &module.info;
    let mut text = format!(
        "{program}: {description} (module {module})\n\n\
         Usage: {program} [OPTIONS] [BDF...] [PARAM=VALUE...]\n\n\
         Drives the given PCI devices (by default every device bound to vfio-pci that the driver\n\
         supports) until SIGINT or SIGTERM, then releases them; a device the kernel asks back\n\
         (removed, or unbound from vfio-pci) is released at once, and the program ends when none\n\
         is left. PARAM=VALUE sets a module parameter, as `insmod {module}.ko PARAM=VALUE` does.\n\n\
         Options:\n  \
         --uio         use uio_pci_generic instead of vfio-pci (no IOMMU, no DMA isolation)\n  \
         --vfio=IFACE  VFIO's interface: `group`, `cdev` (the device cdev with iommufd),\n  \
         {:<13} or `auto` (the default: the cdev where the kernel offers it)\n  \
         --trap-bars   reach BARs with pread/pwrite instead of mapping them\n",
        "",
        description = info.description,
        module = info.name,
    );
    for (flag, help) in extra {
        text += &format!("  {flag:<13} {help}\n");
    }
    text += "  -h, --help    print this help\n";
    if !info.params.is_empty() {
        text += "\nModule parameters:\n";
        for param in info.params {
            text += &format!(
                "  {:<13} {} ({})\n",
                param.name, param.description, param.type_name
            );
        }
    }
    text += &format!(
        "\nLog level:\n{}\n\
         Environment:\n  \
         {:<20} VFIO's interface when --vfio does not say: `group`, `cdev` or `auto`\n  \
         {:<20} where to mount the module's debugfs files, or `off`\n  \
         {:<20} (default /run/drydock/debugfs/MODULE.PID)\n  \
         {:<20} where to mount the module's configfs subsystems, or `off`\n  \
         {:<20} (default /run/drydock/configfs/MODULE.PID)\n  \
         {:<20} the directory searched first for firmware files\n  \
         {:<20} (before firmware_class.path)\n  \
         {:<20} `off`: the module's misc devices stay inside the process\n  \
         {:<20} (default: /dev/NAME through CUSE)\n\n\
         State: while it runs, its debugfs files hold drydock/devices, drydock/interrupts and\n\
         drydock/dma: the devices it drives, the interrupts of each vector, the DMA memory it\n\
         holds (`cat /run/drydock/debugfs/{}.PID/drydock/interrupts`).\n\n\
         Exit status: 0 stopped by a signal after a clean teardown, 1 failed (no device to\n\
         drive, a device that could not be opened), 2 bad command line, 70 a panic (a bug).\n",
        log_filter::HELP,
        drydock_host::vfio::INTERFACE_ENV,
        drydock_host::debugfs::MOUNT_ENV,
        "",
        drydock_host::configfs::MOUNT_ENV,
        "",
        drydock_host::firmware::PATH_ENV,
        "",
        drydock_host::miscdevice::CUSE_ENV,
        "",
        info.name,
    );
    text
}

/// The whole `main` of a driver binary: parses the command line and runs the module.
pub fn main(module: &'static ModuleDescriptor) -> ExitCode {
    let program = program_name(module.info.name);
    match parse(module, &program, std::env::args().skip(1), &[]) {
        Ok(command) => run(module, command.options),
        Err(exit) => exit.report(),
    }
}

impl Exit {
    /// The exit status: [`exit_status::SUCCESS`] for help, [`exit_status::USAGE`] for a bad
    /// command line.
    pub fn status(&self) -> u8 {
        match self {
            Exit::Help(_) => exit_status::SUCCESS,
            Exit::Usage(_) => exit_status::USAGE,
        }
    }

    /// Prints the message where it belongs (a usage error as one line, `error: ...`) and returns
    /// the exit code.
    pub fn report(self) -> ExitCode {
        let status = self.status();
        match self {
            Exit::Help(text) => print!("{text}"),
            Exit::Usage(message) => eprintln!("error: {message}"),
        }
        ExitCode::from(status)
    }
}
