//! Typed device registers: the [`register!`](crate::io::register!) macro and its traits.
//!
//! Mirrors `rust/kernel/io/register.rs` of Linux 7.3; same traits, location types and macro
//! syntax, identical behaviour. A register type is a [`bitfield!`](crate::bitfield!) (fields are
//! [`Bounded`](crate::num::Bounded)s) that also knows its place in an I/O region, so that
//! [`Io::read`](super::Io::read), [`Io::write`](super::Io::write), [`Io::update`](super::Io::update),
//! [`Io::write_reg`](super::Io::write_reg) and their `try_` forms take it as the location. It
//! works on every I/O region whose target is a [`Region`]: MMIO BARs, the PCI configuration
//! space...
//!
//! Apart from the macro, the items a driver names are [`WithBase`] and [`Array`] (for their
//! `of`/`at` functions) and [`RegisterBase`]; the rest is used by the macro's expansion.
//!
//! # Examples
//!
//! ```
//! use kernel::io::{register, Io, Mmio, Region};
//! use kernel::prelude::*;
//! use pin_init::Zeroable;
//!
//! register! {
//!     /// Identification of the chip.
//!     pub CHIP_ID(u32) @ 0x0 {
//!         /// Revision.
//!         7:0 revision;
//!         31:16 device;
//!     }
//!
//!     pub CONTROL(u32) @ 0x4 {
//!         0:0 enable;
//!         3:1 mode;
//!     }
//! }
//!
//! fn start(io: Mmio<'_, Region<0x100>>) -> Result<u32> {
//!     let id = io.read(CHIP_ID);
//!     io.write_reg(CONTROL::zeroed().with_enable(true).with_const_mode::<5>());
//!     io.update(CONTROL, |c| c.with_const_mode::<2>());
//!     Ok(id.device().get())
//! }
//! # let mut bar = [0x1234_0007u32, 0, 0, 0];
//! # let raw = kernel::io::MmioRaw::<Region<0x100>>::new_region(
//! #     bar.as_mut_ptr().expose_provenance(), 0x100)?;
//! # // Only the first 16 bytes are touched; `bar` stands in for a mapped BAR.
//! # // SAFETY: `bar` is alive while `raw` is used, and the accesses stay in its 16 bytes.
//! # assert_eq!(start(unsafe { Mmio::from_raw(raw) })?, 0x1234);
//! # assert_eq!(bar[1], 0b0101);
//! # Ok::<(), kernel::error::Error>(())
//! ```

use core::marker::PhantomData;

use crate::build_assert::build_assert;

use super::{IoLoc, Region};

/// A register type: a value with a storage primitive and an offset.
///
/// Mirrors `kernel::io::register::Register`.
pub trait Register: Sized {
    /// The primitive the register is read and written as.
    type Storage: Into<Self> + From<Self>;

    /// The register's offset: in the region for fixed registers, from the base for relative
    /// ones, of the first element for arrays.
    const OFFSET: usize;
}

/// A register at a fixed offset of its region.
///
/// Mirrors `kernel::io::register::FixedRegister`.
pub trait FixedRegister: Register {}

/// `()` is the location of any fixed register, which carries its offset in its type:
/// `io.write((), value)`.
impl<const SIZE: usize, T: FixedRegister> IoLoc<Region<SIZE>, T> for () {
    type IoType = T::Storage;

    #[inline(always)]
    fn offset(self) -> usize {
        T::OFFSET
    }
}

/// A fixed register value is its own location.
impl<const SIZE: usize, T: FixedRegister> IoLoc<Region<SIZE>, T> for T {
    type IoType = T::Storage;

    #[inline(always)]
    fn offset(self) -> usize {
        T::OFFSET
    }
}

/// The location of the fixed register `T`; `register!` defines one as a constant named after the
/// register.
///
/// Mirrors `kernel::io::register::FixedRegisterLoc`.
pub struct FixedRegisterLoc<T: FixedRegister>(PhantomData<T>);

