//! [`MessageQueue`]: the byte-message queue, named or anonymous.
#![allow(unsafe_code)]

use std::fmt;
use std::time::Duration;

use super::core::{Core, Wait};
use super::shared::{CONTROL_SIZE, Control, Geometry, View};
use super::slot::{ReceivedSlot, SendSlot};
use crate::error::Result;
use crate::region::{MappedRegion, Permissions, SharedMemory};
use crate::sync::named::object::{Kind, Layout, OpenConfig, RawObject};

/// The payload layout of a named queue: the control block, 64-byte aligned, at offset 64.
const LAYOUT: Layout = Layout::new(Kind::MessageQueue, CONTROL_SIZE, 64);

/// What keeps a queue's memory mapped.
#[derive(Debug)]
enum Backing {
    Named(RawObject),
    /// Kept only to keep the memory mapped.
    Anonymous {
        _mapping: MappedRegion,
    },
}

/// A bounded queue of byte messages between processes, ordered by priority: Boost's
/// `message_queue`, robust and faster.
///
/// A queue holds up to [`capacity`](MessageQueue::capacity) messages of up to
/// [`max_msg_size`](MessageQueue::max_msg_size) bytes each, in slots preallocated when it is
/// created. Receivers get the **highest priority first, and first-in first-out within a
/// priority**. Every operation comes in three forms: blocking (`send`, `receive`), non-blocking
/// (`try_*`: `Ok(false)` / `Ok(None)` when full / empty) and timed (`*_timeout`, on the monotonic
/// clock).
///
/// A named queue lives in the shared memory object `/dev/shm/<name>`, created, opened and removed
/// as the [named synchronization objects](crate::sync::named) are (a validated header, race-free
/// [`open_or_create`](MessageQueue::open_or_create), recovery from a creator that died while
/// initialising). An [anonymous](MessageQueue::anonymous) queue is shared with `fork`ed
/// children.
///
/// # Beyond Boost
///
/// * **Robust**: a process killed at any moment (holding the queue lock, or copying a message in
///   or out of its slot) does not hang the others or corrupt the queue: messages whose send
///   returned are delivered exactly once, a half-written message is never delivered, a message
///   a killed receiver had not finished taking is delivered again. Boost's queue is left
///   unusable (`not_recoverable`) when a process dies holding its mutex.
/// * **Checked**: every index read from shared memory is bounds-checked, so a corrupt queue
///   gives [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted), never an out-of-bounds access,
///   and the next operation rebuilds it from its slots.
/// * **Short buffers are fine**: `receive` takes any buffer at least as long as the waiting
///   message; a shorter one is [`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge)
///   and the message stays queued (Boost demands a `max_msg_size` buffer).
/// * **Zero-copy**: [`reserve`](MessageQueue::reserve) a slot and write the message in place,
///   [`receive_in_place`](MessageQueue::receive_in_place) to read it where it lies.
/// * **Typed**: [`TypedQueue<T>`](crate::TypedQueue) for plain-data messages.
///
/// Handles are `Send` and `Sync`; several threads may use one handle.
///
/// # Examples
///
/// ```
/// use shmkit::MessageQueue;
///
/// let name = format!("doc-mq-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
///
/// let tx = MessageQueue::create(&name, 16, 128)?;
/// let rx = MessageQueue::open(&name)?; // in another process, typically
/// tx.send(b"low", 1)?;
/// tx.send(b"high", 9)?;
/// let mut buf = [0u8; 128];
/// let (len, priority) = rx.receive(&mut buf)?;
/// assert_eq!((&buf[..len], priority), (&b"high"[..], 9));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct MessageQueue {
    core: Core,
    backing: Backing,
}

