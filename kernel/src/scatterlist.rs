//! Scatter-gather tables: memory made of pages, mapped for a device's DMA.
//!
//! Mirrors `rust/kernel/scatterlist.rs` of Linux 7.3. An [`SGTable<Owned<P>>`](SGTable) takes
//! ownership of a page-backed buffer (such as a `VVec`), builds the table of its segments and maps
//! them for the device; the mapping lives in a [`Devres`], so it is removed when the driver unbinds
//! even if the table lives on. [`SGTable::iter`] gives each segment's DMA address and length.
//!
//! In userspace the segments are runs of virtually adjacent pages, each mapped into the device's
//! DMA space (see `drydock_host::sg`).

use core::{ops::Deref, ptr::NonNull};

use crate::{
    alloc,
    alloc::allocator::VmallocPageIter,
    bindings,
    device::{Bound, Device},
    devres::Devres,
    dma,
    io::ResourceSize,
    page,
    prelude::*,
    sync::aref::ARef,
    types::Opaque,
};

/// One segment of a scatter-gather table.
///
/// Mirrors `kernel::scatterlist::SGEntry`.
///
/// # Invariants
///
/// The wrapped entry belongs to a live table.
#[repr(transparent)]
pub struct SGEntry(Opaque<bindings::scatterlist>);

// SAFETY: an entry is plain data owned by its table.
unsafe impl Send for SGEntry {}
// SAFETY: `&SGEntry` only reads the entry.
unsafe impl Sync for SGEntry {}

impl SGEntry {
    /// # Safety
    ///
    /// `ptr` must point to an entry of a table that outlives `'a`.
    #[inline]
    unsafe fn from_raw<'a>(ptr: *mut bindings::scatterlist) -> &'a Self {
        // SAFETY: `SGEntry` is a transparent wrapper; validity by the safety requirements.
        unsafe { &*ptr.cast() }
    }

    #[inline]
    fn raw(&self) -> &bindings::scatterlist {
        // SAFETY: by the type invariant, the entry is alive.
        unsafe { &*self.0.get() }
    }

    /// Returns the segment's bus address.
    #[inline]
    pub fn dma_address(&self) -> dma::DmaAddress {
        self.raw().dma_address
    }

    /// Returns the segment's length as mapped.
    #[inline]
    pub fn dma_len(&self) -> ResourceSize {
        ResourceSize::from(self.raw().dma_length)
    }
}

/// A table owned by someone else.
///
/// Mirrors `kernel::scatterlist::Borrowed`.
#[repr(transparent)]
pub struct Borrowed(Opaque<bindings::sg_table>);

// SAFETY: a table is plain data.
unsafe impl Send for Borrowed {}
// SAFETY: `&Borrowed` only reads the table.
unsafe impl Sync for Borrowed {}

/// A scatter-gather table.
///
/// Mirrors `kernel::scatterlist::SGTable`: [`SGTable<Borrowed>`](SGTable) (the default) refers to a
/// table owned elsewhere; [`SGTable<Owned<P>>`](SGTable) owns its pages and their DMA mapping.
#[repr(transparent)]
#[pin_data]
pub struct SGTable<T: private::Sealed = Borrowed> {
    #[pin]
    inner: T,
}

impl SGTable {
    /// Creates a reference from a raw table.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid table that outlives `'a` and is not modified meanwhile.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::sg_table) -> &'a Self {
        // SAFETY: `SGTable<Borrowed>` is transparent over the raw table.
        unsafe { &*ptr.cast() }
    }

    #[inline]
    fn as_raw(&self) -> *mut bindings::sg_table {
        self.inner.0.get()
    }

    /// Returns an iterator over the mapped segments.
    pub fn iter(&self) -> SGTableIter<'_> {
        // SAFETY: the table is valid while `self` is.
        let (sgl, nents) = unsafe { ((*self.as_raw()).sgl, (*self.as_raw()).nents) };
        SGTableIter {
            // SAFETY: with `nents > 0`, `sgl` points to the first of `nents` entries.
            pos: (nents > 0).then(|| unsafe { SGEntry::from_raw(sgl) }),
            nents,
        }
    }
}

/// A table's DMA mapping, removed when dropped.
///
/// Difference from the kernel: the mapping is bidirectional whatever the requested direction (the
/// host's DMA spaces map read-write).
struct DmaMappedSgt {
    sgt: NonNull<bindings::sg_table>,
    dev: ARef<Device>,
}

// SAFETY: the mapping can be removed from any thread.
unsafe impl Send for DmaMappedSgt {}
// SAFETY: `&DmaMappedSgt` offers nothing.
unsafe impl Sync for DmaMappedSgt {}

impl DmaMappedSgt {
    /// # Safety
    ///
    /// `sgt` must be a built table whose pages outlive the returned value, and which is not moved
    /// while it is.
    unsafe fn new(
        sgt: NonNull<bindings::sg_table>,
        dev: &Device<Bound>,
        _dir: dma::DataDirection,
    ) -> Result<Self> {
        // SAFETY: by the safety requirements.
        unsafe { drydock_host::sg::map_table(dev.raw(), sgt.as_ptr())? };
        Ok(Self {
            sgt,
            dev: dev.into(),
        })
    }
}

