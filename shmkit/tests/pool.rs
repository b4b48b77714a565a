//! Pool allocators: one shared pool across real processes, memory given back to the segment,
//! cache limits, a child killed while allocating, and random allocate/free sequences against a
//! model (no two live allocations overlap, all inside the segment).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use shmkit::collections::{AsSegment, ShmAlloc, Vec as ShmVec};
use shmkit::pool::{
    AdaptivePoolAlloc, CachedAdaptivePoolAlloc, CachedNodeAlloc, NodeAlloc, PoolStats,
    PrivateAdaptivePoolAlloc, PrivateNodeAlloc,
};
use shmkit::sync::Mutex;
use shmkit::{ErrorKind, ManagedHeapMemory, ManagedSharedMemory};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name, wait_until};

child_roles!(attacher, churner, fork_cache);

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = mix(self.0);
        self.0 % n
    }
}

/// Writes `words` u64s of `tag`-derived values into the block at `off`.
fn fill(s: &shmkit::collections::SegmentRef<'_>, off: u64, words: usize, tag: u64) {
    let p = s.ptr::<u64>(off, words).unwrap();
    for i in 0..words {
        // SAFETY: `ptr` checked the range; the block is this caller's (just allocated) and
        // nothing else accesses it.
        unsafe { p.add(i).write(mix(tag ^ i as u64)) };
    }
}

/// Checks what [`fill`] wrote.
fn check(s: &shmkit::collections::SegmentRef<'_>, off: u64, words: usize, tag: u64) {
    let p = s.ptr::<u64>(off, words).unwrap();
    for i in 0..words {
        // SAFETY: as in `fill`.
        let v = unsafe { p.add(i).read() };
        assert_eq!(v, mix(tag ^ i as u64), "block {off} word {i} overwritten");
    }
}

fn pool_objects(seg: &shmkit::SegmentManager) -> usize {
    seg.named_objects()
        .unwrap()
        .iter()
        .filter(|o| o.name.starts_with("shmkit.pool."))
        .count()
}

// ----- two processes, one pool ------------------------------------------------------------

const CROSS_N: usize = 2000;

type Lists = Mutex<ShmVec<ShmVec<u32, NodeAlloc>>>;

/// Child: attaches to the node pool (racing the parent and another child to create it),
/// allocates through it while they do too, and hands its nodes over in a named vector; builds
/// small vectors with the allocator.
fn attacher(args: &[String]) {
    let seg = ManagedSharedMemory::open(&args[0]).unwrap();
    let a = NodeAlloc::new(&seg, 64, 64).unwrap();
    report("pool", a.pool_offset());
    report("pools", pool_objects(&seg));
    let s = seg.segment().unwrap();
    let out = seg
        .find::<Mutex<ShmVec<u64>>>("child-nodes")
        .unwrap()
        .unwrap();
    for _ in 0..CROSS_N {
        let n = a.allocate(&s, 64, 8).unwrap();
        fill(&s, n, 8, n);
        out.lock().unwrap().push(n);
    }
    let lists = seg.find::<Lists>("lists").unwrap().unwrap();
    for i in 0..100u32 {
        let mut l = lists.lock().unwrap();
        l.push(ShmVec::new_with(a));
        let last = l.len() - 1;
        l[last].extend([i, i + 1, i + 2]);
    }
    report("done", 1);
}

