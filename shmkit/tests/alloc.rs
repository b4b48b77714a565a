//! The memory algorithm suite, run against both algorithms: random operation sequences checked
//! against a model, out-of-memory leaving the area unchanged, corruption never panicking or
//! hanging, and repair of crash states.

use proptest::collection::vec;
use proptest::prelude::*;
use shmkit::ErrorKind;
use shmkit::MappedRegion;
use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm, SeqFit};

/// Runs a generic test function once per algorithm.
macro_rules! for_both {
    ($($name:ident => $body:ident),* $(,)?) => {
        mod best_fit {
            use super::*;
            $( #[test] fn $name() { super::$body::<BestFit>(); } )*
        }
        mod seq_fit {
            use super::*;
            $( #[test] fn $name() { super::$body::<SeqFit>(); } )*
        }
    };
}

// ----- helpers -----------------------------------------------------------------------------------

fn snapshot<A: MemoryAlgorithm>(a: &A) -> Vec<u8> {
    let mut v = vec![0; a.arena().len()];
    a.arena().read(0, &mut v).unwrap();
    v
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(0x9E37_79B9) as usize).wrapping_add(i * 7) as u8 | 1)
        .collect()
}

fn fill<A: MemoryAlgorithm>(a: &A, off: usize, len: usize, seed: u64) {
    a.arena().write(off, &pattern(seed, len)).unwrap();
}

fn check_fill<A: MemoryAlgorithm>(a: &A, off: usize, len: usize, seed: u64) {
    let mut buf = vec![0; len];
    a.arena().read(off, &mut buf).unwrap();
    assert!(
        buf == pattern(seed, len),
        "block at {off}: contents changed"
    );
}

/// A live block in the model.
#[derive(Debug, Clone)]
struct Live {
    off: usize,
    /// Usable size reported by the algorithm.
    size: usize,
    /// Bytes filled with the block's pattern (from `off`).
    filled: usize,
    seed: u64,
    align: usize,
}

struct Model<A> {
    algo: A,
    live: Vec<Live>,
    initial_free: usize,
    next_seed: u64,
}

impl<A: MemoryAlgorithm> Model<A> {
    fn new(len: usize) -> Model<A> {
        let algo = A::init(Arena::heap(len).unwrap()).unwrap();
        let initial_free = algo.free_memory();
        Model {
            algo,
            live: Vec::new(),
            initial_free,
            next_seed: 1,
        }
    }

    fn add(&mut self, off: usize, requested: usize, align: usize) {
        let size = self.algo.size_of(off).unwrap();
        assert!(
            size >= requested,
            "{size} usable bytes for a request of {requested}"
        );
        assert_eq!(off % align, 0, "offset {off} not aligned to {align}");
        let seed = self.next_seed;
        self.next_seed += 1;
        fill(&self.algo, off, size, seed);
        self.live.push(Live {
            off,
            size,
            filled: size,
            seed,
            align,
        });
    }

    fn pick(&self, i: usize) -> Option<usize> {
        (!self.live.is_empty()).then(|| i % self.live.len())
    }

