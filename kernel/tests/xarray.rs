//! Tests of `kernel::xarray`: storing, loading, replacing and removing at sparse indices, owned
//! values dropped once, the lock, and concurrent stores.

use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::xarray::{AllocKind, XArray};

fn array<T: kernel::types::ForeignOwnable>(kind: AllocKind) -> Pin<KBox<XArray<T>>> {
    KBox::pin_init(XArray::new(kind), GFP_KERNEL).unwrap()
}

fn boxed(v: u64) -> KBox<u64> {
    KBox::new(v, GFP_KERNEL).unwrap()
}

#[test]
fn values_are_stored_loaded_replaced_and_removed_at_sparse_indices() {
    let xa = array::<KBox<u64>>(AllocKind::Alloc1);
    let mut guard = xa.lock();
    let indices = [0, 1, 63, 64, 4096, 1 << 40, usize::MAX];
    for &i in &indices {
        assert!(guard.get(i).is_none());
        assert!(guard
            .store(i, boxed(i as u64), GFP_KERNEL)
            .ok()
            .unwrap()
            .is_none());
    }
    for &i in &indices {
        assert_eq!(guard.get(i).copied(), Some(i as u64));
    }
    assert!(guard.get(2).is_none() && guard.get(usize::MAX - 1).is_none());

    *guard.get_mut(64).unwrap() = 6400;
    assert_eq!(guard.get(64).copied(), Some(6400));
    let old = guard.store(64, boxed(1), GFP_KERNEL).ok().unwrap();
    assert_eq!(old.as_deref().copied(), Some(6400));
    assert_eq!(guard.get(64).copied(), Some(1));

    assert_eq!(guard.remove(4096).as_deref().copied(), Some(4096));
    assert!(guard.remove(4096).is_none());
    assert!(guard.get(4096).is_none());
    assert!(guard.get_mut(4096).is_none());
}

#[test]
fn shared_values_are_borrowed_without_new_references() {
    let xa = array::<Arc<u32>>(AllocKind::Alloc);
    let value = Arc::new(5, GFP_KERNEL).unwrap();
    let mut guard = xa.lock();
    assert!(guard
        .store(3, value.clone(), GFP_KERNEL)
        .ok()
        .unwrap()
        .is_none());
    let borrowed = guard.get(3).unwrap();
    assert_eq!(*borrowed, 5);
    assert!(Arc::ptr_eq(&Arc::from(borrowed), &value));
    let taken = guard.remove(3).unwrap();
    assert!(Arc::ptr_eq(&taken, &value));
    drop(guard);
    drop(taken);
    assert!(
        Arc::into_unique_or_drop(value).is_some(),
        "the array kept no reference"
    );
}

/// A value that counts its drops.
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_array_drops_the_values_it_holds_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let xa = array::<KBox<Counted>>(AllocKind::Alloc);
    {
        let mut guard = xa.lock();
        for i in (0..1000).step_by(7) {
            let value = KBox::new(Counted(&DROPS), GFP_KERNEL).unwrap();
            assert!(guard.store(i, value, GFP_KERNEL).ok().unwrap().is_none());
        }
        drop(guard.store(
            7,
            KBox::new(Counted(&DROPS), GFP_KERNEL).unwrap(),
            GFP_KERNEL,
        ));
        drop(guard.remove(14));
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    drop(xa);
    // 143 indices were used, one value was replaced and one removed: 143 + 1 dropped in all.
    assert_eq!(DROPS.load(Ordering::SeqCst), 144);
}

#[test]
fn try_lock_fails_while_a_guard_is_held() {
    let xa = array::<KBox<u64>>(AllocKind::Alloc);
    let guard = xa.try_lock().unwrap();
    assert!(xa.try_lock().is_none());
    drop(guard);
    let mut guard = xa.try_lock().unwrap();
    assert!(guard.store(1, boxed(1), GFP_KERNEL).is_ok());
}

#[test]
fn stores_from_many_threads_are_serialised_by_the_lock() {
    let xa = array::<KBox<u64>>(AllocKind::Alloc);
    let xa = &*xa;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for i in 0..200u64 {
                    let index = (i * 4 + t) as usize;
                    let mut guard = xa.lock();
                    assert!(guard.store(index, boxed(index as u64), GFP_KERNEL).is_ok());
                    // The shared counter at index `usize::MAX` is read and updated under the lock.
                    match guard.get_mut(usize::MAX) {
                        Some(count) => *count += 1,
                        None => drop(guard.store(usize::MAX, boxed(1), GFP_KERNEL)),
                    }
                }
            });
        }
    });
    let guard = xa.lock();
    assert_eq!(guard.get(usize::MAX).copied(), Some(800));
    assert!((0..800).all(|i| guard.get(i).copied() == Some(i as u64)));
}
