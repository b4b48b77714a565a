//! Name indexes: how a segment finds an object by its name (or a unique object by its type).
//!
//! | index | Boost's | find | insert / remove | memory |
//! |---|---|---|---|---|
//! | [`HashIndex`] (default) | `iunordered_set_index` | O(1): one probe run in an open-addressing table of `(hash, object)` pairs | O(1) amortised; the table doubles at 3/4 load (backward-shift deletion, no tombstones) | 16 bytes per slot |
//! | [`OrderedIndex`] | `iset_index` | O(log n): a B-tree of 31-entry nodes keyed by (length, bytes) | O(log n) | ~1 KiB nodes, ≥ half full |
//! | [`NullIndex`] | `null_index` | — | — | none: anonymous objects only |
//!
//! # Everything in the segment, nothing trusted
//!
//! An index keeps its root in the segment's control block (a few words) and its nodes or
//! table in blocks it allocates from the segment's memory algorithm, each behind a 32-byte
//! header (a tag, the payload length, and a check binding both to the block's offset and the
//! segment id). Entries refer to objects by offset. Every offset, count and height read from
//! the segment is checked before use (block headers, bounds, `count <= 31`, heights ≤ 64), and
//! every walk is bounded, so a scribbled index gives [`ErrorKind::Corrupted`], never an
//! out-of-bounds access or an endless loop. An entry found by a lookup is accepted only if it
//! leads to a live object header whose key bytes equal the key looked up.
//!
//! # Derived data
//!
//! An index is derived from the object headers: after a crash the segment frees every index
//! block and rebuilds the index from the live headers it finds by walking the allocated blocks
//! (see the crash-recovery section of the [segment docs](super)). So an index operation needs
//! no crash-ordering of its own; it only has to keep the index valid between operations.
//!
//! The hash is seeded with the segment id (the same in every process that opens the segment,
//! different between segments), so the table's layout is deterministic per segment and a
//! process cannot aim a flood of colliding names at every segment at once.
//!
//! [`ErrorKind::Corrupted`]: crate::ErrorKind::Corrupted

pub(crate) mod hashed;
pub(crate) mod ordered;

use super::layout::{Key, ObjHeader};
use super::mem::Mem;
use crate::error::{Error, ErrorKind, Result};

/// Which index a segment uses. Recorded in the segment, so that opening it with another index
/// type is an [`ErrorKind::Incompatible`] error.
///
/// # Examples
///
/// ```
/// use shmkit::segment::{HashIndex, IndexKind, NameIndex};
/// assert_eq!(HashIndex::KIND, IndexKind::Hashed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// [`HashIndex`].
    Hashed,
    /// [`OrderedIndex`].
    Ordered,
    /// [`NullIndex`].
    Null,
}

impl IndexKind {
    pub(crate) fn code(self) -> u64 {
        match self {
            IndexKind::Hashed => 1,
            IndexKind::Ordered => 2,
            IndexKind::Null => 3,
        }
    }

    pub(crate) fn from_code(code: u64) -> Option<IndexKind> {
        Some(match code {
            1 => IndexKind::Hashed,
            2 => IndexKind::Ordered,
            3 => IndexKind::Null,
            _ => return None,
        })
    }

    /// What users call it, for messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            IndexKind::Hashed => "hashed",
            IndexKind::Ordered => "ordered",
            IndexKind::Null => "null",
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A segment's name index: [`HashIndex`] (the default), [`OrderedIndex`] or [`NullIndex`].
///
/// The index's layout is part of the segment format (every process must read it the same way),
/// so the trait is sealed: these three are all there is.
///
/// # Examples
///
/// ```
/// use shmkit::segment::{IndexKind, NameIndex, OrderedIndex};
/// assert_eq!(OrderedIndex::KIND, IndexKind::Ordered);
/// ```
pub trait NameIndex: sealed::Sealed + Send + Sync + 'static {
    /// Which index this is.
    const KIND: IndexKind;
}

/// The default index: an open-addressing hash table in the segment (Boost's
/// `iunordered_set_index`). O(1) finds; iteration order is unspecified.
///
/// # Examples
///
/// ```
/// use shmkit::{ManagedHeapMemory, segment::HashIndex};
/// let seg = ManagedHeapMemory::<shmkit::alloc::BestFit, HashIndex>::new(1 << 16)?;
/// seg.construct("answer", 42u64)?;
/// assert_eq!(seg.find::<u64>("answer")?, Some(&42));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HashIndex;

/// A B-tree in the segment (Boost's `iset_index`, which is a red-black tree): O(log n) finds,
/// iteration in Boost's name order (shorter names first, then bytewise).
///
/// # Examples
///
/// ```
/// use shmkit::{ManagedHeapMemory, alloc::BestFit, segment::OrderedIndex};
/// let seg = ManagedHeapMemory::<BestFit, OrderedIndex>::new(1 << 16)?;
/// for name in ["bb", "a", "ab"] {
///     seg.construct(name, 0u8)?;
/// }
/// let names: Vec<String> = seg.named_objects()?.into_iter().map(|o| o.name).collect();
/// assert_eq!(names, ["a", "ab", "bb"]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderedIndex;

