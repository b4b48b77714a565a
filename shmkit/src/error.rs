//! The crate's one error type.
//!
//! Every fallible shmkit operation returns [`Result<T>`](Result). An [`Error`] carries a
//! [`ErrorKind`] to match on, a message naming what failed (the object, the call, the
//! mismatch), and, when the operating system refused, the underlying [`std::io::Error`] as its
//! [`source`](std::error::Error::source).
//!
//! Errors convert into [`std::io::Error`] so shmkit composes with `?` in code that already
//! speaks `io::Result`.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// A `Result` whose error is shmkit's [`Error`].
///
/// # Examples
///
/// ```
/// fn size_of_object(name: &str) -> shmkit::Result<u64> {
///     shmkit::SharedMemory::open(name)?.len()
/// }
/// assert!(size_of_object("doc-error-result-no-such-object").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarsely: the part of an [`Error`] to match on.
///
/// The list may grow; match with a wildcard arm.
///
/// # Examples
///
/// ```
/// use shmkit::{ErrorKind, SharedMemory};
///
/// match SharedMemory::open("doc-error-kind-no-such-object") {
///     Err(e) if e.kind() == ErrorKind::NotFound => {} // create it, say
///     Err(e) => return Err(e),
///     Ok(_) => unreachable!("nobody creates this name"),
/// }
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The named object, file or key does not exist.
    NotFound,
    /// An object with that name or key already exists (create-only was asked for).
    AlreadyExists,
    /// The operating system refused access, or a writable view of a read-only object was asked for.
    PermissionDenied,
    /// A name was rejected before any system call: empty, too long, or containing `/`, NUL,
    /// or equal to `.`/`..`.
    InvalidName,
    /// An argument is out of range: a zero or absurd size, an offset past the end, a bad alignment.
    InvalidArgument,
    /// No room: the segment is full, or the system has no space left for the object (a full
    /// `/dev/shm`, no memory for a mapping).
    OutOfMemory,
    /// An object was found, but it holds another type than the one asked for.
    TypeMismatch,
    /// The bytes in shared memory break an invariant: a half-initialised object whose creator
    /// died, an index out of bounds, a checksum mismatch.
    Corrupted,
    /// The object is not a shmkit object of this kind and version (another program's object,
    /// another layout version).
    Incompatible,
    /// A timed operation reached its deadline.
    Timeout,
    /// A lock was acquired, but its previous owner died holding it.
    OwnerDied,
    /// A message is larger than the queue's maximum message size, or than the receive buffer.
    MessageTooLarge,
    /// The resource is busy: an address range already in use, an object still open elsewhere.
    Busy,
    /// The operation is not supported on this platform or for this kind of object.
    Unsupported,
    /// Any other error from the operating system; see the source error.
    Io,
}

impl ErrorKind {
    /// A short lowercase description, used by [`Error`]'s `Display`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::ErrorKind::NotFound.as_str(), "not found");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::InvalidName => "invalid name",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::OutOfMemory => "out of memory",
            ErrorKind::TypeMismatch => "type mismatch",
            ErrorKind::Corrupted => "corrupted",
            ErrorKind::Incompatible => "incompatible object",
            ErrorKind::Timeout => "timed out",
            ErrorKind::OwnerDied => "owner died",
            ErrorKind::MessageTooLarge => "message too large",
            ErrorKind::Busy => "busy",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "I/O error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// shmkit's error: a [`kind`](Error::kind), a message, and an optional OS error as source.
///
/// # Examples
///
/// ```
/// use shmkit::{ErrorKind, SharedMemory};
///
/// let err = SharedMemory::open("no/such/name").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidName);
/// assert!(err.to_string().contains("no/such/name"));
///
/// // Converts into std::io::Error for `?` in io-speaking code.
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
/// ```
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Option<io::Error>,
}

impl Error {
    /// An error of `kind` with a message saying what failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Error, ErrorKind};
    ///
    /// let e = Error::new(ErrorKind::InvalidArgument, "the answer must be 42");
    /// assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    /// assert_eq!(e.to_string(), "invalid argument: the answer must be 42");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by an OS error; the kind is derived from the OS error unless a more
    /// specific one applies.
    pub(crate) fn from_io(source: io::Error, message: impl Into<Cow<'static, str>>) -> Error {
        let kind = kind_of_io(&source);
        Error {
            kind,
            message: message.into(),
            source: Some(source),
        }
    }

    /// The same error with `kind` replaced (the message and source are kept).
    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.kind = kind;
        self
    }

    /// What went wrong, to match on.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{ErrorKind, SharedMemory};
    /// let e = SharedMemory::open("").unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidName);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The OS error code (`errno`) behind this error, if the OS refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Error, ErrorKind};
    /// // Errors made by shmkit itself carry no OS error; those from a refused system call do.
    /// assert_eq!(Error::new(ErrorKind::Busy, "in use").raw_os_error(), None);
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.as_ref().and_then(io::Error::raw_os_error)
    }

    /// The message alone, without the kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::Busy, "in use by process 12");
    /// assert_eq!(e.message(), "in use by process 12"); // without the kind
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

fn kind_of_io(e: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::ENOMEM) {
        return ErrorKind::OutOfMemory;
    }
    match e.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::InvalidInput => ErrorKind::InvalidArgument,
        K::TimedOut => ErrorKind::Timeout,
        K::OutOfMemory => ErrorKind::OutOfMemory,
        K::Unsupported => ErrorKind::Unsupported,
        K::ResourceBusy => ErrorKind::Busy,
        _ => ErrorKind::Io,
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(s) = &self.source {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        use io::ErrorKind as K;
        let kind = match e.kind {
            ErrorKind::NotFound => K::NotFound,
            ErrorKind::AlreadyExists => K::AlreadyExists,
            ErrorKind::PermissionDenied => K::PermissionDenied,
            ErrorKind::InvalidName | ErrorKind::InvalidArgument => K::InvalidInput,
            ErrorKind::OutOfMemory => K::OutOfMemory,
            ErrorKind::TypeMismatch | ErrorKind::Corrupted | ErrorKind::Incompatible => {
                K::InvalidData
            }
            ErrorKind::Timeout => K::TimedOut,
            ErrorKind::MessageTooLarge => K::InvalidInput,
            ErrorKind::Busy => K::ResourceBusy,
            ErrorKind::Unsupported => K::Unsupported,
            ErrorKind::OwnerDied => K::Other,
            ErrorKind::Io => e.source.as_ref().map_or(K::Other, io::Error::kind),
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_message_and_source() {
        let e = Error::from_io(io::Error::from_raw_os_error(libc::EACCES), "open `x`");
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let s = e.to_string();
        assert!(s.starts_with("permission denied: open `x`"), "{s}");
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn enospc_is_out_of_memory() {
        let e = Error::from_io(io::Error::from_raw_os_error(libc::ENOSPC), "reserve");
        assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    }

    #[test]
    fn converts_into_io_error() {
        let io: io::Error = Error::new(ErrorKind::Timeout, "lock").into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        let inner = io.into_inner().unwrap().downcast::<Error>().unwrap();
        assert_eq!(inner.kind(), ErrorKind::Timeout);
    }
}