impl<T: FixedRegister> FixedRegisterLoc<T> {
    /// Returns the location of `T`.
    #[inline(always)]
    #[allow(clippy::new_without_default)] // `Default::default` cannot be `const`.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<const SIZE: usize, T: FixedRegister> IoLoc<Region<SIZE>, T> for FixedRegisterLoc<T> {
    type IoType = T::Storage;

    #[inline(always)]
    fn offset(self) -> usize {
        T::OFFSET
    }
}

/// A base address for the relative registers of the family `T`.
///
/// Mirrors `kernel::io::register::RegisterBase`. `T` (usually a unit type) names the family: a
/// register declared `@ T + offset` may be used with every implementor of `RegisterBase<T>`.
pub trait RegisterBase<T> {
    /// The base, added to the relative registers' offsets.
    const BASE: usize;
}

/// A register, or register array, placed relative to a base.
///
/// Mirrors `kernel::io::register::WithBase`.
pub trait WithBase {
    /// The family of bases the register is relative to.
    type BaseFamily;

    /// Returns the location of the register from the base `B`.
    #[inline(always)]
    fn of<B: RegisterBase<Self::BaseFamily>>() -> RelativeRegisterLoc<Self, B>
    where
        Self: Register,
    {
        RelativeRegisterLoc::new()
    }
}

/// A register placed relative to a base.
///
/// Mirrors `kernel::io::register::RelativeRegister`.
pub trait RelativeRegister: Register + WithBase {}

/// The location of the relative register, or register array, `T` from the base `B`.
///
/// Mirrors `kernel::io::register::RelativeRegisterLoc`. For a [`RelativeRegister`] it is a
/// location; for a [`RelativeRegisterArray`] an element is chosen with
/// [`at`](RelativeRegisterLoc::at) or [`try_at`](RelativeRegisterLoc::try_at).
pub struct RelativeRegisterLoc<T: WithBase, B: ?Sized>(PhantomData<T>, PhantomData<B>);

impl<T, B> RelativeRegisterLoc<T, B>
where
    T: Register + WithBase,
    B: RegisterBase<T::BaseFamily> + ?Sized,
{
    /// Returns the location of `T` from the base `B`.
    #[inline(always)]
    #[allow(clippy::new_without_default)] // `Default::default` cannot be `const`.
    pub const fn new() -> Self {
        Self(PhantomData, PhantomData)
    }

    /// The offset of `T` in the region: the base plus the register's offset.
    #[inline(always)]
    const fn absolute_offset(&self) -> usize {
        B::BASE + T::OFFSET
    }
}

impl<const SIZE: usize, T, B> IoLoc<Region<SIZE>, T> for RelativeRegisterLoc<T, B>
where
    T: RelativeRegister,
    B: RegisterBase<T::BaseFamily> + ?Sized,
{
    type IoType = T::Storage;

    #[inline(always)]
    fn offset(self) -> usize {
        self.absolute_offset()
    }
}

/// An array of registers with the same layout.
///
/// Mirrors `kernel::io::register::RegisterArray`.
pub trait RegisterArray: Register {
    /// The number of registers.
    const SIZE: usize;
    /// The distance in bytes from one register to the next.
    const STRIDE: usize;
}

/// The location of one register of the array `T`.
///
/// Mirrors `kernel::io::register::RegisterArrayLoc`.
///
/// # Invariants
///
/// The index is less than `T::SIZE`.
pub struct RegisterArrayLoc<T: RegisterArray>(usize, PhantomData<T>);

impl<T: RegisterArray> RegisterArrayLoc<T> {
    /// Returns the location of register `idx`; the build (link) fails unless `idx < T::SIZE` is
    /// proven.
    #[inline(always)]
    pub fn new(idx: usize) -> Self {
        build_assert!(idx < T::SIZE, "register array index out of bounds");
        // INVARIANT: Asserted above.
        Self(idx, PhantomData)
    }

