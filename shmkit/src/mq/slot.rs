//! The zero-copy guards: [`SendSlot`] (a reserved slot being written in place) and
//! [`ReceivedSlot`] (a taken message being read in place).
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::core::{Core, Reserved, Taken};
use crate::error::{Error, ErrorKind, Result};

/// A queue slot reserved for writing a message in place; from
/// [`MessageQueue::reserve`](crate::MessageQueue::reserve).
///
/// It derefs to the slot's [`max_msg_size`](crate::MessageQueue::max_msg_size) bytes (holding
/// whatever an earlier message left there). Write the message, then
/// [`commit`](SendSlot::commit) its length and priority; dropping the slot uncommitted gives it
/// back to the queue.
///
/// While reserved, the slot is marked as written by this thread (outside the queue lock), so the
/// guard is `!Send`; it borrows the queue handle, so it cannot outlive it. If the process dies
/// before committing, a waiting peer reclaims the slot and the partial message is never
/// delivered.
///
/// # Examples
///
/// ```
/// let q = shmkit::MessageQueue::anonymous(4, 1024)?;
/// let mut slot = q.reserve()?;
/// let n = {
///     use std::io::Write;
///     let mut w: &mut [u8] = &mut slot;
///     write!(w, "sensor {} reads {}", 7, 21.5).unwrap();
///     1024 - w.len()
/// };
/// slot.commit(n, 1)?;
/// assert_eq!(q.receive_vec()?.0, b"sensor 7 reads 21.5");
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// The slot stays on the thread that reserved it:
///
/// ```compile_fail
/// let q = shmkit::MessageQueue::anonymous(4, 8).unwrap();
/// let slot = q.reserve().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || slot.commit(0, 0)); // error: `SendSlot` is not `Send`
/// });
/// ```
pub struct SendSlot<'q> {
    core: &'q Core,
    reserved: Option<Reserved>,
    _not_send: PhantomData<*const ()>,
}

impl<'q> SendSlot<'q> {
    pub(super) fn new(core: &'q Core, reserved: Reserved) -> SendSlot<'q> {
        SendSlot {
            core,
            reserved: Some(reserved),
            _not_send: PhantomData,
        }
    }

    fn reserved(&self) -> Reserved {
        self.reserved
            .expect("a SendSlot holds its slot until commit or drop")
    }

    /// Queues the first `len` bytes of the slot as a message with `priority`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageTooLarge`] if `len` exceeds the slot (the slot is given back);
    /// [`ErrorKind::Corrupted`] if the queue's shared state breaks an invariant.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = shmkit::MessageQueue::anonymous(4, 8)?;
    /// let mut slot = q.reserve()?;
    /// slot[0] = 42;
    /// slot.commit(1, 0)?;
    /// assert_eq!(q.len(), 1);
    /// assert!(q.reserve()?.commit(9, 0).is_err()); // longer than the slot
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn commit(mut self, len: usize, priority: u32) -> Result<()> {
        if len > self.core.max_msg_size() {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "cannot commit {len} bytes from a slot of {}",
                    self.core.max_msg_size()
                ),
            ));
        }
        let r = self.reserved();
        self.reserved = None;
        self.core.commit(r, len, priority)
    }
}

impl Deref for SendSlot<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let slot = self.reserved().slot;
        // SAFETY: the slot is WRITING by this thread (the guard is !Send) until commit or drop,
        // both of which consume or end the guard, so no borrow of it outlives the ownership.
        unsafe { self.core.view().message(slot, self.core.max_msg_size()) }
    }
}

impl DerefMut for SendSlot<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let slot = self.reserved().slot;
        // SAFETY: as in `deref`; `&mut self` makes this the only view of the bytes.
        unsafe { self.core.view().message_mut(slot) }
    }
}

impl Drop for SendSlot<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.reserved.take() {
            // An error here means the queue is corrupt; the next operation reports and repairs
            // it.
            let _ = self.core.abort(r);
        }
    }
}

impl fmt::Debug for SendSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSlot")
            .field("slot", &self.reserved.map(|r| r.slot.raw()))
            .field("capacity", &self.core.max_msg_size())
            .finish()
    }
}

/// A message taken off the queue and read in place; from
/// [`MessageQueue::receive_in_place`](crate::MessageQueue::receive_in_place).
///
/// It derefs to the message's bytes; [`priority`](ReceivedSlot::priority) gives its priority.
/// Dropping it gives the slot back to the queue. The guard is `!Send` (the slot is marked as read
/// by this thread) and borrows the queue handle. If the process dies before dropping it, the
/// message is delivered again.
///
/// # Examples
///
/// ```
/// let q = shmkit::MessageQueue::anonymous(4, 64)?;
/// q.send(b"abc", 4)?;
/// let msg = q.receive_in_place()?;
/// assert_eq!(msg.len(), 3);
/// assert_eq!(msg.priority(), 4);
/// drop(msg); // the slot is free again
/// assert!(q.is_empty());
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// It cannot outlive the queue handle it came from:
///
/// ```compile_fail
/// let msg = {
///     let q = shmkit::MessageQueue::anonymous(4, 8).unwrap();
///     q.send(b"x", 0).unwrap();
///     q.receive_in_place().unwrap()
/// }; // error: `q` does not live long enough
/// ```
pub struct ReceivedSlot<'q> {
    core: &'q Core,
    taken: Taken,
    _not_send: PhantomData<*const ()>,
}

impl<'q> ReceivedSlot<'q> {
    pub(super) fn new(core: &'q Core, taken: Taken) -> ReceivedSlot<'q> {
        ReceivedSlot {
            core,
            taken,
            _not_send: PhantomData,
        }
    }

    /// The message's priority.
    ///
    /// # Examples
    ///
    /// See [`ReceivedSlot`].
    pub fn priority(&self) -> u32 {
        self.taken.priority
    }
}

impl Deref for ReceivedSlot<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the slot is READING by this thread until the guard drops, and the slice
        // borrows the guard; `len` was checked against max_msg_size under the lock.
        unsafe { self.core.view().message(self.taken.slot, self.taken.len) }
    }
}

impl Drop for ReceivedSlot<'_> {
    fn drop(&mut self) {
        // An error here means the queue is corrupt; the next operation reports and repairs it.
        let _ = self.core.release(self.taken, true);
    }
}

impl fmt::Debug for ReceivedSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedSlot")
            .field("slot", &self.taken.slot.raw())
            .field("len", &self.taken.len)
            .field("priority", &self.taken.priority)
            .finish()
    }
}
