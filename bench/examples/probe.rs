use std::time::Instant;
use shmkit::alloc::BestFit;
use shmkit::segment::{HashIndex, OrderedIndex, NameIndex};
use shmkit::ManagedHeapMemory;

fn run<I: NameIndex>(label: &str) {
    let seg = ManagedHeapMemory::<BestFit, I>::new(64 << 20).unwrap();
    let names: Vec<String> = (0..100_000).map(|i| format!("obj{i:06}")).collect();
    for (k, n) in names.iter().enumerate() { seg.construct(n, k as u64).unwrap(); }
    // same name, hot
    let t = Instant::now();
    let mut s = 0;
    for _ in 0..1_000_000 { s += *seg.find::<u64>(std::hint::black_box(&names[500])).unwrap().unwrap(); }
    let hot = t.elapsed().as_nanos() as f64 / 1e6;
    // sequential
    let t = Instant::now();
    for n in &names { s += *seg.find::<u64>(n).unwrap().unwrap(); }
    let seq = t.elapsed().as_nanos() as f64 / 1e5;
    // random
    let mut x = 88172645463325252u64;
    let t = Instant::now();
    for _ in 0..100_000 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; s += *seg.find::<u64>(&names[(x % 100_000) as usize]).unwrap().unwrap(); }
    let rnd = t.elapsed().as_nanos() as f64 / 1e5;
    println!("{label}: hot {hot:.1} ns, seq {seq:.1} ns, random {rnd:.1} ns ({s})");
}
fn main() {
    if std::env::var("HOT").is_ok() {
        let seg = ManagedHeapMemory::<BestFit, HashIndex>::new(1 << 20).unwrap();
        seg.construct("obj000500", 1u64).unwrap();
        let mut s = 0;
        for _ in 0..20_000_000 { s += *seg.find::<u64>(std::hint::black_box("obj000500")).unwrap().unwrap(); }
        println!("{s}");
        return;
    }
    run::<HashIndex>("hashed"); run::<OrderedIndex>("ordered");
}
