//! In-process figures for the message queue (criterion): `cargo bench -p shmkit --bench mq`.
//! One thread, no contention: the cost of the operations themselves. Cross-process rows and the
//! comparison with Boost are in `bench/compare.sh`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shmkit::{MessageQueue, TypedQueue};

fn send_receive(c: &mut Criterion) {
    let mut g = c.benchmark_group("send+receive, one thread");
    for size in [8usize, 64, 1024, 4096] {
        let q = MessageQueue::anonymous(1024, size).unwrap();
        let msg = vec![7u8; size];
        let mut buf = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("{size} B copied"), |b| {
            b.iter(|| {
                q.send(black_box(&msg), 0).unwrap();
                black_box(q.receive(&mut buf).unwrap());
            })
        });
        g.bench_function(format!("{size} B in place"), |b| {
            b.iter(|| {
                let mut slot = q.reserve().unwrap();
                slot[..size].copy_from_slice(black_box(&msg));
                slot.commit(size, 0).unwrap();
                let m = q.receive_in_place().unwrap();
                black_box(&m[..]);
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("queue of 512, one thread");
    let q = MessageQueue::anonymous(1024, 64).unwrap();
    let msg = [1u8; 64];
    let mut buf = [0u8; 64];
    for (name, prios) in [("equal priorities", 1u32), ("8 priorities", 8)] {
        let mut x = 2_463_534_242u32;
        g.bench_function(format!("send+receive, {name}"), |b| {
            b.iter_batched(
                || {
                    while q.try_receive_vec().unwrap().is_some() {}
                    for _ in 0..512 {
                        q.send(&msg, 0).unwrap();
                    }
                },
                |()| {
                    for _ in 0..256 {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        q.send(&msg, x % prios).unwrap();
                        black_box(q.receive(&mut buf).unwrap());
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("typed");
    let t = TypedQueue::<[u64; 4]>::anonymous(64).unwrap();
    g.bench_function("send+receive [u64; 4]", |b| {
        b.iter(|| {
            t.send(black_box(&[1, 2, 3, 4]), 0).unwrap();
            black_box(t.receive().unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, send_receive);
criterion_main!(benches);
