//! [`OrderedIndex`](super::OrderedIndex): a B-tree of 31-entry nodes, keyed by Boost's name order
//! (length first, then bytes).
//!
//! # Layout
//!
//! Root words (in the control block, at `root`):
//!
//! | offset | word | meaning |
//! |---:|---|---|
//! | 0 | `root` | offset of the root node, 0 while empty |
//! | 8 | `len` | number of entries |
//! | 16 | `height` | levels (1 = the root is a leaf), ≤ 64 |
//!
//! A node is an index block ([`IDX_BTREE_NODE`], payload 1008 bytes) laid out as:
//!
//! | offset in block | words | meaning |
//! |---:|---|---|
//! | 0 | 4 | index block header |
//! | 32 | 1 | `count` (low 32 bits) and `leaf` (bit 32) |
//! | 40 | 2 × 31 | the entries' keys: prefix words `(p0, p1)` |
//! | 536 | 31 | the entries' object offsets |
//! | 784 | 32 | children (internal nodes only) |
//!
//! `p0 = len << 48 | bytes[0..6]` and `p1 = bytes[6..14]`, big-endian and zero-padded: comparing
//! `(p0, p1)` as integers compares (length, bytes) exactly for names up to 14 bytes, so a
//! search touches no object for them; longer names that tie on the prefix compare their
//! remaining bytes in the objects.
//!
//! # Invariants
//!
//! 1. Keys are strictly increasing in order (node entries and subtrees interleaved).
//! 2. Every leaf is at depth `height - 1`; a node is a leaf iff it has no children.
//! 3. Every node but the root holds 15 to 31 entries; the root 1 to 31 (none: `root == 0`).
//! 4. `len` is the number of entries; each entry's prefix words are its object's key's.
//!
//! Insertion splits full nodes on the way down (CLRS's single pass), deletion makes sure each
//! node it descends into has at least 16 entries (borrowing from a sibling or merging), so both
//! are one walk from the root.

use std::cmp::Ordering;
use std::sync::atomic::Ordering::Relaxed;

use super::{Space, corrupt};
use crate::error::{Error, ErrorKind, Result};
use crate::segment::layout::{
    IDX_BTREE_NODE, IDX_HEADER, Key, ObjHeader, cmp_tail, match_key, prefix, read_idx_header,
    read_idx_header_fast,
};
use crate::segment::mem::Mem;

/// Entries per node (2t - 1 with t = 16).
const CAP: usize = 31;
/// The minimum degree: non-root nodes hold at least `T - 1` entries.
const T: usize = 16;
const MAX_HEIGHT: usize = 64;

const META: usize = IDX_HEADER;
const KEYS: usize = META + 8;
const OBJS: usize = KEYS + 16 * CAP;
const KIDS: usize = OBJS + 8 * CAP;
const PAYLOAD: usize = KIDS + 8 * (CAP + 1) - IDX_HEADER;
const _: () = assert!(PAYLOAD == 1008 && KIDS == 784 && OBJS == 536);
/// A node's block: header and payload.
const NODE_BYTES: usize = IDX_HEADER + PAYLOAD;
const NODE_WORDS: usize = NODE_BYTES / 8;

const R_ROOT: usize = 0;
const R_LEN: usize = 8;
const R_HEIGHT: usize = 16;

/// An entry: prefix words and object offset.
type Entry = (u64, u64, u64);

struct Tree<'m> {
    mem: &'m Mem,
    seed: u64,
    root: usize,
}

