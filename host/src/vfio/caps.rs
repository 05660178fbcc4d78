//! VFIO information buffers and their capability chains.
//!
//! Several VFIO queries answer with a fixed structure followed by a chain of capabilities: each
//! starts with a `vfio_info_cap_header` (`id`, `version`, `next`), where `next` is the offset of the
//! next capability from the start of the buffer, 0 at the end. The kernel sets the structure's
//! `argsz` to the size it needs; the caller asks again with a buffer that large.
//!
//! The parsers here work on plain byte buffers, so they are tested on captured kernel answers, and
//! they never trust the chain: offsets outside the buffer, loops and truncated capabilities end the
//! walk instead of reading out of bounds.

use vfio_bindings::bindings::vfio as sys;

/// The size of `vfio_info_cap_header`.
const HEADER_SIZE: usize = 8;

/// The most capabilities a chain is walked for (real chains have a handful).
const MAX_CAPS: usize = 64;

fn u16_at(buf: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        buf.get(offset..offset + 2)?.try_into().ok()?,
    ))
}

fn u32_at(buf: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        buf.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

fn u64_at(buf: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        buf.get(offset..offset + 8)?.try_into().ok()?,
    ))
}

/// One capability of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Capability<'a> {
    /// The capability's ID (its meaning depends on the query).
    pub id: u16,
    /// The capability's version.
    pub version: u16,
    /// The capability's bytes, header included, up to the end of the buffer.
    pub bytes: &'a [u8],
}

/// Walks the capability chain of `buf` starting at offset `first` (0: no chain).
pub(super) fn chain(buf: &[u8], first: u32) -> Vec<Capability<'_>> {
    let mut caps = Vec::new();
    let mut offset = first as usize;
    let mut seen = Vec::new();
    while offset != 0 && caps.len() < MAX_CAPS && !seen.contains(&offset) {
        seen.push(offset);
        let (Some(id), Some(version), Some(next)) = (
            u16_at(buf, offset),
            u16_at(buf, offset + 2),
            u32_at(buf, offset + 4),
        ) else {
            break;
        };
        caps.push(Capability {
            id,
            version,
            bytes: &buf[offset..],
        });
        offset = next as usize;
    }
    caps
}

/// What `VFIO_IOMMU_GET_INFO` reports about a type1 IOMMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IommuInfo {
    /// The IOMMU page sizes, as a bitmap (bit n set: pages of 2^n bytes).
    pub page_sizes: u64,
    /// The IOVA ranges devices can use, as inclusive `(first, last)` pairs, if the kernel reports
    /// them (Linux 5.4 and later).
    pub iova_ranges: Option<Vec<(u64, u64)>>,
    /// How many more DMA mappings the container may create, if the kernel reports it.
    pub dma_avail: Option<u32>,
}

impl IommuInfo {
    /// Parses a `vfio_iommu_type1_info` buffer with its capability chain.
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let flags = u32_at(buf, 4)?;
        let page_sizes = if flags & sys::VFIO_IOMMU_INFO_PGSIZES != 0 {
            u64_at(buf, 8)?
        } else {
            0
        };
        let first = if flags & sys::VFIO_IOMMU_INFO_CAPS != 0 {
            u32_at(buf, 16).unwrap_or(0)
        } else {
            0
        };
        let mut info = IommuInfo {
            page_sizes,
            iova_ranges: None,
            dma_avail: None,
        };
        for cap in chain(buf, first) {
            match u32::from(cap.id) {
                sys::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE => {
                    let count = u32_at(cap.bytes, HEADER_SIZE)? as usize;
                    let ranges = (0..count)
                        .map(|i| {
                            let at = HEADER_SIZE + 8 + 16 * i;
                            Some((u64_at(cap.bytes, at)?, u64_at(cap.bytes, at + 8)?))
                        })
                        .collect::<Option<Vec<_>>>()?;
                    info.iova_ranges = Some(ranges);
                }
                sys::VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL => {
                    info.dma_avail = u32_at(cap.bytes, HEADER_SIZE);
                }
                _ => {}
            }
        }
        Some(info)
    }
}

/// What `VFIO_DEVICE_GET_REGION_INFO` reports about a region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// The region index.
    pub index: u32,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// The region's size in bytes (0: not implemented).
    pub size: u64,
    /// The region's offset in the device file.
    pub offset: u64,
    /// The parts that may be mapped, as `(offset, size)` pairs relative to the region, if the
    /// region has a sparse-mmap capability.
    pub sparse_areas: Option<Vec<(u64, u64)>>,
    /// Whether the MSI-X table in this region may be mapped along with the rest of it.
    pub msix_mappable: bool,
    /// The region's type and subtype, for device-specific regions.
    pub region_type: Option<(u32, u32)>,
}

