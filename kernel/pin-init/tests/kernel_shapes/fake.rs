//! Minimal stand-ins for the kernel APIs used by the driver-shaped files. They record what
//! happens in [`events`] so that the tests can check cleanup.

use std::sync::Mutex;

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records an event.
pub fn event(what: impl Into<String>) {
    EVENTS.lock().unwrap().push(what.into());
}

/// Takes the events recorded so far.
pub fn take_events() -> Vec<String> {
    std::mem::take(&mut *EVENTS.lock().unwrap())
}

pub mod error {
    use core::convert::Infallible;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Error(pub i32);

    pub type Result<T = (), E = Error> = core::result::Result<T, E>;

    impl From<Infallible> for Error {
        fn from(never: Infallible) -> Self {
            match never {}
        }
    }

    impl From<crate::alloc::AllocError> for Error {
        fn from(_: crate::alloc::AllocError) -> Self {
            code::ENOMEM
        }
    }

    pub mod code {
        use super::Error;
        pub const ENOMEM: Error = Error(-12);
        pub const EBUSY: Error = Error(-16);
        pub const EIO: Error = Error(-5);
    }

    pub fn to_result(err: core::ffi::c_int) -> Result {
        if err < 0 {
            Err(Error(err))
        } else {
            Ok(())
        }
    }
}

pub mod alloc {
    #[derive(Debug)]
    pub struct AllocError;

    #[derive(Clone, Copy)]
    pub struct Flags(pub u32);

    pub mod flags {
        pub const GFP_KERNEL: super::Flags = super::Flags(0);
    }

    pub type KBox<T> = Box<T>;

    /// A vector allocated with flags.
    pub struct VVec<T>(pub Vec<T>);

    impl<T> VVec<T> {
        pub fn with_capacity(capacity: usize, _flags: Flags) -> Result<Self, AllocError> {
            Ok(Self(Vec::with_capacity(capacity)))
        }
    }
}

pub mod page {
    pub const PAGE_SIZE: usize = 4096;
}

pub mod str {
    pub trait CStrExt {
        fn as_char_ptr(&self) -> *const core::ffi::c_char;
    }

    impl CStrExt for core::ffi::CStr {
        fn as_char_ptr(&self) -> *const core::ffi::c_char {
            self.as_ptr()
        }
    }

    pub use core::ffi::CStr;
}

pub mod device {
    use core::marker::PhantomData;

    /// The generic device.
    pub struct Device<Ctx = Normal> {
        pub name: &'static str,
        _ctx: PhantomData<Ctx>,
    }

    pub struct Normal;
    pub struct Bound;
    pub struct Core<'a>(PhantomData<&'a ()>);

    impl<Ctx> Device<Ctx> {
        pub fn new(name: &'static str) -> Self {
            Self {
                name,
                _ctx: PhantomData,
            }
        }
    }
}

pub mod pci {
    use core::{cell::Cell, marker::PhantomData};

    use crate::{
        device::{self, Core, Normal},
        error::Result,
    };

    /// A PCI device with a reference count observable by the tests.
    pub struct Device<Ctx = Normal> {
        pub refs: Cell<usize>,
        pub dma_mask_fails: bool,
        pub dev: device::Device,
        _ctx: PhantomData<Ctx>,
    }

    impl<'a> Device<Core<'a>> {
        pub fn new(name: &'static str, dma_mask_fails: bool) -> Self {
            Self {
                refs: Cell::new(1),
                dma_mask_fails,
                dev: device::Device::new(name),
                _ctx: PhantomData,
            }
        }

        /// # Safety
        ///
        /// No concurrent DMA allocations.
        pub unsafe fn dma_set_mask_and_coherent(&self, _mask: crate::dma::DmaMask) -> Result {
            if self.dma_mask_fails {
                Err(crate::error::code::EIO)
            } else {
                Ok(())
            }
        }
    }

    impl<Ctx> AsRef<device::Device> for Device<Ctx> {
        fn as_ref(&self) -> &device::Device {
            &self.dev
        }
    }

    pub trait Driver: Sized {
        type IdInfo: 'static;
        type Data<'bound>;

        fn probe<'bound>(
            pdev: &'bound Device<Core<'_>>,
            info: Option<&'bound Self::IdInfo>,
        ) -> impl pin_init::PinInit<Self, crate::error::Error> + 'bound;
    }
}

pub mod sync {
    pub mod aref {
        use core::ptr::NonNull;

        use crate::{device::Core, pci};

        /// Types with an embedded reference count.
        pub trait AlwaysRefCounted {
            fn dec_ref(&self);
        }

        impl AlwaysRefCounted for pci::Device {
            fn dec_ref(&self) {
                self.refs.set(self.refs.get() - 1);
            }
        }

        /// A counted reference.
        pub struct ARef<T: AlwaysRefCounted> {
            ptr: NonNull<T>,
        }

        impl<'a> From<&pci::Device<Core<'a>>> for ARef<pci::Device> {
            fn from(dev: &pci::Device<Core<'a>>) -> Self {
                dev.refs.set(dev.refs.get() + 1);
                Self {
                    ptr: NonNull::from(dev).cast(),
                }
            }
        }

        impl<T: AlwaysRefCounted> core::ops::Deref for ARef<T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: The tests keep the device alive longer than every `ARef` to it.
                unsafe { self.ptr.as_ref() }
            }
        }

        impl<T: AlwaysRefCounted> Drop for ARef<T> {
            fn drop(&mut self) {
                self.dec_ref();
            }
        }
    }
}

pub mod dma {
    use core::ops::{Deref, DerefMut};

    use crate::{alloc::Flags, device::Device, error::Result};

    pub struct DmaMask(pub u64);

