//! The one name validator every named object goes through.
//!
//! A shmkit name is what a user passes to `SharedMemory::create("name")`, `NamedMutex::open`,
//! and so on. shmkit adds the platform's decoration itself (on Linux the leading `/` of
//! `shm_open`, so the object appears as `/dev/shm/<name>`), so a name must be one plain path
//! component. It is checked here, once, before any system call:
//!
//! | rejected                    | why                                                       |
//! |-----------------------------|-----------------------------------------------------------|
//! | empty                       | no object can be named by nothing                         |
//! | `.` or `..`                 | they name directories, and `..` escapes `/dev/shm`         |
//! | containing `/`              | a second path component; shmkit adds the leading slash    |
//! | containing NUL              | C strings end there; the OS would see another name         |
//! | longer than [`MAX_NAME_LEN`] bytes | the platform's limit (glibc's `shm_open` takes 253) |
//!
//! Everything else (letters, digits, `-`, `_`, `.` inside, UTF-8) is accepted. Boost's docs
//! recommend C-identifier names for portability to other systems; shmkit does not require it.

use crate::error::{Error, ErrorKind, Result};

/// The longest name accepted, in bytes: 253 on Linux, the most glibc's `shm_open` takes, so that
/// every name also works from C and C++ programs.
///
/// # Examples
///
/// ```
/// use shmkit::{ErrorKind, MAX_NAME_LEN, validate_name};
///
/// assert!(validate_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
/// let long = validate_name(&"a".repeat(MAX_NAME_LEN + 1)).unwrap_err();
/// assert_eq!(long.kind(), ErrorKind::InvalidName);
/// ```
pub const MAX_NAME_LEN: usize = crate::sys::MAX_NAME_LEN;

/// Checks `name` against the rules in the [module docs](self) and returns it unchanged.
///
/// # Errors
///
/// [`ErrorKind::InvalidName`] naming the rule that was broken.
///
/// # Examples
///
/// ```
/// use shmkit::{validate_name, ErrorKind};
///
/// assert!(validate_name("orders-v2").is_ok());
/// assert_eq!(validate_name("../etc/passwd").unwrap_err().kind(), ErrorKind::InvalidName);
/// assert_eq!(validate_name("").unwrap_err().kind(), ErrorKind::InvalidName);
/// ```
pub fn validate_name(name: &str) -> Result<&str> {
    let why = if name.is_empty() {
        "a name may not be empty"
    } else if name == "." || name == ".." {
        "a name may not be `.` or `..`"
    } else if name.contains('/') {
        "a name may not contain `/` (shmkit adds the leading slash itself)"
    } else if name.contains('\0') {
        "a name may not contain a NUL byte"
    } else if name.len() > MAX_NAME_LEN {
        "a name is longer than shmkit::MAX_NAME_LEN bytes"
    } else {
        return Ok(name);
    };
    Err(Error::new(
        ErrorKind::InvalidName,
        format!("{why}: {:?}", truncate_for_message(name)),
    ))
}

fn truncate_for_message(name: &str) -> &str {
    if name.len() <= 80 {
        return name;
    }
    let mut end = 80;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["a", "shm-1", "x.y", "...", "név", &"n".repeat(MAX_NAME_LEN)] {
            assert_eq!(validate_name(ok).unwrap(), ok);
        }
    }

    #[test]
    fn rejects_each_rule() {
        let long = "n".repeat(MAX_NAME_LEN + 1);
        for bad in ["", ".", "..", "/x", "a/b", "x/", "a\0b", &long] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}");
        }
    }

    #[test]
    fn long_names_are_cut_in_the_message() {
        let long = "é".repeat(300);
        let e = validate_name(&long).unwrap_err();
        assert!(e.to_string().len() < 200);
    }
}
