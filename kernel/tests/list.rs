//! Tests of `kernel::list`: order of insertion and removal, cursors, removal of a known value,
//! `ListArc` uniqueness tracking, lists of trait objects, values in two lists, `ListArcField`.

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::list::{
    impl_list_arc_safe, impl_list_item, AtomicTracker, List, ListArc, ListArcField, ListItem,
    ListLinks, ListLinksSelfPtr, TryNewListArc,
};
use kernel::prelude::*;
use kernel::sync::{Arc, UniqueArc};
use std::vec::Vec;

/// A value in lists of id 0 (tracked, so `ListArc`s can be made from `Arc`s) and id 1
/// (untracked), which counts its drops.
#[pin_data(PinnedDrop)]
struct Item {
    value: u32,
    #[pin]
    links: ListLinks<0>,
    #[pin]
    tracker: AtomicTracker<0>,
    #[pin]
    other_links: ListLinks<1>,
    drops: Option<&'static AtomicUsize>,
}

#[pinned_drop]
impl PinnedDrop for Item {
    fn drop(self: Pin<&mut Self>) {
        if let Some(drops) = self.drops {
            drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl_list_arc_safe! {
    impl ListArcSafe<0> for Item { tracked_by tracker: AtomicTracker<0>; }
    impl ListArcSafe<1> for Item { untracked; }
}
impl_list_item! {
    impl ListItem<0> for Item { using ListLinks { self.links }; }
    impl ListItem<1> for Item { using ListLinks { self.other_links }; }
}

fn init(value: u32, drops: Option<&'static AtomicUsize>) -> impl PinInit<Item, Error> {
    try_pin_init!(Item {
        value,
        links <- ListLinks::new(),
        tracker <- AtomicTracker::new(),
        other_links <- ListLinks::new(),
        drops,
    })
}

fn item(value: u32) -> ListArc<Item> {
    ListArc::pin_init(init(value, None), GFP_KERNEL).unwrap()
}

fn list_of(values: &[u32]) -> List<Item> {
    let mut list = List::new();
    for &v in values {
        list.push_back(item(v));
    }
    list
}

fn values<const ID: u64>(list: &List<Item, ID>) -> Vec<u32>
where
    Item: ListItem<ID>,
{
    list.iter().map(|i| i.value).collect()
}

#[test]
fn pushes_and_pops_at_both_ends_keep_order() {
    let mut list = List::<Item>::new();
    assert!(list.is_empty());
    assert!(list.pop_front().is_none() && list.pop_back().is_none());
    list.push_back(item(2));
    list.push_back(item(3));
    list.push_front(item(1));
    list.push_front(item(0));
    assert_eq!(values(&list), [0, 1, 2, 3]);
    assert!(!list.is_empty());
    assert_eq!(list.pop_back().map(|i| i.value), Some(3));
    assert_eq!(list.pop_front().map(|i| i.value), Some(0));
    assert_eq!(values(&list), [1, 2]);
    assert_eq!(list.pop_back().map(|i| i.value), Some(2));
    assert_eq!(list.pop_back().map(|i| i.value), Some(1));
    assert!(list.is_empty());
    assert_eq!(values(&list), []);
}

#[test]
fn push_all_back_appends_and_empties_the_other_list() {
    let mut a = list_of(&[1, 2]);
    let mut b = list_of(&[3, 4, 5]);
    a.push_all_back(&mut b);
    assert_eq!(values(&a), [1, 2, 3, 4, 5]);
    assert!(b.is_empty());
    assert_eq!(
        a.pop_back().map(|i| i.value),
        Some(5),
        "the cycle is closed"
    );

    let mut empty = List::new();
    empty.push_all_back(&mut a);
    assert_eq!(values(&empty), [1, 2, 3, 4]);
    assert!(a.is_empty());
    empty.push_all_back(&mut a);
    assert_eq!(values(&empty), [1, 2, 3, 4]);
}

#[test]
fn into_iter_takes_values_from_both_ends() {
    let mut iter = list_of(&[1, 2, 3, 4]).into_iter();
    assert_eq!(iter.next().map(|i| i.value), Some(1));
    assert_eq!(iter.next_back().map(|i| i.value), Some(4));
    let rest: Vec<u32> = iter.map(|i| i.value).collect();
    assert_eq!(rest, [2, 3]);
}

#[test]
fn cursor_moves_stop_at_the_ends() {
    let mut list = list_of(&[1, 2, 3]);
    let mut cursor = list.cursor_front();
    assert!(cursor.peek_prev().is_none());
    assert!(!cursor.move_prev());
    assert_eq!(cursor.peek_next().map(|p| p.value), Some(1));
    assert!(cursor.move_next() && cursor.move_next() && cursor.move_next());
    assert!(cursor.peek_next().is_none());
    assert!(!cursor.move_next());
    assert_eq!(cursor.peek_prev().map(|p| p.value), Some(3));
    assert!(cursor.move_prev());
    assert_eq!(cursor.peek_prev().map(|p| p.value), Some(2));
    assert_eq!(cursor.peek_next().map(|p| p.value), Some(3));

    let mut cursor = list.cursor_back();
    assert!(cursor.peek_next().is_none());
    assert_eq!(cursor.peek_prev().map(|p| p.arc().value), Some(3));

    let mut empty = List::<Item>::new();
    let mut cursor = empty.cursor_front();
    assert!(cursor.peek_next().is_none() && cursor.peek_prev().is_none());
    assert!(!cursor.move_next() && !cursor.move_prev());
}

#[test]
fn cursor_inserts_on_either_side() {
    let mut list = list_of(&[10, 20]);
    let mut cursor = list.cursor_front();
    cursor.insert_prev(item(1));
    cursor.insert_next(item(5));
    assert_eq!(cursor.peek_prev().map(|p| p.value), Some(1));
    assert_eq!(cursor.peek_next().map(|p| p.value), Some(5));
    assert!(cursor.move_next() && cursor.move_next() && cursor.move_next());
    cursor.insert_next(item(30));
    cursor.insert(item(25));
    assert_eq!(values(&list), [1, 5, 10, 20, 25, 30]);

    // At the back of the list, and into an empty list.
    list.cursor_back().insert(item(40));
    assert_eq!(values(&list).last(), Some(&40));
    let mut empty = List::new();
    empty.cursor_back().insert_prev(item(7));
    empty.cursor_front().insert_next(item(6));
    assert_eq!(values(&empty), [6, 7]);
}

#[test]
fn cursor_removes_neighbours_and_stays_between_the_rest() {
    let mut list = list_of(&[1, 2, 3, 4, 5]);
    let mut cursor = list.cursor_front();
    cursor.move_next();
    cursor.move_next();
    // Between 2 and 3.
    assert_eq!(cursor.remove_next().map(|i| i.value), Some(3));
    assert_eq!(cursor.remove_prev().map(|i| i.value), Some(2));
    assert_eq!(cursor.peek_prev().map(|p| p.value), Some(1));
    let next = cursor.peek_next().unwrap();
    assert_eq!(next.remove().value, 4);
    assert_eq!(cursor.peek_next().map(|p| p.value), Some(5));
    assert_eq!(values(&list), [1, 5]);

    // Removing the first and the last values through a cursor.
    let mut cursor = list.cursor_front();
    assert_eq!(cursor.remove_next().map(|i| i.value), Some(1));
    assert!(cursor.remove_prev().is_none());
    let mut cursor = list.cursor_back();
    assert_eq!(cursor.remove_prev().map(|i| i.value), Some(5));
    assert!(list.is_empty());
}

#[test]
fn remove_takes_a_known_value_out_of_its_list() {
    let mut list = list_of(&[1, 2, 3]);
    let arcs: Vec<Arc<Item>> = list.iter().map(Arc::from).collect();
    let outsider = item(9);
    // SAFETY: The values are in `list` or in no list.
    unsafe {
        assert_eq!(list.remove(&arcs[1]).map(|i| i.value), Some(2));
        assert!(list.remove(&arcs[1]).is_none(), "no longer in a list");
        assert!(list.remove(&outsider).is_none());
        assert_eq!(list.remove(&arcs[0]).map(|i| i.value), Some(1));
    }
    assert_eq!(values(&list), [3]);
    // SAFETY: As above.
    let last = unsafe { list.remove(&arcs[2]) }.unwrap();
    assert!(list.is_empty());
    // Removed values can go in a list again.
    list.push_back(last);
    assert_eq!(values(&list), [3]);
}

#[test]
fn a_tracked_value_has_one_list_arc_at_a_time() {
    let arc: Arc<Item> = Arc::pin_init(init(1, None), GFP_KERNEL).unwrap();
    let list_arc = ListArc::<Item>::try_from_arc(arc.clone()).ok().unwrap();
    assert!(ListArc::<Item>::try_from_arc(arc.clone()).is_err());
    assert!(ListArc::<Item>::try_from_arc_borrow(arc.as_arc_borrow()).is_none());
    assert!(ListArc::<Item>::try_from_arc_or_drop(arc.clone()).is_none());

    // In a list, the value still has its `ListArc`.
    let mut list = List::new();
    list.push_back(list_arc);
    assert!(ListArc::<Item>::try_from_arc(arc.clone()).is_err());
    let back = list.pop_front().unwrap();
    assert!(Arc::ptr_eq(back.as_arc(), &arc));
    assert!(ListArc::<Item>::try_from_arc(arc.clone()).is_err());

    // `into_arc` and drops tell the tracking.
    let plain = back.into_arc();
    let again = ListArc::<Item>::try_from_arc_borrow(plain.as_arc_borrow()).unwrap();
    drop(again);
    assert!(ListArc::<Item>::try_from_arc(plain).is_ok());
}

#[test]
fn try_from_arc_or_drop_takes_the_last_reference_whatever_the_tracking_believes() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let list_arc = ListArc::<Item>::pin_init(init(1, Some(&DROPS)), GFP_KERNEL).unwrap();
    // SAFETY: `ListArc::into_raw` returns what `Arc::into_raw` would; the tracking still believes
    // a `ListArc` exists.
    let arc = unsafe { Arc::from_raw(ListArc::into_raw(list_arc)) };
    assert!(ListArc::<Item>::try_from_arc(arc.clone()).is_err());
    assert!(ListArc::<Item>::try_from_arc_or_drop(arc.clone()).is_none());
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        0,
        "a reference that is not the last one"
    );
    let list_arc = ListArc::<Item>::try_from_arc_or_drop(arc).expect("the last reference");
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    drop(list_arc);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_a_list_drops_its_references() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let mut list = List::<Item>::new();
    for v in 0..3 {
        list.push_back(ListArc::pin_init(init(v, Some(&DROPS)), GFP_KERNEL).unwrap());
    }
    let kept = Arc::from(list.iter().next().unwrap());
    drop(list);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    // The kept value left the list with its links cleared and its tracking reset.
    let mut other = List::new();
    other.push_back(ListArc::<Item>::try_from_arc(kept).ok().unwrap());
    assert_eq!(values(&other), [0]);
}

#[test]
fn a_value_is_in_two_lists_through_two_ids() {
    let unique = UniqueArc::pin_init(init(8, None), GFP_KERNEL).unwrap();
    let (zero, one) = ListArc::<Item, 0>::pair_from_pin_unique::<1>(unique);
    let mut first = list_of(&[1]);
    let mut second = List::<Item, 1>::new();
    first.push_back(zero);
    second.push_front(one);
    assert_eq!(values(&first), [1, 8]);
    assert_eq!(values(&second), [8]);
    let from_second = second.pop_back().unwrap();
    assert_eq!(values(&first), [1, 8], "the other list is not affected");
    let from_first = first.pop_back().unwrap();
    assert!(core::ptr::eq(&*from_first, &*from_second));
}

trait Named {
    fn name(&self) -> &'static str;
}

struct Cat;
impl Named for Cat {
    fn name(&self) -> &'static str {
        "cat"
    }
}

