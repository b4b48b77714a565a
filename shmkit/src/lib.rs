//! # shmkit
//!
//! Processes on one machine sharing data: shared memory objects, memory-mapped files, anonymous
//! and System V memory, and mapped regions; with more layers (process-shared locks, message
//! queues, managed segments) built on them. It does what Boost.Interprocess does for C++, with
//! these differences:
//!
//! * **Soundness**: safe code cannot cause undefined behaviour. Bytes other processes may write
//!   are copied with atomic operations ([`MappedRegion::read_at`]); plain slices over shared
//!   memory are `unsafe` with their contract stated.
//! * **Validated input**: names are checked before any system call ([`validate_name`]); sizes,
//!   offsets and modes are checked before mapping; every failure is an [`Error`] with a
//!   [`ErrorKind`] and a message naming the object.
//! * **No late `SIGBUS`**: [`SharedMemory::set_len`] reserves the memory, so a full `/dev/shm`
//!   is an error at sizing time.
//! * **Private by default**: created objects get mode `0o600` applied exactly, whatever the umask.
//!
//! ## Example: two handles, one memory
//!
//! ```
//! use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory};
//!
//! let name = format!("doc-crate-{}", std::process::id());
//! let shm = SharedMemory::create(&name)?;
//! let _cleanup = RemoveOnDrop::shared_memory(&name);
//! shm.set_len(1 << 20)?;
//!
//! let writer = MappedRegion::map(&shm)?;
//! writer.write_at(0, b"hello from shmkit")?;
//!
//! let reader = MappedRegion::map(&SharedMemory::open_read_only(&name)?)?;
//! let mut buf = [0u8; 17];
//! reader.read_at(0, &mut buf)?;
//! assert_eq!(&buf, b"hello from shmkit");
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! The layers and their invariants are described in `ARCHITECTURE.md` in the repository.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod alloc;
pub mod collections;
// Lets `::shmkit::...` paths (which `#[derive(ShmSafe)]` generates) resolve inside shmkit too.
extern crate self as shmkit;

mod error;
pub mod fingerprint;
pub mod inspect;
pub mod io;
pub mod mq;
pub mod name;
pub mod pool;
pub mod ptr;
pub mod region;
pub mod segment;
mod shm_safe;
pub mod sync;
mod sys;

pub use error::{Error, ErrorKind, Result};
pub use mq::{MessageQueue, TypedQueue};
pub use name::{MAX_NAME_LEN, validate_name};
pub use region::{
    Access, Advice, FileMapping, MapOptions, Mappable, MappedRegion, OpenMode, Permissions,
    RemoveOnDrop, SharedMemory, ShmOptions, XsiKey, XsiSharedMemory,
};
pub use segment::{
    ManagedExternalBuffer, ManagedHeapMemory, ManagedMappedFile, ManagedSharedMemory,
    ManagedXsiSharedMemory, SegmentManager,
};
pub use shm_safe::ShmSafe;
// The derive shares the trait's name, as serde's do: `use shmkit::ShmSafe` brings both.
pub use shmkit_derive::ShmSafe;
pub use sync::FileLock;
