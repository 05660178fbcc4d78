//! Strings: [`CStr`] and its [`CStrExt`] extension, byte strings ([`BStr`]), owned C strings
//! ([`CString`]), formatting into buffers, and parsing.
//!
//! Mirrors `rust/kernel/str.rs` of Linux 7.3.
//!
//! Difference from the kernel: the kernel implements its own `kernel::fmt::Display` for
//! `core::ffi::CStr`, printing non-printable bytes as `\xNN`; drydock's `fmt` module uses
//! `core::fmt` directly, where that implementation is impossible (both the trait and the type are
//! foreign). Format a `CStr` in drydock through `BStr` (`AsRef::<BStr>::as_ref(s)`), which prints
//! the same way.

use crate::{
    alloc::{flags::GFP_KERNEL, AllocError, KVec},
    error::{code::EINVAL, Error, Result},
    ffi::c_char,
    fmt::{self, Write},
};
use core::{
    marker::PhantomData,
    ops::{Deref, DerefMut, Index},
};

pub use crate::ffi::CStr;

pub mod parse_int;

/// A string of bytes, not necessarily UTF-8 nor NUL-terminated.
///
/// Mirrors `kernel::str::BStr`. It prints printable ASCII as is and other bytes escaped
/// (`\t`, `\n`, `\r`, `\xNN`).
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::str::BStr;
///
/// let s = BStr::from_bytes(b"ab\x01\n");
/// assert_eq!(s.len(), 4);
/// assert_eq!(format!("{s}"), "ab\\x01\\n");
/// assert_eq!(format!("{s:?}"), "\"ab\\x01\\n\"");
/// assert_eq!(s.strip_prefix(b"ab".as_ref()).map(|r| r.len()), Some(2));
/// ```
#[repr(transparent)]
pub struct BStr([u8]);

impl BStr {
    /// Returns the length in bytes.
    #[inline]
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns `true` if the string is empty.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Views a byte slice as a `BStr`.
    #[inline]
    pub const fn from_bytes(bytes: &[u8]) -> &Self {
        // SAFETY: `BStr` is a transparent wrapper of `[u8]`.
        unsafe { &*(core::ptr::from_ref(bytes) as *const BStr) }
    }

    /// Returns the rest of the string after `pattern`, or `None` if it does not start with it.
    pub fn strip_prefix(&self, pattern: impl AsRef<Self>) -> Option<&BStr> {
        self.deref()
            .strip_prefix(pattern.as_ref().deref())
            .map(Self::from_bytes)
    }
}

impl fmt::Display for BStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            match b {
                b'\t' => f.write_str("\\t")?,
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                0x20..=0x7e => f.write_char(b.into())?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for BStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for &b in &self.0 {
            match b {
                b'\t' => f.write_str("\\t")?,
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => f.write_char(b.into())?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_char('"')
    }
}

impl Deref for BStr {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl PartialEq for BStr {
    fn eq(&self, other: &Self) -> bool {
        self.deref().eq(other.deref())
    }
}

impl<Idx> Index<Idx> for BStr
where
    [u8]: Index<Idx, Output = [u8]>,
{
    type Output = Self;

    fn index(&self, index: Idx) -> &Self::Output {
        BStr::from_bytes(&self.0[index])
    }
}

impl AsRef<BStr> for [u8] {
    fn as_ref(&self) -> &BStr {
        BStr::from_bytes(self)
    }
}

impl AsRef<BStr> for BStr {
    fn as_ref(&self) -> &BStr {
        self
    }
}

/// Creates a [`BStr`] from a string literal, at compile time.
///
/// Mirrors the kernel's `b_str!`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::{b_str, str::BStr};
///
/// const MY_BSTR: &BStr = b_str!("My awesome BStr!");
/// assert_eq!(MY_BSTR.len(), 16);
/// ```
#[macro_export]
macro_rules! b_str {
    ($str:literal) => {{
        const S: &'static str = $str;
        const C: &'static $crate::str::BStr = $crate::str::BStr::from_bytes(S.as_bytes());
        C
    }};
}

/// Returns the pointer to the characters of `c_str`, in a `const` context.
///
/// Mirrors `kernel::str::as_char_ptr_in_const_context`.
#[inline]
pub const fn as_char_ptr_in_const_context(c_str: &CStr) -> *const c_char {
    c_str.as_ptr().cast()
}

mod private {
    /// Keeps [`CStrExt`](super::CStrExt) implemented by `CStr` only.
    pub trait Sealed {}

