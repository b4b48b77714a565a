//! In-process figures for the pointer layer (criterion): registry lookups (cached and not),
//! `OffsetPtr` get/set, and resolving segment-relative pointers.
//!
//! `cargo bench -p shmkit --bench ptr`. Results are reduced to what a caller uses (`.ok()`, a
//! length) before `black_box`: handing criterion a whole `Result<_, Error>` measures copying and
//! dropping the error type, not the lookup.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use shmkit::MappedRegion;
use shmkit::ptr::registry::{self, RegisteredRegion};
use shmkit::ptr::{self, OffsetPtr, RelPtr, SegmentBase, SegmentId, SegmentPtr};

fn segment() -> RegisteredRegion {
    RegisteredRegion::new(
        MappedRegion::anonymous(1 << 20).unwrap(),
        SegmentId::random(),
    )
    .unwrap()
}

fn lookups(c: &mut Criterion) {
    let (a, b) = (segment(), segment());
    let (pa, pb) = (a.as_ptr().wrapping_add(4096), b.as_ptr().wrapping_add(4096));
    let mut g = c.benchmark_group("registry");
    g.bench_function("lookup, cached (same mapping again)", |bench| {
        bench.iter(|| registry::lookup(black_box(pa)).map(|m| m.len()))
    });
    // In a loop, as a collection operation would do it before touching memory: the cost per
    // lookup when lookups overlap with other work.
    g.throughput(criterion::Throughput::Elements(1000));
    g.bench_function("lookup x1000 in a loop, cached", |bench| {
        bench.iter(|| {
            let mut acc = 0usize;
            for i in 0..1000 {
                acc += registry::lookup(black_box(pa).wrapping_add(i)).map_or(0, |m| m.len());
            }
            acc
        })
    });
    g.bench_function("baseline: 1000 plain loads in a loop", |bench| {
        let words: Vec<AtomicUsize> = (0..1000).map(AtomicUsize::new).collect();
        bench.iter(|| {
            let mut acc = 0usize;
            for w in black_box(&words) {
                acc += w.load(Ordering::Acquire);
            }
            acc
        })
    });
    g.throughput(criterion::Throughput::Elements(1));
    // Alternating between two mappings misses the one-entry cache every time: the RwLock path.
    g.bench_function("lookup, uncached (two mappings alternating)", |bench| {
        let mut flip = false;
        bench.iter(|| {
            flip = !flip;
            registry::lookup(black_box(if flip { pa } else { pb })).map(|m| m.len())
        })
    });
    g.finish();
}

fn offset_ptr(c: &mut Criterion) {
    let seg = segment();
    // SAFETY: the benchmark accesses these bytes through these references only.
    let (p, q, target): (&OffsetPtr<u64>, &OffsetPtr<u64>, &u64) = unsafe {
        (
            seg.get(0).unwrap(),
            seg.get(8).unwrap(),
            seg.get(4096).unwrap(),
        )
    };
    let (p, q) = (
        ptr::pin_in_segment(p).unwrap(),
        ptr::pin_in_segment(q).unwrap(),
    );
    p.set(target);
    let plain = AtomicUsize::new(target as *const u64 as usize);
    let mut g = c.benchmark_group("OffsetPtr");
    g.bench_function("baseline: AtomicUsize load (a plain pointer)", |bench| {
        bench.iter(|| black_box(&plain).load(Ordering::Acquire))
    });
    g.bench_function("get", |bench| bench.iter(|| black_box(p).get()));
    g.bench_function("set", |bench| {
        bench.iter(|| black_box(p).set(black_box(target)))
    });
    g.bench_function("set_from (re-based copy)", |bench| {
        bench.iter(|| black_box(q).set_from(black_box(&p)))
    });
    g.bench_function("tag + get (masked)", |bench| {
        bench.iter(|| {
            let p = black_box(p);
            (p.tag(), p.get())
        })
    });
    g.finish();
}

fn segment_relative(c: &mut Criterion) {
    let seg = segment();
    // SAFETY: the benchmark accesses these bytes through these references only.
    let (sp, base, rel): (&SegmentPtr<u64>, &SegmentBase, &RelPtr<u64>) = unsafe {
        (
            seg.get(0).unwrap(),
            seg.get(16).unwrap(),
            seg.get(24).unwrap(),
        )
    };
    sp.set(seg.view().ptr_at(4096).unwrap()).unwrap();
    let view = base.bind().unwrap();
    view.set(rel, view.ptr_at(8192).unwrap()).unwrap();
    let mut g = c.benchmark_group("segment-relative");
    g.bench_function("SegmentPtr::get (lookup + id + bounds)", |bench| {
        bench.iter(|| black_box(sp).get().ok())
    });
    g.bench_function("SegmentBase::resolve", |bench| {
        bench.iter(|| black_box(base).resolve().ok().map(|v| v.len()))
    });
    g.bench_function("SegmentView::get(RelPtr), view resolved", |bench| {
        bench.iter(|| black_box(&view).get(black_box(rel)).ok())
    });
    g.bench_function("SegmentPtr::set", |bench| {
        let t = seg.view().ptr_at::<u64>(4096).unwrap();
        bench.iter(|| black_box(sp).set(black_box(t)).is_ok())
    });
    g.bench_function("handle_of", |bench| {
        // SAFETY: as above.
        let x: &u64 = unsafe { seg.get(4096).unwrap() };
        bench.iter(|| ptr::handle_of(black_box(x)).ok())
    });
    g.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = lookups, offset_ptr, segment_relative
);
criterion_main!(benches);
