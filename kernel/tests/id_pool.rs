//! Tests of `kernel::id_pool`: acquiring and releasing identifiers, growing when full, shrinking
//! when the identifiers in use allow it, and resizers that became stale.

use kernel::bitmap::BitmapVec;
use kernel::id_pool::IdPool;
use kernel::prelude::*;

fn acquire(pool: &mut IdPool, offset: usize) -> Option<usize> {
    pool.find_unused_id(offset).map(|id| id.acquire())
}

#[test]
fn identifiers_are_handed_out_lowest_first_and_reused_after_release() {
    let mut pool = IdPool::default();
    assert_eq!(pool.capacity(), BitmapVec::MAX_INLINE_LEN);
    for expected in 0..64 {
        assert_eq!(acquire(&mut pool, 0), Some(expected));
    }
    assert!(pool.find_unused_id(0).is_none(), "full");
    pool.release_id(40);
    pool.release_id(10);
    let unused = pool.find_unused_id(0).unwrap();
    assert_eq!((unused.as_usize(), unused.as_u32()), (10, 10));
    // Looking does not take the identifier.
    assert_eq!(pool.find_unused_id(0).map(|id| id.as_usize()), Some(10));
    assert_eq!(acquire(&mut pool, 11), Some(40));
    assert_eq!(acquire(&mut pool, 0), Some(10));
    assert!(pool.find_unused_id(0).is_none());
    assert!(
        pool.find_unused_id(64).is_none(),
        "offset beyond the capacity"
    );
}

#[test]
fn capacities_are_at_least_a_word() {
    assert_eq!(IdPool::with_capacity(3, GFP_KERNEL).unwrap().capacity(), 64);
    assert_eq!(
        IdPool::with_capacity(100, GFP_KERNEL).unwrap().capacity(),
        100
    );
    assert!(IdPool::new().shrink_request().is_none());
}

#[test]
fn growing_doubles_the_capacity_and_keeps_the_identifiers() {
    let mut pool = IdPool::new();
    while acquire(&mut pool, 0).is_some() {}
    pool.release_id(5);
    let request = pool.grow_request().unwrap();
    let resizer = request.realloc(GFP_KERNEL).unwrap();
    pool.grow(resizer);
    assert_eq!(pool.capacity(), 128);
    assert_eq!(acquire(&mut pool, 0), Some(5));
    assert_eq!(acquire(&mut pool, 0), Some(64));

    // A resizer no larger than the pool (it grew meanwhile) is dropped.
    let stale = pool.grow_request().unwrap().realloc(GFP_KERNEL).unwrap();
    let same = pool.grow_request().unwrap().realloc(GFP_KERNEL).unwrap();
    pool.grow(same);
    assert_eq!(pool.capacity(), 256);
    let larger = pool.grow_request().unwrap().realloc(GFP_KERNEL).unwrap();
    pool.grow(larger);
    assert_eq!(pool.capacity(), 512);
    assert_eq!(acquire(&mut pool, 300), Some(300));
    pool.grow(stale);
    assert_eq!(pool.capacity(), 512);
    assert_eq!(acquire(&mut pool, 300), Some(301));
    assert_eq!(acquire(&mut pool, 0), Some(65));
}

#[test]
fn shrinking_halves_while_the_identifiers_fit_in_a_quarter() {
    let mut pool = IdPool::with_capacity(1024, GFP_KERNEL).unwrap();
    for _ in 0..3 {
        acquire(&mut pool, 0);
    }
    assert_eq!(acquire(&mut pool, 256), Some(256));
    assert!(
        pool.shrink_request().is_none(),
        "256 is not in the first quarter"
    );
    pool.release_id(256);
    assert_eq!(acquire(&mut pool, 200), Some(200));

    let resizer = pool.shrink_request().unwrap().realloc(GFP_KERNEL).unwrap();
    pool.shrink(resizer);
    assert_eq!(pool.capacity(), 512);
    assert!(
        pool.shrink_request().is_none(),
        "200 is not in the first quarter of 512"
    );
    pool.release_id(200);
    let resizer = pool.shrink_request().unwrap().realloc(GFP_KERNEL).unwrap();
    pool.shrink(resizer);
    assert_eq!(pool.capacity(), 256);
    assert_eq!(
        acquire(&mut pool, 0),
        Some(3),
        "identifiers in use are kept"
    );

    // An empty pool shrinks to a word at once.
    for id in 0..4 {
        pool.release_id(id);
    }
    let resizer = pool.shrink_request().unwrap().realloc(GFP_KERNEL).unwrap();
    pool.shrink(resizer);
    assert_eq!(pool.capacity(), BitmapVec::MAX_INLINE_LEN);
    assert!(pool.shrink_request().is_none());
}

#[test]
fn a_shrink_that_no_longer_fits_is_dropped() {
    let mut pool = IdPool::with_capacity(256, GFP_KERNEL).unwrap();
    let resizer = pool.shrink_request().unwrap().realloc(GFP_KERNEL).unwrap();
    // Meanwhile, an identifier beyond the new capacity is taken.
    assert_eq!(acquire(&mut pool, 100), Some(100));
    pool.shrink(resizer);
    assert_eq!(pool.capacity(), 256);
    assert_eq!(acquire(&mut pool, 100), Some(101));
}
