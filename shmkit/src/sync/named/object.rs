//! Named objects: one shmkit value in its own shared memory object, behind a validated header.
//!
//! Every named synchronization object (and message queues and managed segments) is a POSIX
//! shared memory object `/dev/shm/<name>` laid out as a 64-byte [`Header`] followed by the
//! payload: a `T: ShmSafe` (a `Mutex<()>`, a `RecursiveMutex<()>`, ...), or a fixed control block
//! followed by a variable area (a managed segment). The header lets any process check, before
//! it touches the payload, that the object is a shmkit object, of the expected kind and layout,
//! and fully initialised.
//!
//! The protocols below are written against a small [`Device`] trait, so they run unchanged
//! over POSIX shared memory ([`SharedMemory`]), files (managed mapped files: "removing the
//! name" unlinks the path) and System V segments (the name is the key). Process-local objects
//! (a heap or caller's buffer holding a segment) get the same header through [`stamp_local`]
//! and are checked by [`check_local`], without the protocol.
//!
//! # Header layout (layout version 1)
//!
//! Native byte order; every field is an atomic, so a process reading a header that another one is
//! writing (or scribbling over) never races in the Rust sense.
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0  | 8  | `magic` | the bytes `shmkit\xA5\x5A` ([`MAGIC`]): this is a shmkit object |
//! | 8  | 4  | `version` | [`LAYOUT_VERSION`]: the layout of the header and of every payload |
//! | 12 | 4  | `kind` | which shmkit type the payload is ([`Kind`]: 1 mutex, 2 recursive mutex, ...) |
//! | 16 | 4  | `payload_size` | `size_of` the payload type |
//! | 20 | 4  | `payload_align` | `align_of` the payload type |
//! | 24 | 4  | `state` | 0 uninitialised, 1 initialising, 2 ready, 3 corrupt; a futex word |
//! | 28 | 4  | `creator_pid` | the process initialising the object (later: replacing a stale one) |
//! | 32 | 8  | `created_at` | creation time, Unix seconds (for listings) |
//! | 40 | 4  | `payload_offset` | where the payload starts: 64, or `align_of` the payload if larger |
//! | 44 | 20 | reserved | zero |
//!
//! The payload sits at `payload_offset` and the object is `payload_offset + payload_size` bytes
//! long (or longer: a type with a variable-size area, such as a message queue, puts a fixed
//! control block in the payload and describes the area after it there).
//!
//! # Protocols
//!
//! **Create** (`create_new`: exactly one process creates a name): `shm_open(O_CREAT|O_EXCL)`
//! with the requested permissions; size the object (reserved, so a full `/dev/shm` fails here);
//! map it; write the creator pid, creation time, version, kind, payload layout and magic
//! (relaxed), then `state = initialising` (release); write the initial payload; then
//! `state = ready` (release) and wake every futex waiter on `state`. If a step after the sizing
//! fails, the creator marks the object corrupt and removes the name.
//!
//! **Open**: `shm_open` the name, then, for at most the open timeout (1 s by default):
//! wait for a non-zero size (a creator between `shm_open` and sizing), map the whole object,
//! and read `state` (acquire) before anything else in the header:
//!
//! * magic present and `state` is initialising, ready or corrupt: the version, kind and payload
//!   layout are checked now (they are written before `initialising` is published), and a
//!   mismatch is an [`ErrorKind::Incompatible`] error naming it ("`x` is a shmkit semaphore, not
//!   a mutex"). Then: **ready** → done; **initialising** → if the creator pid is dead, the object
//!   will never be ready ([`ErrorKind::Corrupted`], "creator died while initialising"); if it
//!   lives, sleep on the `state` futex (re-probing the creator every few milliseconds) until the
//!   timeout ([`ErrorKind::Timeout`]); **corrupt** → [`ErrorKind::Corrupted`].
//! * magic and `state` still zero: a creator that has sized but not yet written the header;
//!   wait, and at the timeout report [`ErrorKind::Incompatible`] (see below).
//! * anything else (another magic, a state word above 3): [`ErrorKind::Incompatible`], "not a
//!   shmkit object", at once.
//!
//! **Open or create**: `shm_open` race-free (exactly one process creates, see
//! [`SharedMemory::created`]); the creator runs *create* from the sizing step, everyone else
//! *open*. An object that can never become ready (its creator died while initialising it, or it
//! is marked corrupt and its marker is dead) is replaced: the opener claims it by a CAS of
//! `creator_pid` from the dead pid to its own (so exactly one replacer acts, and a replacer that
//! dies is replaced in turn), removes the name if the object still has it (its link count, so a
//! replacer never removes a newer object that took the name), marks it corrupt, wakes its
//! waiters, and starts over (at most [`OpenConfig::attempts`] replacements). Objects without a
//! shmkit magic are never removed. Initial values are used only by the creating process.
//!
//! **Remove** is `shm_unlink` ([`SharedMemory::remove`]), as for any shared memory object.
//!
//! # Which error for which bytes
//!
//! [`ErrorKind::Corrupted`] is only ever reported for an object that carries the shmkit magic
//! (it *is* ours, and it breaks an invariant: truncated, never initialised, marked corrupt).
//! Without the magic, shmkit cannot claim the object: it is [`ErrorKind::Incompatible`] ("not a
//! shmkit object"). In particular an object that stays empty, or smaller than a header, or whose
//! header stays all zeros for the open timeout is `Incompatible`: it may be another program's
//! object, or a shmkit object whose creator died between creating the name and writing the
//! header (a window of two system calls); its message says both and suggests removing it. Such an
//! object is not replaced by *open or create*, since nothing proves that its creator is dead.
//!
//! Creator and replacer liveness is probed by pid (`kill(pid, 0)` plus `/proc`): all processes
//! sharing a named object must be in one PID namespace, as for the lock words. If a dead
//! creator's pid has already been reused by another process, the object looks like one still
//! being initialised: `open` reports [`ErrorKind::Timeout`] after the open timeout instead of
//! `Corrupted`, and `open_or_create` does not replace it.

