//! Named synchronization objects: locks that processes find by name instead of by placing them
//! in memory they already share (Boost's `named_mutex`, `named_recursive_mutex`, ...).
//!
//! Each named object is its own POSIX shared memory object, `/dev/shm/<name>` on Linux, holding
//! a 64-byte header and then the lock. The header (a magic number, a layout version, the kind of
//! object, the payload's size and alignment, an initialisation state, the creator's pid and the
//! creation time) is checked on every open, so opening something that is not a ready shmkit
//! object of the expected kind is an error, never undefined behaviour or a hang.
//!
//! # Creating, opening, removing
//!
//! As for [`SharedMemory`](crate::SharedMemory), and as in Boost:
//!
//! | call | name exists | name missing |
//! |---|---|---|
//! | `create(name)`, `create_with(name, permissions)` | [`AlreadyExists`](crate::ErrorKind::AlreadyExists) | creates it |
//! | `open(name)` | opens it | [`NotFound`](crate::ErrorKind::NotFound) |
//! | `open_or_create(name)` | opens it | creates it; race-free, `created()` tells which |
//! | `remove(name)` | removes the name | [`NotFound`](crate::ErrorKind::NotFound) |
//!
//! Names follow the crate's [naming rules](crate::name)
//! ([`InvalidName`](crate::ErrorKind::InvalidName) otherwise). Created objects get
//! [`Permissions::default`](crate::Permissions) (`0o600`) unless given others, applied exactly
//! whatever the umask. Dropping a handle closes it and never
//! removes the object: named objects live until [`remove`](NamedMutex::remove) (or a reboot),
//! and `remove` unlinks the name at once while processes that have the object open keep using
//! it.
//!
//! # One namespace
//!
//! Named locks share the namespace of [`SharedMemory`](crate::SharedMemory) objects (as Boost's
//! shm-backed named objects do; Boost's `named_mutex` and `named_semaphore` live apart, as
//! `sem.<name>`). A name holds one object of one kind: opening a [`NamedMutex`] as a
//! [`NamedRecursiveMutex`], or a plain shared memory object as a lock, is an
//! [`Incompatible`](crate::ErrorKind::Incompatible) error naming what the object is.
//!
//! # Robustness beyond Boost
//!
//! * **Owner death**: a process that dies (even by `SIGKILL`) holding a named lock does not
//!   block the others: the next locker is told [`OwnerDied`], with the
//!   guard, and marks the state consistent. Boost's POSIX-semaphore `named_mutex` stays locked
//!   for good.
//! * **Creator death**: if the creating process dies while initialising the object, `open`
//!   reports [`Corrupted`](crate::ErrorKind::Corrupted) instead of waiting forever, and
//!   `open_or_create` replaces the dead object with a new one.
//! * **Bounded waits**: `open` waits at most one second for a live creator to finish
//!   ([`Timeout`](crate::ErrorKind::Timeout) after that).
//!
//! # Examples
//!
//! ```
//! use shmkit::sync::NamedMutex;
//!
//! let name = format!("doc-named-{}", std::process::id());
//! let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
//!
//! // Every cooperating process runs the same line; exactly one of them creates the mutex.
//! let mutex = NamedMutex::open_or_create(&name)?;
//! {
//!     let _guard = mutex.lock().expect("no previous owner died");
//!     // ... exclusive access to whatever the processes agreed the mutex protects ...
//! }
//! # Ok::<(), shmkit::Error>(())
//! ```
// How to add a named type (NamedCondvar, NamedSemaphore, NamedRwLock, NamedUpgradableRwLock):
//
// 1. Its kind code already exists in `object::Kind` (add one at the end for anything new; codes
//    are forever). Implement `object::Payload` for the shared type, with the data it protects
//    fixed to `()` where it has any:
//    `impl Payload for Semaphore { const KIND: Kind = Kind::Semaphore; }`.
//    The type must be `ShmSafe`; its initial value is written once by the creator.
// 2. Write a thin wrapper in its own file here, as `mutex.rs` does: a struct holding an
//    `object::NamedObject<T>` (which derefs to `&T`), constructors that call
//    `NamedObject::{create, open, open_or_create}` with the initial value (a semaphore's count;
//    ignored on open, as in Boost), `remove` = `SharedMemory::remove`, `name()`, `created()`,
//    and methods forwarding to `T` (wrapping guards so they borrow the handle).
// 3. Re-export it below and in `sync/mod.rs`, and add it to the creation-matrix, validation and
//    owner-death tests in `tests/named_sync.rs`.
//
// Types with a variable-size area (message queues, `crate::mq`) use `object::RawObject`
// directly: a fixed control block as the payload, the object sized larger by
// `RawObject::create_sized` / `open_or_create_sized`, `RawObject::region` for the rest.

mod condvar;
mod mutex;
pub(crate) mod object;
mod recursive;
mod rwlock;
mod semaphore;

pub use condvar::NamedCondvar;
pub use mutex::{NamedMutex, NamedMutexGuard};
pub use recursive::{NamedRecursiveMutex, NamedRecursiveMutexGuard};
pub use rwlock::{NamedRwLock, NamedUpgradableRwLock};
pub use semaphore::NamedSemaphore;

use crate::sync::error::{LockResult, OwnerDied, TryLockError, TryLockResult};

/// A lock result with the guard wrapped by `wrap` (a named type's guard around its inner one).
fn map_lock<G, H>(result: LockResult<G>, wrap: impl FnOnce(G) -> H) -> LockResult<H> {
    match result {
        Ok(guard) => Ok(wrap(guard)),
        Err(died) => Err(OwnerDied::new(wrap(died.into_inner()))),
    }
}

/// [`map_lock`] for `try_` and timed results.
fn map_try<G, H>(result: TryLockResult<G>, wrap: impl FnOnce(G) -> H) -> TryLockResult<H> {
    match result {
        Ok(guard) => Ok(wrap(guard)),
        Err(TryLockError::WouldBlock) => Err(TryLockError::WouldBlock),
        Err(TryLockError::TimedOut) => Err(TryLockError::TimedOut),
        Err(TryLockError::OwnerDied(died)) => Err(TryLockError::OwnerDied(OwnerDied::new(wrap(
            died.into_inner(),
        )))),
    }
}
