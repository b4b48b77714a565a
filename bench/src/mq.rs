//! shmkit side of the message queue rows (`bench/boost/mq.cpp`, whose header says exactly how
//! each row is measured; this file mirrors it).

use std::sync::atomic::{AtomicU64, Ordering};

use shmkit::{MappedRegion, MessageQueue};

use crate::Filter;
use crate::procs::{StartGate, fork_child, now_ns, wait_child};
use crate::timing::{median_ns_self_timed, print_row, unique_name};

/// The start line and the consumer's end time, in anonymous shared memory.
#[derive(shmkit::ShmSafe)]
#[repr(C)]
struct Block {
    gate: StartGate,
    end_ns: AtomicU64,
}

/// A named queue removed before creation and after use.
struct Queue {
    name: String,
    q: MessageQueue,
}

impl Queue {
    fn new(max_msgs: usize, max_msg_size: usize) -> Result<Queue, String> {
        let name = unique_name("shmkit_xbench_mq");
        let _ = MessageQueue::remove(&name);
        let q = MessageQueue::create(&name, max_msgs, max_msg_size)
            .map_err(|e| format!("create queue: {e}"))?;
        Ok(Queue { name, q })
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let _ = MessageQueue::remove(&self.name);
    }
}

fn block_region() -> MappedRegion {
    MappedRegion::anonymous(4096).expect("anonymous shared memory")
}

fn block(region: &MappedRegion) -> &Block {
    // SAFETY: the region is used only through this typed view (and the same in forked children).
    unsafe { region.get::<Block>(0) }.expect("place the block")
}

/// The 32-bit xorshift generator of mq.cpp.
fn xorshift32(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

/// Rows 1, 2 and 4.
fn sample_stream(q: &MessageQueue, size: usize, n: u64, random_priorities: bool) -> (f64, bool) {
    let r = block_region();
    let b = block(&r);
    let pid = fork_child(|| {
        let mut buf = vec![0u8; size];
        let mut seen = vec![false; if random_priorities { n as usize } else { 0 }];
        b.gate.arrive_and_wait();
        for i in 0..n {
            let Ok((got, _)) = q.receive(&mut buf) else {
                return false;
            };
            let k = u64::from_ne_bytes(buf[..8].try_into().expect("8 bytes"));
            if got != size {
                return false;
            }
            if random_priorities {
                if k >= n || seen[k as usize] {
                    return false;
                }
                seen[k as usize] = true;
            } else if k != i {
                return false;
            }
        }
        b.end_ns.store(now_ns() as u64, Ordering::Release);
        true
    });
    let mut msg = vec![b'm'; size];
    let mut x = 2_463_534_242u32;
    b.gate.wait_ready(1);
    let t0 = now_ns();
    b.gate.open();
    let mut ok = true;
    for i in 0..n {
        msg[..8].copy_from_slice(&i.to_ne_bytes());
        let prio = if random_priorities {
            xorshift32(&mut x) & 7
        } else {
            0
        };
        ok &= q.send(&msg, prio).is_ok();
    }
    ok &= wait_child(pid);
    let end = b.end_ns.load(Ordering::Acquire) as f64;
    ((end - t0) / n as f64, ok)
}

/// Row 3.
fn sample_pingpong(req: &MessageQueue, resp: &MessageQueue, rounds: u64) -> (f64, bool) {
    let r = block_region();
    let b = block(&r);
    let pid = fork_child(|| {
        let mut buf = [0u8; 8];
        b.gate.arrive_and_wait();
        for _ in 0..rounds {
            match req.receive(&mut buf) {
                Ok((8, _)) => {}
                _ => return false,
            }
            if resp.send(&buf, 0).is_err() {
                return false;
            }
        }
        true
    });
    b.gate.wait_ready(1);
    let t0 = now_ns();
    b.gate.open();
    let mut ok = true;
    let mut buf = [0u8; 8];
    for i in 0..rounds {
        ok &= req.send(&i.to_ne_bytes(), 0).is_ok();
        ok &= matches!(resp.receive(&mut buf), Ok((8, _))) && buf == i.to_ne_bytes();
    }
    let t1 = now_ns();
    ok &= wait_child(pid);
    ((t1 - t0) / rounds as f64, ok)
}

/// Row 5: produced in a reserved slot, checked where it lies.
fn sample_zero_copy(q: &MessageQueue, n: u64) -> (f64, bool) {
    const SIZE: usize = 4096;
    let r = block_region();
    let b = block(&r);
    let pid = fork_child(|| {
        b.gate.arrive_and_wait();
        for i in 0..n {
            let Ok(m) = q.receive_in_place() else {
                return false;
            };
            let head = u64::from_ne_bytes(m[..8].try_into().expect("8 bytes"));
            let tail = u64::from_ne_bytes(m[SIZE - 8..].try_into().expect("8 bytes"));
            if m.len() != SIZE || head != i || tail != i {
                return false;
            }
        }
        b.end_ns.store(now_ns() as u64, Ordering::Release);
        true
    });
    b.gate.wait_ready(1);
    let t0 = now_ns();
    b.gate.open();
    let mut ok = true;
    for i in 0..n {
        let Ok(mut slot) = q.reserve() else {
            ok = false;
            break;
        };
        slot[..SIZE].fill((i & 0xff) as u8);
        slot[..8].copy_from_slice(&i.to_ne_bytes());
        slot[SIZE - 8..SIZE].copy_from_slice(&i.to_ne_bytes());
        ok &= slot.commit(SIZE, 0).is_ok();
    }
    ok &= wait_child(pid);
    let end = b.end_ns.load(Ordering::Acquire) as f64;
    ((end - t0) / n as f64, ok)
}

/// Runs `sample` as a self-timed row and fails if any sample failed.
fn row(name: &str, mut sample: impl FnMut() -> (f64, bool)) -> Result<(), String> {
    let mut failed = false;
    let ns = median_ns_self_timed(7, || {
        let (ns, ok) = sample();
        failed |= !ok;
        ns
    });
    if failed {
        return Err(format!(
            "{name}: a sample failed (wrong message or child error)"
        ));
    }
    print_row(name, ns);
    Ok(())
}

pub fn run(want: &Filter) -> Result<(), String> {
    let name = "mq: 64 B messages, 1 producer -> 1 consumer process, capacity 1024";
    if want.matches(name) {
        let q = Queue::new(1024, 64)?;
        row(name, || sample_stream(&q.q, 64, 200_000, false))?;
    }
    let name = "mq: 4 KiB messages, same";
    if want.matches(name) {
        let q = Queue::new(1024, 4096)?;
        row(name, || sample_stream(&q.q, 4096, 50_000, false))?;
    }
    let name = "mq: 8 B request/response ping-pong, 2 processes, round trip";
    if want.matches(name) {
        let (req, resp) = (Queue::new(16, 8)?, Queue::new(16, 8)?);
        row(name, || sample_pingpong(&req.q, &resp.q, 2_000))?;
    }
    let name = "mq: 64 B messages with 8 random priorities";
    if want.matches(name) {
        let q = Queue::new(1024, 64)?;
        row(name, || sample_stream(&q.q, 64, 200_000, true))?;
    }
    let name = "mq: zero-copy 4 KiB messages";
    if want.matches(name) {
        let q = Queue::new(1024, 4096)?;
        row(name, || sample_zero_copy(&q.q, 50_000))?;
    }
    Ok(())
}
