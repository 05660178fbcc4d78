//! The items most driver files need, imported with `use kernel::prelude::*;`.
//!
//! Mirrors `rust/kernel/prelude.rs` of Linux 7.3, less `current!`, which drydock does not provide
//! yet (see `docs/porting.md`).

#[doc(no_inline)]
pub use core::{
    mem::{align_of, align_of_val, size_of, size_of_val},
    pin::Pin,
};

#[doc(no_inline)]
pub use crate::ffi::{
    c_char, c_int, c_long, c_longlong, c_schar, c_short, c_uchar, c_uint, c_ulong, c_ulonglong,
    c_ushort, c_void, CStr,
};

#[doc(no_inline)]
pub use pin_init::{init, pin_data, pin_init, pinned_drop, InPlaceWrite, Init, PinInit, Zeroable};

#[doc(no_inline)]
pub use zerocopy::{FromBytes, IntoBytes};

#[doc(no_inline)]
pub use crate::{
    alloc::{flags::*, Box, KBox, KVBox, KVVec, KVec, VBox, VVec, Vec},
    build_assert::{build_assert, build_error, const_assert, static_assert},
    dev_alert, dev_crit, dev_dbg, dev_emerg, dev_err, dev_info, dev_notice, dev_warn,
    error::{code::*, Error, Result},
    fmt,
    init::InPlaceInit,
    pr_alert, pr_crit, pr_debug, pr_emerg, pr_err, pr_info, pr_notice, pr_warn,
    str::CStrExt as _,
    try_init, try_pin_init,
    uaccess::UserPtr,
    ThisModule,
};

#[doc(no_inline)]
pub use crate::macros::{export, kunit_tests, vtable};

#[doc(no_inline)]
pub use crate::module_macro as module;

// As in the kernel, named separately so that rustdoc does not inline the macro here.
#[doc(no_inline)]
pub use crate::dbg;
