//! Managed segments: memory in which typed objects live and are found by name from any
//! process (Boost's `managed_shared_memory` and friends, and their `segment_manager`).
//!
//! | kind | memory | Boost's |
//! |---|---|---|
//! | [`ManagedSharedMemory`] | a POSIX shared memory object | `managed_shared_memory` |
//! | [`ManagedMappedFile`] | a file | `managed_mapped_file` |
//! | [`ManagedXsiSharedMemory`] | System V shared memory | `managed_xsi_shared_memory` |
//! | [`ManagedHeapMemory`] | this process's heap | `managed_heap_memory` |
//! | [`ManagedExternalBuffer`] | a buffer the caller lends | `managed_external_buffer` |
//!
//! Each dereferences to a [`SegmentManager`], which constructs, finds and destroys objects
//! (named, unique per type, anonymous), hands out raw blocks, and checks and repairs the
//! segment. The manager is generic over the [memory algorithm](crate::alloc) (`M`,
//! [`BestFit`](crate::alloc::BestFit) by default) and the [name index](index) (`I`,
//! [`HashIndex`] by default).
//!
//! Every handle registers its mapping (the whole mapping, a heap segment's current buffer, or
//! the caller's buffer) in the [pointer registry](crate::ptr::registry) under the segment id
//! stored in the control block, until it drops: segment-relative pointers
//! ([`SegmentPtr`](crate::ptr::SegmentPtr)) and [`ptr::handle_of`](crate::ptr::handle_of) work
//! for objects inside it.
//!
//! # Layout
//!
//! Offsets are from the segment's base; words are native-endian `u64`s, accessed atomically.
//!
//! ```text
//! 0        64             320         4096                                         size
//! | header | control block | (unused) | area: the memory algorithm's header and blocks  |
//! ```
//!
//! **Header** (64 bytes): the named-object header every shmkit object starts with (magic,
//! layout version, kind [`Segment`] or [`MappedFileSegment`], payload size and offset, init
//! state, creator pid; see `sync/named/object.rs`). Opening waits for and validates it: a
//! foreign object, another version, a truncated file, a half-initialised segment are errors.
//!
//! **Control block** (256 bytes, at 64):
//!
//! | offset | field | meaning |
//! |---:|---|---|
//! | 64 | `format` | `"SKSEG"` and the segment layout version (2) |
//! | 72 | `index_kind` | 1 hashed, 2 ordered, 3 null: opening with another index is `Incompatible` |
//! | 80 | `segment_id` | random, non-zero (8 bytes of `/dev/urandom`, or clocks, pid and a counter mixed); seeds name hashes and every check word |
//! | 88 | `size` | the segment's size in bytes |
//! | 96 | `area_offset` | 4096: the area starts on a page, so aligned offsets are aligned addresses |
//! | 104 | `area_len` | the algorithm's arena length |
//! | 112 | `lock` | the segment lock: a robust [`RecursiveMutex<()>`](crate::sync::RecursiveMutex) |
//! | 120 | `inflight` | the block an operation is creating or freeing, and what it does to it |
//! | 128 | `repairs` | how many crash repairs ran |
//! | 136 | `seq` | the change sequence: odd while a writer holds the lock (see [Finds](#finds-without-the-lock)) |
//! | 144 | `named` | the named index's root (8 words) |
//! | 208 | `unique` | the unique index's root (8 words) |
//!
//! **Objects** live in blocks from the algorithm. A block holding an object starts with a
//! 48-byte header; the value follows (aligned; for alignments above 16 a back-pointer to the
//! header sits in the 8 bytes before the value), then the name area (8-aligned, zero-padded):
//!
//! | offset | word | meaning |
//! |---:|---|---|
//! | 0 | `state` | `"SKOB"` with 1 = constructing, 2 = live; 0 once destroyed |
//! | 8 | `check` | a hash of the other words, the block's offset and the segment id |
//! | 16 | `fingerprint` | the stored type's [`ShmSafe::FINGERPRINT`](crate::ShmSafe::FINGERPRINT) |
//! | 24 | `count` | elements (1 for a single object) |
//! | 32 | `meta` | element size (32 bits), kind (named/unique/anonymous), array flag, log₂ alignment |
//! | 40 | `names` | name-area length and key length (32 bits each) |
//!
//! A named object's key is its name; a unique object's key is its type's fingerprint (8
//! bytes), followed in the name area by the type's name (for listings only).
//!
//! **Indexes** keep their roots in the control block and their nodes or tables in blocks
//! behind a 32-byte header (tag, payload length, check word): see [`index`].
//!
//! # Invariants (between operations, under the lock)
//!
//! 1. The memory algorithm's invariants hold over the area.
//! 2. Every live named (unique) object is in the named (unique) index exactly once, under its
//!    key, and every index entry leads to a live object of that kind with that key.
//! 3. Every block an index allocated is reachable from its root; nothing is in flight
//!    (`inflight == 0`) and no object is in the constructing state.
//! 4. Check words bind each header to its offset and segment: a header copied elsewhere, left
//!    behind in a freed block (whose state word is cleared first), or written by another
//!    program does not validate.
//!
//! Everything read from the segment is validated before use (offsets, sizes, counts, check
//! words) and every walk is bounded, so broken bytes give [`ErrorKind::Corrupted`], never an
//! out-of-bounds access or a hang. [`SegmentManager::check_sanity`] checks all of the above.
//!
//! # Finds without the lock
//!
//! Every change to the segment (allocations, objects, indexes, repairs) happens under the
//! segment lock, and the outermost holder makes the `seq` word odd when it takes the lock and
//! the next even value before it lets go. `find`, `find_array` and `find_unique` first run
//! without the lock: read `seq` (an even value), look the name up, then read `seq` again; if it
//! did not change, no writer ran in between and the answer stands; otherwise (or if `seq` was
//! odd) they retry once, then take the lock as Boost's finds always do. So finds from many
//! processes do not contend on the lock's cache line and do not wait behind one another.
//! A lookup that races a writer may read half-changed bytes; it validates everything it reads
//! (as it must against a hostile peer anyway), so it gets an error or a wrong answer, never an
//! out-of-bounds access, and the changed `seq` throws that answer away. Read-only handles,
//! which cannot take the lock, retry for a while and then answer from what they read, as
//! before. A writer that dies leaves `seq` odd; the next holder repairs the segment and makes
//! it even.
//!
//! # Crash recovery
//!
//! The segment lock is robust: when a process dies holding it (killed with `SIGKILL` anywhere
//! in allocate, deallocate, construct or destroy), the next process to take it is told so and
//! repairs the segment before doing anything else:
//!
//! 1. the algorithm's [`repair`](crate::alloc::MemoryAlgorithm::repair) rebuilds its free
//!    structures from its chain of block headers (which every algorithm operation keeps valid
//!    at every store);
//! 2. the in-flight record is finished: a block being created or freed is freed, unless its
//!    header says live (a destroy that had not reached its commit);
//! 3. every allocated block is visited: blocks holding a constructing object header or an
//!    index block header are freed, and the indexes are rebuilt from scratch from the live
//!    object headers.
//!
//! The commit point of a construction is the release store of `live` into its header's state
//! word, after the value is written and the index entry inserted; the commit point of a
//! destruction is the store of 0 into that word, after the index entry is removed. So:
//!
//! * killed before the commit of a construction: the header says constructing (or, in the
//!   few stores between the allocation and the header, the in-flight record names the block):
//!   the block is freed and the name is free again;
//! * killed after it: the object is live, the rebuilt index has it, its value is complete
//!   (written before the commit);
//! * killed in a destroy before its commit: the object is still live and indexed again; after
//!   it: the in-flight record names the block, which is freed;
//! * killed anywhere in an index operation (a B-tree split, a table growth): the index is
//!   rebuilt, its old blocks freed.
//!
//! The one loss: a block the algorithm has allocated but the segment has not yet recorded
//! (between the algorithm's commit store and the next store, which records it) stays
//! allocated, unreferenced, as when a process dies holding a raw block (Boost leaks every block
//! of a dead process). A repair killed in its turn is simply run again by the next locker.
//!
//! [`Segment`]: self#layout
//! [`MappedFileSegment`]: self#layout
//! [`ErrorKind::Corrupted`]: crate::ErrorKind::Corrupted

mod external;
mod file;
mod heap;
pub mod index;
mod layout;

/// `(size, align)` of a segment's control block (the named object's payload), for `inspect`.
pub(crate) const CONTROL_LAYOUT: (usize, usize) = (size_of::<layout::Control>(), 64);
mod manager;
mod mem;
mod open;
/// Read-only access for `inspect`, whatever the algorithm and index.
pub(crate) mod peek;
mod shm;
mod xsi;

/// An object's offset in its segment, to pass to another process: the crate-wide
/// [`ptr::Handle`](crate::ptr::Handle).
pub use crate::ptr::Handle;
pub use external::ManagedExternalBuffer;
pub use file::ManagedMappedFile;
pub use heap::ManagedHeapMemory;
pub use index::{HashIndex, IndexKind, NameIndex, NullIndex, OrderedIndex};
pub use layout::InstanceKind;
pub use manager::{ObjectInfo, SegmentManager};
pub use shm::ManagedSharedMemory;
pub use xsi::ManagedXsiSharedMemory;
