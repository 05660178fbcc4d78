//! Helpers shared by the runtime tests.

use std::{
    marker::PhantomData,
    sync::{Arc, Mutex},
};

/// Records the names of dropped [`Tracked`] values, in drop order.
#[derive(Clone, Default)]
pub struct DropLog(Arc<Mutex<Vec<&'static str>>>);

impl DropLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A value that records `name` in this log when dropped.
    pub fn tracked(&self, name: &'static str) -> Tracked {
        Tracked {
            name,
            log: self.clone(),
        }
    }

    /// The names dropped so far, in order.
    pub fn dropped(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }

    pub fn record(&self, name: &'static str) {
        self.0.lock().unwrap().push(name);
    }
}

/// Records its name in a [`DropLog`] when dropped.
pub struct Tracked {
    pub name: &'static str,
    log: DropLog,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.record(self.name);
    }
}

/// Tells at run time whether a concrete type is `Unpin` (autoref-based specialization: the
/// inherent method wins when its bound holds, otherwise the trait method is used).
pub struct UnpinProbe<T: ?Sized>(pub PhantomData<T>);

impl<T: ?Sized + Unpin> UnpinProbe<T> {
    pub fn is_unpin(&self) -> bool {
        true
    }
}

pub trait NotUnpinFallback {
    fn is_unpin(&self) -> bool {
        false
    }
}

impl<T: ?Sized> NotUnpinFallback for UnpinProbe<T> {}

#[macro_export]
macro_rules! is_unpin {
    ($t:ty) => {{
        #[allow(unused_imports)]
        use $crate::util::NotUnpinFallback as _;
        $crate::util::UnpinProbe::<$t>(::std::marker::PhantomData).is_unpin()
    }};
}

/// The same, for `Zeroable`.
pub struct ZeroableProbe<T: ?Sized>(pub PhantomData<T>);

impl<T: ?Sized + pin_init::Zeroable> ZeroableProbe<T> {
    pub fn is_zeroable(&self) -> bool {
        true
    }
}

pub trait NotZeroableFallback {
    fn is_zeroable(&self) -> bool {
        false
    }
}

impl<T: ?Sized> NotZeroableFallback for ZeroableProbe<T> {}

#[macro_export]
macro_rules! is_zeroable {
    ($t:ty) => {{
        #[allow(unused_imports)]
        use $crate::util::NotZeroableFallback as _;
        $crate::util::ZeroableProbe::<$t>(::std::marker::PhantomData).is_zeroable()
    }};
}

/// An error type for tests. Like the kernel's `Error`, it implements `From<Infallible>`, which
/// `<-` with infallible initializers in fallible ones and `InPlaceInit::try_*` require.
#[derive(Debug, PartialEq)]
pub struct Oops(pub &'static str);

impl From<core::convert::Infallible> for Oops {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}
