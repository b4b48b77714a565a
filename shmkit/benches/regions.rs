//! In-process figures for shared memory objects and mapped regions (criterion).
//!
//! `cargo bench -p shmkit --bench regions`. The side-by-side comparison with Boost is
//! `bench/compare.sh`; these benches give finer, statistically analysed figures for one side.

use criterion::{Criterion, criterion_group, criterion_main};
use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory};

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "shmkit-bench-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("region lifecycle 1 MiB");
    g.bench_function("create+set_len+map+unmap+remove", |b| {
        b.iter(|| {
            let name = unique("life");
            let shm = SharedMemory::create(&name).unwrap();
            shm.set_len(1 << 20).unwrap();
            drop(MappedRegion::map(&shm).unwrap());
            SharedMemory::remove(&name).unwrap();
        })
    });
    g.bench_function("create+set_len_sparse+map+unmap+remove", |b| {
        b.iter(|| {
            let name = unique("sparse");
            let shm = SharedMemory::create(&name).unwrap();
            shm.set_len_sparse(1 << 20).unwrap();
            drop(MappedRegion::map(&shm).unwrap());
            SharedMemory::remove(&name).unwrap();
        })
    });
    g.finish();
}

fn access(c: &mut Criterion) {
    let name = unique("access");
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(1 << 20).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut g = c.benchmark_group("region access 4 KiB");
    g.throughput(criterion::Throughput::Bytes(4096));
    g.bench_function("read_at", |b| {
        b.iter(|| region.read_at(128, &mut buf).unwrap())
    });
    g.bench_function("write_at", |b| {
        b.iter(|| region.write_at(128, &buf).unwrap())
    });
    g.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = lifecycle, access
);
criterion_main!(benches);
