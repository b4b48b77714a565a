//! [`SegmentManager`]: named, unique and anonymous objects and raw blocks in a segment, under
//! the segment's robust lock; crash repair.
#![allow(unsafe_code)]

use std::cell::{RefCell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{Ordering as AtomicOrdering, fence};

use super::index::{self, IndexKind, NameIndex, Space};
use super::layout::{
    AREA, C_AREA_LEN, C_AREA_OFF, C_FORMAT, C_ID, C_INDEX, C_INFLIGHT, C_LOCK, C_NAMED, C_REPAIRS,
    C_SEQ, C_SIZE, C_UNIQUE, CONSTRUCTING, FORMAT, IDX_HEADER, INFLIGHT_FREE, INFLIGHT_NEW_OBJECT,
    INFLIGHT_RAW_FREE, InstanceKind, Key, LIVE, MAX_ALIGN, MAX_OBJECT_NAME, O_STATE, OBJ_HEADER,
    ObjHeader, is_idx_block, new_segment_id, value_pad, write_idx_header, write_padded,
};
use super::mem::Mem;
use crate::alloc::{BestFit, MemoryAlgorithm};
use crate::error::{Error, ErrorKind, Result};
use crate::ptr::registry::{self, Registration, SegmentHooks};
use crate::ptr::{Handle, SegmentId};
use crate::shm_safe::ShmSafe;
use crate::sync::named::object::{self, HEADER_SIZE, Header, Kind, Layout};
use crate::sync::{RecursiveMutex, RecursiveMutexGuard};

use super::index::HashIndex;

/// How a handle may use its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Shared read-write mapping: everything, under the segment lock.
    ReadWrite,
    /// Private mapping, nothing mutated: lock-free finds only.
    ReadOnly,
    /// Private writable mapping: everything, changes stay in this process.
    CopyOnWrite,
}

/// The named-object layout of a segment of `kind`: the control block is the payload.
pub(crate) fn segment_layout(kind: Kind) -> Layout {
    Layout::new(kind, size_of::<super::layout::Control>(), 64)
}

/// The segment lock, held: proof that this thread holds it. The guard of a thread's outermost hold keeps the change sequence
/// (`C_SEQ`) odd while it lives and moves it to the next even value when it drops, before the
/// lock is released (fields drop after `drop`), so a lock-free find that saw the same even value
/// before and after its reads knows that no writer ran in between (module docs, "Finds without
/// the lock").
struct Guard<'a> {
    lock: RecursiveMutexGuard<'a, ()>,
    mem: &'a Mem,
    outermost: bool,
}

impl<'a> Guard<'a> {
    /// Wraps a hold on the lock; `died`: the previous holder died (its odd sequence is ours to
    /// end, whatever this thread's hold count says).
    fn new(lock: RecursiveMutexGuard<'a, ()>, mem: &'a Mem, died: bool) -> Guard<'a> {
        let outermost = died || RecursiveMutexGuard::is_outermost(&lock);
        if outermost {
            mem.store(C_SEQ, mem.load(C_SEQ) | 1);
            // The odd value is ordered before every store this holder makes (a finder that
            // reads any of them and then re-reads the sequence sees it changed).
            fence(AtomicOrdering::Release);
        }
        Guard {
            lock,
            mem,
            outermost,
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.outermost {
            let seq = self.mem.load(C_SEQ) | 1;
            self.mem.store_release(C_SEQ, seq.wrapping_add(1));
        }
    }
}

/// Lock-free attempts a find makes before it takes the lock (read-write handles).
const OPTIMISTIC_TRIES: usize = 2;
/// How long a read-only handle (which cannot take the lock) keeps retrying a find that raced
/// a writer, yielding between attempts, before it answers from what it read (a writer that
/// died holding the lock leaves the sequence odd until a read-write handle repairs it).
const READ_ONLY_PATIENCE: std::time::Duration = std::time::Duration::from_millis(10);

/// What [`SegmentManager::named_objects`] and [`unique_objects`](SegmentManager::unique_objects)
/// report for each object.
///
/// # Examples
///
/// ```
/// use shmkit::{ManagedHeapMemory, ShmSafe};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// seg.construct_array("ids", 3, |i| i as u32)?;
/// let info = &seg.named_objects()?[0];
/// assert_eq!((info.name.as_str(), info.len, info.size, info.is_array), ("ids", 3, 12, true));
/// assert_eq!(info.fingerprint, u32::FINGERPRINT);
/// assert_eq!(seg.get_array_by_handle::<u32>(info.handle)?, &[0, 1, 2]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's name (for a unique object, the name of its type as the creating program
    /// spelled it: informative only, the key is the fingerprint).
    pub name: String,
    /// The layout fingerprint of the stored type ([`ShmSafe::FINGERPRINT`]).
    pub fingerprint: u64,
    /// The number of elements: 1 for a single object.
    pub len: usize,
    /// Whether it was constructed as an array (`&[T]`).
    pub is_array: bool,
    /// The value's size in bytes.
    pub size: usize,
    /// Where the value is: [`SegmentManager::get_by_handle`] reaches it.
    pub handle: Handle,
}

/// The objects of a segment and the functions that make, find and destroy them: Boost's
/// `segment_manager`.
///
/// Every managed kind ([`ManagedSharedMemory`](crate::ManagedSharedMemory),
/// [`ManagedMappedFile`](crate::ManagedMappedFile), [`ManagedHeapMemory`](crate::ManagedHeapMemory),
/// [`ManagedExternalBuffer`](crate::ManagedExternalBuffer),
/// [`ManagedXsiSharedMemory`](crate::ManagedXsiSharedMemory)) dereferences to one, so these
/// methods are called on the segment directly. `M` is the [memory algorithm](crate::alloc) and
/// `I` the [name index](super::index).
///
/// # Objects
///
/// | kind | made by | found by | destroyed by |
/// |---|---|---|---|
/// | named | [`construct`](Self::construct), [`construct_with`](Self::construct_with), [`construct_array`](Self::construct_array), [`construct_array_from_iter`](Self::construct_array_from_iter), [`find_or_construct`](Self::find_or_construct) | [`find`](Self::find), [`find_array`](Self::find_array) | [`destroy`](Self::destroy), [`destroy_ptr`](Self::destroy_ptr) |
/// | unique (one per type) | [`construct_unique`](Self::construct_unique), [`find_or_construct_unique`](Self::find_or_construct_unique) | [`find_unique`](Self::find_unique) | [`destroy_unique`](Self::destroy_unique), [`destroy_ptr`](Self::destroy_ptr) |
/// | anonymous | [`construct_anonymous`](Self::construct_anonymous), [`construct_anonymous_array`](Self::construct_anonymous_array) | a reference or [`Handle`] | [`destroy_ptr`](Self::destroy_ptr) |
///
/// Objects are [`ShmSafe`] types, reached as `&T` (mutate them through atomics or shmkit's
/// locks, as in `std::sync`). Each stores its type's layout fingerprint; finding it as another
/// type is [`ErrorKind::TypeMismatch`].
///
/// # References and destruction
///
/// References borrow the segment handle, and the functions that destroy take `&mut self`, so
/// no reference from this handle can outlive its object. Other processes (and other handles
/// of the same segment in this process, which are separate mappings) may still hold references
/// into a destroyed object; since stored types are `ShmSafe` (any bit pattern is a valid
/// value), that is a logic error on their side, not undefined behaviour.
///
/// # Pointers
///
/// The handle registers its mapping in the per-process [`registry`](crate::ptr::registry) under the segment's id
/// for as long as it lives, so [`SegmentPtr`](crate::ptr::SegmentPtr)s,
/// [`SegmentBase`](crate::ptr::SegmentBase) + [`RelPtr`](crate::ptr::RelPtr) and
/// [`ptr::handle_of`](crate::ptr::handle_of) work for objects inside it, in every process that
/// maps it, at whatever address:
///
/// ```
/// use shmkit::{ManagedHeapMemory, ShmSafe, ptr::{self, SegmentPtr}};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Node { next: SegmentPtr<u64> }
///
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let value = seg.construct("value", 42u64)?;
/// let node = seg.construct("node", Node { next: SegmentPtr::null() })?;
/// node.next.set(value)?;
/// assert_eq!(node.next.get()?.cast_const(), value as *const u64);
/// assert_eq!(ptr::handle_of(value)?, seg.handle_of(value)?);
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// # Locking
///
/// One robust, recursive lock guards the segment: every named, unique, anonymous and raw
/// operation takes it (a recursive take is one load and one store), so a constructor closure
/// may itself construct. [`atomic`](Self::atomic) runs a closure under it. If a process died
/// holding it, the next operation repairs the segment first (see the crash-recovery section of
/// the [module docs](super)). Read-only handles take no lock.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use shmkit::{ErrorKind, ManagedHeapMemory};
///
/// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
/// let hits = seg.construct("hits", AtomicU64::new(0))?;
/// hits.fetch_add(1, Ordering::Relaxed);
///
/// let again = seg.find::<AtomicU64>("hits")?.expect("constructed above");
/// assert_eq!(again.load(Ordering::Relaxed), 1);
/// assert_eq!(seg.find::<u32>("hits").unwrap_err().kind(), ErrorKind::TypeMismatch);
///
/// let primes = seg.construct_array("primes", 4, |i| [2u32, 3, 5, 7][i])?;
/// assert_eq!(primes, &[2, 3, 5, 7]);
///
/// assert!(seg.destroy::<AtomicU64>("hits")?);
/// assert!(seg.find::<AtomicU64>("hits")?.is_none());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct SegmentManager<M: MemoryAlgorithm = BestFit, I: NameIndex = HashIndex> {
    // Field order: the registration drops first (the bytes must stay valid while registered),
    // then the algorithm (whose arena borrows `mem`), then `mem`.
    /// This mapping's entry in the pointer registry (`None` only when the bytes lie inside
    /// another registered mapping: a segment nested in another segment's memory).
    _registration: Option<Registration>,
    algo: UnsafeCell<M>,
    mem: Mem,
    area: usize,
    seed: u64,
    mode: Mode,
    _index: PhantomData<I>,
}

// SAFETY: the manager owns its memory (`Mem` is Send) and algorithm (M: Send); nothing in it is
// tied to a thread.
unsafe impl<M: MemoryAlgorithm + Send, I: NameIndex> Send for SegmentManager<M, I> {}
// SAFETY: `&self` methods mutate the algorithm only through `with_algo`, which requires the
// guard of the segment lock: a process-shared recursive mutex held by the calling thread, so
// no other thread is inside; and `with_algo` never runs code that could re-enter it, so no two
// `&mut M` exist at once. Read-only handles never create `&mut M`. All other state is in
// `Mem` (atomic accesses) or immutable.
unsafe impl<M: MemoryAlgorithm + Send, I: NameIndex> Sync for SegmentManager<M, I> {}

