// A `pub` register in a public module exports its fields' constants, which, as in the kernel,
// have no documentation: the kernel build's `-D missing_docs` rejects it, and so does this.
#![deny(missing_docs)]
//! A crate with a public register.

/// The registers.
pub mod regs {
    use kernel::io::register;

    register! {
        /// Control.
        pub CTRL(u32) @ 0x00 {
            /// Enable.
            0:0 enable;
        }
    }
}

fn main() {}
