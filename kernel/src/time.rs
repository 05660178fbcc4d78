//! Time: points in time ([`Instant`]) on a clock ([`ClockSource`]), spans of time ([`Delta`]),
//! and jiffies.
//!
//! Mirrors `rust/kernel/time.rs` of Linux 7.3. The kernel reads its clocks with `ktime_get()` and
//! friends; drydock reads the same clocks of the host with `clock_gettime(2)`
//! (`CLOCK_MONOTONIC`, `CLOCK_REALTIME`, `CLOCK_BOOTTIME`, `CLOCK_TAI`).
//!
//! Jiffies are counted at `HZ = 250`, the tick rate of the Debian kernels (`CONFIG_HZ_250`); a
//! driver should not depend on the value, as in the kernel.
//!
//! Timers are in [`hrtimer`].

use crate::ffi::c_long;
use core::marker::PhantomData;
use core::ops;

pub mod delay;
pub mod hrtimer;

/// Nanoseconds in a microsecond.
///
/// Mirrors `kernel::time::NSEC_PER_USEC`.
pub const NSEC_PER_USEC: i64 = 1_000;

/// Nanoseconds in a millisecond.
///
/// Mirrors `kernel::time::NSEC_PER_MSEC`.
pub const NSEC_PER_MSEC: i64 = 1_000_000;

/// Nanoseconds in a second.
///
/// Mirrors `kernel::time::NSEC_PER_SEC`.
pub const NSEC_PER_SEC: i64 = 1_000_000_000;

/// The tick rate: jiffies per second (the host's, which counts the jiffies).
// CAST: 250 fits an `i64`.
const HZ: i64 = drydock_host::time::HZ as i64;

/// A count of jiffies (timer ticks; see the [module documentation](self) for their rate).
///
/// Mirrors `kernel::time::Jiffies`.
pub type Jiffies = crate::ffi::c_ulong;

/// A count of milliseconds.
///
/// Mirrors `kernel::time::Msecs`.
pub type Msecs = crate::ffi::c_uint;

/// `MAX_JIFFY_OFFSET`: the largest timeout in jiffies the kernel handles.
const MAX_JIFFY_OFFSET: Jiffies = ((c_long::MAX >> 1) - 1) as Jiffies;

/// Converts milliseconds to jiffies, rounding up, as the kernel's `msecs_to_jiffies()`.
///
/// Mirrors `kernel::time::msecs_to_jiffies`. Values above `i32::MAX` (negative as a C `int`)
/// give `MAX_JIFFY_OFFSET`, as in the kernel.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::time::msecs_to_jiffies;
///
/// assert_eq!(msecs_to_jiffies(0), 0);
/// assert_eq!(msecs_to_jiffies(1), 1);
/// assert_eq!(msecs_to_jiffies(1000), 250);
/// ```
#[inline]
pub fn msecs_to_jiffies(msecs: Msecs) -> Jiffies {
    if i32::try_from(msecs).is_err() {
        return MAX_JIFFY_OFFSET;
    }
    // CAST: `HZ` divides 1000, and both are positive.
    let msecs_per_jiffy = (1000 / HZ) as Jiffies;
    Jiffies::from(msecs).div_ceil(msecs_per_jiffy)
}

/// Returns the span of `jiffies` (not negative), saturating.
pub(crate) fn jiffies_to_delta(jiffies: c_long) -> Delta {
    Delta::from_nanos(jiffies.max(0).saturating_mul(NSEC_PER_SEC / HZ))
}

/// Returns the number of jiffies in `delta`, rounded up, and `0` for negative spans.
pub(crate) fn delta_to_jiffies(delta: Delta) -> c_long {
    let nanos = delta.as_nanos().max(0);
    let per_jiffy = NSEC_PER_SEC / HZ;
    let jiffies = nanos / per_jiffy + i64::from(nanos % per_jiffy != 0);
    // CAST: the quotient is at most `i64::MAX / 4_000_000`, which fits any 64-bit `c_long`.
    jiffies as c_long
}

