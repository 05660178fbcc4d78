//! Tests of `kernel::rbtree`: key order against a model, replacement, the entry API, node
//! reservations, cursors and lower bounds, and that every value is dropped once.

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::rbtree::{Entry, RBTree, RBTreeNode, RBTreeNodeReservation};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::vec::Vec;

fn tree_of(keys: &[u32]) -> RBTree<u32, u32> {
    let mut tree = RBTree::new();
    for &k in keys {
        tree.try_create_and_insert(k, k * 10, GFP_KERNEL).unwrap();
    }
    tree
}

fn pairs(tree: &RBTree<u32, u32>) -> Vec<(u32, u32)> {
    tree.iter().map(|(k, v)| (*k, *v)).collect()
}

proptest! {
    #[test]
    fn behaves_as_an_ordered_map(ops in prop::collection::vec((0u8..4, 0u32..48), 0..200)) {
        let mut tree = RBTree::new();
        let mut model = BTreeMap::new();
        for (n, (op, key)) in ops.into_iter().enumerate() {
            let n = n as u32;
            match op {
                0 | 1 => {
                    let old = tree.try_create_and_insert(key, n, GFP_KERNEL).unwrap();
                    let expected = model.insert(key, n).map(|v| (key, v));
                    prop_assert_eq!(old.map(|o| o.to_key_value()), expected);
                }
                2 => prop_assert_eq!(tree.remove(&key), model.remove(&key)),
                _ => {
                    prop_assert_eq!(tree.get(&key), model.get(&key));
                    let lower = tree.cursor_lower_bound(&key).map(|c| *c.current().0);
                    prop_assert_eq!(lower, model.range(key..).next().map(|(k, _)| *k));
                }
            }
            prop_assert_eq!(tree.is_empty(), model.is_empty());
        }
        let expected: Vec<(u32, u32)> = model.into_iter().collect();
        prop_assert_eq!(pairs(&tree), expected);
    }
}

#[test]
fn iterators_walk_in_key_order_and_change_values() {
    let mut tree = tree_of(&[5, 1, 4, 2, 3]);
    assert!(tree.keys().copied().eq(1..=5));
    for (k, v) in tree.iter_mut() {
        *v += *k;
    }
    for v in tree.values_mut() {
        *v += 1;
    }
    assert!(tree.values().copied().eq([12, 23, 34, 45, 56]));
    let by_ref: Vec<u32> = (&tree).into_iter().map(|(k, _)| *k).collect();
    assert_eq!(by_ref, [1, 2, 3, 4, 5]);
    for (_, v) in &mut tree {
        *v = 0;
    }
    assert!(tree.values().all(|v| *v == 0));
}

#[test]
fn inserting_an_existing_key_replaces_its_node() {
    let mut tree = tree_of(&[1, 2, 3]);
    let node = RBTreeNode::new(2, 99, GFP_KERNEL).unwrap();
    let old = tree.insert(node).unwrap();
    assert_eq!(old.to_key_value(), (2, 20));
    assert_eq!(pairs(&tree), [(1, 10), (2, 99), (3, 30)]);
    assert!(tree
        .insert(RBTreeNode::new(0, 0, GFP_KERNEL).unwrap())
        .is_none());
    assert_eq!(tree.keys().count(), 4);
}

#[test]
fn entries_read_change_insert_and_remove_in_place() {
    let mut tree = tree_of(&[10, 20]);
    match tree.entry(10) {
        Entry::Occupied(mut entry) => {
            assert_eq!(*entry.get(), 100);
            *entry.get_mut() = 101;
            *entry.into_mut() += 1;
        }
        Entry::Vacant(_) => panic!("10 is in the tree"),
    }
    let reservation = RBTreeNodeReservation::new(GFP_KERNEL).unwrap();
    match tree.entry(15) {
        Entry::Vacant(entry) => *entry.insert(150, reservation) += 1,
        Entry::Occupied(_) => panic!("15 is not in the tree"),
    }
    assert_eq!(pairs(&tree), [(10, 102), (15, 151), (20, 200)]);

    let Entry::Occupied(entry) = tree.entry(20) else {
        panic!("20 is in the tree")
    };
    assert_eq!(entry.remove(), 200);
    let node = tree.find_mut(&15).unwrap().remove_node();
    assert!(tree.find_mut(&15).is_none());
    assert_eq!(pairs(&tree), [(10, 102)]);

    // A removed node goes back in without allocating; its memory can hold another node.
    assert!(tree.insert(node).is_none());
    let node = tree.remove_node(&10).unwrap();
    let reused = node.into_reservation().into_node(7, 70);
    tree.insert(reused);
    assert_eq!(pairs(&tree), [(7, 70), (15, 151)]);
    *tree.get_mut(&7).unwrap() = 71;
    assert_eq!(tree.get(&7), Some(&71));
    assert!(tree.get_mut(&8).is_none() && tree.remove_node(&8).is_none());
}