impl RegionInfo {
    /// Parses a `vfio_region_info` buffer with its capability chain.
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let flags = u32_at(buf, 4)?;
        let mut info = RegionInfo {
            index: u32_at(buf, 8)?,
            flags,
            size: u64_at(buf, 16)?,
            offset: u64_at(buf, 24)?,
            sparse_areas: None,
            msix_mappable: false,
            region_type: None,
        };
        let first = if flags & sys::VFIO_REGION_INFO_FLAG_CAPS != 0 {
            u32_at(buf, 12)?
        } else {
            0
        };
        for cap in chain(buf, first) {
            match u32::from(cap.id) {
                sys::VFIO_REGION_INFO_CAP_SPARSE_MMAP => {
                    let count = u32_at(cap.bytes, HEADER_SIZE)? as usize;
                    let areas = (0..count)
                        .map(|i| {
                            let at = HEADER_SIZE + 8 + 16 * i;
                            Some((u64_at(cap.bytes, at)?, u64_at(cap.bytes, at + 8)?))
                        })
                        .collect::<Option<Vec<_>>>()?;
                    info.sparse_areas = Some(areas);
                }
                sys::VFIO_REGION_INFO_CAP_TYPE => {
                    info.region_type = Some((
                        u32_at(cap.bytes, HEADER_SIZE)?,
                        u32_at(cap.bytes, HEADER_SIZE + 4)?,
                    ));
                }
                sys::VFIO_REGION_INFO_CAP_MSIX_MAPPABLE => info.msix_mappable = true,
                _ => {}
            }
        }
        Some(info)
    }

    /// Whether the region may be read with `pread`.
    pub fn readable(&self) -> bool {
        self.flags & sys::VFIO_REGION_INFO_FLAG_READ != 0
    }

    /// Whether the region may be mapped (all of it, or the sparse areas if there are some).
    pub fn mappable(&self) -> bool {
        self.flags & sys::VFIO_REGION_INFO_FLAG_MMAP != 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Appends native-endian words to a buffer, as the kernel lays a structure out.
    pub(crate) struct Bytes(pub(crate) Vec<u8>);

    impl Bytes {
        pub(crate) fn u16(mut self, v: u16) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
        pub(crate) fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
        pub(crate) fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }
    }

    /// The answer of Linux 6.1's type1 IOMMU to `VFIO_IOMMU_GET_INFO` in the test guest (QEMU
    /// 7.2's emulated VT-d, 39-bit address width, the MSI window reserved), captured by the
    /// `drydock_vfio_iova_ranges` guest case: the 24-byte `vfio_iommu_type1_info`, then the
    /// migration capability at 24, DMA-available at 56 and IOVA ranges at 68 (not 8-byte aligned).
    pub(crate) const GUEST_IOMMU_INFO: [u8; 116] = [
        0x74, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x10, 0x20, 0x40, 0x00, 0x00, 0x00,
        0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x38, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
        0x44, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xff, 0xff, 0xdf, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xfe, 0x00,
        0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00,
    ];

    fn guest_iommu_info() -> Vec<u8> {
        GUEST_IOMMU_INFO.to_vec()
    }

    #[test]
    fn iova_ranges_come_from_the_get_info_chain() {
        let info = IommuInfo::parse(&guest_iommu_info()).unwrap();
        assert_eq!(info.page_sizes, 0x4020_1000);
        assert_eq!(
            info.iova_ranges,
            Some(vec![(0, 0xfedf_ffff), (0xfef0_0000, 0x7f_ffff_ffff)])
        );
        assert_eq!(info.dma_avail, Some(65535));
    }

    #[test]
    fn an_info_without_capabilities_has_no_ranges() {
        let mut buf = guest_iommu_info();
        buf[4] = 1; // PGSIZES only
        let info = IommuInfo::parse(&buf).unwrap();
        assert_eq!(info.iova_ranges, None);
        assert!(IommuInfo::parse(&buf[..6]).is_none());
    }

    #[test]
    fn malformed_chains_end_the_walk() {
        let mut buf = guest_iommu_info();
        // The last capability points back at the first: the walk stops instead of looping.
        buf[72..76].copy_from_slice(&24u32.to_ne_bytes());
        assert_eq!(chain(&buf, 24).len(), 3);
        // A pointer past the end stops the walk too.
        buf[72..76].copy_from_slice(&4096u32.to_ne_bytes());
        assert_eq!(chain(&buf, 24).len(), 3);
        // A truncated IOVA capability is an unparseable answer, not a short range list.
        assert!(IommuInfo::parse(&guest_iommu_info()[..100]).is_none());
    }

    /// A region-info answer with a sparse-mmap capability (two areas) followed by the MSI-X
    /// mappable capability, as vfio-pci lays it out for a BAR whose middle page holds the MSI-X
    /// table on a platform that cannot map it.
    pub(crate) fn sparse_region_info() -> Vec<u8> {
        Bytes(Vec::new())
            // argsz, flags (READ | WRITE | MMAP | CAPS), index 0, cap_offset 32, size, offset
            .u32(88)
            .u32(0xf)
            .u32(0)
            .u32(32)
            .u64(0x4000)
            .u64(0)
            // sparse mmap at 32: header (id 1, version 1, next 80), nr_areas 2, reserved
            .u16(1)
            .u16(1)
            .u32(80)
            .u32(2)
            .u32(0)
            .u64(0)
            .u64(0x2000)
            .u64(0x3000)
            .u64(0x1000)
            // MSI-X mappable at 80: header only
            .u16(3)
            .u16(1)
            .u32(0)
            .0
    }

    #[test]
    fn region_capabilities_are_parsed() {
        let info = RegionInfo::parse(&sparse_region_info()).unwrap();
        assert_eq!((info.index, info.size, info.offset), (0, 0x4000, 0));
        assert!(info.readable() && info.mappable());
        assert_eq!(info.sparse_areas, Some(vec![(0, 0x2000), (0x3000, 0x1000)]));
        assert!(info.msix_mappable);
        assert_eq!(info.region_type, None);
    }

    #[test]
    fn a_plain_region_has_no_capabilities() {
        // edu's BAR0 on Linux 6.1: READ | WRITE | MMAP, 1 MiB at offset 0.
        let buf = Bytes(Vec::new())
            .u32(32)
            .u32(0x7)
            .u32(0)
            .u32(0)
            .u64(1 << 20)
            .u64(0)
            .0;
        let info = RegionInfo::parse(&buf).unwrap();
        assert_eq!(info.sparse_areas, None);
        assert!(!info.msix_mappable);
        assert_eq!(info.size, 1 << 20);
    }

    /// A `u64` as a hostile answer would have it: the ends of the range, page multiples, or any.
    fn edgy_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0),
            Just(u64::MAX),
            (u64::MAX - 0x2000..=u64::MAX),
            (0u64..64).prop_map(|pages| pages * 0x1000),
            any::<u64>(),
        ]
    }

    /// A capability of an answer: its ID, version, which capability `next` points to (or a raw
    /// offset), a count of entries (small, or anything) and the entries.
    #[derive(Clone, Debug)]
    struct Cap {
        id: u16,
        version: u16,
        next: Result<u32, usize>,
        count: u32,
        entries: Vec<(u64, u64)>,
    }

    fn cap() -> impl Strategy<Value = Cap> {
        (
            prop_oneof![1u16..=4, any::<u16>()],
            any::<u16>(),
            prop_oneof![
                Just(Ok(0)),
                any::<u32>().prop_map(Ok),
                (0usize..8).prop_map(Err)
            ],
            prop_oneof![0u32..4, any::<u32>()],
            proptest::collection::vec((edgy_u64(), edgy_u64()), 0..4),
        )
            .prop_map(|(id, version, next, count, entries)| Cap {
                id,
                version,
                next,
                count,
                entries,
            })
    }

    /// An information buffer: `header`, whose first-capability field at `first_field` points as
    /// `first` says, then `caps`, laid one after the other and chained as they say.
    fn answer(
        header: Vec<u8>,
        first_field: usize,
        first: Result<u32, usize>,
        caps: &[Cap],
    ) -> Vec<u8> {
        let mut offsets = Vec::new();
        let mut at = header.len();
        for cap in caps {
            offsets.push(at as u32);
            at += 16 + 16 * cap.entries.len();
        }
        let resolve = |link: Result<u32, usize>| {
            link.unwrap_or_else(|i| offsets.get(i).copied().unwrap_or(0))
        };
        let mut buf = Bytes(header);
        buf.0[first_field..first_field + 4].copy_from_slice(&resolve(first).to_ne_bytes());
        for cap in caps {
            buf = buf
                .u16(cap.id)
                .u16(cap.version)
                .u32(resolve(cap.next))
                .u32(cap.count)
                .u32(0);
            for &(a, b) in &cap.entries {
                buf = buf.u64(a).u64(b);
            }
        }
        buf.0
    }

    /// `vfio_region_info` answers: arbitrary bytes, or a header whose fields are hostile values
    /// followed by a capability chain with loops, pointers past the end, counts beyond the
    /// entries and truncation.
    pub(crate) fn region_info_answer() -> impl Strategy<Value = Vec<u8>> {
        let chained = (
            any::<u32>(),
            prop_oneof![Just(0xfu32), any::<u32>()],
            any::<u32>(),
            prop_oneof![Just(Err(0usize)), any::<u32>().prop_map(Ok)],
            edgy_u64(),
            edgy_u64(),
            proptest::collection::vec(cap(), 0..6),
            any::<usize>(),
        )
            .prop_map(|(argsz, flags, index, first, size, offset, caps, keep)| {
                let header = Bytes(Vec::new())
                    .u32(argsz)
                    .u32(flags)
                    .u32(index)
                    .u32(0)
                    .u64(size)
                    .u64(offset)
                    .0;
                let mut buf = answer(header, 12, first, &caps);
                buf.truncate(buf.len() - keep % (buf.len() / 4 + 1));
                buf
            });
        prop_oneof![chained, proptest::collection::vec(any::<u8>(), 0..160)]
    }

    /// `vfio_iommu_type1_info` answers, made as [`region_info_answer`]'s.
    fn iommu_info_answer() -> impl Strategy<Value = Vec<u8>> {
        let chained = (
            any::<u32>(),
            prop_oneof![Just(3u32), any::<u32>()],
            edgy_u64(),
            prop_oneof![Just(Err(0usize)), any::<u32>().prop_map(Ok)],
            proptest::collection::vec(cap(), 0..6),
            any::<usize>(),
        )
            .prop_map(|(argsz, flags, page_sizes, first, caps, keep)| {
                let header = Bytes(Vec::new())
                    .u32(argsz)
                    .u32(flags)
                    .u64(page_sizes)
                    .u32(0)
                    .u32(0)
                    .0;
                let mut buf = answer(header, 16, first, &caps);
                buf.truncate(buf.len() - keep % (buf.len() / 4 + 1));
                buf
            });
        prop_oneof![chained, proptest::collection::vec(any::<u8>(), 0..160)]
    }

    proptest! {
        #![proptest_config(drydock_sim::fuzz::config(1500))]

        /// Whatever bytes an answer holds, the chain walk ends after at most 64 capabilities,
        /// each at a distinct offset inside the buffer, and parsing returns (or refuses) without
        /// reading outside it.
        #[test]
        fn region_info_answers_are_parsed_within_their_bytes(buf in region_info_answer()) {
            let first = u32_at(&buf, 12).unwrap_or(0);
            let caps = chain(&buf, first);
            prop_assert!(caps.len() <= MAX_CAPS);
            let starts: Vec<usize> = caps.iter().map(|c| buf.len() - c.bytes.len()).collect();
            for (i, &start) in starts.iter().enumerate() {
                prop_assert!(start + HEADER_SIZE <= buf.len());
                prop_assert!(!starts[..i].contains(&start));
            }
            if let Some(info) = RegionInfo::parse(&buf) {
                prop_assert_eq!(Some(info.flags), u32_at(&buf, 4));
                prop_assert_eq!(Some(info.size), u64_at(&buf, 16));
                prop_assert_eq!(Some(info.offset), u64_at(&buf, 24));
                // Every area was read from the buffer: 16 bytes each.
                let areas = info.sparse_areas.map_or(0, |areas| areas.len());
                prop_assert!(areas * 16 <= buf.len());
            }
        }

        /// The same for `VFIO_IOMMU_GET_INFO` answers.
        #[test]
        fn iommu_info_answers_are_parsed_within_their_bytes(buf in iommu_info_answer()) {
            if let Some(info) = IommuInfo::parse(&buf) {
                let ranges = info.iova_ranges.map_or(0, |ranges| ranges.len());
                prop_assert!(ranges * 16 <= buf.len());
            }
        }
    }
}
