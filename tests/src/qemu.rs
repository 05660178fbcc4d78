//! The QEMU command line of a guest.
//!
//! q35 under TCG (KVM does not work on the project's machines) with an emulated Intel IOMMU
//! (interrupt remapping on, which VFIO requires), every device of
//! [`drydock_guest::layout::DEVICES`] at its fixed slot, and the two 9p shares. `-nodefaults`
//! keeps QEMU from adding devices of its own (a VGA card, a NIC).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_guest::layout::{Role, DEVICES, HOST_ROOT_TAG, RUN_DIR_TAG};

use crate::profile::Profile;

/// The QEMU binary, from the qemu-system-x86 package.
pub const QEMU: &str = "qemu-system-x86_64";

/// Where the guest's serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Into the run directory's console log.
    Captured,
    /// To this process's terminal, with QEMU's monitor multiplexed (Ctrl-A X quits).
    Interactive,
}

/// Everything the command line is built from.
#[derive(Debug)]
pub struct QemuConfig<'a> {
    /// The guest profile.
    pub profile: &'a Profile,
    /// The kernel image.
    pub kernel: &'a Path,
    /// The initramfs.
    pub initramfs: &'a Path,
    /// The run directory, shared read-write.
    pub run_dir: &'a Path,
    /// The console log file, used with [`Console::Captured`].
    pub console_log: &'a Path,
    /// Backing files of the NVMe controllers, by controller index.
    pub nvme_backing: &'a [PathBuf],
    /// Where the console goes.
    pub console: Console,
}

/// QEMU's option syntax doubles commas inside a value.
fn escape(value: &Path) -> String {
    value.to_string_lossy().replace(',', ",,")
}

/// The kernel command line for `profile`.
///
/// `no_timer_check` skips the boot-time check that the timer interrupt arrives within a few
/// ticks: on a busy host QEMU's timer thread can miss that window, and with interrupt
/// remapping on, the kernel then panics ("timer doesn't work through Interrupt-remapped
/// IO-APIC") instead of falling back.
///
/// `tsc=reliable` keeps the kernel on the TSC: under TCG the guest's TSC follows the host's
/// clock, but a busy host can delay the vCPU enough that the clocksource watchdog finds it
/// skewed against the HPET, marks it unstable and switches to the HPET, whose every read is an
/// MMIO access (and every `clock_gettime` a system call), which would slow a benchmark's
/// timestamps and a polled driver's clock reads.
pub fn kernel_cmdline(profile: &Profile) -> String {
    let mut args = vec![
        "console=ttyS0",
        "panic=-1",
        "no_timer_check",
        "tsc=reliable",
    ];
    args.extend_from_slice(profile.iommu_cmdline());
    args.join(" ")
}

