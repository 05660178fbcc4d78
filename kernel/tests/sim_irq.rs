//! `kernel::irq`'s threaded registrations through the mirror, on the simulated bus: the hard part
//! runs on the vector's interrupt thread and wakes the threaded part on another thread (or does
//! not), `synchronize` and dropping the registration wait for a threaded part that is running,
//! and a second handler on the vector needs sharing on both sides.
//!
//! One test drives every step: the driver's handler counts in statics, which a second test in this
//! binary would share.

// The scenario driver lives in a private module of this test crate; its `pub` items (and those
// `module_pci_driver!` generates) are public only in the sense a driver file needs.
#![allow(unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use drydock_sim::{models::Edu, SimBus};
use kernel::irq::{Flags, IrqReturn, ThreadedHandler, ThreadedIrqReturn, ThreadedRegistration};
use kernel::prelude::*;

/// An edu driver with a threaded interrupt handler that records what ran, and on which thread.
mod threaded {
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
    use kernel::{
        device::Core,
        irq, pci,
        prelude::*,
        time::{delay::fsleep, Delta},
    };
    use std::sync::Mutex;
    use std::thread::ThreadId;

    /// Whether the hard part asks for the threaded part.
    pub static WAKE: AtomicBool = AtomicBool::new(true);
    /// Runs of the hard part (counted last, when it has done everything else).
    pub static HARD: AtomicU32 = AtomicU32::new(0);
    /// Runs of the threaded part begun.
    pub static STARTED: AtomicU32 = AtomicU32::new(0);
    /// Runs of the threaded part finished.
    pub static FINISHED: AtomicU32 = AtomicU32::new(0);
    /// The threads the hard part and the threaded part last ran on.
    pub static THREADS: Mutex<[Option<ThreadId>; 2]> = Mutex::new([None, None]);

    /// How long the threaded part takes: long enough to be caught running.
    const THREADED_RUN_MS: i64 = 100;

    pub struct Handler;

    impl irq::ThreadedHandler for Handler {
        fn handle(&self) -> irq::ThreadedIrqReturn {
            THREADS.lock().unwrap()[0] = Some(std::thread::current().id());
            let wake = WAKE.load(SeqCst);
            HARD.fetch_add(1, SeqCst);
            if wake {
                irq::ThreadedIrqReturn::WakeThread
            } else {
                irq::ThreadedIrqReturn::Handled
            }
        }

        fn handle_threaded(&self) -> irq::IrqReturn {
            THREADS.lock().unwrap()[1] = Some(std::thread::current().id());
            STARTED.fetch_add(1, SeqCst);
            fsleep(Delta::from_millis(THREADED_RUN_MS));
            FINISHED.fetch_add(1, SeqCst);
            irq::IrqReturn::Handled
        }
    }

    #[pin_data]
    pub struct Data<'bound> {
        // Declared before `vectors`, so it is dropped (the handler freed) before the vectors are.
        #[pin]
        pub irq: irq::ThreadedRegistration<'bound, Handler>,
        pub vectors: pci::IrqVectorRegistration<'bound>,
    }

    pub struct Driver;

    kernel::pci_device_table!(
        TABLE,
        <Driver as pci::Driver>::IdInfo,
        [(
            pci::DeviceId::from_class(pci::Class::OTHERS.as_raw(), pci::ClassMask::Full.as_raw()),
            ()
        )]
    );

    impl pci::Driver for Driver {
        type IdInfo = ();
        type Data<'bound> = Data<'bound>;
        const ID_TABLE: pci::IdTable<()> = &TABLE;

        fn probe<'bound>(
            pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound ()>,
        ) -> impl PinInit<Data<'bound>, Error> + 'bound {
            pin_init::pin_init_scope(move || {
                pdev.enable_device_mem()?;
                pdev.set_master();
                let vectors = pdev.alloc_irq_vectors(1, 1, pci::IrqTypes::all())?;
                Ok(try_pin_init!(&this in Data {
                    vectors,
                    irq <- {
                        // SAFETY: `vectors` is initialised, pinned with `irq`, and dropped after it.
                        let vectors: &'bound pci::IrqVectorRegistration<'bound> =
                            unsafe { &(*this.as_ptr()).vectors };
                        // SAFETY: the registration is part of the driver data, never leaked.
                        unsafe {
                            irq::ThreadedRegistration::new(
                                vectors.index(0)?.into(),
                                irq::Flags::SHARED,
                                c"threaded",
                                Ok(Handler),
                            )
                        }
                    },
                }))
            })
        }
    }

    kernel::module_pci_driver! {
        type: Driver,
        name: "threaded",
        license: "GPL",
    }
}

