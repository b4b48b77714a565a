//! shmkit side of the ordered map rows (`bench/boost/coll_btree.cpp`).
//!
//! Both sides: 1M random `u64` keys (xorshift64, generated before timing) inserted into an
//! ordered `u64 → u64` map in a 256 MiB POSIX shared memory segment (Boost:
//! `boost::interprocess::map` with the segment's allocator; shmkit: `collections::BTreeMap`
//! inside a `Mutex`, locked once per phase), then each key looked up once in a shuffled order
//! (the same Fisher-Yates shuffle as the C++ side); one warm-up sample, then the median of 5,
//! each in a fresh segment.

use std::hint::black_box;
use std::time::Instant;

use shmkit::collections::BTreeMap;
use shmkit::sync::Mutex;
use shmkit::{ManagedSharedMemory, RemoveOnDrop};

use crate::Filter;
use crate::timing::{median, print_row, unique_name};

const KEYS: usize = 1_000_000;
const SEGMENT: usize = 256 << 20;
const SAMPLES: usize = 5;

/// xorshift64, as `bench/boost/coll_btree.cpp`.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub fn run(want: &Filter) -> shmkit::Result<()> {
    let insert_row = "btree map insert 1M u64";
    let find_row = "btree map find 1M u64";
    if !want.matches(insert_row) && !want.matches(find_row) {
        return Ok(());
    }
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let keys: Vec<u64> = (0..KEYS).map(|_| rng.next()).collect();
    let mut probe = keys.clone();
    let mut shuf = XorShift(0xD1B5_4A32_D192_ED03);
    for i in (1..KEYS).rev() {
        let j = (shuf.next() % (i as u64 + 1)) as usize;
        probe.swap(i, j);
    }
    let (mut ins_ns, mut find_ns) = (Vec::new(), Vec::new());
    let mut sum = 0u64;
    for s in 0..=SAMPLES {
        let name = unique_name("shmkit_xbench_btree");
        let _cleanup = RemoveOnDrop::shared_memory(&name);
        let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, SEGMENT)?;
        let m = seg.construct("map", Mutex::new(BTreeMap::<u64, u64>::new()))?;
        let mut map = m.lock().expect("no owner dies here");
        let t0 = Instant::now();
        for (i, &k) in keys.iter().enumerate() {
            map.try_insert(k, i as u64)?;
        }
        let t1 = Instant::now();
        for &k in &probe {
            sum += *map.get(black_box(&k)).expect("inserted");
        }
        let t2 = Instant::now();
        if s > 0 {
            let per = |a: Instant, b: Instant| (b - a).as_nanos() as f64 / KEYS as f64;
            ins_ns.push(per(t0, t1));
            find_ns.push(per(t1, t2));
        }
    }
    black_box(sum);
    if want.matches(insert_row) {
        print_row(insert_row, median(ins_ns));
    }
    if want.matches(find_row) {
        print_row(find_row, median(find_ns));
    }
    Ok(())
}
