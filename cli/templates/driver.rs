// SPDX-License-Identifier: {{spdx}}

//! Driver for the PCI device {{ids}}.
//!
//! Written by `drydock new` as a starting point: at probe it enables the device, maps BAR0, reads
//! an identification register and takes the device's interrupt; [`{{Type}}::ping`] asks the device
//! for an interrupt and waits for it; unbind turns the interrupt off again.
//!
//! The registers in `regs` are placeholders, not your device's: the device model in
//! `tests/model/mod.rs` implements them, so the tests pass from the start. Replace them with your
//! device's registers, and the model with a model of your device, before running the driver on
//! hardware: as written, it writes `IRQ_ENABLE` (0x10) of BAR0 at probe and unbind. drydock's
//! docs/new-driver.md goes from here to your own registers, the VM and a kernel tree.
//!
//! The file builds unchanged as a Linux 7.3 module and as a drydock userspace driver.

use kernel::{
    device::{Bound, Core},
    io::{register, Io},
    irq::{self, IrqReturn},
    pci,
    prelude::*,
    sync::{new_condvar, new_spinlock_irq, Arc, CondVar, CondVarTimeoutResult, SpinLockIrq},
    time::msecs_to_jiffies,
};

/// The registers of BAR0. Placeholders: replace them with your device's.
mod regs {
    use super::*;

    register! {
        /// Identification, read and logged at probe.
        pub(super) ID(u32) @ 0x00 {
            31:0 value;
        }

        /// Pending interrupt causes.
        pub(super) IRQ_STATUS(u32) @ 0x04 {
            31:0 causes;
        }

        /// Writing acknowledges the given causes.
        pub(super) IRQ_ACK(u32) @ 0x08 {
            31:0 causes;
        }

        /// Writing asks the device for an interrupt: it raises cause [`PING`].
        pub(super) DOORBELL(u32) @ 0x0c {
            31:0 value;
        }

        /// Whether the device may interrupt.
        pub(super) IRQ_ENABLE(u32) @ 0x10 {
            0:0 enabled;
        }
    }

    /// The interrupt cause a doorbell raises.
    pub(super) const PING: u32 = 0x1;

    /// The size of BAR0 the driver maps: every register above is below it.
    pub(super) const BAR_SIZE: usize = 0x20;
}

{{#class_match}}
/// The device's vendor ID, which the kernel does not name: the ID table matches the device's class
/// and probe checks the IDs.
const VENDOR: u16 = {{vendor}};
/// The device ID.
const DEVICE: u16 = {{device}};

{{/class_match}}
/// How long [`{{Type}}::ping`] waits for the interrupt.
const TIMEOUT_MS: u32 = 5000;

/// BAR0, shared by the driver data and the interrupt handler, revoked at unbind.
type Bar0 = pci::DevresBar<{ regs::BAR_SIZE }>;

/// The interrupt handler: acknowledges the device's causes, counts the interrupts, wakes waiters.
#[pin_data]
struct Handler {
    bar: Arc<Bar0>,
    /// The interrupts handled. Taken by the handler and by waiters, so waiters take it with
    /// interrupts disabled.
    #[pin]
    interrupts: SpinLockIrq<u64>,
    #[pin]
    wake: CondVar,
}

impl irq::Handler for Handler {
    fn handle(&self) -> IrqReturn {
        let Some(bar) = self.bar.try_access() else {
            return IrqReturn::None;
        };
        let causes = bar.read(regs::IRQ_STATUS).causes().get();
        if causes == 0 {
            // Not this device's: the line may be shared.
            return IrqReturn::None;
        }
        bar.write_reg(regs::IRQ_ACK::zeroed().with_causes(causes));
        *self.interrupts.lock() += 1;
        self.wake.notify_all();
        IrqReturn::Handled
    }
}

/// The driver's data for a bound device.
#[pin_data]
pub struct {{Type}}<'bound> {
    bar: Arc<Bar0>,
    // Declared before `vectors`, so it is dropped (the handler freed) before the vectors are.
    #[pin]
    irq: irq::Registration<'bound, Handler>,
    vectors: pci::IrqVectorRegistration<'bound>,
}

impl {{Type}}<'_> {
    /// Asks the device for an interrupt and waits until the handler has taken it.
    pub fn ping(&self, dev: &pci::Device<Bound>) -> Result {
        let bar = self.bar.access(dev.as_ref())?;
        let handler = self.irq.handler();
        let before = *handler.interrupts.lock();
        bar.write_reg(regs::DOORBELL::zeroed().with_value(regs::PING));
        let mut interrupts = handler.interrupts.lock();
        let mut remaining = msecs_to_jiffies(TIMEOUT_MS);
        while *interrupts == before {
            match handler
                .wake
                .wait_interruptible_timeout(&mut interrupts, remaining)
            {
                CondVarTimeoutResult::Woken { jiffies } => remaining = jiffies,
                CondVarTimeoutResult::Timeout if *interrupts == before => return Err(ETIMEDOUT),
                CondVarTimeoutResult::Timeout => break,
                CondVarTimeoutResult::Signal { .. } => return Err(EINTR),
            }
        }
        Ok(())
    }

    /// The interrupts handled so far.
    pub fn interrupts(&self) -> u64 {
        *self.irq.handler().interrupts.lock()
    }

    /// The interrupt type the PCI core chose: MSI-X, MSI or INTx.
    pub fn irq_type(&self) -> pci::IrqType {
        self.vectors.irq_type()
    }
}

