//! Timing helpers mirroring `bench/boost/common.hpp`, so both sides measure the same way.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Median of `v` (mean of the two middle values for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One untimed warm-up sample, then `samples` samples of `iters` calls of `f` each; returns the
/// median over samples of elapsed ns / iters.
pub fn median_ns_per_op(samples: usize, iters: u64, mut f: impl FnMut()) -> f64 {
    let mut per_op = Vec::with_capacity(samples);
    for s in 0..=samples {
        let t0 = Instant::now();
        for _ in 0..iters {
            f();
        }
        let dt = t0.elapsed().as_nanos() as f64;
        if s > 0 {
            per_op.push(dt / iters as f64);
        }
    }
    median(per_op)
}

/// Like [`median_ns_per_op`], but `f` times itself and returns the ns of the part that counts.
pub fn median_ns_self_timed(samples: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut v = Vec::with_capacity(samples);
    for s in 0..=samples {
        let ns = black_box(f());
        if s > 0 {
            v.push(ns);
        }
    }
    median(v)
}

/// Prints one `ROW\t<name>\t<median ns>` line, the format `bench/compare.sh` joins on.
pub fn print_row(name: &str, ns: f64) {
    println!("ROW\t{name}\t{ns:.1}");
}

/// A name unique to this process and call: `<prefix>_<pid>_<counter>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}
