//! `MessageQueue` and `TypedQueue` across real processes: ordering, exactly-once delivery under
//! load, try and timed semantics, size errors, zero-copy slots, anonymous queues with `fork`,
//! processes killed at random moments, and corrupt shared memory.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::sync::{NamedMutex, RawMutex};
use shmkit::{ErrorKind, MappedRegion, MessageQueue, SharedMemory, TypedQueue};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name, wait_until};

child_roles!(
    ordered_sender,
    load_producer,
    load_consumer,
    timed_sender,
    typed_sender,
    zero_copy_holder,
    anon_fork,
    kill_producer,
    kill_consumer,
    lock_holder,
    corrupt_ops,
);

// ---------------------------------------------------------------- helpers

/// A small deterministic generator (xorshift64*), so runs are reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A checksum over 8-byte words (cheap even in debug builds, where the kill loop wants the test's
/// own work to be small next to the queue's).
fn checksum(bytes: &[u8]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x100_0000_01b3);
        h ^= h >> 29;
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// 16 KiB of filler that message bodies are cut from.
fn pattern() -> &'static [u8] {
    static P: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        (0..16384u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    })
}

/// Messages longer than this are copied outside the queue lock (the library's threshold).
const COPIED_IN_LOCK: usize = 4096;

/// A self-checking message: `[id: u64][len: u32][0: u32][body...][checksum: u64]`, `len` bytes in
/// all (at least 24). The body depends on the id; the checksum covers everything before it.
fn make_message(id: u64, len: usize) -> Vec<u8> {
    assert!((24..=8192).contains(&len));
    let mut m = vec![0u8; len];
    m[..8].copy_from_slice(&id.to_le_bytes());
    m[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    let from = (id % 2048) as usize;
    m[16..len - 8].copy_from_slice(&pattern()[from..from + len - 24]);
    let sum = checksum(&m[..len - 8]);
    m[len - 8..].copy_from_slice(&sum.to_le_bytes());
    m
}

/// The id of a message made by `make_message`, if it is intact (`bytes` may be longer).
fn check_message(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 24 {
        return None;
    }
    let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    if len < 24 || len > bytes.len() {
        return None;
    }
    let sum = u64::from_le_bytes(bytes[len - 8..len].try_into().unwrap());
    if sum != checksum(&bytes[..len - 8]) {
        return None;
    }
    Some(u64::from_le_bytes(bytes[..8].try_into().unwrap()))
}

/// A plain shared memory object for flags, tables and logs, mapped read-write.
struct Scratch {
    region: MappedRegion,
}

impl Scratch {
    fn create(name: &str, len: usize) -> Scratch {
        let shm = SharedMemory::create(name).unwrap();
        shm.set_len(len as u64).unwrap();
        Scratch {
            region: MappedRegion::map(&shm).unwrap(),
        }
    }

    fn open(name: &str) -> Scratch {
        Scratch {
            region: MappedRegion::map(&SharedMemory::open(name).unwrap()).unwrap(),
        }
    }

    fn u32(&self, index: usize) -> &AtomicU32 {
        // SAFETY: every process accesses the scratch words only as atomics.
        unsafe { self.region.get::<AtomicU32>(index * 4) }.unwrap()
    }

    fn u64(&self, index: usize) -> &AtomicU64 {
        // SAFETY: as above.
        unsafe { self.region.get::<AtomicU64>(index * 8) }.unwrap()
    }

    /// `len` bytes at `offset` as a mutable slice.
    ///
    /// # Safety
    ///
    /// Only this process touches those bytes while the slice lives (the parent reads them only
    /// after this process is dead).
    #[allow(clippy::mut_from_ref)]
    unsafe fn bytes_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        assert!(offset + len <= self.region.len());
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.region.as_mut_ptr().add(offset), len) }
    }

    fn read(&self, offset: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.region.read_at(offset, &mut v).unwrap();
        v
    }
}

fn queue(tag: &str, max_msgs: usize, max_msg_size: usize) -> (String, MessageQueue, Cleanup) {
    let name = unique_name(tag);
    let mut cleanup = Cleanup::new();
    cleanup.shm(&name);
    let q = MessageQueue::create(&name, max_msgs, max_msg_size).unwrap();
    (name, q, cleanup)
}

// ---------------------------------------------------------------- ordering

/// Child: sends `(priority, index)` messages in the order given by args[1..] (priorities).
fn ordered_sender(args: &[String]) {
    let q = MessageQueue::open(&args[0]).unwrap();
    for (i, p) in args[1..].iter().enumerate() {
        let p: u32 = p.parse().unwrap();
        q.send(&(i as u32).to_le_bytes(), p).unwrap();
    }
}

#[test]
fn highest_priority_first_and_fifo_within_a_priority_across_processes() {
    let (name, q, _c) = queue("order", 256, 16);
    let mut rng = Rng::new(1);
    let prios: Vec<u32> = (0..200)
        .map(|_| [0, 1, 5, 5, 9, u32::MAX, 3][rng.below(7) as usize])
        .collect();
    child("ordered_sender").arg(&name).args(prios.iter()).run();
    assert_eq!(q.len(), prios.len());
    let mut expected: Vec<(u32, u32)> = prios
        .iter()
        .enumerate()
        .map(|(i, &p)| (p, i as u32))
        .collect();
    expected.sort_by_key(|&(p, i)| (std::cmp::Reverse(p), i));
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while let Some((len, p)) = q.try_receive(&mut buf).unwrap() {
        assert_eq!(len, 4);
        got.push((p, u32::from_le_bytes(buf[..4].try_into().unwrap())));
    }
    assert_eq!(got, expected);
}