#[test]
fn two_processes_allocate_from_one_shared_node_pool() {
    let name = unique_name("pool-cross");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = ManagedSharedMemory::create(&name, 8 << 20).unwrap();
    seg.construct("child-nodes", Mutex::new(ShmVec::<u64>::new()))
        .unwrap();
    seg.construct("lists", Lists::default()).unwrap();
    // Two children and this process race to attach: one pool must come out of it.
    let kids: Vec<_> = (0..2)
        .map(|_| child("attacher").arg(&name).spawn())
        .collect();
    let a = NodeAlloc::new(&seg, 64, 64).unwrap();
    let s = seg.segment().unwrap();
    let mut mine = Vec::new();
    for i in 0..CROSS_N {
        let n = a.allocate(&s, 64, 8).unwrap();
        fill(&s, n, 8, i as u64);
        mine.push(n);
    }
    for k in kids {
        let out = k.wait();
        out.assert_success();
        assert_eq!(out.value("pool"), a.pool_offset().to_string());
        assert_eq!(out.value("pools"), "1");
    }
    assert_eq!(pool_objects(&seg), 1);

    let theirs: Vec<u64> = seg
        .find::<Mutex<ShmVec<u64>>>("child-nodes")
        .unwrap()
        .unwrap()
        .lock()
        .unwrap()
        .to_vec();
    assert_eq!(theirs.len(), 2 * CROSS_N);
    let mut all: Vec<u64> = mine.iter().chain(&theirs).copied().collect();
    all.sort_unstable();
    assert!(all.windows(2).all(|w| w[1] - w[0] >= 64), "nodes overlap");
    for (i, &n) in mine.iter().enumerate() {
        check(&s, n, 8, i as u64);
    }
    for &n in &theirs {
        check(&s, n, 8, n);
    }
    let lists = seg.find::<Lists>("lists").unwrap().unwrap();
    {
        let l = lists.lock().unwrap();
        assert_eq!(l.len(), 200);
        assert!(
            l.iter()
                .all(|v| v.len() == 3 && v[1] == v[0] + 1 && v[2] == v[0] + 2)
        );
    }
    let st = a.stats(&seg).unwrap();
    assert_eq!(st.attached, 3);
    assert_eq!(st.live_nodes, 3 * CROSS_N + 200);
    for n in mine.into_iter().chain(theirs) {
        a.deallocate(&s, n, 64, 8).unwrap();
    }
    lists.lock().unwrap().clear();
    assert_eq!(a.stats(&seg).unwrap().live_nodes, 0);
    let before = seg.free_memory().unwrap();
    assert!(a.deallocate_free_blocks(&seg).unwrap() > 0);
    assert!(seg.free_memory().unwrap() > before);
    seg.check_sanity().unwrap();
}

// ----- memory back to the segment -----------------------------------------------------------

#[test]
fn adaptive_pool_gives_memory_back_to_the_segment() {
    let seg = ManagedHeapMemory::<shmkit::alloc::BestFit>::new(8 << 20).unwrap();
    let a = AdaptivePoolAlloc::new(&seg, 64, 64, 2).unwrap();
    let s = seg.segment().unwrap();
    let start = seg.free_memory().unwrap();
    let mut rng = Rng(7);
    let mut nodes = Vec::new();
    for i in 0..20_000u64 {
        let n = a.allocate(&s, 64, 8).unwrap();
        fill(&s, n, 8, i);
        nodes.push((n, i));
    }
    let full = a.stats(&seg).unwrap();
    assert!(full.blocks >= 20_000 / full.nodes_per_block);
    assert!(seg.free_memory().unwrap() < start - 20_000 * 64);
    // Free in random order: blocks go back as they empty, at most 2 free ones are kept.
    while !nodes.is_empty() {
        let (n, i) = nodes.swap_remove(rng.below(nodes.len() as u64) as usize);
        check(&s, n, 8, i);
        a.deallocate(&s, n, 64, 8).unwrap();
    }
    let st = a.stats(&seg).unwrap();
    assert_eq!(st.live_nodes, 0);
    assert!(st.blocks <= 2, "{st:?}");
    a.deallocate_free_blocks(&seg).unwrap();
    assert_eq!(a.stats(&seg).unwrap().blocks, 0);
    assert_eq!(seg.free_memory().unwrap(), start);
    seg.check_sanity().unwrap();
}

