//! What a probe that failed must leave behind, for the NVMe tests that make probes fail
//! (`#[path = "support/released.rs"] mod released;`).

use drydock_sim::models::Nvme;
use drydock_sim::{SimBus, SimDevice};

/// Asserts that the probe of `device` failed and left nothing behind: the controller disabled
/// (once, with its admin queue still allocated, if the probe had enabled it), no vectors,
/// resources or DMA memory, no fatal error or DMA fault. Returns whether the probe had enabled
/// the controller.
pub(crate) fn assert_released(bus: &SimBus, device: &SimDevice<Nvme>) -> bool {
    assert!(!device.is_bound());
    let model = device.model();
    let cc = model.cc_writes();
    let enabled = cc.iter().any(|cc| cc & 1 == 1);
    if enabled {
        assert_eq!(
            model.admin_queues_allocated_at_disable(),
            [true],
            "the controller was disabled once, before its admin queue was freed (CC writes {cc:x?})"
        );
    }
    assert_eq!(
        model.csts(),
        0,
        "the controller is neither ready nor failed"
    );
    assert!(device.function().fatal_errors().is_empty());
    assert!(device.dma_faults().is_empty());
    let pdev = bus.bus().device(device.name()).unwrap();
    assert_eq!(pdev.irq_type(), 0, "no vectors left behind");
    assert_eq!(pdev.dev.devres_count(), 0, "no resources left behind");
    assert_eq!(pdev.dev.dma_space().unwrap().stats().live_allocations, 0);
    enabled
}
