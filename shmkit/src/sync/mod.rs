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

mod barrier;
mod condvar;
mod condvar_any;
mod error;
mod file_lock;
mod mutex;
pub mod named;
mod raw_mutex;
mod raw_rwlock;
mod recursive;
mod rwlock;
mod semaphore;
mod sleepers;
pub(crate) mod wait;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use condvar_any::{CondvarAny, Lockable};
pub use error::{LockResult, OwnerDied, Recover, TryLockError, TryLockResult};
pub use file_lock::{FileLock, FileLockGuard, FileLockSharedGuard};
pub use mutex::{Mutex, MutexGuard};
pub use named::{
    NamedCondvar, NamedMutex, NamedMutexGuard, NamedRecursiveMutex, NamedRecursiveMutexGuard,
    NamedRwLock, NamedSemaphore, NamedUpgradableRwLock,
};
pub use raw_mutex::{Acquired, RawMutex};
// Lock words taken apart, for `crate::inspect`.
pub(crate) use raw_mutex::WordState;
pub use raw_rwlock::RawRwLock;
pub(crate) use raw_rwlock::RwLockState;
pub use recursive::{RecursiveMutex, RecursiveMutexGuard};
pub use rwlock::{
    RwLock, RwLockReadGuard, RwLockWriteGuard, Sharable, Upgradable, UpgradableGuard,
    UpgradableRwLock,
};
pub use semaphore::Semaphore;