impl Tree<'_> {
    /// A node's count and leaf flag. The node's header is checked by tag and payload length:
    /// a freed node's tag is cleared before it is freed, so a stale or foreign block fails, and
    /// lookups validate the object they return anyway. The full check (with the check word)
    /// is for [`check`] and the crash repair, which must tell index blocks from raw data.
    #[inline(always)]
    fn node(&self, at: usize) -> Result<(usize, bool)> {
        if read_idx_header_fast(self.mem, at, IDX_BTREE_NODE) != Some(PAYLOAD) {
            return Err(corrupt("a B-tree link to a bad node", at));
        }
        self.meta(at)
    }

    /// [`node`](Self::node) with the full header check.
    fn node_full(&self, at: usize) -> Result<(usize, bool)> {
        if read_idx_header(self.mem, self.seed, at, IDX_BTREE_NODE) != Some(PAYLOAD) {
            return Err(corrupt("a B-tree link to a bad node", at));
        }
        self.meta(at)
    }

    /// Starts loading the whole node at once: the search would otherwise touch its key lines
    /// one dependent miss after another, and then the line of the entry's object offset or
    /// child.
    #[inline(always)]
    fn prefetch(&self, at: usize) {
        // `at` comes from the segment unvalidated (`node` checks it next); a link outside the
        // segment prefetches nothing.
        self.mem.prefetch_range::<NODE_BYTES>(at);
    }

    /// A node a walk arrives at: prefetched, then [`node`](Self::node).
    #[inline(always)]
    fn visit(&self, at: usize) -> Result<(usize, bool)> {
        self.prefetch(at);
        self.node(at)
    }

    #[inline(always)]
    fn meta(&self, at: usize) -> Result<(usize, bool)> {
        let meta = self.mem.load(at + META);
        let count = meta as u32 as usize;
        if count > CAP || meta >> 33 != 0 {
            return Err(corrupt("a B-tree node with a bad count", at));
        }
        Ok((count, meta >> 32 == 1))
    }

    fn set_meta(&self, at: usize, count: usize, leaf: bool) {
        self.mem
            .store(at + META, count as u64 | (leaf as u64) << 32);
    }

    #[inline(always)]
    fn entry(&self, n: usize, i: usize) -> Entry {
        (
            self.mem.load(n + KEYS + 16 * i),
            self.mem.load(n + KEYS + 16 * i + 8),
            self.mem.load(n + OBJS + 8 * i),
        )
    }

    fn set_entry(&self, n: usize, i: usize, e: Entry) {
        self.mem.store(n + KEYS + 16 * i, e.0);
        self.mem.store(n + KEYS + 16 * i + 8, e.1);
        self.mem.store(n + OBJS + 8 * i, e.2);
    }

    #[inline(always)]
    fn child(&self, n: usize, i: usize) -> usize {
        self.mem.load(n + KIDS + 8 * i) as usize
    }

    fn set_child(&self, n: usize, i: usize, c: usize) {
        self.mem.store(n + KIDS + 8 * i, c as u64);
    }

    fn root_node(&self) -> usize {
        self.mem.load(self.root + R_ROOT) as usize
    }

    fn height(&self) -> Result<usize> {
        let h = self.mem.load(self.root + R_HEIGHT) as usize;
        if h == 0 || h > MAX_HEIGHT {
            return Err(corrupt("an impossible B-tree height", self.root));
        }
        Ok(h)
    }

    fn add_len(&self, delta: isize) {
        // The stored length is only a statistic, and any value may be there: saturate rather
        // than overflow.
        let len = self.mem.load(self.root + R_LEN) as isize;
        self.mem
            .store(self.root + R_LEN, len.saturating_add(delta).max(0) as u64);
    }

    /// Compares entry `i` of node `n` with `key`.
    #[inline(always)]
    fn cmp(&self, n: usize, i: usize, key: &Key<'_>) -> Result<Ordering> {
        let k0 = self.mem.load(n + KEYS + 16 * i);
        let o = match k0.cmp(&key.p0) {
            Ordering::Equal => self.mem.load(n + KEYS + 16 * i + 8).cmp(&key.p1),
            o => return Ok(o),
        };
        if o == Ordering::Equal && !key.is_short() {
            let obj = self.mem.load(n + OBJS + 8 * i) as usize;
            return cmp_tail(self.mem, self.seed, obj, key);
        }
        Ok(o)
    }

    /// The position of the first entry `>= key` in node `n` (of `count` entries, checked by
    /// [`node`](Self::node)), and whether it equals `key`.
    ///
    /// The prefix words compare as one 128-bit integer, and the lower bound is found without
    /// data-dependent branches (the step count depends only on `count`): a name search visits
    /// nodes in random order, where a branchy binary search mispredicts about every other step.
    /// Names longer than the prefix that tie on it are told apart by their remaining bytes,
    /// in the objects.
    #[inline]
    fn search(&self, n: usize, count: usize, key: &Key<'_>) -> Result<(usize, bool)> {
        let w = self
            .mem
            .words::<NODE_WORDS>(n)
            .ok_or_else(|| corrupt("a B-tree node outside the segment", n))?;
        let count = count.min(CAP);
        let at = |i: usize| -> u128 {
            let i = i.min(CAP - 1);
            u128::from(w[KEYS / 8 + 2 * i].load(Relaxed)) << 64
                | u128::from(w[KEYS / 8 + 2 * i + 1].load(Relaxed))
        };
        let k = u128::from(key.p0) << 64 | u128::from(key.p1);
        if count == 0 {
            return Ok((0, false));
        }
        let (mut base, mut len) = (0, count);
        while len > 1 {
            let half = len / 2;
            base = if at(base + half) < k {
                base + half
            } else {
                base
            };
            len -= half;
        }
        let mut i = base + usize::from(at(base) < k);
        if key.is_short() {
            return Ok((i, i < count && at(i) == k));
        }
        while i < count && at(i) == k {
            let obj = w[OBJS / 8 + i].load(Relaxed) as usize;
            match cmp_tail(self.mem, self.seed, obj, key)? {
                Ordering::Less => i += 1,
                Ordering::Equal => return Ok((i, true)),
                Ordering::Greater => break,
            }
        }
        Ok((i, false))
    }

    fn find(&self, key: &Key<'_>) -> Result<Option<ObjHeader>> {
        let mut n = self.root_node();
        if n == 0 {
            return Ok(None);
        }
        let height = self.height()?;
        for level in 0..height {
            let (count, leaf) = self.visit(n)?;
            if leaf != (level == height - 1) {
                return Err(corrupt("a B-tree leaf at the wrong depth", n));
            }
            let (i, found) = self.search(n, count, key)?;
            if found {
                let obj = self.entry(n, i).2 as usize;
                return match match_key(self.mem, self.seed, obj, key)? {
                    Some(h) => Ok(Some(h)),
                    None => Err(corrupt("an entry's key differs from its object's", n)),
                };
            }
            if leaf {
                return Ok(None);
            }
            n = self.child(n, i);
        }
        Err(corrupt("a B-tree deeper than its height", n))
    }

    /// Moves entries `from..count` of `n` one place right (and children `from+1..=count` if
    /// `kids`).
    fn shift_right(&self, n: usize, from: usize, count: usize, kids: bool) {
        for j in (from..count).rev() {
            let e = self.entry(n, j);
            self.set_entry(n, j + 1, e);
        }
        if kids {
            for j in (from + 1..=count).rev() {
                self.set_child(n, j + 1, self.child(n, j));
            }
        }
    }

    /// Moves entries `from+1..count` of `n` one place left (and children `from+2..=count` if
    /// `kids`, overwriting child `from + 1`).
    fn shift_left(&self, n: usize, from: usize, count: usize, kids: bool) {
        for j in from + 1..count {
            let e = self.entry(n, j);
            self.set_entry(n, j - 1, e);
        }
        if kids {
            for j in from + 2..=count {
                self.set_child(n, j - 1, self.child(n, j));
            }
        }
    }

    /// Splits the full child `y` (child `i` of `x`) into `y` and the fresh node `z`, moving the
    /// median up into `x`.
    fn split_child(&self, x: usize, i: usize, y: usize, z: usize) -> Result<()> {
        let (cx, leaf_x) = self.node(x)?;
        let (cy, leaf_y) = self.node(y)?;
        if leaf_x || cx >= CAP || cy != CAP {
            return Err(corrupt("a B-tree split of a node that is not full", y));
        }
        for j in 0..T - 1 {
            let e = self.entry(y, j + T);
            self.set_entry(z, j, e);
        }
        if !leaf_y {
            for j in 0..T {
                self.set_child(z, j, self.child(y, j + T));
            }
        }
        self.set_meta(z, T - 1, leaf_y);
        let median = self.entry(y, T - 1);
        self.set_meta(y, T - 1, leaf_y);
        self.shift_right(x, i, cx, true);
        self.set_entry(x, i, median);
        self.set_child(x, i + 1, z);
        self.set_meta(x, cx + 1, false);
        Ok(())
    }

    /// Child `i` of `x`, made to hold at least `T` entries (borrowing from a sibling, or merging
    /// with one), so a deletion may descend into it. Returns the node to descend into.
    fn fix_child(&self, s: &impl Space, x: usize, i: usize) -> Result<usize> {
        let (cx, _) = self.node(x)?;
        let c = self.child(x, i);
        let (cc, leaf_c) = self.node(c)?;
        if cc >= T {
            return Ok(c);
        }
        if i > 0 {
            let l = self.child(x, i - 1);
            let (cl, leaf_l) = self.node(l)?;
            if leaf_l != leaf_c {
                return Err(corrupt("B-tree siblings at different depths", l));
            }
            if cl >= T {
                // Rotate right: x's separator down into c, l's last entry up into x.
                self.shift_right(c, 0, cc, false);
                if !leaf_c {
                    for j in (0..=cc).rev() {
                        self.set_child(c, j + 1, self.child(c, j));
                    }
                    self.set_child(c, 0, self.child(l, cl));
                }
                let sep = self.entry(x, i - 1);
                self.set_entry(c, 0, sep);
                let up = self.entry(l, cl - 1);
                self.set_entry(x, i - 1, up);
                self.set_meta(l, cl - 1, leaf_l);
                self.set_meta(c, cc + 1, leaf_c);
                return Ok(c);
            }
        }
        if i < cx {
            let r = self.child(x, i + 1);
            let (cr, leaf_r) = self.node(r)?;
            if leaf_r != leaf_c {
                return Err(corrupt("B-tree siblings at different depths", r));
            }
            if cr >= T {
                // Rotate left: x's separator down into c, r's first entry up into x.
                let sep = self.entry(x, i);
                self.set_entry(c, cc, sep);
                if !leaf_c {
                    self.set_child(c, cc + 1, self.child(r, 0));
                }
                let up = self.entry(r, 0);
                self.set_entry(x, i, up);
                for j in 1..cr {
                    let e = self.entry(r, j);
                    self.set_entry(r, j - 1, e);
                }
                if !leaf_r {
                    for j in 1..=cr {
                        self.set_child(r, j - 1, self.child(r, j));
                    }
                }
                self.set_meta(r, cr - 1, leaf_r);
                self.set_meta(c, cc + 1, leaf_c);
                return Ok(c);
            }
        }
        if i < cx {
            self.merge(s, x, i)
        } else if i > 0 {
            self.merge(s, x, i - 1)
        } else {
            Err(corrupt("an internal B-tree node without entries", x))
        }
    }

    /// Merges child `i + 1` of `x` and the separator `i` into child `i`; frees the emptied
    /// node (and the root, if it is left without entries). Returns child `i`.
    fn merge(&self, s: &impl Space, x: usize, i: usize) -> Result<usize> {
        let (cx, _) = self.node(x)?;
        let (y, z) = (self.child(x, i), self.child(x, i + 1));
        let (cy, leaf_y) = self.node(y)?;
        let (cz, leaf_z) = self.node(z)?;
        if leaf_y != leaf_z || cy + 1 + cz > CAP || y == z {
            return Err(corrupt("B-tree siblings that cannot merge", y));
        }
        let sep = self.entry(x, i);
        self.set_entry(y, cy, sep);
        for j in 0..cz {
            let e = self.entry(z, j);
            self.set_entry(y, cy + 1 + j, e);
        }
        if !leaf_y {
            for j in 0..=cz {
                self.set_child(y, cy + 1 + j, self.child(z, j));
            }
        }
        self.set_meta(y, cy + 1 + cz, leaf_y);
        self.shift_left(x, i, cx, true);
        self.set_meta(x, cx - 1, false);
        s.free_index_block(z)?;
        if cx == 1 && x == self.root_node() {
            let h = self.height()?;
            self.mem.store(self.root + R_ROOT, y as u64);
            self.mem.store(self.root + R_HEIGHT, (h - 1) as u64);
            s.free_index_block(x)?;
        }
        Ok(y)
    }

    /// Removes the entry `target` names from the subtree at `n` (which holds at least `T`
    /// entries, or is the root), keeping every node it passes at `T` entries or more.
    ///
    /// `check` runs on the entry's object offset when a key target is first found, before
    /// anything about that entry changes; an error from it leaves the entry in place (the
    /// tree, perhaps rebalanced on the way down, stays valid).
    fn delete(
        &self,
        s: &impl Space,
        mut n: usize,
        target: Target<'_>,
        mut check: Option<&mut dyn FnMut(usize) -> Result<()>>,
    ) -> Result<Option<Entry>> {
        for _ in 0..2 * MAX_HEIGHT + 2 {
            let (count, leaf) = self.visit(n)?;
            let (i, found) = match target {
                Target::Key(key) => self.search(n, count, key)?,
                Target::Max if leaf => (count.wrapping_sub(1), count > 0),
                Target::Max => (count, false),
                Target::Min => (0, leaf && count > 0),
            };
            if found && let Some(c) = check.take() {
                c(self.entry(n, i).2 as usize)?;
            }
            if leaf {
                if !found {
                    return Ok(None);
                }
                let e = self.entry(n, i);
                self.shift_left(n, i, count, false);
                self.set_meta(n, count - 1, true);
                self.add_len(-1);
                if count == 1 && n == self.root_node() {
                    self.mem.store(self.root + R_ROOT, 0);
                    self.mem.store(self.root + R_HEIGHT, 0);
                    s.free_index_block(n)?;
                }
                return Ok(Some(e));
            }
            if found {
                let e = self.entry(n, i);
                let (y, z) = (self.child(n, i), self.child(n, i + 1));
                if self.node(y)?.0 >= T {
                    let pred = self
                        .delete(s, y, Target::Max, None)?
                        .ok_or_else(|| corrupt("a B-tree subtree without entries", y))?;
                    self.set_entry(n, i, pred);
                    return Ok(Some(e));
                }
                if self.node(z)?.0 >= T {
                    let succ = self
                        .delete(s, z, Target::Min, None)?
                        .ok_or_else(|| corrupt("a B-tree subtree without entries", z))?;
                    self.set_entry(n, i, succ);
                    return Ok(Some(e));
                }
                n = self.merge(s, n, i)?;
                continue;
            }
            n = self.fix_child(s, n, i)?;
        }
        Err(corrupt("a B-tree deletion that does not end", n))
    }

    /// Walks the tree in key order, calling `f(node, index)` for each entry; checks depths and
    /// bounds the number of nodes visited.
    fn walk(&self, mut f: impl FnMut(usize, usize, bool, usize) -> Result<()>) -> Result<()> {
        let n = self.root_node();
        if n == 0 {
            return Ok(());
        }
        let height = self.height()?;
        let mut budget = self.mem.len() / (IDX_HEADER + PAYLOAD) + 1;
        self.walk_node(n, 0, height, &mut budget, &mut f)
    }

    fn walk_node(
        &self,
        n: usize,
        depth: usize,
        height: usize,
        budget: &mut usize,
        f: &mut impl FnMut(usize, usize, bool, usize) -> Result<()>,
    ) -> Result<()> {
        if *budget == 0 || depth >= height {
            return Err(corrupt("a B-tree with a cycle or too deep", n));
        }
        *budget -= 1;
        let (count, leaf) = self.node_full(n)?;
        if leaf != (depth == height - 1) {
            return Err(corrupt("a B-tree leaf at the wrong depth", n));
        }
        for i in 0..count {
            if !leaf {
                self.walk_node(self.child(n, i), depth + 1, height, budget, f)?;
            }
            f(n, i, depth == 0, count)?;
        }
        if !leaf {
            self.walk_node(self.child(n, count), depth + 1, height, budget, f)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Target<'a> {
    Key(&'a Key<'a>),
    Min,
    Max,
}

fn tree(mem: &Mem, seed: u64, root: usize) -> Tree<'_> {
    Tree { mem, seed, root }
}