#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::mem::offset_of;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};
use crate::region::{Access, MappedRegion, Permissions, SharedMemory};
use crate::shm_safe::ShmSafe;
use crate::sys;

/// The first 8 bytes of every shmkit named object.
pub(crate) const MAGIC: [u8; 8] = *b"shmkit\xA5\x5A";
const MAGIC_WORD: u64 = u64::from_ne_bytes(MAGIC);

/// The layout version written in every header. Bump it when the header or the meaning of any
/// payload's bytes changes incompatibly.
pub(crate) const LAYOUT_VERSION: u32 = 1;

/// The header's size; payloads start here (or at their alignment, if larger).
pub(crate) const HEADER_SIZE: usize = 64;

/// `state`: nothing written yet (also what a freshly sized object holds).
pub(crate) const UNINIT: u32 = 0;
/// `state`: the creator is writing the payload; `creator_pid` is valid.
pub(crate) const INITIALISING: u32 = 1;
/// `state`: header and payload are complete; the object may be used.
pub(crate) const READY: u32 = 2;
/// `state`: the object will never be ready; its name is being (or has been) removed.
pub(crate) const CORRUPT: u32 = 3;

/// How long the opener waits for a creator to finish its object, by default.
pub(crate) const OPEN_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest single sleep while waiting for a creator; the creator's liveness is re-probed
/// after each.
const MAX_NAP: Duration = Duration::from_millis(5);

/// Which shmkit type a named object holds (the header's `kind` word). Codes are forever: never
/// reuse or renumber one; add new kinds at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    /// [`NamedMutex`](crate::sync::NamedMutex): a `Mutex<()>`.
    Mutex = 1,
    /// [`NamedRecursiveMutex`](crate::sync::NamedRecursiveMutex): a `RecursiveMutex<()>`.
    RecursiveMutex = 2,
    /// `NamedCondvar` (to come).
    Condvar = 3,
    /// `NamedSemaphore` (to come).
    Semaphore = 4,
    /// `NamedRwLock` (to come).
    RwLock = 5,
    /// `NamedUpgradableRwLock` (to come).
    UpgradableRwLock = 6,
    /// [`MessageQueue`](crate::MessageQueue): a queue control block, then its index and slots.
    MessageQueue = 7,
    /// A managed segment in POSIX shared memory or System V memory
    /// ([`ManagedSharedMemory`](crate::ManagedSharedMemory)): the payload is the segment's
    /// control block, followed by its allocation area.
    Segment = 8,
    /// A managed segment in a file ([`ManagedMappedFile`](crate::ManagedMappedFile)): the same
    /// layout as [`Kind::Segment`], a distinct code so that a segment file copied into
    /// `/dev/shm` (or the reverse) says what it is.
    MappedFileSegment = 9,
}

impl Kind {
    /// The header code.
    pub(crate) const fn code(self) -> u32 {
        self as u32
    }

    /// The kind with header code `code`, if this shmkit knows it.
    pub(crate) fn from_code(code: u32) -> Option<Kind> {
        Some(match code {
            1 => Kind::Mutex,
            2 => Kind::RecursiveMutex,
            3 => Kind::Condvar,
            4 => Kind::Semaphore,
            5 => Kind::RwLock,
            6 => Kind::UpgradableRwLock,
            7 => Kind::MessageQueue,
            8 => Kind::Segment,
            9 => Kind::MappedFileSegment,
            _ => return None,
        })
    }

    /// What users call it, for messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Mutex => "mutex",
            Kind::RecursiveMutex => "recursive mutex",
            Kind::Condvar => "condition variable",
            Kind::Semaphore => "semaphore",
            Kind::RwLock => "rwlock",
            Kind::UpgradableRwLock => "upgradable rwlock",
            Kind::MessageQueue => "message queue",
            Kind::Segment => "managed segment",
            Kind::MappedFileSegment => "managed mapped file",
        }
    }

    /// "a mutex", "an upgradable rwlock".
    fn with_article(self) -> String {
        let noun = self.noun();
        let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {noun}")
    }
}

