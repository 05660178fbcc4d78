//! Red-black trees: an ordered map whose nodes the caller can allocate ahead of time.
//!
//! Mirrors `rust/kernel/rbtree.rs` of Linux 7.3. As in the kernel, the tree is the C one
//! (`struct rb_root` and `struct rb_node` with `rb_insert_color()`, `rb_erase()`, `rb_next()`...),
//! here the host's [`drydock_host::rbtree`], and this module owns the nodes: each is a [`KBox`]
//! holding the links, the key and the value. Lookups, insertions and removals take `O(log n)`
//! comparisons.
//!
//! Allocation is separate from insertion: an [`RBTreeNodeReservation`] (or a whole
//! [`RBTreeNode`]) can be allocated where sleeping is allowed and inserted later, for example under
//! a spin lock, where it cannot fail.
//!
//! C header: `include/linux/rbtree.h`.

use crate::{alloc::Flags, bindings, container_of, error::Result, prelude::*};
use core::{
    cmp::{Ord, Ordering},
    marker::PhantomData,
    mem::MaybeUninit,
    ptr::{self, NonNull},
};
use drydock_host::rbtree::{
    rb_erase, rb_first, rb_first_postorder, rb_insert_color, rb_last, rb_link_node, rb_next,
    rb_next_postorder, rb_prev, rb_replace_node,
};

/// An ordered map from `K` to `V`, a red-black tree whose nodes it owns.
///
/// Mirrors `kernel::rbtree::RBTree`. Keys are unique: inserting an existing key replaces its
/// node and hands the old one back.
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::rbtree::{RBTree, RBTreeNode};
///
/// let mut tree = RBTree::new();
/// tree.try_create_and_insert(30, "thirty", GFP_KERNEL)?;
/// tree.try_create_and_insert(10, "ten", GFP_KERNEL)?;
/// tree.try_create_and_insert(20, "twenty", GFP_KERNEL)?;
/// assert!(tree.keys().copied().eq([10, 20, 30]));
/// assert_eq!(tree.get(&20), Some(&"twenty"));
///
/// // Allocate first (this may sleep), insert later (this cannot fail).
/// let node = RBTreeNode::new(20, "TWENTY", GFP_KERNEL)?;
/// let old = tree.insert(node).expect("20 was in the tree");
/// assert_eq!(old.to_key_value(), (20, "twenty"));
///
/// assert_eq!(tree.remove(&10), Some("ten"));
/// assert!(tree.values().copied().eq(["TWENTY", "thirty"]));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// Every non-null pointer in the `rb_node`s of the tree (parent and children) points to the
/// `links` field of a live `Node<K, V>` allocated with [`KBox`] and owned by the tree, and the
/// nodes are in key order.
pub struct RBTree<K, V> {
    root: bindings::rb_root,
    _p: PhantomData<Node<K, V>>,
}

// SAFETY: The tree owns its keys and values as a struct owns its fields: it may move to another
// thread when they may.
unsafe impl<K: Send, V: Send> Send for RBTree<K, V> {}

// SAFETY: Shared access to the tree gives shared access to its keys and values, as for a struct's
// fields.
unsafe impl<K: Sync, V: Sync> Sync for RBTree<K, V> {}

impl<K, V> RBTree<K, V> {
    /// Returns an empty tree.
    pub fn new() -> Self {
        // INVARIANT: An empty tree has no nodes.
        Self {
            root: bindings::rb_root::default(),
            _p: PhantomData,
        }
    }