    impl Sealed for super::CStr {}
}

/// The kernel's extensions of [`CStr`].
///
/// Mirrors `kernel::str::CStrExt`; the prelude imports it (`str::CStrExt as _`).
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let mut name = c"Eth0".to_cstring()?;
/// name.make_ascii_lowercase();
/// assert_eq!(name.to_bytes(), b"eth0");
/// assert_eq!(c"ab".to_ascii_uppercase()?.to_bytes(), b"AB");
/// // SAFETY: `as_char_ptr` returns a pointer to a NUL-terminated string valid for the call.
/// let again = unsafe { CStr::from_char_ptr(c"xy".as_char_ptr()) };
/// assert_eq!(again, c"xy");
/// # Ok::<(), Error>(())
/// ```
pub trait CStrExt: private::Sealed {
    /// Views the NUL-terminated string at `ptr` as a `CStr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a NUL-terminated string that stays valid and unchanged for `'a`.
    unsafe fn from_char_ptr<'a>(ptr: *const c_char) -> &'a Self;

    /// Views `bytes`, which end with their only NUL, as a mutable `CStr`.
    ///
    /// # Safety
    ///
    /// `bytes` must end with a NUL byte and contain no other.
    unsafe fn from_bytes_with_nul_unchecked_mut(bytes: &mut [u8]) -> &mut Self;

    /// Returns a pointer to the characters, as C functions take them.
    fn as_char_ptr(&self) -> *const c_char;

    /// Returns an owned copy, allocated with `GFP_KERNEL`.
    fn to_cstring(&self) -> Result<CString, AllocError>;

    /// Changes ASCII letters to lowercase, in place.
    fn make_ascii_lowercase(&mut self);

    /// Changes ASCII letters to uppercase, in place.
    fn make_ascii_uppercase(&mut self);

    /// Returns an owned copy with ASCII letters in lowercase.
    fn to_ascii_lowercase(&self) -> Result<CString, AllocError>;

    /// Returns an owned copy with ASCII letters in uppercase.
    fn to_ascii_uppercase(&self) -> Result<CString, AllocError>;
}

/// Returns the bytes of `s`, with its NUL, mutably.
///
/// # Safety
///
/// The caller must keep the string valid: no NUL written before the end, the last byte NUL.
unsafe fn to_bytes_mut(s: &mut CStr) -> &mut [u8] {
    // SAFETY: A `CStr` is a view of its bytes including the NUL, with the metadata of `[u8]`; `s`
    // is borrowed exclusively, and the caller keeps the bytes a valid `CStr`.
    unsafe { &mut *(core::ptr::from_mut(s) as *mut [u8]) }
}

impl CStrExt for CStr {
    #[inline]
    unsafe fn from_char_ptr<'a>(ptr: *const c_char) -> &'a Self {
        // SAFETY: Guaranteed by the caller.
        unsafe { CStr::from_ptr(ptr) }
    }

    #[inline]
    unsafe fn from_bytes_with_nul_unchecked_mut(bytes: &mut [u8]) -> &mut Self {
        debug_assert!(CStr::from_bytes_with_nul(bytes).is_ok());
        // SAFETY: A `CStr` is a view of its bytes including the NUL, with the metadata of `[u8]`;
        // the caller guarantees the slice is exactly such bytes, borrowed for the result's life.
        unsafe { &mut *(core::ptr::from_mut(bytes) as *mut CStr) }
    }

    #[inline]
    fn as_char_ptr(&self) -> *const c_char {
        self.as_ptr()
    }

    fn to_cstring(&self) -> Result<CString, AllocError> {
        CString::try_from(self)
    }

    fn make_ascii_lowercase(&mut self) {
        // SAFETY: Changing the case of ASCII letters writes no NUL.
        unsafe { to_bytes_mut(self) }.make_ascii_lowercase();
    }

    fn make_ascii_uppercase(&mut self) {
        // SAFETY: Changing the case of ASCII letters writes no NUL.
        unsafe { to_bytes_mut(self) }.make_ascii_uppercase();
    }

    fn to_ascii_lowercase(&self) -> Result<CString, AllocError> {
        let mut s = self.to_cstring()?;
        s.make_ascii_lowercase();
        Ok(s)
    }