pub(crate) fn len(mem: &Mem, root: usize) -> usize {
    mem.load(root + R_LEN) as usize
}

pub(crate) fn find(mem: &Mem, seed: u64, root: usize, key: &Key<'_>) -> Result<Option<ObjHeader>> {
    tree(mem, seed, root).find(key)
}

pub(crate) fn insert(s: &impl Space, root: usize, key: &Key<'_>, obj: usize) -> Result<()> {
    let t = tree(s.mem(), s.seed(), root);
    let entry = (key.p0, key.p1, obj as u64);
    let mut n = t.root_node();
    if n == 0 {
        let at = s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD)?;
        t.set_entry(at, 0, entry);
        t.set_meta(at, 1, true);
        t.mem.store(root + R_ROOT, at as u64);
        t.mem.store(root + R_HEIGHT, 1);
        t.mem.store(root + R_LEN, 1);
        return Ok(());
    }
    let mut height = t.height()?;
    if t.node(n)?.0 == CAP {
        if height == MAX_HEIGHT {
            return Err(corrupt("a B-tree at its maximum height", n));
        }
        let new_root = s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD)?;
        let sibling = match s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD) {
            Ok(z) => z,
            Err(e) => {
                s.free_index_block(new_root)?;
                return Err(e);
            }
        };
        t.set_meta(new_root, 0, false);
        t.set_child(new_root, 0, n);
        t.split_child(new_root, 0, n, sibling)?;
        height += 1;
        t.mem.store(root + R_ROOT, new_root as u64);
        t.mem.store(root + R_HEIGHT, height as u64);
        n = new_root;
    }
    for level in 0..height {
        let (count, leaf) = t.visit(n)?;
        if leaf != (level == height - 1) {
            return Err(corrupt("a B-tree leaf at the wrong depth", n));
        }
        let (mut i, found) = t.search(n, count, key)?;
        if found {
            return Err(exists());
        }
        if leaf {
            if count >= CAP {
                return Err(corrupt("a full B-tree leaf on the insertion path", n));
            }
            t.shift_right(n, i, count, false);
            t.set_entry(n, i, entry);
            t.set_meta(n, count + 1, true);
            t.add_len(1);
            return Ok(());
        }
        let c = t.child(n, i);
        if t.node(c)?.0 == CAP {
            let z = s.alloc_index_block(IDX_BTREE_NODE, PAYLOAD)?;
            t.split_child(n, i, c, z)?;
            match t.cmp(n, i, key)? {
                Ordering::Equal => return Err(exists()),
                Ordering::Less => i += 1,
                Ordering::Greater => {}
            }
        }
        n = t.child(n, i);
    }
    Err(corrupt("a B-tree deeper than its height", n))
}