/// Returns `delta` as a `std::time::Duration`, negative spans as zero.
pub(crate) fn delta_to_duration(delta: Delta) -> std::time::Duration {
    std::time::Duration::from_nanos(delta.as_nanos().max(0).unsigned_abs())
}

/// A clock that [`Instant`]s are measured on.
///
/// Mirrors `kernel::time::ClockSource`.
///
/// # Safety
///
/// [`ClockSource::ktime_get`] must return a value in `0..=i64::MAX` (nanoseconds).
pub unsafe trait ClockSource {
    /// The identifier of the clock (`CLOCK_MONOTONIC`, ...).
    const ID: crate::bindings::clockid_t;

    /// Returns the current time on the clock, in nanoseconds.
    fn ktime_get() -> crate::bindings::ktime_t;
}

/// The monotonic clock: time since boot, not counting suspend; never goes back.
///
/// Mirrors `kernel::time::Monotonic` (`CLOCK_MONOTONIC`).
pub struct Monotonic;

// SAFETY: `CLOCK_MONOTONIC` reads a non-negative time since boot.
unsafe impl ClockSource for Monotonic {
    const ID: crate::bindings::clockid_t = drydock_host::time::CLOCK_MONOTONIC;

    fn ktime_get() -> crate::bindings::ktime_t {
        drydock_host::time::ktime_get(Self::ID)
    }
}

/// The wall clock: time since the Unix epoch; can jump when it is set.
///
/// Mirrors `kernel::time::RealTime` (`CLOCK_REALTIME`).
pub struct RealTime;

// SAFETY: `CLOCK_REALTIME` reads the non-negative time since 1970.
unsafe impl ClockSource for RealTime {
    const ID: crate::bindings::clockid_t = drydock_host::time::CLOCK_REALTIME;

    fn ktime_get() -> crate::bindings::ktime_t {
        drydock_host::time::ktime_get(Self::ID)
    }
}

/// Time since boot, counting suspend.
///
/// Mirrors `kernel::time::BootTime` (`CLOCK_BOOTTIME`).
pub struct BootTime;

// SAFETY: `CLOCK_BOOTTIME` reads a non-negative time since boot.
unsafe impl ClockSource for BootTime {
    const ID: crate::bindings::clockid_t = drydock_host::time::CLOCK_BOOTTIME;

    fn ktime_get() -> crate::bindings::ktime_t {
        drydock_host::time::ktime_get(Self::ID)
    }
}

/// International atomic time: the wall clock without leap seconds.
///
/// Mirrors `kernel::time::Tai` (`CLOCK_TAI`).
pub struct Tai;

// SAFETY: `CLOCK_TAI` reads the non-negative time since 1970.
unsafe impl ClockSource for Tai {
    const ID: crate::bindings::clockid_t = drydock_host::time::CLOCK_TAI;

    fn ktime_get() -> crate::bindings::ktime_t {
        drydock_host::time::ktime_get(Self::ID)
    }
}

/// A point in time on the clock `C`.
///
/// Mirrors `kernel::time::Instant`. Subtracting two instants gives a [`Delta`].
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::time::{Delta, Instant, Monotonic};
///
/// let start = Instant::<Monotonic>::now();
/// let later = start + Delta::from_millis(5);
/// assert_eq!(later - start, Delta::from_millis(5));
/// assert!(start.elapsed() >= Delta::ZERO);
/// ```
///
/// # Invariants
///
/// `inner` is in `0..=i64::MAX` nanoseconds.
#[repr(transparent)]
#[derive(PartialEq, PartialOrd, Eq, Ord)]
pub struct Instant<C: ClockSource> {
    inner: crate::bindings::ktime_t,
    _c: PhantomData<C>,
}

impl<C: ClockSource> Clone for Instant<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: ClockSource> Copy for Instant<C> {}

impl<C: ClockSource> Instant<C> {
    /// Returns the current time on the clock.
    #[inline]
    pub fn now() -> Self {
        // INVARIANT: `ClockSource` guarantees the range.
        Self {
            inner: C::ktime_get(),
            _c: PhantomData,
        }
    }