    /// Returns whether the tree is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.root.rb_node.is_null()
    }

    /// Returns an iterator over the keys and values, in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            _tree: PhantomData,
            // SAFETY: `root` is a valid tree, not modified while it is borrowed.
            iter_raw: IterRaw::new(unsafe { rb_first(&self.root) }),
        }
    }

    /// Returns an iterator over the keys and mutable values, in key order.
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        IterMut {
            _tree: PhantomData,
            // SAFETY: `root` is a valid tree, borrowed exclusively by the iterator.
            iter_raw: IterRaw::new(unsafe { rb_first(&self.root) }),
        }
    }

    /// Returns an iterator over the keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &'_ K> {
        self.iter().map(|(k, _)| k)
    }

    /// Returns an iterator over the values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &'_ V> {
        self.iter().map(|(_, v)| v)
    }

    /// Returns an iterator over the values, mutably, in key order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &'_ mut V> {
        self.iter_mut().map(|(_, v)| v)
    }

    /// Returns a cursor at the node with the smallest key, or `None` if the tree is empty.
    pub fn cursor_front_mut(&mut self) -> Option<CursorMut<'_, K, V>> {
        // SAFETY: `root` is a valid tree.
        let first = unsafe { rb_first(&self.root) };
        // INVARIANT: `first` is a node of the tree.
        NonNull::new(first).map(|current| CursorMut {
            current,
            tree: self,
        })
    }

    /// Returns a read-only cursor at the node with the smallest key, or `None` if the tree is
    /// empty.
    pub fn cursor_front(&self) -> Option<Cursor<'_, K, V>> {
        // SAFETY: `root` is a valid tree.
        let first = unsafe { rb_first(&self.root) };
        // INVARIANT: `first` is a node of the tree.
        NonNull::new(first).map(|current| Cursor {
            current,
            _tree: PhantomData,
        })
    }

    /// Returns a cursor at the node with the largest key, or `None` if the tree is empty.
    pub fn cursor_back_mut(&mut self) -> Option<CursorMut<'_, K, V>> {
        // SAFETY: `root` is a valid tree.
        let last = unsafe { rb_last(&self.root) };
        // INVARIANT: `last` is a node of the tree.
        NonNull::new(last).map(|current| CursorMut {
            current,
            tree: self,
        })
    }

    /// Returns a read-only cursor at the node with the largest key, or `None` if the tree is
    /// empty.
    pub fn cursor_back(&self) -> Option<Cursor<'_, K, V>> {
        // SAFETY: `root` is a valid tree.
        let last = unsafe { rb_last(&self.root) };
        // INVARIANT: `last` is a node of the tree.
        NonNull::new(last).map(|current| Cursor {
            current,
            _tree: PhantomData,
        })
    }
}

/// Returns the node whose links are at `links`.
///
/// # Safety
///
/// `links` must point to the `links` field of a `Node<K, V>`.
unsafe fn node_of<K, V>(links: *mut bindings::rb_node) -> *mut Node<K, V> {
    // SAFETY: The caller's guarantee.
    unsafe { container_of!(links, Node<K, V>, links) }
}

impl<K, V> RBTree<K, V> {
    /// Unlinks the node at `links` and gives it back.
    ///
    /// # Safety
    ///
    /// `links` must be a node of this tree.
    unsafe fn erase_node(&mut self, links: *mut bindings::rb_node) -> RBTreeNode<K, V> {
        // SAFETY: `links` is a node of this tree (caller's guarantee), borrowed exclusively.
        unsafe { rb_erase(links, &raw mut self.root) };
        // SAFETY: By the type invariant, the node was allocated with `KBox` and owned by the
        // tree, which no longer refers to it.
        let node = unsafe { KBox::from_raw(node_of::<K, V>(links)) };
        RBTreeNode { node }
    }
}