use drydock_runner::driver_data::WithDriver;
use threaded::{FINISHED, HARD, STARTED, THREADS, WAKE};

/// Waits until `cond` holds, failing the test after 10 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not reached in 10 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The threads the hard and threaded parts last ran on.
fn threads() -> [Option<ThreadId>; 2] {
    *THREADS.lock().unwrap()
}

/// A second handler for the vector, which counts its runs and needs no threaded part.
struct Second(AtomicU32);

impl ThreadedHandler for Second {
    fn handle(&self) -> ThreadedIrqReturn {
        self.0.fetch_add(1, SeqCst);
        ThreadedIrqReturn::Handled
    }

    fn handle_threaded(&self) -> IrqReturn {
        IrqReturn::None
    }
}

#[test]
fn a_threaded_handler_runs_on_its_own_thread_and_is_waited_for() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let module = bus.load(&threaded::__DRYDOCK_MODULE).unwrap();
    assert!(device.is_bound());
    let ctx = device.function().context();

    // `WakeThread` runs the threaded part, on a thread that is neither the hard part's nor ours.
    ctx.raise_msi(0);
    wait_until("the threaded part ran", || FINISHED.load(SeqCst) == 1);
    assert_eq!(HARD.load(SeqCst), 1);
    let [hard, thread] = threads();
    let (hard, thread) = (hard.unwrap(), thread.unwrap());
    assert_ne!(hard, std::thread::current().id());
    assert_ne!(
        thread, hard,
        "the threaded part ran on the interrupt thread"
    );
    assert_ne!(thread, std::thread::current().id());

    // `Handled` does not wake the threaded part.
    WAKE.store(false, SeqCst);
    ctx.raise_msi(0);
    wait_until("the hard part ran", || HARD.load(SeqCst) == 2);
    device
        .with_driver::<threaded::Driver, _>(|_, data| data.irq.synchronize())
        .unwrap();
    assert_eq!(
        STARTED.load(SeqCst),
        1,
        "a handled interrupt woke the thread"
    );
    WAKE.store(true, SeqCst);

    // `synchronize` waits for the threaded part the interrupt woke.
    ctx.raise_msi(0);
    wait_until("the hard part ran", || HARD.load(SeqCst) == 3);
    device
        .with_driver::<threaded::Driver, _>(|_, data| data.irq.synchronize())
        .unwrap();
    assert_eq!(
        FINISHED.load(SeqCst),
        2,
        "synchronize returned while the threaded part ran"
    );

    // A second handler on the vector needs sharing on both sides; with it, both run.
    device
        .with_driver::<threaded::Driver, _>(|_, data| {
            let register = |flags| {
                // SAFETY: the registration is dropped before this closure's caller returns.
                let registration = unsafe {
                    ThreadedRegistration::new(
                        data.vectors.index(0).unwrap().into(),
                        flags,
                        c"second",
                        Ok(Second(AtomicU32::new(0))),
                    )
                };
                KBox::pin_init(registration, GFP_KERNEL)
            };
            assert_eq!(register(Flags::TRIGGER_NONE).err(), Some(EBUSY));
            let second = register(Flags::SHARED).unwrap();
            ctx.raise_msi(0);
            wait_until("the second handler ran", || {
                second.handler().0.load(SeqCst) == 1
            });
            data.irq.synchronize();
            assert_eq!((HARD.load(SeqCst), FINISHED.load(SeqCst)), (4, 3));
        })
        .unwrap();

    // Unbinding drops the registration, which waits for a threaded part that is running.
    ctx.raise_msi(0);
    wait_until("the threaded part began", || STARTED.load(SeqCst) == 4);
    drop(module);
    assert!(!device.is_bound());
    assert_eq!(
        FINISHED.load(SeqCst),
        4,
        "the registration was dropped while its threaded part ran"
    );
    // The same two threads served every interrupt.
    assert_eq!(threads(), [Some(hard), Some(thread)]);
}