    impl DmaMask {
        pub const fn new<const BITS: u32>() -> Self {
            Self(if BITS == 64 {
                u64::MAX
            } else {
                (1 << BITS) - 1
            })
        }
    }

    #[derive(Clone, Copy, Debug)]
    pub enum DataDirection {
        ToDevice,
    }

    /// A coherent DMA allocation of a slice.
    pub struct Coherent<T: ?Sized> {
        data: Box<T>,
    }

    impl<T: pin_init::Zeroable> Coherent<[T]> {
        pub fn zeroed_slice(dev: &Device, len: usize, _flags: Flags) -> Result<Self> {
            crate::fake::event(format!("coherent alloc {} x{len}", dev.name));
            Ok(Self {
                data: (0..len).map(|_| pin_init::zeroed()).collect(),
            })
        }
    }

    impl<T: ?Sized> Deref for Coherent<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.data
        }
    }

    impl<T: ?Sized> DerefMut for Coherent<T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.data
        }
    }

    impl<T: ?Sized> Drop for Coherent<T> {
        fn drop(&mut self) {
            crate::fake::event("coherent free");
        }
    }
}

pub mod scatterlist {
    use core::{marker::PhantomPinned, pin::Pin};

    use pin_init::{pin_data, pinned_drop, PinInit};

    use crate::{alloc::Flags, device::Device, dma::DataDirection, error::Error};

    pub struct Owned<P>(pub P);

    pub struct Entry(pub u64);

    impl Entry {
        pub fn dma_address(&self) -> u64 {
            self.0
        }
    }

    /// A mapped scatter-gather table: pinned, because the device holds its address.
    #[pin_data(PinnedDrop)]
    pub struct SGTable<T> {
        pages: T,
        entries: Vec<Entry>,
        #[pin]
        _pin: PhantomPinned,
    }

    impl<P> SGTable<Owned<P>> {
        pub fn new<'a>(
            dev: &'a Device,
            pages: P,
            dir: DataDirection,
            _flags: Flags,
        ) -> impl PinInit<Self, Error> + 'a
        where
            P: 'a,
        {
            let fail = dev.name.contains("sgt-fails");
            crate::try_pin_init!(&this in Self {
                pages: Owned(pages),
                entries: vec![Entry(0x1000), Entry(0x2000)],
                _pin: PhantomPinned,
                _: {
                    if fail {
                        return Err(crate::error::code::ENOMEM);
                    }
                    crate::fake::event(format!("sgt map {dir:?} at {:p}", this.as_ptr()));
                },
            })
        }

        pub fn iter(&self) -> impl Iterator<Item = &Entry> {
            self.entries.iter()
        }
    }

    #[pinned_drop]
    impl<T> PinnedDrop for SGTable<T> {
        fn drop(self: Pin<&mut Self>) {
            crate::fake::event(format!("sgt unmap at {:p}", &*self));
        }
    }
}

/// The C side of interrupt registration: a global table of handlers.
#[allow(non_camel_case_types)]
pub mod bindings {
    use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
    use std::{collections::HashMap, sync::Mutex};

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    #[repr(transparent)]
    pub struct irqreturn_t(pub c_uint);

    pub mod irqreturn {
        pub const IRQ_NONE: super::irqreturn_t = super::irqreturn_t(0);
        pub const IRQ_HANDLED: super::irqreturn_t = super::irqreturn_t(1);
    }

    pub type irq_handler_t = Option<unsafe extern "C" fn(c_int, *mut c_void) -> irqreturn_t>;

    struct Entry {
        handler: unsafe extern "C" fn(c_int, *mut c_void) -> irqreturn_t,
        cookie: *mut c_void,
    }

    // SAFETY: The table only stores the cookie and hands it back to the handler, as the C side
    // does; the handler is responsible for synchronization.
    unsafe impl Send for Entry {}

    static TABLE: Mutex<Option<HashMap<c_uint, Entry>>> = Mutex::new(None);

    /// # Safety
    ///
    /// `cookie` must be valid for `handler` until `free_irq`.
    pub unsafe fn request_irq(
        irq: c_uint,
        handler: irq_handler_t,
        _flags: c_ulong,
        _name: *const c_char,
        cookie: *mut c_void,
    ) -> c_int {
        let mut table = TABLE.lock().unwrap();
        let table = table.get_or_insert_with(HashMap::new);
        if table.contains_key(&irq) {
            return crate::error::code::EBUSY.0;
        }
        table.insert(
            irq,
            Entry {
                handler: handler.expect("a handler"),
                cookie,
            },
        );
        crate::fake::event(format!("request_irq {irq}"));
        0
    }

    /// # Safety
    ///
    /// `cookie` must be the one given to `request_irq`.
    pub unsafe fn free_irq(irq: c_uint, cookie: *mut c_void) {
        let mut table = TABLE.lock().unwrap();
        let entry = table
            .as_mut()
            .and_then(|t| t.remove(&irq))
            .expect("free_irq of an unregistered irq");
        assert_eq!(entry.cookie, cookie, "free_irq with a different cookie");
        crate::fake::event(format!("free_irq {irq}"));
    }

    /// Simulates an interrupt: calls the registered handler with its cookie.
    pub fn fire(irq: c_uint) -> Option<irqreturn_t> {
        let (handler, cookie) = {
            let table = TABLE.lock().unwrap();
            let entry = table.as_ref()?.get(&irq)?;
            (entry.handler, entry.cookie)
        };
        // SAFETY: `request_irq`'s caller guarantees that the cookie is valid until `free_irq`.
        Some(unsafe { handler(irq as c_int, cookie) })
    }
}

/// `dev_info!` that records the message.
#[macro_export]
macro_rules! dev_info {
    ($dev:expr, $($arg:tt)*) => {
        $crate::fake::event(format!($($arg)*).trim_end().to_owned())
    };
}
