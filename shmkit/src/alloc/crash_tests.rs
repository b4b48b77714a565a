//! Every crash point of every operation, for both algorithms.
//!
//! A process killed in the middle of an operation leaves exactly the stores it made before the
//! kill. The arena's test-only store budget simulates that: after `k` stores, the rest of the
//! operation's stores are dropped. For every operation and every `k`, `repair` must succeed and
//! leave a sane area in which every other block is intact, and at most the block being allocated
//! is lost (leaked).

use super::*;

/// A live block: offset, usable size, fill byte.
type Block = (usize, usize, u8);

fn fill<A: MemoryAlgorithm>(a: &A, (off, size, v): Block) {
    a.arena().write(off, &vec![v; size]).unwrap();
}

fn intact<A: MemoryAlgorithm>(a: &A, (off, size, v): Block) -> bool {
    let mut buf = vec![0; size];
    a.arena().read(off, &mut buf).unwrap();
    a.size_of(off).ok() == Some(size) && buf.iter().all(|&b| b == v)
}

/// Blocks of many sizes (bins and treap for best-fit), every other one freed, so that frees
/// merge with free blocks on either side, on both, or on neither.
fn scene<A: MemoryAlgorithm>() -> (A, Vec<Block>) {
    let mut a = A::init(Arena::heap(24 << 10).unwrap()).unwrap();
    let sizes = [
        40, 600, 8, 1200, 100, 24, 700, 300, 16, 2000, 64, 520, 90, 3000, 8,
    ];
    let mut blocks = Vec::new();
    for (i, &s) in sizes.iter().enumerate() {
        let off = a.allocate(s).unwrap();
        let b = (off, a.size_of(off).unwrap(), i as u8 + 1);
        fill(&a, b);
        blocks.push(b);
    }
    let mut live = Vec::new();
    for (i, b) in blocks.into_iter().enumerate() {
        if [1, 4, 5, 9, 12].contains(&i) {
            a.deallocate(b.0).unwrap();
        } else {
            live.push(b);
        }
    }
    a.check_sanity().unwrap();
    (a, live)
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Alloc(usize),
    Aligned(usize, usize),
    Free(usize),
    ExpandFwd(usize, usize),
    ExpandBwd(usize, usize),
    Shrink(usize, usize),
    Repair,
}

fn run<A: MemoryAlgorithm>(a: &mut A, live: &[Block], op: Op) {
    let _ = match op {
        Op::Alloc(s) => a.allocate(s).map(drop),
        Op::Aligned(s, al) => a.allocate_aligned(s, al).map(drop),
        Op::Free(i) => a.deallocate(live[i].0),
        Op::ExpandFwd(i, s) => a.expand_fwd(live[i].0, s, s).map(drop),
        Op::ExpandBwd(i, s) => a.expand_bwd(live[i].0, s, s).map(drop),
        Op::Shrink(i, s) => a.shrink_in_place(live[i].0, s).map(drop),
        Op::Repair => a.repair(),
    };
}

fn target(op: Op) -> Option<usize> {
    match op {
        Op::Free(i) | Op::ExpandFwd(i, _) | Op::ExpandBwd(i, _) | Op::Shrink(i, _) => Some(i),
        _ => None,
    }
}

fn every_crash_point<A: MemoryAlgorithm>() {
    let (mut a, live) = scene::<A>();
    let initial = {
        let mut buf = vec![0; a.arena().len()];
        a.arena().read(0, &mut buf).unwrap();
        buf
    };
    let total_free = A::init(Arena::heap(a.arena().len()).unwrap())
        .unwrap()
        .free_memory();
    let mut ops = vec![
        Op::Alloc(8),
        Op::Alloc(64),
        Op::Alloc(500),
        Op::Alloc(1000),
        Op::Alloc(5000),
        Op::Aligned(100, 256),
        Op::Aligned(700, 1024),
        Op::Repair,
    ];
    for (i, &(_, size, _)) in live.iter().enumerate() {
        ops.extend([
            Op::Free(i),
            Op::ExpandFwd(i, size + 300),
            Op::ExpandFwd(i, size + 16),
            Op::ExpandBwd(i, size + 20),
            Op::ExpandBwd(i, size + 2000),
            Op::Shrink(i, size / 3),
        ]);
    }
    let mut points = 0;
    for op in ops {
        // Count the op's stores, then crash after each prefix of them.
        a.arena().write(0, &initial).unwrap();
        a.arena().set_store_budget(usize::MAX);
        run(&mut a, &live, op);
        let stores = usize::MAX - a.arena().store_budget();
        for k in 0..=stores {
            points += 1;
            a.arena().set_store_budget(usize::MAX);
            a.arena().write(0, &initial).unwrap();
            a.arena().set_store_budget(k);
            run(&mut a, &live, op);
            a.arena().set_store_budget(usize::MAX);
            let ctx = format!("{op:?}, crash after {k} of {stores} stores");
            a.repair().unwrap_or_else(|e| panic!("{ctx}: repair: {e}"));
            a.check_sanity()
                .unwrap_or_else(|e| panic!("{ctx}: sanity: {e}"));
            // Every other block is intact; the target keeps its bytes, or is gone (freed, or
            // moved by expand_bwd).
            for (i, &blk) in live.iter().enumerate() {
                if Some(i) != target(op) {
                    assert!(intact(&a, blk), "{ctx}: block {i} damaged");
                    a.deallocate(blk.0).unwrap();
                } else if let Ok(size) = a.size_of(blk.0) {
                    // A block being freed may lose its bytes (the free index lives there), a
                    // block being shrunk its tail.
                    let kept = match op {
                        Op::Free(_) => 0,
                        Op::Shrink(_, s) => s,
                        _ => size.min(blk.1),
                    };
                    let keep = (blk.0, kept, blk.2);
                    let mut buf = vec![0; keep.1];
                    a.arena().read(keep.0, &mut buf).unwrap();
                    assert!(buf.iter().all(|&x| x == blk.2), "{ctx}: target damaged");
                    a.deallocate(blk.0).unwrap();
                } else {
                    assert!(
                        matches!(op, Op::Free(_) | Op::ExpandBwd(..)),
                        "{ctx}: target lost"
                    );
                }
            }
            a.check_sanity()
                .unwrap_or_else(|e| panic!("{ctx}: after frees: {e}"));
            let leaked = total_free - a.free_memory();
            let may_leak = matches!(op, Op::Alloc(_) | Op::Aligned(..) | Op::ExpandBwd(..));
            assert!(
                leaked == 0 || (may_leak && leaked <= 8192),
                "{ctx}: {leaked} bytes leaked"
            );
            assert_eq!(leaked == 0, a.all_memory_deallocated(), "{ctx}");
        }
    }
    assert!(points > 250, "only {points} crash points");
}

#[test]
fn best_fit_every_crash_point_is_repairable() {
    every_crash_point::<BestFit>();
}

#[test]
fn seq_fit_every_crash_point_is_repairable() {
    every_crash_point::<SeqFit>();
}