impl<K, V> RBTree<K, V>
where
    K: Ord,
{
    /// Allocates a node for `key` and `value` and inserts it; returns the node it replaced, if
    /// the key was in the tree. Fails only if the allocation fails.
    pub fn try_create_and_insert(
        &mut self,
        key: K,
        value: V,
        flags: Flags,
    ) -> Result<Option<RBTreeNode<K, V>>> {
        Ok(self.insert(RBTreeNode::new(key, value, flags)?))
    }

    /// Inserts `node`; returns the node it replaced, if its key was in the tree. Never fails.
    pub fn insert(&mut self, node: RBTreeNode<K, V>) -> Option<RBTreeNode<K, V>> {
        match self.raw_entry(&node.node.key) {
            RawEntry::Occupied(entry) => Some(entry.replace(node)),
            RawEntry::Vacant(entry) => {
                entry.insert(node);
                None
            }
        }
    }

    /// Finds `key`: its node, or the place where a node with that key belongs.
    fn raw_entry(&mut self, key: &K) -> RawEntry<'_, K, V> {
        let tree: *mut Self = self;
        let mut parent = ptr::null_mut();
        // SAFETY: `tree` comes from `self`, valid.
        let mut link: *mut *mut bindings::rb_node = unsafe { &raw mut (*tree).root.rb_node };
        // SAFETY: `link` is the root's field or a child field of a node of the tree, so valid.
        while let Some(node) = NonNull::new(unsafe { *link }) {
            let node = node.as_ptr();
            // SAFETY: By the type invariant, `node` is the links of a live `Node<K, V>`.
            let node_key = unsafe { &(*node_of::<K, V>(node)).key };
            link = match key.cmp(node_key) {
                // SAFETY: `node` is valid; no reference is made.
                Ordering::Less => unsafe { &raw mut (*node).rb_left },
                // SAFETY: As above.
                Ordering::Greater => unsafe { &raw mut (*node).rb_right },
                Ordering::Equal => {
                    // INVARIANT: `node` is a node of the tree.
                    return RawEntry::Occupied(OccupiedEntry {
                        rbtree: self,
                        node_links: node,
                    });
                }
            };
            parent = node;
        }
        // INVARIANT: `link` is the empty child field of `parent` where `key` belongs, or the
        // root's field if the tree is empty (then `parent` is null).
        RawEntry::Vacant(RawVacantEntry {
            rbtree: tree,
            parent,
            child_field_of_parent: link,
            _phantom: PhantomData,
        })
    }

    /// Returns the entry of `key`, to read, change, insert or remove its node in place.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        match self.raw_entry(&key) {
            RawEntry::Occupied(entry) => Entry::Occupied(entry),
            RawEntry::Vacant(raw) => Entry::Vacant(VacantEntry { raw, key }),
        }
    }

    /// Returns the entry of `key` if it is in the tree.
    pub fn find_mut(&mut self, key: &K) -> Option<OccupiedEntry<'_, K, V>> {
        match self.raw_entry(key) {
            RawEntry::Occupied(entry) => Some(entry),
            RawEntry::Vacant(_) => None,
        }
    }

    /// Returns the value of `key`, if it is in the tree.
    pub fn get(&self, key: &K) -> Option<&V> {
        let mut node = self.root.rb_node;
        while !node.is_null() {
            // SAFETY: By the type invariant, `node` is the links of a live `Node<K, V>`, which
            // the tree (borrowed) does not change.
            let this = unsafe { &*node_of::<K, V>(node) };
            node = match key.cmp(&this.key) {
                Ordering::Less => this.links.rb_left,
                Ordering::Greater => this.links.rb_right,
                Ordering::Equal => return Some(&this.value),
            };
        }
        None
    }

    /// Returns the value of `key` mutably, if it is in the tree.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find_mut(key).map(OccupiedEntry::into_mut)
    }

    /// Removes the node of `key` and returns it, if it is in the tree.
    pub fn remove_node(&mut self, key: &K) -> Option<RBTreeNode<K, V>> {
        self.find_mut(key).map(OccupiedEntry::remove_node)
    }

    /// Removes the node of `key` and returns its value, if it is in the tree.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find_mut(key).map(OccupiedEntry::remove)
    }

    /// Returns a cursor at the node of `key`, or else at the node with the smallest key above
    /// it; `None` if there is no such node.
    pub fn cursor_lower_bound_mut(&mut self, key: &K) -> Option<CursorMut<'_, K, V>>
    where
        K: Ord,
    {
        // INVARIANT: `find_best_match` returns a node of the tree.
        let current = self.find_best_match(key)?;
        Some(CursorMut {
            current,
            tree: self,
        })
    }

    /// Returns a read-only cursor at the node of `key`, or else at the node with the smallest key
    /// above it; `None` if there is no such node.
    pub fn cursor_lower_bound(&self, key: &K) -> Option<Cursor<'_, K, V>>
    where
        K: Ord,
    {
        // INVARIANT: `find_best_match` returns a node of the tree.
        let current = self.find_best_match(key)?;
        Some(Cursor {
            current,
            _tree: PhantomData,
        })
    }

    /// Returns the node of `key`, or else the node with the smallest key above it.
    fn find_best_match(&self, key: &K) -> Option<NonNull<bindings::rb_node>> {
        let mut node = self.root.rb_node;
        // The last node the walk went left from: each one is smaller than the one before (it is
        // in its left subtree), and all of them are above `key`.
        let mut best = None;
        while let Some(here) = NonNull::new(node) {
            // SAFETY: By the type invariant, `node` is the links of a live `Node<K, V>`.
            let this = unsafe { &*node_of::<K, V>(node) };
            node = match key.cmp(&this.key) {
                Ordering::Equal => return Some(here),
                Ordering::Greater => this.links.rb_right,
                Ordering::Less => {
                    best = Some(here);
                    this.links.rb_left
                }
            };
        }
        best
    }
}

impl<K, V> Default for RBTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Drop for RBTree<K, V> {
    fn drop(&mut self) {
        // Children before parents, so that a node is freed only once the walk is past it.
        // SAFETY: `root` is a valid tree.
        let mut next = unsafe { rb_first_postorder(&self.root) };
        while !next.is_null() {
            let node = next;
            // SAFETY: `node` is a node of the tree, not freed yet, and so are its parent and the
            // nodes after it in post-order.
            next = unsafe { rb_next_postorder(node) };
            // SAFETY: By the type invariant, `node` is the links of a `Node<K, V>` allocated with
            // `KBox` and owned by the tree; the walk no longer reads it.
            drop(unsafe { KBox::from_raw(node_of::<K, V>(node)) });
        }
    }
}