    fn to_ascii_uppercase(&self) -> Result<CString, AllocError> {
        let mut s = self.to_cstring()?;
        s.make_ascii_uppercase();
        Ok(s)
    }
}

impl AsRef<BStr> for CStr {
    #[inline]
    fn as_ref(&self) -> &BStr {
        BStr::from_bytes(self.to_bytes())
    }
}

/// Creates a [`CStr`] from a string literal (or a `concat!` of literals), at compile time.
///
/// Mirrors the kernel's `c_str!`; the build fails if the string contains a NUL. Rust's `c"..."`
/// literals do the same for plain literals.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::{c_str, str::CStr};
///
/// const MY_CSTR: &CStr = c_str!("My awesome CStr!");
/// assert_eq!(MY_CSTR, c"My awesome CStr!");
/// ```
#[macro_export]
macro_rules! c_str {
    ($str:expr) => {{
        const S: &str = concat!($str, "\0");
        const C: &$crate::str::CStr = match $crate::str::CStr::from_bytes_with_nul(S.as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("string contains interior NUL"),
        };
        C
    }};
}

/// A formatter that writes into a raw buffer and counts the bytes it was asked to write, also
/// those that did not fit.
///
/// Mirrors `kernel::str::RawFormatter`.
///
/// # Invariants
///
/// `buf` is valid for writes of `len` bytes (or `len` is zero); `written` counts every byte
/// written so far, and only the first `min(written, len)` were stored.
pub struct RawFormatter {
    buf: *mut u8,
    len: usize,
    written: usize,
}

impl RawFormatter {
    /// Returns a formatter without a buffer, which only counts.
    fn new() -> Self {
        // INVARIANT: No buffer, nothing written.
        Self {
            buf: core::ptr::null_mut(),
            len: 0,
            written: 0,
        }
    }

    /// Returns a formatter writing into the `len` bytes at `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be valid for writes of `len` bytes for the formatter's lifetime.
    pub(crate) unsafe fn from_buffer(buf: *mut u8, len: usize) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            buf,
            len,
            written: 0,
        }
    }

    /// Returns the number of bytes written so far, including those that did not fit.
    pub fn bytes_written(&self) -> usize {
        self.written
    }
}

impl fmt::Write for RawFormatter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.len.saturating_sub(self.written);
        let n = room.min(s.len());
        if n > 0 {
            // SAFETY: `written < len`, so the `n <= len - written` bytes at `buf + written` are in
            // the buffer (type invariant); `s` does not overlap it.
            unsafe { core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.written), n) };
        }
        // INVARIANT: Every byte of `s` is counted, the first `n` stored.
        self.written = self.written.saturating_add(s.len());
        Ok(())
    }
}

/// A formatter that writes into a byte buffer and fails when the buffer is full.
///
/// Mirrors `kernel::str::Formatter`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use core::fmt::Write;
/// use kernel::str::Formatter;
///
/// let mut buf = [0u8; 8];
/// let mut f = Formatter::new(&mut buf);
/// write!(f, "{}", 1234)?;
/// assert_eq!(f.bytes_written(), 4);
/// assert!(write!(f, "{}", 56789).is_err());
/// assert_eq!(&buf, b"12345678");
/// # Ok::<(), Error>(())
/// ```
pub struct Formatter<'a>(RawFormatter, PhantomData<&'a mut ()>);

impl Formatter<'_> {
    /// Returns a formatter writing into the `len` bytes at `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be valid for writes of `len` bytes for the formatter's lifetime.
    pub(crate) unsafe fn from_buffer(buf: *mut u8, len: usize) -> Self {
        // SAFETY: Guaranteed by the caller.
        Self(unsafe { RawFormatter::from_buffer(buf, len) }, PhantomData)
    }

    /// Returns a formatter writing into `buffer`.
    pub fn new(buffer: &mut [u8]) -> Self {
        // SAFETY: `buffer` is valid for writes of its length for the formatter's lifetime.
        unsafe { Formatter::from_buffer(buffer.as_mut_ptr(), buffer.len()) }
    }
}

impl Deref for Formatter<'_> {
    type Target = RawFormatter;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl fmt::Write for Formatter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)?;
        if self.0.written > self.0.len {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// A formatter that writes into a byte buffer and keeps it NUL-terminated.
///
/// Mirrors `kernel::str::NullTerminatedFormatter`. A write that does not fit, with its NUL, fails
/// and writes nothing.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use core::fmt::Write;
/// use kernel::str::NullTerminatedFormatter;
///
/// let mut buf = [0xffu8; 6];
/// let mut f = NullTerminatedFormatter::new(&mut buf).unwrap();
/// write!(f, "abc")?;
/// assert!(write!(f, "def").is_err());
/// assert_eq!(&buf, b"abc\0\xff\xff");
/// # Ok::<(), Error>(())
/// ```
pub struct NullTerminatedFormatter<'a> {
    /// The unused part of the buffer; its first byte is a NUL.
    buffer: &'a mut [u8],
}