    /// Returns the location of register `idx`, or `None` if `idx >= T::SIZE`.
    #[inline(always)]
    pub fn try_new(idx: usize) -> Option<Self> {
        // INVARIANT: Checked by the condition.
        (idx < T::SIZE).then_some(Self(idx, PhantomData))
    }
}

impl<const SIZE: usize, T: RegisterArray> IoLoc<Region<SIZE>, T> for RegisterArrayLoc<T> {
    type IoType = T::Storage;

    #[inline(always)]
    fn offset(self) -> usize {
        T::OFFSET + self.0 * T::STRIDE
    }
}

/// The element selectors of register arrays; `register!` implements it for every array.
///
/// Mirrors `kernel::io::register::Array`.
pub trait Array {
    /// Returns the location of register `idx`; the build (link) fails unless `idx` is proven in
    /// bounds.
    #[inline(always)]
    fn at(idx: usize) -> RegisterArrayLoc<Self>
    where
        Self: RegisterArray,
    {
        RegisterArrayLoc::new(idx)
    }

    /// Returns the location of register `idx`, or `None` if it is out of bounds.
    #[inline(always)]
    fn try_at(idx: usize) -> Option<RegisterArrayLoc<Self>>
    where
        Self: RegisterArray,
    {
        RegisterArrayLoc::try_new(idx)
    }
}

/// An array of registers placed relative to a base.
///
/// Mirrors `kernel::io::register::RelativeRegisterArray`.
pub trait RelativeRegisterArray: RegisterArray + WithBase {}

/// The location of one register of the relative array `T` from the base `B`.
///
/// Mirrors `kernel::io::register::RelativeRegisterArrayLoc`.
///
/// # Invariants
///
/// The index is less than `T::SIZE`.
pub struct RelativeRegisterArrayLoc<
    T: RelativeRegisterArray,
    B: RegisterBase<T::BaseFamily> + ?Sized,
>(RelativeRegisterLoc<T, B>, usize);

impl<T, B> RelativeRegisterArrayLoc<T, B>
where
    T: RelativeRegisterArray,
    B: RegisterBase<T::BaseFamily> + ?Sized,
{
    /// Returns the location of register `idx` from the base `B`; the build (link) fails unless
    /// `idx < T::SIZE` is proven.
    #[inline(always)]
    pub fn new(idx: usize) -> Self {
        build_assert!(idx < T::SIZE, "register array index out of bounds");
        // INVARIANT: Asserted above.
        Self(RelativeRegisterLoc::new(), idx)
    }

    /// Returns the location of register `idx` from the base `B`, or `None` if
    /// `idx >= T::SIZE`.
    #[inline(always)]
    pub fn try_new(idx: usize) -> Option<Self> {
        // INVARIANT: Checked by the condition.
        (idx < T::SIZE).then(|| Self(RelativeRegisterLoc::new(), idx))
    }
}

/// The element selectors of a relative register array's location.
impl<T, B> RelativeRegisterLoc<T, B>
where
    T: RelativeRegisterArray,
    B: RegisterBase<T::BaseFamily> + ?Sized,
{
    /// Returns the location of register `idx`; the build (link) fails unless `idx` is proven in
    /// bounds.
    #[inline(always)]
    pub fn at(self, idx: usize) -> RelativeRegisterArrayLoc<T, B> {
        RelativeRegisterArrayLoc::new(idx)
    }

    /// Returns the location of register `idx`, or `None` if it is out of bounds.
    #[inline(always)]
    pub fn try_at(self, idx: usize) -> Option<RelativeRegisterArrayLoc<T, B>> {
        RelativeRegisterArrayLoc::try_new(idx)
    }
}

impl<const SIZE: usize, T, B> IoLoc<Region<SIZE>, T> for RelativeRegisterArrayLoc<T, B>
where
    T: RelativeRegisterArray,
    B: RegisterBase<T::BaseFamily> + ?Sized,
{
    type IoType = T::Storage;

    #[inline(always)]
    fn offset(self) -> usize {
        self.0.absolute_offset() + self.1 * T::STRIDE
    }
}