#[test]
fn node_pool_gives_free_blocks_back_and_keeps_used_ones() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(4 << 20).unwrap();
    let a = NodeAlloc::new(&seg, 32, 100).unwrap();
    let s = seg.segment().unwrap();
    let start = seg.free_memory().unwrap();
    let nodes: Vec<u64> = (0..1000).map(|_| a.allocate(&s, 32, 8).unwrap()).collect();
    assert_eq!(a.stats(&seg).unwrap().blocks, 10);
    // Keep one node: its block must stay.
    for &n in &nodes[1..] {
        a.deallocate(&s, n, 32, 8).unwrap();
    }
    assert_eq!(a.deallocate_free_blocks(&seg).unwrap(), 9);
    let st = a.stats(&seg).unwrap();
    assert_eq!((st.blocks, st.live_nodes, st.free_nodes), (1, 1, 99));
    // The pool still works after its free list was rebuilt.
    let again: Vec<u64> = (0..250).map(|_| a.allocate(&s, 32, 8).unwrap()).collect();
    for n in again.into_iter().chain([nodes[0]]) {
        a.deallocate(&s, n, 32, 8).unwrap();
    }
    a.deallocate_free_blocks(&seg).unwrap();
    assert_eq!(seg.free_memory().unwrap(), start);
    // The last detach with nothing in use gives everything back too.
    let n = a.allocate(&s, 32, 8).unwrap();
    a.deallocate(&s, n, 32, 8).unwrap();
    assert!(a.detach(&seg).unwrap());
    assert_eq!(seg.free_memory().unwrap(), start);
}

#[test]
fn vec_over_a_node_pool_falls_back_to_the_segment_when_it_outgrows_a_node() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let a = NodeAlloc::new(&seg, 64, 64).unwrap();
    let start = seg.free_memory().unwrap();
    let v = seg
        .construct("v", Mutex::new(ShmVec::<u64, NodeAlloc>::new_with(a)))
        .unwrap();
    {
        let mut g = v.lock().unwrap();
        for i in 0..8 {
            g.push(i);
        }
        assert_eq!(a.stats(&seg).unwrap().live_nodes, 1);
        for i in 8..1000 {
            g.push(i);
        }
        assert_eq!(a.stats(&seg).unwrap().live_nodes, 0);
        assert!(g.iter().copied().eq(0..1000));
        g.truncate(3);
        g.shrink_to_fit();
        assert_eq!(a.stats(&seg).unwrap().live_nodes, 1);
        assert_eq!(&g[..], &[0, 1, 2]);
    }
    let mut seg = seg;
    assert!(seg.destroy::<Mutex<ShmVec<u64, NodeAlloc>>>("v").unwrap());
    assert_eq!(a.stats(&seg).unwrap().live_nodes, 0);
    a.deallocate_free_blocks(&seg).unwrap();
    assert_eq!(seg.free_memory().unwrap(), start);
}

/// A full segment: a `Vec` whose preferred size (a segment block) fails falls back to its
/// minimum, which a pool node serves; its capacity must be what it got, not what it asked for.
#[test]
fn vec_capacity_is_what_was_allocated_when_the_preferred_size_fails() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(64 << 10).unwrap();
    let a = NodeAlloc::new(&seg, 24, 64).unwrap();
    let v = seg
        .construct("v", Mutex::new(ShmVec::<u64, NodeAlloc>::new_with(a)))
        .unwrap();
    let s = seg.segment().unwrap();
    // Give the pool a block, then fill the segment.
    let n = a.allocate(&s, 24, 8).unwrap();
    a.deallocate(&s, n, 24, 8).unwrap();
    while s.allocate(16, 8).is_ok() {}
    let mut g = v.lock().unwrap();
    for i in 0..3 {
        g.try_push(i).unwrap();
        assert!(
            g.capacity() * 8 <= 24,
            "capacity {} in a 24-byte node",
            g.capacity()
        );
    }
    assert_eq!(g.try_push(3).unwrap_err().kind(), ErrorKind::OutOfMemory);
    assert_eq!(&g[..], &[0, 1, 2]);
    assert_eq!(a.stats(&seg).unwrap().live_nodes, 1);
    g.clear();
    g.shrink_to_fit();
    assert_eq!(a.stats(&seg).unwrap().live_nodes, 0);
}