#[test]
fn interleaved_sends_and_receives_keep_the_order() {
    // A model check against a sorted list, with priorities that create and drop buckets at both
    // ends and in the middle of the ring (which wraps around: capacity 16).
    let q = MessageQueue::anonymous(16, 8).unwrap();
    let mut model: Vec<(u32, u64)> = Vec::new();
    let mut rng = Rng::new(7);
    let mut seq = 0u64;
    let mut buf = [0u8; 8];
    for _ in 0..20_000 {
        if model.len() < 16 && (model.is_empty() || rng.below(100) < 55) {
            let p = rng.below(6) as u32 * 10;
            assert!(q.try_send(&seq.to_le_bytes(), p).unwrap());
            model.push((p, seq));
            seq += 1;
        } else {
            let (len, p) = q
                .try_receive(&mut buf)
                .unwrap()
                .expect("model says non-empty");
            assert_eq!(len, 8);
            let best = model
                .iter()
                .enumerate()
                .min_by_key(|(_, (mp, ms))| (std::cmp::Reverse(*mp), *ms))
                .map(|(i, _)| i)
                .unwrap();
            let (mp, ms) = model.remove(best);
            assert_eq!((p, u64::from_le_bytes(buf)), (mp, ms));
        }
        assert_eq!(q.len(), model.len());
    }
}

#[test]
fn peek_returns_the_next_receive_without_removing_it() {
    // Across processes (sent by a child), short and long messages (copied in and outside the
    // lock by a receive), and priorities in and out of order.
    let (name, q, _c) = queue("peek", 8, 8192);
    assert_eq!(q.peek_vec().unwrap(), None);
    child("ordered_sender")
        .arg(&name)
        .args(["3", "9", "3"])
        .run();
    let long = make_message(42, 6000);
    q.send(&long, 5).unwrap();
    let mut received = Vec::new();
    while let Some(peeked) = q.peek_vec().unwrap() {
        let len = q.len();
        assert_eq!(
            q.peek_vec().unwrap().as_ref(),
            Some(&peeked),
            "peek is repeatable"
        );
        assert_eq!(q.len(), len, "peek removes nothing");
        let got = q.try_receive_vec().unwrap().expect("peek saw a message");
        assert_eq!(got, peeked);
        assert_eq!(q.len(), len - 1);
        received.push(got);
    }
    let order: Vec<u32> = received.iter().map(|(_, p)| *p).collect();
    assert_eq!(order, [9, 5, 3, 3]);
    assert_eq!(received[1].0, long);
    assert_eq!(received[2].0, 0u32.to_le_bytes());
    assert_eq!(received[3].0, 2u32.to_le_bytes());
    assert!(q.is_empty());
}

// ---------------------------------------------------------------- exactly once under load

const LOAD_PRODUCERS: usize = 4;
const LOAD_PER_PRODUCER: u64 = 50_000;
const LOAD_MAX_MSG: usize = 8192;

fn load_id(producer: u64, seq: u64) -> u64 {
    (producer << 32) | seq
}

fn load_len(id: u64) -> usize {
    // Mostly short messages (copied in the critical section), one in 16 long (copied outside).
    let h = fnv(&id.to_le_bytes());
    if h.is_multiple_of(16) {
        COPIED_IN_LOCK + 1 + (h as usize / 16) % (LOAD_MAX_MSG - COPIED_IN_LOCK)
    } else {
        24 + (h as usize / 16) % 40
    }
}

fn load_priority(id: u64) -> u32 {
    1 + (fnv(&id.to_be_bytes()) % 3) as u32
}

/// Child: sends LOAD_PER_PRODUCER self-checking messages as producer args[1]; even producers use
/// `send`, odd ones write long messages in place with `reserve`.
fn load_producer(args: &[String]) {
    let q = MessageQueue::open(&args[0]).unwrap();
    let p: u64 = args[1].parse().unwrap();
    for seq in 0..LOAD_PER_PRODUCER {
        let id = load_id(p, seq);
        let m = make_message(id, load_len(id));
        if p % 2 == 1 && m.len() > 1000 {
            let mut slot = q.reserve().unwrap();
            slot[..m.len()].copy_from_slice(&m);
            slot.commit(m.len(), load_priority(id)).unwrap();
        } else {
            q.send(&m, load_priority(id)).unwrap();
        }
    }
}

