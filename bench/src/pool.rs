//! shmkit side of the pool rows (`bench/boost/pool.cpp`).
//!
//! Both sides: a 64 MiB managed shared memory segment, Boost's default pool shapes (64 nodes
//! per block; adaptive pools keep at most 2 free blocks), one 64-byte node allocated and freed
//! per iteration through the allocator's standard interface (Boost's `allocate(1)` /
//! `deallocate(p, 1)`, shmkit's `ShmAlloc::allocate` / `deallocate`). The shmkit loop also
//! resolves the segment (`segment()`) on every pair, as a collection operation does once.

use std::hint::black_box;

use shmkit::collections::{AsSegment, ShmAlloc};
use shmkit::pool::{
    AdaptivePoolAlloc, CachedNodeAlloc, DEFAULT_MAX_FREE_BLOCKS, DEFAULT_NODES_PER_BLOCK, NodeAlloc,
};
use shmkit::{ManagedSharedMemory, RemoveOnDrop};

use crate::Filter;
use crate::timing::{median_ns_per_op, print_row, unique_name};

const SEGMENT: usize = 64 << 20;
const PAIRS: u64 = 1_000_000;

/// A fresh 64 MiB managed segment, removed on drop.
fn segment() -> shmkit::Result<(ManagedSharedMemory, RemoveOnDrop)> {
    let name = unique_name("shmkit_xbench_pool");
    let seg = ManagedSharedMemory::create(&name, SEGMENT)?;
    Ok((seg, RemoveOnDrop::shared_memory(&name)))
}

fn pair<A: ShmAlloc>(seg: &ManagedSharedMemory, a: &A) -> shmkit::Result<f64> {
    let mut err = None;
    let ns = median_ns_per_op(15, PAIRS, || {
        let r = seg.segment().and_then(|s| {
            let off = a.allocate(&s, black_box(64), 8)?;
            a.deallocate(&s, black_box(off), 64, 8)
        });
        if let Err(e) = r {
            err = Some(e);
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(ns),
    }
}

pub fn run(want: &Filter) -> shmkit::Result<()> {
    let row = "node pool alloc+free 64 B";
    if want.matches(row) {
        let (seg, _rm) = segment()?;
        let a = NodeAlloc::new(&seg, 64, DEFAULT_NODES_PER_BLOCK)?;
        print_row(row, pair(&seg, &a)?);
    }

    let row = "adaptive pool alloc+free 64 B";
    if want.matches(row) {
        let (seg, _rm) = segment()?;
        let a = AdaptivePoolAlloc::new(&seg, 64, DEFAULT_NODES_PER_BLOCK, DEFAULT_MAX_FREE_BLOCKS)?;
        print_row(row, pair(&seg, &a)?);
    }

    let row = "cached node pool alloc+free 64 B";
    if want.matches(row) {
        let (seg, _rm) = segment()?;
        let a = CachedNodeAlloc::new(&seg, 64, DEFAULT_NODES_PER_BLOCK)?;
        print_row(row, pair(&seg, &a)?);
        a.deallocate_cache(&seg)?;
    }
    Ok(())
}
