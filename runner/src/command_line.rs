//! The command line of a driver process.
//!
//! Every driver binary takes the same arguments, in the spirit of `insmod` plus a device list:
//!
//! ```text
//! DRIVER [--uio] [--trap-bars] [DRIVER-FLAGS...] [BDF...] [PARAM=VALUE...]
//! ```
//!
//! - `BDF`s (`0000:00:04.0` or `00:04.0`) name the devices to drive; without any, every device
//!   bound to vfio-pci (or uio_pci_generic with `--uio`) is opened and the driver's ID table picks;
//! - `PARAM=VALUE` (or `MODULE.PARAM=VALUE`) sets a module parameter, as `insmod` does;
//! - `--uio` uses the UIO backend (no IOMMU, no DMA isolation) instead of VFIO;
//! - `--trap-bars` reaches BARs with `pread`/`pwrite` instead of mapping them;
//! - flags a binary declares for itself (such as a demo mode) are passed back to it.
//!
//! [`parse`] turns the arguments into [`Options`] for the runtime, and [`main`] is the whole `main`
//! of a driver binary that needs nothing else.

use std::process::ExitCode;

use drydock_host::module::ModuleDescriptor;
use drydock_host::pci_id::parse_bdf;
use drydock_host::vfio::VfioOptions;

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
    /// The arguments are wrong: print this on standard error and exit with status 64.
    Usage(String),
}

/// Parses `args` (without the program name) for `module`, setting its parameters.
pub fn parse(
    module: &'static ModuleDescriptor,
    args: impl IntoIterator<Item = String>,
    extra: &[ExtraFlag],
) -> Result<CommandLine, Exit> {
    let mut vfio = VfioOptions::default();
    let mut uio = false;
    let mut addresses = Vec::new();
    let mut flags = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Err(Exit::Help(usage(module, extra))),
            "--uio" => uio = true,
            "--trap-bars" => vfio.trap_bars = true,
            flag if flag.starts_with('-') => match extra.iter().find(|(name, _)| *name == flag) {
                Some((name, _)) => flags.push(*name),
                None => {
                    return Err(Exit::Usage(format!(
                        "unknown option `{flag}`; `{} --help` lists the options",
                        module.info.name
                    )))
                }
            },
            param if param.contains('=') => module.set_param(param).map_err(Exit::Usage)?,
            address => {
                if parse_bdf(address).is_none() {
                    return Err(Exit::Usage(format!(
                        "`{address}` is not a PCI address (DDDD:BB:DD.F or BB:DD.F), a PARAM=VALUE \
                         or an option; `drydock list` shows the addresses"
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

/// The `--help` text for `module`.
pub fn usage(module: &'static ModuleDescriptor, extra: &[ExtraFlag]) -> String {
    let info = &module.info;
    let mut text = format!(
        "{name}: {description}\n\n\
         Usage: {name} [OPTIONS] [BDF...] [PARAM=VALUE...]\n\n\
         Drives the given PCI devices (by default every device bound to vfio-pci that the driver \
         supports) until SIGINT or SIGTERM, then releases them; a device the kernel asks back \
         (removed, or unbound from vfio-pci) is released at once, and the program ends when none \
         is left.\n\n\
         Options:\n  \
         --uio         use uio_pci_generic instead of vfio-pci (no IOMMU, no DMA isolation)\n  \
         --trap-bars   reach BARs with pread/pwrite instead of mapping them\n",
        name = info.name,
        description = info.description,
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
        "\nEnvironment:\n  \
         DRYDOCK_LOG             log filter (`debug`, `warn,drydock=debug`...)\n  \
         {:<23} where to mount the module's debugfs files, or `off` (default \
         /run/drydock/debugfs/MODULE.PID)\n  \
         {:<23} the directory searched first for firmware files (overrides \
         firmware_class.path)\n",
        drydock_host::debugfs::MOUNT_ENV,
        drydock_host::firmware::PATH_ENV,
    );
    text
}

/// The whole `main` of a driver binary: parses the command line and runs the module.
pub fn main(module: &'static ModuleDescriptor) -> ExitCode {
    match parse(module, std::env::args().skip(1), &[]) {
        Ok(command) => run(module, command.options),
        Err(exit) => exit.report(),
    }
}

impl Exit {
    /// Prints the message where it belongs and returns the exit code.
    pub fn report(self) -> ExitCode {
        match self {
            Exit::Help(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Exit::Usage(message) => {
                eprintln!("error: {message}");
                ExitCode::from(64)
            }
        }
    }
}
