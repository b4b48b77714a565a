//! The soak run: worker processes do a random mix of every kind of operation on shared
//! objects while the parent kills (`SIGKILL`) and restarts them at random moments; at the end
//! the parent checks every invariant and prints a summary.
//!
//! Run it with `cargo run --release --example soak -- --secs 600 --workers 4`
//! (defaults: 30 seconds, 4 workers). The exit status is 0 only if no invariant broke.
//!
//! What the workers share, and what is checked:
//!
//! - **A ledger under a [`Mutex`]** in a managed segment: `a` and `b` are raised by the same
//!   amount inside one critical section, and every amount is pushed onto a [`Vec`] with a
//!   check digit. A worker that takes the lock *cleanly* must find `a == b == base + sum`:
//!   anything else means two processes were inside at once. A worker that gets
//!   `OwnerDied` (its predecessor was killed inside) re-derives `a` and `b` from the entries.
//! - **Named objects**: each worker constructs and destroys objects named `n-<worker>-<k>`
//!   whose value is derived from the name; every object found must match its name.
//! - **Strings in a `Vec<String>`** under a second mutex: pushed, popped and removed; every
//!   string taken out must match the pattern it was written with. A worker killed while it
//!   holds this lock may leave two headers half-swapped; the next locker gets `OwnerDied` and
//!   repairs (keeps the strings that verify, each buffer once; sets the rest aside).
//! - **A `HashMap<u64, String>`** under a third mutex: entries inserted and removed; every
//!   value must be the string derived from its key.
//! - **A message queue**: messages carry a checksum; every received one must verify.
//! - **Raw blocks**: allocated, filled with a pattern, checked, freed.
//!
//! At the end the parent kills the workers, then checks the ledger, every named object and
//! string, drains the queue, and runs the segment's `check_sanity`. The re-executed children
//! get their role in the `SHMKIT_EXAMPLE_ROLE` environment variable.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::collections::{HashMap, String, Vec};
use shmkit::sync::Mutex;
use shmkit::{ManagedSharedMemory, MessageQueue, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";
const SEGMENT_SIZE: usize = 16 << 20;
const NAMES_PER_WORKER: u64 = 64;
const MAX_ENTRIES: usize = 4096;
const MAX_STRINGS: usize = 2048;

/// Operation counters, shared by every process.
#[derive(ShmSafe, Default)]
#[repr(C)]
struct Stats {
    ledger: AtomicU64,
    recoveries: AtomicU64,
    /// Elements found torn by a recovering worker (a predecessor killed in the middle of moving
    /// them) and set aside.
    torn: AtomicU64,
    constructed: AtomicU64,
    destroyed: AtomicU64,
    strings: AtomicU64,
    map: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    raw: AtomicU64,
    violations: AtomicU64,
}

#[derive(ShmSafe, Default)]
#[repr(C)]
struct Ledger {
    a: u64,
    b: u64,
    /// The sum of entries folded away to keep `entries` short.
    base: u64,
    entries: Vec<u64>,
}

impl Ledger {
    fn derived(&self) -> u64 {
        self.base.wrapping_add(
            self.entries
                .iter()
                .fold(0u64, |s, &e| s.wrapping_add(e >> 8)),
        )
    }
}

/// A named object's value: derived from its key.
#[derive(ShmSafe, Clone, Copy)]
#[repr(C)]
struct Record {
    key: u64,
    check: u64,
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// An amount with a check digit in its low byte.
fn entry(amount: u64) -> u64 {
    (amount << 8) | (mix(amount) & 0xff)
}

fn entry_ok(e: u64) -> bool {
    mix(e >> 8) & 0xff == e & 0xff
}

fn string_for(n: u64) -> std::string::String {
    format!("s-{n}-{:x}", mix(n))
}

fn string_ok(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("s"), Some(n), Some(h)) => {
            n.parse::<u64>().is_ok_and(|n| format!("{:x}", mix(n)) == h)
        }
        _ => false,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn names(pid: u32) -> (std::string::String, std::string::String) {
    (format!("shmkit-soak-{pid}"), format!("shmkit-soak-q-{pid}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("worker") => {
            let args: std::vec::Vec<std::string::String> = std::env::args().collect();
            worker(&args[1], &args[2], args[3].parse()?)
        }
        _ => parent(),
    }
}

struct Options {
    secs: u64,
    workers: usize,
}

fn options() -> Result<Options, Box<dyn std::error::Error>> {
    let mut o = Options {
        secs: 30,
        workers: 4,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => o.secs = args.next().ok_or("--secs needs a value")?.parse()?,
            "--workers" => o.workers = args.next().ok_or("--workers needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if o.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    Ok(o)
}

fn spawn(seg: &str, queue: &str, worker: usize) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .env(ROLE, "worker")
        .args([seg, queue, &worker.to_string()])
        .spawn()
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let o = options()?;
    let (seg_name, queue_name) = names(std::process::id());
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&seg_name, SEGMENT_SIZE)?;
    let _rm_seg = RemoveOnDrop::shared_memory(&seg_name);
    let queue = MessageQueue::create(&queue_name, 64, 64)?;
    let _rm_queue = RemoveOnDrop::shared_memory(&queue_name);
    let stats = seg.construct_unique(Stats::default())?;
    seg.construct("ledger", Mutex::new(Ledger::default()))?;
    seg.construct("strings", Mutex::new(Vec::<String>::new()))?;
    seg.construct("map", Mutex::new(HashMap::<u64, String>::new()))?;
    let free_at_start = seg.free_memory()?;

    println!(
        "soak: {} workers for {} s on segment {seg_name} ({} MiB) and queue {queue_name}",
        o.workers,
        o.secs,
        SEGMENT_SIZE >> 20
    );
    let mut workers = (0..o.workers)
        .map(|w| spawn(&seg_name, &queue_name, w))
        .collect::<std::io::Result<std::vec::Vec<_>>>()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let deadline = Instant::now() + Duration::from_secs(o.secs);
    let mut kills = 0u64;
    let mut failures = std::vec::Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20 + rng.below(200)));
        for (w, c) in workers.iter_mut().enumerate() {
            if let Some(status) = c.try_wait()? {
                failures.push(format!("worker {w} exited on its own: {status}"));
                *c = spawn(&seg_name, &queue_name, w)?;
            }
        }
        let w = rng.below(o.workers as u64) as usize;
        workers[w].kill()?;
        workers[w].wait()?;
        kills += 1;
        workers[w] = spawn(&seg_name, &queue_name, w)?;
    }
    for c in &mut workers {
        c.kill()?;
        c.wait()?;
    }

    // ----- verification -------------------------------------------------------------------
    let ledger = seg
        .find::<Mutex<Ledger>>("ledger")?
        .ok_or("ledger missing")?;
    let l = ledger.lock().unwrap_or_else(|died| {
        stats.recoveries.fetch_add(1, Ordering::Relaxed);
        died.recover(|l| {
            let d = l.derived();
            l.a = d;
            l.b = d;
        })
    });
    if !(l.a == l.b && l.a == l.derived() && l.entries.iter().all(|&e| entry_ok(e))) {
        failures.push(format!(
            "ledger inconsistent: a {} b {} derived {}",
            l.a,
            l.b,
            l.derived()
        ));
    }
    let ledger_total = l.a;
    drop(l);

    let mut objects = 0;
    for info in seg.named_objects()? {
        if let Some(rest) = info.name.strip_prefix("n-") {
            objects += 1;
            let r = seg.find::<Record>(&info.name)?.ok_or("object vanished")?;
            let key = rest.replace('-', "").parse::<u64>().unwrap_or(u64::MAX);
            if r.check != mix(r.key) || r.key != key {
                failures.push(format!("object {} holds a wrong record", info.name));
            }
        }
    }

    let strings = seg
        .find::<Mutex<Vec<String>>>("strings")?
        .ok_or("strings missing")?;
    let s = strings.lock().unwrap_or_else(|died| {
        stats.recoveries.fetch_add(1, Ordering::Relaxed);
        died.recover(|s| repair_strings(s, stats))
    });
    let bad = s
        .iter()
        .filter(|x| !x.try_as_str().is_ok_and(string_ok))
        .count();
    if bad > 0 {
        failures.push(format!("{bad} corrupt strings"));
    }
    let string_count = s.len();
    drop(s);

    let map = seg
        .find::<Mutex<HashMap<u64, String>>>("map")?
        .ok_or("map missing")?;
    let m = map.lock().unwrap_or_else(|died| {
        stats.recoveries.fetch_add(1, Ordering::Relaxed);
        died.recover(|m| repair_map(m, stats))
    });
    let bad = m
        .iter()
        .filter(|(k, v)| v.try_as_str().ok() != Some(string_for(**k).as_str()))
        .count();
    if bad > 0 {
        failures.push(format!("{bad} map entries hold the wrong value"));
    }
    let map_len = m.len();
    drop(m);

    let mut drained = 0;
    let mut buf = [0u8; 64];
    while let Some((n, _)) = queue.try_receive(&mut buf)? {
        if !message_ok(&buf[..n]) {
            failures.push("a corrupt message".to_owned());
        }
        drained += 1;
    }
    if let Err(e) = seg.check_sanity() {
        failures.push(format!("check_sanity: {e}"));
    }

    let violations = stats.violations.load(Ordering::Relaxed);
    if violations > 0 {
        failures.push(format!(
            "workers reported {violations} violations (see their output)"
        ));
    }
    let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "soak: {kills} kills; ledger {} updates (total {ledger_total}), {} lock recoveries ({} torn elements set aside); \
         named objects {} constructed, {} destroyed, {objects} left; strings {} operations, \
         {string_count} left; map {} operations, {map_len} entries left; queue {} sent, {} received, {drained} drained; raw blocks {}",
        g(&stats.ledger),
        g(&stats.recoveries),
        g(&stats.torn),
        g(&stats.constructed),
        g(&stats.destroyed),
        g(&stats.strings),
        g(&stats.map),
        g(&stats.sent),
        g(&stats.received),
        g(&stats.raw),
    );
    println!(
        "soak: segment {} of {} bytes free (was {free_at_start}), repairs {}; check_sanity ok",
        seg.free_memory()?,
        seg.size(),
        seg.repairs()
    );
    if failures.is_empty() {
        println!("soak: every invariant holds");
        Ok(())
    } else {
        for f in &failures {
            println!("soak: FAILED: {f}");
        }
        Err(format!("{} invariants broke", failures.len()).into())
    }
}

