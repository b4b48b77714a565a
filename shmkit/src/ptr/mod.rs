//! Pointers that mean the same in every process: [`OffsetPtr`], the segment-relative
//! pointers ([`SegmentPtr`], [`SegmentBase`] + [`RelPtr`]) and [`Handle`]s.
//!
//! # The model
//!
//! A segment is mapped at a different address in each process, so nothing stored in it may hold
//! an absolute address. Two kinds of relative pointer remain, for two different jobs.
//!
//! **[`OffsetPtr<T>`]** is Boost's `offset_ptr`: it stores *target address minus its own
//! address*, so it works in any mapping without knowing where the segment starts, and even
//! outside segments. It is for structures users build *in place* (linked lists, trees). Its
//! value depends on where it is, so it must never move silently: Boost re-bases it in the copy
//! constructor, Rust moves are plain `memcpy`. shmkit's answer:
//!
//! * It is `!Unpin`, neither `Clone` nor `Copy`, and can only be *created* null
//!   ([`OffsetPtr::null`]). A null pointer means the same wherever it is, so moving one is
//!   harmless.
//! * Everything that makes it point somewhere ([`set`](OffsetPtr::set),
//!   [`set_with_tag`](OffsetPtr::set_with_tag), [`set_from`](OffsetPtr::set_from)) takes
//!   `self: Pin<&Self>`. Pinned access comes from memory that never moves: a registered
//!   segment ([`pin_in_segment`]), [`std::pin::pin!`] or `Box::pin` for local use. A pinned
//!   `!Unpin` value is never moved again by safe code, so a non-null `OffsetPtr` is always
//!   where it was set.
//! * Reading ([`get`](OffsetPtr::get), comparisons, arithmetic on the target) and changes that do
//!   not depend on the address ([`set_null`](OffsetPtr::set_null),
//!   [`set_tag`](OffsetPtr::set_tag), [`advance`](OffsetPtr::advance)) take `&self`: pinning
//!   a value *now* says nothing about where it was when it was set, so a pinned receiver would
//!   prove nothing.
//!
//! **Segment-relative pointers** are for the segment's own structures and the collections, whose
//! headers *do* move: a `Vec<String>` that grows moves every `String` header, `mem::swap`
//! swaps two headers. They store an offset from the **segment base** plus the segment's
//! [`SegmentId`], and find the base from *their own address* through the per-process
//! [`registry`] of live mappings:
//!
//! * moved within its segment, a header stays valid (the base is the same);
//! * read through a second mapping of the same segment, it resolves into that mapping (the
//!   pointer's own address decides);
//! * moved into another segment, onto the stack or the heap, it is caught: resolving returns an
//!   [`Err`] naming the problem instead of a pointer into the wrong memory.
//!
//! [`SegmentPtr<T>`] is the self-contained form (16 bytes: id + offset). A collection stores one
//! [`SegmentBase`] (8 bytes: the id) in its header and plain [`RelPtr<T>`]s (8 bytes: the
//! offset) for its buffers; it resolves the base once per operation
//! ([`SegmentBase::resolve`] gives a [`SegmentView`]) and then indexes as many elements as it
//! likes through the view, with no lookup per element.
//!
//! **[`Handle`]s** are plain offsets from the segment base (Boost's `handle_t`): what one process
//! passes to another, by any channel, to name an object. [`handle_of`] turns a reference into a
//! handle; [`get_by_handle`] turns a handle back into a pointer, bounds- and
//! alignment-checked against the receiver's mapping.
//!
//! # The registry and its cost
//!
//! [`registry`] keeps a sorted table of registered mappings (base, length, segment id) behind an
//! `RwLock`, and each thread a one-entry cache of its last hit, tagged with the table's
//! *generation*. The generation is bumped whenever a mapping is unregistered, so a cached entry
//! for a mapping that went away is never used, even by the thread that cached it. A cached
//! lookup is a thread-local load, an atomic load and two compares (well under a nanosecond);
//! the table is only locked on a miss. `ARCHITECTURE.md` has the measured figures.
//!
//! # Invariants
//!
//! * Every value of every type here is valid for any bit pattern ([`ShmSafe`](crate::ShmSafe)):
//!   a garbage `OffsetPtr` yields a garbage *raw* pointer, and dereferencing raw pointers is
//!   `unsafe` anyway; a garbage segment pointer or handle yields an [`Err`] (its offset is
//!   checked against the mapping's length and the type's alignment before any pointer is made).
//! * Registered ranges stay mapped until their [`Registration`] is dropped (the safe door,
//!   [`RegisteredRegion`], owns the mapping, so even `mem::forget` cannot leave a stale entry).
//! * Code that relocates values inside a registered segment (collections that grow) moves only
//!   `Unpin` values; `OffsetPtr` is `!Unpin`, and so is every struct that holds one, so it cannot
//!   be put in such a collection by accident. (A type that holds an `OffsetPtr` must not
//!   implement `Unpin` by hand.)
//! * Pinning here guards against *logic* errors only: none of these types relies on `Pin` for
//!   memory safety. Copying bytes (`MappedRegion::write_at`, `memcpy`) copies an `OffsetPtr`'s
//!   offset, not its target, exactly as `memcpy` of a Boost `offset_ptr` does; such byte-level
//!   copies are outside the model.
//! * Raw pointers are rebuilt from integers with exposed provenance
//!   ([`std::ptr::with_exposed_provenance_mut`]): `OffsetPtr::set` and `SegmentPtr::set` expose
//!   their target, and [`registry::register`] exposes the mapping it is given (shared memory comes
//!   from the kernel; a heap or external-buffer segment's buffer is accessed only by the segment
//!   layer while registered).
//! * Every managed segment handle ([`ManagedSharedMemory`](crate::ManagedSharedMemory) and the
//!   other kinds) registers its mapping under its segment id for as long as it lives, so these
//!   pointers and [`handle_of`] work for objects inside it.
//!
//! # Example: a list in shared memory, and a handle to its head
//!
//! ```
//! use std::pin::Pin;
//! use shmkit::ShmSafe;
//! use shmkit::ptr::{self, OffsetPtr, SegmentId, registry::RegisteredRegion};
//!
//! #[derive(ShmSafe)]
//! #[repr(C)]
//! struct Node {
//!     next: OffsetPtr<Node>,
//!     value: u64,
//! }
//!
//! let region = shmkit::MappedRegion::anonymous(4096)?;
//! let segment = RegisteredRegion::new(region, SegmentId::random())?;
//! // SAFETY: these bytes are only accessed through these references.
//! let a: &Node = unsafe { segment.get(64)? };
//! let b: &Node = unsafe { segment.get(128)? };
//! ptr::pin_in_segment(&a.next)?.set(b);
//! assert_eq!(a.next.get().cast_const(), b as *const Node);
//!
//! let handle = ptr::handle_of(a)?; // offset 64: meaningful in every process
//! let view = segment.view();
//! assert_eq!(ptr::get_by_handle::<Node>(&view, handle)?, a as *const Node);
//! # Ok::<(), shmkit::Error>(())
//! ```

mod handle;
mod offset_ptr;
pub mod registry;
mod rel_ptr;
mod segment_base;
mod segment_id;
mod segment_ptr;
mod segment_view;

pub use handle::{Handle, get_by_handle, handle_of};
pub use offset_ptr::OffsetPtr;
pub use registry::{RegisteredRegion, Registration};
pub use rel_ptr::RelPtr;
pub use segment_base::SegmentBase;
pub use segment_id::SegmentId;
pub use segment_ptr::SegmentPtr;
pub use segment_view::{SegmentView, pin_in_segment, view_of};
