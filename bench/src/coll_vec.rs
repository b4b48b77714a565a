//! shmkit side of the collection rows (`bench/boost/coll_vec.cpp`).
//!
//! Both sides: a vector of `i32` constructed in a fresh 256 MiB POSIX shared memory segment
//! (shmkit: `collections::Vec<i32>` inside a `sync::Mutex`, locked once before timing; Boost:
//! `vector<int, allocator<int, segment_manager>>`), filled with `push(i)` for `i` in
//! `0..10_000_000` (no reserve: it grows as it goes), then summed into an `i64`. One warm-up
//! sample, then the median of 5, each in a fresh segment; the figure is ns per element.

use std::hint::black_box;
use std::time::Instant;

use shmkit::collections::Vec as ShmVec;
use shmkit::sync::Mutex;
use shmkit::{ManagedSharedMemory, RemoveOnDrop};

use crate::Filter;
use crate::timing::{median, print_row, unique_name};

const ELEMS: usize = 10_000_000;
const SEGMENT: usize = 256 << 20;
const SAMPLES: usize = 5;

pub fn run(want: &Filter) -> shmkit::Result<()> {
    let push = "vec push 10M i32";
    let sum = "vec sum 10M i32";
    if !want.matches(push) && !want.matches(sum) {
        return Ok(());
    }
    let (mut push_ns, mut sum_ns) = (Vec::new(), Vec::new());
    let mut total = 0i64;
    for s in 0..=SAMPLES {
        let name = unique_name("shmkit_xbench_coll_vec");
        let _cleanup = RemoveOnDrop::shared_memory(&name);
        let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, SEGMENT)?;
        let shared = seg.construct("v", Mutex::new(ShmVec::<i32>::new()))?;
        let mut v = shared.lock().expect("a fresh mutex");

        let t0 = Instant::now();
        for i in 0..ELEMS {
            v.push(black_box(i as i32));
        }
        let t1 = Instant::now();
        let acc: i64 = v.iter().map(|&x| i64::from(x)).sum();
        let t2 = Instant::now();
        total += black_box(acc);
        if s > 0 {
            let per = |a: Instant, b: Instant| (b - a).as_nanos() as f64 / ELEMS as f64;
            push_ns.push(per(t0, t1));
            sum_ns.push(per(t1, t2));
        }
    }
    black_box(total);
    if want.matches(push) {
        print_row(push, median(push_ns));
    }
    if want.matches(sum) {
        print_row(sum, median(sum_ns));
    }
    Ok(())
}