#[test]
fn an_allocator_of_another_segment_is_an_error() {
    let one: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let other: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let a = NodeAlloc::new(&one, 64, 64).unwrap();
    let s = other.segment().unwrap();
    assert_eq!(
        a.allocate(&s, 8, 8).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let v = other
        .construct("v", Mutex::new(ShmVec::<u64, NodeAlloc>::new_with(a)))
        .unwrap();
    assert_eq!(
        v.lock().unwrap().try_push(1).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Freeing something that is not a node of an adaptive pool is refused.
    let b = AdaptivePoolAlloc::new(&one, 64, 64, 2).unwrap();
    let s = one.segment().unwrap();
    let n = b.allocate(&s, 64, 8).unwrap();
    assert_eq!(
        b.deallocate(&s, n + 8, 64, 8).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    b.deallocate(&s, n, 64, 8).unwrap();
}

// ----- caches ------------------------------------------------------------------------------------

#[test]
fn cached_allocator_keeps_its_cache_within_the_limit() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(4 << 20).unwrap();
    let a = CachedNodeAlloc::new(&seg, 48, 64).unwrap();
    let s = seg.segment().unwrap();
    a.set_max_cached(&seg, 8).unwrap();
    assert_eq!(a.max_cached(&seg).unwrap(), 8);
    let nodes: Vec<u64> = (0..100).map(|_| a.allocate(&s, 48, 8).unwrap()).collect();
    // Refills take half the limit: at most 4 nodes wait in the cache.
    assert!(a.cached(&seg).unwrap() <= 4);
    assert_eq!(
        a.stats(&seg).unwrap().live_nodes,
        100 + a.cached(&seg).unwrap()
    );
    for n in nodes {
        a.deallocate(&s, n, 48, 8).unwrap();
        assert!(a.cached(&seg).unwrap() <= 8);
    }
    let cached = a.cached(&seg).unwrap();
    assert!(cached > 0);
    assert_eq!(a.stats(&seg).unwrap().live_nodes, cached);
    // Lowering the limit gives the surplus back.
    a.set_max_cached(&seg, 2).unwrap();
    assert!(a.cached(&seg).unwrap() <= 2);
    a.deallocate_cache(&seg).unwrap();
    assert_eq!(a.cached(&seg).unwrap(), 0);
    assert_eq!(a.stats(&seg).unwrap().live_nodes, 0);
    // A limit of 0 caches nothing.
    a.set_max_cached(&seg, 0).unwrap();
    let n = a.allocate(&s, 48, 8).unwrap();
    a.deallocate(&s, n, 48, 8).unwrap();
    assert_eq!(a.cached(&seg).unwrap(), 0);
    assert_eq!(a.stats(&seg).unwrap().live_nodes, 0);

    // A thread that ends gives its cache back (`join` waits for the thread's thread-local
    // destructors, unlike the end of a `thread::scope`).
    let seg = std::sync::Arc::new(seg);
    let adaptive = CachedAdaptivePoolAlloc::new(&seg, 64, 64, 2).unwrap();
    let start = seg.free_memory().unwrap();
    let seg2 = std::sync::Arc::clone(&seg);
    std::thread::spawn(move || {
        let s = seg2.segment().unwrap();
        let v: Vec<u64> = (0..50)
            .map(|_| adaptive.allocate(&s, 64, 8).unwrap())
            .collect();
        for n in v {
            adaptive.deallocate(&s, n, 64, 8).unwrap();
        }
        assert!(adaptive.cached(&seg2).unwrap() > 0);
    })
    .join()
    .unwrap();
    assert_eq!(adaptive.stats(&seg).unwrap().live_nodes, 0);
    adaptive.deallocate_free_blocks(&seg).unwrap();
    assert_eq!(seg.free_memory().unwrap(), start);
}

// ----- threads ------------------------------------------------------------------------------------

/// Four threads allocate and free at random through a node pool, an adaptive pool and a
/// cached node pool at once: every node keeps what its thread wrote, and everything goes back.
#[test]
fn threads_share_pools_without_overlap() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(16 << 20).unwrap();
    let node = NodeAlloc::new(&seg, 32, 64).unwrap();
    let adaptive = AdaptivePoolAlloc::new(&seg, 32, 64, 1).unwrap();
    let cached = CachedNodeAlloc::new(&seg, 32, 64).unwrap();
    let start = seg.free_memory().unwrap();
    std::thread::scope(|t| {
        for k in 0..4u64 {
            let seg = &seg;
            t.spawn(move || {
                let s = seg.segment().unwrap();
                let alloc = |which: u64| match which {
                    0 => node.allocate(&s, 32, 8),
                    1 => adaptive.allocate(&s, 32, 8),
                    _ => cached.allocate(&s, 32, 8),
                };
                let free = |which: u64, n: u64| match which {
                    0 => node.deallocate(&s, n, 32, 8),
                    1 => adaptive.deallocate(&s, n, 32, 8),
                    _ => cached.deallocate(&s, n, 32, 8),
                };
                let mut rng = Rng(k + 1);
                let mut held: Vec<(u64, u64)> = Vec::new();
                for _ in 0..20_000 {
                    if held.is_empty() || (held.len() < 300 && rng.below(2) == 0) {
                        let which = rng.below(3);
                        let n = alloc(which).unwrap();
                        fill(&s, n, 4, n ^ k);
                        held.push((which, n));
                    } else {
                        let (which, n) = held.swap_remove(rng.below(held.len() as u64) as usize);
                        check(&s, n, 4, n ^ k);
                        free(which, n).unwrap();
                    }
                }
                for (which, n) in held {
                    check(&s, n, 4, n ^ k);
                    free(which, n).unwrap();
                }
                cached.deallocate_cache(seg).unwrap();
            });
        }
    });
    assert_eq!(node.stats(&seg).unwrap().live_nodes, 0);
    assert_eq!(adaptive.stats(&seg).unwrap().live_nodes, 0);
    assert_eq!(cached.stats(&seg).unwrap().live_nodes, 0);
    node.deallocate_free_blocks(&seg).unwrap();
    adaptive.deallocate_free_blocks(&seg).unwrap();
    assert_eq!(seg.free_memory().unwrap(), start);
    seg.check_sanity().unwrap();
}

/// Child: fills this thread's cache, forks, and checks that the forked process does not hand
/// out the nodes cached here (it drops its copy of the caches): its allocations and this
/// process's next ones, served from the cache, must be disjoint.
fn fork_cache(args: &[String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let a = CachedNodeAlloc::new(&seg, 64, 64).unwrap();
    let out = seg.find_array::<AtomicU64>("fork-out").unwrap().unwrap();
    let s = seg.segment().unwrap();
    let v: Vec<u64> = (0..10).map(|_| a.allocate(&s, 64, 8).unwrap()).collect();
    for &n in &v {
        a.deallocate(&s, n, 64, 8).unwrap();
    }
    let cached = a.cached(&seg).unwrap();
    assert!(cached >= 10 && cached <= out.len());
    let forked = || -> i32 {
        if a.cached(&seg).ok() != Some(0) {
            return 2;
        }
        for slot in &out[..cached] {
            match a.allocate(&s, 64, 8) {
                Ok(n) => slot.store(n, Ordering::Relaxed),
                Err(_) => return 3,
            }
        }
        0
    };
    // SAFETY: this role process has no other busy thread (the test harness's main thread only
    // waits), so the forked child may allocate and take the pool's lock.
    let code = unsafe { shmkit_testkit::fork_child(forked) };
    report("code", code);
    let mine: Vec<u64> = (0..cached)
        .map(|_| a.allocate(&s, 64, 8).unwrap())
        .collect();
    let theirs: Vec<u64> = out[..cached]
        .iter()
        .map(|x| x.load(Ordering::Relaxed))
        .collect();
    report("disjoint", mine.iter().all(|n| !theirs.contains(n)));
    // Served from this process's cache: it is empty now, no refill happened.
    report("from_cache", a.cached(&seg).unwrap() == 0);
}

#[test]
fn a_forked_child_does_not_reuse_the_parents_cached_nodes() {
    let name = unique_name("pool-fork");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    seg.construct_array("fork-out", 64, |_| AtomicU64::new(0))
        .unwrap();
    let out = child("fork_cache").arg(&name).run();
    assert_eq!(out.value("code"), "0");
    assert_eq!(out.value("disjoint"), "true");
    assert_eq!(out.value("from_cache"), "true");
}

// ----- a child killed while allocating -----------------------------------------------------------

const SLOTS: usize = 64;

fn open_alloc<'a>(seg: &'a ManagedSharedMemory, kind: &str) -> Box<dyn Fn(Op2) -> u64 + 'a> {
    // A small dispatcher so one child role serves both pools.
    match kind {
        "node" => {
            let a = NodeAlloc::new(seg, 64, 64).unwrap();
            Box::new(move |op| run_op(seg, &a, op))
        }
        "adaptive" => {
            let a = AdaptivePoolAlloc::new(seg, 64, 16, 1).unwrap();
            Box::new(move |op| run_op(seg, &a, op))
        }
        k => panic!("unknown pool kind {k}"),
    }
}