impl MessageQueue {
    /// Creates the queue `name` for `max_msgs` messages of up to `max_msg_size` bytes, with
    /// [`Permissions::default`] (`0o600`). All slots are allocated now (a full `/dev/shm` fails
    /// here, not later).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) if the name is taken;
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) if `max_msgs` is 0 or
    /// above [`MAX_MSGS`](crate::mq::MAX_MSGS), or `max_msg_size` above
    /// [`MAX_MSG_SIZE`](crate::mq::MAX_MSG_SIZE);
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName);
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) or
    /// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory) from the system.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, MessageQueue};
    ///
    /// let name = format!("doc-mq-create-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let q = MessageQueue::create(&name, 8, 64)?;
    /// assert_eq!((q.capacity(), q.max_msg_size()), (8, 64));
    /// assert_eq!(MessageQueue::create(&name, 8, 64).unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, max_msgs: usize, max_msg_size: usize) -> Result<MessageQueue> {
        MessageQueue::create_with(name, max_msgs, max_msg_size, Permissions::default())
    }

    /// [`create`](MessageQueue::create) with `permissions` (applied exactly, whatever the
    /// umask). Processes that open the queue need read and write permission.
    ///
    /// # Errors
    ///
    /// As [`create`](MessageQueue::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{MessageQueue, Permissions, SharedMemory};
    ///
    /// let name = format!("doc-mq-perm-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// MessageQueue::create_with(&name, 8, 64, Permissions::from_mode(0o660))?;
    /// assert_eq!(SharedMemory::open(&name)?.permissions()?.mode(), 0o660);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(
        name: &str,
        max_msgs: usize,
        max_msg_size: usize,
        permissions: Permissions,
    ) -> Result<MessageQueue> {
        let geo = Geometry::new(max_msgs, max_msg_size)?;
        let object = RawObject::create_sized(
            name,
            permissions,
            LAYOUT,
            LAYOUT.len() - CONTROL_SIZE + geo.len,
            |region, offset| initialise(region, offset, geo),
        )?;
        Ok(MessageQueue::named(object, geo))
    }

    /// Opens the existing queue `name`, waiting (up to a second) for its creator to finish
    /// initialising it. Its sizes are read from the queue, and checked against the object's
    /// length.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) if no object has that name;
    /// [`ErrorKind::Incompatible`](crate::ErrorKind::Incompatible) if it is not a shmkit message
    /// queue (another kind of shmkit object, a plain shared memory object, another program's);
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if it is a damaged one (truncated,
    /// inconsistent sizes, or its creator died while initialising it);
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) if its live creator did not finish
    /// within a second; [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName);
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, MessageQueue};
    ///
    /// let name = format!("doc-mq-open-{}", std::process::id());
    /// assert_eq!(MessageQueue::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// MessageQueue::create(&name, 4, 32)?;
    /// let q = MessageQueue::open(&name)?;
    /// assert_eq!((q.capacity(), q.max_msg_size()), (4, 32));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<MessageQueue> {
        let object = RawObject::open(name, LAYOUT, OpenConfig::default())?;
        MessageQueue::attach(object)
    }

    /// Opens the queue `name`, creating it (for `max_msgs` messages of up to `max_msg_size`
    /// bytes, [`Permissions::default`]) if it does not exist. Race-free: when several processes
    /// call it at once, exactly one creates the queue ([`created`](MessageQueue::created)). The
    /// sizes are ignored when the queue already exists, as in Boost. A queue left unusable by
    /// a creator that died while initialising it is replaced.
    ///
    /// # Errors
    ///
    /// As [`create`](MessageQueue::create) (the sizes are checked even if the queue exists)
    /// and [`open`](MessageQueue::open), except `AlreadyExists` and `NotFound`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::MessageQueue;
    ///
    /// let name = format!("doc-mq-ooc-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let first = MessageQueue::open_or_create(&name, 8, 64)?;
    /// let second = MessageQueue::open_or_create(&name, 1000, 1000)?; // sizes ignored
    /// assert!(first.created() && !second.created());
    /// assert_eq!(second.capacity(), 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(
        name: &str,
        max_msgs: usize,
        max_msg_size: usize,
    ) -> Result<MessageQueue> {
        let geo = Geometry::new(max_msgs, max_msg_size)?;
        let object = RawObject::open_or_create_sized(
            name,
            Permissions::default(),
            LAYOUT,
            LAYOUT.len() - CONTROL_SIZE + geo.len,
            |region, offset| initialise(region, offset, geo),
            OpenConfig::default(),
        )?;
        if object.created() {
            Ok(MessageQueue::named(object, geo))
        } else {
            MessageQueue::attach(object)
        }
    }

    /// Removes the queue `name` (its shared memory object). Processes that have it open keep
    /// using it; the memory is freed when the last one closes it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound);
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName);
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, MessageQueue};
    ///
    /// let name = format!("doc-mq-remove-{}", std::process::id());
    /// let q = MessageQueue::create(&name, 4, 16)?;
    /// MessageQueue::remove(&name)?;
    /// q.send(b"still works", 0)?; // the handle keeps the memory
    /// assert_eq!(MessageQueue::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        SharedMemory::remove(name)
    }

    /// Creates an anonymous queue in anonymous shared memory: processes `fork`ed after this
    /// call share it (Boost 1.86's anonymous `message_queue`). It has no name and nothing to
    /// remove; its memory goes when the last process unmaps it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for sizes as in
    /// [`create`](MessageQueue::create);
    /// [`ErrorKind::OutOfMemory`](crate::ErrorKind::OutOfMemory).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 32)?;
    /// q.send(b"to a forked child", 0)?;
    /// assert_eq!(q.receive_vec()?, (b"to a forked child".to_vec(), 0));
    /// assert_eq!(q.name(), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn anonymous(max_msgs: usize, max_msg_size: usize) -> Result<MessageQueue> {
        let geo = Geometry::new(max_msgs, max_msg_size)?;
        let region = MappedRegion::anonymous(geo.len)?;
        // SAFETY: a fresh, page-aligned, read-write mapping of geo.len bytes, owned by the
        // queue we return and accessed only through this view.
        let view = unsafe { View::new(region.as_mut_ptr(), geo) };
        // SAFETY: nobody else has this memory yet.
        unsafe { view.initialise() };
        Ok(MessageQueue {
            core: Core::new(view, "anonymous message queue".to_owned()),
            backing: Backing::Anonymous { _mapping: region },
        })
    }

    fn named(object: RawObject, geo: Geometry) -> MessageQueue {
        // SAFETY: the payload is 64-aligned and followed by geo.len bytes of the mapping
        // (sized so by the creator, or checked by `attach`), which `object` keeps mapped for as
        // long as the queue lives; shmkit accesses it only through `View`.
        let view = unsafe { View::new(object.payload_ptr(), geo) };
        let label = format!("message queue `{}`", object.name());
        MessageQueue {
            core: Core::new(view, label),
            backing: Backing::Named(object),
        }
    }

    fn attach(object: RawObject) -> Result<MessageQueue> {
        let offset = LAYOUT.len() - CONTROL_SIZE;
        // SAFETY: the control block is only ever accessed as atomics, in every process.
        let control = unsafe { object.region().get::<Control>(offset)? };
        let mapped = object.region().len() - offset;
        let geo = View::read_geometry(control, mapped, object.name())?;
        Ok(MessageQueue::named(object, geo))
    }

    /// The queue's name; `None` for an anonymous queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-mq-name-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let q = shmkit::MessageQueue::create(&name, 1, 1)?;
    /// assert_eq!(q.name(), Some(name.as_str()));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        match &self.backing {
            Backing::Named(object) => Some(object.name()),
            Backing::Anonymous { .. } => None,
        }
    }

    /// Whether this handle created the queue (always true for an anonymous queue).
    ///
    /// # Examples
    ///
    /// See [`open_or_create`](MessageQueue::open_or_create).
    pub fn created(&self) -> bool {
        match &self.backing {
            Backing::Named(object) => object.created(),
            Backing::Anonymous { .. } => true,
        }
    }

    /// The most messages the queue holds (Boost's `get_max_msg`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::MessageQueue::anonymous(10, 8)?.capacity(), 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// The largest message the queue takes, in bytes (Boost's `get_max_msg_size`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::MessageQueue::anonymous(10, 8)?.max_msg_size(), 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn max_msg_size(&self) -> usize {
        self.core.max_msg_size()
    }

    /// How many messages are queued (Boost's `get_num_msg`): a snapshot, read without the
    /// lock. Messages being written or read outside the lock are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(10, 8)?;
    /// q.send(b"x", 0)?;
    /// assert_eq!(q.len(), 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no message is queued (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::MessageQueue::anonymous(10, 8)?.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ------------------------------------------------------------------------ send

    /// Sends `msg` with `priority` (higher is received first), waiting for a free slot if the
    /// queue is full.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge) if `msg` is longer
    /// than [`max_msg_size`](MessageQueue::max_msg_size);
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) if the queue's shared state breaks
    /// an invariant (the next operation repairs it).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, MessageQueue};
    ///
    /// let q = MessageQueue::anonymous(4, 8)?;
    /// q.send(b"12345678", 0)?;
    /// assert_eq!(q.send(b"123456789", 0).unwrap_err().kind(), ErrorKind::MessageTooLarge);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send(&self, msg: &[u8], priority: u32) -> Result<()> {
        self.core.send(msg, priority, Wait::Forever).map(|_| ())
    }

    /// Sends `msg` if a slot is free now: `Ok(false)` if the queue is full.
    ///
    /// # Errors
    ///
    /// As [`send`](MessageQueue::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(1, 8)?;
    /// assert!(q.try_send(b"a", 0)?);
    /// assert!(!q.try_send(b"b", 0)?); // full
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_send(&self, msg: &[u8], priority: u32) -> Result<bool> {
        self.core.send(msg, priority, Wait::No)
    }

    /// Sends `msg`, waiting at most `timeout` (monotonic clock) for a free slot: `Ok(false)` if
    /// none came.
    ///
    /// # Errors
    ///
    /// As [`send`](MessageQueue::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = shmkit::MessageQueue::anonymous(1, 8)?;
    /// assert!(q.send_timeout(b"a", 0, Duration::from_millis(10))?);
    /// assert!(!q.send_timeout(b"b", 0, Duration::from_millis(10))?); // full
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send_timeout(&self, msg: &[u8], priority: u32, timeout: Duration) -> Result<bool> {
        self.core.send(msg, priority, Wait::timeout(timeout))
    }

    // ------------------------------------------------------------------------ receive

    /// Receives the highest-priority (then oldest) message into `buf`, waiting for one if the
    /// queue is empty; returns its length and priority.
    ///
    /// `buf` needs only be as long as the message (Boost demands `max_msg_size`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge) if the message is
    /// longer than `buf`: the message stays queued, to be received with a longer buffer;
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) as for
    /// [`send`](MessageQueue::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, MessageQueue};
    ///
    /// let q = MessageQueue::anonymous(4, 64)?;
    /// q.send(b"hello", 3)?;
    /// let mut small = [0u8; 2];
    /// assert_eq!(q.receive(&mut small).unwrap_err().kind(), ErrorKind::MessageTooLarge);
    /// let mut buf = [0u8; 5];
    /// assert_eq!(q.receive(&mut buf)?, (5, 3));
    /// assert_eq!(&buf, b"hello");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive(&self, buf: &mut [u8]) -> Result<(usize, u32)> {
        self.core
            .receive(buf, Wait::Forever)
            .map(|r| r.expect("a wait without deadline only returns with a message"))
    }

    /// Receives a message into `buf` if one is queued now: `Ok(None)` if the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`receive`](MessageQueue::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 8)?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(q.try_receive(&mut buf)?, None);
    /// q.send(b"x", 7)?;
    /// assert_eq!(q.try_receive(&mut buf)?, Some((1, 7)));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_receive(&self, buf: &mut [u8]) -> Result<Option<(usize, u32)>> {
        self.core.receive(buf, Wait::No)
    }

    /// Receives a message into `buf`, waiting at most `timeout` (monotonic clock) for one:
    /// `Ok(None)` if none came.
    ///
    /// # Errors
    ///
    /// As [`receive`](MessageQueue::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = shmkit::MessageQueue::anonymous(4, 8)?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(q.receive_timeout(&mut buf, Duration::from_millis(10))?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive_timeout(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<(usize, u32)>> {
        self.core.receive(buf, Wait::timeout(timeout))
    }

    /// Receives a message into a new `Vec` of its length, waiting for one if the queue is
    /// empty.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) as for
    /// [`send`](MessageQueue::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 64)?;
    /// q.send(b"owned", 2)?;
    /// assert_eq!(q.receive_vec()?, (b"owned".to_vec(), 2));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive_vec(&self) -> Result<(Vec<u8>, u32)> {
        self.core
            .receive_vec(Wait::Forever)
            .map(|r| r.expect("a wait without deadline only returns with a message"))
    }

    /// [`receive_vec`](MessageQueue::receive_vec) if a message is queued now: `Ok(None)` if
    /// the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`receive_vec`](MessageQueue::receive_vec).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 64)?;
    /// assert_eq!(q.try_receive_vec()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_receive_vec(&self) -> Result<Option<(Vec<u8>, u32)>> {
        self.core.receive_vec(Wait::No)
    }

    /// [`receive_vec`](MessageQueue::receive_vec), waiting at most `timeout`: `Ok(None)` if no
    /// message came.
    ///
    /// # Errors
    ///
    /// As [`receive_vec`](MessageQueue::receive_vec).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = shmkit::MessageQueue::anonymous(4, 64)?;
    /// assert_eq!(q.receive_vec_timeout(Duration::from_millis(5))?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive_vec_timeout(&self, timeout: Duration) -> Result<Option<(Vec<u8>, u32)>> {
        self.core.receive_vec(Wait::timeout(timeout))
    }

    /// A copy of the next message (the oldest of the highest priority) and its priority,
    /// without removing it: `Ok(None)` if the queue is empty. Never waits for a message (it
    /// waits only for the queue lock, like every operation).
    ///
    /// Another process may receive the message between this call and a following
    /// [`try_receive_vec`](MessageQueue::try_receive_vec), which then returns a different one.
    /// The copy is made under the queue lock whatever the message's length, so peeking at a
    /// long message holds up other senders and receivers for the copy.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) as for
    /// [`send`](MessageQueue::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 64)?;
    /// assert_eq!(q.peek_vec()?, None);
    /// q.send(b"later", 1)?;
    /// q.send(b"first", 7)?;
    /// assert_eq!(q.peek_vec()?, Some((b"first".to_vec(), 7)));
    /// assert_eq!(q.len(), 2);
    /// assert_eq!(q.receive_vec()?, (b"first".to_vec(), 7));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn peek_vec(&self) -> Result<Option<(Vec<u8>, u32)>> {
        self.core.peek_vec()
    }

    // ------------------------------------------------------------------------ zero-copy

    /// Reserves a free slot (waiting if the queue is full) to write a message in place: the
    /// returned [`SendSlot`] derefs to the slot's `max_msg_size` bytes; write the message and
    /// [`commit`](SendSlot::commit) it. Dropping the slot uncommitted gives it back.
    ///
    /// The slot is outside the queue lock while it is written, so other senders and receivers
    /// proceed meanwhile; if this process dies before committing, the slot is reclaimed and the
    /// half-written message never delivered.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) as for
    /// [`send`](MessageQueue::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 4096)?;
    /// let mut slot = q.reserve()?;
    /// slot[..5].copy_from_slice(b"hello");
    /// slot.commit(5, 0)?;
    /// assert_eq!(&*q.receive_in_place()?, b"hello");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve(&self) -> Result<SendSlot<'_>> {
        let r = self.core.reserve(Wait::Forever)?;
        Ok(SendSlot::new(
            &self.core,
            r.expect("a wait without deadline only returns with a slot"),
        ))
    }

    /// [`reserve`](MessageQueue::reserve) if a slot is free now: `Ok(None)` if the queue is
    /// full.
    ///
    /// # Errors
    ///
    /// As [`reserve`](MessageQueue::reserve).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(1, 8)?;
    /// let slot = q.try_reserve()?.expect("empty queue");
    /// assert!(q.try_reserve()?.is_none()); // the only slot is taken
    /// drop(slot); // uncommitted: given back
    /// assert!(q.try_reserve()?.is_some());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_reserve(&self) -> Result<Option<SendSlot<'_>>> {
        Ok(self
            .core
            .reserve(Wait::No)?
            .map(|r| SendSlot::new(&self.core, r)))
    }

    /// [`reserve`](MessageQueue::reserve), waiting at most `timeout`: `Ok(None)` if no slot
    /// became free.
    ///
    /// # Errors
    ///
    /// As [`reserve`](MessageQueue::reserve).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = shmkit::MessageQueue::anonymous(1, 8)?;
    /// let _held = q.reserve()?;
    /// assert!(q.reserve_timeout(Duration::from_millis(5))?.is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve_timeout(&self, timeout: Duration) -> Result<Option<SendSlot<'_>>> {
        Ok(self
            .core
            .reserve(Wait::timeout(timeout))?
            .map(|r| SendSlot::new(&self.core, r)))
    }

    /// Takes the highest-priority (then oldest) message off the queue without copying it,
    /// waiting for one if the queue is empty: the returned [`ReceivedSlot`] derefs to the
    /// message's bytes where they lie, and gives the slot back when dropped.
    ///
    /// If this process dies before dropping it, the message is delivered again to another
    /// receiver.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) as for
    /// [`send`](MessageQueue::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 64)?;
    /// q.send(b"in place", 5)?;
    /// let msg = q.receive_in_place()?;
    /// assert_eq!((&*msg, msg.priority()), (&b"in place"[..], 5));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive_in_place(&self) -> Result<ReceivedSlot<'_>> {
        let t = self.core.take(Wait::Forever)?;
        Ok(ReceivedSlot::new(
            &self.core,
            t.expect("a wait without deadline only returns with a message"),
        ))
    }

    /// [`receive_in_place`](MessageQueue::receive_in_place) if a message is queued now:
    /// `Ok(None)` if the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`receive_in_place`](MessageQueue::receive_in_place).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 64)?;
    /// assert!(q.try_receive_in_place()?.is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_receive_in_place(&self) -> Result<Option<ReceivedSlot<'_>>> {
        Ok(self
            .core
            .take(Wait::No)?
            .map(|t| ReceivedSlot::new(&self.core, t)))
    }

    /// [`receive_in_place`](MessageQueue::receive_in_place), waiting at most `timeout`:
    /// `Ok(None)` if no message came.
    ///
    /// # Errors
    ///
    /// As [`receive_in_place`](MessageQueue::receive_in_place).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = shmkit::MessageQueue::anonymous(4, 64)?;
    /// assert!(q.receive_in_place_timeout(Duration::from_millis(5))?.is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive_in_place_timeout(&self, timeout: Duration) -> Result<Option<ReceivedSlot<'_>>> {
        Ok(self
            .core
            .take(Wait::timeout(timeout))?
            .map(|t| ReceivedSlot::new(&self.core, t)))
    }
}

/// The creator's initialiser for a named queue: the control block and the free list.
fn initialise(region: &MappedRegion, offset: usize, geo: Geometry) -> Result<()> {
    debug_assert!(region.len() >= offset + geo.len);
    // SAFETY: the creator sized the object to offset + geo.len bytes and mapped it read-write;
    // offset is 64 (a multiple of 64 from a page-aligned base); nobody else uses the object
    // before it is published as ready, after this returns.
    unsafe {
        let view = View::new(region.as_mut_ptr().add(offset), geo);
        view.initialise();
    }
    Ok(())
}

impl fmt::Debug for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageQueue")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("max_msg_size", &self.max_msg_size())
            .field("len", &self.len())
            .finish()
    }
}