/// No index (Boost's `null_index`): the segment holds anonymous objects and raw allocations
/// only; named and unique operations return [`ErrorKind::Unsupported`].
///
/// # Examples
///
/// ```
/// use shmkit::{ErrorKind, ManagedHeapMemory, alloc::BestFit, segment::NullIndex};
/// let seg = ManagedHeapMemory::<BestFit, NullIndex>::new(1 << 16)?;
/// assert_eq!(seg.construct("x", 1u32).unwrap_err().kind(), ErrorKind::Unsupported);
/// let x = seg.construct_anonymous(1u32)?;
/// assert_eq!(*x, 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NullIndex;

impl sealed::Sealed for HashIndex {}
impl sealed::Sealed for OrderedIndex {}
impl sealed::Sealed for NullIndex {}

impl NameIndex for HashIndex {
    const KIND: IndexKind = IndexKind::Hashed;
}
impl NameIndex for OrderedIndex {
    const KIND: IndexKind = IndexKind::Ordered;
}
impl NameIndex for NullIndex {
    const KIND: IndexKind = IndexKind::Null;
}

/// Root words an index may use in the control block.
pub(crate) const ROOT_WORDS: usize = 8;

/// What an index needs from the segment while the segment lock is held: its bytes, its seed,
/// and blocks from its memory algorithm.
pub(crate) trait Space {
    /// The segment's bytes.
    fn mem(&self) -> &Mem;
    /// The segment id, which seeds hashes and block checks.
    fn seed(&self) -> u64;
    /// Allocates a block with an index header of `kind` and `payload` bytes after it; returns
    /// the block's offset (the payload starts [`IDX_HEADER`](super::layout::IDX_HEADER) later).
    fn alloc_index_block(&self, kind: u64, payload: usize) -> Result<usize>;
    /// Frees an index block.
    fn free_index_block(&self, at: usize) -> Result<()>;
}

/// The `Corrupted` error for a broken index.
#[cold]
#[inline(never)]
pub(crate) fn corrupt(what: &str, at: usize) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("name index: {what} (offset {at})"),
    )
}

/// Finds `key`: the header of the live object with that key (validated).
pub(crate) fn find(
    kind: IndexKind,
    mem: &Mem,
    seed: u64,
    root: usize,
    key: &Key<'_>,
) -> Result<Option<ObjHeader>> {
    match kind {
        IndexKind::Hashed => hashed::find(mem, seed, root, key),
        IndexKind::Ordered => ordered::find(mem, seed, root, key),
        IndexKind::Null => Ok(None),
    }
}

/// Inserts `key → obj`; [`ErrorKind::AlreadyExists`] if the key is present (nothing changes),
/// [`ErrorKind::OutOfMemory`] if the index cannot grow (nothing changes).
pub(crate) fn insert(
    kind: IndexKind,
    s: &impl Space,
    root: usize,
    key: &Key<'_>,
    obj: usize,
) -> Result<()> {
    match kind {
        IndexKind::Hashed => hashed::insert(s, root, key, obj),
        IndexKind::Ordered => ordered::insert(s, root, key, obj),
        IndexKind::Null => Err(unsupported()),
    }
}

/// Removes `key` after `check` accepted its object (an error from `check` changes nothing);
/// returns the removed object's header, `None` if the key is not there.
pub(crate) fn remove(
    kind: IndexKind,
    s: &impl Space,
    root: usize,
    key: &Key<'_>,
    check: &mut dyn FnMut(&ObjHeader) -> Result<()>,
) -> Result<Option<ObjHeader>> {
    match kind {
        IndexKind::Hashed => hashed::remove(s, root, key, check),
        IndexKind::Ordered => ordered::remove(s, root, key, check),
        IndexKind::Null => Ok(None),
    }
}

/// The number of entries.
pub(crate) fn len(kind: IndexKind, mem: &Mem, root: usize) -> usize {
    match kind {
        IndexKind::Hashed => hashed::len(mem, root),
        IndexKind::Ordered => ordered::len(mem, root),
        IndexKind::Null => 0,
    }
}

/// Calls `f(obj)` for every entry (in key order for the ordered index).
pub(crate) fn for_each(
    kind: IndexKind,
    mem: &Mem,
    seed: u64,
    root: usize,
    f: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    match kind {
        IndexKind::Hashed => hashed::for_each(mem, seed, root, f),
        IndexKind::Ordered => ordered::for_each(mem, seed, root, f),
        IndexKind::Null => Ok(()),
    }
}

/// Makes room for `n` entries without growing later (hashed only).
pub(crate) fn reserve(kind: IndexKind, s: &impl Space, root: usize, n: usize) -> Result<()> {
    match kind {
        IndexKind::Hashed => hashed::reserve(s, root, n),
        _ => Ok(()),
    }
}

/// Checks the index's structure; returns the number of entries.
pub(crate) fn check(kind: IndexKind, mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    match kind {
        IndexKind::Hashed => hashed::check(mem, seed, root),
        IndexKind::Ordered => ordered::check(mem, seed, root),
        IndexKind::Null => Ok(0),
    }
}

/// The number of blocks the index uses (for leak checks).
pub(crate) fn blocks(kind: IndexKind, mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    match kind {
        IndexKind::Hashed => hashed::blocks(mem, seed, root),
        IndexKind::Ordered => ordered::blocks(mem, seed, root),
        IndexKind::Null => Ok(0),
    }
}

/// Forgets everything (the blocks are freed by the caller): an empty index.
pub(crate) fn reset(mem: &Mem, root: usize) {
    mem.zero(root, 8 * ROOT_WORDS);
}

fn unsupported() -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "this segment has a null index: named and unique objects are not supported",
    )
}
