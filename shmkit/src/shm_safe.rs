//! [`ShmSafe`]: the types whose bytes mean the same in every process.
#![allow(unsafe_code)]

use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize,
};

/// Marks types that may live in shared memory and be viewed by several processes.
///
/// # Safety
///
/// Implementing it promises, for the implementing type:
///
/// 1. **Any bit pattern is a valid value.** Another process (buggy or hostile) may have written
///    the bytes; viewing them as `Self` must never be undefined behaviour. (So `bool`, `char`,
///    references and most enums are out.)
/// 2. **No process-local meaning**: no pointers or references (the memory is mapped at different
///    addresses in each process), no file descriptors or other handles.
/// 3. **A fixed layout**: primitives, `#[repr(C)]` or `#[repr(transparent)]` types, arrays of
///    such, so every process compiled from any build agrees on it.
/// 4. **Sharing is thread-safe** (`Send + Sync`), and mutation through `&Self` goes through atomics or
///    shmkit's locks.
/// 5. **No drop glue that matters**: shared memory is unmapped without running destructors.
///
/// `bool` and `AtomicBool` are left out on purpose: only the bytes 0 and 1 are valid for them,
/// so a stray byte from another process would be undefined behaviour. Store a `u8` or
/// `AtomicU8` instead.
///
/// shmkit implements it for integers, floats, atomics, arrays of `ShmSafe`, and its own
/// process-shared types (`Mutex<T: ShmSafe>`, `Condvar`, `Semaphore`, ...).
pub unsafe trait ShmSafe: Send + Sync + Sized + 'static {}

macro_rules! shm_safe {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: a primitive or atomic: any bit pattern is valid, no pointers, fixed layout,
        // Sync, no drop glue.
        unsafe impl ShmSafe for $t {}
    )* };
}

shm_safe!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
    (),
);

// SAFETY: an array of ShmSafe elements inherits every property element-wise.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