#[derive(Clone, Copy)]
enum Op2 {
    Alloc,
    Free(u64),
    Stats,
}

fn run_op<A: ShmAlloc>(seg: &ManagedSharedMemory, a: &A, op: Op2) -> u64 {
    let s = seg.segment().unwrap();
    match op {
        Op2::Alloc => a.allocate(&s, 64, 8).unwrap(),
        Op2::Free(n) => {
            a.deallocate(&s, n, 64, 8).unwrap();
            0
        }
        Op2::Stats => 0,
    }
}

fn stats_of(seg: &ManagedSharedMemory, kind: &str) -> PoolStats {
    match kind {
        "node" => NodeAlloc::new(seg, 64, 64).unwrap().stats(seg).unwrap(),
        _ => AdaptivePoolAlloc::new(seg, 64, 16, 1)
            .unwrap()
            .stats(seg)
            .unwrap(),
    }
}

/// Child: allocates and frees nodes at random forever, logging each node it holds in a named
/// array (logged after `allocate` returns, cleared before `deallocate` is called).
fn churner(args: &[String]) {
    let seg = ManagedSharedMemory::open(&args[0]).unwrap();
    let op = open_alloc(&seg, &args[1]);
    let log = seg.find_array::<AtomicU64>("log").unwrap().unwrap();
    let s = seg.segment().unwrap();
    let mut rng = Rng(args[2].parse().unwrap());
    log[SLOTS].store(1, Ordering::Release);
    loop {
        let i = rng.below(SLOTS as u64) as usize;
        let cur = log[i].load(Ordering::Acquire);
        if cur == 0 {
            let n = op(Op2::Alloc);
            fill(&s, n, 8, n);
            log[i].store(n, Ordering::Release);
        } else {
            check(&s, cur, 8, cur);
            log[i].store(0, Ordering::Release);
            op(Op2::Free(cur));
        }
    }
}