    /// Runs one operation and checks its result against the model.
    fn apply(&mut self, op: &Op) {
        let before = snapshot(&self.algo);
        let unchanged = |m: &Self, what: &str| {
            assert!(
                snapshot(&m.algo) == before,
                "{what} failed but changed the area"
            );
        };
        match *op {
            Op::Alloc(size) => match self.algo.allocate(size) {
                Ok(off) => self.add(off, size, 16),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                    unchanged(self, "allocate");
                }
            },
            Op::Aligned(size, align) => match self.algo.allocate_aligned(size, align) {
                Ok(off) => self.add(off, size, align),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                    unchanged(self, "allocate_aligned");
                }
            },
            Op::Free(i) => {
                if let Some(i) = self.pick(i) {
                    let l = self.live.swap_remove(i);
                    check_fill(&self.algo, l.off, l.filled, l.seed);
                    self.algo.deallocate(l.off).unwrap();
                    let e = self.algo.deallocate(l.off).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "double free");
                }
            }
            Op::ExpandFwd(i, min, pref) => {
                if let Some(i) = self.pick(i) {
                    let l = self.live[i].clone();
                    match self.algo.expand_fwd(l.off, min, pref) {
                        Ok(size) => {
                            assert!(size >= min.min(l.size).max(l.size.min(size)));
                            assert!(size >= min, "expanded to {size} < min {min}");
                            assert!(size >= l.size);
                            assert_eq!(self.algo.size_of(l.off).unwrap(), size);
                            check_fill(&self.algo, l.off, l.filled, l.seed);
                            self.live[i].size = size;
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                            assert!(l.size < min);
                            unchanged(self, "expand_fwd");
                        }
                    }
                }
            }
            Op::ExpandBwd(i, min, pref) => {
                if let Some(i) = self.pick(i) {
                    let l = self.live[i].clone();
                    match self.algo.expand_bwd(l.off, min, pref) {
                        Ok((off, size)) => {
                            assert!(off <= l.off && off % 16 == 0);
                            assert!(size >= min && size >= l.size);
                            assert_eq!(self.algo.size_of(off).unwrap(), size);
                            // The data did not move; the old offset no longer names a block.
                            check_fill(&self.algo, l.off, l.filled, l.seed);
                            if off != l.off {
                                assert!(self.algo.size_of(l.off).is_err());
                            }
                            // Move it as a caller would (here: refill), keep the old alignment.
                            let seed = self.next_seed;
                            self.next_seed += 1;
                            fill(&self.algo, off, size, seed);
                            self.live[i] = Live {
                                off,
                                size,
                                filled: size,
                                seed,
                                align: 16,
                            };
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                            unchanged(self, "expand_bwd");
                        }
                    }
                }
            }
            Op::Shrink(i, new) => {
                if let Some(i) = self.pick(i) {
                    let l = self.live[i].clone();
                    match self.algo.shrink_in_place(l.off, new) {
                        Ok(size) => {
                            assert!(new <= l.size && size >= new && size <= l.size);
                            assert_eq!(self.algo.size_of(l.off).unwrap(), size);
                            let filled = l.filled.min(size);
                            check_fill(&self.algo, l.off, filled, l.seed);
                            self.live[i].size = size;
                            self.live[i].filled = filled;
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
                            assert!(new > l.size);
                            unchanged(self, "shrink_in_place");
                        }
                    }
                }
            }
            Op::Many(ref sizes) => {
                let free = self.algo.free_memory();
                match self.algo.allocate_many(sizes) {
                    Ok(offs) => {
                        assert_eq!(offs.len(), sizes.len());
                        for (&off, &size) in offs.iter().zip(sizes) {
                            self.add(off, size, 16);
                        }
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                        assert_eq!(self.algo.free_memory(), free);
                    }
                }
            }
            Op::ZeroFree => {
                self.algo.zero_free_memory().unwrap();
            }
        }
        self.check();
    }

    /// The invariants after every step.
    fn check(&mut self) {
        self.algo.check_sanity().unwrap();
        let mut live = self.live.clone();
        live.sort_by_key(|l| l.off);
        for w in live.windows(2) {
            // A block's bytes end 8 bytes before the next block's: its header is in between.
            assert!(
                w[0].off + w[0].size + 8 <= w[1].off,
                "blocks overlap: {:?} and {:?}",
                w[0],
                w[1]
            );
        }
        for l in &live {
            assert_eq!(self.algo.size_of(l.off).unwrap(), l.size);
            assert_eq!(l.off % l.align, 0);
            assert!(l.off + l.size <= self.algo.arena().len());
        }
        let used: usize = live.iter().map(|l| l.size + 8).sum();
        assert_eq!(self.algo.free_memory() + used, self.initial_free);
        assert_eq!(self.algo.all_memory_deallocated(), live.is_empty());
    }

    /// Frees everything (checking contents) and expects a single free block again.
    fn drain(&mut self) {
        for l in std::mem::take(&mut self.live) {
            check_fill(&self.algo, l.off, l.filled, l.seed);
            self.algo.deallocate(l.off).unwrap();
        }
        self.check();
        assert!(self.algo.all_memory_deallocated());
        assert_eq!(self.algo.free_memory(), self.initial_free);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(usize),
    Aligned(usize, usize),
    Free(usize),
    ExpandFwd(usize, usize, usize),
    ExpandBwd(usize, usize, usize),
    Shrink(usize, usize),
    Many(Vec<usize>),
    ZeroFree,
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0usize..128, 3 => 0usize..1100, 1 => 0usize..9000]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => size().prop_map(Op::Alloc),
        2 => (size(), 5u32..13).prop_map(|(s, a)| Op::Aligned(s, 1 << a)),
        7 => any::<usize>().prop_map(Op::Free),
        2 => (any::<usize>(), size(), size()).prop_map(|(i, a, b)| Op::ExpandFwd(i, a, b)),
        2 => (any::<usize>(), size(), size()).prop_map(|(i, a, b)| Op::ExpandBwd(i, a, b)),
        2 => (any::<usize>(), size()).prop_map(|(i, s)| Op::Shrink(i, s)),
        1 => vec(size(), 1..6).prop_map(Op::Many),
        1 => Just(Op::ZeroFree),
    ]
}