/// A register value together with the location to write it at, for
/// [`Io::write_reg`](super::Io::write_reg).
///
/// Mirrors `kernel::io::register::LocatedRegister`; implemented by fixed register values.
pub trait LocatedRegister<Base: ?Sized> {
    /// The register value written.
    type Value: Register;
    /// Where it is written.
    type Location: IoLoc<Base, Self::Value>;

    /// Splits `self` into the location and the value of the write.
    fn into_io_op(self) -> (Self::Location, Self::Value);
}

impl<const SIZE: usize, T: FixedRegister> LocatedRegister<Region<SIZE>> for T {
    type Value = T;
    type Location = FixedRegisterLoc<T>;

    #[inline(always)]
    fn into_io_op(self) -> (FixedRegisterLoc<T>, T) {
        (FixedRegisterLoc::new(), self)
    }
}

/// Defines register types: bit fields with a place in an I/O region.
///
/// Mirrors the kernel's `register!`, with the same syntax. Each definition is a
/// [`bitfield!`](crate::bitfield!) (same field syntax: `hi:lo name`, `=> Type`, `?=> Type`, doc
/// comments) preceded by the register's name, storage and place; several may follow each other
/// in one invocation:
///
/// | declaration | kind | location |
/// |---|---|---|
/// | `NAME(u32) @ 0x100 { .. }` | fixed | `NAME` (a constant), `()`, or a `NAME` value |
/// | `NAME(u32) => OTHER { .. }` | alias of fixed `OTHER` | as fixed |
/// | `NAME(u32) @ Base + 0x10 { .. }` | relative to the bases of family `Base` | `NAME::of::<B>()` |
/// | `NAME(u32) => Base + OTHER { .. }` | alias of relative `OTHER` | as relative |
/// | `NAME(u8)[10] @ 0x100 { .. }` | array, contiguous | `NAME::at(i)`, `NAME::try_at(i)` |
/// | `NAME(u8)[10, stride = 4] @ 0x100 { .. }` | array, every 4 bytes | as array |
/// | `NAME(u32) => OTHER[8] { .. }` | alias of element 8 of array `OTHER` | as fixed |
/// | `NAME(u32)[16] @ Base + 0x80 { .. }` | relative array (a stride may be given) | `NAME::of::<B>().at(i)` |
/// | `NAME(u32) => Base + OTHER[8] { .. }` | alias of element 8 of relative array `OTHER` | as relative |
///
/// `at(i)` fails the build unless `i` is proven in bounds; `try_at(i)` returns `None` if it is
/// not. An alias index out of the array, or a stride smaller than the storage, fails the build.
/// `of` and `at` are functions of the [`WithBase`] and [`Array`] traits, which must be in scope.
///
/// # Examples
///
/// ```
/// use kernel::io::{
///     register,
///     register::{Array, RegisterBase, WithBase},
///     Io, Mmio, Region,
/// };
/// use kernel::prelude::*;
///
/// pub struct Engine;
/// struct Engine0;
/// impl RegisterBase<Engine> for Engine0 {
///     const BASE: usize = 0x100;
/// }
///
/// register! {
///     pub DOORBELL(u32)[4, stride = 8] @ 0x20 { 15:0 tail; }
///     pub STATUS(u32) @ Engine + 0x4 { 0:0 busy; 31:24 error; }
///     pub QUEUE_BASE(u32)[2] @ Engine + 0x10 { 31:0 addr; }
///     pub FIRST_DOORBELL(u32) => DOORBELL[0] { 15:0 tail; }
/// }
///
/// fn ring(io: Mmio<'_, Region<0x200>>, queue: usize, tail: u16) -> Result {
///     let location = DOORBELL::try_at(queue).ok_or(EINVAL)?;
///     io.write(location, DOORBELL::zeroed().with_tail(tail));
///     if io.read(STATUS::of::<Engine0>()).busy().into_bool() {
///         return Err(EBUSY);
///     }
///     io.write(QUEUE_BASE::of::<Engine0>().at(1), QUEUE_BASE::from(0x8000_0000));
///     Ok(())
/// }
/// # use pin_init::Zeroable;
/// # let mut bar = [0u32; 0x80];
/// # let raw = kernel::io::MmioRaw::<Region<0x200>>::new_region(
/// #     bar.as_mut_ptr().expose_provenance(), 0x200)?;
/// # // SAFETY: `bar` is plain memory standing in for a mapped BAR, alive while `raw` is used.
/// # let io = unsafe { Mmio::from_raw(raw) };
/// # ring(io, 2, 7)?;
/// # assert_eq!((bar[(0x20 + 16) / 4], bar[(0x110 + 4) / 4]), (7, 0x8000_0000));
/// # assert_eq!(ring(io, 4, 7), Err(EINVAL));
/// # assert_eq!(io.read(FIRST_DOORBELL).tail(), 0);
/// # Ok::<(), kernel::error::Error>(())
/// ```
#[macro_export]
macro_rules! register {
    (
        $(
            $(#[$attr:meta])* $vis:vis $name:ident ($storage:ty)
                $([ $size:expr $(, stride = $stride:expr)? ])?
                $(@ $($base:ident +)? $offset:literal)?
                $(=> $alias:ident $(+ $alias_reg:ident)? $([$alias_idx:expr])?)?
            { $($fields:tt)* }
        )*
    ) => {
        $(
            $crate::register!(
                @kind [$(#[$attr])*] [$vis] $name [$storage]
                [$([$size $(, stride = $stride)?])?]
                [$(@ $($base +)? $offset)?]
                [$(=> $alias $(+ $alias_reg)? $([$alias_idx])?)?]
                { $($fields)* }
            );
        )*
    };

    // Fixed register.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] [] [@ $offset:literal] []
            { $($fields:tt)* }
    ) => {
        $crate::register!(@common [$(#[$attr])*] [$vis] $name [$storage] [$offset] { $($fields)* });
        $crate::register!(@fixed [$(#[$attr])*] [$vis] $name);
    };

    // Alias of a fixed register.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] [] [] [=> $alias:ident]
            { $($fields:tt)* }
    ) => {
        $crate::register!(
            @common [$(#[$attr])*] [$vis] $name [$storage]
                [<$alias as $crate::io::register::Register>::OFFSET] { $($fields)* }
        );
        $crate::register!(@fixed [$(#[$attr])*] [$vis] $name);
    };

    // Relative register.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] []
            [@ $base:ident + $offset:literal] [] { $($fields:tt)* }
    ) => {
        $crate::register!(@common [$(#[$attr])*] [$vis] $name [$storage] [$offset] { $($fields)* });
        $crate::register!(@relative $name $base);
    };

    // Alias of a relative register.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] [] []
            [=> $base:ident + $alias:ident] { $($fields:tt)* }
    ) => {
        $crate::register!(
            @common [$(#[$attr])*] [$vis] $name [$storage]
                [<$alias as $crate::io::register::Register>::OFFSET] { $($fields)* }
        );
        $crate::register!(@relative $name $base);
    };

    // Contiguous array: the stride is the storage's size.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] [[$size:expr]]
            [$($place:tt)*] [] { $($fields:tt)* }
    ) => {
        $crate::register!(
            @kind [$(#[$attr])*] [$vis] $name [$storage]
                [[$size, stride = ::core::mem::size_of::<$storage>()]] [$($place)*] []
                { $($fields)* }
        );
    };

    // Array.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty]
            [[$size:expr, stride = $stride:expr]] [@ $offset:literal] [] { $($fields:tt)* }
    ) => {
        $crate::register!(@stride $storage, $stride);
        $crate::register!(@common [$(#[$attr])*] [$vis] $name [$storage] [$offset] { $($fields)* });
        $crate::register!(@array $name, $size, $stride);
    };

    // Alias of an element of an array.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] [] []
            [=> $alias:ident [$idx:expr]] { $($fields:tt)* }
    ) => {
        $crate::register!(@alias_index $alias, $idx);
        $crate::register!(
            @common [$(#[$attr])*] [$vis] $name [$storage]
                [$crate::register!(@element_offset $alias, $idx)] { $($fields)* }
        );
        $crate::register!(@fixed [$(#[$attr])*] [$vis] $name);
    };

    // Relative array.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty]
            [[$size:expr, stride = $stride:expr]] [@ $base:ident + $offset:literal] []
            { $($fields:tt)* }
    ) => {
        $crate::register!(@stride $storage, $stride);
        $crate::register!(@common [$(#[$attr])*] [$vis] $name [$storage] [$offset] { $($fields)* });
        $crate::register!(@relative_array $name $base, $size, $stride);
    };

    // Alias of an element of a relative array.
    (
        @kind [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] [] []
            [=> $base:ident + $alias:ident [$idx:expr]] { $($fields:tt)* }
    ) => {
        $crate::register!(@alias_index $alias, $idx);
        $crate::register!(
            @common [$(#[$attr])*] [$vis] $name [$storage]
                [$crate::register!(@element_offset $alias, $idx)] { $($fields)* }
        );
        $crate::register!(@relative $name $base);
    };

    // The bit field type and `Register`, shared by every kind.
    (
        @common [$(#[$attr:meta])*] [$vis:vis] $name:ident [$storage:ty] [$offset:expr]
            { $($fields:tt)* }
    ) => {
        $crate::bitfield!($(#[$attr])* $vis struct $name($storage) { $($fields)* });

        impl $crate::io::register::Register for $name {
            type Storage = $storage;
            const OFFSET: usize = $offset;
        }
    };

    // A fixed register and its location constant, named after it (the type is a braced struct,
    // so the name is free in the value namespace).
    (@fixed [$(#[$attr:meta])*] [$vis:vis] $name:ident) => {
        impl $crate::io::register::FixedRegister for $name {}

        $(#[$attr])*
        #[allow(non_upper_case_globals)]
        $vis const $name: $crate::io::register::FixedRegisterLoc<$name> =
            $crate::io::register::FixedRegisterLoc::<$name>::new();
    };

    (@relative $name:ident $base:ident) => {
        impl $crate::io::register::WithBase for $name {
            type BaseFamily = $base;
        }

        impl $crate::io::register::RelativeRegister for $name {}
    };

    (@array $name:ident, $size:expr, $stride:expr) => {
        impl $crate::io::register::Array for $name {}

        impl $crate::io::register::RegisterArray for $name {
            const SIZE: usize = $size;
            const STRIDE: usize = $stride;
        }
    };

    (@relative_array $name:ident $base:ident, $size:expr, $stride:expr) => {
        impl $crate::io::register::WithBase for $name {
            type BaseFamily = $base;
        }

        impl $crate::io::register::RegisterArray for $name {
            const SIZE: usize = $size;
            const STRIDE: usize = $stride;
        }

        impl $crate::io::register::RelativeRegisterArray for $name {}
    };

    (@stride $storage:ty, $stride:expr) => {
        $crate::build_assert::static_assert!(
            ::core::mem::size_of::<$storage>() <= $stride,
            "the stride of a register array is smaller than its registers"
        );
    };

    (@alias_index $alias:ident, $idx:expr) => {
        $crate::build_assert::static_assert!(
            $idx < <$alias as $crate::io::register::RegisterArray>::SIZE,
            "the aliased register is out of its array"
        );
    };

    (@element_offset $alias:ident, $idx:expr) => {
        <$alias as $crate::io::register::Register>::OFFSET
            + $idx * <$alias as $crate::io::register::RegisterArray>::STRIDE
    };
}
