//! The `kernel` crate's modules are Linux 7.3's, and no others.
//!
//! A driver file may name only what a kernel tree has, so the mirror must not offer a module of its
//! own (drydock's machinery is in the host crate, below). This test reads the crate root and checks
//! every public module against the modules of 7.3's `rust/kernel/lib.rs` (its `pub mod`s, and the
//! crates it re-exports as `bindings`, `ffi`, `macros` and `uapi`).

/// The public modules of Linux 7.3's `kernel` crate.
const UPSTREAM: &[&str] = &[
    "acpi",
    "alloc",
    "auxiliary",
    "bitfield",
    "bitmap",
    "bits",
    "block",
    "bug",
    "build_assert",
    "clk",
    "configfs",
    "cpu",
    "cpufreq",
    "cpumask",
    "cred",
    "debugfs",
    "device",
    "device_id",
    "devres",
    "dma",
    "driver",
    "drm",
    "error",
    "faux",
    "firmware",
    "fmt",
    "fs",
    "fwctl",
    "gpu",
    "id_pool",
    "impl_flags",
    "init",
    "interop",
    "interrupt",
    "io",
    "ioctl",
    "iommu",
    "iov",
    "irq",
    "jump_label",
    "kunit",
    "list",
    "maple_tree",
    "miscdevice",
    "mm",
    "module",
    "module_param",
    "net",
    "num",
    "of",
    "opp",
    "page",
    "pci",
    "pid_namespace",
    "platform",
    "prelude",
    "print",
    "processor",
    "ptr",
    "pwm",
    "rbtree",
    "regulator",
    "revocable",
    "safety",
    "scatterlist",
    "security",
    "seq_file",
    "serdev",
    "sizes",
    "soc",
    "std_vendor",
    "str",
    "sync",
    "task",
    "time",
    "tracepoint",
    "transmute",
    "types",
    "uaccess",
    "usb",
    "workqueue",
    "xarray",
    // Sibling crates the kernel crate re-exports under these names.
    "bindings",
    "ffi",
    "macros",
    "uapi",
];

#[test]
fn every_public_module_is_one_of_the_kernels() {
    let root = include_str!("../src/lib.rs");
    let modules: Vec<&str> = root
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').trim())
        .collect();
    assert!(
        modules.len() > 20,
        "the crate root lists its modules: {modules:?}"
    );
    let foreign: Vec<_> = modules.iter().filter(|m| !UPSTREAM.contains(m)).collect();
    assert!(
        foreign.is_empty(),
        "kernel/src/lib.rs declares modules Linux 7.3's kernel crate does not have: {foreign:?}; \
         drydock's own code belongs in the host crate (or above the mirror), where driver files \
         cannot name it"
    );
}