    /// Returns the time elapsed since this instant.
    #[inline]
    pub fn elapsed(&self) -> Delta {
        Self::now() - *self
    }

    /// Returns the instant in nanoseconds on its clock (a `ktime_t`).
    #[inline]
    pub(crate) fn as_nanos(&self) -> i64 {
        self.inner
    }

    /// Returns the instant `ktime` nanoseconds on the clock.
    ///
    /// # Panics
    ///
    /// In debug builds, panics if `ktime` is negative.
    ///
    /// # Safety
    ///
    /// `ktime` must be in `0..=i64::MAX`.
    #[inline]
    pub(crate) unsafe fn from_ktime(ktime: crate::bindings::ktime_t) -> Self {
        debug_assert!(ktime >= 0);
        // INVARIANT: Guaranteed by the caller.
        Self {
            inner: ktime,
            _c: PhantomData,
        }
    }
}

impl<C: ClockSource> ops::Sub for Instant<C> {
    type Output = Delta;

    /// Returns the span from `other` to `self` (negative if `other` is later).
    #[inline]
    fn sub(self, other: Instant<C>) -> Delta {
        Delta {
            value: self.inner - other.inner,
        }
    }
}

impl<T: ClockSource> ops::Add<Delta> for Instant<T> {
    type Output = Self;

    /// Returns the instant `rhs` after `self`.
    ///
    /// # Panics
    ///
    /// In debug builds, panics if the result overflows or is negative (the kernel checks with
    /// `CONFIG_RUST_OVERFLOW_CHECKS`).
    #[inline]
    fn add(self, rhs: Delta) -> Self::Output {
        let res = self.inner + rhs.value;
        debug_assert!(res >= 0);
        // INVARIANT: Checked above (in debug builds).
        Self {
            inner: res,
            _c: PhantomData,
        }
    }
}

impl<T: ClockSource> ops::Sub<Delta> for Instant<T> {
    type Output = Self;

    /// Returns the instant `rhs` before `self`.
    ///
    /// # Panics
    ///
    /// In debug builds, panics if the result overflows or is negative.
    #[inline]
    fn sub(self, rhs: Delta) -> Self::Output {
        let res = self.inner - rhs.value;
        debug_assert!(res >= 0);
        // INVARIANT: Checked above (in debug builds).
        Self {
            inner: res,
            _c: PhantomData,
        }
    }
}

mod private {
    /// Keeps the set of time units closed.
    pub trait Sealed {}

    impl Sealed for super::Nsec {}
    impl Sealed for super::Jiffy {}
}

/// A unit a [`Delta`] counts in.
///
/// Mirrors `kernel::time::TimeUnit`; implemented by [`Nsec`] and [`Jiffy`].
pub trait TimeUnit: private::Sealed {
    /// The integer type of a count of this unit.
    type Repr: Copy + Clone + PartialEq + PartialOrd + Eq + Ord + core::fmt::Debug;
}

/// Nanoseconds, the default unit of [`Delta`].
///
/// Mirrors `kernel::time::Nsec`.
#[derive(Copy, Clone, PartialEq, PartialOrd, Eq, Ord, Debug)]
pub enum Nsec {}

impl TimeUnit for Nsec {
    type Repr = i64;
}

/// Jiffies, as a unit of [`Delta`].
///
/// Mirrors `kernel::time::Jiffy`.
#[derive(Copy, Clone, PartialEq, PartialOrd, Eq, Ord, Debug)]
pub enum Jiffy {}

impl TimeUnit for Jiffy {
    type Repr = isize;
}

