//! Process-shared synchronization.

mod file_lock;

pub use file_lock::{FileLock, FileLockGuard, FileLockSharedGuard};
