//! shmkit side of the synchronization rows (`bench/boost/sync.cpp`, whose header says exactly
//! how each row is measured; this file mirrors it).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use shmkit::sync::{
    Condvar, Mutex, NamedMutex, RecursiveMutex, RwLock, Semaphore, UpgradableGuard,
    UpgradableRwLock,
};
use shmkit::{MappedRegion, ShmSafe};

use crate::Filter;
use crate::procs::{StartGate, fork_child, now_ns, wait_child};
use crate::timing::{median_ns_per_op, median_ns_self_timed, print_row};

/// A fresh anonymous shared region (inherited by forked children) holding one `T` at offset 0,
/// zero-initialised (every shmkit primitive's initial state).
fn shared<T: ShmSafe>(region: &MappedRegion) -> &T {
    // SAFETY: the region is used only through this one typed view (and the same view in forked
    // children).
    unsafe { region.get::<T>(0) }.expect("place the benchmark object")
}

fn region() -> MappedRegion {
    MappedRegion::anonymous(1 << 16).expect("anonymous shared memory")
}

#[derive(ShmSafe)]
#[repr(C)]
struct Contended {
    gate: StartGate,
    m: Mutex<u64>,
    end_ns: [AtomicU64; 2],
}

#[derive(ShmSafe)]
#[repr(C)]
struct CondvarPingPong {
    gate: StartGate,
    m: Mutex<u32>, // the turn
    cv: Condvar,
}

#[derive(ShmSafe)]
#[repr(C)]
struct SemPingPong {
    gate: StartGate,
    ping: Semaphore,
    pong: Semaphore,
}

/// Runs a two-process ping-pong: `a` in this process, `b` in a forked child, `R` round trips per
/// sample, 7 samples; returns ns per round trip (sync.cpp rows 3 and 4).
fn ping_pong<S: ShmSafe>(
    gate: impl Fn(&S) -> &StartGate,
    a: impl Fn(&S, u32),
    b: impl Fn(&S, u32) + Copy,
) -> Result<f64, String> {
    const R: u32 = 2_000;
    let mut failed = false;
    let ns = median_ns_self_timed(7, || {
        let r = region();
        let s = shared::<S>(&r);
        let kid = fork_child(|| {
            gate(s).arrive_and_wait();
            b(s, R);
            true
        });
        gate(s).wait_ready(1);
        let t0 = now_ns();
        gate(s).open();
        a(s, R);
        let t1 = now_ns();
        failed |= !wait_child(kid);
        (t1 - t0) / f64::from(R)
    });
    if failed {
        Err("a ping-pong child failed".into())
    } else {
        Ok(ns)
    }
}

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

    let row = "condvar: ping-pong round trip, 2 processes";
    if want.matches(row) {
        let ns = ping_pong::<CondvarPingPong>(
            |s| &s.gate,
            |s, n| {
                for _ in 0..n {
                    let mut turn = s.m.lock().expect("no owner dies here");
                    *turn = 1;
                    s.cv.notify_one();
                    while *turn != 0 {
                        turn = s.cv.wait(turn).expect("no owner dies here");
                    }
                }
            },
            |s, n| {
                for _ in 0..n {
                    let mut turn = s.m.lock().expect("no owner dies here");
                    while *turn != 1 {
                        turn = s.cv.wait(turn).expect("no owner dies here");
                    }
                    *turn = 0;
                    s.cv.notify_one();
                }
            },
        )?;
        print_row(row, ns);
    }

    let row = "semaphore: ping-pong round trip, 2 processes";
    if want.matches(row) {
        let ns = ping_pong::<SemPingPong>(
            |s| &s.gate,
            |s, n| {
                for _ in 0..n {
                    s.ping.post().expect("count in range");
                    s.pong.wait();
                }
            },
            |s, n| {
                for _ in 0..n {
                    s.ping.wait();
                    s.pong.post().expect("count in range");
                }
            },
        )?;
        print_row(row, ns);
    }

    let row = "rwlock: read lock+unlock, uncontended";
    if want.matches(row) {
        let r = region();
        let l = shared::<RwLock<()>>(&r);
        let ns = median_ns_per_op(15, 1_000_000, || {
            drop(black_box(l.read()));
        });
        print_row(row, ns);
    }

    let row = "rwlock: write lock+unlock, uncontended";
    if want.matches(row) {
        let r = region();
        let l = shared::<RwLock<()>>(&r);
        let ns = median_ns_per_op(15, 1_000_000, || {
            drop(black_box(l.write()));
        });
        print_row(row, ns);
    }

    let row = "upgradable: upgradable lock -> write -> unlock, uncontended";
    if want.matches(row) {
        let r = region();
        let l = shared::<UpgradableRwLock<()>>(&r);
        let ns = median_ns_per_op(15, 200_000, || {
            let up = l.upgradable_read().expect("no owner dies here");
            drop(black_box(UpgradableGuard::upgrade(up)));
        });
        print_row(row, ns);
    }

    let row = "named mutex: lock+unlock, uncontended";
    if want.matches(row) {
        let name = crate::timing::unique_name("shmkit_xbench_nmutex");
        let m = NamedMutex::create(&name).map_err(|e| e.to_string())?;
        let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
        let ns = median_ns_per_op(15, 1_000_000, || {
            drop(black_box(m.lock()));
        });
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