#[test]
fn cursors_move_and_peek_in_key_order() {
    let mut empty = RBTree::<u32, u32>::new();
    assert!(empty.cursor_front().is_none() && empty.cursor_back().is_none());
    assert!(empty.cursor_front_mut().is_none() && empty.cursor_back_mut().is_none());

    let mut tree = tree_of(&[1, 2, 3]);
    let cursor = tree.cursor_front().unwrap();
    assert_eq!(cursor.current(), (&1, &10));
    assert!(cursor.peek_prev().is_none());
    assert_eq!(cursor.peek_next(), Some((&2, &20)));
    let cursor = tree.cursor_back().unwrap();
    assert_eq!(cursor.current(), (&3, &30));
    assert_eq!(cursor.peek_prev(), Some((&2, &20)));
    assert!(cursor.peek_next().is_none());

    let cursor = tree.cursor_front_mut().unwrap();
    assert!(cursor.move_prev().is_none());
    let mut cursor = tree.cursor_front_mut().unwrap().move_next().unwrap();
    assert_eq!(cursor.current(), (&2, &20));
    assert_eq!(cursor.peek_prev(), Some((&1, &10)));
    assert_eq!(cursor.peek_next(), Some((&3, &30)));
    *cursor.peek_prev_mut().unwrap().1 += 1;
    *cursor.peek_next_mut().unwrap().1 += 3;
    *cursor.current_mut().1 += 2;
    let cursor = cursor.move_next().unwrap();
    assert!(cursor.move_next().is_none());
    let back = tree.cursor_back_mut().unwrap().move_prev().unwrap();
    assert_eq!(back.current().0, &2);
    assert_eq!(pairs(&tree), [(1, 11), (2, 22), (3, 33)]);
}

#[test]
fn cursors_remove_nodes() {
    let mut tree = tree_of(&[1, 2, 3, 4, 5]);
    let mut cursor = tree.cursor_lower_bound_mut(&3).unwrap();
    assert_eq!(
        cursor.remove_prev().map(|n| n.to_key_value()),
        Some((2, 20))
    );
    assert_eq!(
        cursor.remove_next().map(|n| n.to_key_value()),
        Some((4, 40))
    );
    assert_eq!(cursor.current(), (&3, &30));
    let (cursor, removed) = cursor.remove_current();
    assert_eq!(removed.to_key_value(), (3, 30));
    // The cursor moves to the next node...
    let cursor = cursor.unwrap();
    assert_eq!(cursor.current().0, &5);
    // ...or to the previous one at the back...
    let (cursor, _) = cursor.remove_current();
    let mut cursor = cursor.unwrap();
    assert_eq!(cursor.current().0, &1);
    assert!(cursor.remove_prev().is_none() && cursor.remove_next().is_none());
    // ...and there is none when the tree becomes empty.
    let (cursor, _) = cursor.remove_current();
    assert!(cursor.is_none());
    assert!(tree.is_empty());
}

#[test]
fn lower_bound_finds_the_key_or_the_next_larger_one() {
    let tree = tree_of(&[10, 20, 30]);
    let at = |key| tree.cursor_lower_bound(&key).map(|c| *c.current().0);
    assert_eq!(at(0), Some(10));
    assert_eq!(at(20), Some(20));
    assert_eq!(at(21), Some(30));
    assert_eq!(at(31), None);
    let mut tree = tree_of(&[10, 20, 30]);
    assert!(tree.cursor_lower_bound_mut(&31).is_none());
    *tree.cursor_lower_bound_mut(&11).unwrap().current_mut().1 = 0;
    assert_eq!(tree.get(&20), Some(&0));
}

/// A value that counts its drops.
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn every_value_is_dropped_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let mut tree = RBTree::new();
    for k in 0..100u32 {
        tree.try_create_and_insert(k, Counted(&DROPS), GFP_KERNEL)
            .unwrap();
    }
    drop(
        tree.try_create_and_insert(7, Counted(&DROPS), GFP_KERNEL)
            .unwrap(),
    );
    assert_eq!(DROPS.load(Ordering::SeqCst), 1, "the replaced value");
    drop(tree.remove(&8));
    let kept = tree.remove_node(&9).unwrap();
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    // 101 values were made: the replaced one and 8 are gone, 9 is kept, 98 are in the tree.
    drop(tree);
    assert_eq!(DROPS.load(Ordering::SeqCst), 100);
    drop(kept.into_reservation());
    assert_eq!(DROPS.load(Ordering::SeqCst), 101);
}
