//! Generic device ID tables: the arrays buses match devices against.
//!
//! Mirrors `rust/kernel/device_id.rs` of Linux 7.3. A driver declares its table with a bus macro
//! such as `pci_device_table!`, which builds an [`IdArray`]: the bus's raw ID structures, each
//! carrying a reference to the driver's per-entry information in its `driver_data` field, followed
//! by the all-zero sentinel the bus stops at.
//!
//! Difference from the kernel: the table is not exported for `modpost` (see
//! [`module_device_table!`](crate::module_device_table)); the host machinery matches devices
//! against it directly.

use core::marker::PhantomData;
use core::mem::MaybeUninit;

/// A bus's device ID type, which wraps a raw C structure of the same layout.
///
/// Mirrors `kernel::device_id::RawDeviceId`.
///
/// # Safety
///
/// `Self` must have the same size and layout as `RawType`, so that a value can be reinterpreted as
/// the raw structure.
pub unsafe trait RawDeviceId {
    /// The raw C structure, such as `struct pci_device_id`.
    type RawType: Copy;
}

/// A device ID type whose raw structure has a `driver_data` field that holds the entry's
/// information.
///
/// Mirrors `kernel::device_id::RawDeviceIdIndex`.
///
/// # Safety
///
/// `DRIVER_DATA_OFFSET` must be the offset of a pointer-sized `driver_data` field in `RawType`.
pub unsafe trait RawDeviceIdIndex: RawDeviceId {
    /// The offset of `driver_data` in `RawType`.
    const DRIVER_DATA_OFFSET: usize;

    /// Returns the information stored in this entry's `driver_data`.
    ///
    /// # Safety
    ///
    /// The entry must come from an [`IdArray`] whose information type is `U`.
    unsafe fn info_unchecked<U>(&self) -> &'static U {
        // SAFETY: by the safety requirements, `driver_data` (at `DRIVER_DATA_OFFSET`) was written
        // by `IdArray::new` with a `&'static U`.
        unsafe {
            core::ptr::from_ref(self)
                .byte_add(Self::DRIVER_DATA_OFFSET)
                .cast::<&'static U>()
                .read()
        }
    }

    /// Returns the information stored in this entry's `driver_data`, or `None` if it is zero (an
    /// entry that was not built from a driver's table, such as a dynamically added ID).
    ///
    /// # Safety
    ///
    /// The entry's `driver_data` must be zero or come from an [`IdArray`] whose information type
    /// is `U`.
    unsafe fn info_unchecked_opt<U>(&self) -> Option<&'static U> {
        // SAFETY: by the safety requirements, `driver_data` holds either zero or a `&'static U`,
        // and `Option<&U>` has the same layout with zero as `None`.
        unsafe {
            core::ptr::from_ref(self)
                .byte_add(Self::DRIVER_DATA_OFFSET)
                .cast::<Option<&'static U>>()
                .read()
        }
    }
}

/// A zero-terminated array of `N` device IDs with per-entry information of type `U`.
///
/// Mirrors `kernel::device_id::IdArray`.
///
/// # Invariants
///
/// The first `N` entries are initialised IDs; if built with [`IdArray::new`], each one's
/// `driver_data` holds a `&'static U`. `sentinel` is all zero.
#[repr(C)]
pub struct IdArray<T: RawDeviceId, U: 'static, const N: usize> {
    ids: [MaybeUninit<T::RawType>; N],
    sentinel: MaybeUninit<T::RawType>,
    phantom: PhantomData<&'static U>,
}

// SAFETY: the array is immutable plain data plus `&'static U` references, shareable if `U` is.
unsafe impl<T: RawDeviceId, U: Sync + 'static, const N: usize> Send for IdArray<T, U, N> {}
// SAFETY: as above.
unsafe impl<T: RawDeviceId, U: Sync + 'static, const N: usize> Sync for IdArray<T, U, N> {}

impl<T: RawDeviceId + RawDeviceIdIndex, U: 'static, const N: usize> IdArray<T, U, N> {
    /// Builds the array from `(id, info)` pairs, storing each `info` reference in its entry.
    pub const fn new(ids: [(T, &'static U); N]) -> Self {
        let mut raw = [const { MaybeUninit::<T::RawType>::uninit() }; N];
        let mut i = 0;
        while i < N {
            // SAFETY: `T` has the layout of `T::RawType` (`RawDeviceId`'s safety requirement).
            raw[i] = unsafe { core::mem::transmute_copy(&ids[i].0) };
            // SAFETY: `DRIVER_DATA_OFFSET` is the offset of a pointer-sized field inside the raw
            // entry (`RawDeviceIdIndex`'s safety requirement), which we just initialised.
            unsafe {
                raw[i]
                    .as_mut_ptr()
                    .byte_add(T::DRIVER_DATA_OFFSET)
                    .cast::<&'static U>()
                    .write(ids[i].1)
            };
            i += 1;
        }
        core::mem::forget(ids);
        // INVARIANT: every entry was initialised above, with its information reference.
        Self {
            ids: raw,
            sentinel: MaybeUninit::zeroed(),
            phantom: PhantomData,
        }
    }
}

impl<T: RawDeviceId, const N: usize> IdArray<T, (), N> {
    /// Builds an array without per-entry information.
    pub const fn new_without_index(ids: [T; N]) -> Self {
        // SAFETY: `[T; N]` has the layout of `[T::RawType; N]` (`RawDeviceId`'s safety
        // requirement).
        let raw: [MaybeUninit<T::RawType>; N] = unsafe { core::mem::transmute_copy(&ids) };
        core::mem::forget(ids);
        // INVARIANT: every entry is initialised.
        Self {
            ids: raw,
            sentinel: MaybeUninit::zeroed(),
            phantom: PhantomData,
        }
    }
}

/// An ID table, as drivers name it in their `ID_TABLE` constants.
///
/// Mirrors `kernel::device_id::IdTable`.
pub trait IdTable<T: RawDeviceId, U> {
    /// Returns a pointer to the first raw entry of the zero-terminated table.
    fn as_ptr(&self) -> *const T::RawType;
}

impl<T: RawDeviceId, U, const N: usize> IdTable<T, U> for IdArray<T, U, N> {
    fn as_ptr(&self) -> *const T::RawType {
        // `#[repr(C)]`: the entries are at the start, followed by the sentinel.
        core::ptr::from_ref(self).cast()
    }
}

/// Declares a device ID table static for a bus.
///
/// Mirrors the kernel's `module_device_table!`; bus macros such as `pci_device_table!` call it.
/// The first form stores per-entry information (`(id, info)` pairs); the second, with `@none`,
/// takes bare IDs.
///
/// Difference from the kernel: the static is not exported under a `__mod_device_table__` symbol,
/// since no `modpost` reads it in userspace.
#[macro_export]
macro_rules! module_device_table {
    (
        $table_type: literal, $device_id_ty: ty,
        $table_name: ident, $id_info_type: ty,
        [$(($id: expr, $info:expr $(,)?)),* $(,)?]
    ) => {
        static $table_name: $crate::device_id::IdArray<
            $device_id_ty,
            $id_info_type,
            { [$(::core::stringify!($id)),*].len() },
        > = $crate::device_id::IdArray::new([$(($id, &$info)),*]);
    };
    (
        $table_type: literal, $device_id_ty: ty,
        $table_name: ident, @none,
        [$($id: expr),* $(,)?]
    ) => {
        static $table_name: $crate::device_id::IdArray<
            $device_id_ty,
            (),
            { [$(::core::stringify!($id)),*].len() },
        > = $crate::device_id::IdArray::new_without_index([$($id),*]);
    };
}
