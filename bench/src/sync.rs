//! shmkit side of the synchronization rows (`bench/boost/sync.cpp`, whose header says exactly
//! how each row is measured; this file mirrors it).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use shmkit::MappedRegion;
use shmkit::sync::{Mutex, RecursiveMutex};

use crate::Filter;
use crate::procs::{StartGate, fork_child, now_ns, wait_child};
use crate::timing::{median_ns_per_op, median_ns_self_timed, print_row};

/// A fresh anonymous shared region (inherited by forked children) holding one `T` at offset 0,
/// zero-initialised (every shmkit primitive's initial state).
fn shared<T: shmkit::ShmSafe>(region: &MappedRegion) -> &T {
    // SAFETY: the region is used only through this one typed view (and the same view in forked
    // children).
    unsafe { region.get::<T>(0) }.expect("place the benchmark object")
}

fn region() -> MappedRegion {
    MappedRegion::anonymous(1 << 16).expect("anonymous shared memory")
}

#[repr(C)]
struct Contended {
    gate: StartGate,
    m: Mutex<u64>,
    end_ns: [AtomicU64; 2],
}
// SAFETY: atomics and a ShmSafe mutex, repr(C); any bit pattern is valid.
unsafe impl shmkit::ShmSafe for Contended {}
// SAFETY: StartGate is two AtomicU32s.
unsafe impl shmkit::ShmSafe for StartGate {}

pub fn run(want: &Filter) -> Result<(), String> {
    let row = "mutex: lock+unlock, uncontended";
    if want.matches(row) {
        let r = region();
        let m = shared::<Mutex<()>>(&r);
        let ns = median_ns_per_op(15, 1_000_000, || {
            drop(black_box(m.lock()));
        });
        print_row(row, ns);
    }

    let row = "mutex: 2 processes x 1M increments (ns/op)";
    if want.matches(row) {
        const N: u64 = 1_000_000;
        let mut failed = false;
        let ns = median_ns_self_timed(7, || {
            let r = region();
            let s = shared::<Contended>(&r);
            let kids: Vec<_> = (0..2)
                .map(|k| {
                    fork_child(|| {
                        s.gate.arrive_and_wait();
                        for _ in 0..N {
                            let mut g = s.m.lock().expect("no owner dies here");
                            *g += 1;
                        }
                        s.end_ns[k].store(now_ns() as u64, Ordering::Release);
                        true
                    })
                })
                .collect();
            s.gate.wait_ready(2);
            let t0 = now_ns();
            s.gate.open();
            for pid in kids {
                failed |= !wait_child(pid);
            }
            let end = s
                .end_ns
                .iter()
                .map(|e| e.load(Ordering::Acquire))
                .max()
                .unwrap_or(0);
            failed |= *s.m.lock().expect("unlocked") != 2 * N;
            (end as f64 - t0) / (2 * N) as f64
        });
        if failed {
            return Err(format!("{row}: a child failed or the count is wrong"));
        }
        print_row(row, ns);
    }

    let row = "recursive mutex: lock+lock+unlock+unlock, uncontended";
    if want.matches(row) {
        let r = region();
        let m = shared::<RecursiveMutex<()>>(&r);
        let ns = median_ns_per_op(15, 500_000, || {
            let a = m.lock();
            let b = m.lock();
            drop(black_box(b));
            drop(black_box(a));
        });
        print_row(row, ns);
    }
    Ok(())
}