/// A cursor at a node of an [`RBTree`] that can move in key order, change values and remove
/// nodes.
///
/// Mirrors `kernel::rbtree::CursorMut`. Unlike a list cursor, it always rests on a node.
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::rbtree::RBTree;
///
/// let mut tree = RBTree::new();
/// for k in [1, 2, 3, 4, 5] {
///     tree.try_create_and_insert(k, k * 100, GFP_KERNEL)?;
/// }
///
/// // Remove the even keys, doubling the others.
/// let mut cursor = tree.cursor_front_mut();
/// while let Some(mut c) = cursor {
///     if c.current().0 % 2 == 0 {
///         let (next, _removed) = c.remove_current();
///         cursor = next;
///     } else {
///         *c.current_mut().1 *= 2;
///         cursor = c.move_next();
///     }
/// }
/// assert!(tree.iter().map(|(k, v)| (*k, *v)).eq([(1, 200), (3, 600), (5, 1000)]));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `current` is a node of `tree`.
pub struct CursorMut<'a, K, V> {
    tree: &'a mut RBTree<K, V>,
    current: NonNull<bindings::rb_node>,
}

/// A cursor at a node of an [`RBTree`] that can move in key order and read.
///
/// Mirrors `kernel::rbtree::Cursor`.
///
/// # Invariants
///
/// `current` is a node of the borrowed tree.
pub struct Cursor<'a, K, V> {
    _tree: PhantomData<&'a RBTree<K, V>>,
    current: NonNull<bindings::rb_node>,
}

// SAFETY: The cursor gives only shared access to the keys and values, as a `&RBTree` does.
unsafe impl<'a, K: Sync, V: Sync> Send for Cursor<'a, K, V> {}

// SAFETY: As for `Send`.
unsafe impl<'a, K: Sync, V: Sync> Sync for Cursor<'a, K, V> {}

/// Returns the key and value of the node whose links are at `node`, for any lifetime.
///
/// # Safety
///
/// `node` must be a node of a tree of `K` and `V`; the key must not be modified, nor the value
/// mutably borrowed, nor the node freed, while the result lives.
unsafe fn key_value_raw<'b, K, V>(node: NonNull<bindings::rb_node>) -> (&'b K, *mut V) {
    // SAFETY: `node` is the links of a live `Node<K, V>` (caller's guarantee).
    let this = unsafe { node_of::<K, V>(node.as_ptr()) };
    // SAFETY: The node lives and its key stays unchanged while the result lives; no reference to
    // the value is made.
    unsafe { (&(*this).key, &raw mut (*this).value) }
}

/// Which neighbour, in key order.
enum Direction {
    /// The node with the next smaller key.
    Prev,
    /// The node with the next larger key.
    Next,
}

/// Returns the neighbour of `node` in `direction`, if it has one.
///
/// # Safety
///
/// `node` must be a node of a valid tree, which is not modified during the call.
unsafe fn neighbor(
    node: NonNull<bindings::rb_node>,
    direction: Direction,
) -> Option<NonNull<bindings::rb_node>> {
    // SAFETY: The caller's guarantee.
    let next = unsafe {
        match direction {
            Direction::Prev => rb_prev(node.as_ptr()),
            Direction::Next => rb_next(node.as_ptr()),
        }
    };
    NonNull::new(next)
}

impl<'a, K, V> Cursor<'a, K, V> {
    /// Returns the key and value of the current node.
    pub fn current(&self) -> (&K, &V) {
        // SAFETY: By the type invariant, `current` is a node of the tree, which is borrowed
        // (shared) for `'a`, longer than `self`.
        unsafe { Self::to_key_value(self.current) }
    }

    /// Returns the key and value of `node` for `'b`.
    ///
    /// # Safety
    ///
    /// `node` must be a node of the cursor's tree, and `'b` must not outlive the borrow of it.
    unsafe fn to_key_value<'b>(node: NonNull<bindings::rb_node>) -> (&'b K, &'b V) {
        // SAFETY: The tree is borrowed (shared) for `'b`: nothing modifies or frees the node.
        let (key, value) = unsafe { key_value_raw::<K, V>(node) };
        // SAFETY: As above.
        (key, unsafe { &*value })
    }

    /// Returns the key and value of the previous node, without moving.
    pub fn peek_prev(&self) -> Option<(&K, &V)> {
        self.peek(Direction::Prev)
    }

    /// Returns the key and value of the next node, without moving.
    pub fn peek_next(&self) -> Option<(&K, &V)> {
        self.peek(Direction::Next)
    }

    fn peek(&self, direction: Direction) -> Option<(&K, &V)> {
        // SAFETY: `current` is a node of the tree, which is borrowed (shared) by the cursor.
        let node = unsafe { neighbor(self.current, direction) }?;
        // SAFETY: `node` is a node of the tree, borrowed for longer than `self`.
        Some(unsafe { Self::to_key_value(node) })
    }
}

// SAFETY: The cursor gives exclusive access to the values, as a `&mut RBTree` does.
unsafe impl<'a, K: Send, V: Send> Send for CursorMut<'a, K, V> {}

