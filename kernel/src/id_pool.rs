//! A pool of small integer identifiers, kept in a [`BitmapVec`].
//!
//! Mirrors `rust/kernel/id_pool.rs` of Linux 7.3 (pure Rust over `kernel::bitmap` there too).

use crate::alloc::{AllocError, Flags};
use crate::bitmap::BitmapVec;

/// A pool of identifiers: an identifier is in use when its bit is set.
///
/// Mirrors `kernel::id_pool::IdPool`. The pool has a capacity, which can grow and shrink; the
/// memory for a new capacity is allocated apart from the change itself, so that a pool under a
/// spin lock can be resized: ask for a [`ReallocRequest`] under the lock, allocate its
/// [`PoolResizer`] without it, then apply it under the lock again, where [`IdPool::grow`] and
/// [`IdPool::shrink`] check that it still makes sense (someone else may have resized meanwhile).
///
/// # Examples
///
/// ```
/// use kernel::id_pool::IdPool;
/// use kernel::prelude::*;
///
/// let mut pool = IdPool::new();
/// assert_eq!(pool.capacity(), 64);
/// let ids: [usize; 3] = core::array::from_fn(|_| pool.find_unused_id(0).unwrap().acquire());
/// assert_eq!(ids, [0, 1, 2]);
/// pool.release_id(1);
/// assert_eq!(pool.find_unused_id(0).map(|id| id.as_usize()), Some(1));
///
/// // Fill the pool, then grow it.
/// while let Some(id) = pool.find_unused_id(0) {
///     id.acquire();
/// }
/// let resizer = pool.grow_request().ok_or(ENOSPC)?.realloc(GFP_KERNEL)?;
/// pool.grow(resizer);
/// assert_eq!(pool.capacity(), 128);
/// assert_eq!(pool.find_unused_id(0).map(|id| id.acquire()), Some(64));
/// # Ok::<(), Error>(())
/// ```
pub struct IdPool {
    map: BitmapVec,
}

/// A new capacity an [`IdPool`] should change to.
///
/// Mirrors `kernel::id_pool::ReallocRequest`.
pub struct ReallocRequest {
    num_ids: usize,
}

/// The memory for a new capacity of an [`IdPool`], for [`IdPool::grow`] or [`IdPool::shrink`].
///
/// Mirrors `kernel::id_pool::PoolResizer`.
pub struct PoolResizer {
    new: BitmapVec,
}

impl ReallocRequest {
    /// Allocates the bitmap for the new capacity; the pool itself changes only when the result is
    /// passed to [`IdPool::grow`] or [`IdPool::shrink`].
    pub fn realloc(&self, flags: Flags) -> Result<PoolResizer, AllocError> {
        Ok(PoolResizer {
            new: BitmapVec::new(self.num_ids, flags)?,
        })
    }
}

impl IdPool {
    /// Returns an empty pool of [`BitmapVec::MAX_INLINE_LEN`] identifiers, without allocating.
    #[inline]
    pub fn new() -> Self {
        Self {
            map: BitmapVec::new_inline(),
        }
    }

    /// Returns an empty pool of `num_ids` identifiers (at least
    /// [`BitmapVec::MAX_INLINE_LEN`]).
    #[inline]
    pub fn with_capacity(num_ids: usize, flags: Flags) -> Result<Self, AllocError> {
        let map = BitmapVec::new(num_ids.max(BitmapVec::MAX_INLINE_LEN), flags)?;
        Ok(Self { map })
    }

