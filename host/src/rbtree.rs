//! Red-black trees: the C side of `kernel::rbtree` (`lib/rbtree.c`, `include/linux/rbtree.h`).
//!
//! The kernel's red-black tree is intrusive: the user embeds a [`rb_node`] in its own structure,
//! walks down from the [`rb_root`] comparing keys itself to find where a new node belongs, links it
//! there with [`rb_link_node`] and then calls [`rb_insert_color`], which restores the balance.
//! [`rb_erase`] unlinks a node and rebalances; [`rb_first`], [`rb_last`], [`rb_next`] and
//! [`rb_prev`] walk the tree in order, [`rb_first_postorder`] and [`rb_next_postorder`] walk it
//! children first (so that a tree can be freed while walking it), and [`rb_replace_node`] puts a
//! node in another's place. None of these functions allocates; the tree never owns its nodes.
//!
//! The balancing is the textbook one (Cormen, Leiserson, Rivest and Stein, *Introduction to
//! Algorithms*, chapter 13), with null pointers as the black leaves and the parent kept with the
//! colour in one word, as in C. It keeps the red-black properties (a red node has no red child;
//! every path from a node down to a leaf crosses the same number of black nodes), so the height is
//! at most `2 log2(n + 1)` and every operation is `O(log n)`, as in the kernel. Where two branches
//! of the algorithm mirror each other, the code is written once over the side (left or right).

use crate::bindings::{rb_node, rb_root};
use core::ffi::c_ulong;
use core::ptr;

/// The colour bit of `__rb_parent_color` for a red node.
const RED: c_ulong = 0;
/// The colour bit of `__rb_parent_color` for a black node.
const BLACK: c_ulong = 1;

/// A child of a node: the left or the right one.
#[derive(Clone, Copy)]
enum Side {
    Left,
    Right,
}