impl<M: MemoryAlgorithm, I: NameIndex> fmt::Debug for SegmentManager<M, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentManager")
            .field("size", &self.mem.len())
            .field("index", &I::KIND)
            .field("mode", &self.mode)
            .field("segment_id", &format_args!("{:#018x}", self.seed))
            .finish_non_exhaustive()
    }
}

/// The index's view of a locked segment: its bytes, and the algorithm for index blocks.
struct Locked<'a, M> {
    mem: &'a Mem,
    algo: RefCell<&'a mut M>,
    area: usize,
    seed: u64,
}

impl<M: MemoryAlgorithm> Locked<'_, M> {
    /// Frees the block at `at` (a segment offset) whose header says it is no longer in use,
    /// recording it as in flight so that a crash in between is finished by `repair`.
    fn free_block(&self, at: usize, op: u64) -> Result<()> {
        self.mem.store(C_INFLIGHT, at as u64 | op);
        self.mem.store(at, 0);
        let r = self.algo.borrow_mut().deallocate(at - self.area);
        self.mem.store(C_INFLIGHT, 0);
        r
    }
}

impl<M: MemoryAlgorithm> Space for Locked<'_, M> {
    fn mem(&self) -> &Mem {
        self.mem
    }

    fn seed(&self) -> u64 {
        self.seed
    }

    fn alloc_index_block(&self, kind: u64, payload: usize) -> Result<usize> {
        let off = self.algo.borrow_mut().allocate(IDX_HEADER + payload)?;
        let at = self.area + off;
        write_idx_header(self.mem, self.seed, at, kind, payload);
        Ok(at)
    }

    fn free_index_block(&self, at: usize) -> Result<()> {
        self.free_block(at, INFLIGHT_FREE)
    }
}

/// How a construction treats an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// The value is computed: insert, failing on a duplicate.
    Value,
    /// A closure computes the value: look first, run it only for a free key.
    Closure,
    /// Look first, return an existing object of the right type.
    FindOrConstruct,
}

/// What is being constructed.
struct Spec<'k> {
    kind: InstanceKind,
    key: Key<'k>,
    /// The name area: the key, then (unique objects) the type's name.
    names: &'k [u8],
}

/// Frees an object whose construction did not complete (an error or a panic in a value
/// closure), unless disarmed.
struct Abandon<'s, 'g, M: MemoryAlgorithm, I: NameIndex> {
    seg: &'s SegmentManager<M, I>,
    guard: &'g Guard<'s>,
    at: usize,
    armed: bool,
}

impl<M: MemoryAlgorithm, I: NameIndex> Drop for Abandon<'_, '_, M, I> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self
                .seg
                .with_space(self.guard, |s| s.free_block(self.at, INFLIGHT_FREE));
        }
    }
}

fn invalid_name(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidName,
        format!(
            "object name {name:?} is invalid: names are 1 to {MAX_OBJECT_NAME} bytes without NUL"
        ),
    )
}

fn check_object_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_OBJECT_NAME || name.contains('\0') {
        return Err(invalid_name(name));
    }
    Ok(())
}

fn read_only() -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        "the segment was opened read-only: nothing may change it",
    )
}

fn mismatch(what: &str, found: &ObjHeader, want: &str) -> Error {
    Error::new(
        ErrorKind::TypeMismatch,
        format!(
            "{what} holds {} of fingerprint {:#018x} ({} bytes each), not {want}",
            if found.array {
                format!("an array of {}", found.count)
            } else {
                "an object".to_owned()
            },
            found.fingerprint,
            found.elem_size
        ),
    )
}

impl<M: MemoryAlgorithm, I: NameIndex> SegmentManager<M, I> {
    // ----- formatting and opening -----------------------------------------------------------

    /// The smallest segment: the control page plus the algorithm's smallest area.
    pub(crate) fn min_size() -> usize {
        AREA + M::min_arena_len()
    }

