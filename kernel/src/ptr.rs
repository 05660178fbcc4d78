//! Pointers, addresses and alignments.
//!
//! Mirrors `rust/kernel/ptr.rs` of Linux 7.3: [`Alignment`] (a power of two), [`Alignable`]
//! (rounding integers to an alignment), [`KnownSize`] (the size information the I/O projections
//! work with, for sized types and slices alike), [`const_align_up`] and the [`project!`] macro of
//! [`projection`]. Everything here behaves as in the kernel.

pub mod projection;

#[doc(inline)]
pub use crate::project_pointer as project;

use core::num::NonZero;

/// A memory alignment: a power of two, in bytes.
///
/// Mirrors `kernel::ptr::Alignment`, the kernel's stand-in for the standard library's unstable
/// `core::ptr::Alignment`. Identical to the kernel's.
///
/// # Invariants
///
/// The wrapped value is a power of two.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Alignment(NonZero<usize>);

impl Alignment {
    /// Returns the alignment `ALIGN`; the build fails if `ALIGN` is not a power of two.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::Alignment;
    ///
    /// assert_eq!(Alignment::new::<64>().as_usize(), 64);
    /// ```
    #[inline(always)]
    pub const fn new<const ALIGN: usize>() -> Self {
        crate::const_assert!(
            ALIGN.is_power_of_two(),
            "an alignment must be a power of two"
        );
        match Self::new_checked(ALIGN) {
            Some(alignment) => alignment,
            // The assertion above rejected every value that is not a power of two.
            None => unreachable!(),
        }
    }

    /// Returns `align` as an alignment, or `None` if it is not a power of two.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::Alignment;
    ///
    /// assert_eq!(Alignment::new_checked(8), Some(Alignment::new::<8>()));
    /// assert_eq!(Alignment::new_checked(1), Some(Alignment::new::<1>()));
    /// assert_eq!(Alignment::new_checked(12), None);
    /// assert_eq!(Alignment::new_checked(0), None);
    /// ```
    #[inline(always)]
    pub const fn new_checked(align: usize) -> Option<Self> {
        if !align.is_power_of_two() {
            return None;
        }
        match NonZero::new(align) {
            // INVARIANT: `align` is a power of two, checked above.
            Some(value) => Some(Self(value)),
            None => None,
        }
    }

    /// Returns the alignment of the type `T`, as [`align_of`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::Alignment;
    ///
    /// assert_eq!(Alignment::of::<u32>().as_usize(), 4);
    /// ```
    #[inline(always)]
    pub const fn of<T>() -> Self {
        const {
            match Self::new_checked(align_of::<T>()) {
                Some(alignment) => alignment,
                None => panic!("type alignments are powers of two"),
            }
        }
    }

    /// Returns the alignment in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::Alignment;
    ///
    /// assert_eq!(Alignment::of::<u64>().as_usize(), align_of::<u64>());
    /// ```
    #[inline(always)]
    pub const fn as_usize(self) -> usize {
        self.as_nonzero().get()
    }

    /// Returns the alignment in bytes, as a [`NonZero`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::Alignment;
    ///
    /// assert_eq!(Alignment::new::<2>().as_nonzero().get(), 2);
    /// ```
    #[inline(always)]
    pub const fn as_nonzero(self) -> NonZero<usize> {
        if !self.0.is_power_of_two() {
            // SAFETY: By the type invariant the value is a power of two; telling the optimiser so
            // lets it turn divisions and remainders by the alignment into shifts and masks.
            unsafe { core::hint::unreachable_unchecked() }
        }
        self.0
    }

    /// Returns the base-2 logarithm of the alignment.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::Alignment;
    ///
    /// assert_eq!(Alignment::new::<1>().log2(), 0);
    /// assert_eq!(Alignment::new::<4096>().log2(), 12);
    /// ```
    #[inline(always)]
    pub const fn log2(self) -> u32 {
        self.0.ilog2()
    }

    /// Returns the mask that clears the bits below the alignment, `!(align - 1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::Alignment;
    ///
    /// assert_eq!(Alignment::new::<0x100>().mask(), !0xff);
    /// ```
    #[inline(always)]
    pub const fn mask(self) -> usize {
        !(self.as_usize() - 1)
    }
}