impl<'a> NullTerminatedFormatter<'a> {
    /// Returns a formatter writing into `buffer`, which it makes an empty string; `None` if the
    /// buffer has no room for the NUL.
    pub fn new(buffer: &'a mut [u8]) -> Option<NullTerminatedFormatter<'a>> {
        *(buffer.first_mut()?) = 0;
        Some(Self { buffer })
    }
}

impl Write for NullTerminatedFormatter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        let len = bytes.len();
        // There is always room for the NUL: the buffer is never empty.
        if len > self.buffer.len() - 1 {
            return Err(fmt::Error);
        }
        let buffer = core::mem::take(&mut self.buffer);
        buffer[..len].copy_from_slice(bytes);
        self.buffer = &mut buffer[len..];
        self.buffer[0] = 0;
        Ok(())
    }
}

/// Parses a boolean the way the kernel's `kstrtobool()` does, from its first two bytes.
///
/// `y`, `Y`, `t`, `T`, `1` and `on` (any case) are `true`; `n`, `N`, `f`, `F`, `0` and `off` are
/// `false`; anything else is `EINVAL`.
fn kstrtobool_raw(first: u8, second: u8) -> Result<bool> {
    match (first, second) {
        (b'y' | b'Y' | b't' | b'T' | b'1', _) => Ok(true),
        (b'n' | b'N' | b'f' | b'F' | b'0', _) => Ok(false),
        (b'o' | b'O', b'n' | b'N') => Ok(true),
        (b'o' | b'O', b'f' | b'F') => Ok(false),
        _ => Err(EINVAL),
    }
}

/// Parses a boolean as the kernel's `kstrtobool()`: only the first one or two characters matter.
///
/// Mirrors `kernel::str::kstrtobool`. `y`, `t`, `1` and `on` give `true`; `n`, `f`, `0` and `off`
/// give `false` (letters in either case); anything else fails with `EINVAL`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::str::kstrtobool;
///
/// assert_eq!(kstrtobool(c"yes"), Ok(true));
/// assert_eq!(kstrtobool(c"On"), Ok(true));
/// assert_eq!(kstrtobool(c"0"), Ok(false));
/// assert_eq!(kstrtobool(c"oFf"), Ok(false));
/// assert_eq!(kstrtobool(c"maybe"), Err(EINVAL));
/// assert_eq!(kstrtobool(c""), Err(EINVAL));
/// ```
pub fn kstrtobool(string: &CStr) -> Result<bool> {
    kstrtobool_bytes(string.to_bytes())
}

/// Parses a boolean from bytes, as [`kstrtobool`].
///
/// Mirrors `kernel::str::kstrtobool_bytes`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::str::kstrtobool_bytes;
///
/// assert_eq!(kstrtobool_bytes(b"true"), Ok(true));
/// assert_eq!(kstrtobool_bytes(b"o"), Err(EINVAL));
/// ```
pub fn kstrtobool_bytes(bytes: &[u8]) -> Result<bool> {
    let byte = |i| bytes.get(i).copied().unwrap_or(0);
    kstrtobool_raw(byte(0), byte(1))
}

/// An owned, NUL-terminated string, allocated with `GFP_KERNEL`.
///
/// Mirrors `kernel::str::CString`. It dereferences to [`CStr`].
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::str::CString;
///
/// let s = CString::try_from_fmt(fmt!("{}{}{}", "abc", 10, 20))?;
/// assert_eq!(s.to_bytes_with_nul(), b"abc1020\0");
/// assert_eq!(CString::try_from_fmt(fmt!("a{}b", '\0')).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `buf` holds a NUL-terminated string with no other NUL.
pub struct CString {
    buf: KVec<u8>,
}

