//! Failures and their exit statuses (listed in `--help`).

use shmkit::{Error, ErrorKind};

/// Something went wrong, and how the process should exit.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

/// Problems found, an object in use, anything else.
pub(crate) const GENERAL: u8 = 1;
/// Bad usage or an invalid name (clap uses 2 for usage errors too).
pub(crate) const USAGE: u8 = 2;
/// No such object.
pub(crate) const NOT_FOUND: u8 = 3;
/// Permission denied.
pub(crate) const PERMISSION: u8 = 4;

impl Failure {
    /// A failure with exit status `code`.
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// `error` while doing `what` ("cannot remove `x`").
    pub(crate) fn of(what: &str, error: &Error) -> Failure {
        let code = code_of(error.kind());
        let hint = match error.kind() {
            ErrorKind::PermissionDenied => " (another user's object? try as its owner or root)",
            ErrorKind::NotFound => " (`shmkit ls --all` lists what exists)",
            _ => "",
        };
        Failure::new(code, format!("{what}: {error}{hint}"))
    }
}

/// The exit status for an error of `kind`.
pub(crate) fn code_of(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::PermissionDenied => PERMISSION,
        ErrorKind::InvalidName => USAGE,
        _ => GENERAL,
    }
}
