//! Traits for reinterpreting values as bytes and bytes as values.
//!
//! Mirrors `rust/kernel/transmute.rs` of Linux 7.3: [`FromBytes`] and [`AsBytes`], with the same
//! methods and the same implementations. Identical to the kernel's. (They are the kernel's own
//! traits; the prelude's `FromBytes`/`IntoBytes` are zerocopy's, as in the kernel.)

/// Types for which every bit pattern of the right size is a valid value.
///
/// Mirrors `kernel::transmute::FromBytes`. Padding is allowed (reading it is harmless);
/// `bool`, `char` and references are not such types.
///
/// # Safety
///
/// Every bit pattern must be a valid value of the type, and the type must have no interior
/// mutability.
///
/// # Examples
///
/// ```
/// use kernel::transmute::FromBytes;
///
/// let bytes = 0x0102_0304u32.to_ne_bytes();
/// assert_eq!(u32::from_bytes_copy(&bytes), Some(0x0102_0304));
/// assert_eq!(u16::from_bytes_copy_prefix(&bytes).map(|(_, rest)| rest.len()), Some(2));
/// assert_eq!(u64::from_bytes_copy(&bytes), None);
/// ```
pub unsafe trait FromBytes {
    /// Returns `bytes` as a `&Self`, or `None` if `bytes` is not exactly the size of `Self` or is
    /// not aligned for it.
    fn from_bytes(bytes: &[u8]) -> Option<&Self>
    where
        Self: Sized,
    {
        let ptr = bytes.as_ptr().cast::<Self>();
        if bytes.len() != size_of::<Self>() || !ptr.is_aligned() {
            return None;
        }
        // SAFETY: `ptr` is aligned and points to `size_of::<Self>()` initialised bytes borrowed for
        // the returned lifetime; any bit pattern is a `Self`, which has no interior mutability.
        Some(unsafe { &*ptr })
    }

    /// Returns the start of `bytes` as a `&Self` and the rest, or `None` if `bytes` is too short
    /// or not aligned for `Self`.
    fn from_bytes_prefix(bytes: &[u8]) -> Option<(&Self, &[u8])>
    where
        Self: Sized,
    {
        let (head, rest) = bytes.split_at_checked(size_of::<Self>())?;
        Some((Self::from_bytes(head)?, rest))
    }

    /// Returns `bytes` as a `&mut Self`, or `None` if `bytes` is not exactly the size of `Self` or
    /// is not aligned for it.
    fn from_bytes_mut(bytes: &mut [u8]) -> Option<&mut Self>
    where
        Self: AsBytes + Sized,
    {
        let ptr = bytes.as_mut_ptr().cast::<Self>();
        if bytes.len() != size_of::<Self>() || !ptr.is_aligned() {
            return None;
        }
        // SAFETY: As in `from_bytes`, with exclusive access; whatever is written through the
        // result leaves initialised bytes, as `Self: AsBytes` has no uninitialised byte.
        Some(unsafe { &mut *ptr })
    }

    /// Returns the start of `bytes` as a `&mut Self` and the rest, or `None` if `bytes` is too
    /// short or not aligned for `Self`.
    fn from_bytes_mut_prefix(bytes: &mut [u8]) -> Option<(&mut Self, &mut [u8])>
    where
        Self: AsBytes + Sized,
    {
        let (head, rest) = bytes.split_at_mut_checked(size_of::<Self>())?;
        Some((Self::from_bytes_mut(head)?, rest))
    }

    /// Returns a copy of `bytes` as a `Self` (no alignment needed), or `None` if `bytes` is not
    /// exactly the size of `Self`.
    fn from_bytes_copy(bytes: &[u8]) -> Option<Self>
    where
        Self: Sized,
    {
        if bytes.len() != size_of::<Self>() {
            return None;
        }
        // SAFETY: `bytes` holds `size_of::<Self>()` initialised bytes, any bit pattern is a
        // `Self`, and the read is unaligned.
        Some(unsafe { bytes.as_ptr().cast::<Self>().read_unaligned() })
    }

    /// Returns a copy of the start of `bytes` as a `Self` and the rest, or `None` if `bytes` is
    /// too short.
    fn from_bytes_copy_prefix(bytes: &[u8]) -> Option<(Self, &[u8])>
    where
        Self: Sized,
    {
        let (head, rest) = bytes.split_at_checked(size_of::<Self>())?;
        Some((Self::from_bytes_copy(head)?, rest))
    }
}

/// Implements an `unsafe` marker trait for a list of types (with optional generics in braces).
macro_rules! impl_marker {
    ($trait:ident: $($({$($generics:tt)*})? $ty:ty,)*) => {
        // SAFETY: Given at the invocation.
        $(unsafe impl$(<$($generics)*>)? $trait for $ty {})*
    };
}

impl_marker! {FromBytes:
    // SAFETY: An inhabited zero-sized type without invariants has exactly one bit pattern.
    (),
    {T} core::marker::PhantomData<T>,
    // SAFETY: Every bit pattern is an integer.
    u8, u16, u32, u64, usize,
    i8, i16, i32, i64, isize,
    // SAFETY: A sequence of values that accept any bit pattern accepts any bit pattern.
    {T: FromBytes} [T],
    {T: FromBytes, const N: usize} [T; N],
}

/// Types whose values are bytes that are all initialised: no padding, nothing uninitialised.
///
/// Mirrors `kernel::transmute::AsBytes`. Such values may be copied out byte for byte (to a device,
/// to userspace). Avoid types that hold kernel addresses, which should not leak (a correctness
/// rule, not a safety one).
///
/// # Safety
///
/// No value of the type may contain an uninitialised byte, and the type must have no interior
/// mutability.
///
/// # Examples
///
/// ```
/// use kernel::transmute::AsBytes;
///
/// assert_eq!(0x0102u16.as_bytes(), &0x0102u16.to_ne_bytes());
/// let mut words = [0u16; 2];
/// words.as_bytes_mut()[0] = 0xff;
/// assert_eq!(words[0], u16::from_ne_bytes([0xff, 0]));
/// ```
pub unsafe trait AsBytes {
    /// Returns the bytes of `self`.
    fn as_bytes(&self) -> &[u8] {
        let len = size_of_val(self);
        // SAFETY: `self` is `len` initialised bytes (`Self: AsBytes`), borrowed for the result's
        // lifetime; `u8` has no alignment requirement.
        unsafe { core::slice::from_raw_parts(core::ptr::from_ref(self).cast::<u8>(), len) }
    }

    /// Returns the bytes of `self`, writable: any bytes written form a valid `Self`.
    fn as_bytes_mut(&mut self) -> &mut [u8]
    where
        Self: FromBytes,
    {
        let len = size_of_val(self);
        // SAFETY: `self` is `len` initialised bytes (`Self: AsBytes`), exclusively borrowed for
        // the result's lifetime, and any bytes written form a valid `Self` (`Self: FromBytes`).
        unsafe { core::slice::from_raw_parts_mut(core::ptr::from_mut(self).cast::<u8>(), len) }
    }
}

impl_marker! {AsBytes:
    // SAFETY: A zero-sized type has no bytes, so none is uninitialised.
    (),
    {T} core::marker::PhantomData<T>,
    // SAFETY: Values of these types have no padding and no uninitialised byte.
    u8, u16, u32, u64, usize,
    i8, i16, i32, i64, isize,
    bool,
    char,
    str,
    // SAFETY: A sequence of values without uninitialised bytes has none either (arrays and slices
    // have no padding between elements).
    {T: AsBytes} [T],
    {T: AsBytes, const N: usize} [T; N],
}
