//! Passes the kernel configuration to the driver (`--cfg CONFIG_*`), as a kernel build does.

fn main() {
    drydock_kconfig::emit();
}
