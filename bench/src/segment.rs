//! shmkit side of the managed segment rows (`bench/boost/segment.cpp`).
//!
//! Both sides: named construct, find and destroy of 100,000 `u64` objects named `obj%06d` in
//! a 64 MiB POSIX shared memory segment, with an ordered index (Boost's default `iset_index`;
//! shmkit's `OrderedIndex`) and a hashed one (Boost's `iunordered_set_index`; shmkit's
//! `HashIndex`, its default). Names are formatted before timing into one flat buffer of 10-byte
//! slots (9 characters and a NUL, the C++ side's layout, so neither side's string type costs
//! an extra cache miss); each phase visits them in its own pseudo-random order (the same
//! Fisher-Yates shuffles as the C++ side); one warm-up sample, then the median of 5, each in a
//! fresh segment. The "2 processes at once" rows (see [`concurrent_row`]) time finds made by two
//! processes together, which Boost serialises on the segment mutex and shmkit runs lock-free.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use shmkit::alloc::BestFit;
use shmkit::segment::{HashIndex, NameIndex, OrderedIndex};
use shmkit::{ManagedSharedMemory, RemoveOnDrop};

use crate::Filter;
use crate::procs::{StartGate, fork_child, now_ns, wait_child};
use crate::timing::{median, print_row, unique_name};

const NAMES: usize = 100_000;
const SEGMENT: usize = 64 << 20;
const SAMPLES: usize = 5;

/// xorshift64, as `bench/boost/segment.cpp`.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn permutation(seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..NAMES).collect();
    let mut rng = XorShift(seed);
    for i in (1..NAMES).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

fn rows<I: NameIndex>(want: &Filter, index: &str) -> shmkit::Result<()> {
    let construct = format!("segment: named construct, 100,000 names ({index} index)");
    let find = format!("segment: named find, 100,000 names ({index} index)");
    let destroy = format!("segment: named destroy, 100,000 names ({index} index)");
    if !want.matches(&construct) && !want.matches(&find) && !want.matches(&destroy) {
        return Ok(());
    }
    let flat: String = (0..NAMES).map(|i| format!("obj{i:06}\0")).collect();
    let name_of = |k: usize| &flat[10 * k..10 * k + 9];
    let pc = permutation(0x9E37_79B9_7F4A_7C15);
    let pf = permutation(0xD1B5_4A32_D192_ED03);
    let pd = permutation(0x8CB9_2BA7_2F3D_8DD7);
    let (mut c_ns, mut f_ns, mut d_ns) = (Vec::new(), Vec::new(), Vec::new());
    let mut sum = 0u64;
    for s in 0..=SAMPLES {
        let name = unique_name("shmkit_xbench_segment");
        let _cleanup = RemoveOnDrop::shared_memory(&name);
        let mut seg = ManagedSharedMemory::<BestFit, I>::create(&name, SEGMENT)?;

        let t0 = Instant::now();
        for &k in &pc {
            seg.construct(name_of(k), k as u64)?;
        }
        let t1 = Instant::now();
        for &k in &pf {
            sum += *seg
                .find::<u64>(black_box(name_of(k)))?
                .expect("constructed");
        }
        let t2 = Instant::now();
        for &k in &pd {
            assert!(seg.destroy::<u64>(name_of(k))?);
        }
        let t3 = Instant::now();
        if s > 0 {
            let per = |a: Instant, b: Instant| (b - a).as_nanos() as f64 / NAMES as f64;
            c_ns.push(per(t0, t1));
            f_ns.push(per(t1, t2));
            d_ns.push(per(t2, t3));
        }
    }
    black_box(sum);
    if want.matches(&construct) {
        print_row(&construct, median(c_ns));
    }
    if want.matches(&find) {
        print_row(&find, median(f_ns));
    }
    if want.matches(&destroy) {
        print_row(&destroy, median(d_ns));
    }
    Ok(())
}

/// The start line and the children's end times, an anonymous object in the segment.
#[repr(C)]
#[derive(Default, shmkit::ShmSafe)]
struct ConcBlock {
    gate: StartGate,
    end_ns: [AtomicU64; 2],
}

const CONC_NAMES: usize = 10_000;
const CONC_ROUNDS: u64 = 20;

/// "2 processes at once" (as `concurrent_row` in `bench/boost/segment.cpp`): 10,000 names in a
/// 16 MiB segment; two forked children each find every name 20 times over in their own random
/// order, started together; the row is the time per find per process while both run (the
/// median of 5 samples after a warm-up).
fn concurrent_row<I: NameIndex>(want: &Filter, index: &str) -> shmkit::Result<()> {
    let row = format!("segment: named find, 2 processes at once, 10,000 names ({index} index)");
    if !want.matches(&row) {
        return Ok(());
    }
    let flat: String = (0..CONC_NAMES).map(|i| format!("obj{i:06}\0")).collect();
    let name_of = |k: usize| &flat[10 * k..10 * k + 9];
    let mut ns = Vec::new();
    for s in 0..=SAMPLES {
        let name = unique_name("shmkit_xbench_segconc");
        let _cleanup = RemoveOnDrop::shared_memory(&name);
        let seg = ManagedSharedMemory::<BestFit, I>::create(&name, 16 << 20)?;
        for k in 0..CONC_NAMES {
            seg.construct(name_of(k), k as u64)?;
        }
        let b = seg.construct_anonymous(ConcBlock::default())?;
        let pids: Vec<_> = (0..2u64)
            .map(|c| {
                let (seg, b, name_of) = (&seg, b, &name_of);
                fork_child(move || {
                    let mut order: Vec<usize> = (0..CONC_NAMES).collect();
                    let mut rng = XorShift(0x2545_F491_4F6C_DD1D_u64.wrapping_mul(c + 1));
                    for i in (1..CONC_NAMES).rev() {
                        let j = (rng.next() % (i as u64 + 1)) as usize;
                        order.swap(i, j);
                    }
                    let mut sum = 0u64;
                    b.gate.arrive_and_wait();
                    for _ in 0..CONC_ROUNDS {
                        for &k in &order {
                            match seg.find::<u64>(black_box(name_of(k))) {
                                Ok(Some(v)) => sum += *v,
                                _ => return false,
                            }
                        }
                    }
                    b.end_ns[c as usize].store(now_ns() as u64, Ordering::Release);
                    let n = CONC_NAMES as u64;
                    sum == CONC_ROUNDS * (n * (n - 1) / 2)
                })
            })
            .collect();
        b.gate.wait_ready(2);
        let t0 = now_ns();
        b.gate.open();
        for pid in pids {
            if !wait_child(pid) {
                return Err(shmkit::Error::new(
                    shmkit::ErrorKind::Io,
                    "a concurrent finder failed",
                ));
            }
        }
        let end = b
            .end_ns
            .iter()
            .map(|e| e.load(Ordering::Acquire))
            .max()
            .unwrap_or(0) as f64;
        if s > 0 {
            ns.push((end - t0) / (CONC_ROUNDS as f64 * CONC_NAMES as f64));
        }
    }
    print_row(&row, median(ns));
    Ok(())
}

pub fn run(want: &Filter) -> shmkit::Result<()> {
    rows::<OrderedIndex>(want, "ordered")?;
    rows::<HashIndex>(want, "hashed")?;
    concurrent_row::<OrderedIndex>(want, "ordered")?;
    concurrent_row::<HashIndex>(want, "hashed")
}
