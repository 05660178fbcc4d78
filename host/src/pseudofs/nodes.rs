//! The entries of a tree: numbered directories and files, each directory with its entries by
//! name, as both debugfs and configfs keep them.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::time::SystemTime;

use super::{Attr, Metadata, ROOT};
use crate::errno::Errno;

/// What `stat()` shows of an entry, given its number: its kind and mode, and its size.
pub(crate) type Stat<D, F> = fn(u64, &Node<D, F>) -> (Metadata, u64);

/// An entry's kind: a directory, with its entries and what the tree keeps with it (`D`), or a
/// file (`F`).
pub(crate) enum Kind<D, F> {
    Dir {
        /// The entries, by name.
        entries: BTreeMap<CString, u64>,
        data: D,
    },
    File(F),
}

/// An entry.
pub(crate) struct Node<D, F> {
    pub(crate) name: CString,
    /// The number of its directory (the root's own, for the root).
    pub(crate) parent: u64,
    pub(crate) created: SystemTime,
    pub(crate) kind: Kind<D, F>,
}

/// The entries of a tree, by number; [`ROOT`] is its root directory. Numbers are given once:
/// a removed entry's number names nothing.
pub(crate) struct Nodes<D, F> {
    nodes: HashMap<u64, Node<D, F>>,
    next: u64,
}

impl<D, F> Nodes<D, F> {
    /// A tree with an empty root directory holding `root`.
    pub(crate) fn new(root: D) -> Self {
        let root = Node {
            name: c"/".to_owned(),
            parent: ROOT,
            created: SystemTime::now(),
            kind: Kind::Dir {
                entries: BTreeMap::new(),
                data: root,
            },
        };
        Self {
            nodes: HashMap::from([(ROOT, root)]),
            next: ROOT + 1,
        }
    }

    /// Entry `number`; `ENOENT` if there is none.
    pub(crate) fn get(&self, number: u64) -> Result<&Node<D, F>, Errno> {
        self.nodes.get(&number).ok_or(Errno::ENOENT)
    }

    /// The entries and data of directory `number`; `ENOTDIR` for a file.
    pub(crate) fn dir(&self, number: u64) -> Result<(&BTreeMap<CString, u64>, &D), Errno> {
        match &self.get(number)?.kind {
            Kind::Dir { entries, data } => Ok((entries, data)),
            Kind::File(_) => Err(Errno::ENOTDIR),
        }
    }

    /// The number of entry `name` of directory `parent`.
    pub(crate) fn lookup(&self, parent: u64, name: &[u8]) -> Result<u64, Errno> {
        let name = CString::new(name).map_err(|_| Errno::ENOENT)?;
        self.dir(parent)?.0.get(&name).copied().ok_or(Errno::ENOENT)
    }

    /// Adds entry `name` of `kind` to directory `parent` and returns its number: `ENOENT` if
    /// there is no `parent`, `ENOTDIR` if it is a file, `EEXIST` if the name is taken.
    pub(crate) fn add(&mut self, parent: u64, name: &CStr, kind: Kind<D, F>) -> Result<u64, Errno> {
        let number = self.next;
        match &mut self.nodes.get_mut(&parent).ok_or(Errno::ENOENT)?.kind {
            Kind::Dir { entries, .. } => {
                if entries.contains_key(name) {
                    return Err(Errno::EEXIST);
                }
                entries.insert(name.to_owned(), number);
            }
            Kind::File(_) => return Err(Errno::ENOTDIR),
        }
        self.next += 1;
        let node = Node {
            name: name.to_owned(),
            parent,
            created: SystemTime::now(),
            kind,
        };
        self.nodes.insert(number, node);
        Ok(number)
    }

    /// Removes entry `number` and everything under it, and returns what was removed (nothing if
    /// there is no such entry).
    pub(crate) fn remove(&mut self, number: u64) -> Vec<Node<D, F>> {
        let Some(node) = self.nodes.get(&number) else {
            return Vec::new();
        };
        let (parent, name) = (node.parent, node.name.clone());
        if let Some(Kind::Dir { entries, .. }) = self.nodes.get_mut(&parent).map(|n| &mut n.kind) {
            entries.remove(&name);
        }
        let mut removed = Vec::new();
        let mut pending = vec![number];
        while let Some(number) = pending.pop() {
            if let Some(node) = self.nodes.remove(&number) {
                if let Kind::Dir { entries, .. } = &node.kind {
                    pending.extend(entries.values().copied());
                }
                removed.push(node);
            }
        }
        removed
    }

    /// What entry `number` is, as `stat` says.
    pub(crate) fn attr(&self, number: u64, stat: Stat<D, F>) -> Result<Attr, Errno> {
        let node = self.get(number)?;
        let (metadata, size) = stat(number, node);
        Ok(Attr {
            number,
            metadata,
            size,
            created: node.created,
        })
    }

    /// What entry `name` of directory `parent` is, as `stat` says.
    pub(crate) fn lookup_attr(
        &self,
        parent: u64,
        name: &[u8],
        stat: Stat<D, F>,
    ) -> Result<Attr, Errno> {
        self.attr(self.lookup(parent, name)?, stat)
    }

    /// The entries of directory `number`, as `stat` says what they are, with the number of its
    /// parent.
    pub(crate) fn list(
        &self,
        number: u64,
        stat: Stat<D, F>,
    ) -> Result<(u64, Vec<(CString, Attr)>), Errno> {
        let list = self
            .dir(number)?
            .0
            .iter()
            .filter_map(|(name, &child)| Some((name.clone(), self.attr(child, stat).ok()?)))
            .collect();
        Ok((self.get(number)?.parent, list))
    }
}