impl Drop for DmaMappedSgt {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `self.sgt` was mapped for `self.dev` in `new`.
        unsafe { drydock_host::sg::unmap_table(self.dev.raw(), self.sgt.as_ptr()) };
    }
}

/// A table's entries, freed when dropped.
#[repr(transparent)]
struct RawSGTable(Opaque<bindings::sg_table>);

// SAFETY: a table is plain data.
unsafe impl Send for RawSGTable {}
// SAFETY: `&RawSGTable` only reads.
unsafe impl Sync for RawSGTable {}

impl RawSGTable {
    /// # Safety
    ///
    /// `pages` must be page addresses covering `size` bytes, alive as long as the table is used.
    unsafe fn new(
        pages: &mut [*mut bindings::page],
        size: usize,
        max_segment: u32,
    ) -> Result<Self> {
        if pages.is_empty() {
            return Err(EINVAL);
        }
        let sgt = Opaque::zeroed();
        // SAFETY: `sgt` is a zeroed (empty) table; the pages by the safety requirements.
        unsafe { drydock_host::sg::alloc_table_from_pages(sgt.get(), pages, size, max_segment)? };
        Ok(Self(sgt))
    }

    #[inline]
    fn as_raw(&self) -> *mut bindings::sg_table {
        self.0.get()
    }
}

impl Drop for RawSGTable {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the table was built in `new` and is no longer used.
        unsafe { drydock_host::sg::free_table(self.0.get()) };
    }
}

/// A table that owns its pages `P` and their DMA mapping.
///
/// Mirrors `kernel::scatterlist::Owned`.
#[pin_data]
pub struct Owned<P> {
    // Declared first: the mapping goes before the table and the pages.
    #[pin]
    dma: Devres<DmaMappedSgt>,
    sgt: RawSGTable,
    _pages: P,
}

// SAFETY: the table and mapping are `Send`; the pages follow `P`.
unsafe impl<P: Send> Send for Owned<P> {}
// SAFETY: as above.
unsafe impl<P: Sync> Sync for Owned<P> {}

impl<P> Owned<P>
where
    for<'a> P: page::AsPageIter<Iter<'a> = VmallocPageIter<'a>> + 'static,
{
    fn new(
        dev: &Device<Bound>,
        mut pages: P,
        dir: dma::DataDirection,
        flags: alloc::Flags,
    ) -> Result<impl PinInit<Self, Error> + '_> {
        let page_iter = pages.page_iter();
        let size = page_iter.size();
        let mut page_vec: KVec<*mut bindings::page> =
            KVec::with_capacity(page_iter.page_count(), flags)?;
        for page in page_iter {
            page_vec.push(page.as_ptr(), flags)?;
        }
        let max_segment = match drydock_host::sg::max_mapping_size(dev.raw()) {
            0 => u32::MAX,
            size => u32::try_from(size).unwrap_or(u32::MAX),
        };
        Ok(try_pin_init!(&this in Self {
            // SAFETY: the pages are owned by `_pages`, which lives as long as the table.
            sgt: unsafe { RawSGTable::new(&mut page_vec, size, max_segment) }?,
            dma <- {
                // SAFETY: `this` is the pinned `Owned` being initialised; `sgt` is initialised.
                let sgt = unsafe { &raw mut (*this.as_ptr()).sgt }.cast::<bindings::sg_table>();
                // SAFETY: a field of a non-null pointer is non-null.
                let sgt = unsafe { NonNull::new_unchecked(sgt) };
                // SAFETY: the table and its pages outlive the mapping (dropped first), and the
                // `Owned` is pinned, so the table does not move.
                Devres::new(dev, unsafe { DmaMappedSgt::new(sgt, dev, dir) })
            },
            _pages: pages,
        }))
    }
}

impl<P> SGTable<Owned<P>>
where
    for<'a> P: page::AsPageIter<Iter<'a> = VmallocPageIter<'a>> + 'static,
{
    /// Builds the table of `pages` and maps it for `dev`'s DMA in direction `dir`.
    pub fn new(
        dev: &Device<Bound>,
        pages: P,
        dir: dma::DataDirection,
        flags: alloc::Flags,
    ) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(Self {
            inner <- Owned::new(dev, pages, dir, flags)?
        })
    }
}

impl<P> Deref for SGTable<Owned<P>> {
    type Target = SGTable;

    #[inline]
    fn deref(&self) -> &Self::Target {
        // SAFETY: the table lives as long as `self` and is not modified after construction.
        unsafe { SGTable::from_raw(self.inner.sgt.as_raw()) }
    }
}

mod private {
    pub trait Sealed {}

    impl Sealed for super::Borrowed {}
    impl<P> Sealed for super::Owned<P> {}
}

/// An iterator over the segments of a table.
///
/// Mirrors `kernel::scatterlist::SGTableIter`.
pub struct SGTableIter<'a> {
    pos: Option<&'a SGEntry>,
    nents: c_uint,
}

impl<'a> Iterator for SGTableIter<'a> {
    type Item = &'a SGEntry;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.pos?;
        self.nents = self.nents.saturating_sub(1);
        // The entries of a table are one array: the next one follows.
        let next = entry.0.get().wrapping_add(1);
        // SAFETY: with `nents > 0` remaining, `next` is an entry of the same table.
        self.pos = (self.nents > 0).then(|| unsafe { SGEntry::from_raw(next) });
        Some(entry)
    }
}