fn exists() -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        "an object with this name already exists",
    )
}

pub(crate) fn remove(
    s: &impl Space,
    root: usize,
    key: &Key<'_>,
    check: &mut dyn FnMut(&ObjHeader) -> Result<()>,
) -> Result<Option<ObjHeader>> {
    let (mem, seed) = (s.mem(), s.seed());
    let t = tree(mem, seed, root);
    let n = t.root_node();
    if n == 0 {
        return Ok(None);
    }
    t.height()?;
    let mut found = None;
    let mut verify = |obj: usize| -> Result<()> {
        let h = match_key(mem, seed, obj, key)?
            .ok_or_else(|| corrupt("an entry's key differs from its object's", obj))?;
        check(&h)?;
        found = Some(h);
        Ok(())
    };
    let removed = t.delete(s, n, Target::Key(key), Some(&mut verify))?;
    match (removed, found) {
        (None, _) => Ok(None),
        (Some((_, _, o)), Some(h)) if o as usize == h.at => Ok(Some(h)),
        _ => Err(corrupt("the removed entry named another object", root)),
    }
}

pub(crate) fn for_each(
    mem: &Mem,
    seed: u64,
    root: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    let t = tree(mem, seed, root);
    t.walk(|n, i, _, _| f(t.entry(n, i).2 as usize))
}

