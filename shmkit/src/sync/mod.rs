//! Process-shared synchronization: locks, condition variables, semaphores and barriers that
//! live in shared memory and work between processes mapped at different addresses, plus file
//! locks.
//!
//! Everything here is built on futex words (see `wait.rs` for the spin-then-sleep policy) and is
//! **robust**: a process that dies holding a lock does not hang the others. The next locker is
//! told [`OwnerDied`] and gets the guard to repair the data, where Boost.Interprocess would
//! report `not_recoverable` forever. Timeouts are [`Duration`](std::time::Duration)s (or
//! [`Instant`](std::time::Instant) deadlines) on the monotonic clock.
//!
//! All types here are [`ShmSafe`](crate::ShmSafe) (for `ShmSafe` data): any bit pattern is a
//! valid state and all zeros is the initial one, so they can be placed in fresh shared memory.

mod error;
mod file_lock;
mod mutex;
pub mod named;
mod raw_mutex;
mod recursive;
pub(crate) mod wait;

pub use error::{LockResult, OwnerDied, Recover, TryLockError, TryLockResult};
pub use file_lock::{FileLock, FileLockGuard, FileLockSharedGuard};
pub use mutex::{Mutex, MutexGuard};
pub use named::{NamedMutex, NamedMutexGuard, NamedRecursiveMutex, NamedRecursiveMutexGuard};
pub use raw_mutex::{Acquired, RawMutex};
pub use recursive::{RecursiveMutex, RecursiveMutexGuard};
