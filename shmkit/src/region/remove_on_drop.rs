//! A guard that removes a named object when it goes out of scope.

use std::path::PathBuf;

use crate::error::Result;
use crate::sys;

#[derive(Debug)]
enum Target {
    Shm(String),
    File(PathBuf),
}

/// Removes a shared memory name or a file when dropped (also while unwinding from a panic).
///
/// Handles never remove what they name (as in Boost); this guard is the opt-in. A missing object
/// at drop time is not an error. [`disarm`](RemoveOnDrop::disarm) keeps the object.
///
/// # Examples
///
/// ```
/// use shmkit::{RemoveOnDrop, SharedMemory};
///
/// let name = format!("doc-remove-on-drop-{}", std::process::id());
/// {
///     let _shm = SharedMemory::create(&name)?;
///     let _guard = RemoveOnDrop::shared_memory(&name);
/// } // the name is removed here
/// assert!(SharedMemory::open(&name).is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "the object is removed as soon as the guard is dropped"]
pub struct RemoveOnDrop {
    target: Option<Target>,
}

impl RemoveOnDrop {
    /// A guard removing the shared memory object `name` ([`SharedMemory::remove`](crate::SharedMemory::remove)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{RemoveOnDrop, SharedMemory};
    ///
    /// let name = format!("doc-rod-shm-{}", std::process::id());
    /// {
    ///     let _cleanup = RemoveOnDrop::shared_memory(&name);
    ///     SharedMemory::create(&name)?;
    /// } // removed here, also on a panic
    /// assert!(SharedMemory::open(&name).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn shared_memory(name: impl Into<String>) -> RemoveOnDrop {
        RemoveOnDrop {
            target: Some(Target::Shm(name.into())),
        }
    }

    /// A guard removing the file at `path` ([`FileMapping::remove`](crate::FileMapping::remove)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::RemoveOnDrop;
    ///
    /// let path = std::env::temp_dir().join(format!("doc-rod-file-{}", std::process::id()));
    /// {
    ///     let _cleanup = RemoveOnDrop::file(&path);
    ///     std::fs::write(&path, b"data").unwrap();
    /// }
    /// assert!(!path.exists());
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> RemoveOnDrop {
        RemoveOnDrop {
            target: Some(Target::File(path.into())),
        }
    }

    /// Drops the guard without removing anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{RemoveOnDrop, SharedMemory};
    ///
    /// let name = format!("doc-rod-disarm-{}", std::process::id());
    /// let cleanup = RemoveOnDrop::shared_memory(&name);
    /// SharedMemory::create(&name)?;
    /// cleanup.disarm(); // keep it after all
    /// assert!(SharedMemory::open(&name).is_ok());
    /// SharedMemory::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn disarm(mut self) {
        self.target = None;
    }

    /// Removes the object now, reporting errors (a missing object included).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{RemoveOnDrop, SharedMemory};
    ///
    /// let name = format!("doc-rod-now-{}", std::process::id());
    /// let cleanup = RemoveOnDrop::shared_memory(&name);
    /// SharedMemory::create(&name)?;
    /// cleanup.remove_now()?; // and see the error, if any
    /// assert!(SharedMemory::open(&name).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn remove_now(mut self) -> Result<()> {
        match self.target.take() {
            Some(t) => remove(&t),
            None => Ok(()),
        }
    }
}

fn remove(t: &Target) -> Result<()> {
    match t {
        Target::Shm(name) => crate::SharedMemory::remove(name),
        Target::File(path) => sys::remove_file(path),
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.target.take() {
            let _ = remove(&t);
        }
    }
}