struct Dog(&'static str);
impl Named for Dog {
    fn name(&self) -> &'static str {
        self.0
    }
}

#[pin_data]
struct Boxed<T: ?Sized> {
    #[pin]
    links: ListLinksSelfPtr<Boxed<dyn Named>>,
    inner: T,
}

impl_list_arc_safe! {
    impl{T: ?Sized} ListArcSafe<0> for Boxed<T> { untracked; }
}
impl_list_item! {
    impl ListItem<0> for Boxed<dyn Named> { using ListLinksSelfPtr { self.links }; }
}

fn named<T: Named + 'static>(inner: T) -> ListArc<Boxed<dyn Named>> {
    let arc = ListArc::pin_init(
        try_pin_init!(Boxed { links <- ListLinksSelfPtr::new(), inner }),
        GFP_KERNEL,
    )
    .unwrap();
    // SAFETY: The pointer comes from `ListArc::into_raw` (unsized to a trait object), once.
    unsafe { ListArc::from_raw(ListArc::into_raw(arc) as *const Boxed<dyn Named>) }
}

#[test]
fn lists_of_trait_objects_keep_each_values_type() {
    let mut list = List::<Boxed<dyn Named>>::new();
    list.push_back(named(Dog("rex")));
    list.push_front(named(Cat));
    list.push_back(named(Dog("fido")));
    let names: Vec<&str> = list.iter().map(|b| b.inner.name()).collect();
    assert_eq!(names, ["cat", "rex", "fido"]);
    let mut cursor = list.cursor_front();
    cursor.move_next();
    assert_eq!(cursor.remove_next().map(|b| b.inner.name()), Some("rex"));
    assert_eq!(list.pop_back().map(|b| b.inner.name()), Some("fido"));
    assert_eq!(list.pop_back().map(|b| b.inner.name()), Some("cat"));
}

struct Counter {
    hits: ListArcField<u32>,
}

impl_list_arc_safe! {
    impl ListArcSafe<0> for Counter { untracked; }
}

// `define_list_arc_field_getter!` writes these two with `self: &ListArc<Self>` receivers, which
// need the unstable `arbitrary_self_types` (see `docs/porting.md`); these are what it expands to
// otherwise.
fn hits(counter: &ListArc<Counter>) -> &u32 {
    // SAFETY: `counter` is shared access to the `ListArc` for the lifetime of the result.
    unsafe { counter.hits.assert_ref() }
}

fn hits_mut(counter: &mut ListArc<Counter>) -> &mut u32 {
    // SAFETY: `counter` is exclusive access to the `ListArc` for the lifetime of the result.
    unsafe { counter.hits.assert_mut() }
}

#[test]
fn list_arc_fields_are_reached_through_the_list_arc() {
    let mut unique = UniqueArc::new(
        Counter {
            hits: ListArcField::new(1),
        },
        GFP_KERNEL,
    )
    .unwrap();
    *unique.hits.get_mut() += 1;
    let mut counter = ListArc::<Counter>::from(unique);
    *hits_mut(&mut counter) += 10;
    assert_eq!(*hits(&counter), 12);
}