/// A type that can be the payload of a named object: its [`Kind`] code in the header.
pub(crate) trait Payload: ShmSafe {
    /// The header's `kind` for this payload.
    const KIND: Kind;
}

/// The header at offset 0 of every named object; see the [module docs](self) for the table.
#[repr(C)]
pub(crate) struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    kind: AtomicU32,
    payload_size: AtomicU32,
    payload_align: AtomicU32,
    state: AtomicU32,
    creator_pid: AtomicU32,
    created_at: AtomicU64,
    payload_offset: AtomicU32,
    reserved: [AtomicU32; 5],
}

const _: () = {
    assert!(size_of::<Header>() == HEADER_SIZE);
    assert!(align_of::<Header>() == 8);
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, version) == 8);
    assert!(offset_of!(Header, kind) == 12);
    assert!(offset_of!(Header, payload_size) == 16);
    assert!(offset_of!(Header, payload_align) == 20);
    assert!(offset_of!(Header, state) == 24);
    assert!(offset_of!(Header, creator_pid) == 28);
    assert!(offset_of!(Header, created_at) == 32);
    assert!(offset_of!(Header, payload_offset) == 40);
    assert!(offset_of!(Header, reserved) == 44);
};

// SAFETY: only atomics (any bit pattern valid, Sync, no drop glue), repr(C), no pointers.
unsafe impl ShmSafe for Header {
    const FINGERPRINT: u64 =
        crate::fingerprint::primitive("shmkit::sync::named::Header", size_of::<Header>());
}

/// Where a payload goes and what the header says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    kind: Kind,
    size: usize,
    align: usize,
    offset: usize,
}

impl Layout {
    /// The layout of payload type `T`.
    pub(crate) fn of<T: Payload>() -> Layout {
        const {
            assert!(size_of::<T>() <= u32::MAX as usize);
            assert!(
                align_of::<T>() <= 4096,
                "a named payload is aligned to a page at most"
            );
        }
        Layout::new(T::KIND, size_of::<T>(), align_of::<T>())
    }

    /// A payload of `size` bytes aligned to `align` (a power of two, at most a page).
    pub(crate) const fn new(kind: Kind, size: usize, align: usize) -> Layout {
        let offset = if align > HEADER_SIZE {
            align
        } else {
            HEADER_SIZE
        };
        Layout {
            kind,
            size,
            align,
            offset,
        }
    }

    /// The object's minimum length: header (and padding) plus payload.
    pub(crate) fn len(&self) -> usize {
        self.offset + self.size
    }
}

/// Knobs of the open protocol (crate-internal; the public types use [`OpenConfig::default`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenConfig {
    /// How long `open` waits for a live creator to finish.
    pub(crate) timeout: Duration,
    /// How many stale objects `open_or_create` replaces before it gives up.
    pub(crate) attempts: u32,
}

impl Default for OpenConfig {
    fn default() -> OpenConfig {
        OpenConfig {
            timeout: OPEN_TIMEOUT,
            attempts: 8,
        }
    }
}

/// A named object whose header was validated against a [`Layout`] (and found ready), mapped
/// read-write for as long as this value lives. Untyped: [`NamedObject`] adds the payload type.
#[derive(Debug)]
pub(crate) struct RawObject {
    region: MappedRegion,
    name: String,
    created: bool,
    layout: Layout,
}

impl RawObject {
    /// Creates `name` (failing if it exists) with `permissions`, and initialises the payload
    /// with `init(region, payload_offset)`.
    ///
    /// `init` runs before any other process may touch the payload: it may write it with
    /// [`MappedRegion::put`].
    pub(crate) fn create(
        name: &str,
        permissions: Permissions,
        layout: Layout,
        init: impl FnOnce(&MappedRegion, usize) -> Result<()>,
    ) -> Result<RawObject> {
        RawObject::create_sized(name, permissions, layout, layout.len(), init)
    }

    /// [`create`](RawObject::create) with the whole object sized to `len` bytes (at least
    /// `layout.len()`): for types with a variable area after a fixed control block.
    pub(crate) fn create_sized(
        name: &str,
        permissions: Permissions,
        layout: Layout,
        len: usize,
        init: impl FnOnce(&MappedRegion, usize) -> Result<()>,
    ) -> Result<RawObject> {
        let shm = SharedMemory::options()
            .create_new(true)
            .permissions(permissions)
            .open(name)?;
        let region = initialise(&shm, layout, len, init)?;
        Ok(RawObject {
            region,
            name: name.to_owned(),
            created: true,
            layout,
        })
    }

    /// Opens the existing object `name`, waiting for its creator to finish (see the module
    /// docs for the errors).
    pub(crate) fn open(name: &str, layout: Layout, config: OpenConfig) -> Result<RawObject> {
        let shm = SharedMemory::open(name)?;
        let region = open_object(&shm, layout, config)?;
        Ok(RawObject {
            region,
            name: name.to_owned(),
            created: false,
            layout,
        })
    }

