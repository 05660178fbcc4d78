//! How a value shows itself in a debugfs file, and how it takes what is written to one.
//!
//! Text files use [`Writer`] to show a value and [`Reader`] to parse what is written; binary files
//! use [`BinaryWriter`] to copy a value's bytes out at a file position and [`BinaryReader`] (or,
//! behind a lock, [`BinaryReaderMut`]) to copy bytes in.

use crate::{
    alloc::Allocator,
    fmt,
    fs::file,
    prelude::*,
    sync::{
        atomic::{Atomic, AtomicBasicOps, AtomicType, Relaxed},
        Arc, Mutex,
    },
    uaccess::{UserSliceReader, UserSliceWriter},
};

use core::{
    ops::{Deref, DerefMut},
    str::FromStr,
};

use zerocopy::Immutable;

/// A value that can be shown as text.
///
/// Mirrors `kernel::debugfs::Writer`. Every [`Debug`](fmt::Debug) type is a `Writer`, showing its
/// `{:?}` form followed by a newline, and so is a [`Mutex`] of a `Writer`, shown under its lock.
/// `Debug`'s output may change from one Rust version to the next: a file whose format matters
/// should show a type with a `Writer` of its own.
pub trait Writer {
    /// Writes the value's text into `f`.
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: Writer> Writer for Mutex<T> {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.lock().write(f)
    }
}

impl<T: fmt::Debug> Writer for T {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{self:?}")
    }
}

/// A value that can be copied out as bytes, from a position in them.
///
/// Mirrors `kernel::debugfs::BinaryWriter`. Every [`Immutable`] + [`IntoBytes`] type is one (its
/// bytes), and so are a [`Vec`] of such elements, and a [`Mutex`], [`Box`], [`Pin`]ned `Box` or
/// [`Arc`] of a `BinaryWriter`.
pub trait BinaryWriter {
    /// Copies the value's bytes from position `*offset` into `writer`, as much as both have, and
    /// advances `*offset` past them; returns how many were copied.
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize>;
}

impl<T: Immutable + IntoBytes> BinaryWriter for T {
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        writer.write_slice_file(self.as_bytes(), offset)
    }
}

impl<T: BinaryWriter> BinaryWriter for Mutex<T> {
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.lock().write_to_slice(writer, offset)
    }
}

impl<T, A> BinaryWriter for Box<T, A>
where
    T: BinaryWriter,
    A: Allocator,
{
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.deref().write_to_slice(writer, offset)
    }
}

impl<T, A> BinaryWriter for Pin<Box<T, A>>
where
    T: BinaryWriter,
    A: Allocator,
{
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.deref().write_to_slice(writer, offset)
    }
}

impl<T> BinaryWriter for Arc<T>
where
    T: BinaryWriter,
{
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.deref().write_to_slice(writer, offset)
    }
}

impl<T, A> BinaryWriter for Vec<T, A>
where
    T: Immutable + IntoBytes,
    A: Allocator,
{
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        writer.write_slice_file(self.as_bytes(), offset)
    }
}

/// A value that can be set from text written by a user.
///
/// Mirrors `kernel::debugfs::Reader`, the counterpart of [`FromStr`] for user memory. Every
/// [`Atomic`] integer is one, and so is a [`Mutex`] of a `FromStr` type: the text (at most 21
/// bytes for an atomic, 128 for a mutex, else `EINVAL`) must be UTF-8 and parse after leading and
/// trailing whitespace are trimmed, else the write fails with `EINVAL` and the value is unchanged.
pub trait Reader {
    /// Sets the value from what `reader` holds.
    fn read_from_slice(&self, reader: &mut UserSliceReader) -> Result;
}

/// Reads all of `reader` into `buf` and parses it, trimmed, as a `T`.
fn parse<T: FromStr>(reader: &mut UserSliceReader, buf: &mut [u8]) -> Result<T> {
    let len = reader.len();
    let text = buf.get_mut(..len).ok_or(EINVAL)?;
    reader.read_slice(text)?;
    let text = core::str::from_utf8(text).map_err(|_| EINVAL)?;
    text.trim().parse().map_err(|_| EINVAL)
}

impl<T: FromStr + Unpin> Reader for Mutex<T> {
    fn read_from_slice(&self, reader: &mut UserSliceReader) -> Result {
        let value = parse(reader, &mut [0; 128])?;
        *self.lock() = value;
        Ok(())
    }
}

impl<T: AtomicType + FromStr> Reader for Atomic<T>
where
    T::Repr: AtomicBasicOps,
{
    fn read_from_slice(&self, reader: &mut UserSliceReader) -> Result {
        // The longest 64-bit number, with its sign.
        let value = parse(reader, &mut [0; 21])?;
        self.store(value, Relaxed);
        Ok(())
    }
}

/// A value that can be overwritten with bytes, from a position in them, through `&mut`.
///
/// Mirrors `kernel::debugfs::BinaryReaderMut`: what a [`Mutex`] needs of its content to be a
/// [`BinaryReader`]. Every [`FromBytes`] + [`IntoBytes`] type is one (its bytes), and so are a
/// [`Vec`] of such elements and a [`Box`] of a `BinaryReaderMut`.
pub trait BinaryReaderMut {
    /// Copies bytes from `reader` into the value's bytes from position `*offset`, as many as both
    /// have, and advances `*offset` past them; returns how many were copied.
    fn read_from_slice_mut(
        &mut self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize>;
}

impl<T: FromBytes + IntoBytes> BinaryReaderMut for T {
    fn read_from_slice_mut(
        &mut self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        reader.read_slice_file(self.as_mut_bytes(), offset)
    }
}

impl<T: ?Sized + BinaryReaderMut, A: Allocator> BinaryReaderMut for Box<T, A> {
    fn read_from_slice_mut(
        &mut self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.deref_mut().read_from_slice_mut(reader, offset)
    }
}

impl<T, A> BinaryReaderMut for Vec<T, A>
where
    T: FromBytes + IntoBytes,
    A: Allocator,
{
    fn read_from_slice_mut(
        &mut self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        reader.read_slice_file(self.as_mut_bytes(), offset)
    }
}

/// A value that can be overwritten with bytes, from a position in them, through `&`.
///
/// Mirrors `kernel::debugfs::BinaryReader`. A [`Mutex`] of a [`BinaryReaderMut`] is one, writing
/// under the lock, and so are a [`Box`], [`Pin`]ned `Box` or [`Arc`] of a `BinaryReader`.
pub trait BinaryReader {
    /// Copies bytes from `reader` into the value's bytes from position `*offset`, as many as both
    /// have, and advances `*offset` past them; returns how many were copied.
    fn read_from_slice(
        &self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize>;
}

impl<T: BinaryReaderMut + Unpin> BinaryReader for Mutex<T> {
    fn read_from_slice(
        &self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.lock().read_from_slice_mut(reader, offset)
    }
}

impl<T: ?Sized + BinaryReader, A: Allocator> BinaryReader for Box<T, A> {
    fn read_from_slice(
        &self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.deref().read_from_slice(reader, offset)
    }
}

impl<T: ?Sized + BinaryReader, A: Allocator> BinaryReader for Pin<Box<T, A>> {
    fn read_from_slice(
        &self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.deref().read_from_slice(reader, offset)
    }
}

impl<T: ?Sized + BinaryReader> BinaryReader for Arc<T> {
    fn read_from_slice(
        &self,
        reader: &mut UserSliceReader,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        self.deref().read_from_slice(reader, offset)
    }
}
