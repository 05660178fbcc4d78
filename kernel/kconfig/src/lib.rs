//! The kernel configuration a driver crate is built with, as a kernel build passes it to Rust.
//!
//! A kernel build compiles every Rust crate with `--cfg CONFIG_FOO` for each enabled boolean option
//! of its `.config` (from `include/generated/rustc_cfg`), so driver code can say
//! `#[cfg(CONFIG_64BIT)]` or `#[cfg(CONFIG_DEBUG_FS)]`. drydock passes the same options, for the
//! configuration its `kernel` crate provides, from the build script of each driver crate (and of
//! the `kernel` crate itself):
//!
//! ```toml
//! # Cargo.toml of a driver crate
//! [build-dependencies]
//! drydock-kconfig = { path = "../../kernel/kconfig" }
//! ```
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     drydock_kconfig::emit();
//! }
//! ```
//!
//! A build script's options reach its own crate only, whatever `RUSTFLAGS` says, which is why each
//! crate has one. [`OPTIONS`] lists every option drydock knows of, enabled or not; the ones not
//! enabled are declared too, so that `#[cfg(CONFIG_OF)]` in a driver is not an unexpected `cfg`.

/// A boolean kernel configuration option and its setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Its name, with the `CONFIG_` prefix.
    pub name: &'static str,
    /// Whether drydock's `kernel` crate provides it (as `=y` in a kernel's `.config`).
    pub enabled: bool,
}

/// An enabled option.
const fn y(name: &'static str) -> Setting {
    Setting {
        name,
        enabled: true,
    }
}

/// A known option that is not enabled.
const fn n(name: &'static str) -> Setting {
    Setting {
        name,
        enabled: false,
    }
}

/// Every option drydock knows of: those the Linux 7.3 Rust code and its drivers test, enabled
/// where drydock's `kernel` crate provides what the option stands for, on x86_64.
pub const OPTIONS: &[Setting] = &[
    // The machine: a 64-bit x86 process, with an MMU, several CPUs and 64-bit DMA addresses.
    y("CONFIG_64BIT"),
    n("CONFIG_32BIT"),
    y("CONFIG_X86_64"),
    n("CONFIG_ARM"),
    n("CONFIG_ARM64"),
    n("CONFIG_LOONGARCH"),
    n("CONFIG_UML"),
    y("CONFIG_MMU"),
    y("CONFIG_SMP"),
    y("CONFIG_ARCH_SUPPORTS_ATOMIC_RMW"),
    y("CONFIG_ARCH_DMA_ADDR_T_64BIT"),
    y("CONFIG_PHYS_ADDR_T_64BIT"),
    // 32-bit processes' ioctls reach a misc device's `compat_ioctl` (through CUSE).
    y("CONFIG_COMPAT"),
    n("CONFIG_CPUMASK_OFFSTACK"),
    n("CONFIG_FORCE_NR_CPUS"),
    // The Rust support and its checks, as Debian's kernels set them.
    y("CONFIG_RUST"),
    y("CONFIG_RUST_OVERFLOW_CHECKS"),
    n("CONFIG_RUST_DEBUG_ASSERTIONS"),
    n("CONFIG_RUSTC_HAS_FILE_WITH_NUL"),
    n("CONFIG_RUSTC_HAS_FILE_AS_C_STR"),
    // What the `kernel` crate provides.
    y("CONFIG_PCI"),
    y("CONFIG_HAS_IOMEM"),
    y("CONFIG_PRINTK"),
    y("CONFIG_BUG"),
    n("CONFIG_DEBUG_BUGVERBOSE"),
    n("CONFIG_DEBUG_BUGVERBOSE_DETAILED"),
    y("CONFIG_TRACEPOINTS"),
    y("CONFIG_AUXILIARY_BUS"),
    // KUnit suites (`#[kunit_tests]`) are tests `cargo test` runs.
    y("CONFIG_KUNIT"),
    y("CONFIG_RUST_FW_LOADER_ABSTRACTIONS"),
    y("CONFIG_DEBUG_FS"),
    y("CONFIG_CONFIGFS_FS"),
    y("CONFIG_BLOCK"),
    n("CONFIG_JUMP_LABEL"),
    // Subsystems the `kernel` crate does not provide yet.
    n("CONFIG_BLK_DEBUG_FS"),
    n("CONFIG_DEBUG_MISC"),
    n("CONFIG_COMMON_CLK"),
    n("CONFIG_CPU_FREQ"),
    n("CONFIG_DRM"),
    n("CONFIG_ENERGY_MODEL"),
    n("CONFIG_GPU_BUDDY"),
    n("CONFIG_I2C"),
    n("CONFIG_NET"),
    n("CONFIG_OF"),
    n("CONFIG_PM_OPP"),
    n("CONFIG_REGULATORS"),
    n("CONFIG_RUST_BITMAP_HARDENED"),
    n("CONFIG_RUST_DRM_GEM_SHMEM_HELPER"),
    n("CONFIG_RUST_DRM_GPUVM"),
    n("CONFIG_RUST_FWCTL_ABSTRACTIONS"),
    n("CONFIG_RUST_PHYLIB_ABSTRACTIONS"),
    n("CONFIG_RUST_PWM_ABSTRACTIONS"),
    n("CONFIG_RUST_SERIAL_DEV_BUS_ABSTRACTIONS"),
    n("CONFIG_SOC_BUS"),
    n("CONFIG_USB"),
];

/// Prints the build-script instructions for a driver crate: the configuration, as [`emit_config`]
/// does, and `--cfg MODULE`, which a kernel build passes to code built as a loadable module (`=m`).
/// A drydock driver is always one: its process loads and unloads it, as `insmod` and `rmmod` do.
pub fn emit() {
    emit_config();
    println!("cargo::rustc-cfg=MODULE");
}

/// Prints the build-script instructions that pass [`OPTIONS`] to the crate being built: for each
/// enabled option `--cfg CONFIG_FOO` and `--cfg CONFIG_FOO="y"`, as a kernel build passes a `=y`
/// option, and for every option a `check-cfg` declaration of both forms; and declares `MODULE`.
/// This is the `kernel` crate's build script, which, as in a kernel tree, is built in, not a
/// module.
pub fn emit_config() {
    println!("cargo::rustc-check-cfg=cfg(MODULE)");
    for option in OPTIONS {
        println!(
            "cargo::rustc-check-cfg=cfg({}, values(none(), \"y\", \"m\"))",
            option.name
        );
        if option.enabled {
            println!("cargo::rustc-cfg={}", option.name);
            println!("cargo::rustc-cfg={}=\"y\"", option.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_named_once_and_the_machine_is_64_bit() {
        let mut names: Vec<_> = OPTIONS.iter().map(|o| o.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OPTIONS.len(), "an option listed twice");
        assert!(names.iter().all(|n| n.starts_with("CONFIG_")));
        let enabled = |name| OPTIONS.iter().any(|o| o.name == name && o.enabled);
        assert!(enabled("CONFIG_64BIT") && !enabled("CONFIG_32BIT"));
    }
}