    /// Opens `name`, or creates and initialises it (race-free: exactly one process runs
    /// `init`); replaces an object whose creator died while initialising it.
    pub(crate) fn open_or_create(
        name: &str,
        permissions: Permissions,
        layout: Layout,
        init: impl FnOnce(&MappedRegion, usize) -> Result<()>,
        config: OpenConfig,
    ) -> Result<RawObject> {
        RawObject::open_or_create_sized(name, permissions, layout, layout.len(), init, config)
    }

    /// [`open_or_create`](RawObject::open_or_create) with the object sized to `len` bytes if
    /// this call creates it (ignored when opening).
    pub(crate) fn open_or_create_sized(
        name: &str,
        permissions: Permissions,
        layout: Layout,
        len: usize,
        init: impl FnOnce(&MappedRegion, usize) -> Result<()>,
        config: OpenConfig,
    ) -> Result<RawObject> {
        let (shm, region) = open_or_create_object(
            || {
                SharedMemory::options()
                    .create(true)
                    .permissions(permissions)
                    .open(name)
            },
            layout,
            len,
            init,
            config,
        )?;
        Ok(RawObject {
            region,
            name: name.to_owned(),
            created: shm.created(),
            layout,
        })
    }

    /// The object's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether this handle created the object.
    pub(crate) fn created(&self) -> bool {
        self.created
    }

    /// The mapping: header at 0, payload at the layout's offset.
    pub(crate) fn region(&self) -> &MappedRegion {
        &self.region
    }

    /// The first byte of the payload, valid (and aligned for the layout) while `self` lives.
    pub(crate) fn payload_ptr(&self) -> *mut u8 {
        // Arithmetic only: `attach`/`initialise` checked offset + size <= region.len().
        self.region.as_mut_ptr().wrapping_add(self.layout.offset)
    }
}

/// Where a named object's bytes live: a POSIX shared memory object ([`SharedMemory`]), a
/// file, or a System V segment. The protocol below is written once against this trait.
pub(crate) trait Device {
    /// The object's name (or path, or key) for messages.
    fn describe(&self) -> String;
    /// Whether opening this device created the object (a fresh, empty one).
    fn created(&self) -> bool;
    /// The object's current size in bytes.
    fn len(&self) -> Result<u64>;
    /// Sizes a freshly created object, reserving its storage.
    fn set_len(&self, len: u64) -> Result<()>;
    /// Maps the whole object with the access its handle allows (read-write if opened so).
    fn map(&self) -> Result<MappedRegion>;
    /// Maps the whole object with `access` (managed segments map privately for read-only and
    /// copy-on-write views).
    fn map_as(&self, access: Access) -> Result<MappedRegion>;
    /// How many names the object has: 0 once removed (another object may have the name now).
    fn link_count(&self) -> Result<u64>;
    /// Removes the object's name.
    fn unlink(&self) -> Result<()>;
}

impl Device for SharedMemory {
    fn describe(&self) -> String {
        self.name().to_owned()
    }

    fn created(&self) -> bool {
        SharedMemory::created(self)
    }

    fn len(&self) -> Result<u64> {
        SharedMemory::len(self)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        SharedMemory::set_len(self, len)
    }

    fn map(&self) -> Result<MappedRegion> {
        MappedRegion::map(self)
    }

    fn map_as(&self, access: Access) -> Result<MappedRegion> {
        MappedRegion::options().access(access).map(self)
    }

    fn link_count(&self) -> Result<u64> {
        SharedMemory::link_count(self)
    }

    fn unlink(&self) -> Result<()> {
        SharedMemory::remove(self.name())
    }
}

/// Creates the object on the freshly created `dev` (the creator's half of the protocol, from
/// the sizing step): sizes it to `len` bytes (at least the layout's), runs `init(region,
/// payload_offset)` and publishes `ready`. Returns the read-write mapping.
pub(crate) fn create_object<D: Device>(
    dev: &D,
    layout: Layout,
    len: usize,
    init: impl FnOnce(&MappedRegion, usize) -> Result<()>,
) -> Result<MappedRegion> {
    initialise(dev, layout, len.max(layout.len()), init)
}

/// Opens the object on `dev`, waiting (bounded) for its creator: the opener's half of the
/// protocol. Returns the mapping `dev` allows (read-only for a read-only device).
pub(crate) fn open_object<D: Device>(
    dev: &D,
    layout: Layout,
    config: OpenConfig,
) -> Result<MappedRegion> {
    match attach(dev, layout, config)? {
        Attached::Ready(region) => Ok(region),
        Attached::Stale(stale) => Err(stale.error(&dev.describe())),
    }
}

