//! Downcasting a type-erased [`Arc`].
//!
//! Mirrors `rust/kernel/sync/arc/std_vendor.rs` of Linux 7.3 (there adapted from the standard
//! library; written anew here).

use crate::sync::{arc::ArcInner, Arc};
use core::any::Any;

impl Arc<dyn Any + Send + Sync> {
    /// Returns the `Arc` as an `Arc<T>` if the value is a `T`, and gives it back otherwise.
    pub fn downcast<T>(self) -> core::result::Result<Arc<T>, Self>
    where
        T: Any + Send + Sync,
    {
        if (*self).is::<T>() {
            let ptr = self.ptr.cast::<ArcInner<T>>();
            core::mem::forget(self);
            // SAFETY: The value is a `T`, so the allocation is an `ArcInner<T>`; the reference
            // of the forgotten `Arc` passes to the new one.
            Ok(unsafe { Arc::from_inner(ptr) })
        } else {
            Err(self)
        }
    }
}