impl Side {
    /// The other child.
    fn opposite(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Returns the field of `node` that points to its child on `side`.
///
/// # Safety
///
/// `node` must point to a valid [`rb_node`].
unsafe fn child_slot(node: *mut rb_node, side: Side) -> *mut *mut rb_node {
    // SAFETY: `node` is valid (caller's guarantee); no reference is created.
    unsafe {
        match side {
            Side::Left => &raw mut (*node).rb_left,
            Side::Right => &raw mut (*node).rb_right,
        }
    }
}

/// Returns the child of `node` on `side` (null if there is none).
///
/// # Safety
///
/// `node` must point to a valid [`rb_node`].
unsafe fn child(node: *const rb_node, side: Side) -> *mut rb_node {
    // SAFETY: `node` is valid (caller's guarantee); reading a field does not modify it.
    unsafe { *child_slot(node.cast_mut(), side) }
}

/// Returns the parent of `node`, null for the root.
///
/// # Safety
///
/// `node` must point to a valid [`rb_node`] linked into a tree (or freshly linked).
unsafe fn parent(node: *const rb_node) -> *mut rb_node {
    // SAFETY: `node` is valid (caller's guarantee).
    let word = unsafe { (*node).__rb_parent_color };
    // The word holds an address exposed by `set_parent_color` (or zero), plus the colour bit.
    ptr::with_exposed_provenance_mut((word & !BLACK) as usize)
}

/// Returns the colour bit of `node`; a null node (a leaf) is black.
///
/// # Safety
///
/// `node` must be null or point to a valid [`rb_node`].
unsafe fn color(node: *const rb_node) -> c_ulong {
    if node.is_null() {
        BLACK
    } else {
        // SAFETY: `node` is not null, so it is valid (caller's guarantee).
        unsafe { (*node).__rb_parent_color & BLACK }
    }
}

/// Sets both the parent and the colour of `node`.
///
/// # Safety
///
/// `node` must point to a valid [`rb_node`] the caller may modify; `parent` must be null or point
/// to an [`rb_node`].
unsafe fn set_parent_color(node: *mut rb_node, parent: *mut rb_node, color: c_ulong) {
    // The address is exposed so that `parent()` can turn the word back into a pointer.
    let word = parent.expose_provenance() as c_ulong | color;
    // SAFETY: `node` is valid and may be modified (caller's guarantee).
    unsafe { (*node).__rb_parent_color = word };
}

/// Sets the parent of `node`, keeping its colour.
///
/// # Safety
///
/// As [`set_parent_color`].
unsafe fn set_parent(node: *mut rb_node, parent: *mut rb_node) {
    // SAFETY: `node` is valid (caller's guarantee).
    unsafe { set_parent_color(node, parent, color(node)) };
}

/// Sets the colour of `node`, keeping its parent.
///
/// # Safety
///
/// `node` must point to a valid [`rb_node`] the caller may modify.
unsafe fn set_color(node: *mut rb_node, color: c_ulong) {
    // SAFETY: `node` is valid (caller's guarantee).
    unsafe { set_parent_color(node, parent(node), color) };
}

/// Makes `new` the child of `parent` that `old` was, or the root if `parent` is null.
///
/// # Safety
///
/// `root` must be valid, `parent` null or a valid node of the tree whose child is `old`; the
/// caller must be allowed to modify them.
unsafe fn replace_child(
    root: *mut rb_root,
    parent: *mut rb_node,
    old: *mut rb_node,
    new: *mut rb_node,
) {
    // SAFETY: `root` and `parent` are valid (caller's guarantee).
    unsafe {
        if parent.is_null() {
            (*root).rb_node = new;
        } else if (*parent).rb_left == old {
            (*parent).rb_left = new;
        } else {
            (*parent).rb_right = new;
        }
    }
}

/// Rotates the subtree at `node` towards `side`: the child of `node` on the other side takes the
/// place of `node`, which becomes its child on `side`. The in-order sequence is unchanged.
///
/// # Safety
///
/// `node` must be a valid node of the tree at `root` with a child opposite `side`; the caller must
/// be allowed to modify the tree.
unsafe fn rotate(root: *mut rb_root, node: *mut rb_node, side: Side) {
    // SAFETY: `node` is a valid node with a child opposite `side` (caller's guarantee); every node
    // reached from it is a valid node of the same tree.
    unsafe {
        let up = child(node, side.opposite());
        let moved = child(up, side);
        *child_slot(node, side.opposite()) = moved;
        if !moved.is_null() {
            set_parent(moved, node);
        }
        let above = parent(node);
        set_parent(up, above);
        replace_child(root, above, node, up);
        *child_slot(up, side) = node;
        set_parent(node, up);
    }
}

/// Links `node` into a tree as the child of `parent` at `rb_link` (`rb_link_node()`).
///
/// `rb_link` is the null child field of `parent` where the node belongs in order (or the root's
/// field when the tree is empty and `parent` is null). The node is red and has no children; call
/// [`rb_insert_color`] next to rebalance.
///
/// # Safety
///
/// `node` must be valid for writes; `parent` null or a valid node; `rb_link` a valid pointer to
/// the empty child field of `parent`, or to the `rb_node` field of the tree's (empty) root.
pub unsafe fn rb_link_node(node: *mut rb_node, parent: *mut rb_node, rb_link: *mut *mut rb_node) {
    // SAFETY: All pointers are valid (caller's guarantee).
    unsafe {
        set_parent_color(node, parent, RED);
        (*node).rb_left = ptr::null_mut();
        (*node).rb_right = ptr::null_mut();
        *rb_link = node;
    }
}

/// Restores the red-black properties after `node` was linked with [`rb_link_node`]
/// (`rb_insert_color()`).
///
/// # Safety
///
/// `root` must be a valid tree that was balanced before `node` was linked into it with
/// [`rb_link_node`]; the caller must have exclusive access to the tree.
pub unsafe fn rb_insert_color(node: *mut rb_node, root: *mut rb_root) {
    let mut node = node;
    // SAFETY: Every pointer followed is a node of the valid tree (caller's guarantee); a red node
    // is never the root, so the grandparent of a node with a red parent exists.
    unsafe {
        loop {
            let mut parent = parent(node);
            if parent.is_null() {
                // The root is black.
                set_color(node, BLACK);
                return;
            }
            if color(parent) == BLACK {
                return;
            }
            let grandparent = self::parent(parent);
            let side = if (*grandparent).rb_left == parent {
                Side::Left
            } else {
                Side::Right
            };
            let uncle = child(grandparent, side.opposite());
            if color(uncle) == RED {
                // Push the grandparent's blackness down to both its children; the grandparent may
                // now be a red child of a red node: continue from it.
                set_color(parent, BLACK);
                set_color(uncle, BLACK);
                set_color(grandparent, RED);
                node = grandparent;
                continue;
            }
            if child(parent, side.opposite()) == node {
                // `node` is an inner grandchild: rotate it outwards, so it becomes the parent.
                rotate(root, parent, side);
                parent = node;
            }
            // Rotate the outer grandchild's parent up in place of the grandparent.
            set_color(parent, BLACK);
            set_color(grandparent, RED);
            rotate(root, grandparent, side.opposite());
            return;
        }
    }
}

/// Unlinks `node` from the tree and rebalances it (`rb_erase()`).
///
/// The node's own fields are left as they were; it may be linked into a tree again.
///
/// # Safety
///
/// `node` must be a node of the valid, balanced tree at `root`; the caller must have exclusive
/// access to the tree.
pub unsafe fn rb_erase(node: *mut rb_node, root: *mut rb_root) {
    // SAFETY: `node` and every pointer followed from it are nodes of the valid tree (caller's
    // guarantee).
    unsafe {
        let left = (*node).rb_left;
        let right = (*node).rb_right;
        let above = parent(node);
        // `hole` takes the place of the node that leaves its position; `hole_parent` is its parent
        // afterwards. If that node was black, the paths through `hole` lack one black node.
        let (hole, hole_parent, removed_color);
        if left.is_null() || right.is_null() {
            // At most one child: it takes the node's place.
            let only = if left.is_null() { right } else { left };
            removed_color = color(node);
            replace_child(root, above, node, only);
            if !only.is_null() {
                set_parent(only, above);
            }
            hole = only;
            hole_parent = above;
        } else {
            // Two children: the successor (leftmost of the right subtree, without a left child)
            // leaves its position and takes the node's place and colour.
            let mut successor = right;
            while !(*successor).rb_left.is_null() {
                successor = (*successor).rb_left;
            }
            removed_color = color(successor);
            hole = (*successor).rb_right;
            if successor == right {
                hole_parent = successor;
            } else {
                hole_parent = parent(successor);
                (*hole_parent).rb_left = hole;
                if !hole.is_null() {
                    set_parent(hole, hole_parent);
                }
                (*successor).rb_right = right;
                set_parent(right, successor);
            }
            (*successor).rb_left = left;
            set_parent(left, successor);
            replace_child(root, above, node, successor);
            set_parent_color(successor, above, color(node));
        }
        if removed_color == BLACK {
            erase_fixup(root, hole, hole_parent);
        }
    }
}

/// Restores the red-black properties after a black node left the position now held by `node`
/// (possibly null), child of `parent` (null if `node` is the root).
///
/// # Safety
///
/// As [`rb_erase`]; the paths through `node` must lack exactly one black node.
unsafe fn erase_fixup(root: *mut rb_root, node: *mut rb_node, parent: *mut rb_node) {
    let (mut node, mut parent) = (node, parent);
    // SAFETY: Every pointer followed is a node of the valid tree (caller's guarantee). The
    // sibling of `node` exists: the paths through it have at least one black node more than the
    // paths through `node`.
    unsafe {
        while !parent.is_null() && color(node) == BLACK {
            let side = if (*parent).rb_left == node {
                Side::Left
            } else {
                Side::Right
            };
            let mut sibling = child(parent, side.opposite());
            if color(sibling) == RED {
                // Make the sibling black by rotating it above the (then red) parent.
                set_color(sibling, BLACK);
                set_color(parent, RED);
                rotate(root, parent, side);
                sibling = child(parent, side.opposite());
            }
            if color((*sibling).rb_left) == BLACK && color((*sibling).rb_right) == BLACK {
                // Remove one black node from the sibling's paths too; the parent's paths now lack
                // one: continue from it.
                set_color(sibling, RED);
                node = parent;
                parent = self::parent(node);
                continue;
            }
            if color(child(sibling, side.opposite())) == BLACK {
                // Make the sibling's outer child red by rotating the inner one up.
                set_color(child(sibling, side), BLACK);
                set_color(sibling, RED);
                rotate(root, sibling, side.opposite());
                sibling = child(parent, side.opposite());
            }
            // The sibling takes the parent's place and colour; the parent, now black, adds the
            // missing black node to `node`'s paths.
            set_color(sibling, color(parent));
            set_color(parent, BLACK);
            set_color(child(sibling, side.opposite()), BLACK);
            rotate(root, parent, side);
            node = (*root).rb_node;
            break;
        }
        if !node.is_null() {
            set_color(node, BLACK);
        }
    }
}

/// Puts `new` in the place of `victim`, with its parent, children and colour
/// (`rb_replace_node()`).
///
/// The caller must make sure that `new` sorts where `victim` did; `victim` is unlinked.
///
/// # Safety
///
/// `victim` must be a node of the valid tree at `root`, and `new` valid for writes and in no tree;
/// the caller must have exclusive access to the tree.
pub unsafe fn rb_replace_node(victim: *mut rb_node, new: *mut rb_node, root: *mut rb_root) {
    // SAFETY: `victim` and its neighbours are nodes of the valid tree; `new` is valid for writes
    // (caller's guarantee).
    unsafe {
        let above = parent(victim);
        let (left, right) = ((*victim).rb_left, (*victim).rb_right);
        (*new).__rb_parent_color = (*victim).__rb_parent_color;
        (*new).rb_left = left;
        (*new).rb_right = right;
        for below in [left, right] {
            if !below.is_null() {
                set_parent(below, new);
            }
        }
        replace_child(root, above, victim, new);
    }
}

/// Returns the node at the end of the tree below `node` on `side` (`node` itself if it has no
/// child there).
///
/// # Safety
///
/// `node` must be a valid node of a valid tree.
unsafe fn outermost(node: *mut rb_node, side: Side) -> *mut rb_node {
    let mut node = node;
    // SAFETY: Every node reached is a node of the valid tree (caller's guarantee).
    unsafe {
        while !child(node, side).is_null() {
            node = child(node, side);
        }
    }
    node
}

/// Returns the first or last node of the tree in order, or null if it is empty.
///
/// # Safety
///
/// `root` must be a valid tree.
unsafe fn end(root: *const rb_root, side: Side) -> *mut rb_node {
    // SAFETY: `root` is a valid tree (caller's guarantee).
    let top = unsafe { (*root).rb_node };
    if top.is_null() {
        return top;
    }
    // SAFETY: `top` is the root node of the valid tree.
    unsafe { outermost(top, side) }
}

/// Returns the first node of the tree in order, or null if it is empty (`rb_first()`).
///
/// # Safety
///
/// `root` must point to a valid tree, not modified during the call.
pub unsafe fn rb_first(root: *const rb_root) -> *mut rb_node {
    // SAFETY: The caller's guarantee.
    unsafe { end(root, Side::Left) }
}

/// Returns the last node of the tree in order, or null if it is empty (`rb_last()`).
///
/// # Safety
///
/// As [`rb_first`].
pub unsafe fn rb_last(root: *const rb_root) -> *mut rb_node {
    // SAFETY: The caller's guarantee.
    unsafe { end(root, Side::Right) }
}

/// Returns the neighbour of `node` in order on `side`, or null if it is the last one that way.
///
/// # Safety
///
/// `node` must be a node of a valid tree.
unsafe fn step(node: *const rb_node, side: Side) -> *mut rb_node {
    let mut node = node.cast_mut();
    // SAFETY: Every node reached is a node of the valid tree (caller's guarantee).
    unsafe {
        let below = child(node, side);
        if !below.is_null() {
            return outermost(below, side.opposite());
        }
        // Climb while `node` is its parent's child on `side`: those ancestors come before it.
        let mut above = parent(node);
        while !above.is_null() && child(above, side) == node {
            node = above;
            above = parent(node);
        }
        above
    }
}

/// Returns the node after `node` in order, or null if it is the last (`rb_next()`).
///
/// # Safety
///
/// `node` must be a node of a valid tree, not modified during the call.
pub unsafe fn rb_next(node: *const rb_node) -> *mut rb_node {
    // SAFETY: The caller's guarantee.
    unsafe { step(node, Side::Right) }
}

/// Returns the node before `node` in order, or null if it is the first (`rb_prev()`).
///
/// # Safety
///
/// As [`rb_next`].
pub unsafe fn rb_prev(node: *const rb_node) -> *mut rb_node {
    // SAFETY: The caller's guarantee.
    unsafe { step(node, Side::Left) }
}

/// Returns the first node of the subtree at `node` in post-order: the deepest node reached by
/// going left whenever possible, right otherwise.
///
/// # Safety
///
/// `node` must be a node of a valid tree.
unsafe fn first_postorder_below(node: *mut rb_node) -> *mut rb_node {
    let mut node = node;
    // SAFETY: Every node reached is a node of the valid tree (caller's guarantee).
    unsafe {
        loop {
            if !(*node).rb_left.is_null() {
                node = (*node).rb_left;
            } else if !(*node).rb_right.is_null() {
                node = (*node).rb_right;
            } else {
                return node;
            }
        }
    }
}

/// Returns the first node in post-order (children before their parent), or null if the tree is
/// empty (`rb_first_postorder()`).
///
/// # Safety
///
/// As [`rb_first`].
pub unsafe fn rb_first_postorder(root: *const rb_root) -> *mut rb_node {
    // SAFETY: `root` is a valid tree (caller's guarantee).
    let top = unsafe { (*root).rb_node };
    if top.is_null() {
        return top;
    }
    // SAFETY: `top` is the root node of the valid tree.
    unsafe { first_postorder_below(top) }
}

/// Returns the node after `node` in post-order, or null after the root (`rb_next_postorder()`).
///
/// Only `node`'s parent and the parent's right subtree are read, so the nodes already visited
/// (`node` and what precedes it) may be freed while walking, as a tree's destructor does.
///
/// # Safety
///
/// `node` must point to a readable node of a valid tree whose parent and parent's right subtree
/// (if `node` is the left child) have not been visited yet.
pub unsafe fn rb_next_postorder(node: *const rb_node) -> *mut rb_node {
    // SAFETY: `node` is readable and its parent and unvisited subtrees valid (caller's guarantee).
    unsafe {
        let above = parent(node);
        if !above.is_null() && (*above).rb_left.cast_const() == node {
            let right = (*above).rb_right;
            if !right.is_null() {
                return first_postorder_below(right);
            }
        }
        above
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// A test structure with an embedded node, as users of the tree have.
    #[repr(C)]
    struct Item {
        links: rb_node,
        key: u32,
    }

    /// A tree of `Item`s, owning them.
    struct Tree {
        root: rb_root,
        items: Vec<*mut Item>,
    }

    impl Tree {
        fn new() -> Self {
            Self {
                root: rb_root::default(),
                items: Vec::new(),
            }
        }

        fn key(node: *const rb_node) -> u32 {
            // SAFETY: Every node of a test tree is the `links` field (offset 0) of an `Item`.
            unsafe { (*node.cast::<Item>()).key }
        }

        /// Finds `key`'s node, or the link field where it belongs and the parent it would have.
        fn search(&mut self, key: u32) -> Result<*mut rb_node, (*mut rb_node, *mut *mut rb_node)> {
            let mut parent = ptr::null_mut();
            let mut link = &raw mut self.root.rb_node;
            // SAFETY: `link` always points to a child field of a node of the tree, or the root's.
            unsafe {
                while !(*link).is_null() {
                    let node = *link;
                    parent = node;
                    link = match key.cmp(&Self::key(node)) {
                        core::cmp::Ordering::Less => &raw mut (*node).rb_left,
                        core::cmp::Ordering::Greater => &raw mut (*node).rb_right,
                        core::cmp::Ordering::Equal => return Ok(node),
                    };
                }
            }
            Err((parent, link))
        }

        fn insert(&mut self, key: u32) -> bool {
            let Err((parent, link)) = self.search(key) else {
                return false;
            };
            let item = Box::into_raw(Box::new(Item {
                links: rb_node::default(),
                key,
            }));
            self.items.push(item);
            // SAFETY: `item` is a new node; `link` is where it belongs in the tree.
            unsafe {
                rb_link_node(&raw mut (*item).links, parent, link);
                rb_insert_color(&raw mut (*item).links, &raw mut self.root);
            }
            true
        }

        fn erase(&mut self, key: u32) -> bool {
            let Ok(node) = self.search(key) else {
                return false;
            };
            // SAFETY: `node` is in the tree.
            unsafe { rb_erase(node, &raw mut self.root) };
            let item = node.cast::<Item>();
            self.items.retain(|&i| i != item);
            // SAFETY: The item came from `Box::into_raw` and is no longer in the tree.
            drop(unsafe { Box::from_raw(item) });
            true
        }

        /// The keys from `start` on, stepping with `step`.
        fn walk(start: *mut rb_node, step: unsafe fn(*const rb_node) -> *mut rb_node) -> Vec<u32> {
            let mut keys = Vec::new();
            let mut node = start;
            while !node.is_null() {
                keys.push(Self::key(node));
                // SAFETY: `node` is in the tree.
                node = unsafe { step(node) };
            }
            keys
        }

        /// The keys in order, walking forwards with `rb_next`.
        fn forwards(&self) -> Vec<u32> {
            // SAFETY: The tree is valid.
            Self::walk(unsafe { rb_first(&self.root) }, rb_next)
        }

        /// The keys in reverse order, walking backwards with `rb_prev`.
        fn backwards(&self) -> Vec<u32> {
            // SAFETY: The tree is valid.
            Self::walk(unsafe { rb_last(&self.root) }, rb_prev)
        }

        /// Checks the parent links, the order and the red-black properties; returns the black
        /// height of the subtree at `node`.
        fn check(&self, node: *const rb_node, above: *const rb_node, range: (u32, u32)) -> usize {
            if node.is_null() {
                return 1;
            }
            // SAFETY: `node` is in the tree.
            unsafe {
                assert_eq!(parent(node).cast_const(), above, "parent link");
                let key = Self::key(node);
                assert!(range.0 <= key && key <= range.1, "order");
                if color(node) == RED {
                    assert_eq!(color((*node).rb_left), BLACK, "red node with a red child");
                    assert_eq!(color((*node).rb_right), BLACK, "red node with a red child");
                }
                let left = self.check((*node).rb_left, node, (range.0, key.saturating_sub(1)));
                let right = self.check((*node).rb_right, node, (key.saturating_add(1), range.1));
                assert_eq!(left, right, "black heights differ");
                left + usize::from(color(node) == BLACK)
            }
        }

        fn check_all(&self) {
            if !self.root.rb_node.is_null() {
                // SAFETY: The root is a node of the tree.
                assert_eq!(unsafe { color(self.root.rb_node) }, BLACK, "red root");
            }
            self.check(self.root.rb_node, ptr::null(), (0, u32::MAX));
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            // Free in post-order, as the mirror's `RBTree` does, checking every item is visited
            // once.
            let mut visited = 0;
            // SAFETY: The tree is valid; each node is freed only after moving past it.
            unsafe {
                let mut node = rb_first_postorder(&self.root);
                while !node.is_null() {
                    let next = rb_next_postorder(node);
                    drop(Box::from_raw(node.cast::<Item>()));
                    visited += 1;
                    node = next;
                }
            }
            assert_eq!(visited, self.items.len());
        }
    }

    proptest! {
        #[test]
        fn random_insertions_and_erasures_keep_a_balanced_ordered_tree(
            ops in prop::collection::vec((any::<bool>(), 0u32..64), 0..300)
        ) {
            let mut tree = Tree::new();
            let mut model = BTreeSet::new();
            for (insert, key) in ops {
                if insert {
                    prop_assert_eq!(tree.insert(key), model.insert(key));
                } else {
                    prop_assert_eq!(tree.erase(key), model.remove(&key));
                }
                tree.check_all();
            }
            let expected: Vec<u32> = model.iter().copied().collect();
            prop_assert_eq!(tree.forwards(), expected.clone());
            prop_assert_eq!(tree.backwards(), expected.into_iter().rev().collect::<Vec<_>>());
        }
    }

    #[test]
    fn sequential_insertions_stay_logarithmic() {
        let mut tree = Tree::new();
        for key in 0..1024 {
            tree.insert(key);
        }
        tree.check_all();
        fn height(node: *const rb_node) -> usize {
            if node.is_null() {
                return 0;
            }
            // SAFETY: `node` is in the tree.
            unsafe { 1 + height((*node).rb_left).max(height((*node).rb_right)) }
        }
        // A red-black tree of n nodes is at most 2 log2(n + 1) high: 20 for 1024 nodes.
        assert!(height(tree.root.rb_node) <= 20);
    }

    #[test]
    fn empty_tree_has_no_first_last_or_postorder_node() {
        let root = rb_root::default();
        // SAFETY: An empty tree is valid.
        unsafe {
            assert!(rb_first(&root).is_null());
            assert!(rb_last(&root).is_null());
            assert!(rb_first_postorder(&root).is_null());
        }
    }

    #[test]
    fn postorder_visits_children_before_parents() {
        let mut tree = Tree::new();
        for key in [8, 4, 12, 2, 6, 10, 14, 1] {
            tree.insert(key);
        }
        let mut seen: Vec<*const rb_node> = Vec::new();
        // SAFETY: The tree is valid and not modified while walking.
        unsafe {
            let mut node = rb_first_postorder(&tree.root);
            while !node.is_null() {
                for below in [(*node).rb_left, (*node).rb_right] {
                    if !below.is_null() {
                        assert!(seen.contains(&below.cast_const()), "child after parent");
                    }
                }
                seen.push(node);
                node = rb_next_postorder(node);
            }
        }
        assert_eq!(seen.len(), 8);
        assert_eq!(*seen.last().unwrap(), tree.root.rb_node.cast_const());
    }

    #[test]
    fn replace_node_takes_the_victims_place() {
        let mut tree = Tree::new();
        for key in 0..7 {
            tree.insert(key);
        }
        let Ok(victim) = tree.search(3) else {
            panic!("3 is in the tree")
        };
        let new = Box::into_raw(Box::new(Item {
            links: rb_node::default(),
            key: 3,
        }));
        // SAFETY: `victim` is in the tree, `new` in none; it sorts where `victim` did.
        unsafe { rb_replace_node(victim, &raw mut (*new).links, &raw mut tree.root) };
        let old = victim.cast::<Item>();
        tree.items.retain(|&i| i != old);
        tree.items.push(new);
        // SAFETY: The victim came from `Box::into_raw` and is no longer in the tree.
        drop(unsafe { Box::from_raw(old) });
        assert_eq!(tree.search(3).ok(), Some(new.cast::<rb_node>()));
        tree.check_all();
        assert_eq!(tree.forwards(), (0..7).collect::<Vec<_>>());
    }
}