    /// Returns how many identifiers the pool has now.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.map.len()
    }

    /// Returns a request to halve the capacity, if the identifiers in use all lie in its first
    /// quarter (to [`BitmapVec::MAX_INLINE_LEN`] if none is); `None` if it cannot shrink (never
    /// below `MAX_INLINE_LEN`).
    #[inline]
    pub fn shrink_request(&self) -> Option<ReallocRequest> {
        let capacity = self.capacity();
        if capacity <= BitmapVec::MAX_INLINE_LEN {
            return None;
        }
        let num_ids = match self.map.last_bit() {
            None => BitmapVec::MAX_INLINE_LEN,
            Some(last) if last < capacity / 4 => (capacity / 2).max(BitmapVec::MAX_INLINE_LEN),
            Some(_) => return None,
        };
        Some(ReallocRequest { num_ids })
    }

    /// Moves the pool into the smaller bitmap of `resizer`, if the pool can still shrink that far;
    /// otherwise drops `resizer` and leaves the pool as it is.
    #[inline]
    pub fn shrink(&mut self, mut resizer: PoolResizer) {
        // The identifiers may have changed since the request: ask again.
        match self.shrink_request() {
            Some(now) if now.num_ids <= resizer.new.len() => {
                resizer.new.copy_and_extend(&self.map);
                self.map = resizer.new;
            }
            _ => {}
        }
    }

    /// Returns a request to double the capacity; `None` if that would exceed
    /// [`BitmapVec::MAX_LEN`].
    #[inline]
    pub fn grow_request(&self) -> Option<ReallocRequest> {
        let num_ids = self.capacity() * 2;
        (num_ids <= BitmapVec::MAX_LEN).then_some(ReallocRequest { num_ids })
    }

    /// Moves the pool into the larger bitmap of `resizer`, if it is still larger than the pool
    /// (someone else may have grown it meanwhile); otherwise drops `resizer`.
    ///
    /// `resizer` comes from [`IdPool::grow_request`] and [`ReallocRequest::realloc`].
    #[inline]
    pub fn grow(&mut self, mut resizer: PoolResizer) {
        if resizer.new.len() > self.capacity() {
            resizer.new.copy_and_extend(&self.map);
            self.map = resizer.new;
        }
    }

    /// Finds the first unused identifier from `offset` on; `None` means the pool is full there
    /// (grow it). The identifier is only taken when [`UnusedId::acquire`] is called.
    #[inline]
    #[must_use]
    pub fn find_unused_id(&mut self, offset: usize) -> Option<UnusedId<'_>> {
        // INVARIANT: `next_zero_bit` returns an index below the capacity.
        let id = self.map.next_zero_bit(offset)?;
        Some(UnusedId { id, pool: self })
    }

    /// Gives identifier `id` back to the pool.
    #[inline]
    pub fn release_id(&mut self, id: usize) {
        self.map.clear_bit(id);
    }
}

/// An identifier of an [`IdPool`] that is not in use yet.
///
/// Mirrors `kernel::id_pool::UnusedId`. It borrows the pool, so nobody else can take the
/// identifier before [`UnusedId::acquire`] does.
///
/// # Invariants
///
/// `id` is below the capacity of `pool`.
pub struct UnusedId<'pool> {
    id: usize,
    pool: &'pool mut IdPool,
}

impl<'pool> UnusedId<'pool> {
    /// Returns the identifier, which is not taken yet (see [`UnusedId::acquire`]).
    #[inline]
    #[must_use]
    pub fn as_usize(&self) -> usize {
        self.id
    }

    /// Returns the identifier as a `u32`, which is not taken yet (see [`UnusedId::acquire`]).
    #[inline]
    #[must_use]
    pub fn as_u32(&self) -> u32 {
        // CAST: `id` is below the capacity (type invariant), at most `BitmapVec::MAX_LEN`, which
        // is `i32::MAX`.
        self.id as u32
    }

    /// Takes the identifier and returns it.
    #[inline]
    pub fn acquire(self) -> usize {
        self.pool.map.set_bit(self.id);
        self.id
    }
}

impl Default for IdPool {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use drydock_host::fault::AllocFailure;

    #[test]
    fn a_failed_allocation_leaves_the_pool_as_it_was() {
        let mut pool = IdPool::new();
        let failure = AllocFailure::next(usize::MAX);
        assert_eq!(
            IdPool::with_capacity(1000, GFP_KERNEL).err(),
            Some(AllocError)
        );
        let request = pool.grow_request().unwrap();
        assert_eq!(request.realloc(GFP_KERNEL).err(), Some(AllocError));
        assert_eq!(failure.injected(), 2);
        assert_eq!(pool.capacity(), 64);
        // A small pool needs no allocation.
        assert_eq!(
            IdPool::with_capacity(10, GFP_KERNEL).unwrap().capacity(),
            64
        );
        assert_eq!(pool.find_unused_id(0).map(UnusedId::acquire), Some(0));
    }
}