/// Opens or creates the object: `open_dev` opens the device, creating it if missing
/// (race-free); the creator runs `init`, everyone else waits for it; an object whose creator
/// died while initialising it is replaced (see the module docs).
pub(crate) fn open_or_create_object<D: Device>(
    mut open_dev: impl FnMut() -> Result<D>,
    layout: Layout,
    len: usize,
    init: impl FnOnce(&MappedRegion, usize) -> Result<()>,
    config: OpenConfig,
) -> Result<(D, MappedRegion)> {
    let mut init = Some(init);
    let mut replaced = 0;
    let deadline = Instant::now().checked_add(config.timeout);
    loop {
        let dev = open_dev()?;
        if dev.created() {
            let init = init
                .take()
                .expect("a process creates the name at most once");
            let region = initialise(&dev, layout, len.max(layout.len()), init)?;
            return Ok((dev, region));
        }
        let stale = match attach(&dev, layout, config)? {
            Attached::Ready(region) => return Ok((dev, region)),
            Attached::Stale(stale) => stale,
        };
        let name = dev.describe();
        if replaced >= config.attempts {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "`{name}`: replaced {replaced} objects whose creators died while \
                     initialising them, and the name is stale again; giving up"
                ),
            ));
        }
        match stale.replace(&dev)? {
            Replace::Replaced => replaced += 1,
            Replace::Retry => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(stale.error(&name));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

/// A named object holding one `T`, validated and mapped; derefs to the `T`.
pub(crate) struct NamedObject<T: Payload> {
    raw: RawObject,
    _payload: PhantomData<T>,
}

impl<T: Payload> NamedObject<T> {
    fn typed(raw: RawObject) -> NamedObject<T> {
        debug_assert_eq!(raw.layout, Layout::of::<T>());
        NamedObject {
            raw,
            _payload: PhantomData,
        }
    }

    /// `T`'s writer for [`RawObject`]: puts `value` at the payload offset.
    fn writer(value: T) -> impl FnOnce(&MappedRegion, usize) -> Result<()> {
        move |region, offset| {
            // SAFETY: `initialise` calls this after sizing and mapping a new object, before it
            // publishes `ready`: no process reads the payload yet (they wait for `ready`), and
            // this process holds no reference to those bytes.
            unsafe { region.put(offset, value) }.map(|_| ())
        }
    }

    /// Creates `name` holding `value`; fails if the name exists.
    pub(crate) fn create(name: &str, permissions: Permissions, value: T) -> Result<NamedObject<T>> {
        RawObject::create(name, permissions, Layout::of::<T>(), Self::writer(value))
            .map(Self::typed)
    }

    /// Opens `name`, which must hold a `T`.
    pub(crate) fn open(name: &str) -> Result<NamedObject<T>> {
        Self::open_with(name, OpenConfig::default())
    }

    /// [`open`](NamedObject::open) with explicit protocol knobs.
    pub(crate) fn open_with(name: &str, config: OpenConfig) -> Result<NamedObject<T>> {
        RawObject::open(name, Layout::of::<T>(), config).map(Self::typed)
    }

    /// Opens `name`, or creates it holding `value` (ignored when opening).
    pub(crate) fn open_or_create(
        name: &str,
        permissions: Permissions,
        value: T,
    ) -> Result<NamedObject<T>> {
        Self::open_or_create_with(name, permissions, value, OpenConfig::default())
    }

    /// [`open_or_create`](NamedObject::open_or_create) with explicit protocol knobs.
    pub(crate) fn open_or_create_with(
        name: &str,
        permissions: Permissions,
        value: T,
        config: OpenConfig,
    ) -> Result<NamedObject<T>> {
        RawObject::open_or_create(
            name,
            permissions,
            Layout::of::<T>(),
            Self::writer(value),
            config,
        )
        .map(Self::typed)
    }

    /// The object's name.
    pub(crate) fn name(&self) -> &str {
        self.raw.name()
    }

    /// Whether this handle created the object.
    pub(crate) fn created(&self) -> bool {
        self.raw.created()
    }
}

impl<T: Payload> Deref for NamedObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the region is mapped read-write for as long as `self.raw` lives and is at
        // least `Layout::of::<T>().len()` bytes long (checked when opening, sized when
        // creating); the payload offset is a multiple of `align_of::<T>()` from a page-aligned
        // base. The payload was fully written before `ready` was published with release
        // ordering, and we observed it with acquire (or wrote it). Any bit pattern is a valid
        // `T` (ShmSafe), and this process accesses these bytes only through `&T`.
        unsafe { &*self.raw.payload_ptr().cast::<T>() }
    }
}

impl<T: Payload> std::fmt::Debug for NamedObject<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedObject")
            .field("name", &self.raw.name)
            .field("kind", &self.raw.layout.kind)
            .field("created", &self.raw.created)
            .finish()
    }
}

