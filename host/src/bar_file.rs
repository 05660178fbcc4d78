//! BARs reached through a file: mapped with `mmap`, or trapped and served with `pread`/`pwrite`.
//!
//! Both real backends reach a BAR through a file: VFIO through the device file at the region's
//! offset, UIO through sysfs `resourceN`. A BAR that may be mapped becomes a [`MappedFile`], and
//! accesses are volatile loads and stores on it. One that may not (an I/O port BAR, a region VFIO
//! refuses to map, a region with holes) becomes a trapped region ([`super::mmio`]) served by a
//! [`FileRegion`]: accesses inside the parts that could be mapped still go to those mappings, the
//! rest become positional reads and writes on the file.
//!
//! A trapped access is split into accesses of at most [`MAX_FILE_ACCESS`] bytes: vfio-pci before
//! Linux 6.11 performs region reads and writes with 1-, 2- and 4-byte accesses only (an 8-byte
//! `pread` became two 4-byte device accesses there anyway), and sysfs `resourceN` files of I/O BARs
//! accept only 1, 2 or 4 bytes.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;

use super::error::HostError;
use super::function::BarMapping;
use super::mmio::{TrappedIo, TrappedRegion};

/// The largest access a trapped file region makes on its file.
pub(crate) const MAX_FILE_ACCESS: usize = 4;

/// A file read and written at explicit offsets.
pub(crate) trait RegionFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
}

impl RegionFile for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
}

impl<F: RegionFile + ?Sized> RegionFile for std::sync::Arc<F> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        (**self).write_all_at(buf, offset)
    }
}

/// A shared mapping of part of a file (device memory); unmapped when dropped.
///
/// # Invariants
///
/// `ptr` is the start of a `MAP_SHARED` mapping of `len` bytes, readable and writable, owned by
/// this value.
#[derive(Debug)]
pub(crate) struct MappedFile {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value and not tied to a thread; accesses through it are
// volatile register accesses, which the device serialises.
unsafe impl Send for MappedFile {}
// SAFETY: `&MappedFile` only exposes the address and length.
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Maps `len` bytes of `file` at `offset` (page aligned), shared and read-write.
    pub(crate) fn new(
        file: &impl AsFd,
        offset: u64,
        len: usize,
        what: &str,
    ) -> Result<Self, HostError> {
        let file_offset = libc::off_t::try_from(offset).map_err(|_| {
            HostError::os(
                format!("mapping {what}: offset {offset:#x} out of range"),
                io::Error::from(io::ErrorKind::InvalidInput),
            )
        })?;
        // SAFETY: a new shared mapping at an address the kernel chooses aliases no Rust memory;
        // the kernel checks the file range.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_fd().as_raw_fd(),
                file_offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(HostError::last_os(format!(
                "mapping {len:#x} bytes of {what} at offset {offset:#x}"
            )));
        }
        // INVARIANT: a successful shared read-write mapping of `len` bytes.
        Ok(Self {
            // SAFETY: `mmap` succeeded, so `ptr` is not null.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast()) },
            len,
        })
    }

    /// Returns the address of the first mapped byte.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr().expose_provenance()
    }

    /// Returns the mapping's length.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: by the type invariant, the range is a mapping owned by `self`; BAR users stop
        // using it before the `BarMapping` owning it is dropped (`pci_iounmap()`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A mapped part of a trapped region.
#[derive(Debug)]
pub(crate) struct MappedArea {
    /// The area's offset in the region.
    pub offset: usize,
    /// The mapping.
    pub map: MappedFile,
}

/// A BAR served through a file at a base offset: accesses inside [`MappedArea`]s use them, the
/// others are positional reads and writes of at most [`MAX_FILE_ACCESS`] bytes.
pub(crate) struct FileRegion<F: RegionFile> {
    file: F,
    base: u64,
    name: String,
    mapped: Vec<MappedArea>,
}

impl<F: RegionFile + 'static> FileRegion<F> {
    /// Serves the region found at offset `base` of `file`; `name` names it in error messages
    /// (such as `0000:00:04.0 BAR1`); `mapped` are the parts already mapped.
    pub(crate) fn new(file: F, base: u64, name: String, mapped: Vec<MappedArea>) -> Self {
        Self {
            file,
            base,
            name,
            mapped,
        }
    }

    /// Registers the region as a trapped region of `len` bytes and returns the BAR mapping.
    pub(crate) fn into_bar(self, len: usize) -> Result<BarMapping, HostError> {
        let name = self.name.clone();
        let region = TrappedRegion::new(std::sync::Arc::new(self), len).map_err(|err| {
            HostError::os(
                format!("trapping {name}"),
                io::Error::from_raw_os_error(-err.to_errno()),
            )
        })?;
        Ok(BarMapping {
            addr: region.addr(),
            len,
            owner: Box::new(region),
        })
    }
}

