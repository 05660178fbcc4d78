//! A simulated {{ids}}: the registers `src/{{lib}}.rs` uses, for tests on drydock's simulated bus.
//!
//! The model answers the driver's register accesses as the device would. Keep it in step with the
//! driver: when you replace the placeholder registers with your device's, model what the driver
//! relies on (drydock's `drydock_sim::models` has complete models of QEMU's devices, and
//! docs/new-driver.md describes writing one).

use std::sync::{Arc, Mutex};

use drydock_host::function::{BarInfo, BarKind, IrqKind};
use drydock_sim::{DeviceModel, Identity, SimContext};

/// The registers of BAR0 (see `regs` in the driver).
const ID: usize = 0x00;
const IRQ_STATUS: usize = 0x04;
const IRQ_ACK: usize = 0x08;
const DOORBELL: usize = 0x0c;
const IRQ_ENABLE: usize = 0x10;

/// The interrupt cause a doorbell raises.
const PING: u32 = 0x1;

/// What the device holds.
#[derive(Default)]
struct State {
    causes: u32,
    enabled: bool,
    doorbells: u64,
}

/// The device model.
pub(crate) struct Model {
    identity: Identity,
    msi: bool,
    state: Mutex<State>,
}

impl Model {
    /// The device, with an MSI capability.
    pub(crate) fn new() -> Arc<Self> {
        Self::with_ids({{vendor}}, {{device}}, true)
    }

    /// The device without MSI, so the driver falls back to INTx.
    pub(crate) fn intx_only() -> Arc<Self> {
        Self::with_ids({{vendor}}, {{device}}, false)
    }

    /// A device of the same kind with other IDs, which the driver must not take.
    pub(crate) fn with_ids(vendor: u16, device: u16, msi: bool) -> Arc<Self> {
        Arc::new(Self {
            identity: Identity {
                vendor,
                device,
                subsystem_vendor: vendor,
                subsystem: device,
                revision: 0,
                class: {{class}},
                interrupt_pin: 1,
            },
            msi,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the driver has enabled the device's interrupt.
    pub(crate) fn interrupts_enabled(&self) -> bool {
        self.state().enabled
    }

    /// How many doorbells the driver rang.
    pub(crate) fn doorbells(&self) -> u64 {
        self.state().doorbells
    }

    /// Signals the causes pending: a message per raise with MSI, else the INTx level.
    fn signal(ctx: &SimContext, state: &State, raised: bool) {
        if ctx.msi_enabled() {
            if raised {
                ctx.raise_msi(0);
            }
        } else {
            ctx.set_intx(state.enabled && state.causes != 0);
        }
    }
}

impl DeviceModel for Model {
    fn identity(&self) -> Identity {
        self.identity
    }

    fn bars(&self) -> [Option<BarInfo>; 6] {
        let mut bars = [None; 6];
        bars[0] = Some(BarInfo {
            size: 0x1000,
            start: 0,
            kind: BarKind::Mem32,
            prefetchable: false,
        });
        bars
    }

    fn irq_count(&self, kind: IrqKind) -> u32 {
        match kind {
            IrqKind::Intx => 1,
            IrqKind::Msi => u32::from(self.msi),
            IrqKind::MsiX => 0,
        }
    }

    fn read(&self, _ctx: &SimContext, bar: u32, offset: usize, width: usize) -> u64 {
        if bar != 0 || width != 4 {
            return u64::MAX;
        }
        let state = self.state();
        u64::from(match offset {
            ID => (u32::from(self.identity.device) << 16) | u32::from(self.identity.vendor),
            IRQ_STATUS => state.causes,
            IRQ_ENABLE => u32::from(state.enabled),
            _ => u32::MAX,
        })
    }

    fn write(&self, ctx: &SimContext, bar: u32, offset: usize, width: usize, value: u64) {
        if bar != 0 || width != 4 {
            return;
        }
        let value = value as u32;
        let mut state = self.state();
        let raised = match offset {
            IRQ_ACK => {
                state.causes &= !value;
                false
            }
            DOORBELL => {
                state.doorbells += 1;
                state.causes |= PING;
                state.enabled
            }
            IRQ_ENABLE => {
                state.enabled = value & 1 != 0;
                state.enabled && state.causes != 0
            }
            _ => return,
        };
        Self::signal(ctx, &state, raised);
    }
}