// SAFETY: Shared access to the cursor gives shared access to the keys and values.
unsafe impl<'a, K: Sync, V: Sync> Sync for CursorMut<'a, K, V> {}

impl<'a, K, V> CursorMut<'a, K, V> {
    /// Returns the key and value of the current node.
    pub fn current(&self) -> (&K, &V) {
        // SAFETY: `current` is a node of the tree, which the cursor borrows exclusively; the
        // result borrows the cursor.
        unsafe { Self::to_key_value(self.current) }
    }

    /// Returns the key and the mutable value of the current node.
    pub fn current_mut(&mut self) -> (&K, &mut V) {
        // SAFETY: As in `current`; the result borrows the cursor mutably.
        unsafe { Self::to_key_value_mut(self.current) }
    }

    /// Removes the current node; returns a cursor at the next node (or, if there is none, the
    /// previous one; `None` if the tree is now empty) and the node.
    pub fn remove_current(self) -> (Option<Self>, RBTreeNode<K, V>) {
        let stay = self
            .get_neighbor_raw(Direction::Next)
            .or_else(|| self.get_neighbor_raw(Direction::Prev));
        // SAFETY: By the type invariant, `current` is a node of the tree.
        let node = unsafe { self.tree.erase_node(self.current.as_ptr()) };
        // INVARIANT: `stay` was a neighbour of the removed node, and is still in the tree.
        let cursor = stay.map(|current| Self {
            current,
            tree: self.tree,
        });
        (cursor, node)
    }

    /// Removes the previous node and returns it, if there is one.
    pub fn remove_prev(&mut self) -> Option<RBTreeNode<K, V>> {
        self.remove_neighbor(Direction::Prev)
    }

    /// Removes the next node and returns it, if there is one.
    pub fn remove_next(&mut self) -> Option<RBTreeNode<K, V>> {
        self.remove_neighbor(Direction::Next)
    }

    fn remove_neighbor(&mut self, direction: Direction) -> Option<RBTreeNode<K, V>> {
        let node = self.get_neighbor_raw(direction)?;
        // SAFETY: `node` is a node of the tree; `current`, another one, stays in it.
        Some(unsafe { self.tree.erase_node(node.as_ptr()) })
    }

    /// Moves to the previous node; `None` if there is none (the cursor is consumed).
    pub fn move_prev(self) -> Option<Self> {
        self.mv(Direction::Prev)
    }

    /// Moves to the next node; `None` if there is none (the cursor is consumed).
    pub fn move_next(self) -> Option<Self> {
        self.mv(Direction::Next)
    }

    fn mv(self, direction: Direction) -> Option<Self> {
        // INVARIANT: The neighbour is a node of the tree.
        self.get_neighbor_raw(direction).map(|current| Self {
            tree: self.tree,
            current,
        })
    }

    /// Returns the key and value of the previous node, without moving.
    pub fn peek_prev(&self) -> Option<(&K, &V)> {
        self.peek(Direction::Prev)
    }

    /// Returns the key and value of the next node, without moving.
    pub fn peek_next(&self) -> Option<(&K, &V)> {
        self.peek(Direction::Next)
    }

    fn peek(&self, direction: Direction) -> Option<(&K, &V)> {
        let node = self.get_neighbor_raw(direction)?;
        // SAFETY: `node` is a node of the tree; the result borrows the cursor.
        Some(unsafe { Self::to_key_value(node) })
    }

    /// Returns the key and the mutable value of the previous node, without moving.
    pub fn peek_prev_mut(&mut self) -> Option<(&K, &mut V)> {
        self.peek_mut(Direction::Prev)
    }

    /// Returns the key and the mutable value of the next node, without moving.
    pub fn peek_next_mut(&mut self) -> Option<(&K, &mut V)> {
        self.peek_mut(Direction::Next)
    }

    fn peek_mut(&mut self, direction: Direction) -> Option<(&K, &mut V)> {
        let node = self.get_neighbor_raw(direction)?;
        // SAFETY: `node` is a node of the tree; the result borrows the cursor mutably.
        Some(unsafe { Self::to_key_value_mut(node) })
    }

    fn get_neighbor_raw(&self, direction: Direction) -> Option<NonNull<bindings::rb_node>> {
        // SAFETY: `current` is a node of the tree, which the cursor borrows exclusively.
        unsafe { neighbor(self.current, direction) }
    }