/// Integers that can be rounded to an [`Alignment`].
///
/// Mirrors `kernel::ptr::Alignable`, implemented, as in the kernel, for `u8`, `u16`, `u32`, `u64`
/// and `usize`.
pub trait Alignable: Sized {
    /// Rounds `self` down to a multiple of `alignment` (to 0 if the alignment exceeds the type).
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::{Alignable, Alignment};
    ///
    /// assert_eq!(0x1234usize.align_down(Alignment::new::<0x100>()), 0x1200);
    /// assert_eq!(0xffu8.align_down(Alignment::new::<0x200>()), 0);
    /// ```
    fn align_down(self, alignment: Alignment) -> Self;

    /// Rounds `self` up to a multiple of `alignment`, or returns `None` if the result does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::ptr::{Alignable, Alignment};
    ///
    /// assert_eq!(0x1201u32.align_up(Alignment::new::<0x100>()), Some(0x1300));
    /// assert_eq!(0x1200u32.align_up(Alignment::new::<0x100>()), Some(0x1200));
    /// assert_eq!(0xf1u8.align_up(Alignment::new::<0x10>()), None);
    /// assert_eq!(0u8.align_up(Alignment::new::<0x1000>()), Some(0));
    /// ```
    fn align_up(self, alignment: Alignment) -> Option<Self>;
}

macro_rules! impl_alignable {
    ($($int:ty),*) => {$(
        impl Alignable for $int {
            #[inline(always)]
            fn align_down(self, alignment: Alignment) -> Self {
                match <$int>::try_from(alignment.as_usize()) {
                    Ok(align) => self & !(align - 1),
                    // Every value of the type is below such an alignment.
                    Err(_) => 0,
                }
            }

            #[inline(always)]
            fn align_up(self, alignment: Alignment) -> Option<Self> {
                let down = self.align_down(alignment);
                if down == self {
                    return Some(self);
                }
                <$int>::try_from(alignment.as_usize()).ok()?.checked_add(down)
            }
        }
    )*};
}

impl_alignable!(u8, u16, u32, u64, usize);

/// Size and alignment information known at compile time, for sized types and slices alike.
///
/// Mirrors `kernel::ptr::KnownSize`, which generalises [`size_of`] to the dynamically sized types
/// that I/O views cover (slices and [`Region`](crate::io::Region)). Identical to the kernel's.
pub trait KnownSize {
    /// The smallest size an object of this type can have, in bytes.
    const MIN_SIZE: usize;

    /// The alignment every object of this type is known to have.
    const MIN_ALIGN: Alignment;

    /// Returns the size in bytes of the object `p` points to, computed from the pointer's
    /// metadata only (`p` is never dereferenced).
    fn size(p: *const Self) -> usize;
}

impl<T> KnownSize for T {
    const MIN_SIZE: usize = size_of::<T>();
    const MIN_ALIGN: Alignment = Alignment::of::<T>();

    #[inline(always)]
    fn size(_: *const Self) -> usize {
        size_of::<T>()
    }
}

impl<T> KnownSize for [T] {
    const MIN_SIZE: usize = 0;
    const MIN_ALIGN: Alignment = Alignment::of::<T>();

    #[inline(always)]
    fn size(p: *const Self) -> usize {
        p.len() * size_of::<T>()
    }
}

/// Rounds `value` up to a multiple of `align` in a `const` context; `None` on overflow.
///
/// Mirrors `kernel::ptr::const_align_up`, the `const` counterpart of [`Alignable::align_up`].
///
/// # Examples
///
/// ```
/// use kernel::ptr::{const_align_up, Alignment};
///
/// const RING_BYTES: Option<usize> = const_align_up(100, Alignment::new::<64>());
/// assert_eq!(RING_BYTES, Some(128));
/// assert_eq!(const_align_up(usize::MAX, Alignment::new::<2>()), None);
/// ```
#[inline(always)]
pub const fn const_align_up(value: usize, align: Alignment) -> Option<usize> {
    match value.checked_add(align.as_usize() - 1) {
        Some(bumped) => Some(bumped & align.mask()),
        None => None,
    }
}