impl<F: RegionFile> FileRegion<F> {
    /// Finds the mapped area containing `width` bytes at `offset`, as an address.
    fn mapped_addr(&self, offset: usize, width: usize) -> Option<usize> {
        self.mapped
            .iter()
            .find(|a| offset >= a.offset && offset + width <= a.offset + a.map.len())
            .map(|a| a.map.addr() + (offset - a.offset))
    }
}

/// Splits an access of `width` bytes at `offset` into the accesses made on the file:
/// `(offset, width)` pairs of at most [`MAX_FILE_ACCESS`] bytes, lowest first.
pub(crate) fn split_access(offset: usize, width: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = width.min(MAX_FILE_ACCESS);
    (0..width)
        .step_by(step)
        .map(move |i| (offset + i, step.min(width - i)))
}

impl<F: RegionFile> TrappedIo for FileRegion<F> {
    fn read(&self, offset: usize, width: usize) -> u64 {
        if let Some(addr) = self.mapped_addr(offset, width) {
            // SAFETY: the address is inside a live mapping of this region, naturally aligned
            // (accesses are validated by the mirror), and read with one access of its width.
            return unsafe { read_volatile_width(addr, width) };
        }
        let mut value = 0u64;
        for (at, size) in split_access(offset, width) {
            let mut buf = [0u8; MAX_FILE_ACCESS];
            let part = match self
                .file
                .read_exact_at(&mut buf[..size], self.base + at as u64)
            {
                Ok(()) => {
                    let mut bytes = [0u8; 8];
                    bytes[..size].copy_from_slice(&buf[..size]);
                    u64::from_le_bytes(bytes)
                }
                Err(err) => {
                    log::error!(target: "drydock", "{}: reading {size} bytes at {at:#x}: {err}", self.name);
                    // A failed read returns all ones, as a PCI read that nothing answers.
                    u64::MAX >> (64 - 8 * size)
                }
            };
            value |= part << (8 * (at - offset));
        }
        value
    }

    fn write(&self, offset: usize, width: usize, value: u64) {
        if let Some(addr) = self.mapped_addr(offset, width) {
            // SAFETY: as in `read`.
            unsafe { write_volatile_width(addr, width, value) };
            return;
        }
        let bytes = value.to_le_bytes();
        for (at, size) in split_access(offset, width) {
            let part = &bytes[at - offset..at - offset + size];
            if let Err(err) = self.file.write_all_at(part, self.base + at as u64) {
                log::error!(target: "drydock", "{}: writing {size} bytes at {at:#x}: {err}", self.name);
            }
        }
    }
}

/// Reads `width` bytes at `addr` with one volatile access.
///
/// # Safety
///
/// `addr` must be a naturally aligned address of `width` (1, 2, 4 or 8) readable bytes.
unsafe fn read_volatile_width(addr: usize, width: usize) -> u64 {
    // SAFETY: the caller guarantees an aligned, readable location of this width.
    unsafe {
        match width {
            1 => u64::from(core::ptr::with_exposed_provenance::<u8>(addr).read_volatile()),
            2 => u64::from(core::ptr::with_exposed_provenance::<u16>(addr).read_volatile()),
            4 => u64::from(core::ptr::with_exposed_provenance::<u32>(addr).read_volatile()),
            _ => core::ptr::with_exposed_provenance::<u64>(addr).read_volatile(),
        }
    }
}

