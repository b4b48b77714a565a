//! shmkit side of the memory algorithm rows (`bench/boost/alloc.cpp`).
//!
//! Both sides: a 64 MiB POSIX shared memory object, mapped; the default algorithm (Boost's
//! `rbtree_best_fit` in a `managed_shared_memory`, shmkit's `BestFit` over the whole mapping);
//! the same loop counts; random sizes from the same xorshift64 sequence.
//!
//! Boost's `segment.allocate` locks the segment's mutex inside every call. shmkit's algorithms
//! leave locking to the segment manager, so the plain rows measure the algorithm alone, and the
//! `under a RawMutex` row adds a shmkit `RawMutex` lock/unlock around every call (Boost prints
//! its plain figure under that name too).

use std::hint::black_box;

use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm};
use shmkit::sync::RawMutex;
use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory};

use crate::Filter;
use crate::timing::{median_ns_per_op, print_row, unique_name};

const SEGMENT: usize = 64 << 20;
const LIVE: usize = 10_000;
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64, as `bench/boost/alloc.cpp`.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A size in 16..=4096.
    fn size(&mut self) -> usize {
        16 + (self.next() % 4081) as usize
    }
}

/// A fresh 64 MiB shared memory segment formatted for `BestFit`, removed on drop.
struct Segment {
    algo: BestFit,
    _cleanup: RemoveOnDrop,
}

fn segment() -> shmkit::Result<Segment> {
    let name = unique_name("shmkit_xbench_alloc");
    let shm = SharedMemory::create(&name)?;
    let cleanup = RemoveOnDrop::shared_memory(&name);
    shm.set_len_sparse(SEGMENT as u64)?;
    let arena = Arena::from_region(MappedRegion::map(&shm)?)?;
    Ok(Segment {
        algo: BestFit::init(arena)?,
        _cleanup: cleanup,
    })
}

pub fn run(want: &Filter) -> shmkit::Result<()> {
    let row = "alloc: allocate+deallocate 64 B pair";
    if want.matches(row) {
        let mut seg = segment()?;
        let a = &mut seg.algo;
        let mut err = None;
        let ns = median_ns_per_op(15, 1_000_000, || {
            let r = a
                .allocate(black_box(64))
                .and_then(|off| a.deallocate(black_box(off)));
            if let Err(e) = r {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        print_row(row, ns);
    }

    let row = "alloc: allocate+deallocate 64 B pair, each call under a RawMutex";
    if want.matches(row) {
        let mut seg = segment()?;
        let a = &mut seg.algo;
        let lock = RawMutex::new();
        let mut err = None;
        let ns = median_ns_per_op(15, 1_000_000, || {
            let _ = lock.lock();
            let r = a.allocate(black_box(64));
            // SAFETY: this thread took the lock just above.
            unsafe { lock.unlock() };
            let r = r.and_then(|off| {
                let _ = lock.lock();
                let r = a.deallocate(black_box(off));
                // SAFETY: as above.
                unsafe { lock.unlock() };
                r
            });
            if let Err(e) = r {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        print_row(row, ns);
    }

    let row = "alloc: random 16-4096 B, 10,000 live blocks";
    if want.matches(row) {
        let mut seg = segment()?;
        let a = &mut seg.algo;
        let mut rng = XorShift(SEED);
        let mut live = Vec::with_capacity(LIVE);
        for _ in 0..LIVE {
            live.push(a.allocate(rng.size())?);
        }
        let mut err = None;
        let ns = median_ns_per_op(15, 200_000, || {
            let i = (rng.next() % LIVE as u64) as usize;
            let r = a.deallocate(live[i]).and_then(|()| a.allocate(rng.size()));
            match r {
                Ok(off) => live[i] = off,
                Err(e) => err = Some(e),
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        print_row(row, ns);
    }

    // Not a time: the count is printed in the ns column.
    let row = "alloc: 64 B allocations that fit in 64 MiB";
    if want.matches(row) {
        let mut seg = segment()?;
        let mut n = 0u64;
        while seg.algo.allocate(64).is_ok() {
            n += 1;
        }
        print_row(row, n as f64);
    }
    Ok(())
}
