//! PCI interrupt vectors.
//!
//! Mirrors `rust/kernel/pci/irq.rs` of Linux 7.3.

use core::num::NonZero;

use super::Device;
use crate::{bindings, device, device::Bound, irq::IrqRequest, prelude::*};

/// An interrupt type.
///
/// Mirrors `kernel::pci::IrqType`.
#[derive(Debug, Clone, Copy)]
pub enum IrqType {
    /// The legacy INTx pin.
    Intx,
    /// Message Signalled Interrupts.
    Msi,
    /// MSI-X.
    MsiX,
}

impl IrqType {
    const fn as_raw(self) -> u32 {
        match self {
            IrqType::Intx => bindings::PCI_IRQ_INTX,
            IrqType::Msi => bindings::PCI_IRQ_MSI,
            IrqType::MsiX => bindings::PCI_IRQ_MSIX,
        }
    }

    #[inline]
    const fn from_raw(raw: u32) -> Self {
        match raw {
            bindings::PCI_IRQ_MSIX => IrqType::MsiX,
            bindings::PCI_IRQ_MSI => IrqType::Msi,
            _ => IrqType::Intx,
        }
    }
}

/// A set of interrupt types an allocation may use.
///
/// Mirrors `kernel::pci::IrqTypes`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IrqTypes(u32);

impl IrqTypes {
    /// All types: MSI-X, MSI and INTx.
    pub const fn all() -> Self {
        Self(bindings::PCI_IRQ_ALL_TYPES)
    }

    /// Adds `irq_type` to the set.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::pci::{IrqType, IrqTypes};
    /// let msi_only = IrqTypes::default().with(IrqType::Msi).with(IrqType::MsiX);
    /// # let _ = msi_only;
    /// ```
    pub const fn with(self, irq_type: IrqType) -> Self {
        Self(self.0 | irq_type.as_raw())
    }

    const fn as_raw(self) -> u32 {
        self.0
    }
}

/// One vector of an [`IrqVectorRegistration`], ready to be turned into an [`IrqRequest`].
///
/// Mirrors `kernel::pci::IrqVector`.
pub struct IrqVector<'a> {
    request: IrqRequest<'a>,
    reg: &'a IrqVectorRegistration<'a>,
}

impl<'a> IrqVector<'a> {
    /// # Safety
    ///
    /// `request` must have been resolved from `reg`.
    #[inline]
    unsafe fn new(request: IrqRequest<'a>, reg: &'a IrqVectorRegistration<'a>) -> Self {
        Self { request, reg }
    }

    /// Returns the allocation this vector belongs to.
    #[inline]
    pub fn vectors(&self) -> &'a IrqVectorRegistration<'a> {
        self.reg
    }

    /// Returns the type of the allocation.
    #[inline]
    pub fn irq_type(&self) -> IrqType {
        self.reg.irq_type()
    }
}

impl<'a> From<IrqVector<'a>> for IrqRequest<'a> {
    #[inline]
    fn from(vector: IrqVector<'a>) -> Self {
        vector.request
    }
}

/// An allocation of interrupt vectors; freed when dropped, after the handlers registered on them.
///
/// Mirrors `kernel::pci::IrqVectorRegistration`.
///
/// # Invariants
///
/// `dev` has `len` vectors allocated.
pub struct IrqVectorRegistration<'a> {
    dev: &'a Device<Bound>,
    len: NonZero<usize>,
}

impl<'a> IrqVectorRegistration<'a> {
    /// Returns the number of vectors.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Returns the type the PCI core chose.
    #[inline]
    pub fn irq_type(&self) -> IrqType {
        IrqType::from_raw(self.dev.raw().irq_type())
    }

    /// Returns vector `index`; `EINVAL` if out of range.
    #[inline]
    pub fn index(&self, index: usize) -> Result<IrqVector<'_>> {
        let index = u32::try_from(index)?;
        let irq = self.dev.raw().irq_vector(index)?;
        // SAFETY: `irq` is a vector of `self.dev` from this allocation.
        Ok(unsafe { IrqVector::new(IrqRequest::new(self.dev.as_ref(), irq), self) })
    }
}

impl Drop for IrqVectorRegistration<'_> {
    #[inline]
    fn drop(&mut self) {
        self.dev.raw().free_irq_vectors();
    }
}

impl Device<device::Bound> {
    /// Allocates between `min_vecs` and `max_vecs` interrupt vectors of the types in `irq_types`,
    /// preferring MSI-X, then MSI, then INTx (`pci_alloc_irq_vectors()`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::{device::Bound, pci};
    /// # fn no_run(dev: &pci::Device<Bound>) -> kernel::error::Result {
    /// let vectors = dev.alloc_irq_vectors(1, 32, pci::IrqTypes::all())?;
    /// # Ok(()) }
    /// ```
    pub fn alloc_irq_vectors(
        &self,
        min_vecs: u32,
        max_vecs: u32,
        irq_types: IrqTypes,
    ) -> Result<IrqVectorRegistration<'_>> {
        let count = self
            .raw()
            .alloc_irq_vectors(min_vecs, max_vecs, irq_types.as_raw())?;
        let len = NonZero::new(count as usize).ok_or(EINVAL)?;
        // INVARIANT: `count` vectors were allocated for `self`.
        Ok(IrqVectorRegistration { dev: self, len })
    }
}