/// The header of `region`, which may be mapped read-only: the protocol only loads from (and
/// futex-waits on) the header of a region it did not map read-write, and stores only through
/// the read-write mappings of `initialise` and `Stale::replace`.
fn header(region: &MappedRegion) -> Result<&Header> {
    if region.len() < HEADER_SIZE {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "a region shorter than a named-object header",
        ));
    }
    // SAFETY: the region is mapped (readable) for at least HEADER_SIZE bytes while `&region`
    // lives, and its start is page-aligned, so aligned for `Header`. This module accesses those
    // bytes only through `&Header` (atomics, defined whatever other processes do), in every
    // process. Atomic loads of read-only memory are allowed; stores are only made through
    // read-write mappings (see above).
    Ok(unsafe { &*region.as_ptr().cast::<Header>() })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The creator's half of the protocol, from the sizing step: returns the mapped, ready object.
/// On failure, marks the object corrupt (if mapped) and removes the name.
fn initialise<D: Device>(
    dev: &D,
    layout: Layout,
    len: usize,
    init: impl FnOnce(&MappedRegion, usize) -> Result<()>,
) -> Result<MappedRegion> {
    let give_up = |e: Error| -> Error {
        // Nobody else removes a name whose creator lives, so this is still our object.
        let _ = dev.unlink();
        e
    };
    dev.set_len(len as u64).map_err(give_up)?;
    let region = dev.map().map_err(give_up)?;
    let h = header(&region).map_err(give_up)?;
    h.creator_pid.store(sys::current_pid(), Ordering::Relaxed);
    h.created_at.store(unix_now(), Ordering::Relaxed);
    h.version.store(LAYOUT_VERSION, Ordering::Relaxed);
    h.kind.store(layout.kind.code(), Ordering::Relaxed);
    h.payload_size.store(layout.size as u32, Ordering::Relaxed);
    h.payload_align
        .store(layout.align as u32, Ordering::Relaxed);
    h.payload_offset
        .store(layout.offset as u32, Ordering::Relaxed);
    h.magic.store(MAGIC_WORD, Ordering::Relaxed);
    // Publishes everything above: an opener that sees `initialising` may check it all.
    h.state.store(INITIALISING, Ordering::Release);
    if let Err(e) = init(&region, layout.offset) {
        h.state.store(CORRUPT, Ordering::Release);
        sys::futex_wake(&h.state, i32::MAX as u32);
        return Err(give_up(e));
    }
    h.state.store(READY, Ordering::Release);
    sys::futex_wake(&h.state, i32::MAX as u32);
    Ok(region)
}

/// Writes a complete, ready header for an object no other process can see yet or ever (a
/// process-local segment on the heap or in a caller's buffer): no protocol, `ready` at once.
pub(crate) fn stamp_local(h: &Header, layout: Layout) {
    h.state.store(UNINIT, Ordering::Relaxed);
    h.creator_pid.store(sys::current_pid(), Ordering::Relaxed);
    h.created_at.store(unix_now(), Ordering::Relaxed);
    h.version.store(LAYOUT_VERSION, Ordering::Relaxed);
    h.kind.store(layout.kind.code(), Ordering::Relaxed);
    h.payload_size.store(layout.size as u32, Ordering::Relaxed);
    h.payload_align
        .store(layout.align as u32, Ordering::Relaxed);
    h.payload_offset
        .store(layout.offset as u32, Ordering::Relaxed);
    for r in &h.reserved {
        r.store(0, Ordering::Relaxed);
    }
    h.magic.store(MAGIC_WORD, Ordering::Relaxed);
    h.state.store(READY, Ordering::Release);
}

/// Checks the header of a process-local object (see [`stamp_local`]) of `len` bytes: a shmkit
/// header, ready, of this kind and layout.
pub(crate) fn check_local(name: &str, h: &Header, layout: Layout, len: usize) -> Result<()> {
    if h.magic.load(Ordering::Relaxed) != MAGIC_WORD {
        return Err(Error::new(
            ErrorKind::Incompatible,
            format!("{name} does not hold a shmkit object (no shmkit header)"),
        ));
    }
    check_identity(name, h, layout, len)?;
    if h.state.load(Ordering::Acquire) != READY {
        return Err(Error::new(
            ErrorKind::Corrupted,
            format!("{name} holds a shmkit object that was never completely initialised"),
        ));
    }
    Ok(())
}

/// What `attach` found.
enum Attached {
    /// Ready and matching the layout.
    Ready(MappedRegion),
    /// A shmkit object of the right kind that will never be ready.
    Stale(Stale),
}

/// An object that will never be ready: still `initialising` by a dead process, or `corrupt`.
struct Stale {
    region: MappedRegion,
    state: u32,
    pid: u32,
}

/// What a replacement attempt did.
enum Replace {
    /// The stale object lost its name: open or create again (counts towards the attempts).
    Replaced,
    /// Someone else is replacing it, or already did: try again shortly.
    Retry,
}

impl Stale {
    fn error(&self, name: &str) -> Error {
        let why = if self.state == INITIALISING {
            format!(
                "its creator (pid {}) died while initialising it; remove it, or use \
                 open_or_create, which replaces it",
                self.pid
            )
        } else {
            "it is marked corrupt (its creator failed to initialise it, or it was replaced)"
                .to_owned()
        };
        Error::new(
            ErrorKind::Corrupted,
            format!("`{name}` is not usable: {why}"),
        )
    }

