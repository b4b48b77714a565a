//! `MemoryAlgorithm::grow`, `shrink_to_fit` and `for_each_allocated`, on both algorithms.

use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm, SeqFit};

/// A buffer that outlives the arenas made over its prefixes.
struct Buf(Vec<u128>);

impl Buf {
    fn arena(&mut self, len: usize) -> Arena {
        assert!(len <= self.0.len() * 16);
        // SAFETY: the buffer outlives every arena (each test drops its algorithm first), and
        // no slice of it is used meanwhile.
        unsafe { Arena::new(self.0.as_mut_ptr().cast(), len) }.unwrap()
    }
}

fn grow_and_shrink<A: MemoryAlgorithm + std::fmt::Debug>() {
    let mut buf = Buf(vec![0; 1 << 16]);
    let mut algo = A::init(buf.arena(8192)).unwrap();
    let mut live = Vec::new();
    let mut seed = 7u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    while let Ok(off) = algo.allocate(16 + (next() % 200) as usize) {
        algo.arena()
            .write(off, &(off as u64).to_le_bytes())
            .unwrap();
        live.push(off);
    }
    for i in (0..live.len()).rev().step_by(3) {
        algo.deallocate(live.swap_remove(i)).unwrap();
    }
    algo.check_sanity().unwrap();
    let free = algo.free_memory();
    drop(algo);

    for len in [8192 + 16 * 100, 65536, 1 << 20] {
        let grown = A::grow(buf.arena(len)).unwrap();
        grown.check_sanity().unwrap();
        drop(grown);
    }
    let mut algo = A::open(buf.arena(1 << 20)).unwrap();
    assert_eq!(algo.free_memory(), free + (1 << 20) - 8192);
    let mut seen = Vec::new();
    algo.for_each_allocated(|off, size| {
        seen.push(off);
        assert!(size >= 16);
        Ok(())
    })
    .unwrap();
    let mut want = live.clone();
    want.sort_unstable();
    assert_eq!(seen, want);
    for &off in &live {
        let mut b = [0; 8];
        algo.arena().read(off, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), off as u64);
    }
    let big = algo.allocate(100_000).unwrap();
    algo.check_sanity().unwrap();

    let len = algo.shrink_to_fit().unwrap();
    assert!(len > big + 100_000 && len < 1 << 20, "{len}");
    drop(algo);
    let mut algo = A::open(buf.arena(len)).unwrap();
    algo.check_sanity().unwrap();
    algo.deallocate(big).unwrap();
    let len2 = algo.shrink_to_fit().unwrap();
    assert!(len2 < len);
    drop(algo);
    let mut algo = A::open(buf.arena(len2)).unwrap();
    algo.check_sanity().unwrap();
    for off in live.drain(..) {
        algo.deallocate(off).unwrap();
    }
    assert!(algo.all_memory_deallocated());
    let len3 = algo.shrink_to_fit().unwrap();
    drop(algo);
    let algo = A::open(buf.arena(len3)).unwrap();
    algo.check_sanity().unwrap();
    assert_eq!(len3, A::min_arena_len());
    assert_eq!(
        A::open(buf.arena(len3 + 16)).unwrap_err().kind(),
        shmkit::ErrorKind::Corrupted
    );
    // Growing by less than a block, or shrinking by growing, is refused.
    assert!(A::grow(buf.arena(len3 + 16)).is_err());
    drop(algo);
    assert!(A::grow(buf.arena(len3 - 16)).is_err());
}

#[test]
fn best_fit_grows_and_shrinks() {
    grow_and_shrink::<BestFit>();
}

#[test]
fn seq_fit_grows_and_shrinks() {
    grow_and_shrink::<SeqFit>();
}
