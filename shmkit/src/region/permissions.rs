//! Permissions given to objects shmkit creates.

use std::fmt;

/// The permission bits of a created object: Unix `mode_t` bits, applied exactly (the process
/// umask does not filter them).
///
/// The default is `0o600` (owner read and write), stricter than Boost's `0o644`: shared memory
/// holds a program's live data, and a world-readable segment leaks it to every local user.
/// Use [`Permissions::from_mode`] or [`Permissions::unrestricted`] to share across users.
///
/// # Examples
///
/// ```
/// use shmkit::Permissions;
///
/// assert_eq!(Permissions::default().mode(), 0o600);
/// assert_eq!(Permissions::from_mode(0o640).mode(), 0o640);
/// assert_eq!(Permissions::unrestricted().mode(), 0o666);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permissions(u32);

impl Permissions {
    /// Permissions from Unix mode bits; only the `0o777` bits are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = shmkit::Permissions::from_mode(0o640);
    /// assert_eq!(p.mode(), 0o640);
    /// ```
    pub const fn from_mode(mode: u32) -> Permissions {
        Permissions(mode & 0o777)
    }

    /// Read and write for the owner only (`0o600`), the default.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::Permissions::owner_only().mode(), 0o600);
    /// ```
    pub const fn owner_only() -> Permissions {
        Permissions(0o600)
    }

    /// Read and write for everyone (`0o666`), Boost's `set_unrestricted`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::Permissions::unrestricted().mode(), 0o666);
    /// ```
    pub const fn unrestricted() -> Permissions {
        Permissions(0o666)
    }

    /// The mode bits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::Permissions::default().mode(), 0o600);
    /// ```
    pub const fn mode(self) -> u32 {
        self.0
    }
}

impl Default for Permissions {
    fn default() -> Permissions {
        Permissions::owner_only()
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({:#o})", self.0)
    }
}