fn killed_children_leave_the_pool_usable(kind: &str) {
    const ROUNDS: usize = 100;
    let name = unique_name("pool-kill");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = ManagedSharedMemory::create(&name, 8 << 20).unwrap();
    let log = seg
        .construct_array("log", SLOTS + 1, |_| AtomicU64::new(0))
        .unwrap();
    let op = open_alloc(&seg, kind);
    let mut rng = Rng(0x5EED ^ kind.len() as u64);
    for round in 0..ROUNDS {
        log[SLOTS].store(0, Ordering::Release);
        let k = child("churner")
            .args([name.as_str(), kind, &rng.below(u64::MAX).to_string()])
            .spawn();
        assert!(
            wait_until(Duration::from_secs(60), || log[SLOTS]
                .load(Ordering::Acquire)
                == 1),
            "round {round}: the child never started"
        );
        std::thread::sleep(Duration::from_micros(200 + rng.below(3000)));
        let out = k.kill();
        assert_eq!(out.signal(), Some(9), "round {round}: {}", out.stderr);
        // Every node the child logged is intact and can be freed.
        let s = seg.segment().unwrap();
        for slot in log.iter().take(SLOTS) {
            let n = slot.swap(0, Ordering::AcqRel);
            if n != 0 {
                check(&s, n, 8, n);
                op(Op2::Free(n));
            }
        }
        // The pool works: allocate and free a handful, all distinct.
        let mut v: Vec<u64> = (0..100).map(|_| op(Op2::Alloc)).collect();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 100);
        for n in v {
            op(Op2::Free(n));
        }
        op(Op2::Stats);
        // At most the node in flight per kill leaks.
        let st = stats_of(&seg, kind);
        assert!(
            st.live_nodes <= round + 1,
            "round {round}: {} nodes leaked ({st:?})",
            st.live_nodes
        );
        seg.check_sanity()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let st = stats_of(&seg, kind);
    eprintln!(
        "{kind} pool after {ROUNDS} kills: {} leaked nodes, {} pool repairs, {} segment repairs",
        st.live_nodes,
        st.recoveries,
        seg.repairs()
    );
    assert!(
        st.recoveries > 0,
        "no kill landed while the child held the pool's lock"
    );
}

