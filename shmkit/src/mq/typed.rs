//! [`TypedQueue<T>`]: a message queue of plain-data values.
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::time::Duration;

use super::MessageQueue;
use crate::error::{Error, ErrorKind, Result};
use crate::region::Permissions;
use crate::shm_safe::ShmSafe;

/// A [`MessageQueue`] whose messages are values of one plain-data type `T`, copied in and out
/// whole: `send(&T, priority)`, `receive() -> (T, priority)`.
///
/// `T` is [`ShmSafe`]: any bytes are a valid `T`, so a value received from another process (even
/// a buggy one) is always a valid value. The queue's maximum message size is `size_of::<T>()`;
/// opening a queue whose size differs is [`ErrorKind::TypeMismatch`]. The size is the only check
/// (the queue records no type), so the processes must agree on `T` itself, as they agree on a
/// queue's name.
///
/// # Examples
///
/// ```
/// use shmkit::TypedQueue;
///
/// #[derive(Clone, Copy, Debug, PartialEq, shmkit::ShmSafe)]
/// #[repr(C)]
/// struct Tick {
///     instrument: u32,
///     price: f64,
/// }
///
/// let name = format!("doc-typed-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// let q = TypedQueue::<Tick>::create(&name, 64)?;
/// q.send(&Tick { instrument: 7, price: 101.25 }, 0)?;
/// assert_eq!(q.receive()?, (Tick { instrument: 7, price: 101.25 }, 0));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct TypedQueue<T: ShmSafe> {
    queue: MessageQueue,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: ShmSafe> TypedQueue<T> {
    fn wrap(queue: MessageQueue) -> Result<TypedQueue<T>> {
        if queue.max_msg_size() != size_of::<T>() {
            return Err(Error::new(
                ErrorKind::TypeMismatch,
                format!(
                    "{} carries messages of {} bytes, not {}-byte `{}` values",
                    queue
                        .name()
                        .map_or("the queue".to_owned(), |n| format!("queue `{n}`")),
                    queue.max_msg_size(),
                    size_of::<T>(),
                    std::any::type_name::<T>()
                ),
            ));
        }
        Ok(TypedQueue {
            queue,
            _type: PhantomData,
        })
    }

    /// Creates the queue `name` for `max_msgs` values, with [`Permissions::default`].
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::create`].
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-typed-create-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let q = shmkit::TypedQueue::<u64>::create(&name, 8)?;
    /// assert_eq!(q.capacity(), 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, max_msgs: usize) -> Result<TypedQueue<T>> {
        TypedQueue::create_with(name, max_msgs, Permissions::default())
    }

    /// [`create`](TypedQueue::create) with `permissions`.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::create`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Permissions, TypedQueue};
    ///
    /// let name = format!("doc-typed-perm-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// TypedQueue::<u32>::create_with(&name, 8, Permissions::from_mode(0o640))?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(
        name: &str,
        max_msgs: usize,
        permissions: Permissions,
    ) -> Result<TypedQueue<T>> {
        TypedQueue::wrap(MessageQueue::create_with(
            name,
            max_msgs,
            size_of::<T>(),
            permissions,
        )?)
    }

    /// Opens the existing queue `name`, which must carry `size_of::<T>()`-byte messages.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::open`], and [`ErrorKind::TypeMismatch`] if the queue's message size
    /// is not `size_of::<T>()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, TypedQueue};
    ///
    /// let name = format!("doc-typed-open-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// TypedQueue::<u64>::create(&name, 8)?;
    /// assert!(TypedQueue::<u64>::open(&name).is_ok());
    /// assert_eq!(TypedQueue::<u32>::open(&name).unwrap_err().kind(), ErrorKind::TypeMismatch);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<TypedQueue<T>> {
        TypedQueue::wrap(MessageQueue::open(name)?)
    }

    /// Opens the queue `name`, creating it for `max_msgs` values if it does not exist
    /// (race-free; `max_msgs` is ignored when opening).
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::open_or_create`] and [`open`](TypedQueue::open).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-typed-ooc-{}", std::process::id());
    /// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
    /// let a = shmkit::TypedQueue::<[u8; 3]>::open_or_create(&name, 8)?;
    /// let b = shmkit::TypedQueue::<[u8; 3]>::open_or_create(&name, 8)?;
    /// a.send(&[1, 2, 3], 0)?;
    /// assert_eq!(b.receive()?.0, [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, max_msgs: usize) -> Result<TypedQueue<T>> {
        TypedQueue::wrap(MessageQueue::open_or_create(
            name,
            max_msgs,
            size_of::<T>(),
        )?)
    }

    /// An anonymous queue of `max_msgs` values, shared with `fork`ed children.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::anonymous`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::TypedQueue::<i64>::anonymous(4)?;
    /// q.send(&-5, 0)?;
    /// assert_eq!(q.receive()?, (-5, 0));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn anonymous(max_msgs: usize) -> Result<TypedQueue<T>> {
        TypedQueue::wrap(MessageQueue::anonymous(max_msgs, size_of::<T>())?)
    }

    /// Removes the queue `name` ([`MessageQueue::remove`]).
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::remove`].
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-typed-remove-{}", std::process::id());
    /// shmkit::TypedQueue::<u8>::create(&name, 1)?;
    /// shmkit::TypedQueue::<u8>::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        MessageQueue::remove(name)
    }

    /// The underlying byte queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::TypedQueue::<u32>::anonymous(4)?;
    /// assert_eq!(q.queue().max_msg_size(), 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn queue(&self) -> &MessageQueue {
        &self.queue
    }

    /// The queue's name; `None` if anonymous.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::TypedQueue::<u32>::anonymous(4)?.name(), None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.queue.name()
    }

    /// The most values the queue holds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::TypedQueue::<u32>::anonymous(4)?.capacity(), 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// How many values are queued (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::TypedQueue::<u32>::anonymous(4)?;
    /// q.send(&1, 0)?;
    /// assert_eq!(q.len(), 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no value is queued (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(shmkit::TypedQueue::<u32>::anonymous(4)?.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn bytes(value: &T) -> &[u8] {
        // SAFETY: a ShmSafe value is plain data; its bytes (padding included) are copied as is,
        // as `MappedRegion::write` does, and any bytes make a valid T on the way back.
        unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
    }

    /// Receives into a zeroed `T` with `f` (a receive of the byte queue), checking the length.
    fn receive_with(
        &self,
        f: impl FnOnce(&mut [u8]) -> Result<Option<(usize, u32)>>,
    ) -> Result<Option<(T, u32)>> {
        let mut value = MaybeUninit::<T>::zeroed();
        // SAFETY: zeroed, so all size_of::<T>() bytes are initialised; the slice is the only
        // access to them while it lives.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>())
        };
        let Some((len, priority)) = f(bytes)? else {
            return Ok(None);
        };
        if len != size_of::<T>() {
            return Err(Error::new(
                ErrorKind::TypeMismatch,
                format!(
                    "received a {len}-byte message where a {}-byte `{}` was expected (the \
                     message is dropped)",
                    size_of::<T>(),
                    std::any::type_name::<T>()
                ),
            ));
        }
        // SAFETY: every byte is initialised (zeroed, then overwritten by the message), and any
        // bit pattern is a valid T (ShmSafe).
        Ok(Some((unsafe { value.assume_init() }, priority)))
    }

    /// Sends a copy of `value` with `priority`, waiting for room if the queue is full.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::TypedQueue::<[u16; 2]>::anonymous(4)?;
    /// q.send(&[1, 2], 3)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send(&self, value: &T, priority: u32) -> Result<()> {
        self.queue.send(Self::bytes(value), priority)
    }

    /// Sends a copy of `value` if there is room now: `Ok(false)` if the queue is full.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::TypedQueue::<u8>::anonymous(1)?;
    /// assert!(q.try_send(&1, 0)?);
    /// assert!(!q.try_send(&2, 0)?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_send(&self, value: &T, priority: u32) -> Result<bool> {
        self.queue.try_send(Self::bytes(value), priority)
    }

    /// Sends a copy of `value`, waiting at most `timeout` for room: `Ok(false)` if none came.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = shmkit::TypedQueue::<u8>::anonymous(1)?;
    /// assert!(q.send_timeout(&1, 0, Duration::from_millis(5))?);
    /// assert!(!q.send_timeout(&2, 0, Duration::from_millis(5))?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send_timeout(&self, value: &T, priority: u32, timeout: Duration) -> Result<bool> {
        self.queue
            .send_timeout(Self::bytes(value), priority, timeout)
    }

    /// Receives the highest-priority (then oldest) value, waiting for one if the queue is
    /// empty.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::receive`], and [`ErrorKind::TypeMismatch`] if the message is not
    /// `size_of::<T>()` bytes long (a peer sent it through the byte queue; it is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::TypedQueue::<u32>::anonymous(4)?;
    /// q.send(&1, 0)?;
    /// q.send(&2, 5)?;
    /// assert_eq!(q.receive()?, (2, 5));
    /// assert_eq!(q.receive()?, (1, 0));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive(&self) -> Result<(T, u32)> {
        self.receive_with(|b| self.queue.receive(b).map(Some))
            .map(|r| r.expect("a blocking receive returns a message"))
    }

    /// Receives a value if one is queued now: `Ok(None)` if the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`receive`](TypedQueue::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::TypedQueue::<u32>::anonymous(4)?;
    /// assert_eq!(q.try_receive()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_receive(&self) -> Result<Option<(T, u32)>> {
        self.receive_with(|b| self.queue.try_receive(b))
    }

    /// Receives a value, waiting at most `timeout` for one: `Ok(None)` if none came.
    ///
    /// # Errors
    ///
    /// As [`receive`](TypedQueue::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = shmkit::TypedQueue::<u32>::anonymous(4)?;
    /// assert_eq!(q.receive_timeout(Duration::from_millis(5))?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Option<(T, u32)>> {
        self.receive_with(|b| self.queue.receive_timeout(b, timeout))
    }
}

impl<T: ShmSafe> fmt::Debug for TypedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedQueue")
            .field("type", &std::any::type_name::<T>())
            .field("queue", &self.queue)
            .finish()
    }
}
