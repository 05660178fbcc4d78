//! How much memory a driver process locks for DMA: what `drydock check` holds `RLIMIT_MEMLOCK`
//! against.
//!
//! A driver's DMA memory comes from the pool of its device's IOMMU domain, which maps it in
//! chunks of [`CHUNK_SIZE`] (and a buffer over half a chunk in a mapping of its own); VFIO pins
//! what is mapped and charges it to the process's `RLIMIT_MEMLOCK` (type1: `VmLck`; iommufd:
//! `VmPin`). How much a driver maps is the driver's business, so drydock keeps what it measured
//! of its own drivers here, in the admin layer, rather than in the driver files (which compile
//! unchanged in a kernel tree and name nothing of drydock's). A driver this table does not know
//! needs at least one chunk per device.

use drydock_host::dma::pool::CHUNK_SIZE;

/// What a driver locks for DMA while it drives one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaNeed {
    /// The driver (its binary's name) the figure is for; `None`: any driver, the least one
    /// locks.
    pub driver: Option<&'static str>,
    /// Bytes locked per device.
    pub bytes: u64,
}

/// drydock's own drivers, by binary name, with what each locks while it drives one device and
/// does its I/O: measured in the guest, where the cases `edu_driver_load_cycles` and
/// `nvme_driver_load_cycles` check the figures here (locked memory through VFIO's group
/// interface, pinned memory through the device cdev) in every cycle.
const DRIVERS: &[(&str, u64)] = &[
    // One chunk: the coherent transfer buffer.
    ("edu", CHUNK_SIZE as u64),
    // One chunk: the admin queues, the Identify buffer, the I/O queues and small data buffers.
    ("nvme", CHUNK_SIZE as u64),
];

impl DmaNeed {
    /// Any driver: one chunk, the least a driver that does DMA locks.
    pub const ANY: DmaNeed = DmaNeed {
        driver: None,
        bytes: CHUNK_SIZE as u64,
    };

    /// The need of drydock's driver `driver` (its binary's name), if drydock knows it.
    pub fn of(driver: &str) -> Option<DmaNeed> {
        DRIVERS
            .iter()
            .find(|(name, _)| *name == driver)
            .map(|&(name, bytes)| DmaNeed {
                driver: Some(name),
                bytes,
            })
    }

    /// The drivers whose need drydock knows, by name.
    pub fn known() -> impl Iterator<Item = &'static str> {
        DRIVERS.iter().map(|(name, _)| *name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drydocks_drivers_are_known_by_their_binary_names() {
        assert_eq!(
            DmaNeed::of("nvme"),
            Some(DmaNeed {
                driver: Some("nvme"),
                bytes: 2 << 20
            })
        );
        assert_eq!(DmaNeed::of("edu").map(|n| n.bytes), Some(2 << 20));
        assert_eq!(
            DmaNeed::of("drydock_nvme"),
            None,
            "the module's name is not the binary's"
        );
        assert_eq!(DmaNeed::known().collect::<Vec<_>>(), ["edu", "nvme"]);
    }
}