/// A span of time, possibly negative, counted in the unit `U` (nanoseconds by default).
///
/// Mirrors `kernel::time::Delta`. The constructors from larger units saturate at the limits of
/// `i64` nanoseconds (about 292 years); the arithmetic operators panic on overflow in debug builds
/// and wrap otherwise, as integer arithmetic does.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::time::Delta;
///
/// let d = Delta::from_millis(3) + Delta::from_micros(1);
/// assert_eq!(d.as_nanos(), 3_001_000);
/// assert_eq!(d.as_millis(), 3);
/// assert_eq!(d.as_millis_ceil(), 4);
/// assert_eq!(Delta::from_secs(i64::MAX).as_nanos(), i64::MAX);
/// assert_eq!(d / Delta::from_micros(1), 3001);
/// ```
#[derive(Copy, Clone, PartialEq, PartialOrd, Eq, Ord, Debug)]
pub struct Delta<U: TimeUnit = Nsec> {
    value: U::Repr,
}

impl Delta<Jiffy> {
    /// Returns a span of `jiffies` jiffies.
    #[inline]
    pub const fn from_jiffies(jiffies: isize) -> Self {
        Self { value: jiffies }
    }

    /// Returns the span in jiffies.
    #[inline]
    pub const fn as_jiffies(self) -> isize {
        self.value
    }
}

impl ops::Add for Delta {
    type Output = Self;

    #[inline]
    fn add(self, rhs: Self) -> Self {
        Self {
            value: self.value + rhs.value,
        }
    }
}

impl ops::AddAssign for Delta {
    #[inline]
    fn add_assign(&mut self, rhs: Self) {
        self.value += rhs.value;
    }
}

impl ops::Sub for Delta {
    type Output = Self;

    #[inline]
    fn sub(self, rhs: Self) -> Self::Output {
        Self {
            value: self.value - rhs.value,
        }
    }
}

impl ops::SubAssign for Delta {
    #[inline]
    fn sub_assign(&mut self, rhs: Self) {
        self.value -= rhs.value;
    }
}

impl ops::Mul<i64> for Delta {
    type Output = Self;

    #[inline]
    fn mul(self, rhs: i64) -> Self::Output {
        Self {
            value: self.value * rhs,
        }
    }
}

impl ops::MulAssign<i64> for Delta {
    #[inline]
    fn mul_assign(&mut self, rhs: i64) {
        self.value *= rhs;
    }
}

impl ops::Div for Delta {
    type Output = i64;

    /// Returns how many times `rhs` fits in `self` (truncated toward zero).
    #[inline]
    fn div(self, rhs: Self) -> Self::Output {
        self.value / rhs.value
    }
}

impl Delta {
    /// The empty span.
    pub const ZERO: Self = Self { value: 0 };

    /// Returns a span of `nanos` nanoseconds.
    #[inline]
    pub const fn from_nanos(nanos: i64) -> Self {
        Self { value: nanos }
    }

    /// Returns a span of `micros` microseconds, saturating.
    #[inline]
    pub const fn from_micros(micros: i64) -> Self {
        Self {
            value: micros.saturating_mul(NSEC_PER_USEC),
        }
    }

    /// Returns a span of `millis` milliseconds, saturating.
    #[inline]
    pub const fn from_millis(millis: i64) -> Self {
        Self {
            value: millis.saturating_mul(NSEC_PER_MSEC),
        }
    }

    /// Returns a span of `secs` seconds, saturating.
    #[inline]
    pub const fn from_secs(secs: i64) -> Self {
        Self {
            value: secs.saturating_mul(NSEC_PER_SEC),
        }
    }

    /// Returns `true` if the span is empty.
    #[inline]
    pub fn is_zero(self) -> bool {
        self.as_nanos() == 0
    }

    /// Returns `true` if the span is negative.
    #[inline]
    pub fn is_negative(self) -> bool {
        self.as_nanos() < 0
    }

    /// Returns the span in nanoseconds.
    #[inline]
    pub const fn as_nanos(self) -> i64 {
        self.value
    }

    /// Returns the span in microseconds, rounded up for positive spans and toward zero for
    /// negative ones.
    #[inline]
    pub fn as_micros_ceil(self) -> i64 {
        Self::ceil_div(self.as_nanos(), NSEC_PER_USEC)
    }

    /// Returns the span in milliseconds, truncated toward zero.
    #[inline]
    pub fn as_millis(self) -> i64 {
        self.as_nanos() / NSEC_PER_MSEC
    }