    /// Returns the key and value of `node` for `'b`.
    ///
    /// # Safety
    ///
    /// `node` must be a node of the cursor's tree; while the result lives, the node must not be
    /// removed nor its value borrowed mutably.
    unsafe fn to_key_value<'b>(node: NonNull<bindings::rb_node>) -> (&'b K, &'b V) {
        // SAFETY: The caller's guarantee.
        let (key, value) = unsafe { key_value_raw::<K, V>(node) };
        // SAFETY: The caller's guarantee.
        (key, unsafe { &*value })
    }

    /// Returns the key and mutable value of `node` for `'b`.
    ///
    /// # Safety
    ///
    /// `node` must be a node of the cursor's tree; while the result lives, the node must not be
    /// removed nor its value borrowed otherwise.
    unsafe fn to_key_value_mut<'b>(node: NonNull<bindings::rb_node>) -> (&'b K, &'b mut V) {
        // SAFETY: The caller's guarantee.
        let (key, value) = unsafe { key_value_raw::<K, V>(node) };
        // SAFETY: The caller's guarantee.
        (key, unsafe { &mut *value })
    }
}

impl<'a, K, V> IntoIterator for &'a RBTree<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An iterator over the keys and values of an [`RBTree`], in key order.
///
/// Mirrors `kernel::rbtree::Iter`; made by [`RBTree::iter`].
pub struct Iter<'a, K, V> {
    _tree: PhantomData<&'a RBTree<K, V>>,
    iter_raw: IterRaw<K, V>,
}

// SAFETY: The iterator gives shared access to the keys and values, as a `&RBTree` does.
unsafe impl<'a, K: Sync, V: Sync> Send for Iter<'a, K, V> {}

// SAFETY: As for `Send`.
unsafe impl<'a, K: Sync, V: Sync> Sync for Iter<'a, K, V> {}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: The pointers are to a key and value of the tree, which is borrowed (shared) for
        // `'a`.
        self.iter_raw.next().map(|(k, v)| unsafe { (&*k, &*v) })
    }
}

impl<'a, K, V> IntoIterator for &'a mut RBTree<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// An iterator over the keys and mutable values of an [`RBTree`], in key order.
///
/// Mirrors `kernel::rbtree::IterMut`; made by [`RBTree::iter_mut`].
pub struct IterMut<'a, K, V> {
    _tree: PhantomData<&'a mut RBTree<K, V>>,
    iter_raw: IterRaw<K, V>,
}

// SAFETY: The iterator gives exclusive access to the values, as a `&mut RBTree` does.
unsafe impl<'a, K: Send, V: Send> Send for IterMut<'a, K, V> {}

// SAFETY: Shared access to the iterator gives no access to the keys and values.
unsafe impl<'a, K: Sync, V: Sync> Sync for IterMut<'a, K, V> {}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: The pointers are to a key and value of the tree, which is borrowed exclusively
        // for `'a`; each node is visited once, so the mutable references do not overlap.
        self.iter_raw.next().map(|(k, v)| unsafe { (&*k, &mut *v) })
    }
}

/// Walks the nodes of a tree in key order, giving pointers to their keys and values.
///
/// # Invariants
///
/// `next` is null or a node of a tree of `K` and `V` that is not modified while walking.
struct IterRaw<K, V> {
    next: *mut bindings::rb_node,
    _phantom: PhantomData<fn() -> (K, V)>,
}

impl<K, V> IterRaw<K, V> {
    /// Starts a walk at `first`, a node of a tree that is not modified while walking (or null).
    fn new(first: *mut bindings::rb_node) -> Self {
        // INVARIANT: The callers pass `rb_first` of a borrowed tree.
        Self {
            next: first,
            _phantom: PhantomData,
        }
    }
}

impl<K, V> Iterator for IterRaw<K, V> {
    type Item = (*mut K, *mut V);

    fn next(&mut self) -> Option<Self::Item> {
        let node = NonNull::new(self.next)?;
        // SAFETY: By the type invariant, `node` is a node of an unmodified tree.
        self.next = unsafe { rb_next(node.as_ptr()) };
        // SAFETY: The node is the links of a live `Node<K, V>`; no reference is made.
        let this = unsafe { node_of::<K, V>(node.as_ptr()) };
        // SAFETY: As above.
        Some(unsafe { (&raw mut (*this).key, &raw mut (*this).value) })
    }
}

/// Memory for one node of an [`RBTree`], allocated ahead of the insertion that will use it.
///
/// Mirrors `kernel::rbtree::RBTreeNodeReservation`. [`VacantEntry::insert`] fills and inserts it;
/// [`RBTreeNodeReservation::into_node`] fills it.
pub struct RBTreeNodeReservation<K, V> {
    node: KBox<MaybeUninit<Node<K, V>>>,
}

impl<K, V> RBTreeNodeReservation<K, V> {
    /// Allocates the memory of a node.
    pub fn new(flags: Flags) -> Result<RBTreeNodeReservation<K, V>> {
        Ok(RBTreeNodeReservation {
            node: KBox::new_uninit(flags)?,
        })
    }
}