fn message_ok(m: &[u8]) -> bool {
    m.len() >= 16 && {
        let seq = u64::from_le_bytes(m[..8].try_into().unwrap_or_default());
        let check = u64::from_le_bytes(m[8..16].try_into().unwrap_or_default());
        check == mix(seq ^ m.len() as u64) && m[16..].iter().all(|&b| b == (seq as u8))
    }
}

/// What a worker does when it takes the strings' lock from a worker killed inside it: the dead
/// one may have been in the middle of moving two headers (`swap_remove` swaps 32-byte headers,
/// `remove` rotates them), leaving one torn or two pointing at the same buffer. Keep each valid
/// string whose buffer no earlier one uses; set the others aside without dropping them (dropping
/// a header that shares a buffer would free it under its twin), leaking their memory.
fn repair_strings(s: &mut Vec<String>, stats: &Stats) {
    let mut seen = std::collections::HashSet::new();
    let mut i = 0;
    while i < s.len() {
        let keep = s[i]
            .try_as_str()
            .ok()
            .filter(|t| string_ok(t))
            .is_some_and(|t| seen.insert(t.as_ptr().addr()));
        if keep {
            i += 1;
        } else {
            std::mem::forget(s.swap_remove(i));
            stats.torn.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The map's counterpart of [`repair_strings`]: entries whose value is not their key's string
/// are removed.
fn repair_map(m: &mut HashMap<u64, String>, stats: &Stats) {
    let before = m.len();
    m.retain(|k, v| v.try_as_str().ok() == Some(string_for(*k).as_str()));
    stats
        .torn
        .fetch_add((before - m.len()) as u64, Ordering::Relaxed);
}

fn violation(stats: &Stats, what: std::fmt::Arguments<'_>) {
    stats.violations.fetch_add(1, Ordering::Relaxed);
    eprintln!("soak worker {}: VIOLATION: {what}", std::process::id());
}

fn worker(seg_name: &str, queue_name: &str, w: u64) -> Result<(), Box<dyn std::error::Error>> {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(seg_name)?;
    let queue = MessageQueue::open(queue_name)?;
    let stats = seg.find_unique::<Stats>()?.ok_or("stats missing")?;
    let ledger = seg
        .find::<Mutex<Ledger>>("ledger")?
        .ok_or("ledger missing")?;
    let strings = seg
        .find::<Mutex<Vec<String>>>("strings")?
        .ok_or("strings missing")?;
    let map = seg
        .find::<Mutex<HashMap<u64, String>>>("map")?
        .ok_or("map missing")?;
    let mut rng = Rng(mix(u64::from(std::process::id())) | 1);
    let mut buf = [0u8; 64];
    loop {
        match rng.below(7) {
            0 => {
                let mut l = match ledger.lock() {
                    Ok(l) => {
                        if l.a != l.b || l.a != l.derived() {
                            violation(
                                stats,
                                format_args!("ledger a {} b {} derived {}", l.a, l.b, l.derived()),
                            );
                        }
                        l
                    }
                    Err(died) => {
                        stats.recoveries.fetch_add(1, Ordering::Relaxed);
                        died.recover(|l| {
                            let d = l.derived();
                            l.a = d;
                            l.b = d;
                        })
                    }
                };
                let amount = 1 + rng.below(1000);
                l.a = l.a.wrapping_add(amount);
                if l.entries.len() >= MAX_ENTRIES {
                    let s = l.entries.iter().fold(0u64, |s, &e| s.wrapping_add(e >> 8));
                    l.entries.clear();
                    l.base = l.base.wrapping_add(s);
                }
                if l.entries.try_push(entry(amount)).is_err() {
                    l.base = l.base.wrapping_add(amount);
                }
                l.b = l.b.wrapping_add(amount);
                stats.ledger.fetch_add(1, Ordering::Relaxed);
            }
            1 => {
                let k = rng.below(NAMES_PER_WORKER);
                let name = format!("n-{w}-{k}");
                let key: u64 = format!("{w}{k}").parse().unwrap_or(0);
                match seg.find::<Record>(&name)? {
                    Some(r) => {
                        if r.key != key || r.check != mix(key) {
                            violation(stats, format_args!("object {name} holds a wrong record"));
                        }
                    }
                    None => {
                        let rec = Record {
                            key,
                            check: mix(key),
                        };
                        if seg.construct(&name, rec).is_ok() {
                            stats.constructed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            2 => {
                // Destroying needs `&mut` on the handle; a second handle in this process is the
                // simplest way to get one here.
                let k = rng.below(NAMES_PER_WORKER);
                let mut other: ManagedSharedMemory = ManagedSharedMemory::open(seg_name)?;
                if other.destroy::<Record>(&format!("n-{w}-{k}"))? {
                    stats.destroyed.fetch_add(1, Ordering::Relaxed);
                }
            }
            3 => {
                let mut s = strings.lock().unwrap_or_else(|died| {
                    stats.recoveries.fetch_add(1, Ordering::Relaxed);
                    died.recover(|s| repair_strings(s, stats))
                });
                if s.len() < MAX_STRINGS && rng.below(3) != 0 {
                    let _ = s.try_push(string_for(rng.next()));
                } else if !s.is_empty() {
                    let i = rng.below(s.len() as u64) as usize;
                    let gone = if rng.below(2) == 0 {
                        s.swap_remove(i)
                    } else {
                        s.pop().unwrap_or_default()
                    };
                    if !gone.with_str(string_ok).unwrap_or(false) {
                        violation(stats, format_args!("a corrupt string left the vector"));
                    }
                }
                stats.strings.fetch_add(1, Ordering::Relaxed);
            }
            4 => {
                if rng.below(2) == 0 {
                    let seq = rng.next();
                    let len = 16 + rng.below(49) as usize;
                    let mut m = [seq as u8; 64];
                    m[..8].copy_from_slice(&seq.to_le_bytes());
                    m[8..16].copy_from_slice(&mix(seq ^ len as u64).to_le_bytes());
                    if queue.try_send(&m[..len], (seq % 8) as u32)? {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                } else if let Some((n, _)) = queue.try_receive(&mut buf)? {
                    if !message_ok(&buf[..n]) {
                        violation(stats, format_args!("a corrupt message"));
                    }
                    stats.received.fetch_add(1, Ordering::Relaxed);
                }
            }
            5 => {
                let mut m = map.lock().unwrap_or_else(|died| {
                    stats.recoveries.fetch_add(1, Ordering::Relaxed);
                    died.recover(|m| repair_map(m, stats))
                });
                let k = rng.below(4096);
                match rng.below(3) {
                    0 => {
                        if let Some(v) = m.remove(&k)
                            && v.with_str(|s| s != string_for(k)).unwrap_or(true)
                        {
                            violation(stats, format_args!("map entry {k} held a wrong value"));
                        }
                    }
                    _ => {
                        let _ = m.try_insert(k, string_for(k));
                        if m.get(&k)
                            .is_some_and(|v| v.try_as_str().ok() != Some(string_for(k).as_str()))
                        {
                            violation(stats, format_args!("map entry {k} holds a wrong value"));
                        }
                    }
                }
                stats.map.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                let size = 1 + rng.below(2048) as usize;
                if let Ok(h) = seg.allocate(size) {
                    let p = seg.raw_ptr(h)?;
                    let fill = w as u8;
                    // SAFETY: `h` is this process's raw block of at least `size` bytes; no one
                    // else knows its handle.
                    let ok = unsafe {
                        p.write_bytes(fill, size);
                        std::slice::from_raw_parts(p, size)
                            .iter()
                            .all(|&b| b == fill)
                    };
                    if !ok {
                        violation(stats, format_args!("a raw block changed under its owner"));
                    }
                    seg.deallocate(h)?;
                    stats.raw.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
