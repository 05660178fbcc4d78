//! Passes the kernel configuration to the crate (`--cfg CONFIG_*`, see `drydock-kconfig`), and
//! checks that the `coerce-pointee` feature has the unstable toolchain features it needs.

fn main() {
    drydock_kconfig::emit_config();
    println!("cargo::rerun-if-env-changed=RUSTC_BOOTSTRAP");
    let bootstrap = std::env::var("RUSTC_BOOTSTRAP").unwrap_or_default();
    let allows_kernel = bootstrap == "1" || bootstrap.split(',').any(|c| c == "kernel");
    if std::env::var_os("CARGO_FEATURE_COERCE_POINTEE").is_some() && !allows_kernel {
        panic!(
            "the `coerce-pointee` feature of drydock-kernel needs the unstable \
             `derive_coerce_pointee`, which a stable toolchain allows with RUSTC_BOOTSTRAP=1, as \
             the kernel's own build does: set it in the environment, or in the driver \
             workspace's .cargo/config.toml under [env] (see docs/porting.md)"
        );
    }
}
