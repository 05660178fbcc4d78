//! The data of a bound driver, within reach of the process that bound it.
//!
//! In the kernel, a driver's data is reached only through the driver's own callbacks. A process
//! that drives a device in-process (a test, an example, a benchmark, a driver binary's demo mode)
//! also needs to call the driver: the driver exposes methods on its data type, and
//! [`with_driver_data`] (or [`WithDriver::with_driver`] on a device handle) reaches them with
//! the device in the bound context, as the driver's own callbacks have it.

use core::pin::Pin;

use drydock_host::device::RawDevice;
use drydock_host::pci::PciDeviceHandle;
use kernel::device::{Bound, BoundInternal};
use kernel::error::code::{EINVAL, ENODEV};
use kernel::error::Error;
use kernel::pci;

/// Runs `f` with the data of the driver `T` bound to `device`, and the device in the bound context
/// (for the driver's methods that need proof the device is bound).
///
/// This is how tests, examples and benchmarks use a driver in-process: the driver exposes methods
/// on its data type, and the caller reaches them here. The device lock is held while `f` runs, so
/// the driver cannot be unbound meanwhile; `f` must not unbind the device itself.
///
/// Fails with `ENODEV` if no driver is bound and `EINVAL` if the bound driver is not `T`.
pub fn with_driver_data<T, R>(
    device: &impl PciDeviceHandle,
    f: impl for<'b> FnOnce(&'b pci::Device<Bound>, Pin<&'b T::Data<'b>>) -> R,
) -> Result<R, Error>
where
    T: pci::Driver + 'static,
{
    /// Releases the device lock when dropped, also when `f` panics (a failed test assertion),
    /// so that the device can still be unbound afterwards.
    struct Unlock<'a>(&'a RawDevice);
    impl Drop for Unlock<'_> {
        fn drop(&mut self) {
            self.0.unlock();
        }
    }

    let device = device.pci_device().ok_or(ENODEV)?;
    device.dev.lock();
    let _unlock = Unlock(&device.dev);
    (|| {
        let driver = device.bound_driver().ok_or(ENODEV)?;
        // SAFETY: a bound driver stays registered until it is unbound, which needs the device lock
        // we hold.
        if unsafe { (*driver).driver_type } != Some(core::any::TypeId::of::<T>()) {
            return Err(EINVAL);
        }
        // SAFETY: the device is bound, and stays so while we hold its lock; `pci::Device` is a
        // transparent wrapper of `RawPciDevice` in every context.
        let pdev = unsafe { &*device.as_ptr().cast::<pci::Device<BoundInternal>>() };
        // SAFETY: the driver is `T` (checked above), whose bus adapter stored a `T::Data` with
        // `set_drvdata`; it stays until unbind, which cannot happen while we hold the lock.
        let data = unsafe { pdev.as_ref().drvdata_borrow::<T::Data<'_>>() };
        Ok(f(pdev, data))
    })()
}

/// [`with_driver_data`] as a method of every device handle: a [`PciDeviceRef`] or a simulated
/// device.
///
/// [`PciDeviceRef`]: drydock_host::pci::PciDeviceRef
pub trait WithDriver: PciDeviceHandle + Sized {
    /// Runs `f` with the data of the driver `T` bound to this device; see [`with_driver_data`].
    fn with_driver<T, R>(
        &self,
        f: impl for<'b> FnOnce(&'b pci::Device<Bound>, Pin<&'b T::Data<'b>>) -> R,
    ) -> Result<R, Error>
    where
        T: pci::Driver + 'static,
    {
        with_driver_data::<T, R>(self, f)
    }
}

impl<D: PciDeviceHandle> WithDriver for D {}
