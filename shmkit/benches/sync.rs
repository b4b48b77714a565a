//! In-process figures for the process-shared locks (criterion): `cargo bench -p shmkit --bench
//! sync`. Cross-process rows and the comparison with Boost are in `bench/compare.sh`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shmkit::MappedRegion;
use shmkit::sync::{Mutex, RawMutex, RecursiveMutex};

fn locks(c: &mut Criterion) {
    let region = MappedRegion::anonymous(4096).unwrap();
    // SAFETY: each offset is used through one typed view only.
    let (raw, mutex, recursive) = unsafe {
        (
            region.get::<RawMutex>(0).unwrap(),
            region.get::<Mutex<u64>>(64).unwrap(),
            region.get::<RecursiveMutex<u64>>(128).unwrap(),
        )
    };
    let mut g = c.benchmark_group("uncontended");
    g.bench_function("RawMutex lock+unlock", |b| {
        b.iter(|| {
            let _ = black_box(raw.lock());
            // SAFETY: locked just above by this thread.
            unsafe { raw.unlock() };
        })
    });
    g.bench_function("Mutex<u64> lock+increment+unlock", |b| {
        b.iter(|| *mutex.lock().unwrap() += 1)
    });
    g.bench_function("RecursiveMutex lock twice+unlock twice", |b| {
        b.iter(|| {
            let a = recursive.lock().unwrap();
            let b2 = recursive.lock().unwrap();
            drop(black_box(b2));
            drop(black_box(a));
        })
    });
    g.finish();
}

criterion_group!(benches, locks);
criterion_main!(benches);
