//! The control block of a read or a write.
//!
//! Mirrors `rust/kernel/fs/kiocb.rs` of Linux 7.3.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::{bindings, types::ForeignOwnable};

/// A read's or a write's control block (`struct kiocb`): the file, and the position the call
/// reads or writes at.
///
/// Mirrors `kernel::fs::Kiocb`. `T` is the file's private data, what the driver's `open` returned.
/// The host starts each call at the open file's position and keeps the position the driver leaves
/// in [`ki_pos`](Kiocb::ki_pos) for the file's next call, as the kernel keeps `f_pos`, so a
/// driver that advances it (with `IovIterDest::simple_read_from_buffer`, say) reads on where the
/// last read ended. Difference from the kernel: `pread()` and `pwrite()` through CUSE do not pass
/// their offset, so they behave as `read()` and `write()` at the file's position.
///
/// # Invariants
///
/// `inner` points to a valid `struct kiocb` whose file's private data is a `T`, for `'a`.
pub struct Kiocb<'a, T> {
    inner: NonNull<bindings::kiocb>,
    _phantom: PhantomData<&'a T>,
}

impl<'a, T: ForeignOwnable> Kiocb<'a, T> {
    /// The control block at `kiocb`.
    ///
    /// # Safety
    ///
    /// `kiocb` must point to a valid `struct kiocb` for `'a`, whose file's private data is a `T`.
    pub unsafe fn from_raw(kiocb: *mut bindings::kiocb) -> Self {
        // INVARIANT: by the safety requirements.
        Self {
            // SAFETY: valid, hence not null.
            inner: unsafe { NonNull::new_unchecked(kiocb) },
            _phantom: PhantomData,
        }
    }

    /// The host's `struct kiocb`.
    pub fn as_raw(&self) -> *mut bindings::kiocb {
        self.inner.as_ptr()
    }

    /// The file's private data, borrowed.
    pub fn file(&self) -> <T as ForeignOwnable>::Borrowed<'a> {
        // SAFETY: the control block and its file are valid for `'a` (type invariant).
        let private = unsafe { (*(*self.as_raw()).ki_filp).private_data };
        // SAFETY: the private data is a `T` (type invariant), which the file owns while the call
        // runs, so it may be borrowed for the call.
        unsafe { <T as ForeignOwnable>::borrow(private) }
    }

    /// The position the call reads or writes at.
    pub fn ki_pos(&self) -> i64 {
        // SAFETY: the control block is valid (type invariant).
        unsafe { (*self.as_raw()).ki_pos }
    }

    /// The position, to change.
    pub fn ki_pos_mut(&mut self) -> &mut i64 {
        // SAFETY: the control block is valid (type invariant), and only this value reaches it.
        unsafe { &mut (*self.as_raw()).ki_pos }
    }
}