/// Child: receives until a stop message (empty, priority 0), counting every message in the
/// scratch table `seen[producer * LOAD_PER_PRODUCER + seq]`, and checking FIFO order per
/// (producer, priority) as this consumer sees it. Odd consumers receive in place.
fn load_consumer(args: &[String]) {
    let q = MessageQueue::open(&args[0]).unwrap();
    let scratch = Scratch::open(&args[1]);
    let me: u64 = args[2].parse().unwrap();
    let mut last: HashMap<(u64, u32), u64> = HashMap::new();
    let mut buf = vec![0u8; LOAD_MAX_MSG];
    let mut n = 0u64;
    loop {
        let (id, prio) = if me % 2 == 1 {
            let msg = q.receive_in_place().unwrap();
            if msg.is_empty() {
                break;
            }
            (check_message(&msg).expect("torn message"), msg.priority())
        } else {
            let (len, prio) = q.receive(&mut buf).unwrap();
            if len == 0 {
                break;
            }
            (check_message(&buf[..len]).expect("torn message"), prio)
        };
        let (p, seq) = (id >> 32, id & 0xffff_ffff);
        assert!(
            p < LOAD_PRODUCERS as u64 && seq < LOAD_PER_PRODUCER,
            "unknown id {id:#x}"
        );
        assert_eq!(prio, load_priority(id));
        if let Some(&prev) = last.get(&(p, prio)) {
            assert!(prev < seq, "FIFO broken for producer {p}, priority {prio}");
        }
        last.insert((p, prio), seq);
        scratch
            .u32((p * LOAD_PER_PRODUCER + seq) as usize)
            .fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    report("received", n);
}

#[test]
fn four_producers_two_consumers_every_message_exactly_once() {
    let started = Instant::now();
    let (name, q, mut cleanup) = queue("load", 256, LOAD_MAX_MSG);
    let scratch_name = unique_name("load-seen");
    cleanup.shm(&scratch_name);
    let total = LOAD_PRODUCERS * LOAD_PER_PRODUCER as usize;
    let scratch = Scratch::create(&scratch_name, total * 4);
    let consumers: Vec<_> = (0..2)
        .map(|c| {
            child("load_consumer")
                .args([name.as_str(), scratch_name.as_str(), &c.to_string()])
                .spawn()
        })
        .collect();
    let producers: Vec<_> = (0..LOAD_PRODUCERS)
        .map(|p| {
            child("load_producer")
                .args([name.clone(), p.to_string()])
                .spawn()
        })
        .collect();
    for p in producers {
        p.wait().assert_success();
    }
    // Producers are done: two stop messages, behind everything of priority >= 0 already queued.
    q.send(b"", 0).unwrap();
    q.send(b"", 0).unwrap();
    let received: u64 = consumers
        .into_iter()
        .map(|c| {
            let out = c.wait();
            out.assert_success();
            out.value("received").parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(received, total as u64);
    let wrong: Vec<usize> = (0..total)
        .filter(|&i| scratch.u32(i).load(Ordering::Relaxed) != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} messages not received exactly once, e.g. index {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(q.is_empty());
    eprintln!(
        "4 x {LOAD_PER_PRODUCER} messages through 2 consumers in {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- try, timed, sizes

#[test]
fn try_operations_return_at_once_on_a_full_or_empty_queue() {
    let q = MessageQueue::anonymous(2, 32).unwrap();
    let mut buf = [0u8; 32];
    let t = Instant::now();
    assert_eq!(q.try_receive(&mut buf).unwrap(), None);
    assert_eq!(q.try_receive_vec().unwrap(), None);
    assert!(q.try_receive_in_place().unwrap().is_none());
    assert!(q.try_send(b"a", 0).unwrap());
    assert!(q.try_send(b"b", 0).unwrap());
    assert!(!q.try_send(b"c", 0).unwrap());
    assert!(q.try_reserve().unwrap().is_none());
    assert!(
        t.elapsed() < Duration::from_millis(50),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(q.len(), 2);
}

#[test]
fn timed_operations_wait_for_their_timeout() {
    let q = MessageQueue::anonymous(1, 32).unwrap();
    let mut buf = [0u8; 32];
    let timeout = Duration::from_millis(100);

    let t = Instant::now();
    assert_eq!(q.receive_timeout(&mut buf, timeout).unwrap(), None);
    let waited = t.elapsed();
    assert!(waited >= timeout && waited < timeout * 20, "{waited:?}");

    let t = Instant::now();
    assert!(q.receive_in_place_timeout(timeout).unwrap().is_none());
    assert!(t.elapsed() >= timeout);
    let t = Instant::now();
    assert_eq!(q.receive_vec_timeout(timeout).unwrap(), None);
    assert!(t.elapsed() >= timeout);

    assert!(q.send_timeout(b"x", 0, timeout).unwrap()); // room: at once
    let t = Instant::now();
    assert!(!q.send_timeout(b"y", 0, timeout).unwrap());
    let waited = t.elapsed();
    assert!(waited >= timeout && waited < timeout * 20, "{waited:?}");
    let t = Instant::now();
    assert!(q.reserve_timeout(timeout).unwrap().is_none());
    assert!(t.elapsed() >= timeout);
    assert!(
        q.receive_timeout(&mut buf, Duration::ZERO)
            .unwrap()
            .is_some()
    );
}

/// Child: waits args[1] ms, then sends "wake" to the queue args[0].
fn timed_sender(args: &[String]) {
    let q = MessageQueue::open(&args[0]).unwrap();
    std::thread::sleep(Duration::from_millis(args[1].parse().unwrap()));
    q.send(b"wake", 3).unwrap();
}

#[test]
fn a_timed_receive_is_woken_by_another_process() {
    let (name, q, _c) = queue("wake", 4, 16);
    let sender = child("timed_sender").args([name.as_str(), "100"]).spawn();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let got = q
        .receive_timeout(&mut buf, Duration::from_secs(30))
        .unwrap();
    assert_eq!(got, Some((4, 3)));
    assert_eq!(&buf[..4], b"wake");
    assert!(t.elapsed() < Duration::from_secs(10));
    sender.wait().assert_success();
}

#[test]
fn a_blocked_sender_is_woken_when_a_receiver_frees_a_slot() {
    let q = MessageQueue::anonymous(1, 16).unwrap();
    q.send(b"first", 0).unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let t = Instant::now();
            q.send(b"second", 0).unwrap();
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(q.receive_vec().unwrap().0, b"first");
        let waited = h.join().unwrap();
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
    });
    assert_eq!(q.receive_vec().unwrap().0, b"second");
}

#[test]
fn oversized_messages_and_short_buffers_are_message_too_large() {
    let q = MessageQueue::anonymous(4, 8000).unwrap();
    let big = vec![1u8; 8001];
    for r in [
        q.send(&big, 0).map(|_| ()),
        q.try_send(&big, 0).map(|_| ()),
        q.send_timeout(&big, 0, Duration::from_millis(1))
            .map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::MessageTooLarge);
    }
    assert!(q.is_empty());
    // Receive buffers: shorter than the message is an error, and the message stays queued.
    // Short (copied in the critical section) and long (copied outside it).
    for len in [30usize, 6000] {
        let m = make_message(len as u64, len);
        q.send(&m, 0).unwrap();
        let mut short = vec![0u8; len - 1];
        let e = q.receive(&mut short).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MessageTooLarge, "{e}");
        assert_eq!(
            q.try_receive(&mut short).unwrap_err().kind(),
            ErrorKind::MessageTooLarge
        );
        assert_eq!(q.len(), 1);
        let mut exact = vec![0u8; len];
        assert_eq!(q.receive(&mut exact).unwrap(), (len, 0));
        assert_eq!(exact, m);
    }
    // Empty messages and zero-size queues work.
    let z = MessageQueue::anonymous(2, 0).unwrap();
    z.send(b"", 4).unwrap();
    assert_eq!(z.receive(&mut []).unwrap(), (0, 4));
}

#[test]
fn sizes_are_validated() {
    for (n, size) in [
        (0, 8),
        (shmkit::mq::MAX_MSGS + 1, 8),
        (8, shmkit::mq::MAX_MSG_SIZE + 1),
    ] {
        let e = MessageQueue::anonymous(n, size).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
}

// ---------------------------------------------------------------- typed and zero-copy

#[derive(Clone, Copy, Debug, PartialEq, shmkit::ShmSafe)]
#[repr(C)]
struct Order {
    id: u64,
    qty: u32,
    side: u8,
    _pad: [u8; 3],
    price: f64,
}

fn order(i: u64) -> Order {
    Order {
        id: i,
        qty: (i * 3) as u32,
        side: (i % 2) as u8,
        _pad: [0; 3],
        price: i as f64 * 0.25,
    }
}

/// Child: sends 1000 typed orders.
fn typed_sender(args: &[String]) {
    let q = TypedQueue::<Order>::open(&args[0]).unwrap();
    for i in 0..1000 {
        q.send(&order(i), (i % 2) as u32).unwrap();
    }
}

#[test]
fn typed_queue_carries_values_between_processes() {
    let name = unique_name("typed");
    let mut c = Cleanup::new();
    c.shm(&name);
    let q = TypedQueue::<Order>::create(&name, 2000).unwrap();
    child("typed_sender").arg(&name).run();
    // Priority 1 (odd ids) first, in order, then priority 0.
    let expected: Vec<u64> = (0..1000)
        .filter(|i| i % 2 == 1)
        .chain((0..1000).filter(|i| i % 2 == 0))
        .collect();
    for i in expected {
        assert_eq!(q.receive().unwrap(), (order(i), (i % 2) as u32));
    }
    assert_eq!(q.try_receive().unwrap(), None);
    // Another size is another type.
    assert_eq!(
        TypedQueue::<u64>::open(&name).unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    // A byte message of the wrong length sent through the byte queue is a TypeMismatch for
    // the typed receiver.
    q.queue().send(b"short", 0).unwrap();
    assert_eq!(q.receive().unwrap_err().kind(), ErrorKind::TypeMismatch);
}

#[test]
fn zero_copy_slots_commit_abort_and_release() {
    let q = MessageQueue::anonymous(2, 4096).unwrap();
    // Dropping an uncommitted slot gives it back.
    let slot = q.reserve().unwrap();
    assert_eq!(slot.len(), 4096);
    drop(slot);
    assert!(q.is_empty());
    let a = q.reserve().unwrap();
    let mut b = q.reserve().unwrap();
    assert!(q.try_reserve().unwrap().is_none());
    b[..3].copy_from_slice(b"bbb");
    b.commit(3, 1).unwrap();
    drop(a);
    // Commit longer than the slot: an error, and the slot comes back.
    assert_eq!(
        q.reserve().unwrap().commit(4097, 0).unwrap_err().kind(),
        ErrorKind::MessageTooLarge
    );
    let mut c = q.reserve().unwrap();
    c[..4096].fill(7);
    c.commit(4096, 9).unwrap();
    // In place, highest priority first; the slot is free only once the guard drops.
    let m = q.receive_in_place().unwrap();
    assert_eq!((m.len(), m.priority()), (4096, 9));
    assert!(m.iter().all(|&x| x == 7));
    let m2 = q.receive_in_place().unwrap();
    assert_eq!(&*m2, b"bbb");
    assert!(q.try_reserve().unwrap().is_none(), "both slots still held");
    drop(m);
    assert!(q.try_reserve().unwrap().is_some());
    drop(m2);
}

/// Child: holds a zero-copy slot (args[1] = "send": a half-written reservation; "receive": a
/// taken message), announces it in the scratch word args[2], and waits to be killed.
fn zero_copy_holder(args: &[String]) {
    let q = MessageQueue::open(&args[0]).unwrap();
    let scratch = Scratch::open(&args[2]);
    match args[1].as_str() {
        "send" => {
            let mut slot = q.reserve().unwrap();
            slot[..8].copy_from_slice(b"half-wri");
            scratch.u32(0).store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        _ => {
            let m = q.receive_in_place().unwrap();
            assert_eq!(&*m, b"precious");
            scratch.u32(0).store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

fn kill_holder(name: &str, what: &str) {
    let scratch_name = unique_name("holder");
    let _c = {
        let mut c = Cleanup::new();
        c.shm(&scratch_name);
        c
    };
    let scratch = Scratch::create(&scratch_name, 4096);
    let holder = child("zero_copy_holder")
        .args([name, what, scratch_name.as_str()])
        .spawn();
    kill_when_flagged(&scratch, holder);
}

/// Waits for `victim` to raise scratch word 0, then SIGKILLs it.
fn kill_when_flagged(scratch: &Scratch, victim: shmkit_testkit::Child) {
    assert!(wait_until(Duration::from_secs(30), || scratch
        .u32(0)
        .load(Ordering::Acquire)
        == 1));
    assert_eq!(victim.kill().signal(), Some(9));
}

#[test]
fn a_sender_killed_while_writing_in_place_loses_its_slot_to_reclaim_not_a_message() {
    let (name, q, _c) = queue("zc-kill-send", 1, 64);
    kill_holder(&name, "send");
    // The only slot is held by a dead process: a waiting sender reclaims it.
    assert!(!q.try_send(b"x", 0).unwrap());
    let t = Instant::now();
    assert!(
        q.send_timeout(b"after", 0, Duration::from_secs(10))
            .unwrap()
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    // The half-written message was never delivered.
    assert_eq!(q.receive_vec().unwrap().0, b"after");
    assert!(q.is_empty());
}

#[test]
fn a_receiver_killed_while_reading_in_place_gets_its_message_redelivered() {
    let (name, q, _c) = queue("zc-kill-recv", 4, 64);
    q.send(b"precious", 5).unwrap();
    q.send(b"later", 1).unwrap();
    kill_holder(&name, "receive");
    assert_eq!(q.receive_vec().unwrap(), (b"later".to_vec(), 1));
    let t = Instant::now();
    let got = q.receive_vec_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got, Some((b"precious".to_vec(), 5)));
    assert!(t.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------- anonymous queue and fork

/// Child: makes an anonymous queue and forks two grandchildren that share it: one sends 20,000
/// numbered messages, the other receives them and checks the order; this child also sends and
/// receives. Runs in a child process, so the forked grandchildren start from a process with no
/// busy threads; they only run queue operations that do not allocate (async-signal-safe in
/// practice: atomics, `memcpy`, futex and `gettid` system calls), then `_exit`.
fn anon_fork(_: &[String]) {
    const N: u64 = 20_000;
    let q = MessageQueue::anonymous(64, 16).unwrap();
    let back = MessageQueue::anonymous(4, 16).unwrap();
    let (qr, br) = (&q, &back);
    let sender = move || {
        for i in 0..N {
            if qr.send(&i.to_le_bytes(), 0).is_err() {
                return 1;
            }
        }
        0
    };
    let receiver = move || {
        let mut buf = [0u8; 16];
        for i in 0..N {
            match qr.receive(&mut buf) {
                Ok((8, 0)) if buf[..8] == i.to_le_bytes() => {}
                _ => return 2,
            }
        }
        // Tell the parent, through the second queue.
        if br.send(b"done", 7).is_err() {
            return 3;
        }
        0
    };
    // Run the pair concurrently: fork the receiver from a thread, the sender from this one.
    std::thread::scope(|s| {
        // SAFETY: the grandchild runs only non-allocating queue operations, then `_exit`.
        let r = s.spawn(move || unsafe { shmkit_testkit::fork_child(receiver) });
        // SAFETY: as above.
        let code = unsafe { shmkit_testkit::fork_child(sender) };
        assert_eq!(code, 0, "sender");
        assert_eq!(r.join().unwrap(), 0, "receiver");
    });
    assert_eq!(back.receive_vec().unwrap(), (b"done".to_vec(), 7));
    assert!(q.is_empty());
    report("ok", true);
}

#[test]
fn an_anonymous_queue_is_shared_with_forked_children() {
    assert_eq!(child("anon_fork").run().value("ok"), "true");
}

// ---------------------------------------------------------------- kill loop

/// Kill-loop scratch layout (u64 words): producer instance table, consumer instance table, the
/// delivery log, then the consumers' landing buffers.
mod kl {
    pub const MAX_INSTANCES: usize = 512;
    pub const MAX_MSG: usize = 8192;
    pub const LOG_CAP: usize = 1 << 20;
    /// Producers stop sending new messages after this many in total (a bound on the log).
    pub const BUDGET: u64 = 600_000;
    // u64 word indices
    pub const STOP: usize = 0; // 1: producers stop; 2: consumers drain and stop
    pub const LOG_LEN: usize = 1;
    pub const PRODUCED: usize = 2;
    pub const PRODUCERS: usize = 8; // 4 words per instance: started, committed, sending, -
    pub const CONSUMERS: usize = PRODUCERS + 4 * MAX_INSTANCES; // 2 words: started, -
    pub const LOG: usize = CONSUMERS + 2 * MAX_INSTANCES;
    pub const LANDING_AT: usize = (LOG + LOG_CAP) * 8; // byte offset
    pub const LEN: usize = LANDING_AT + MAX_INSTANCES * MAX_MSG;
}

/// Message ids in the kill loop: producer instance (from 1) in the high half, sequence low.
fn kl_len(id: u64) -> usize {
    let h = fnv(&id.to_le_bytes()) as usize;
    if h.is_multiple_of(8) {
        COPIED_IN_LOCK + 1 + h / 8 % (kl::MAX_MSG - COPIED_IN_LOCK)
    } else {
        24 + h / 8 % 100
    }
}

/// Child: producer instance args[2]; sends until told to stop, recording `sending = seq + 1`
/// before each send and `committed = seq + 1` after it returned. Odd instances write long
/// messages in place.
fn kill_producer(args: &[String]) {
    let q = MessageQueue::open(&args[0]).unwrap();
    let s = Scratch::open(&args[1]);
    let me: usize = args[2].parse().unwrap();
    let base = kl::PRODUCERS + 4 * me;
    let mut rng = Rng::new(me as u64 * 7919);
    s.u64(base).store(1, Ordering::Release);
    let mut seq = 0u64;
    while s.u64(kl::STOP).load(Ordering::Acquire) == 0 {
        if s.u64(kl::PRODUCED).fetch_add(1, Ordering::Relaxed) >= kl::BUDGET {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let id = ((me as u64) << 32) | seq;
        let m = make_message(id, kl_len(id));
        let prio = rng.below(4) as u32;
        s.u64(base + 2).store(seq + 1, Ordering::Release);
        if me % 2 == 1 && m.len() > 1000 {
            let mut slot = q.reserve().unwrap();
            slot[..m.len()].copy_from_slice(&m);
            slot.commit(m.len(), prio).unwrap();
        } else {
            q.send(&m, prio).unwrap();
        }
        s.u64(base + 1).store(seq + 1, Ordering::Release);
        seq += 1;
    }
}

/// Child: consumer instance args[2]. Each message lands in this instance's landing buffer
/// (received straight into it, or, for odd instances, copied there from a slot received in
/// place), is checked, then logged as `id << 16 | instance`; then (in place) the slot is released
/// and the landing cleared.
fn kill_consumer(args: &[String]) {
    let q = MessageQueue::open(&args[0]).unwrap();
    let s = Scratch::open(&args[1]);
    let me: usize = args[2].parse().unwrap();
    // SAFETY: the landing buffer belongs to this instance; the parent reads it after our death.
    let landing = unsafe { s.bytes_mut(kl::LANDING_AT + me * kl::MAX_MSG, kl::MAX_MSG) };
    let log = |id: u64| {
        let at = s.u64(kl::LOG_LEN).fetch_add(1, Ordering::AcqRel) as usize;
        assert!(at < kl::LOG_CAP, "kill-loop log full");
        s.u64(kl::LOG + at)
            .store((id << 16) | me as u64, Ordering::Release);
    };
    s.u64(kl::CONSUMERS + 2 * me).store(1, Ordering::Release);
    let wait = Duration::from_millis(20);
    loop {
        let got = if me % 2 == 1 {
            match q.receive_in_place_timeout(wait).unwrap() {
                Some(m) => {
                    landing[..m.len()].copy_from_slice(&m);
                    log(check_message(landing).expect("torn message"));
                    drop(m);
                    true
                }
                None => false,
            }
        } else {
            match q.receive_timeout(landing, wait).unwrap() {
                Some(_) => {
                    log(check_message(landing).expect("torn message"));
                    true
                }
                None => false,
            }
        };
        landing[..16].fill(0);
        if !got && s.u64(kl::STOP).load(Ordering::Acquire) == 2 {
            break;
        }
    }
}

#[test]
fn processes_killed_at_random_moments_lose_and_duplicate_nothing() {
    const KILLS: usize = 200;
    let started = Instant::now();
    let (name, q, mut cleanup) = queue("kill", 32, kl::MAX_MSG);
    let scratch_name = unique_name("kill-scratch");
    cleanup.shm(&scratch_name);
    let s = Scratch::create(&scratch_name, kl::LEN);
    let mut rng = Rng::new(2024);
    let mut next_instance = 1usize;
    let mut spawn = |role: &str| {
        let i = next_instance;
        next_instance += 1;
        assert!(i < kl::MAX_INSTANCES);
        let c = child(role)
            .args([name.as_str(), scratch_name.as_str(), &i.to_string()])
            .spawn();
        (i, c)
    };
    let mut producers: Vec<_> = (0..2).map(|_| spawn("kill_producer")).collect();
    let mut consumers: Vec<_> = (0..2).map(|_| spawn("kill_consumer")).collect();
    let mut killed_consumers = Vec::new();
    let mut kills_inside = 0;
    for k in 0..KILLS {
        let producer = rng.below(2) == 0;
        let list = if producer {
            &mut producers
        } else {
            &mut consumers
        };
        let at = rng.below(list.len() as u64) as usize;
        let (instance, victim) = list.swap_remove(at);
        let started_word = if producer {
            kl::PRODUCERS + 4 * instance
        } else {
            kl::CONSUMERS + 2 * instance
        };
        // Let it start, then kill it at a random moment of its work.
        assert!(wait_until(Duration::from_secs(60), || s
            .u64(started_word)
            .load(Ordering::Acquire)
            == 1));
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        if !q.is_empty() {
            kills_inside += 1;
        }
        let out = victim.kill();
        assert_eq!(
            out.signal(),
            Some(9),
            "kill {k}: the victim died otherwise\n{}",
            out.stderr
        );
        if producer {
            producers.push(spawn("kill_producer"));
        } else {
            killed_consumers.push(instance);
            consumers.push(spawn("kill_consumer"));
        }
    }
    // Stop producing, let the consumers drain, then stop them.
    s.u64(kl::STOP).store(1, Ordering::Release);
    for (_, p) in producers {
        p.wait().assert_success();
    }
    s.u64(kl::STOP).store(2, Ordering::Release);
    for (_, c) in consumers {
        c.wait().assert_success();
    }
    let mut delivered: HashMap<u64, u32> = HashMap::new();
    while let Some((m, _)) = q.receive_vec_timeout(Duration::from_millis(200)).unwrap() {
        *delivered
            .entry(check_message(&m).expect("torn message"))
            .or_default() += 1;
    }

    // What the consumers logged, by (id, instance).
    let log_len = s.u64(kl::LOG_LEN).load(Ordering::Acquire) as usize;
    let mut logged_by: HashSet<(u64, usize)> = HashSet::new();
    for i in 0..log_len {
        let e = s.u64(kl::LOG + i).load(Ordering::Acquire);
        if e == 0 {
            continue; // a consumer killed between reserving the entry and writing it
        }
        let (id, who) = (e >> 16, (e & 0xffff) as usize);
        *delivered.entry(id).or_default() += 1;
        logged_by.insert((id, who));
    }
    // A killed consumer's landing buffer: an intact message there was in its hands. If it had
    // not logged it, it counts as delivered (it may also be queued again, if the consumer died
    // before finishing the take); either way, each killed consumer that held a message allows
    // one extra appearance of it (two consumers killed in turn while taking the same message
    // each hand it back, and it is then delivered a third time).
    let mut held: HashMap<u64, u32> = HashMap::new();
    for &c in &killed_consumers {
        let landing = s.read(kl::LANDING_AT + c * kl::MAX_MSG, kl::MAX_MSG);
        if let Some(id) = check_message(&landing) {
            *held.entry(id).or_default() += 1;
            if !logged_by.contains(&(id, c)) {
                *delivered.entry(id).or_default() += 1;
            }
        }
    }

    // Check against what the producers committed.
    let mut committed = 0u64;
    let mut in_flight = 0;
    for p in 1..next_instance {
        let base = kl::PRODUCERS + 4 * p;
        let done = s.u64(base + 1).load(Ordering::Acquire);
        let sending = s.u64(base + 2).load(Ordering::Acquire);
        for seq in 0..done {
            let id = ((p as u64) << 32) | seq;
            assert!(
                delivered.get(&id).copied().unwrap_or(0) >= 1,
                "committed message {id:#x} was lost"
            );
        }
        committed += done;
        if sending > done {
            in_flight += 1;
        }
    }
    for (&id, &n) in &delivered {
        let (p, seq) = ((id >> 32) as usize, id & 0xffff_ffff);
        assert!(p >= 1 && p < next_instance, "unknown message {id:#x}");
        let base = kl::PRODUCERS + 4 * p;
        let done = s.u64(base + 1).load(Ordering::Acquire);
        let sending = s.u64(base + 2).load(Ordering::Acquire);
        assert!(
            seq < done || (seq == done && sending == done + 1),
            "message {id:#x} was never sent (producer committed {done}, sending {sending})"
        );
        let allowed = 1 + held.get(&id).copied().unwrap_or(0);
        assert!(n <= allowed, "message {id:#x} delivered {n} times");
    }

    // The queue is intact: every slot can be filled and emptied again.
    for i in 0..q.capacity() {
        assert!(
            q.send_timeout(&make_message(i as u64, 24), 0, Duration::from_secs(10))
                .unwrap(),
            "slot {i} was lost"
        );
    }
    for _ in 0..q.capacity() {
        assert!(
            q.receive_vec_timeout(Duration::from_secs(10))
                .unwrap()
                .is_some()
        );
    }
    assert!(q.is_empty());
    // Kills did land inside critical sections or while slots were held outside the lock: the
    // queue was rebuilt (each rebuild is counted in the control block).
    let raw = MappedRegion::map(&SharedMemory::open(&name).unwrap()).unwrap();
    let repairs = raw.read::<u32>(REPAIRS_AT).unwrap();
    assert!(
        repairs > 0,
        "no kill needed a repair: the loop tested nothing"
    );
    eprintln!(
        "kill loop: {KILLS} kills ({kills_inside} with messages queued), {repairs} rebuilds, \
         {committed} messages committed, {in_flight} in flight at a kill, {log_len} log \
         entries, {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- killed holding the lock

/// Child: takes the queue lock of args[0] directly (as an operation would), wrecks the bucket
/// ring, the free stack and the counts (as an operation killed half-way through an update
/// might), announces it in the scratch word args[1], and waits to be killed.
fn lock_holder(args: &[String]) {
    let raw = MappedRegion::map(&SharedMemory::open(&args[0]).unwrap()).unwrap();
    let scratch = Scratch::open(&args[1]);
    // SAFETY: the queue's lock word is only ever accessed as a RawMutex.
    let lock = unsafe { raw.get::<RawMutex>(LOCK_AT) }.unwrap();
    let _ = lock.lock();
    // count and free_count (next to the lock), free_head, free_tail, head, tail,
    // last_priority, bucket_first, bucket_count (the next line): nonsense; the bucket ring:
    // zeros.
    raw.write(LOCK_AT + 4, &[7u32, 3]).unwrap();
    raw.write(STATE_AT, &[9u32, 2, 1, 20, 5, 3, 9]).unwrap();
    raw.write_at(RING_AT, &[0u8; 16 * 16]).unwrap();
    scratch.u32(0).store(1, Ordering::Release);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_process_killed_holding_the_lock_mid_update_leaves_a_queue_that_is_rebuilt() {
    let (name, q, mut c) = queue("lock-death", 16, 32);
    let mut expected = Vec::new();
    for (i, p) in [3u32, 1, 3, 0, 2, 3, 1].into_iter().enumerate() {
        q.send(&[i as u8], p).unwrap();
        expected.push((p, i as u8));
    }
    expected.sort_by_key(|&(p, i)| (std::cmp::Reverse(p), i));
    let scratch_name = unique_name("lock-death-flag");
    c.shm(&scratch_name);
    let scratch = Scratch::create(&scratch_name, 4096);
    let holder = child("lock_holder")
        .args([name.as_str(), scratch_name.as_str()])
        .spawn();
    kill_when_flagged(&scratch, holder);
    // The next operation takes the lock over, rebuilds the queue from its slots, and proceeds:
    // every message, in order, and every slot usable.
    let t = Instant::now();
    let mut got = Vec::new();
    while let Some((m, p)) = q.try_receive_vec().unwrap() {
        got.push((p, m[0]));
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(got, expected);
    for i in 0..16u8 {
        assert!(q.try_send(&[i], 0).unwrap());
    }
    assert!(!q.try_send(b"x", 0).unwrap());
    for i in 0..16u8 {
        assert_eq!(q.try_receive_vec().unwrap(), Some((vec![i], 0)));
    }
}

// ---------------------------------------------------------------- corruption

/// Byte offsets in a named queue: the named-object header is 64 bytes, then the control block
/// (a geometry line; a line with the lock word and the counts; a line with the rest of the
/// state), then the bucket ring (16 bytes per message), then the slots (64-aligned; a 32-byte
/// header, then the message).
const CONTROL_AT: usize = 64;
const LOCK_AT: usize = CONTROL_AT + 64;
const STATE_AT: usize = CONTROL_AT + 128;
/// The control block's count of rebuilds (a diagnostic word, not public API).
const REPAIRS_AT: usize = STATE_AT + 44;
const RING_AT: usize = CONTROL_AT + 192;

/// Child: `rounds` times: a queue of 8 x 64 bytes with a few messages, random bytes (seeded by
/// args[0]) over the named header, the control block and the bucket ring, and in odd rounds
/// over the slot headers too (states, lengths, links), then a mix of operations. Each must give
/// an error or a message: in even rounds one of those sent (the slots are intact), in odd rounds
/// at least a well-formed one (at most 64 bytes: a scribbled slot may pass for a message).
fn corrupt_ops(args: &[String]) {
    let seed: u64 = args[0].parse().unwrap();
    let rounds: u64 = args[1].parse().unwrap();
    let (mut errors, mut messages, mut reopen_errors) = (0u64, 0u64, 0u64);
    for round in 0..rounds {
        let mut rng = Rng::new(seed * 1000 + round);
        let name = unique_name("corrupt");
        let mut c = Cleanup::new();
        c.shm(&name);
        let q = MessageQueue::create(&name, 8, 64).unwrap();
        let sent: Vec<Vec<u8>> = (0..1 + rng.below(8))
            .map(|i| make_message(seed << 32 | round << 8 | i, 24 + rng.below(40) as usize))
            .collect();
        for m in &sent {
            q.send(m, rng.below(3) as u32).unwrap();
        }
        let raw = MappedRegion::map(&SharedMemory::open(&name).unwrap()).unwrap();
        // Header 64 + control 192 + buckets 8 x 16; then 8 slots of 128 bytes.
        let span = RING_AT + 8 * 16;
        let slots_too = round % 2 == 1;
        for _ in 0..1 + rng.below(12) {
            let at = rng.below(span as u64) as usize;
            let len = 1 + rng.below(8) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            raw.write_at(at, &bytes[..len.min(span - at)]).unwrap();
            if slots_too {
                let at = span + rng.below(8) as usize * 128 + rng.below(32) as usize;
                raw.write_at(at, &bytes[..1 + rng.below(len as u64) as usize])
                    .unwrap();
            }
        }
        // A lock word naming a live thread would (rightly) block every operation; make sure the
        // random owner is dead (ids above the kernel's pid_max limit are never alive).
        let word = raw.read::<u32>(LOCK_AT).unwrap();
        if word & ((1 << 30) - 1) != 0 {
            raw.write(LOCK_AT, &(word | ((1 << 30) - 1))).unwrap();
        }
        let mut buf = [0u8; 64];
        let mut check = |r: shmkit::Result<Option<(usize, u32)>>, buf: &[u8]| match r {
            Ok(Some((len, _))) => {
                assert!(len <= 64);
                assert!(
                    slots_too || sent.iter().any(|m| m[..] == buf[..len]),
                    "round {round}: received bytes that were never sent"
                );
                messages += 1;
            }
            Ok(None) => {}
            Err(e) => {
                assert!(matches!(
                    e.kind(),
                    ErrorKind::Corrupted | ErrorKind::MessageTooLarge
                ));
                errors += 1;
            }
        };
        let tiny = Duration::from_millis(2);
        for _ in 0..30 {
            match rng.below(7) {
                0 => {
                    let r = q.try_receive(&mut buf);
                    check(r, &buf);
                }
                1 => {
                    let r = q.receive_timeout(&mut buf, tiny);
                    check(r, &buf);
                }
                2 => match q.try_receive_in_place() {
                    Ok(Some(m)) => {
                        let len = m.len();
                        buf[..len].copy_from_slice(&m);
                        check(Ok(Some((len, m.priority()))), &buf);
                    }
                    r => check(r.map(|_| None), &buf),
                },
                3 => match q.try_receive_vec() {
                    Ok(Some((v, p))) => {
                        buf[..v.len()].copy_from_slice(&v);
                        check(Ok(Some((v.len(), p))), &buf);
                    }
                    r => check(r.map(|_| None), &buf),
                },
                4 => {
                    let r = q.send_timeout(&sent.first().cloned().unwrap_or_default(), 1, tiny);
                    check(r.map(|_| None), &buf);
                }
                5 => match q.try_reserve() {
                    Ok(Some(mut slot)) => {
                        let m = sent.last().cloned().unwrap_or_default();
                        slot[..m.len()].copy_from_slice(&m);
                        check(slot.commit(m.len(), 2).map(|_| None), &buf);
                    }
                    r => check(r.map(|_| None), &buf),
                },
                _ => {
                    assert!(q.len() <= q.capacity());
                }
            }
        }
        // Opening the damaged object anew: an error, or a queue that works the same way.
        match MessageQueue::open(&name) {
            Ok(q2) => {
                let r = q2.try_receive(&mut buf);
                check(r, &buf);
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::Corrupted | ErrorKind::Incompatible | ErrorKind::Timeout
                    ),
                    "{e}"
                );
                reopen_errors += 1;
            }
        }
    }
    report("errors", errors);
    report("messages", messages);
    report("reopen_errors", reopen_errors);
}

#[test]
fn random_bytes_over_header_and_index_give_errors_or_valid_messages_never_a_crash() {
    // The operations run in child processes: a crash would show as a signal, not abort the test.
    let kids: Vec<_> = (1..=2)
        .map(|seed| child("corrupt_ops").args([seed, 150]).spawn())
        .collect();
    let (mut errors, mut messages) = (0u64, 0u64);
    for k in kids {
        let out = k.wait();
        assert!(
            out.success(),
            "corruption child failed ({:?}, signal {:?})\n{}",
            out.status,
            out.signal(),
            out.stderr
        );
        errors += out.value("errors").parse::<u64>().unwrap();
        messages += out.value("messages").parse::<u64>().unwrap();
    }
    // Both outcomes happen: corruption is reported, and repaired queues deliver.
    assert!(
        errors > 0 && messages > 0,
        "errors {errors}, messages {messages}"
    );
}

#[test]
fn opening_something_that_is_not_a_queue_is_an_error() {
    // Another shmkit kind.
    let name = unique_name("not-q-mutex");
    let mut c = Cleanup::new();
    c.shm(&name);
    let _m = NamedMutex::create(&name).unwrap();
    let e = MessageQueue::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    assert!(e.to_string().contains("mutex"), "{e}");

    // A plain shared memory object with foreign bytes.
    let name = unique_name("not-q-plain");
    c.shm(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(4096).unwrap();
    MappedRegion::map(&shm)
        .unwrap()
        .write_at(0, b"definitely not a shmkit header")
        .unwrap();
    let e = MessageQueue::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    assert_eq!(
        MessageQueue::open_or_create(&name, 4, 4)
            .unwrap_err()
            .kind(),
        ErrorKind::Incompatible
    );

    // A queue whose object was truncated, and one whose geometry was scribbled.
    let (name, _q, _c2) = queue("truncated", 64, 1024);
    SharedMemory::open(&name).unwrap().set_len(4096).unwrap();
    let e = MessageQueue::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
    let (name, _q, _c3) = queue("geometry", 4, 16);
    MappedRegion::map(&SharedMemory::open(&name).unwrap())
        .unwrap()
        .write(CONTROL_AT, &1_000_000u32)
        .unwrap();
    let e = MessageQueue::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MessageQueue>();
    send_sync::<TypedQueue<Order>>();
    // One handle, several threads.
    let q = MessageQueue::anonymous(64, 8).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let q = &q;
            s.spawn(move || {
                for i in 0..1000u32 {
                    q.send(&[t, i as u8], 0).unwrap();
                }
            });
        }
        let mut n = 0;
        while n < 4000 {
            q.receive_vec().unwrap();
            n += 1;
        }
    });
    assert!(q.is_empty());
}

#[test]
fn create_open_or_create_and_remove() {
    let name = unique_name("matrix");
    let mut c = Cleanup::new();
    c.shm(&name);
    assert_eq!(
        MessageQueue::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let a = MessageQueue::open_or_create(&name, 8, 100).unwrap();
    assert!(a.created());
    let b = MessageQueue::open_or_create(&name, 1, 1).unwrap();
    assert!(!b.created());
    assert_eq!((b.capacity(), b.max_msg_size()), (8, 100));
    assert_eq!(
        MessageQueue::create(&name, 8, 100).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        MessageQueue::create("bad/name", 1, 1).unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    a.send(b"kept", 0).unwrap();
    MessageQueue::remove(&name).unwrap();
    assert_eq!(b.receive_vec().unwrap().0, b"kept");
    assert_eq!(
        MessageQueue::remove(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
