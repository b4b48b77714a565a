//! shmkit side of the hash map rows (`bench/boost/coll_hash.cpp`).
//!
//! Both sides: 1,000,000 random `u64` keys (xorshift64, the same seed, generated before timing)
//! inserted into an empty map in a 256 MiB POSIX shared memory segment (key `i` → `i`, no
//! reserve; Boost: `boost::unordered_map` with an interprocess allocator; shmkit:
//! `collections::HashMap<u64, u64>` in a `Mutex`, locked once per phase), then every key found
//! in a second order (the same Fisher-Yates shuffle as the C++ side). One warm-up sample, then
//! the median of 5, each in a fresh segment. The bytes row prints the segment's size minus its
//! free memory once the 1M entries are in.

use std::hint::black_box;
use std::time::Instant;

use shmkit::collections::HashMap;
use shmkit::sync::Mutex;
use shmkit::{ManagedSharedMemory, RemoveOnDrop};

use crate::Filter;
use crate::timing::{median, print_row, unique_name};

const KEYS: usize = 1_000_000;
const SEGMENT: usize = 256 << 20;
const SAMPLES: usize = 5;

/// xorshift64, as `bench/boost/coll_hash.cpp`.
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
    let insert_row = "hash map insert 1M u64";
    let find_row = "hash map find 1M u64";
    let bytes_row = "hash map bytes 1M u64";
    if !want.matches(insert_row) && !want.matches(find_row) && !want.matches(bytes_row) {
        return Ok(());
    }
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let keys: Vec<u64> = (0..KEYS).map(|_| rng.next()).collect();
    let mut order = keys.clone();
    let mut shuffle = XorShift(0xD1B5_4A32_D192_ED03);
    for i in (1..KEYS).rev() {
        let j = (shuffle.next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let (mut ins_ns, mut find_ns, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    let mut sum = 0u64;
    for s in 0..=SAMPLES {
        let name = unique_name("shmkit_xbench_coll_hash");
        let _cleanup = RemoveOnDrop::shared_memory(&name);
        let mut seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, SEGMENT)?;
        let shared = seg.construct("map", Mutex::new(HashMap::<u64, u64>::new()))?;

        let t0 = Instant::now();
        {
            let mut m = shared.lock().expect("fresh lock");
            for (i, &k) in keys.iter().enumerate() {
                m.insert(k, i as u64);
            }
        }
        let t1 = Instant::now();
        {
            let m = shared.lock().expect("fresh lock");
            for k in &order {
                sum += *m.get(black_box(k)).expect("inserted");
            }
            assert_eq!(m.len(), KEYS, "duplicate keys");
        }
        let t2 = Instant::now();
        let used = (seg.size() - seg.free_memory()?) as f64;
        seg.destroy::<Mutex<HashMap<u64, u64>>>("map")?;
        if s > 0 {
            let per = |a: Instant, b: Instant| (b - a).as_nanos() as f64 / KEYS as f64;
            ins_ns.push(per(t0, t1));
            find_ns.push(per(t1, t2));
            bytes.push(used);
        }
    }
    black_box(sum);
    if want.matches(insert_row) {
        print_row(insert_row, median(ins_ns));
    }
    if want.matches(find_row) {
        print_row(find_row, median(find_ns));
    }
    if want.matches(bytes_row) {
        print_row(bytes_row, median(bytes));
    }
    Ok(())
}