/// The full argument list (without the program name).
pub fn args(config: &QemuConfig) -> Vec<OsString> {
    let mut args: Vec<String> = [
        "-machine",
        "q35,kernel-irqchip=split",
        "-accel",
        "tcg",
        // QEMU's default CPU model (qemu64) with the x86-64-v2 features (SSSE3, SSE4.1, SSE4.2,
        // POPCNT), which DPDK, under SPDK's spdk_nvme_perf in the NVMe benchmark, requires.
        "-cpu",
        "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(config.profile.memory_mib().to_string());
    // The IOMMU comes first, before the devices it translates.
    args.extend([
        "-device".into(),
        "intel-iommu,intremap=on,caching-mode=on".into(),
    ]);

    for device in DEVICES {
        let addr = format!("addr={:02x}.0", device.slot);
        match device.role {
            Role::Edu => args.extend(["-device".into(), format!("edu,{addr}")]),
            Role::PciTestdev => args.extend(["-device".into(), format!("pci-testdev,{addr}")]),
            Role::Nvme { index, serial } => {
                let drive = format!("nvme{index}");
                let file = escape(&config.nvme_backing[usize::from(index)]);
                args.extend([
                    "-drive".into(),
                    format!("file={file},if=none,id={drive},format=raw,cache=unsafe"),
                    "-device".into(),
                    format!("nvme,drive={drive},serial={serial},{addr}"),
                ]);
            }
            Role::E1000e => args.extend(["-device".into(), format!("e1000e,{addr}")]),
            Role::HostRootShare => args.extend([
                "-fsdev".into(),
                format!(
                    "local,id={HOST_ROOT_TAG},path=/,security_model=none,readonly=on,multidevs=remap"
                ),
                "-device".into(),
                format!("virtio-9p-pci,fsdev={HOST_ROOT_TAG},mount_tag={HOST_ROOT_TAG},{addr}"),
            ]),
            Role::RunDirShare => args.extend([
                "-fsdev".into(),
                format!(
                    "local,id={RUN_DIR_TAG},path={},security_model=none",
                    escape(config.run_dir)
                ),
                "-device".into(),
                format!("virtio-9p-pci,fsdev={RUN_DIR_TAG},mount_tag={RUN_DIR_TAG},{addr}"),
            ]),
        }
    }

    match config.console {
        Console::Captured => args.extend([
            "-chardev".into(),
            format!("file,id=console,path={}", escape(config.console_log)),
            "-serial".into(),
            "chardev:console".into(),
            "-monitor".into(),
            "none".into(),
        ]),
        Console::Interactive => args.extend(["-serial".into(), "mon:stdio".into()]),
    }

    let mut args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
    args.extend([
        "-kernel".into(),
        config.kernel.into(),
        "-initrd".into(),
        config.initramfs.into(),
        "-append".into(),
        kernel_cmdline(config.profile).into(),
    ]);
    args
}

/// The QEMU command for `config`.
pub fn command(config: &QemuConfig) -> Command {
    let mut cmd = Command::new(QEMU);
    cmd.args(args(config));
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::profile;

    fn config_args(profile_name: &str, console: Console) -> Vec<String> {
        let backing = [PathBuf::from("/dev/shm/a,b"), PathBuf::from("/dev/shm/c")];
        let config = QemuConfig {
            profile: profile(profile_name).unwrap(),
            kernel: Path::new("/k/vmlinuz"),
            initramfs: Path::new("/k/initramfs.cpio"),
            run_dir: Path::new("/tmp/run"),
            console_log: Path::new("/tmp/run/console.log"),
            nvme_backing: &backing,
            console,
        };
        args(&config)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    fn value_after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn every_device_gets_its_slot_after_the_iommu() {
        let args = config_args("iommu", Console::Captured);
        let devices = value_after(&args, "-device");
        assert_eq!(devices[0], "intel-iommu,intremap=on,caching-mode=on");
        assert_eq!(devices[1], "edu,addr=02.0");
        assert_eq!(devices[2], "pci-testdev,addr=03.0");
        assert_eq!(
            devices[3],
            "nvme,drive=nvme0,serial=drydock-nvme0,addr=04.0"
        );
        assert_eq!(devices[5], "e1000e,addr=06.0");
        assert_eq!(devices.len(), 1 + DEVICES.len());
    }

    #[test]
    fn paths_in_option_values_are_escaped() {
        let args = config_args("iommu", Console::Captured);
        let drives = value_after(&args, "-drive");
        assert_eq!(
            drives[0],
            "file=/dev/shm/a,,b,if=none,id=nvme0,format=raw,cache=unsafe"
        );
    }

    #[test]
    fn the_profile_sets_the_kernel_command_line() {
        let iommu = config_args("iommu", Console::Captured);
        assert_eq!(
            value_after(&iommu, "-append"),
            ["console=ttyS0 panic=-1 no_timer_check tsc=reliable intel_iommu=on"]
        );
        let pt = config_args("pt", Console::Captured);
        assert_eq!(
            value_after(&pt, "-append"),
            ["console=ttyS0 panic=-1 no_timer_check tsc=reliable intel_iommu=on iommu=pt"]
        );
        let off = config_args("noiommu", Console::Captured);
        assert_eq!(
            value_after(&off, "-append"),
            ["console=ttyS0 panic=-1 no_timer_check tsc=reliable intel_iommu=off"]
        );
    }

    #[test]
    fn guests_whose_bus_addresses_are_physical_have_only_low_memory() {
        for (profile, mib) in [
            ("iommu", "1024"),
            ("kernel73", "1024"),
            ("pt", "256"),
            ("noiommu", "256"),
            ("kernel73-noiommu", "256"),
        ] {
            let args = config_args(profile, Console::Captured);
            assert_eq!(value_after(&args, "-m"), [mib], "{profile}");
        }
    }

    #[test]
    fn the_cpu_has_what_dpdk_requires() {
        let args = config_args("iommu", Console::Captured);
        let cpu = value_after(&args, "-cpu");
        assert_eq!(cpu.len(), 1, "{args:?}");
        for feature in ["+ssse3", "+sse4.1", "+sse4.2", "+popcnt"] {
            assert!(
                cpu[0].split(',').any(|f| f == feature),
                "{feature}: {cpu:?}"
            );
        }
    }

    #[test]
    fn the_console_goes_to_the_log_or_the_terminal() {
        let captured = config_args("iommu", Console::Captured);
        assert_eq!(
            value_after(&captured, "-chardev"),
            ["file,id=console,path=/tmp/run/console.log"]
        );
        let interactive = config_args("iommu", Console::Interactive);
        assert_eq!(value_after(&interactive, "-serial"), ["mon:stdio"]);
        assert!(value_after(&interactive, "-chardev").is_empty());
    }
}