    /// Returns the span in milliseconds, rounded up for positive spans and toward zero for
    /// negative ones.
    #[inline]
    pub fn as_millis_ceil(self) -> i64 {
        Self::ceil_div(self.as_nanos(), NSEC_PER_MSEC)
    }

    /// Divides `n` by `unit`, rounding positive values up and negative ones toward zero, without
    /// overflowing at `i64::MAX`.
    fn ceil_div(n: i64, unit: i64) -> i64 {
        if n > 0 {
            (n - 1) / unit + 1
        } else {
            n / unit
        }
    }

    /// Returns the remainder of the span in nanoseconds divided by `dividend`, with the sign of
    /// the span.
    #[inline]
    pub fn rem_nanos(self, dividend: i32) -> Self {
        Self {
            value: self.as_nanos() % i64::from(dividend),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_saturate() {
        assert_eq!(Delta::from_micros(i64::MAX).as_nanos(), i64::MAX);
        assert_eq!(Delta::from_millis(i64::MIN).as_nanos(), i64::MIN);
        assert_eq!(Delta::from_secs(-2).as_nanos(), -2 * NSEC_PER_SEC);
    }

    #[test]
    fn rounding() {
        assert_eq!(Delta::from_nanos(1).as_micros_ceil(), 1);
        assert_eq!(Delta::from_nanos(1000).as_micros_ceil(), 1);
        assert_eq!(Delta::from_nanos(1001).as_micros_ceil(), 2);
        assert_eq!(Delta::from_nanos(-1999).as_micros_ceil(), -1);
        assert_eq!(
            Delta::from_nanos(i64::MAX).as_micros_ceil(),
            i64::MAX / 1000 + 1
        );
        assert_eq!(Delta::from_nanos(-1_500_000).as_millis(), -1);
        assert_eq!(Delta::ZERO.as_millis_ceil(), 0);
        assert_eq!(Delta::from_nanos(-7).rem_nanos(5).as_nanos(), -2);
    }

    #[test]
    fn arithmetic() {
        let mut d = Delta::from_millis(2);
        d += Delta::from_millis(1);
        d -= Delta::from_micros(500);
        d *= 2;
        assert_eq!(d, Delta::from_micros(5000));
        assert_eq!((d - Delta::from_millis(6)).as_nanos(), -NSEC_PER_MSEC);
        assert!((d - Delta::from_millis(6)).is_negative());
        assert!((d - d).is_zero());
        assert_eq!(Delta::from_jiffies(5).as_jiffies(), 5);
    }

    #[test]
    fn jiffies_conversions() {
        assert_eq!(msecs_to_jiffies(4), 1);
        assert_eq!(msecs_to_jiffies(5), 2);
        assert_eq!(msecs_to_jiffies(u32::MAX), MAX_JIFFY_OFFSET);
        assert_eq!(jiffies_to_delta(250), Delta::from_secs(1));
        assert_eq!(delta_to_jiffies(Delta::from_nanos(1)), 1);
        assert_eq!(delta_to_jiffies(Delta::from_millis(-3)), 0);
        assert_eq!(
            delta_to_duration(Delta::from_millis(-3)),
            std::time::Duration::ZERO
        );
    }

    #[test]
    fn clocks_tick() {
        // As in the kernel, `Instant`s compare only if their clock type does; compare spans.
        let a = Instant::<Monotonic>::now();
        let b = Instant::<Monotonic>::now();
        assert!(b - a >= Delta::ZERO);
        assert!(Instant::<RealTime>::now().elapsed() >= Delta::ZERO);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri implements neither CLOCK_BOOTTIME nor CLOCK_TAI")]
    fn boot_and_tai_clocks_tick() {
        assert!(Instant::<BootTime>::now().elapsed() >= Delta::ZERO);
        // TAI runs ahead of (or, without leap second data, with) UTC.
        assert!(Tai::ktime_get() + NSEC_PER_SEC >= RealTime::ktime_get());
    }
}