    /// Tries to remove the stale object's name (see "Open or create" in the module docs).
    fn replace<D: Device>(&self, dev: &D) -> Result<Replace> {
        if dev.link_count()? == 0 {
            // Already removed; whatever has the name now is another object.
            return Ok(Replace::Replaced);
        }
        if sys::is_alive(self.pid) {
            // A corrupt object whose marker (its creator or a replacer) is removing it.
            return Ok(Replace::Retry);
        }
        let h = header(&self.region)?;
        let me = sys::current_pid();
        if h.creator_pid
            .compare_exchange(self.pid, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(Replace::Retry);
        }
        // The stale object is ours now. A previous replacer may have died after removing the
        // name: only remove it if this object still has it (nobody else can remove it while we
        // hold the claim, so the check does not race).
        if dev.link_count()? > 0 {
            match dev.unlink() {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        h.state.store(CORRUPT, Ordering::Release);
        sys::futex_wake(&h.state, i32::MAX as u32);
        Ok(Replace::Replaced)
    }
}

/// The opener's half of the protocol: waits (bounded) for `dev` to be ready and checks it
/// against `layout`.
fn attach<D: Device>(dev: &D, layout: Layout, config: OpenConfig) -> Result<Attached> {
    let name = &dev.describe();
    let started = Instant::now();
    let deadline = started.checked_add(config.timeout);
    let expired = || deadline.is_some_and(|d| Instant::now() >= d);
    let nap_for = |nap: Duration| deadline.map_or(nap, |d| nap.min(d - Instant::now().min(d)));
    let mut nap = Duration::from_micros(20);

    // A creator sizes the object right after creating it: wait for a size.
    let region = loop {
        if dev.len()? > 0 {
            break dev.map()?;
        }
        if expired() {
            return Err(Error::new(
                ErrorKind::Incompatible,
                format!(
                    "`{name}` is still empty after {:?}: it is not a shmkit object, or its \
                     creator died before writing its header; remove it",
                    config.timeout
                ),
            ));
        }
        std::thread::sleep(nap_for(nap));
        nap = (nap * 2).min(MAX_NAP);
    };
    if region.len() < HEADER_SIZE {
        return Err(too_small(name, &region));
    }
    let h = header(&region)?;
    loop {
        let state = h.state.load(Ordering::Acquire);
        let magic = h.magic.load(Ordering::Relaxed);
        let pending = match (magic == MAGIC_WORD, state) {
            (true, INITIALISING | READY | CORRUPT) => false,
            (true, UNINIT) => true,
            (false, UNINIT) if magic == 0 => true,
            _ => {
                return Err(Error::new(
                    ErrorKind::Incompatible,
                    format!(
                        "`{name}` is not a shmkit object (no shmkit header), so it cannot be \
                         opened as {}",
                        layout.kind.with_article()
                    ),
                ));
            }
        };
        if pending {
            if expired() {
                let (kind, why) = if magic == 0 {
                    (
                        ErrorKind::Incompatible,
                        "its header is all zeros: it is not a shmkit object, or its creator \
                         died before writing the header; remove it",
                    )
                } else {
                    (
                        ErrorKind::Corrupted,
                        "its shmkit header was never marked initialising; remove it",
                    )
                };
                return Err(Error::new(
                    kind,
                    format!("`{name}` after {:?}: {why}", config.timeout),
                ));
            }
            sys::futex_wait(&h.state, state, Some(nap_for(nap)));
            nap = (nap * 2).min(MAX_NAP);
            continue;
        }
        check_identity(name, h, layout, region.len())?;
        match state {
            READY => break,
            CORRUPT => {
                let pid = h.creator_pid.load(Ordering::Acquire);
                return Ok(Attached::Stale(Stale { region, state, pid }));
            }
            _ => {}
        }
        // Initialising: by a live process, wait; by a dead one, it will never be ready.
        let pid = h.creator_pid.load(Ordering::Acquire);
        if !sys::is_alive(pid) {
            if h.state.load(Ordering::Acquire) == INITIALISING
                && h.creator_pid.load(Ordering::Acquire) == pid
            {
                return Ok(Attached::Stale(Stale { region, state, pid }));
            }
            continue;
        }
        if expired() {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "`{name}` is still being initialised by process {pid} after {:?}",
                    config.timeout
                ),
            ));
        }
        sys::futex_wait(&h.state, INITIALISING, Some(nap_for(nap)));
        nap = (nap * 2).min(MAX_NAP);
    }
    Ok(Attached::Ready(region))
}