fn run_model<A: MemoryAlgorithm>(ops: &[Op]) {
    let mut m = Model::<A>::new(48 << 10);
    for op in ops {
        m.apply(op);
    }
    m.drain();
}

// ----- corruption --------------------------------------------------------------------------------

/// Every operation on a scribbled area returns a value or an error; none panics or hangs
/// (the arena's door also panics, in debug builds, on any unvalidated offset).
fn survive<A: MemoryAlgorithm>(mut a: A, offs: &[usize], ops: &[Op]) {
    let _ = a.check_sanity();
    let _ = a.free_memory();
    let _ = a.all_memory_deallocated();
    for (k, op) in ops.iter().enumerate() {
        let off = offs.get(k % offs.len().max(1)).copied().unwrap_or(k * 16);
        let _ = match *op {
            Op::Alloc(s) => a.allocate(s).map(drop),
            Op::Aligned(s, al) => a.allocate_aligned(s, al).map(drop),
            Op::Free(i) => a.deallocate(if i % 4 == 0 { i % 70000 } else { off }),
            Op::ExpandFwd(_, x, y) => a.expand_fwd(off, x, y).map(drop),
            Op::ExpandBwd(_, x, y) => a.expand_bwd(off, x, y).map(drop),
            Op::Shrink(_, s) => a.shrink_in_place(off, s).map(drop),
            Op::Many(ref s) => a.allocate_many(s).map(drop),
            Op::ZeroFree => a.zero_free_memory(),
        };
        let _ = a.size_of(off);
        let _ = a.deallocate_many(&offs[..offs.len().min(2)]);
    }
    let _ = a.check_sanity();
    let _ = a.zero_free_memory();
    if a.repair().is_ok() {
        // Repair rebuilds a consistent area from any valid chain (scribbled user bytes,
        // scribbled index words and counters included).
        a.check_sanity().unwrap();
    }
    let arena = a.into_arena();
    if let Ok(mut a) = A::open(arena) {
        let _ = a.allocate(100);
        let _ = a.check_sanity();
    }
}

/// A small area with a few live and free blocks; returns the live offsets.
fn populated<A: MemoryAlgorithm>(seed: u64) -> (A, Vec<usize>) {
    let mut a = A::init(Arena::heap(16 << 10).unwrap()).unwrap();
    let mut offs = Vec::new();
    let mut x = seed | 1;
    for _ in 0..24 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = if x.is_multiple_of(5) {
            600 + (x % 900) as usize
        } else {
            (x % 200) as usize
        };
        if let Ok(o) = a.allocate(size) {
            offs.push(o);
        }
    }
    let mut kept = Vec::new();
    for (i, o) in offs.into_iter().enumerate() {
        if i % 3 == 1 {
            a.deallocate(o).unwrap();
        } else {
            kept.push(o);
        }
    }
    a.check_sanity().unwrap();
    (a, kept)
}

fn scribble_area<A: MemoryAlgorithm>(seed: u64, scribbles: &[(usize, u64)], ops: &[Op]) {
    let (a, offs) = populated::<A>(seed);
    let len = a.arena().len();
    for &(at, v) in scribbles {
        // Where: a block header slot, the area header, or anywhere.
        let pos = match at % 3 {
            0 => (at / 3 % (len / 16)) * 16 + 8,
            1 => (at / 3 % 36) * 8,
            _ => (at % (len - 8)) & !7,
        };
        // What: random bits, a plausible offset or size, or a copy of another word (a valid
        // header or link moved elsewhere: duplicated links make cycles).
        let val = match v % 3 {
            0 => v,
            1 => (v >> 2) % (len as u64 + 64),
            _ => word(&a, ((v >> 2) as usize % (len - 8)) & !7),
        };
        set_word(&a, pos, val);
    }
    survive(a, &offs, ops);
}