#[test]
fn killed_children_leave_the_node_pool_usable() {
    killed_children_leave_the_pool_usable("node");
}

#[test]
fn killed_children_leave_the_adaptive_pool_usable() {
    killed_children_leave_the_pool_usable("adaptive");
}

// ----- scribbled metadata -------------------------------------------------------------------------

/// One round: a pool with some nodes out and some free, one word of its metadata (the pool
/// object but its lock, a free node's link, a block or page header) overwritten with zero,
/// garbage, a self-link or another offset in the pool's area; then allocations and frees must
/// each return (an error is fine), and what they hand out must lie in the segment.
fn scribble_round<A: ShmAlloc>(
    seg: &ManagedHeapMemory,
    a: &A,
    pool: u64,
    rng: &mut Rng,
    extra: &dyn Fn() -> bool,
) {
    let s = seg.segment().unwrap();
    let mut live: Vec<u64> = (0..80).map(|_| a.allocate(&s, 32, 8).unwrap()).collect();
    let freed: Vec<u64> = live.drain(..40).collect();
    for &n in &freed {
        a.deallocate(&s, n, 32, 8).unwrap();
    }
    const POOL_WORDS: [u64; 16] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    let target = match rng.below(3) {
        0 => pool + 8 * POOL_WORDS[rng.below(16) as usize],
        1 => freed[rng.below(freed.len() as u64) as usize],
        _ => (live[rng.below(live.len() as u64) as usize] & !4095) + 8 * rng.below(10),
    };
    let area = pool + 136;
    let value = match rng.below(4) {
        0 => 0,
        1 => rng.below(u64::MAX),
        2 => target,
        _ => (area + rng.below(seg.size() as u64 - area)) & !7,
    };
    let w = s.ptr::<AtomicU64>(target, 1).unwrap();
    // SAFETY: an 8-aligned word inside the mapping (checked), written atomically, as another
    // process could; the pool reads its metadata atomically.
    unsafe { (*w).store(value, Ordering::Relaxed) };
    for _ in 0..200 {
        if rng.below(2) == 0 {
            if let Ok(n) = a.allocate(&s, 32, 8) {
                assert!(s.ptr::<u64>(n, 4).is_ok(), "{n} outside the segment");
                live.push(n);
            }
        } else if !live.is_empty() {
            let n = live.swap_remove(rng.below(live.len() as u64) as usize);
            let _ = a.deallocate(&s, n, 32, 8);
        }
    }
    let _ = extra();
}

#[test]
fn scribbled_pool_metadata_gives_errors_not_crashes_or_hangs() {
    let mut rng = Rng(0xBAD);
    for round in 0..400 {
        let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 18).unwrap();
        match round % 3 {
            0 => {
                let a = NodeAlloc::new(&seg, 32, 16).unwrap();
                let extra = || a.deallocate_free_blocks(&seg).is_ok() && a.stats(&seg).is_ok();
                scribble_round(&seg, &a, a.pool_offset(), &mut rng, &extra);
            }
            1 => {
                let a = AdaptivePoolAlloc::new(&seg, 32, 16, 1).unwrap();
                let extra = || a.deallocate_free_blocks(&seg).is_ok() && a.stats(&seg).is_ok();
                scribble_round(&seg, &a, a.pool_offset(), &mut rng, &extra);
            }
            _ => {
                let a = CachedAdaptivePoolAlloc::new(&seg, 32, 16, 1).unwrap();
                let extra = || a.deallocate_cache(&seg).is_ok() && a.detach(&seg).is_ok();
                scribble_round(&seg, &a, a.pool_offset(), &mut rng, &extra);
                let _ = a.deallocate_cache(&seg);
            }
        }
    }
}

