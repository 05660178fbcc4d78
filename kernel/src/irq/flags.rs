//! Flags of interrupt registrations (`IRQF_*`).
//!
//! Mirrors `rust/kernel/irq/flags.rs` of Linux 7.3, with the kernel's values. Of their effects,
//! drydock honours [`Flags::SHARED`] (several handlers on one line); trigger types belong to the
//! hardware (MSI is edge-triggered, INTx level-triggered and masked until its handlers ran), and
//! the power-management and affinity flags have no userspace meaning.

use crate::bindings;

/// Flags of an interrupt registration.
///
/// Mirrors `kernel::irq::Flags`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Flags(crate::ffi::c_ulong);

impl Flags {
    /// No trigger type given: use the one the line is configured with.
    pub const TRIGGER_NONE: Flags = Flags::new(bindings::IRQF_TRIGGER_NONE);
    /// Trigger on a rising edge.
    pub const TRIGGER_RISING: Flags = Flags::new(bindings::IRQF_TRIGGER_RISING);
    /// Trigger on a falling edge.
    pub const TRIGGER_FALLING: Flags = Flags::new(bindings::IRQF_TRIGGER_FALLING);
    /// Trigger while the level is high.
    pub const TRIGGER_HIGH: Flags = Flags::new(bindings::IRQF_TRIGGER_HIGH);
    /// Trigger while the level is low.
    pub const TRIGGER_LOW: Flags = Flags::new(bindings::IRQF_TRIGGER_LOW);
    /// Allow other handlers on the same line.
    pub const SHARED: Flags = Flags::new(bindings::IRQF_SHARED);
    /// The caller expects sharing mismatches to happen.
    pub const PROBE_SHARED: Flags = Flags::new(bindings::IRQF_PROBE_SHARED);
    /// A timer interrupt.
    pub const TIMER: Flags = Flags::new(bindings::IRQF_TIMER);
    /// A per-CPU interrupt.
    pub const PERCPU: Flags = Flags::new(bindings::IRQF_PERCPU);
    /// Exclude from interrupt balancing.
    pub const NOBALANCING: Flags = Flags::new(bindings::IRQF_NOBALANCING);
    /// Used for polling.
    pub const IRQPOLL: Flags = Flags::new(bindings::IRQF_IRQPOLL);
    /// Keep the line disabled until the threaded handler has run.
    pub const ONESHOT: Flags = Flags::new(bindings::IRQF_ONESHOT);
    /// Do not disable across suspend.
    pub const NO_SUSPEND: Flags = Flags::new(bindings::IRQF_NO_SUSPEND);
    /// Force-enable on resume.
    pub const FORCE_RESUME: Flags = Flags::new(bindings::IRQF_FORCE_RESUME);
    /// Cannot be threaded.
    pub const NO_THREAD: Flags = Flags::new(bindings::IRQF_NO_THREAD);
    /// Resume early.
    pub const EARLY_RESUME: Flags = Flags::new(bindings::IRQF_EARLY_RESUME);
    /// May be a wakeup source during suspend.
    pub const COND_SUSPEND: Flags = Flags::new(bindings::IRQF_COND_SUSPEND);
    /// Do not enable on request.
    pub const NO_AUTOEN: Flags = Flags::new(bindings::IRQF_NO_AUTOEN);
    /// Exclude from runaway detection.
    pub const NO_DEBUG: Flags = Flags::new(bindings::IRQF_NO_DEBUG);

    /// Whether every flag of `other` is set in `self`.
    pub(crate) fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    const fn new(value: u32) -> Self {
        // CAST: `c_ulong` is at least 32 bits on every target, so the value fits.
        Self(value as crate::ffi::c_ulong)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self::Output {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitAnd for Flags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self::Output {
        Self(self.0 & rhs.0)
    }
}

impl core::ops::Not for Flags {
    type Output = Self;
    fn not(self) -> Self::Output {
        Self(!self.0)
    }
}
