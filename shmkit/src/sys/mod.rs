//! The operating-system layer: the only module that makes system calls.
//!
//! Everything above `sys` sees small, safe (or precisely contracted `unsafe`) functions and the
//! opaque [`Fd`] handle; no other module holds a raw file descriptor or reads `errno`. Each
//! function's doc names the C call it wraps. OS errors come back as [`crate::Error`] with a
//! message naming the object and the call.
//!
//! Linux is the only backend today, built on `rustix` (a thin, safe, maintained syscall layer)
//! and on `libc` for the few calls rustix does not wrap (System V shared memory, `ftok`).
//! A macOS or Windows backend is a sibling module chosen here by `cfg`; public modules carry no
//! `cfg(target_os)`.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "shmkit is implemented and tested on Linux only; a backend for this OS belongs in src/sys/"
);
