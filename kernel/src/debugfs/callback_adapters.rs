//! Files whose reading or writing is a callback the driver passes, instead of a trait of the data.
//!
//! A callback file's data is a `T`, but its operations are those of an adapter type around `T`
//! that carries the callback in its type: the callback is a function item or a closure that
//! captures nothing, so a value of its type can be made out of nothing when the file is used. The
//! adapters have the layout of `T`, so the operations built for an adapter serve a file whose
//! data is a `T` ([`FileOps::adapt`](super::file_ops::FileOps::adapt)).

use super::{Reader, Writer};

use crate::{fmt, prelude::*, uaccess::UserSliceReader};

use core::{marker::PhantomData, ops::Deref};

/// An adapter around a value of its [`Inner`](Adapter::Inner) type.
///
/// # Safety
///
/// A `&Self` must be usable as a `&Self::Inner`: `Self` has the layout of `Inner`, and a `Self`
/// adds no requirement a `&Inner` could break.
pub(crate) unsafe trait Adapter {
    /// The adapted type.
    type Inner;
}

/// Implements [`Reader`] with the callback `W` on what `D` dereferences to.
///
/// Put over a [`FormatAdapter`] for a file whose reading is a callback too, over a [`NoWriter`]
/// for one that cannot be read.
///
/// # Invariants
///
/// A value of this type exists only if `W` has a value: the callback the file was created with.
#[repr(transparent)]
pub(crate) struct WritableAdapter<D, W> {
    inner: D,
    _writer: PhantomData<W>,
}

// SAFETY: a transparent wrapper of `D` whose marker adds no requirement.
unsafe impl<D, W> Adapter for WritableAdapter<D, W> {
    type Inner = D;
}

impl<D: Writer, W> Writer for WritableAdapter<D, W> {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.write(f)
    }
}

impl<D: Deref, W> Reader for WritableAdapter<D, W>
where
    W: Fn(&D::Target, &mut UserSliceReader) -> Result + Send + Sync + 'static,
{
    fn read_from_slice(&self, reader: &mut UserSliceReader) -> Result {
        // SAFETY: this value exists, so `W` has a value (type invariant).
        let w: &W = unsafe { materialize_zst() };
        w(self.inner.deref(), reader)
    }
}

/// Implements [`Writer`] with the callback `F` on a `D`.
///
/// # Invariants
///
/// A value of this type exists only if `F` has a value: the callback the file was created with.
#[repr(transparent)]
pub(crate) struct FormatAdapter<D, F> {
    inner: D,
    _formatter: PhantomData<F>,
}

impl<D, F> Deref for FormatAdapter<D, F> {
    type Target = D;

    fn deref(&self) -> &D {
        &self.inner
    }
}

impl<D, F> Writer for FormatAdapter<D, F>
where
    F: Fn(&D, &mut fmt::Formatter<'_>) -> fmt::Result + 'static,
{
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: this value exists, so `F` has a value (type invariant).
        let callback: &F = unsafe { materialize_zst() };
        callback(&self.inner, f)
    }
}

// SAFETY: a transparent wrapper of `D` whose marker adds no requirement.
unsafe impl<D, F> Adapter for FormatAdapter<D, F> {
    type Inner = D;
}

/// A `D` that is not shown: the base of a write-only callback file.
#[repr(transparent)]
pub(crate) struct NoWriter<D> {
    inner: D,
}

// SAFETY: a transparent wrapper of `D`.
unsafe impl<D> Adapter for NoWriter<D> {
    type Inner = D;
}

impl<D> Deref for NoWriter<D> {
    type Target = D;

    fn deref(&self) -> &D {
        &self.inner
    }
}

/// The value of a type that has exactly one, a zero-sized one (a function item or a closure that
/// captures nothing), made out of nothing.
///
/// # Safety
///
/// `F` must have a value.
unsafe fn materialize_zst<F>() -> &'static F {
    const { assert!(core::mem::size_of::<F>() == 0) };
    // SAFETY: a dangling, aligned pointer is valid for reads of zero bytes; `F` is zero-sized
    // (checked at build time) and has a value (safety requirement), so the reference is to it.
    unsafe { core::ptr::NonNull::<F>::dangling().as_ref() }
}
