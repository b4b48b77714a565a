//! libFuzzer target: the `Lock` surface of the shared byte-damage harness. Each input decodes
//! into a `Case` (which object, the edits before and while it is open, the operations); the
//! target builds a valid object, damages it and runs the operations. A panic, a crash or a
//! hang (libFuzzer's `-timeout`) is a finding.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;

#[path = "../../shmkit/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

use fuzz_harness::{Case, Surface};

static N: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let case = Case::from_bytes(data);
    let (name, path) = fuzz_harness::names("named_lock", N.fetch_add(1, Ordering::Relaxed));
    let _ = fuzz_harness::run(Surface::Lock, &name, &path, &case);
});