    /// Formats `mem` as an empty segment of `mem.len()` bytes (the creator, before anyone else
    /// can see the bytes).
    pub(crate) fn format(mem: &Mem) -> Result<()> {
        let size = mem.len();
        if size < Self::min_size() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a segment of {size} bytes is too small: at least {} are needed",
                    Self::min_size()
                ),
            ));
        }
        let area_len = (size - AREA) & !15;
        mem.zero(C_FORMAT, AREA - C_FORMAT);
        mem.store(C_INDEX, I::KIND.code());
        mem.store(C_ID, new_segment_id());
        mem.store(C_SIZE, size as u64);
        mem.store(C_AREA_OFF, AREA as u64);
        mem.store(C_AREA_LEN, area_len as u64);
        // SAFETY: the arena is dropped (inside `init`'s result) before this function returns,
        // while `mem` lives.
        let arena = unsafe { mem.arena(AREA, area_len) }?;
        drop(M::init(arena)?);
        mem.store(C_FORMAT, FORMAT);
        Ok(())
    }

    /// Checks the control block of a segment in `mem` (`what` names it in messages); returns
    /// the area's length.
    fn validate(mem: &Mem, what: &str) -> Result<usize> {
        let incompatible = |why: String| Err(Error::new(ErrorKind::Incompatible, why));
        let corrupted = |why: String| Err(Error::new(ErrorKind::Corrupted, why));
        if mem.len() < AREA {
            return corrupted(format!(
                "{what} is a truncated segment: {} bytes, less than its control page",
                mem.len()
            ));
        }
        let format = mem.load(C_FORMAT);
        if format != FORMAT {
            if format & 0xFF_FFFF_FFFF == FORMAT & 0xFF_FFFF_FFFF {
                return incompatible(format!(
                    "{what} is a segment of layout version {}; this shmkit reads version {}",
                    format >> 48,
                    FORMAT >> 48
                ));
            }
            return corrupted(format!("{what}: the segment's control block is not valid"));
        }
        let index = mem.load(C_INDEX);
        if index != I::KIND.code() {
            let found = IndexKind::from_code(index).map_or("an unknown", IndexKind::noun);
            return incompatible(format!(
                "{what} was created with {found} index; it is opened with the {} index",
                I::KIND.noun()
            ));
        }
        if mem.load(C_ID) == 0 {
            return corrupted(format!("{what}: the segment has no id"));
        }
        let size = mem.load(C_SIZE) as usize;
        let area_len = mem.load(C_AREA_LEN) as usize;
        if mem.load(C_AREA_OFF) as usize != AREA
            || !area_len.is_multiple_of(16)
            || area_len < M::min_arena_len()
            || AREA.checked_add(area_len).is_none_or(|end| end > size)
        {
            return corrupted(format!("{what}: the segment's area is described wrongly"));
        }
        if size > mem.len() {
            return corrupted(format!(
                "{what} is a truncated segment: {} bytes, the segment has {size}",
                mem.len()
            ));
        }
        Ok(area_len)
    }

    /// Opens the segment in `mem` (validated), as `mode`.
    pub(crate) fn attach(mem: Mem, mode: Mode, what: &str) -> Result<Self> {
        let area_len = Self::validate(&mem, what)?;
        if mode == Mode::CopyOnWrite {
            // This private copy has no other users: a lock word copied while another process
            // held the lock would never be released here, so start unlocked (and repair below,
            // as if the holder had died at the moment of the copy).
            // SAFETY: no reference to the lock exists yet (the segment is being opened), and
            // the mapping is private to this process.
            unsafe { mem.put(C_LOCK, RecursiveMutex::new(())) }?;
        }
        // SAFETY: the algorithm is stored in the returned manager next to `mem`, and dropped
        // before it (field order).
        let arena = unsafe { mem.arena(AREA, area_len) }?;
        let algo = M::open(arena)?;
        let seed = mem.load(C_ID);
        let registration = Self::register(&mem, seed, mode != Mode::ReadOnly)?;
        let seg = Self::assemble(registration, algo, mem, seed, mode);
        if mode == Mode::CopyOnWrite {
            let g = seg.lock()?;
            seg.repair(&g)?;
        }
        Ok(seg)
    }

    /// Grows the area to the end of `mem` (offline: nobody else has the segment open).
    pub(crate) fn grow_in_place(mem: Mem, what: &str) -> Result<Self> {
        Self::validate(&mem, what)?;
        let size = mem.len();
        let area_len = (size - AREA) & !15;
        // SAFETY: as in `attach`.
        let arena = unsafe { mem.arena(AREA, area_len) }?;
        let algo = M::grow(arena)?;
        mem.store(C_AREA_LEN, area_len as u64);
        mem.store(C_SIZE, size as u64);
        let seed = mem.load(C_ID);
        // A heap segment's grown buffer is at a new address: registered anew here, while the
        // old handle (and its registration) drops when the caller replaces it.
        let registration = Self::register(&mem, seed, true)?;
        Ok(Self::assemble(
            registration,
            algo,
            mem,
            seed,
            Mode::ReadWrite,
        ))
    }

    /// A manager from its parts (the arena of `algo` lies in `mem`, at `AREA`).
    fn assemble(
        registration: Option<Registration>,
        algo: M,
        mem: Mem,
        seed: u64,
        mode: Mode,
    ) -> Self {
        SegmentManager {
            _registration: registration,
            algo: UnsafeCell::new(algo),
            mem,
            area: AREA,
            seed,
            mode,
            _index: PhantomData,
        }
    }

    /// A heap copy of the segment's bytes, `len` long, for growing a heap segment: taken under
    /// the segment lock (a collection moved out of the segment may be freeing memory from
    /// another thread through the registry, without this handle), with the copy's lock word
    /// reset (it would otherwise name this thread as its holder forever).
    pub(crate) fn locked_heap_copy(&self, len: usize) -> Result<Mem> {
        let g = self.lock()?;
        let mem = self.mem.heap_copy(len)?;
        drop(g);
        // SAFETY: nothing refers to the copy yet; the lock's bytes are only ever accessed as a
        // `RecursiveMutex<()>`.
        unsafe { mem.put(C_LOCK, RecursiveMutex::new(())) }?;
        // The copy was taken under the lock: end its (odd) change sequence.
        mem.store(C_SEQ, (mem.load(C_SEQ) | 1).wrapping_add(1));
        Ok(mem)
    }

    /// Registers the whole of `mem` in the per-process pointer registry as a mapping of segment
    /// `seed` (validated non-zero), so that segment-relative pointers and
    /// [`ptr::handle_of`](crate::ptr::handle_of) work for objects inside. Two handles of one
    /// segment are two mappings at different addresses with the same id, which the registry
    /// accepts. Bytes that lie inside another registered mapping (a segment built in memory
    /// allocated from another segment) stay unregistered: pointers there resolve against the
    /// outer segment, as they did before.
    ///
    /// Writable handles register the segment's allocation entry points with the mapping
    /// ([`SegmentHooks`]), which is how a collection allocates from the segment its header is in.
    fn register(mem: &Mem, seed: u64, writable: bool) -> Result<Option<Registration>> {
        let id = SegmentId::from_u64(seed)
            .ok_or_else(|| Error::new(ErrorKind::Corrupted, "the segment has no id (it is 0)"))?;
        let hooks = writable.then_some(Self::HOOKS);
        // SAFETY: the registration is stored in the manager that owns `mem` and is dropped
        // before it (field order), so the bytes stay valid while registered; they are a
        // mapping, a heap buffer only the segment layer accesses, or a buffer the caller lent
        // exclusively for the segment's lifetime (`Mem`'s constructors' contracts), and no
        // Rust code moves values inside them: the segment places objects and never relocates
        // them (growing a heap segment copies the bytes to a new buffer while no reference into
        // the old one lives, and the new buffer gets its own registration).
        // The hooks operate on the segment laid out in these bytes (validated by the caller,
        // `attach` or `grow_in_place`), with this manager's algorithm and index.
        match unsafe { registry::register_with_hooks(mem.base(), mem.len(), id, hooks) } {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == ErrorKind::Busy => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The entry points registered with writable mappings (one table per algorithm and index).
    const HOOKS: &'static SegmentHooks = &SegmentHooks {
        allocate: Self::hook_allocate,
        deallocate: Self::hook_deallocate,
        grow_in_place: Self::hook_grow_in_place,
    };

    /// A manager over the bytes of a segment another manager of this process has open (and
    /// registered with these hooks): no registration of its own, nothing freed when it drops.
    ///
    /// # Safety
    ///
    /// `base..base + len` is a registered, writable mapping of a segment of this algorithm and
    /// index, and stays mapped while the returned manager lives.
    unsafe fn borrowed_view(base: *mut u8, len: usize) -> Result<Self> {
        // SAFETY: the bytes stay valid while the view lives (our contract). They are shared
        // with their owner and other processes, which `Mem` allows: it reads and writes them
        // with atomic accesses, or through typed views whose contracts cover concurrency,
        // exactly as the owner's `Mem` does.
        let mem = unsafe { Mem::borrowed(base, len) }?;
        let area_len = Self::validate(&mem, "the segment")?;
        // SAFETY: the arena lives in the returned manager next to `mem`, dropped before it.
        let arena = unsafe { mem.arena(AREA, area_len) }?;
        let algo = M::open(arena)?;
        let seed = mem.load(C_ID);
        Ok(Self::assemble(None, algo, mem, seed, Mode::ReadWrite))
    }

    /// [`SegmentHooks::allocate`].
    ///
    /// # Safety
    ///
    /// As [`borrowed_view`](Self::borrowed_view).
    unsafe fn hook_allocate(base: *mut u8, len: usize, size: usize, align: usize) -> Result<u64> {
        // SAFETY: the caller's contract is `borrowed_view`'s.
        let seg = unsafe { Self::borrowed_view(base, len) }?;
        let h = if align <= 16 {
            seg.allocate(size)?
        } else {
            seg.allocate_aligned(size, align)?
        };
        Ok(h.as_u64())
    }

    /// [`SegmentHooks::deallocate`].
    ///
    /// # Safety
    ///
    /// As [`borrowed_view`](Self::borrowed_view).
    unsafe fn hook_deallocate(base: *mut u8, len: usize, offset: u64) -> Result<()> {
        // SAFETY: the caller's contract is `borrowed_view`'s.
        let seg = unsafe { Self::borrowed_view(base, len) }?;
        seg.deallocate(Handle::from_u64(offset))
    }

    /// [`SegmentHooks::grow_in_place`].
    ///
    /// # Safety
    ///
    /// As [`borrowed_view`](Self::borrowed_view).
    unsafe fn hook_grow_in_place(
        base: *mut u8,
        len: usize,
        offset: u64,
        min: usize,
        preferred: usize,
    ) -> Result<Option<usize>> {
        // SAFETY: the caller's contract is `borrowed_view`'s.
        let seg = unsafe { Self::borrowed_view(base, len) }?;
        let g = seg.lock()?;
        let at = seg.raw_block(&g, Handle::from_u64(offset))?;
        match seg.with_algo(&g, |a| a.expand_fwd(at - seg.area, min, preferred)) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::OutOfMemory => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Shrinks the area to its last allocated block (offline); returns the new segment size.
    pub(crate) fn shrink_in_place(&self) -> Result<usize> {
        let g = self.lock()?;
        let area_len = self.with_algo(&g, |a| a.shrink_to_fit())?;
        let size = AREA + area_len;
        self.mem.store(C_AREA_LEN, area_len as u64);
        self.mem.store(C_SIZE, size as u64);
        Ok(size)
    }

    /// Writes a ready named-object header over a process-local segment (heap or buffer), so
    /// that its bytes look exactly like a shared one's.
    pub(crate) fn stamp_local(mem: &Mem) -> Result<()> {
        // SAFETY: the header's bytes are only accessed as a `Header` (atomics) by the segment
        // layer, and the memory is process-local and not yet handed out.
        let h = unsafe { mem.get::<Header>(0) }?;
        object::stamp_local(h, segment_layout(Kind::Segment));
        Ok(())
    }

    /// Checks the named-object header of a process-local segment.
    pub(crate) fn check_local(mem: &Mem, what: &str) -> Result<()> {
        if mem.len() < HEADER_SIZE {
            return Err(Error::new(
                ErrorKind::Incompatible,
                format!("{what} is too small to hold a segment"),
            ));
        }
        // SAFETY: as in `stamp_local`.
        let h = unsafe { mem.get::<Header>(0) }?;
        object::check_local(what, h, segment_layout(Kind::Segment), mem.len())
    }

    /// The bytes.
    pub(crate) fn mem(&self) -> &Mem {
        &self.mem
    }

    // ----- the lock ---------------------------------------------------------------------------

    fn lock_word(&self) -> Result<&RecursiveMutex<()>> {
        // SAFETY: the lock's bytes are only ever accessed as a `RecursiveMutex<()>` (formatting
        // writes zeros before the segment is published, and a copy-on-write open resets it
        // before any reference exists).
        unsafe { self.mem.get::<RecursiveMutex<()>>(C_LOCK) }
    }

    /// Takes the segment lock, repairing the segment first if its previous holder died.
    fn lock(&self) -> Result<Guard<'_>> {
        if self.mode == Mode::ReadOnly {
            return Err(read_only());
        }
        match self.lock_word()?.lock() {
            Ok(g) => Ok(Guard::new(g, &self.mem, false)),
            Err(died) => self.recover(died.into_inner()),
        }
    }

    /// A hold taken from a holder that died: repairs the segment, then marks the lock
    /// consistent.
    fn recover<'a>(&'a self, lock: RecursiveMutexGuard<'a, ()>) -> Result<Guard<'a>> {
        let mut g = Guard::new(lock, &self.mem, true);
        if let Err(e) = self.repair(&g) {
            // The segment is not repaired: leave the change sequence odd, so lock-free finds
            // go to the lock (and meet the error) instead of reading the broken state.
            g.outermost = false;
            return Err(e);
        }
        RecursiveMutexGuard::mark_consistent(&mut g.lock);
        Ok(g)
    }

    /// The lock for reading: taken in read-write modes, not in read-only mode (whose reads are
    /// validated and take no lock).
    fn read_lock(&self) -> Result<Option<Guard<'_>>> {
        if self.mode == Mode::ReadOnly {
            Ok(None)
        } else {
            self.lock().map(Some)
        }
    }

    /// Looks `spec` up in the index at `root` and checks that it holds `T`s (an array if
    /// `array`), without the lock unless a writer gets in the way ([`read_consistent`]).
    ///
    /// [`read_consistent`]: Self::read_consistent
    fn find_typed<T: ShmSafe>(
        &self,
        root: usize,
        spec: &Spec<'_>,
        array: bool,
    ) -> Result<Option<ObjHeader>> {
        self.read_consistent(|| {
            match index::find(I::KIND, &self.mem, self.seed, root, &spec.key)? {
                None => Ok(None),
                Some(h) => self
                    .typed::<T>(h, spec.kind, Some(array), &|| self.describe(spec))
                    .map(Some),
            }
        })
    }

    /// Runs `read` (a lookup that validates everything it reads) so that its answer is one the
    /// segment held at some moment: without the lock while no writer runs meanwhile, else under
    /// the lock (read-write handles) or from a last unchecked attempt (read-only handles).
    fn read_consistent<R>(&self, read: impl Fn() -> Result<R>) -> Result<R> {
        if let Some(r) = self.optimistic(&read) {
            return r;
        }
        if self.mode == Mode::ReadOnly {
            let start = std::time::Instant::now();
            while start.elapsed() < READ_ONLY_PATIENCE {
                std::thread::yield_now();
                if let Some(r) = self.optimistic(&read) {
                    return r;
                }
            }
            return read();
        }
        let _g = self.lock()?;
        read()
    }

    /// Up to [`OPTIMISTIC_TRIES`] lock-free runs of `read`; `None` if a writer held the lock
    /// or ran during each of them.
    fn optimistic<R>(&self, read: &impl Fn() -> Result<R>) -> Option<Result<R>> {
        for _ in 0..OPTIMISTIC_TRIES {
            let seq = self.mem.load_acquire(C_SEQ);
            if seq & 1 == 1 {
                return None;
            }
            let r = read();
            // Orders the lookup's loads before the second read of the sequence.
            fence(AtomicOrdering::Acquire);
            if self.mem.load(C_SEQ) == seq {
                return Some(r);
            }
        }
        None
    }

    /// Runs `f` on the algorithm; the guard proves the lock is held.
    fn with_algo<R>(&self, _guard: &Guard<'_>, f: impl FnOnce(&mut M) -> R) -> R {
        // SAFETY: the guard proves this thread holds the segment lock, so no other thread is in
        // here; `f` is always a short sequence of algorithm and index calls that never reaches
        // user code or another `with_algo`, so this is the only `&mut M` while it runs.
        f(unsafe { &mut *self.algo.get() })
    }

    /// The algorithm for reading, without the lock: read-only handles (which never mutate it).
    fn algo_ref(&self) -> &M {
        debug_assert_eq!(self.mode, Mode::ReadOnly);
        // SAFETY: in read-only mode no `&mut M` is ever created (every mutation is refused
        // before reaching `with_algo`), so shared references are fine.
        unsafe { &*self.algo.get() }
    }

    fn with_space<R>(&self, guard: &Guard<'_>, f: impl FnOnce(&Locked<'_, M>) -> R) -> R {
        self.with_algo(guard, |algo| {
            let s = Locked {
                mem: &self.mem,
                algo: RefCell::new(algo),
                area: self.area,
                seed: self.seed,
            };
            f(&s)
        })
    }

    fn named_index(&self) -> Result<()> {
        if I::KIND == IndexKind::Null {
            Err(Error::new(
                ErrorKind::Unsupported,
                "this segment has a null index: named and unique objects are not supported",
            ))
        } else {
            Ok(())
        }
    }

    fn root(kind: InstanceKind) -> usize {
        if kind == InstanceKind::Unique {
            C_UNIQUE
        } else {
            C_NAMED
        }
    }

    // ----- crash repair -----------------------------------------------------------------------

    /// Repairs the segment after a process died holding its lock: the algorithm's own repair,
    /// then the in-flight block, then the indexes rebuilt from the live object headers.
    fn repair(&self, g: &Guard<'_>) -> Result<()> {
        let mem = &self.mem;
        let seed = self.seed;
        self.with_space(g, |s| {
            s.algo.borrow_mut().repair()?;
            // The block an interrupted operation was creating or freeing.
            let inflight = mem.load(C_INFLIGHT);
            if inflight != 0 {
                let at = (inflight & !15) as usize;
                let op = inflight & 15;
                let allocated = at >= self.area && s.algo.borrow().size_of(at - self.area).is_ok();
                let keep = op != INFLIGHT_RAW_FREE && mem.contains(at, 8) && mem.load(at) == LIVE;
                if allocated && !keep {
                    mem.store(at, 0);
                    s.algo.borrow_mut().deallocate(at - self.area)?;
                }
                mem.store(C_INFLIGHT, 0);
            }
            // Every allocated block: live objects to index, abandoned constructions and index
            // blocks to free.
            let mut live = Vec::new();
            let mut free = Vec::new();
            s.algo.borrow().for_each_allocated(|off, size| {
                let at = self.area + off;
                if size >= OBJ_HEADER {
                    let state = mem.load(at + O_STATE);
                    if (state == LIVE || state == CONSTRUCTING)
                        && let Some(h) = ObjHeader::read(mem, seed, at)
                    {
                        if state == LIVE {
                            live.push(h);
                        } else {
                            free.push(at);
                        }
                        return Ok(());
                    }
                }
                if size >= IDX_HEADER && is_idx_block(mem, seed, at) {
                    free.push(at);
                }
                Ok(())
            })?;
            for &at in &free {
                mem.store(at, 0);
                s.algo.borrow_mut().deallocate(at - self.area)?;
            }
            index::reset(mem, C_NAMED);
            index::reset(mem, C_UNIQUE);
            if I::KIND != IndexKind::Null {
                // Size the hash tables once, in the space the old index blocks left.
                let named = live
                    .iter()
                    .filter(|h| h.kind == InstanceKind::Named)
                    .count();
                let unique = live
                    .iter()
                    .filter(|h| h.kind == InstanceKind::Unique)
                    .count();
                for (root, n) in [(C_NAMED, named), (C_UNIQUE, unique)] {
                    if n > 0 {
                        index::reserve(I::KIND, s, root, n)?;
                    }
                }
            }
            for h in live {
                if h.kind == InstanceKind::Anonymous || I::KIND == IndexKind::Null {
                    continue;
                }
                let names = h.read_names(mem)?;
                let key = Key::new(seed, &names[..h.key_len], I::KIND);
                match index::insert(I::KIND, s, Self::root(h.kind), &key, h.at) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        // Two live objects with one key (only forged bytes do that): keep one.
                        s.free_block(h.at, INFLIGHT_FREE)?;
                    }
                    Err(e) => return Err(e),
                }
            }
            mem.store(C_REPAIRS, mem.load(C_REPAIRS).wrapping_add(1));
            Ok(())
        })
    }

    // ----- construction -----------------------------------------------------------------------

    /// The common path of every construction: under the lock, finds the key (returning the
    /// existing object's header if `find_existing`, else `AlreadyExists`), allocates, writes
    /// the header and names, runs `fill(value_offset)`, indexes and publishes.
    ///
    /// `How::Value` skips the lookup before allocating (no user code runs, and the insertion
    /// detects a duplicate anyway, freeing the block again); `How::Closure` looks first, so a
    /// closure runs only for a free name; `How::FindOrConstruct` returns an existing object.
    fn construct_raw<T: ShmSafe>(
        &self,
        spec: Spec<'_>,
        count: usize,
        array: bool,
        how: How,
        fill: impl FnOnce(&Mem, usize) -> Result<()>,
    ) -> Result<ObjHeader> {
        const {
            assert!(
                align_of::<T>() <= MAX_ALIGN,
                "objects are aligned to a page at most"
            )
        };
        let g = self.lock()?;
        let root = Self::root(spec.kind);
        let find_existing = how == How::FindOrConstruct;
        if spec.kind != InstanceKind::Anonymous {
            self.named_index()?;
        }
        if spec.kind != InstanceKind::Anonymous
            && how != How::Value
            && let Some(h) = index::find(I::KIND, &self.mem, self.seed, root, &spec.key)?
        {
            if !find_existing {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{} already exists", self.describe(&spec)),
                ));
            }
            return self.typed::<T>(h, spec.kind, Some(array), &|| self.describe(&spec));
        }
        let align = align_of::<T>();
        if !self.mem.base().addr().is_multiple_of(align) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the segment's buffer is not aligned enough for a type aligned to {align}"),
            ));
        }
        let bytes = count.checked_mul(size_of::<T>());
        let total = bytes
            .and_then(|b| b.checked_next_multiple_of(8))
            .and_then(|b| b.checked_add(OBJ_HEADER + align.saturating_sub(16)))
            .and_then(|b| b.checked_add(spec.names.len().next_multiple_of(8)))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::OutOfMemory,
                    format!("an array of {count} elements does not fit in memory"),
                )
            })?;
        let off = self.with_algo(&g, |a| a.allocate(total))?;
        let at = self.area + off;
        self.mem.store(C_INFLIGHT, at as u64 | INFLIGHT_NEW_OBJECT);
        let h = ObjHeader {
            at,
            fingerprint: T::FINGERPRINT,
            count,
            elem_size: size_of::<T>(),
            align,
            kind: spec.kind,
            array,
            name_len: spec.names.len(),
            key_len: spec.key.bytes.len(),
        };
        debug_assert!(h.extent() <= total && value_pad(at, align) >= OBJ_HEADER);
        h.write(&self.mem, self.seed);
        write_padded(&self.mem, h.names(), spec.names);
        self.mem.store(at + O_STATE, CONSTRUCTING);
        self.mem.store(C_INFLIGHT, 0);
        let mut abandon = Abandon {
            seg: self,
            guard: &g,
            at,
            armed: true,
        };
        fill(&self.mem, h.value())?;
        if spec.kind != InstanceKind::Anonymous {
            self.with_space(&g, |s| index::insert(I::KIND, s, root, &spec.key, at))
                .map_err(|e| {
                    if e.kind() == ErrorKind::AlreadyExists {
                        // A value closure constructed the same name meanwhile.
                        Error::new(
                            ErrorKind::AlreadyExists,
                            format!("{} already exists", self.describe(&spec)),
                        )
                    } else {
                        e
                    }
                })?;
        }
        // The commit: from here on the object survives any crash.
        self.mem.store_release(at + O_STATE, LIVE);
        abandon.armed = false;
        Ok(h)
    }

    fn describe(&self, spec: &Spec<'_>) -> String {
        match spec.kind {
            InstanceKind::Named => format!("object {:?}", String::from_utf8_lossy(spec.key.bytes)),
            InstanceKind::Unique => format!(
                "the unique {}",
                String::from_utf8_lossy(&spec.names[spec.key.bytes.len()..])
            ),
            InstanceKind::Anonymous => "anonymous object".to_owned(),
        }
    }

    /// Checks that the live object `h` (validated by the caller) holds `T`s of `kind` (single
    /// if `array` is `Some(false)`, an array if `Some(true)`, either if `None`); `what` names it
    /// in errors.
    fn typed<T: ShmSafe>(
        &self,
        h: ObjHeader,
        kind: InstanceKind,
        array: Option<bool>,
        what: &dyn Fn() -> String,
    ) -> Result<ObjHeader> {
        if h.kind != kind {
            return Err(Error::new(
                ErrorKind::Corrupted,
                format!("{}: the index points to a {:?} object", what(), h.kind),
            ));
        }
        if h.fingerprint != T::FINGERPRINT
            || h.elem_size != size_of::<T>()
            || h.align != align_of::<T>()
        {
            return Err(self.type_error::<T>(&h, what, ""));
        }
        match array {
            Some(false) if h.array => Err(self.type_error::<T>(&h, what, ": use find_array")),
            Some(true) if !h.array => Err(self.type_error::<T>(&h, what, ": use find")),
            _ if !h.array && h.count != 1 => Err(Error::new(
                ErrorKind::Corrupted,
                format!("{}: a single object with {} elements", what(), h.count),
            )),
            _ => Ok(h),
        }
    }

    #[cold]
    fn type_error<T: ShmSafe>(
        &self,
        h: &ObjHeader,
        what: &dyn Fn() -> String,
        hint: &str,
    ) -> Error {
        let want = std::any::type_name::<T>();
        mismatch(
            &what(),
            h,
            &format!("{want} (fingerprint {:#018x}){hint}", T::FINGERPRINT),
        )
    }

    fn single<T: ShmSafe>(&self, h: &ObjHeader) -> Result<&T> {
        // SAFETY: `h` is a live object holding one `T` (fingerprint, size and alignment
        // checked); its value bytes are only accessed through shared references to `T` by this
        // handle, and only `destroy*` (which takes `&mut self`) ends the object.
        unsafe { self.mem.get::<T>(h.value()) }
    }

    /// Runs the destructors of the object's values (a collection frees its memory), under the
    /// lock, before the object is removed. Collections empty their header before freeing, so a
    /// crash in here leaves the object live with emptied values, never a double free.
    fn drop_values<T: ShmSafe>(&self, _guard: &Guard<'_>, h: &ObjHeader) -> Result<()> {
        if !std::mem::needs_drop::<T>() {
            return Ok(());
        }
        let values = self.slice::<T>(h)?;
        let values = std::ptr::slice_from_raw_parts_mut(values.as_ptr().cast_mut(), values.len());
        // SAFETY: `h` is a live object of `count` `T`s (type checked by the caller); destroying
        // takes `&mut self`, so no reference from this handle to them lives, and they are
        // dropped once: the object is removed right after (the caller holds the lock). Other
        // processes still using the object is the logic error Boost's destroy has too; the
        // values are `ShmSafe`, so their bytes stay valid whatever happens to them.
        unsafe { std::ptr::drop_in_place(values) };
        Ok(())
    }

    fn slice<T: ShmSafe>(&self, h: &ObjHeader) -> Result<&[T]> {
        // SAFETY: as in `single`, for the object's `count` elements.
        unsafe { self.mem.get_slice::<T>(h.value(), h.count) }
    }

    fn named_spec<'k>(&self, name: &'k str) -> Result<Spec<'k>> {
        self.named_index()?;
        check_object_name(name)?;
        Ok(Spec {
            kind: InstanceKind::Named,
            key: Key::new(self.seed, name.as_bytes(), I::KIND),
            names: name.as_bytes(),
        })
    }

    fn unique_names<T: ShmSafe>() -> Vec<u8> {
        let mut v = T::FINGERPRINT.to_le_bytes().to_vec();
        let ty = std::any::type_name::<T>().as_bytes();
        v.extend_from_slice(&ty[..ty.len().min(MAX_OBJECT_NAME)]);
        v
    }

    fn unique_spec<'k>(&self, names: &'k [u8]) -> Result<Spec<'k>> {
        self.named_index()?;
        Ok(Spec {
            kind: InstanceKind::Unique,
            key: Key::new(self.seed, &names[..8], I::KIND),
            names,
        })
    }

    fn put_one<T: ShmSafe>(mem: &Mem, at: usize, value: T) -> Result<()> {
        // SAFETY: `at` is the value offset of an object under construction: freshly allocated,
        // not yet published (no process can reach it), and no reference to it exists.
        unsafe { mem.put(at, value) }
    }

    fn fill_array<T: ShmSafe>(
        mem: &Mem,
        at: usize,
        n: usize,
        mut next: impl FnMut(usize) -> Option<T>,
    ) -> Result<()> {
        for i in 0..n {
            let v = next(i).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("the iterator ended after {i} of the {n} elements it promised"),
                )
            })?;
            Self::put_one(mem, at + i * size_of::<T>(), v)?;
        }
        Ok(())
    }

    /// Constructs the named object `name` holding `value` (Boost's
    /// `construct<T>(name)(args)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`] if `name` is taken (by any type);
    /// [`ErrorKind::OutOfMemory`] if the segment is full (nothing changes);
    /// [`ErrorKind::InvalidName`] for an empty name, one over 65,535 bytes or one with NUL;
    /// [`ErrorKind::PermissionDenied`] on a read-only handle; [`ErrorKind::Unsupported`] with
    /// the null index; [`ErrorKind::Corrupted`] if the segment's structures are broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let pi = seg.construct("pi", 3.14159f64)?;
    /// assert_eq!(*pi, 3.14159);
    /// assert_eq!(seg.construct("pi", 3.0f64).unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn construct<T: ShmSafe>(&self, name: &str, value: T) -> Result<&T> {
        let h =
            self.construct_raw::<T>(self.named_spec(name)?, 1, false, How::Value, |mem, at| {
                Self::put_one(mem, at, value)
            })?;
        self.single(&h)
    }

    /// Constructs the named object `name` from `f()`, which runs only if the name is free
    /// (under the segment lock: it may construct other objects, not this name).
    ///
    /// # Errors
    ///
    /// As [`construct`](Self::construct).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let table = seg.construct_with("squares", || std::array::from_fn::<u32, 8, _>(|i| (i * i) as u32))?;
    /// assert_eq!(table[7], 49);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn construct_with<T: ShmSafe>(&self, name: &str, f: impl FnOnce() -> T) -> Result<&T> {
        let h =
            self.construct_raw::<T>(self.named_spec(name)?, 1, false, How::Closure, |mem, at| {
                Self::put_one(mem, at, f())
            })?;
        self.single(&h)
    }

    /// Constructs the named array `name` of `n` elements, element `i` being `f(i)` (Boost's
    /// `construct<T>(name)[n](args)`).
    ///
    /// # Errors
    ///
    /// As [`construct`](Self::construct).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct_array("evens", 5, |i| 2 * i as u64)?;
    /// assert_eq!(v, &[0, 2, 4, 6, 8]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn construct_array<T: ShmSafe>(
        &self,
        name: &str,
        n: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<&[T]> {
        let h =
            self.construct_raw::<T>(self.named_spec(name)?, n, true, How::Closure, |mem, at| {
                Self::fill_array(mem, at, n, |i| Some(f(i)))
            })?;
        self.slice(&h)
    }

    /// Constructs the named array `name` from the elements of `iter` (Boost's `construct_it`).
    ///
    /// # Errors
    ///
    /// As [`construct`](Self::construct); [`ErrorKind::InvalidArgument`] if the iterator yields
    /// fewer elements than its `len()` promised (nothing is constructed).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct_array_from_iter("bytes", b"hello".iter().copied())?;
    /// assert_eq!(v, b"hello");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn construct_array_from_iter<T: ShmSafe, It>(&self, name: &str, iter: It) -> Result<&[T]>
    where
        It: IntoIterator<Item = T>,
        It::IntoIter: ExactSizeIterator,
    {
        let mut it = iter.into_iter();
        let n = it.len();
        let h =
            self.construct_raw::<T>(self.named_spec(name)?, n, true, How::Closure, |mem, at| {
                Self::fill_array(mem, at, n, |_| it.next())
            })?;
        self.slice(&h)
    }

    /// Finds the named single object `name` of type `T`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TypeMismatch`] if `name` holds another type (a different layout
    /// fingerprint) or an array; [`ErrorKind::InvalidName`]; [`ErrorKind::Unsupported`] with
    /// the null index; [`ErrorKind::Corrupted`] if the index or the object header is broken (on
    /// a read-only handle this can also be a find racing with a writer: retry).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct("n", 5u16)?;
    /// assert_eq!(seg.find::<u16>("n")?, Some(&5));
    /// assert_eq!(seg.find::<u16>("m")?, None);
    /// assert_eq!(seg.find::<i16>("n").unwrap_err().kind(), ErrorKind::TypeMismatch);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn find<T: ShmSafe>(&self, name: &str) -> Result<Option<&T>> {
        let spec = self.named_spec(name)?;
        match self.find_typed::<T>(C_NAMED, &spec, false)? {
            None => Ok(None),
            Some(h) => self.single(&h).map(Some),
        }
    }

    /// Finds the named array `name` of `T`s.
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find) (a single object is a [`ErrorKind::TypeMismatch`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct_array("v", 3, |i| i as u8)?;
    /// assert_eq!(seg.find_array::<u8>("v")?, Some(&[0u8, 1, 2][..]));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn find_array<T: ShmSafe>(&self, name: &str) -> Result<Option<&[T]>> {
        let spec = self.named_spec(name)?;
        match self.find_typed::<T>(C_NAMED, &spec, true)? {
            None => Ok(None),
            Some(h) => self.slice(&h).map(Some),
        }
    }

    /// Finds the named object `name`, or constructs it from `f()` if it does not exist: under
    /// the segment lock, so when several processes race exactly one constructs and the others
    /// find its object.
    ///
    /// # Errors
    ///
    /// As [`construct`](Self::construct) (without `AlreadyExists`) and [`find`](Self::find).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// for _ in 0..3 {
    ///     seg.find_or_construct("visits", || AtomicU32::new(0))?.fetch_add(1, Ordering::Relaxed);
    /// }
    /// assert_eq!(seg.find::<AtomicU32>("visits")?.unwrap().load(Ordering::Relaxed), 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn find_or_construct<T: ShmSafe>(&self, name: &str, f: impl FnOnce() -> T) -> Result<&T> {
        let h = self.construct_raw::<T>(
            self.named_spec(name)?,
            1,
            false,
            How::FindOrConstruct,
            |mem, at| Self::put_one(mem, at, f()),
        )?;
        self.single(&h)
    }

    /// Finds the named array `name`, or constructs it with `n` elements `f(i)`; atomic as
    /// [`find_or_construct`](Self::find_or_construct). An existing array keeps its length.
    ///
    /// # Errors
    ///
    /// As [`find_or_construct`](Self::find_or_construct).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.find_or_construct_array("slots", 4, |_| 0u64)?;
    /// let b = seg.find_or_construct_array("slots", 9, |_| 1u64)?;
    /// assert_eq!((a.len(), b.len()), (4, 4));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn find_or_construct_array<T: ShmSafe>(
        &self,
        name: &str,
        n: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<&[T]> {
        let h = self.construct_raw::<T>(
            self.named_spec(name)?,
            n,
            true,
            How::FindOrConstruct,
            |mem, at| Self::fill_array(mem, at, n, |i| Some(f(i))),
        )?;
        self.slice(&h)
    }

    /// Destroys the named object (single or array) `name` of type `T`; `Ok(false)` if there is
    /// none. Takes `&mut self`: no reference from this handle may outlive the object.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TypeMismatch`] if `name` holds another type (nothing changes); as
    /// [`construct`](Self::construct) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct("tmp", 1u8)?;
    /// assert!(seg.destroy::<u8>("tmp")?);
    /// assert!(!seg.destroy::<u8>("tmp")?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn destroy<T: ShmSafe>(&mut self, name: &str) -> Result<bool> {
        let spec = self.named_spec(name)?;
        self.destroy_key::<T>(spec)
    }

    fn destroy_key<T: ShmSafe>(&self, spec: Spec<'_>) -> Result<bool> {
        let g = self.lock()?;
        let root = Self::root(spec.kind);
        if std::mem::needs_drop::<T>() {
            match index::find(I::KIND, &self.mem, self.seed, root, &spec.key)? {
                None => return Ok(false),
                Some(h) => {
                    let h = self.typed::<T>(h, spec.kind, None, &|| self.describe(&spec))?;
                    self.drop_values::<T>(&g, &h)?;
                }
            }
        }
        self.with_space(&g, |s| {
            let mut check = |h: &ObjHeader| {
                self.typed::<T>(*h, spec.kind, None, &|| self.describe(&spec))
                    .map(drop)
            };
            match index::remove(I::KIND, s, root, &spec.key, &mut check)? {
                Some(h) => s.free_block(h.at, INFLIGHT_FREE).map(|()| true),
                None => Ok(false),
            }
        })
    }

    // ----- unique and anonymous ---------------------------------------------------------------

    /// Constructs the unique object of type `T` (one per type, keyed by
    /// [`T::FINGERPRINT`](ShmSafe::FINGERPRINT); Boost's `unique_instance`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`] if a `T` exists; otherwise as
    /// [`construct`](Self::construct).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct_unique(99u32)?;
    /// assert_eq!(seg.find_unique::<u32>()?, Some(&99));
    /// assert_eq!(seg.find_unique::<u64>()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn construct_unique<T: ShmSafe>(&self, value: T) -> Result<&T> {
        let names = Self::unique_names::<T>();
        let spec = self.unique_spec(&names)?;
        let h = self.construct_raw::<T>(spec, 1, false, How::Value, |mem, at| {
            Self::put_one(mem, at, value)
        })?;
        self.single(&h)
    }

    /// Finds the unique object of type `T`, or constructs it from `f()` (atomic, as
    /// [`find_or_construct`](Self::find_or_construct)).
    ///
    /// # Errors
    ///
    /// As [`construct_unique`](Self::construct_unique), without `AlreadyExists`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(*seg.find_or_construct_unique(|| 1i64)?, 1);
    /// assert_eq!(*seg.find_or_construct_unique(|| 2i64)?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn find_or_construct_unique<T: ShmSafe>(&self, f: impl FnOnce() -> T) -> Result<&T> {
        let names = Self::unique_names::<T>();
        let spec = self.unique_spec(&names)?;
        let h = self.construct_raw::<T>(spec, 1, false, How::FindOrConstruct, |mem, at| {
            Self::put_one(mem, at, f())
        })?;
        self.single(&h)
    }

    /// Finds the unique object of type `T`.
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(seg.find_unique::<u8>()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn find_unique<T: ShmSafe>(&self) -> Result<Option<&T>> {
        let names = Self::unique_names::<T>();
        let spec = self.unique_spec(&names)?;
        match self.find_typed::<T>(C_UNIQUE, &spec, false)? {
            None => Ok(None),
            Some(h) => self.single(&h).map(Some),
        }
    }

    /// Destroys the unique object of type `T`; `Ok(false)` if there is none.
    ///
    /// # Errors
    ///
    /// As [`destroy`](Self::destroy).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct_unique(1u16)?;
    /// assert!(seg.destroy_unique::<u16>()?);
    /// assert_eq!(seg.find_unique::<u16>()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn destroy_unique<T: ShmSafe>(&mut self) -> Result<bool> {
        let names = Self::unique_names::<T>();
        let spec = self.unique_spec(&names)?;
        self.destroy_key::<T>(spec)
    }

    /// Constructs an anonymous object holding `value`: not indexed, reached through the
    /// returned reference or its [`Handle`], destroyed with [`destroy_ptr`](Self::destroy_ptr).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`]; [`ErrorKind::PermissionDenied`] on a read-only handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedHeapMemory, segment::InstanceKind};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let x = seg.construct_anonymous(5u8)?;
    /// assert_eq!(seg.instance_kind(x)?, InstanceKind::Anonymous);
    /// assert_eq!(seg.instance_name(x)?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn construct_anonymous<T: ShmSafe>(&self, value: T) -> Result<&T> {
        let spec = Spec {
            kind: InstanceKind::Anonymous,
            key: Key::new(self.seed, &[], I::KIND),
            names: &[],
        };
        let h = self.construct_raw::<T>(spec, 1, false, How::Value, |mem, at| {
            Self::put_one(mem, at, value)
        })?;
        self.single(&h)
    }

    /// Constructs an anonymous array of `n` elements `f(i)`.
    ///
    /// # Errors
    ///
    /// As [`construct_anonymous`](Self::construct_anonymous).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct_anonymous_array(3, |i| i as u32)?;
    /// assert_eq!(seg.instance_len(v.first().unwrap())?, 3);
    /// let p = v.as_ptr();
    /// seg.destroy_ptr(p)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn construct_anonymous_array<T: ShmSafe>(
        &self,
        n: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<&[T]> {
        let spec = Spec {
            kind: InstanceKind::Anonymous,
            key: Key::new(self.seed, &[], I::KIND),
            names: &[],
        };
        let h = self.construct_raw::<T>(spec, n, true, How::Closure, |mem, at| {
            Self::fill_array(mem, at, n, |i| Some(f(i)))
        })?;
        self.slice(&h)
    }

    /// Destroys the object (named, unique or anonymous; single or array) whose value starts at
    /// `ptr` (for an array, its first element: `slice.as_ptr()`). A raw pointer, since no
    /// reference into the object may outlive this call.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `ptr` is not the start of a live object of this
    /// segment; [`ErrorKind::TypeMismatch`] if the object is not of type `T`; as
    /// [`destroy`](Self::destroy) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let p: *const u32 = seg.construct("x", 1u32)?;
    /// seg.destroy_ptr(p)?;
    /// assert_eq!(seg.find::<u32>("x")?, None);
    /// assert!(seg.destroy_ptr(p).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn destroy_ptr<T: ShmSafe>(&mut self, ptr: *const T) -> Result<()> {
        let g = self.lock()?;
        let h = self.object_at(ptr.cast(), size_of::<T>())?;
        self.typed::<T>(h, h.kind, None, &|| "the object".to_owned())?;
        self.drop_values::<T>(&g, &h)?;
        let names = h.read_names(&self.mem)?;
        let key = Key::new(self.seed, &names[..h.key_len], I::KIND);
        self.with_space(&g, |s| {
            if h.kind != InstanceKind::Anonymous {
                let mut same = |f: &ObjHeader| {
                    if f.at == h.at {
                        Ok(())
                    } else {
                        Err(Error::new(
                            ErrorKind::Corrupted,
                            "the index maps the object's name to another object",
                        ))
                    }
                };
                index::remove(I::KIND, s, Self::root(h.kind), &key, &mut same)?;
            }
            s.free_block(h.at, INFLIGHT_FREE)
        })
    }

    /// The live object whose value starts at `ptr`.
    fn object_at(&self, ptr: *const u8, size: usize) -> Result<ObjHeader> {
        let not_object = || {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("{ptr:p} is not the start of a live object in this segment"),
            )
        };
        let v = self.mem.offset_of(ptr, size).ok_or_else(not_object)?;
        ObjHeader::of_value(&self.mem, self.seed, v).ok_or_else(not_object)
    }

    // ----- introspection ----------------------------------------------------------------------

    /// The name of the object `obj` refers to (the start of its value): `None` for an anonymous
    /// object, the type's name for a unique one (Boost's `get_instance_name`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `obj` is not the start of an object of this segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let x = seg.construct("the answer", 42u8)?;
    /// assert_eq!(seg.instance_name(x)?.as_deref(), Some("the answer"));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn instance_name<T: ShmSafe>(&self, obj: &T) -> Result<Option<String>> {
        let _g = self.read_lock()?;
        let h = self.object_at((obj as *const T).cast(), size_of::<T>())?;
        h.display_name(&self.mem)
    }

    /// The number of elements of the object `obj` refers to: 1 for a single object (Boost's
    /// `get_instance_length`).
    ///
    /// # Errors
    ///
    /// As [`instance_name`](Self::instance_name).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct_array("v", 7, |_| 0u8)?;
    /// assert_eq!(seg.instance_len(&v[0])?, 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn instance_len<T: ShmSafe>(&self, obj: &T) -> Result<usize> {
        let _g = self.read_lock()?;
        Ok(self
            .object_at((obj as *const T).cast(), size_of::<T>())?
            .count)
    }

    /// Whether the object `obj` refers to is named, unique or anonymous (Boost's
    /// `get_instance_type`).
    ///
    /// # Errors
    ///
    /// As [`instance_name`](Self::instance_name).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedHeapMemory, segment::InstanceKind};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let u = seg.construct_unique(0u64)?;
    /// assert_eq!(seg.instance_kind(u)?, InstanceKind::Unique);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn instance_kind<T: ShmSafe>(&self, obj: &T) -> Result<InstanceKind> {
        let _g = self.read_lock()?;
        Ok(self
            .object_at((obj as *const T).cast(), size_of::<T>())?
            .kind)
    }

    fn infos(&self, kind: InstanceKind) -> Result<Vec<ObjectInfo>> {
        let _g = self.read_lock()?;
        let mut out = Vec::new();
        index::for_each(I::KIND, &self.mem, self.seed, Self::root(kind), |at| {
            let h = ObjHeader::live(&self.mem, self.seed, at)
                .filter(|h| h.kind == kind)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Corrupted,
                        format!("the index points to a bad object header (offset {at})"),
                    )
                })?;
            out.push(ObjectInfo {
                name: h.display_name(&self.mem)?.unwrap_or_default(),
                fingerprint: h.fingerprint,
                len: h.count,
                is_array: h.array,
                size: h.value_bytes(),
                handle: Handle::from_u64(h.value() as u64),
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Every named object (Boost's `named_begin`..`named_end`), in the index's order: by
    /// length then bytes for the ordered index, unspecified for the hashed one. A snapshot taken
    /// under the segment lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if the index is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct_array("a", 3, |_| 0u32)?;
    /// let objs = seg.named_objects()?;
    /// assert_eq!((objs[0].name.as_str(), objs[0].len, objs[0].size), ("a", 3, 12));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn named_objects(&self) -> Result<Vec<ObjectInfo>> {
        if I::KIND == IndexKind::Null {
            return Ok(Vec::new());
        }
        self.infos(InstanceKind::Named)
    }

    /// Every unique object (Boost's `unique_begin`..`unique_end`); `name` is the type's name.
    ///
    /// # Errors
    ///
    /// As [`named_objects`](Self::named_objects).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ManagedHeapMemory, ShmSafe};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct_unique(0u64)?;
    /// let objs = seg.unique_objects()?;
    /// assert_eq!((objs[0].name.as_str(), objs[0].fingerprint), ("u64", u64::FINGERPRINT));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn unique_objects(&self) -> Result<Vec<ObjectInfo>> {
        if I::KIND == IndexKind::Null {
            return Ok(Vec::new());
        }
        self.infos(InstanceKind::Unique)
    }

    /// The number of named objects (Boost's `get_num_named_objects`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if a repair after a crash fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct("a", 1u8)?;
    /// assert_eq!(seg.named_count()?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn named_count(&self) -> Result<usize> {
        let _g = self.read_lock()?;
        Ok(index::len(I::KIND, &self.mem, C_NAMED))
    }

    /// The number of unique objects (Boost's `get_num_unique_objects`).
    ///
    /// # Errors
    ///
    /// As [`named_count`](Self::named_count).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(seg.unique_count()?, 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn unique_count(&self) -> Result<usize> {
        let _g = self.read_lock()?;
        Ok(index::len(I::KIND, &self.mem, C_UNIQUE))
    }

    // ----- locking ----------------------------------------------------------------------------

    /// Runs `f` under the segment lock (Boost's `atomic_func`): other processes' named, unique,
    /// anonymous and raw operations wait until it returns, so a sequence of finds and
    /// constructions inside is atomic. The lock is recursive: `f` uses the segment normally.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] on a read-only handle (it cannot lock);
    /// [`ErrorKind::Corrupted`] if a repair after a crash fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let total = seg.atomic(|seg| -> shmkit::Result<u64> {
    ///     let a = *seg.find_or_construct("a", || 1u64)?;
    ///     let b = *seg.find_or_construct("b", || 2u64)?;
    ///     Ok(a + b)
    /// })??;
    /// assert_eq!(total, 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn atomic<R>(&self, f: impl FnOnce(&Self) -> R) -> Result<R> {
        let _g = self.lock()?;
        Ok(f(self))
    }

    // ----- memory -----------------------------------------------------------------------------

    /// Makes room in the index for `n` named objects, so that constructing them does not grow
    /// it (Boost's `reserve_named_objects`; the hashed index grows its table, the ordered index
    /// needs nothing).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`]; [`ErrorKind::PermissionDenied`] on a read-only handle;
    /// [`ErrorKind::Unsupported`] with the null index.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// let before = seg.free_memory()?;
    /// seg.reserve_named_objects(1000)?;
    /// assert!(seg.free_memory()? < before);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve_named_objects(&self, n: usize) -> Result<()> {
        self.reserve(C_NAMED, n)
    }

    /// Makes room in the index for `n` unique objects (see
    /// [`reserve_named_objects`](Self::reserve_named_objects)).
    ///
    /// # Errors
    ///
    /// As [`reserve_named_objects`](Self::reserve_named_objects).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
    /// seg.reserve_unique_objects(10)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve_unique_objects(&self, n: usize) -> Result<()> {
        self.reserve(C_UNIQUE, n)
    }

    fn reserve(&self, root: usize, n: usize) -> Result<()> {
        self.named_index()?;
        let g = self.lock()?;
        self.with_space(&g, |s| index::reserve(I::KIND, s, root, n))
    }

    /// Bytes in free blocks (Boost's `get_free_memory`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] if a repair after a crash fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let before = seg.free_memory()?;
    /// seg.construct("x", [0u8; 1000])?;
    /// assert!(seg.free_memory()? <= before - 1000);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn free_memory(&self) -> Result<usize> {
        match self.read_lock()? {
            Some(g) => Ok(self.with_algo(&g, |a| a.free_memory())),
            None => Ok(self.algo_ref().free_memory()),
        }
    }

    /// The segment's size in bytes (Boost's `get_size`), control page included.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(seg.size(), 1 << 16);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        (self.mem.load(C_SIZE) as usize).min(self.mem.len())
    }

    /// The segment's random id, chosen at creation: the same in every process, different for
    /// every segment (it seeds the name hash).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let a: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let b: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_ne!(a.segment_id(), b.segment_id());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn segment_id(&self) -> u64 {
        self.seed
    }

    /// How many times a process has repaired the segment after another died holding its lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert_eq!(seg.repairs(), 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn repairs(&self) -> u64 {
        self.mem.load(C_REPAIRS)
    }

    /// Whether this handle is read-only (see `open_read_only` on the managed kinds).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(!seg.is_read_only());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.mode == Mode::ReadOnly
    }

    /// Checks every invariant: the memory algorithm's, the indexes' (structure, and that each
    /// entry leads to a live object with its key), that every live named and unique object is
    /// indexed, that no construction or deallocation is in flight, and that no index block is
    /// leaked. O(blocks).
    ///
    /// Call it outside constructor closures (an object being constructed counts as in flight).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`] naming the first broken invariant.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// seg.construct("a", 1u32)?;
    /// seg.check_sanity()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn check_sanity(&self) -> Result<()> {
        let g = self.read_lock()?;
        let algo_check = match &g {
            Some(g) => self.with_algo(g, |a| a.check_sanity()),
            None => self.algo_ref().check_sanity(),
        };
        algo_check?;
        let corrupt = |why: String| Err(Error::new(ErrorKind::Corrupted, why));
        let mem = &self.mem;
        let named = index::check(I::KIND, mem, self.seed, C_NAMED)?;
        let unique = index::check(I::KIND, mem, self.seed, C_UNIQUE)?;
        if mem.load(C_INFLIGHT) != 0 {
            return corrupt("an operation on the segment is in flight".to_owned());
        }
        let (mut live_named, mut live_unique, mut idx_blocks) = (0, 0, 0usize);
        let mut bad = None;
        let walk = |off: usize, size: usize| -> Result<()> {
            let at = self.area + off;
            if size >= OBJ_HEADER {
                let state = mem.load(at);
                if (state == LIVE || state == CONSTRUCTING)
                    && let Some(h) = ObjHeader::read(mem, self.seed, at)
                {
                    if state == CONSTRUCTING {
                        bad.get_or_insert(format!("an object under construction at {at}"));
                        return Ok(());
                    }
                    if h.kind == InstanceKind::Anonymous || I::KIND == IndexKind::Null {
                        return Ok(());
                    }
                    match h.kind {
                        InstanceKind::Named => live_named += 1,
                        _ => live_unique += 1,
                    }
                    let names = h.read_names(mem)?;
                    let key = Key::new(self.seed, &names[..h.key_len], I::KIND);
                    let found = index::find(I::KIND, mem, self.seed, Self::root(h.kind), &key)?;
                    if found.map(|f| f.at) != Some(at) {
                        bad.get_or_insert(format!("the live object at {at} is not indexed"));
                    }
                    return Ok(());
                }
            }
            if size >= IDX_HEADER && is_idx_block(mem, self.seed, at) {
                idx_blocks += 1;
            }
            Ok(())
        };
        match &g {
            Some(g) => self.with_algo(g, |a| a.for_each_allocated(walk))?,
            None => self.algo_ref().for_each_allocated(walk)?,
        }
        if let Some(why) = bad {
            return corrupt(why);
        }
        if (live_named, live_unique) != (named, unique) {
            return corrupt(format!(
                "{live_named} live named and {live_unique} unique objects, the indexes hold \
                 {named} and {unique}"
            ));
        }
        let reachable = index::blocks(I::KIND, mem, self.seed, C_NAMED)?
            + index::blocks(I::KIND, mem, self.seed, C_UNIQUE)?;
        if reachable != idx_blocks {
            return corrupt(format!(
                "{idx_blocks} index blocks allocated, {reachable} in use"
            ));
        }
        Ok(())
    }

    // ----- raw blocks and handles -------------------------------------------------------------

    /// Allocates `size` bytes (aligned to 16) for the caller's own use (the collections build
    /// on this): returns the block's handle. The block is not an object: nothing finds it, and
    /// it is leaked if its handle is lost (as in Boost).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`]; [`ErrorKind::PermissionDenied`] on a read-only handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate(100)?;
    /// assert_eq!(h.as_u64() % 16, 0);
    /// seg.deallocate(h)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn allocate(&self, size: usize) -> Result<Handle> {
        let g = self.lock()?;
        let off = self.with_algo(&g, |a| a.allocate(size))?;
        Ok(Handle::from_u64((self.area + off) as u64))
    }

    /// Allocates `size` bytes aligned to `align` (a power of two up to 4096).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad alignment (or one the caller's buffer of a
    /// [`ManagedExternalBuffer`](crate::ManagedExternalBuffer) does not have); as
    /// [`allocate`](Self::allocate) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate_aligned(100, 256)?;
    /// assert_eq!(seg.raw_ptr(h)?.addr() % 256, 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn allocate_aligned(&self, size: usize, align: usize) -> Result<Handle> {
        if !align.is_power_of_two()
            || align > MAX_ALIGN
            || !self.mem.base().addr().is_multiple_of(align)
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("alignment {align} is not a power of two up to this segment's {MAX_ALIGN}"),
            ));
        }
        let g = self.lock()?;
        let off = self.with_algo(&g, |a| a.allocate_aligned(size, align))?;
        Ok(Handle::from_u64((self.area + off) as u64))
    }

    /// Frees a block from [`allocate`](Self::allocate).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `h` does not name an allocated raw block (objects are
    /// freed with the `destroy` functions): nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, ManagedHeapMemory};
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate(8)?;
    /// seg.deallocate(h)?;
    /// assert_eq!(seg.deallocate(h).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn deallocate(&self, h: Handle) -> Result<()> {
        let g = self.lock()?;
        let at = self.raw_block(&g, h)?;
        self.mem.store(C_INFLIGHT, at as u64 | INFLIGHT_RAW_FREE);
        let r = self.with_algo(&g, |a| a.deallocate(at - self.area));
        self.mem.store(C_INFLIGHT, 0);
        r
    }

    /// The segment offset of the raw block `h` (allocated, and neither an object nor an index
    /// block), checked under the lock.
    fn raw_block(&self, g: &Guard<'_>, h: Handle) -> Result<usize> {
        let at = h.as_u64() as usize;
        let not_raw = || {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("{h:?} is not a raw block of this segment"),
            )
        };
        if at < self.area || !self.mem.contains(at, 8) {
            return Err(not_raw());
        }
        let size = self.with_algo(g, |a| a.size_of(at - self.area))?;
        if (size >= OBJ_HEADER
            && ObjHeader::read(&self.mem, self.seed, at).is_some()
            && matches!(self.mem.load(at), LIVE | CONSTRUCTING))
            || (size >= IDX_HEADER && is_idx_block(&self.mem, self.seed, at))
        {
            return Err(not_raw());
        }
        Ok(at)
    }

    /// Grows the raw block `h` in place into the free memory after it: to `preferred` usable
    /// bytes if possible, else at least `min` (Boost's `allocation_command` with
    /// `expand_fwd`). Returns the new usable size; the handle and the contents stay.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the block cannot reach `min` (nothing changes);
    /// [`ErrorKind::InvalidArgument`] if `h` is not a raw block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate(64)?;
    /// assert!(seg.expand_in_place(h, 128, 1024)? >= 1024);
    /// assert!(seg.block_size(h)? >= 1024);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn expand_in_place(&self, h: Handle, min: usize, preferred: usize) -> Result<usize> {
        let g = self.lock()?;
        let at = self.raw_block(&g, h)?;
        self.with_algo(&g, |a| a.expand_fwd(at - self.area, min, preferred))
    }

    /// Grows the raw block `h` backwards into the free memory before it (and forwards if that
    /// is free too), moving its first `keep` bytes to the new start (Boost's `expand_bwd`,
    /// with the move done for you). Returns the block's new handle and usable size; `h` no
    /// longer names a block.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if the block cannot reach `min` (nothing changes);
    /// [`ErrorKind::InvalidArgument`] if `h` is not a raw block or `keep` exceeds its size.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let a = seg.allocate(512)?;
    /// let b = seg.allocate(64)?;
    /// let _c = seg.allocate(64)?; // keeps `b` from growing forwards
    /// // SAFETY: `b` is our raw block of at least 64 bytes; nobody else uses it.
    /// unsafe { seg.raw_ptr(b)?.write_bytes(7, 64) };
    /// seg.deallocate(a)?;
    /// let (nb, size) = seg.expand_backwards(b, 64, 256, 512)?;
    /// assert!(nb.as_u64() < b.as_u64() && size >= 512);
    /// // SAFETY: as above, for the new block.
    /// let first = unsafe { std::slice::from_raw_parts(seg.raw_ptr(nb)?, 64) };
    /// assert!(first.iter().all(|&x| x == 7));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn expand_backwards(
        &self,
        h: Handle,
        keep: usize,
        min: usize,
        preferred: usize,
    ) -> Result<(Handle, usize)> {
        let g = self.lock()?;
        let at = self.raw_block(&g, h)?;
        let size = self.with_algo(&g, |a| a.size_of(at - self.area))?;
        if keep > size {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot keep {keep} bytes of a block of {size}"),
            ));
        }
        // No in-flight record: the algorithm's block chain is valid at every store, and a crash
        // leaves either the old block or the merged one allocated.
        let (start, new_size) =
            self.with_algo(&g, |a| a.expand_bwd(at - self.area, min, preferred))?;
        let start = start + self.area;
        if keep > 0 && start != at {
            let base = self.mem.base();
            // SAFETY: `at..at + keep` and `start..start + keep` lie in the (now larger) block
            // inside the segment, which is held under the lock and owned by the caller (a raw
            // block); `copy` handles the overlap.
            unsafe { std::ptr::copy(base.add(at), base.add(start), keep) };
        }
        Ok((Handle::from_u64(start as u64), new_size))
    }

    /// Shrinks the raw block `h` in place to at least `new_size` usable bytes, returning the
    /// tail to the segment when it is large enough to form a block. Returns the new usable size.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `h` is not a raw block or `new_size` exceeds its size.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate(4000)?;
    /// let before = seg.free_memory()?;
    /// assert!(seg.shrink_block(h, 100)? < 4000);
    /// assert!(seg.free_memory()? > before);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shrink_block(&self, h: Handle, new_size: usize) -> Result<usize> {
        let g = self.lock()?;
        let at = self.raw_block(&g, h)?;
        self.with_algo(&g, |a| a.shrink_in_place(at - self.area, new_size))
    }

    /// Allocates one raw block per size, all or none (Boost's `allocate_many`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfMemory`] if they do not all fit (none stays allocated).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let hs = seg.allocate_many(&[16, 32, 64])?;
    /// assert_eq!(hs.len(), 3);
    /// seg.deallocate_many(&hs)?;
    /// assert!(seg.allocate_many(&[1 << 20, 8]).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn allocate_many(&self, sizes: &[usize]) -> Result<std::vec::Vec<Handle>> {
        let g = self.lock()?;
        let offs = self.with_algo(&g, |a| a.allocate_many(sizes))?;
        Ok(offs
            .into_iter()
            .map(|o| Handle::from_u64((self.area + o) as u64))
            .collect())
    }

    /// Frees raw blocks (Boost's `deallocate_many`). Every handle is checked first: if one is
    /// not a raw block, nothing is freed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if a handle is not a raw block of this segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let free = seg.free_memory()?;
    /// let hs = seg.allocate_many(&[100; 4])?;
    /// seg.deallocate_many(&hs)?;
    /// assert_eq!(seg.free_memory()?, free);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn deallocate_many(&self, handles: &[Handle]) -> Result<()> {
        let g = self.lock()?;
        let mut offs = std::vec::Vec::with_capacity(handles.len());
        for &h in handles {
            offs.push(self.raw_block(&g, h)?);
        }
        offs.sort_unstable();
        if offs.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "deallocate_many: a handle is listed twice",
            ));
        }
        for at in offs {
            self.mem.store(C_INFLIGHT, at as u64 | INFLIGHT_RAW_FREE);
            let r = self.with_algo(&g, |a| a.deallocate(at - self.area));
            self.mem.store(C_INFLIGHT, 0);
            r?;
        }
        Ok(())
    }

    /// Overwrites the segment's free memory with zeros (Boost's `zero_free_memory`), so that
    /// what freed blocks held does not linger in the segment (or its file).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] for a read-only handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate(64)?;
    /// // SAFETY: our raw block of at least 64 bytes.
    /// unsafe { seg.raw_ptr(h)?.write_bytes(0xAB, 64) };
    /// seg.deallocate(h)?;
    /// seg.zero_free_memory()?;
    /// seg.check_sanity()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn zero_free_memory(&self) -> Result<()> {
        let g = self.lock()?;
        self.with_algo(&g, |a| a.zero_free_memory())
    }

    /// Whether nothing is allocated: no object of any kind and no raw block (the name indexes'
    /// own blocks do not count).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unsupported`] if the memory algorithm cannot list its blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// assert!(seg.all_memory_deallocated()?);
    /// let h = seg.allocate(8)?;
    /// assert!(!seg.all_memory_deallocated()?);
    /// seg.deallocate(h)?;
    /// assert!(seg.all_memory_deallocated()?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn all_memory_deallocated(&self) -> Result<bool> {
        let mut any = false;
        let mut visit = |off: usize, size: usize| {
            let at = self.area + off;
            if !(size >= IDX_HEADER && is_idx_block(&self.mem, self.seed, at)) {
                any = true;
            }
            Ok(())
        };
        match self.read_lock()? {
            Some(g) => self.with_algo(&g, |a| a.for_each_allocated(&mut visit))?,
            None => self.algo_ref().for_each_allocated(&mut visit)?,
        }
        Ok(!any)
    }

    /// Runs `f` under the segment lock if it is free now (or held by this thread), without
    /// waiting: `Ok(None)` if another thread or process holds it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] for a read-only handle; the repair's errors if the
    /// previous holder died.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let n = seg.try_atomic(|s| s.named_count())?;
    /// assert_eq!(n.transpose()?, Some(0));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_atomic<R>(&self, f: impl FnOnce(&Self) -> R) -> Result<Option<R>> {
        if self.mode == Mode::ReadOnly {
            return Err(read_only());
        }
        let _g = match self.lock_word()?.try_lock() {
            Ok(g) => Guard::new(g, &self.mem, false),
            Err(crate::sync::TryLockError::WouldBlock | crate::sync::TryLockError::TimedOut) => {
                return Ok(None);
            }
            Err(crate::sync::TryLockError::OwnerDied(died)) => self.recover(died.into_inner())?,
        };
        Ok(Some(f(self)))
    }

    /// The usable size of the raw block `h`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `h` does not name an allocated block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate(100)?;
    /// assert!(seg.block_size(h)? >= 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn block_size(&self, h: Handle) -> Result<usize> {
        let at = (h.as_u64() as usize)
            .checked_sub(self.area)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("{h:?} is before the area"),
                )
            })?;
        match self.read_lock()? {
            Some(g) => self.with_algo(&g, |a| a.size_of(at)),
            None => self.algo_ref().size_of(at),
        }
    }

    /// The address of `h` in this process, for raw blocks (dereferencing it is the caller's
    /// `unsafe` business: other processes may write the bytes).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `h` is outside the segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.allocate(8)?;
    /// assert!(!seg.raw_ptr(h)?.is_null());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn raw_ptr(&self, h: Handle) -> Result<*mut u8> {
        let at = h.as_u64() as usize;
        if !self.mem.contains(at, 0) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{h:?} is outside the segment ({} bytes)", self.mem.len()),
            ));
        }
        Ok(self.mem.base().wrapping_add(at))
    }

    /// The handle of `r`: its offset from the segment's base (Boost's
    /// `get_handle_from_address`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `r` does not lie in this segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let x = seg.construct("x", 1u64)?;
    /// assert!(seg.handle_of(x)?.as_u64() > 0);
    /// assert!(seg.handle_of(&5u64).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn handle_of<T: ?Sized>(&self, r: &T) -> Result<Handle> {
        let p = (r as *const T).cast::<u8>();
        self.mem
            .offset_of(p, size_of_val(r))
            .map(|o| Handle::from_u64(o as u64))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("{p:p} does not lie in this segment"),
                )
            })
    }

    /// The single object of type `T` that starts at `h` (Boost's `get_address_from_handle`,
    /// checked: `h` must be the start of a live object of this type).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] if `h` is not the start of a live object;
    /// [`ErrorKind::TypeMismatch`] if the object is of another type or an array.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let h = seg.handle_of(seg.construct_anonymous(3u16)?)?;
    /// assert_eq!(seg.get_by_handle::<u16>(h)?, &3);
    /// assert!(seg.get_by_handle::<u32>(h).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_by_handle<T: ShmSafe>(&self, h: Handle) -> Result<&T> {
        let _g = self.read_lock()?;
        let o = self.by_handle(h)?;
        let o = self.typed::<T>(o, o.kind, Some(false), &|| format!("{h:?}"))?;
        self.single(&o)
    }

    /// The array of `T`s that starts at `h`.
    ///
    /// # Errors
    ///
    /// As [`get_by_handle`](Self::get_by_handle) (a single object is a type mismatch).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::ManagedHeapMemory;
    /// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
    /// let v = seg.construct_array("v", 2, |i| i as u8)?;
    /// let h = seg.handle_of(v)?;
    /// assert_eq!(seg.get_array_by_handle::<u8>(h)?, &[0, 1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_array_by_handle<T: ShmSafe>(&self, h: Handle) -> Result<&[T]> {
        let _g = self.read_lock()?;
        let o = self.by_handle(h)?;
        let o = self.typed::<T>(o, o.kind, Some(true), &|| format!("{h:?}"))?;
        self.slice(&o)
    }

    fn by_handle(&self, h: Handle) -> Result<ObjHeader> {
        let v = h.as_u64() as usize;
        if !self.mem.contains(v, 0) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{h:?} is outside the segment"),
            ));
        }
        self.object_at(self.mem.base().wrapping_add(v), 0)
    }
}

impl<M: MemoryAlgorithm, I: NameIndex> crate::collections::AsSegment for SegmentManager<M, I> {
    fn segment(&self) -> Result<crate::collections::SegmentRef<'_>> {
        let r = self._registration.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                "this segment lies inside another segment's memory and is not registered on its \
                 own: build its values through the outer segment",
            )
        })?;
        // SAFETY: the registration is this handle's, dropped with it, so the mapping stays
        // registered while `&self` is borrowed.
        Ok(unsafe { crate::collections::SegmentRef::from_mapping(r.mapping()) })
    }
}