fn scribble_header<A: MemoryAlgorithm>(seed: u64, which: usize, v: u64, ops: &[Op]) {
    let (a, offs) = populated::<A>(seed);
    // The header word of a live block, or a word of the index inside a free one.
    let at = offs[which % offs.len()] - 8 + 8 * (which % 3) * usize::from(which.is_multiple_of(2));
    a.arena().write(at, &v.to_le_bytes()).unwrap();
    survive(a, &offs, ops);
}

// ----- proptests -----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_best_fit(ops in vec(op(), 1..80)) {
        run_model::<BestFit>(&ops);
    }

    #[test]
    fn model_seq_fit(ops in vec(op(), 1..80)) {
        run_model::<SeqFit>(&ops);
    }

    #[test]
    fn scribbled_area_best_fit(seed: u64, s in vec((any::<usize>(), any::<u64>()), 1..6), ops in vec(op(), 0..25)) {
        scribble_area::<BestFit>(seed, &s, &ops);
    }

    #[test]
    fn scribbled_area_seq_fit(seed: u64, s in vec((any::<usize>(), any::<u64>()), 1..6), ops in vec(op(), 0..25)) {
        scribble_area::<SeqFit>(seed, &s, &ops);
    }

    #[test]
    fn scribbled_header_best_fit(seed: u64, which: usize, v: u64, ops in vec(op(), 0..25)) {
        scribble_header::<BestFit>(seed, which, v, &ops);
    }

    #[test]
    fn scribbled_header_seq_fit(seed: u64, which: usize, v: u64, ops in vec(op(), 0..25)) {
        scribble_header::<SeqFit>(seed, which, v, &ops);
    }
}

// ----- fixed scenarios, for both algorithms ------------------------------------------------------

fn fill_until_oom_changes_nothing<A: MemoryAlgorithm>() {
    let mut a = A::init(Arena::heap(64 << 10).unwrap()).unwrap();
    let mut offs = Vec::new();
    while let Ok(o) = a.allocate(1000) {
        offs.push(o);
    }
    let before = snapshot(&a);
    for size in [1000, 1 << 20, usize::MAX, usize::MAX - 100] {
        assert_eq!(a.allocate(size).unwrap_err().kind(), ErrorKind::OutOfMemory);
        assert_eq!(
            a.allocate_aligned(size, 4096).unwrap_err().kind(),
            ErrorKind::OutOfMemory
        );
        assert!(a.expand_fwd(offs[0], size, size).is_err() || size <= 1000);
        assert!(a.expand_bwd(offs[3], size, size).is_err() || size <= 1000);
    }
    assert!(
        snapshot(&a) == before,
        "a failed allocation changed the area"
    );
    let free = a.free_memory();
    assert!(a.allocate_many(&[10, 20, 1 << 20]).is_err());
    assert_eq!(a.free_memory(), free);
    a.check_sanity().unwrap();
    // Small requests still fit in the tail.
    while a.allocate(0).is_ok() {}
    a.check_sanity().unwrap();
    assert!(a.free_memory() < 32);
}

fn everything_freed_merges_back<A: MemoryAlgorithm>() {
    let mut a = A::init(Arena::heap(1 << 20).unwrap()).unwrap();
    let sizes: Vec<usize> = (0..500).map(|i| (i * 37) % 3000).collect();
    let offs = a.allocate_many(&sizes).unwrap();
    // Free in an order that merges with the previous, the next, and both.
    let (even, odd): (Vec<_>, Vec<_>) = offs.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for &(_, &o) in odd.iter().rev() {
        a.deallocate(o).unwrap();
    }
    a.check_sanity().unwrap();
    let even: Vec<usize> = even.into_iter().map(|(_, &o)| o).collect();
    a.deallocate_many(&even).unwrap();
    a.check_sanity().unwrap();
    assert!(a.all_memory_deallocated());
}