pub(crate) fn check(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    let t = tree(mem, seed, root);
    let mut n = 0;
    let mut prev: Option<(u64, u64, Vec<u8>)> = None;
    t.walk(|node, i, is_root, count| {
        if !is_root && count < T - 1 {
            return Err(corrupt("a B-tree node less than half full", node));
        }
        let (p0, p1, obj) = t.entry(node, i);
        let h = ObjHeader::live(mem, seed, obj as usize)
            .ok_or_else(|| corrupt("an entry is not a live object", node))?;
        let names = h.read_names(mem)?;
        let key = names[..h.key_len].to_vec();
        if prefix(&key) != (p0, p1) {
            return Err(corrupt(
                "an entry's prefix disagrees with its object's key",
                node,
            ));
        }
        if let Some((q0, q1, pk)) = &prev
            && (*q0, *q1, pk.as_slice()) >= (p0, p1, key.as_slice())
        {
            return Err(corrupt("B-tree keys out of order", node));
        }
        prev = Some((p0, p1, key));
        n += 1;
        Ok(())
    })?;
    if n != len(mem, root) {
        return Err(corrupt("the entry count disagrees with the B-tree", root));
    }
    Ok(n)
}

pub(crate) fn blocks(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    let t = tree(mem, seed, root);
    let mut nodes = 0;
    t.walk(|_, i, _, _| {
        if i == 0 {
            nodes += 1;
        }
        Ok(())
    })?;
    Ok(nodes)
}
