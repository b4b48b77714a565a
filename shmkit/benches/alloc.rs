//! In-process figures for the memory algorithms (criterion).
//!
//! `cargo bench -p shmkit --bench alloc`. The side-by-side comparison with Boost's
//! `rbtree_best_fit` is `bench/compare.sh alloc`, which runs the same workloads.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use shmkit::MappedRegion;
use shmkit::alloc::{Arena, BestFit, MemoryAlgorithm, SeqFit};

const SEGMENT: usize = 64 << 20;
const LIVE: usize = 10_000;

/// xorshift64 with a fixed seed: the same sequence as `bench/boost/alloc.cpp`.
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

fn segment<A: MemoryAlgorithm>() -> A {
    let region = MappedRegion::anonymous(SEGMENT).unwrap();
    A::init(Arena::from_region(region).unwrap()).unwrap()
}

fn pair<A: MemoryAlgorithm>(c: &mut Criterion, name: &str) {
    let mut a = segment::<A>();
    c.bench_function(&format!("{name}: allocate+deallocate 64 B pair"), |b| {
        b.iter(|| {
            let off = a.allocate(black_box(64)).unwrap();
            a.deallocate(black_box(off)).unwrap();
        })
    });
}

fn random<A: MemoryAlgorithm>(c: &mut Criterion, name: &str) {
    let mut a = segment::<A>();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut live: Vec<usize> = (0..LIVE).map(|_| a.allocate(rng.size()).unwrap()).collect();
    c.bench_function(
        &format!("{name}: random 16-4096 B, 10,000 live blocks (free+allocate)"),
        |b| {
            b.iter(|| {
                let i = (rng.next() % LIVE as u64) as usize;
                a.deallocate(live[i]).unwrap();
                live[i] = a.allocate(rng.size()).unwrap();
            })
        },
    );
}

fn fill<A: MemoryAlgorithm>(c: &mut Criterion, name: &str) {
    let mut g = c.benchmark_group(format!("{name}: fill 64 MiB with 64 B allocations"));
    g.sample_size(10);
    g.bench_function("fill", |b| {
        b.iter_batched(
            segment::<A>,
            |mut a| {
                let mut n = 0u64;
                while a.allocate(64).is_ok() {
                    n += 1;
                }
                black_box(n)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let mut a = segment::<A>();
    let mut n = 0u64;
    while a.allocate(64).is_ok() {
        n += 1;
    }
    eprintln!("{name}: {n} allocations of 64 B fit in 64 MiB");
}

fn best_fit(c: &mut Criterion) {
    pair::<BestFit>(c, "best-fit");
    random::<BestFit>(c, "best-fit");
    fill::<BestFit>(c, "best-fit");
}

fn seq_fit(c: &mut Criterion) {
    pair::<SeqFit>(c, "seq-fit");
    random::<SeqFit>(c, "seq-fit");
}

criterion_group!(benches, best_fit, seq_fit);
criterion_main!(benches);