fn bad_offsets_are_invalid_arguments<A: MemoryAlgorithm>() {
    let mut a = A::init(Arena::heap(8192).unwrap()).unwrap();
    let x = a.allocate(100).unwrap();
    let y = a.allocate(3000).unwrap();
    a.arena().write(y, &[0xAB; 3000]).unwrap();
    let before = snapshot(&a);
    for bad in [
        0,
        8,
        16,
        24,
        x - 16,
        x + 1,
        x + 16,
        x + 32,
        y + 64,
        8192,
        1 << 40,
        usize::MAX,
    ] {
        let e = a.deallocate(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "offset {bad}");
        assert!(a.size_of(bad).is_err());
        assert!(a.expand_fwd(bad, 1, 1).is_err());
        assert!(a.expand_bwd(bad, 1, 1).is_err());
        assert!(a.shrink_in_place(bad, 1).is_err());
    }
    assert!(a.deallocate_many(&[x, 17]).is_err());
    assert!(a.allocate_aligned(10, 48).is_err());
    assert!(snapshot(&a) == before);
    a.deallocate(x).unwrap();
    a.deallocate(y).unwrap();
    assert!(a.all_memory_deallocated());
}

fn open_checks_the_header<A: MemoryAlgorithm>() {
    let arena = Arena::heap(4096).unwrap();
    assert_eq!(
        A::open(arena).err().unwrap().kind(),
        ErrorKind::Incompatible
    );
    let mut a = A::init(Arena::heap(4096).unwrap()).unwrap();
    let off = a.allocate(10).unwrap();
    let a = A::open(a.into_arena()).unwrap();
    assert_eq!(a.size_of(off).unwrap(), 24);
    // A wrong length in the header.
    a.arena().write(8, &1u64.to_le_bytes()).unwrap();
    assert_eq!(
        A::open(a.into_arena()).err().unwrap().kind(),
        ErrorKind::Corrupted
    );
    assert_eq!(
        A::init(Arena::heap(64).unwrap()).err().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
}

fn works_over_shared_memory<A: MemoryAlgorithm>() {
    let arena = Arena::from_region(MappedRegion::anonymous(1 << 16).unwrap()).unwrap();
    let mut a = A::init(arena).unwrap();
    let mut m = Vec::new();
    for i in 0..100 {
        let o = a.allocate(i * 5).unwrap();
        fill(&a, o, i * 5, i as u64);
        m.push((o, i));
    }
    for (o, i) in m {
        check_fill(&a, o, i * 5, i as u64);
        a.deallocate(o).unwrap();
    }
    assert!(a.all_memory_deallocated());
}

fn aligned_allocations<A: MemoryAlgorithm>() {
    let mut a = A::init(Arena::heap(1 << 20).unwrap()).unwrap();
    let mut offs = Vec::new();
    for shift in 0..16 {
        let align = 1usize << shift;
        let o = a.allocate_aligned(100 + shift, align).unwrap();
        assert_eq!(o % align.max(16), 0, "align {align}");
        assert!(a.size_of(o).unwrap() >= 100 + shift);
        offs.push(o);
        a.check_sanity().unwrap();
    }
    for o in offs {
        a.deallocate(o).unwrap();
    }
    assert!(a.all_memory_deallocated());
}

// ----- repair of crash states (made by hand; src/alloc/crash_tests.rs tries every store) ---------

fn word<A: MemoryAlgorithm>(a: &A, at: usize) -> u64 {
    let mut b = [0; 8];
    a.arena().read(at, &mut b).unwrap();
    u64::from_le_bytes(b)
}

fn set_word<A: MemoryAlgorithm>(a: &A, at: usize, v: u64) {
    a.arena().write(at, &v.to_le_bytes()).unwrap();
}

fn repair_rebuilds_a_lost_index<A: MemoryAlgorithm>() {
    let (mut a, offs) = populated::<A>(7);
    let contents: Vec<_> = offs.iter().map(|&o| (o, a.size_of(o).unwrap())).collect();
    for &(o, s) in &contents {
        fill(&a, o, s, o as u64);
    }
    // The index words after the magic, length and counter: lost, as if a crash interrupted an
    // index update.
    a.arena().write(24, &[0; 8]).unwrap();
    set_word(&a, 16, 12345);
    assert!(a.check_sanity().is_err());
    a.repair().unwrap();
    a.check_sanity().unwrap();
    for &(o, s) in &contents {
        assert_eq!(a.size_of(o).unwrap(), s);
        check_fill(&a, o, s, o as u64);
        a.deallocate(o).unwrap();
    }
    assert!(a.all_memory_deallocated());
}

/// A block marked free whose merge with a free neighbour never happened: the state a process
/// killed in `deallocate` (or `shrink_in_place`, or an aligned allocation) can leave.
fn repair_merges_a_half_freed_block<A: MemoryAlgorithm>() {
    let mut a = A::init(Arena::heap(8192).unwrap()).unwrap();
    let x = a.allocate(100).unwrap();
    let y = a.allocate(200).unwrap();
    let z = a.allocate(300).unwrap();
    a.deallocate(y).unwrap();
    // Mark x (before the free y) and z (after it) free by clearing the ALLOC bit (bit 0) of
    // their header words; the tag does not cover it.
    for o in [x, z] {
        set_word(&a, o - 8, word(&a, o - 8) & !1);
    }
    assert!(a.check_sanity().is_err());
    a.repair().unwrap();
    a.check_sanity().unwrap();
    assert!(a.all_memory_deallocated());
    assert!(a.deallocate(x).is_err());
}

/// Flags and counters left behind by a committed step: a stale `PREV_ALLOC` bit and a stale
/// free byte counter.
fn repair_fixes_flags_and_counters<A: MemoryAlgorithm>() {
    let mut a = A::init(Arena::heap(8192).unwrap()).unwrap();
    let x = a.allocate(100).unwrap();
    let y = a.allocate(100).unwrap();
    set_word(&a, y - 8, word(&a, y - 8) ^ 2); // PREV_ALLOC (best-fit's bit 1)
    set_word(&a, 16, word(&a, 16) + 80);
    assert!(a.check_sanity().is_err());
    a.repair().unwrap();
    a.check_sanity().unwrap();
    a.deallocate(x).unwrap();
    a.deallocate(y).unwrap();
    assert!(a.all_memory_deallocated());
}

/// A broken chain is not a crash state: repair refuses and writes nothing.
fn repair_refuses_a_broken_chain<A: MemoryAlgorithm>() {
    let mut a = A::init(Arena::heap(8192).unwrap()).unwrap();
    let x = a.allocate(100).unwrap();
    set_word(&a, x - 8, 0xDEAD_BEEF);
    let before = snapshot(&a);
    assert_eq!(a.repair().unwrap_err().kind(), ErrorKind::Corrupted);
    assert!(snapshot(&a) == before);
}

for_both! {
    fill_until_oom_changes_nothing => fill_until_oom_changes_nothing,
    everything_freed_merges_back => everything_freed_merges_back,
    bad_offsets_are_invalid_arguments => bad_offsets_are_invalid_arguments,
    open_checks_the_header => open_checks_the_header,
    works_over_shared_memory => works_over_shared_memory,
    aligned_allocations => aligned_allocations,
    repair_rebuilds_a_lost_index => repair_rebuilds_a_lost_index,
    repair_merges_a_half_freed_block => repair_merges_a_half_freed_block,
    repair_fixes_flags_and_counters => repair_fixes_flags_and_counters,
    repair_refuses_a_broken_chain => repair_refuses_a_broken_chain,
}

#[test]
fn the_algorithms_refuse_each_others_areas() {
    let arena = BestFit::init(Arena::heap(4096).unwrap())
        .unwrap()
        .into_arena();
    assert_eq!(
        SeqFit::open(arena).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
    let arena = SeqFit::init(Arena::heap(4096).unwrap())
        .unwrap()
        .into_arena();
    assert_eq!(
        BestFit::open(arena).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
}

#[test]
fn best_fit_overhead_matches_boost() {
    // 64-byte requests take 80-byte blocks; the header is 288 bytes and the end 16.
    let mut a = BestFit::init(Arena::heap(64 << 20).unwrap()).unwrap();
    let mut n = 0;
    while a.allocate(64).is_ok() {
        n += 1;
    }
    assert_eq!(n, ((64 << 20) - 288 - 16) / 80);
}