/// The driver.
pub struct {{Type}}Driver;

kernel::pci_device_table!(
    PCI_TABLE,
    <{{Type}}Driver as pci::Driver>::IdInfo,
{{id_table}}
);

impl pci::Driver for {{Type}}Driver {
    type IdInfo = ();
    type Data<'bound> = {{Type}}<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
{{#class_match}}
            if pdev.vendor_id().as_raw() != VENDOR || pdev.device_id() != DEVICE {
                return Err(ENODEV);
            }
{{/class_match}}
            pdev.enable_device_mem()?;
            // An MSI is a memory write by the device, so it needs bus mastering, as DMA does.
            pdev.set_master();
            let bar = pdev.iomap_region_sized::<{ regs::BAR_SIZE }>(0, c"{{lib}}")?;
            dev_info!(
                pdev,
                "identification {:#010x}\n",
                bar.read(regs::ID).value().get()
            );
            let bar = Arc::new(bar.into_devres()?, GFP_KERNEL)?;
            let vectors = pdev.alloc_irq_vectors(1, 1, pci::IrqTypes::all())?;
            dev_info!(pdev, "interrupts by {:?}\n", vectors.irq_type());
            let handler_bar = bar.clone();

            Ok(try_pin_init!(&this in {{Type}} {
                vectors,
                irq <- {
                    // SAFETY: `vectors` was initialised just before and is dropped after `irq`
                    // (declaration order), in the same pinned allocation, so the reference is
                    // valid for as long as the registration that borrows it.
                    let vectors: &'bound pci::IrqVectorRegistration<'bound> =
                        unsafe { &(*this.as_ptr()).vectors };
                    let handler = try_pin_init!(Handler {
                        bar: handler_bar,
                        interrupts <- new_spinlock_irq!(0),
                        wake <- new_condvar!(),
                    });
                    // SAFETY: the registration is part of the driver data, which the PCI core
                    // drops at unbind; it is never leaked.
                    unsafe {
                        irq::Registration::new(
                            vectors.index(0)?.into(),
                            irq::Flags::SHARED,
                            c"{{lib}}",
                            handler,
                        )
                    }
                },
                bar,
                _: {
                    // The handler is in place: the device may interrupt from now on.
                    bar.access(pdev.as_ref())?
                        .write_reg(regs::IRQ_ENABLE::zeroed().with_enabled(true));
                },
            }))
        })
    }

    fn unbind<'bound>(pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // Leave the device quiet for the next driver.
        if let Ok(bar) = this.bar.access(pdev.as_ref()) {
            bar.write_reg(regs::IRQ_ENABLE::zeroed());
        }
    }
}

kernel::module_pci_driver! {
    type: {{Type}}Driver,
    name: "{{lib}}",
    authors: ["The {{package}} developers"],
    description: "Driver for the PCI device {{ids}}",
    license: "{{module_license}}",
}