impl CString {
    /// Formats `args` into a new string.
    ///
    /// Fails with `ENOMEM` if the allocation fails and `EINVAL` if the result contains a NUL.
    pub fn try_from_fmt(args: fmt::Arguments<'_>) -> Result<Self, Error> {
        // Measure first, then allocate exactly and format again.
        let mut f = RawFormatter::new();
        f.write_fmt(args)?;
        f.write_str("\0")?;
        let size = f.bytes_written();

        let mut buf = KVec::with_capacity(size, GFP_KERNEL)?;
        // SAFETY: `buf` has room for `size` bytes and outlives the formatter.
        let mut f = unsafe { Formatter::from_buffer(buf.as_mut_ptr(), size) };
        f.write_fmt(args)?;
        f.write_str("\0")?;
        // SAFETY: The formatter stored every byte it counted (it fails otherwise), within the
        // capacity.
        unsafe { buf.inc_len(f.bytes_written()) };

        if buf[..buf.len() - 1].contains(&0) {
            return Err(EINVAL);
        }
        // INVARIANT: The string ends with the NUL written above and has no other.
        Ok(Self { buf })
    }
}

impl Deref for CString {
    type Target = CStr;

    fn deref(&self) -> &Self::Target {
        // SAFETY: By the type invariant the buffer is a NUL-terminated string without another
        // NUL.
        unsafe { CStr::from_bytes_with_nul_unchecked(self.buf.as_slice()) }
    }
}

impl DerefMut for CString {
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: By the type invariant the buffer is a NUL-terminated string without another
        // NUL; `CStr` gives no way to write a NUL.
        unsafe { CStr::from_bytes_with_nul_unchecked_mut(self.buf.as_mut_slice()) }
    }
}

impl<'a> TryFrom<&'a CStr> for CString {
    type Error = AllocError;

    fn try_from(cstr: &'a CStr) -> Result<CString, AllocError> {
        let mut buf = KVec::new();
        buf.extend_from_slice(cstr.to_bytes_with_nul(), GFP_KERNEL)?;
        // INVARIANT: The bytes of a `CStr`, with its NUL.
        Ok(CString { buf })
    }
}

impl fmt::Debug for CString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_host::fault::AllocFailure;

    #[test]
    fn bstr_escapes() {
        let escapes = BStr::from_bytes(b"_\t_\n_\r_\\_\'_\"_");
        assert_eq!(format!("{escapes}"), "_\\t_\\n_\\r_\\_'_\"_");
        assert_eq!(format!("{escapes:?}"), "\"_\\t_\\n_\\r_\\\\_'_\\\"_\"");
        let non_ascii = BStr::from_bytes(b"d\xe9j\xe0 vu");
        assert_eq!(format!("{non_ascii}"), "d\\xe9j\\xe0 vu");
        assert_eq!(&BStr::from_bytes(b"hello")[1..3], BStr::from_bytes(b"el"));
        let c: &BStr = c"\x01ok".as_ref();
        assert_eq!(format!("{c}"), "\\x01ok");
    }

    #[test]
    fn c_str_macro_accepts_concat() {
        const NAME: &CStr = crate::c_str!(concat!("a", "b"));
        assert_eq!(NAME.to_bytes_with_nul(), b"ab\0");
        assert_eq!(as_char_ptr_in_const_context(NAME), NAME.as_char_ptr());
    }

    #[test]
    fn cstring_allocation_failures() {
        let failure = AllocFailure::next(usize::MAX);
        assert_eq!(
            CString::try_from_fmt(format_args!("{}", 1)).err(),
            Some(crate::error::code::ENOMEM)
        );
        assert!(c"x".to_cstring().is_err());
        assert!(c"x".to_ascii_uppercase().is_err());
        assert_eq!(failure.injected(), 3);
    }

    #[test]
    fn raw_formatter_counts_what_does_not_fit() {
        let mut buf = [0u8; 3];
        // SAFETY: `buf` outlives the formatter.
        let mut f = unsafe { RawFormatter::from_buffer(buf.as_mut_ptr(), buf.len()) };
        write!(f, "hello").unwrap();
        assert_eq!(f.bytes_written(), 5);
        assert_eq!(&buf, b"hel");
    }

    #[test]
    fn kstrtobool_table() {
        for (s, v) in [
            (&b"y"[..], Ok(true)),
            (b"Y", Ok(true)),
            (b"t", Ok(true)),
            (b"1", Ok(true)),
            (b"on", Ok(true)),
            (b"ON", Ok(true)),
            (b"n", Ok(false)),
            (b"F", Ok(false)),
            (b"0", Ok(false)),
            (b"off", Ok(false)),
            (b"oX", Err(EINVAL)),
            (b"x", Err(EINVAL)),
            (b"", Err(EINVAL)),
        ] {
            assert_eq!(kstrtobool_bytes(s), v, "{:?}", BStr::from_bytes(s));
        }
    }
}
