//! Message queues between processes: Boost's `message_queue`, robust, checked, and faster.
//!
//! A [`MessageQueue`] is a bounded queue of byte messages ordered by priority (highest first,
//! first-in first-out within a priority), named (`/dev/shm/<name>`) or anonymous (shared with
//! `fork`ed children). [`TypedQueue<T>`] carries plain-data values instead of bytes, and
//! [`SendSlot`] / [`ReceivedSlot`] write and read messages in place, without a copy.
//!
//! ```
//! use shmkit::MessageQueue;
//!
//! let name = format!("doc-mq-mod-{}", std::process::id());
//! let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
//!
//! // Producer process:
//! let q = MessageQueue::open_or_create(&name, 128, 256)?;
//! q.send(b"routine", 0)?;
//! q.send(b"urgent", 10)?;
//!
//! // Consumer process:
//! let q = MessageQueue::open_or_create(&name, 128, 256)?;
//! assert_eq!(q.receive_vec()?, (b"urgent".to_vec(), 10));
//! assert_eq!(q.receive_vec()?, (b"routine".to_vec(), 0));
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # How it works
//!
//! The queue is one shared memory object: the named-object header, a control block, a ring of
//! priority buckets, and `capacity` slots of `max_msg_size` bytes, each with a small header (the
//! layout is tabled in `ARCHITECTURE.md`). One robust lock (a futex word,
//! [`RawMutex`](crate::sync::RawMutex)) protects the metadata.
//!
//! * **Slots and their states.** Each slot's header has a state word: `FREE` (on the free list,
//!   which is linked through the slot headers),
//!   `READY` (a committed message, linked in a bucket), `WRITING|tid` (reserved by a sender,
//!   written outside the lock) or `READING|tid` (taken by a receiver, read outside the lock).
//!   Short messages (up to 4 KiB) are copied inside a single critical section; longer ones, and
//!   the zero-copy API, reserve or take the slot under the lock, copy outside it (so a long copy
//!   does not hold up other senders and receivers), and commit or free it under the lock.
//! * **Cache lines.** The common paths touch two lines of the control block and the slot: the
//!   lock word and the two counts waiters watch share one line, the rest of the state (only the
//!   lock holder touches it) another. Copied-out slots go to the back of the free list, so slots
//!   rotate and each critical section prefetches the slot the next operation will use; slots read
//!   in place go to the front, so a zero-copy sender rewrites lines still in its own cache.
//! * **Priorities.** Each distinct queued priority has a bucket (priority, head slot, tail slot)
//!   holding a FIFO linked through the slot headers; the buckets form a ring sorted high to low.
//!   Receiving takes the head of the first bucket: O(1). Sending appends to the last bucket when
//!   its priority is the lowest queued (every message when all priorities are equal): O(1);
//!   otherwise it binary-searches the buckets, and only a *new* priority shifts the shorter side
//!   of the ring. Boost keeps one sorted array of all messages and shifts it on each insert.
//! * **Waiting.** A sender finding the queue full (a receiver finding it empty) spins briefly
//!   outside the lock, watching the free (message) count, then sleeps on a futex event word. A
//!   notifier bumps the word and wakes sleepers only if a sleeper flag is set, so a send or
//!   receive with nobody asleep makes no system call. The flag, not a count, is what a notifier
//!   clears: a sleeper killed by `SIGKILL` cannot leave a count that costs every later notify a
//!   system call.
//!
//! # Robustness
//!
//! A process may be killed at any instruction. A message is *taken* when a receive's critical
//! section removes it for good (a short message copied out and its slot freed, or a slot taken
//! in place or for a long copy and then released). Every message whose `send` returned is taken
//! exactly once; a message whose `send` had not returned when its sender was killed is taken at
//! most once, and never torn; a message a killed receiver had not finished taking (it was still
//! reading it in place, or copying it out) is queued again.
//!
//! * **Killed holding the lock**: the next locker is told by the lock that its owner died, and
//!   rebuilds the buckets, the free list and the counts from the slot states, which are the
//!   truth: `READY` slots are queued again in (priority, send sequence) order; `FREE` ones go
//!   on the free list; a `WRITING` slot of a dead thread is freed (never delivered); a
//!   `READING` slot of a dead thread is queued again; slots of live threads are left to them.
//!   Every step of every operation keeps the slot states meaningful, so a rebuild from any
//!   intermediate point is right.
//! * **Killed outside the lock** holding a slot (`WRITING` or `READING`): a sender (receiver)
//!   that found the queue full (empty) and slept a check interval (1 ms, doubling to 50 ms)
//!   probes the owners of held slots and, if one is dead, rebuilds the queue as above.
//! * **Corrupt memory**: every slot number, bucket position, count and length read from shared
//!   memory is checked against the geometry cached in the handle at open (itself checked against
//!   the mapping's length), and a slot's state is checked before it changes hands. A violation
//!   is [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted) (never an out-of-bounds access, a
//!   panic or an endless loop: every loop is bounded by the cached capacity), and it marks the
//!   lock inconsistent, so the next operation rebuilds the queue from its slots.
//!
//! Owner liveness is probed by thread id, with the limits stated for
//! [`RawMutex`](crate::sync::RawMutex): one PID namespace, and a dead owner's id reused before
//! the probe delays reclaiming its slot.

mod core;
mod queue;
pub(crate) mod shared;
mod slot;
mod typed;

pub use queue::MessageQueue;
pub use shared::{MAX_MSG_SIZE, MAX_MSGS};
pub use slot::{ReceivedSlot, SendSlot};
pub use typed::TypedQueue;
