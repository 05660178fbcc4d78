//! Integer types split into named bit fields: the [`bitfield!`](crate::bitfield!) macro.
//!
//! Mirrors `rust/kernel/bitfield.rs` of Linux 7.3; the macro accepts the same syntax and generates
//! the same items, which `register!` builds on.
//!
//! ```text
//! bitfield! {
//!     /// Documentation and attributes of the type.
//!     pub struct Name(storage) {          // storage: u8, u16, u32 or u64
//!         /// Documentation of a field.
//!         hi:lo field;                    // bits hi..=lo, as a `Bounded<storage, hi - lo + 1>`
//!         hi:lo field => Type;            // converted with `From`/`Into` `Bounded`
//!         hi:lo field ?=> Type;           // read with `TryFrom<Bounded>`, written with `Into`
//!     }
//! }
//! ```
//!
//! For the type it generates [`From`] conversions to and from the storage, `from_raw`/`into_raw`
//! (`const`), [`Debug`](core::fmt::Debug) (the raw value and every field), and
//! [`Zeroable`](pin_init::Zeroable) (so `Name::zeroed()` and `pin_init::zeroed::<Name>()` give
//! all bits clear). For each field `f`:
//!
//! - `f()`: the field's value (converted for `=>`, a `Result` for `?=>`);
//! - `with_f(value)`: the value with the field replaced; for a plain field, any value that
//!   converts into the field's `Bounded` without loss (a `bool` for one bit, a `u8` for eight...);
//! - for plain fields, `with_const_f::<V>()` (`const`, the build fails if `V` does not fit) and
//!   `try_with_f(value)` (`EOVERFLOW` if it does not fit);
//! - the constants `F_MASK`, `F_SHIFT` and `F_RANGE`.
//!
//! Setters keep every other bit, including bits outside any field. Field names must not start with
//! `with_`, `const_`, `try_with_` or `__`, nor be `from_raw`, `into_raw` or `into`.
//!
//! # Examples
//!
//! ```
//! use kernel::bitfield;
//! use kernel::num::Bounded;
//! use kernel::prelude::*;
//! use pin_init::Zeroable;
//!
//! #[derive(Debug, Clone, Copy, PartialEq)]
//! enum Speed { Slow, Fast }
//!
//! impl From<Bounded<u16, 1>> for Speed {
//!     fn from(bit: Bounded<u16, 1>) -> Self {
//!         if bit.into_bool() { Speed::Fast } else { Speed::Slow }
//!     }
//! }
//!
//! impl From<Speed> for Bounded<u16, 1> {
//!     fn from(speed: Speed) -> Self {
//!         (speed == Speed::Fast).into()
//!     }
//! }
//!
//! bitfield! {
//!     /// A link control word.
//!     pub struct LinkCtl(u16) {
//!         /// Number of lanes minus one.
//!         11:8 lanes;
//!         4:4 speed => Speed;
//!         0:0 enable;
//!     }
//! }
//!
//! let ctl = LinkCtl::zeroed()
//!     .with_const_lanes::<3>()
//!     .with_speed(Speed::Fast)
//!     .with_enable(true);
//! assert_eq!(ctl.into_raw(), 0x0311);
//! assert_eq!(ctl.lanes(), 3);
//! assert_eq!(ctl.speed(), Speed::Fast);
//! assert_eq!(LinkCtl::LANES_MASK, 0x0f00);
//! assert_eq!(ctl.try_with_lanes(16u32), Err(EOVERFLOW));
//! assert_eq!(u16::from(LinkCtl::from(0xffff).with_const_lanes::<0>()), 0xf0ff);
//! ```
/// Defines an integer type split into named bit fields, with bounds-checked accessors.
///
/// Mirrors the kernel's `bitfield!`; see the [module documentation](mod@crate::bitfield) for the
/// syntax, the generated items and examples.
#[macro_export]
macro_rules! bitfield {
    (
        $(#[$attr:meta])* $vis:vis struct $name:ident($storage:ty) { $($fields:tt)* }
    ) => {
        $crate::bitfield!(@type [$(#[$attr])*] $vis $name $storage);
        $crate::bitfield!(@fields $vis $name $storage { $($fields)* });
    };

    // The type, its raw conversions and `Zeroable`.
    (@type [$(#[$attr:meta])*] $vis:vis $name:ident $storage:ty) => {
        #[allow(non_camel_case_types)]
        $(#[$attr])*
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq)]
        $vis struct $name {
            inner: $storage,
        }

        #[allow(dead_code)]
        impl $name {
            /// Returns the value whose bits are `value`.
            #[inline(always)]
            $vis const fn from_raw(value: $storage) -> Self {
                Self { inner: value }
            }

            /// Returns the bits of the value (as `From` does, in fewer words).
            #[inline(always)]
            $vis const fn into_raw(self) -> $storage {
                self.inner
            }
        }

        // SAFETY: The type is a transparent wrapper of an integer, for which all bits zero is a
        // valid value.
        unsafe impl ::pin_init::Zeroable for $name {}

        impl ::core::convert::From<$name> for $storage {
            #[inline(always)]
            fn from(value: $name) -> $storage {
                value.into_raw()
            }
        }

        impl ::core::convert::From<$storage> for $name {
            #[inline(always)]
            fn from(value: $storage) -> $name {
                $name::from_raw(value)
            }
        }
    };

    // The field accessors and `Debug`.
    (@fields $vis:vis $name:ident $storage:ty {
        $(
            $(#[doc = $doc:expr])*
            $hi:literal:$lo:literal $field:ident $(?=> $try_type:ty)? $(=> $type:ty)?;
        )*
    }) => {
        #[allow(dead_code)]
        impl $name {
            $(
                $crate::bitfield!(@raw_accessors $vis $name $storage, $hi, $lo, $field);
                $crate::bitfield!(
                    @accessors [$(#[doc = $doc])*] $vis $storage, $hi, $lo, $field
                    $(?=> $try_type)? $(=> $type)?
                );
            )*
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!($name))
                    .field("<raw>", &::core::format_args!("{:#x}", self.inner))
                    $(.field(::core::stringify!($field), &self.$field()))*
                    .finish()
            }
        }
    };

    // Constants and the private accessors of one field, in terms of its exact `Bounded`. As in the
    // kernel, the constants carry no documentation: a `pub` bitfield in a public module fails
    // `missing_docs`, here as in a kernel tree.
    (@raw_accessors $vis:vis $name:ident $storage:ty, $hi:literal, $lo:literal, $field:ident) => {
        $crate::macros::paste! {
            $vis const [<$field:upper _RANGE>]: ::core::ops::RangeInclusive<u8> = $lo..=$hi;
            $vis const [<$field:upper _MASK>]: $storage =
                (<$storage>::MAX >> (<$storage>::BITS - 1 - $hi)) & !((1 << $lo) - 1);
            $vis const [<$field:upper _SHIFT>]: u32 = $lo;

            #[inline(always)]
            fn [<__ $field>](self) -> $crate::num::Bounded<$storage, { $hi + 1 - $lo }> {
                // Shift the field's top bit to the storage's top, then the field down to bit 0:
                // `Bounded::shr` proves at compile time that the result has the field's width.
                const TOP: u32 = <$storage>::BITS - 1 - $hi;
                let top_aligned =
                    $crate::num::Bounded::<$storage, { <$storage>::BITS }>::from(self.inner << TOP);
                top_aligned.shr::<{ TOP + $lo }, { $hi + 1 - $lo }>()
            }

            #[inline(always)]
            const fn [<__with_ $field>](
                self,
                value: $crate::num::Bounded<$storage, { $hi + 1 - $lo }>,
            ) -> Self {
                let mask = Self::[<$field:upper _MASK>];
                Self {
                    inner: (self.inner & !mask) | (value.get() << Self::[<$field:upper _SHIFT>]),
                }
            }
        }
    };

    // Public accessors of a field converted infallibly (`=>`).
    (
        @accessors [$(#[doc = $doc:expr])*] $vis:vis $storage:ty, $hi:literal, $lo:literal,
            $field:ident => $type:ty
    ) => {
        $crate::macros::paste! {
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value of this field."]
            #[inline(always)]
            $vis fn $field(self) -> $type {
                self.[<__ $field>]().into()
            }

            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value with this field set to `value`."]
            #[inline(always)]
            $vis fn [<with_ $field>](self, value: $type) -> Self {
                self.[<__with_ $field>](value.into())
            }
        }
    };

    // Public accessors of a field converted fallibly (`?=>`).
    (
        @accessors [$(#[doc = $doc:expr])*] $vis:vis $storage:ty, $hi:literal, $lo:literal,
            $field:ident ?=> $type:ty
    ) => {
        $crate::macros::paste! {
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value of this field, or the conversion's error."]
            #[inline(always)]
            $vis fn $field(self) -> ::core::result::Result<
                $type,
                <$type as ::core::convert::TryFrom<
                    $crate::num::Bounded<$storage, { $hi + 1 - $lo }>
                >>::Error,
            > {
                ::core::convert::TryFrom::try_from(self.[<__ $field>]())
            }

            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value with this field set to `value`."]
            #[inline(always)]
            $vis fn [<with_ $field>](self, value: $type) -> Self {
                self.[<__with_ $field>](value.into())
            }
        }
    };

    // Public accessors of a plain field.
    (
        @accessors [$(#[doc = $doc:expr])*] $vis:vis $storage:ty, $hi:literal, $lo:literal,
            $field:ident
    ) => {
        $crate::macros::paste! {
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value of this field."]
            #[inline(always)]
            $vis fn $field(self) -> $crate::num::Bounded<$storage, { $hi + 1 - $lo }> {
                self.[<__ $field>]()
            }

            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value with this field set to the constant `VALUE`; the build"]
            #[doc = "fails if it does not fit."]
            #[inline(always)]
            $vis const fn [<with_const_ $field>]<const VALUE: $storage>(self) -> Self {
                self.[<__with_ $field>](
                    $crate::num::Bounded::<$storage, { $hi + 1 - $lo }>::new::<VALUE>()
                )
            }

            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value with this field set to `value`, of any type that always"]
            #[doc = "fits."]
            #[inline(always)]
            $vis fn [<with_ $field>]<T>(self, value: T) -> Self
            where
                T: ::core::convert::Into<$crate::num::Bounded<$storage, { $hi + 1 - $lo }>>,
            {
                self.[<__with_ $field>](value.into())
            }

            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Returns the value with this field set to `value`, or `EOVERFLOW` if it does"]
            #[doc = "not fit."]
            #[inline(always)]
            $vis fn [<try_with_ $field>]<T>(self, value: T) -> $crate::error::Result<Self>
            where
                T: $crate::num::TryIntoBounded<$storage, { $hi + 1 - $lo }>,
            {
                let value = value
                    .try_into_bounded()
                    .ok_or($crate::error::code::EOVERFLOW)?;
                Ok(self.[<__with_ $field>](value))
            }
        }
    };
}