// SAFETY: The reservation holds no key or value, only memory.
unsafe impl<K, V> Send for RBTreeNodeReservation<K, V> {}

// SAFETY: The reservation gives no access to anything through a shared reference.
unsafe impl<K, V> Sync for RBTreeNodeReservation<K, V> {}

impl<K, V> RBTreeNodeReservation<K, V> {
    /// Puts `key` and `value` in the reserved memory: the result can be inserted into a tree.
    pub fn into_node(self, key: K, value: V) -> RBTreeNode<K, V> {
        let node = KBox::write(
            self.node,
            Node {
                key,
                value,
                links: bindings::rb_node::default(),
            },
        );
        RBTreeNode { node }
    }
}

/// A node of an [`RBTree`], with its key and value, in a tree or not.
///
/// Mirrors `kernel::rbtree::RBTreeNode`. Inserting one ([`RBTree::insert`]) cannot fail.
pub struct RBTreeNode<K, V> {
    node: KBox<Node<K, V>>,
}

impl<K, V> RBTreeNode<K, V> {
    /// Allocates a node holding `key` and `value`.
    pub fn new(key: K, value: V, flags: Flags) -> Result<RBTreeNode<K, V>> {
        Ok(RBTreeNodeReservation::new(flags)?.into_node(key, value))
    }

    /// Frees the node and returns its key and value.
    pub fn to_key_value(self) -> (K, V) {
        let node = KBox::into_inner(self.node);
        (node.key, node.value)
    }
}

// SAFETY: The node owns its key and value as a struct owns its fields.
unsafe impl<K: Send, V: Send> Send for RBTreeNode<K, V> {}

// SAFETY: As for `Send`.
unsafe impl<K: Sync, V: Sync> Sync for RBTreeNode<K, V> {}

impl<K, V> RBTreeNode<K, V> {
    /// Drops the key and value and keeps the memory, for another node.
    pub fn into_reservation(self) -> RBTreeNodeReservation<K, V> {
        RBTreeNodeReservation {
            node: KBox::drop_contents(self.node),
        }
    }
}

/// The entry of a key in an [`RBTree`]: the key's node, or the place for one.
///
/// Mirrors `kernel::rbtree::Entry`; made by [`RBTree::entry`].
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::rbtree::{Entry, RBTree, RBTreeNodeReservation};
///
/// fn count(tree: &mut RBTree<u32, u32>, key: u32) -> Result {
///     // Allocate before looking, so that the insertion cannot fail.
///     let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
///     match tree.entry(key) {
///         Entry::Occupied(mut entry) => *entry.get_mut() += 1,
///         Entry::Vacant(entry) => {
///             entry.insert(1, reservation);
///         }
///     }
///     Ok(())
/// }
///
/// let mut tree = RBTree::new();
/// for key in [3, 1, 3, 3] {
///     count(&mut tree, key)?;
/// }
/// assert!(tree.iter().map(|(k, v)| (*k, *v)).eq([(1, 1), (3, 3)]));
/// # Ok::<(), Error>(())
/// ```
pub enum Entry<'a, K, V> {
    /// The tree has no node for the key.
    Vacant(VacantEntry<'a, K, V>),
    /// The tree has a node for the key.
    Occupied(OccupiedEntry<'a, K, V>),
}

/// The result of a search without a key to keep.
enum RawEntry<'a, K, V> {
    Vacant(RawVacantEntry<'a, K, V>),
    Occupied(OccupiedEntry<'a, K, V>),
}

/// The place for the node of a key that is not in an [`RBTree`].
///
/// Mirrors `kernel::rbtree::VacantEntry`.
pub struct VacantEntry<'a, K, V> {
    key: K,
    raw: RawVacantEntry<'a, K, V>,
}

/// The place for a node in an [`RBTree`], found by a search.
///
/// # Invariants
///
/// - `rbtree` is valid and borrowed exclusively for `'a`.
/// - `child_field_of_parent` is the null child field of `parent` where the searched key belongs,
///   or, if `parent` is null, the root's field of the (empty) tree.
struct RawVacantEntry<'a, K, V> {
    rbtree: *mut RBTree<K, V>,
    /// The node that becomes the parent of an inserted node.
    parent: *mut bindings::rb_node,
    /// The field that will point to an inserted node.
    child_field_of_parent: *mut *mut bindings::rb_node,
    _phantom: PhantomData<&'a mut RBTree<K, V>>,
}