/// The error for an object shorter than a header.
fn too_small(name: &str, region: &MappedRegion) -> Error {
    let len = region.len();
    let mut magic = [0; 8];
    if len >= magic.len() && region.read_at(0, &mut magic).is_ok() && magic == MAGIC {
        Error::new(
            ErrorKind::Corrupted,
            format!(
                "`{name}` is a truncated shmkit object: {len} bytes, less than its \
                 {HEADER_SIZE}-byte header"
            ),
        )
    } else {
        Error::new(
            ErrorKind::Incompatible,
            format!("`{name}` is not a shmkit object: {len} bytes, too small for a shmkit header"),
        )
    }
}

/// Checks what the creator wrote before publishing `initialising`: version, kind, payload
/// layout, and the object's length.
fn check_identity(name: &str, h: &Header, layout: Layout, len: usize) -> Result<()> {
    let incompatible = |why: String| Err(Error::new(ErrorKind::Incompatible, why));
    let version = h.version.load(Ordering::Relaxed);
    if version != LAYOUT_VERSION {
        return incompatible(format!(
            "`{name}` is a shmkit object of layout version {version}; this shmkit reads \
             version {LAYOUT_VERSION}"
        ));
    }
    let code = h.kind.load(Ordering::Relaxed);
    if code != layout.kind.code() {
        let found = match Kind::from_code(code) {
            Some(kind) => format!("`{name}` is a shmkit {}", kind.noun()),
            None => format!("`{name}` is a shmkit object of unknown kind {code}"),
        };
        return incompatible(format!("{found}, not {}", layout.kind.with_article()));
    }
    let (size, align, offset) = (
        h.payload_size.load(Ordering::Relaxed) as usize,
        h.payload_align.load(Ordering::Relaxed) as usize,
        h.payload_offset.load(Ordering::Relaxed) as usize,
    );
    if (size, align, offset) != (layout.size, layout.align, layout.offset) {
        return incompatible(format!(
            "`{name}` holds a {}-byte {} (align {align}, at offset {offset}); this build's is \
             {} bytes (align {}, at offset {}): it was made by an incompatible shmkit build",
            size,
            layout.kind.noun(),
            layout.size,
            layout.align,
            layout.offset
        ));
    }
    if len < layout.len() {
        return Err(Error::new(
            ErrorKind::Corrupted,
            format!(
                "`{name}` is a truncated shmkit {}: {len} bytes, it needs {}",
                layout.kind.noun(),
                layout.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(tag: &str) -> String {
        use std::sync::atomic::AtomicUsize;
        static N: AtomicUsize = AtomicUsize::new(0);
        format!(
            "shmkit-u-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn quick() -> OpenConfig {
        OpenConfig {
            timeout: Duration::from_millis(50),
            attempts: 3,
        }
    }

    #[test]
    fn kinds_roundtrip_their_codes() {
        for code in 1..=9 {
            assert_eq!(Kind::from_code(code).unwrap().code(), code);
        }
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::from_code(10), None);
        assert_eq!(
            Kind::UpgradableRwLock.with_article(),
            "an upgradable rwlock"
        );
        assert_eq!(Kind::Mutex.with_article(), "a mutex");
    }

    #[test]
    fn payload_offset_is_the_header_or_the_alignment() {
        assert_eq!(Layout::new(Kind::Mutex, 4, 4).offset, 64);
        assert_eq!(Layout::new(Kind::Mutex, 4, 4).len(), 68);
        assert_eq!(Layout::new(Kind::Mutex, 256, 128).offset, 128);
    }

    #[test]
    fn an_all_zero_object_times_out_as_incompatible() {
        let n = name("zero");
        let shm = SharedMemory::create(&n).unwrap();
        shm.set_len(4096).unwrap();
        let layout = Layout::new(Kind::Mutex, 4, 4);
        let started = Instant::now();
        let err = RawObject::open(&n, layout, quick()).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
        assert!(err.to_string().contains("all zeros"), "{err}");
        // open_or_create never replaces what it cannot prove is a stale shmkit object.
        let err =
            RawObject::open_or_create(&n, Permissions::default(), layout, |_, _| Ok(()), quick())
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
        SharedMemory::remove(&n).unwrap();
    }

    #[test]
    fn a_failing_initialiser_marks_corrupt_and_removes_the_name() {
        let n = name("fail");
        let layout = Layout::new(Kind::Mutex, 4, 4);
        let err = RawObject::create(&n, Permissions::default(), layout, |_, _| {
            Err(Error::new(ErrorKind::InvalidArgument, "nope"))
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            SharedMemory::open(&n).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn variable_size_objects_may_be_longer_than_their_payload() {
        let n = name("long");
        let layout = Layout::new(Kind::Semaphore, 8, 8);
        let a = RawObject::create(&n, Permissions::default(), layout, |region, offset| {
            region.write_at(offset, &[1; 8])
        })
        .unwrap();
        assert!(a.created());
        let shm = SharedMemory::open(&n).unwrap();
        shm.set_len(4096).unwrap();
        let b = RawObject::open(&n, layout, quick()).unwrap();
        assert!(!b.created());
        assert_eq!(b.region().len(), 4096);
        SharedMemory::remove(&n).unwrap();
    }
}