/// Writes the low `width` bytes of `value` at `addr` with one volatile access.
///
/// # Safety
///
/// `addr` must be a naturally aligned address of `width` (1, 2, 4 or 8) writable bytes.
unsafe fn write_volatile_width(addr: usize, width: usize, value: u64) {
    // CAST: truncation to the access width is the intent.
    // SAFETY: the caller guarantees an aligned, writable location of this width.
    unsafe {
        match width {
            1 => core::ptr::with_exposed_provenance_mut::<u8>(addr).write_volatile(value as u8),
            2 => core::ptr::with_exposed_provenance_mut::<u16>(addr).write_volatile(value as u16),
            4 => core::ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(value as u32),
            _ => core::ptr::with_exposed_provenance_mut::<u64>(addr).write_volatile(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio;
    use std::sync::{Arc, Mutex};

    /// A file that records every positional access and keeps its bytes in memory.
    #[derive(Default)]
    struct FakeFile {
        bytes: Mutex<Vec<u8>>,
        accesses: Mutex<Vec<(&'static str, u64, usize)>>,
    }

    impl RegionFile for FakeFile {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            self.accesses
                .lock()
                .unwrap()
                .push(("read", offset, buf.len()));
            let bytes = self.bytes.lock().unwrap();
            let start = offset as usize;
            let src = bytes
                .get(start..start + buf.len())
                .ok_or(io::Error::from_raw_os_error(libc::EINVAL))?;
            buf.copy_from_slice(src);
            Ok(())
        }

        fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
            self.accesses
                .lock()
                .unwrap()
                .push(("write", offset, buf.len()));
            let start = offset as usize;
            self.bytes.lock().unwrap()[start..start + buf.len()].copy_from_slice(buf);
            Ok(())
        }
    }

    fn fake(base: u64, len: usize) -> Arc<FakeFile> {
        let file = Arc::new(FakeFile::default());
        *file.bytes.lock().unwrap() = (0..base as usize + len).map(|i| i as u8).collect();
        file
    }

    /// A read-write file of `len` zero bytes, already unlinked, standing in for a BAR.
    fn zeroed_scratch_file(name: &str, len: usize) -> std::fs::File {
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn accesses_split_into_at_most_four_bytes() {
        assert_eq!(
            split_access(0x98, 8).collect::<Vec<_>>(),
            [(0x98, 4), (0x9c, 4)]
        );
        assert_eq!(split_access(0x10, 4).collect::<Vec<_>>(), [(0x10, 4)]);
        assert_eq!(split_access(0x3, 1).collect::<Vec<_>>(), [(0x3, 1)]);
        assert_eq!(split_access(0x2, 2).collect::<Vec<_>>(), [(0x2, 2)]);
    }

    #[test]
    fn eight_byte_accesses_become_two_little_endian_halves() {
        let file = fake(0x1000, 0x100);
        let region = FileRegion::new(file.clone(), 0x1000, "test BAR".into(), Vec::new());
        // Bytes at 0x1098.. are 0x98, 0x99, ... (the low byte of their offset).
        assert_eq!(region.read(0x98, 8), 0x9f9e_9d9c_9b9a_9998);
        assert_eq!(region.read(0x10, 4), 0x1312_1110);
        assert_eq!(region.read(0x11, 1), 0x11);
        region.write(0x80, 8, 0x1122_3344_5566_7788);
        assert_eq!(region.read(0x80, 4), 0x5566_7788);
        assert_eq!(region.read(0x84, 2), 0x3344);
        let accesses = file.accesses.lock().unwrap().clone();
        assert_eq!(
            accesses,
            vec![
                ("read", 0x1098, 4),
                ("read", 0x109c, 4),
                ("read", 0x1010, 4),
                ("read", 0x1011, 1),
                ("write", 0x1080, 4),
                ("write", 0x1084, 4),
                ("read", 0x1080, 4),
                ("read", 0x1084, 2),
            ]
        );
        assert!(accesses.iter().all(|&(_, _, size)| size <= MAX_FILE_ACCESS));
    }

    #[test]
    fn failed_reads_return_all_ones() {
        let file = fake(0, 0x10);
        let region = FileRegion::new(file, 0, "short BAR".into(), Vec::new());
        assert_eq!(region.read(0x20, 4), 0xffff_ffff);
        assert_eq!(region.read(0x20, 2), 0xffff);
        // Half of an 8-byte read fails: only that half is all ones.
        assert_eq!(region.read(0x0c, 8), 0xffff_ffff_0f0e_0d0c);
    }

    #[test]
    fn trapped_regions_reach_a_real_file_through_the_mmio_accessors() {
        let file = zeroed_scratch_file("drydock-bar-file", 0x2000);
        let bar = FileRegion::new(file, 0x1000, "file BAR".into(), Vec::new())
            .into_bar(0x1000)
            .unwrap();
        assert!(mmio::is_trapped(bar.addr));
        let reg = |offset: usize| core::ptr::with_exposed_provenance_mut::<u64>(bar.addr + offset);
        // SAFETY: aligned offsets inside the live trapped region.
        unsafe {
            mmio::write(reg(0x40), 0x0123_4567_89ab_cdef_u64);
            assert_eq!(mmio::read(reg(0x40)), 0x0123_4567_89ab_cdef);
            assert_eq!(mmio::read(reg(0x40).cast::<u8>()), 0xef);
        }
    }

    #[test]
    fn mapped_areas_of_a_trapped_region_bypass_the_file() {
        let file = zeroed_scratch_file("drydock-bar-map", 0x3000);
        // The region is the whole file; its second page is mapped, the rest is not.
        let map = MappedFile::new(&file, 0x1000, 0x1000, "test page").unwrap();
        let recorder = Arc::new(FakeFile::default());
        *recorder.bytes.lock().unwrap() = vec![0xaa; 0x3000];
        let region = FileRegion::new(
            recorder.clone(),
            0,
            "sparse BAR".into(),
            vec![MappedArea {
                offset: 0x1000,
                map,
            }],
        );
        region.write(0x1010, 4, 0xdead_beef);
        assert_eq!(region.read(0x1010, 4), 0xdead_beef);
        let mut on_disk = [0u8; 4];
        FileExt::read_exact_at(&file, &mut on_disk, 0x1010).unwrap();
        assert_eq!(u32::from_le_bytes(on_disk), 0xdead_beef);
        assert!(recorder.accesses.lock().unwrap().is_empty());
        // Outside the mapped page, the file is used.
        assert_eq!(region.read(0x2000, 4), 0xaaaa_aaaa);
        assert_eq!(recorder.accesses.lock().unwrap().len(), 1);
    }
}