// ----- random sequences against a model ------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Alloc { size: usize, align: usize },
    Free(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (
            prop::sample::select(vec![1usize, 8, 20, 24, 32, 40, 64, 100, 700]),
            prop::sample::select(vec![1usize, 8, 16]),
        )
            .prop_map(|(size, align)| Op::Alloc { size, align }),
        2 => any::<usize>().prop_map(Op::Free),
    ]
}

/// Applies `ops` through `a`: every allocation lies inside the segment, is aligned, overlaps
/// no live one and keeps its contents until freed; a failure is `OutOfMemory`. Then frees
/// everything; `finish` gives the pool's memory back and the segment must be as it started.
fn run_model<A: ShmAlloc>(
    seg: &ManagedHeapMemory,
    a: &A,
    ops: &[Op],
    start: usize,
    finish: impl Fn(),
) -> std::result::Result<(), TestCaseError> {
    let s = seg.segment().unwrap();
    let mut live: Vec<(u64, usize, usize, u64)> = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        match *op {
            Op::Alloc { size, align } => match a.allocate(&s, size, align) {
                Ok(off) => {
                    let end = off as usize + size;
                    prop_assert!(off >= 4096 && end <= seg.size(), "{off}+{size} outside");
                    prop_assert_eq!(off as usize % align, 0);
                    for &(o, sz, _, _) in &live {
                        prop_assert!(
                            end <= o as usize || o as usize + sz <= off as usize,
                            "{off}+{size} overlaps {o}+{sz}"
                        );
                    }
                    let tag = k as u64;
                    fill(&s, off, size / 8, tag);
                    live.push((off, size, align, tag));
                }
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::OutOfMemory),
            },
            Op::Free(i) => {
                if !live.is_empty() {
                    let (off, size, align, tag) = live.swap_remove(i % live.len());
                    check(&s, off, size / 8, tag);
                    a.deallocate(&s, off, size, align).unwrap();
                }
            }
        }
    }
    for (off, size, align, tag) in live {
        check(&s, off, size / 8, tag);
        a.deallocate(&s, off, size, align).unwrap();
    }
    finish();
    prop_assert_eq!(seg.free_memory().unwrap(), start);
    seg.check_sanity().unwrap();
    Ok(())
}

fn model(kind: u8, node: usize, small: bool, ops: &[Op]) -> std::result::Result<(), TestCaseError> {
    let seg: ManagedHeapMemory =
        ManagedHeapMemory::new(if small { 48 << 10 } else { 1 << 20 }).unwrap();
    macro_rules! go {
        ($a:expr, $finish:expr) => {{
            let a = $a;
            let start = seg.free_memory().unwrap();
            run_model(&seg, &a, ops, start, || {
                #[allow(clippy::redundant_closure_call)]
                ($finish)(&a);
                assert_eq!(a.stats(&seg).unwrap().live_nodes, 0);
                a.deallocate_free_blocks(&seg).unwrap();
            })
        }};
    }
    match kind {
        0 => go!(NodeAlloc::new(&seg, node, 16).unwrap(), |_: &NodeAlloc| ()),
        1 => go!(
            PrivateNodeAlloc::new(&seg, node, 7).unwrap(),
            |_: &PrivateNodeAlloc| ()
        ),
        2 => go!(
            CachedNodeAlloc::new(&seg, node, 16).unwrap(),
            |a: &CachedNodeAlloc| a.deallocate_cache(&seg).unwrap()
        ),
        3 => go!(
            AdaptivePoolAlloc::new(&seg, node, 16, 1).unwrap(),
            |_: &AdaptivePoolAlloc| ()
        ),
        4 => go!(
            PrivateAdaptivePoolAlloc::new(&seg, node, 64, 0).unwrap(),
            |_: &PrivateAdaptivePoolAlloc| ()
        ),
        _ => go!(
            CachedAdaptivePoolAlloc::new(&seg, node, 16, 2).unwrap(),
            |a: &CachedAdaptivePoolAlloc| a.deallocate_cache(&seg).unwrap()
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_allocations_never_overlap(
        kind in 0u8..6,
        node in prop::sample::select(vec![8usize, 24, 32, 64]),
        small in any::<bool>(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        model(kind, node, small, &ops)?;
    }
}