impl<'a, K, V> RawVacantEntry<'a, K, V> {
    /// Inserts `node`, whose key must be the one searched for, and returns its value.
    fn insert(self, node: RBTreeNode<K, V>) -> &'a mut V {
        let node = KBox::into_raw(node.node);
        // SAFETY: `node` is a valid allocation; no reference is made.
        let links = unsafe { &raw mut (*node).links };
        // INVARIANT: The tree takes ownership of the `KBox`, linked where its key belongs.
        // SAFETY: By the type invariant, `child_field_of_parent` is the empty field of `parent`
        // where the node belongs; the tree is borrowed exclusively and was balanced.
        unsafe {
            rb_link_node(links, self.parent, self.child_field_of_parent);
            rb_insert_color(links, &raw mut (*self.rbtree).root);
        }
        // SAFETY: The node lives in the tree, which is borrowed exclusively for `'a`.
        unsafe { &mut (*node).value }
    }
}

impl<'a, K, V> VacantEntry<'a, K, V> {
    /// Inserts `value` with the entry's key, in the memory of `reservation`; returns the value.
    pub fn insert(self, value: V, reservation: RBTreeNodeReservation<K, V>) -> &'a mut V {
        self.raw.insert(reservation.into_node(self.key, value))
    }
}

/// The node of a key in an [`RBTree`].
///
/// Mirrors `kernel::rbtree::OccupiedEntry`.
///
/// # Invariants
///
/// `node_links` is a node of `rbtree`.
pub struct OccupiedEntry<'a, K, V> {
    rbtree: &'a mut RBTree<K, V>,
    /// The node of the key.
    node_links: *mut bindings::rb_node,
}

impl<'a, K, V> OccupiedEntry<'a, K, V> {
    /// Returns the value.
    pub fn get(&self) -> &V {
        // SAFETY: `node_links` is a node of the tree, borrowed through `self`.
        unsafe { &(*node_of::<K, V>(self.node_links)).value }
    }

    /// Returns the value mutably.
    pub fn get_mut(&mut self) -> &mut V {
        // SAFETY: `node_links` is a node of the tree, borrowed exclusively through `self`.
        unsafe { &mut (*node_of::<K, V>(self.node_links)).value }
    }

    /// Returns the value mutably, for as long as the tree is borrowed.
    pub fn into_mut(self) -> &'a mut V {
        // SAFETY: `node_links` is a node of the tree, borrowed exclusively for `'a`.
        unsafe { &mut (*node_of::<K, V>(self.node_links)).value }
    }

    /// Removes the node from the tree and returns it.
    pub fn remove_node(self) -> RBTreeNode<K, V> {
        // SAFETY: By the type invariant, `node_links` is a node of the tree.
        unsafe { self.rbtree.erase_node(self.node_links) }
    }

    /// Removes the node from the tree and returns its value.
    pub fn remove(self) -> V {
        self.remove_node().to_key_value().1
    }

    /// Puts `node` in the place of the entry's node, which is returned; the keys must be equal.
    fn replace(self, node: RBTreeNode<K, V>) -> RBTreeNode<K, V> {
        let new = KBox::into_raw(node.node);
        // INVARIANT: The tree takes ownership of the new node, with the same key, in the same
        // place.
        // SAFETY: `node_links` is a node of the tree, borrowed exclusively; `new` is a valid
        // allocation, in no tree.
        unsafe {
            rb_replace_node(
                self.node_links,
                &raw mut (*new).links,
                &raw mut self.rbtree.root,
            )
        };
        // SAFETY: The old node was allocated with `KBox` and owned by the tree, which no longer
        // refers to it.
        let node = unsafe { KBox::from_raw(node_of::<K, V>(self.node_links)) };
        RBTreeNode { node }
    }
}

/// A node of an [`RBTree`]: the C links, then the key and value.
struct Node<K, V> {
    links: bindings::rb_node,
    key: K,
    value: V,
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_host::fault::AllocFailure;

    #[test]
    fn allocation_failures_are_reported_and_leave_the_tree_unchanged() {
        let mut tree = RBTree::new();
        tree.try_create_and_insert(1u32, 10u32, GFP_KERNEL).unwrap();
        let failure = AllocFailure::next(3);
        assert_eq!(
            tree.try_create_and_insert(1, 11, GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(
            tree.try_create_and_insert(2, 20, GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(
            RBTreeNodeReservation::<u32, u32>::new(GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(failure.injected(), 3);
        drop(failure);
        assert!(tree.iter().map(|(k, v)| (*k, *v)).eq([(1, 10)]));

        // Nodes and reservations made beforehand are inserted while allocations fail.
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL).unwrap();
        let node = RBTreeNode::new(3, 30, GFP_KERNEL).unwrap();
        let failure = AllocFailure::next(usize::MAX);
        let Entry::Vacant(entry) = tree.entry(2) else {
            panic!("2 is not in the tree")
        };
        entry.insert(20, reservation);
        assert!(tree.insert(node).is_none());
        assert_eq!(failure.injected(), 0);
        assert!(tree.keys().copied().eq([1, 2, 3]));
    }
}
