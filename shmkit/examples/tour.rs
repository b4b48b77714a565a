//! A walk through shmkit, with a real second process.
//!
//! Run it with `cargo run --release --example tour`. The program re-executes itself as a child
//! process (the role travels in the `SHMKIT_TOUR_ROLE` environment variable); parent and child
//! share memory by name, as two unrelated programs would.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmkit::collections::{HashMap, String as ShmString, Vec as ShmVec};
use shmkit::sync::{Mutex, MutexGuard};
use shmkit::{
    ManagedSharedMemory, MappedRegion, MessageQueue, RemoveOnDrop, SharedMemory, ShmSafe,
};

const ROLE: &str = "SHMKIT_TOUR_ROLE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        Ok("counter") => counter(),
        Ok("dies-holding-lock") => dies_holding_lock(),
        Ok("mq-worker") => mq_worker(),
        Ok("dies-reading") => dies_reading(),
        Ok("scoreboard") => scoreboard_child(),
        Ok("customers") => customers_child(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    println!("shmkit tour (pid {})", std::process::id());
    println!();
    println!("1. Shared memory between two processes");
    let name = format!("shmkit-tour-{}", std::process::id());
    let shm = SharedMemory::create(&name)?;
    // Handles never remove what they name; this guard removes it when the tour ends.
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    shm.set_len(64 * 1024)?;
    println!(
        "   parent: created /dev/shm/{name} ({} bytes, mode {:o})",
        shm.len()?,
        shm.permissions()?.mode()
    );
    let region = MappedRegion::map(&shm)?;

    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "child")
        .arg(&name)
        .status()?;
    if !status.success() {
        return Err(format!("the child process failed: {status}").into());
    }

    let mut len = [0u8; 2];
    region.read_at(0, &mut len)?;
    let mut text = vec![0u8; usize::from(u16::from_le_bytes(len))];
    region.read_at(2, &mut text)?;
    println!("   parent: read {:?}", String::from_utf8_lossy(&text));

    println!();
    println!("2. A Mutex<T> shared by two processes");
    let counters = locks_demo(&region)?;
    println!("   both processes added {COUNT} under the lock: counter = {counters}");

    println!();
    println!("3. A process killed while holding the lock (Boost: the mutex is bricked)");
    owner_death_demo(&region)?;

    println!();
    println!("4. A message queue between two processes");
    queue_demo()?;

    println!();
    println!("5. A named object in a managed segment, found by another process");
    managed_demo()?;

    println!();
    println!("6. Nested collections (a map of structs holding a String, a Vec and a map)");
    collections_demo()?;

    println!();
    println!("Done. Objects left in shared memory: none (the guards removed them).");
    println!("To see what sits in /dev/shm at any time: cargo run -p shmkit-cli -- ls --all");
    Ok(())
}

fn queue_demo() -> Result<(), Box<dyn std::error::Error>> {
    let jobs_name = format!("shmkit-tour-jobs-{}", std::process::id());
    let results_name = format!("shmkit-tour-results-{}", std::process::id());
    let jobs = MessageQueue::create(&jobs_name, 16, 256)?;
    let _c1 = RemoveOnDrop::shared_memory(&jobs_name);
    let results = MessageQueue::create(&results_name, 16, 256)?;
    let _c2 = RemoveOnDrop::shared_memory(&results_name);
    // Work queued before the worker starts: routine jobs, then an urgent one, then "stop".
    for i in 1..=3 {
        jobs.send(format!("routine job {i}").as_bytes(), 0)?;
    }
    jobs.send(b"URGENT job", 9)?;
    jobs.send(b"stop", 0)?;
    println!("   parent: queued 3 routine jobs (priority 0), 1 urgent (priority 9), then stop");
    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "mq-worker")
        .args([&jobs_name, &results_name])
        .status()?;
    if !status.success() {
        return Err(format!("the worker process failed: {status}").into());
    }
    let mut order = Vec::new();
    while let Some((m, _)) = results.try_receive_vec()? {
        order.push(String::from_utf8_lossy(&m).into_owned());
    }
    println!(
        "   parent: the worker answered, in order: {}",
        order.join(", ")
    );

    // A receiver killed while reading a message in place: the message is not lost.
    jobs.send(b"precious job", 5)?;
    let mut victim = Command::new(std::env::current_exe()?)
        .env(ROLE, "dies-reading")
        .args([&jobs_name, &results_name])
        .spawn()?;
    // It tells us (on the results queue) once it holds the message.
    results
        .receive_vec_timeout(Duration::from_secs(30))?
        .ok_or("the reader never took the message")?;
    victim.kill()?;
    victim.wait()?;
    println!("   parent: killed a child while it was reading \"precious job\" in place");
    let start = Instant::now();
    let (again, _) = jobs
        .receive_vec_timeout(Duration::from_secs(10))?
        .ok_or("the message was lost")?;
    println!(
        "   parent: {:?} is delivered again, {:?} later (Boost: the queue may be unusable)",
        String::from_utf8_lossy(&again),
        start.elapsed()
    );
    Ok(())
}

fn queue_args() -> Result<(MessageQueue, MessageQueue), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs = args.next().ok_or("the worker needs the jobs queue")?;
    let results = args.next().ok_or("the worker needs the results queue")?;
    Ok((MessageQueue::open(&jobs)?, MessageQueue::open(&results)?))
}

fn mq_worker() -> Result<(), Box<dyn std::error::Error>> {
    let (jobs, results) = queue_args()?;
    loop {
        let (job, priority) = jobs.receive_vec()?;
        if job == b"stop" {
            return Ok(());
        }
        let answer = format!(
            "{} (priority {priority}) done",
            String::from_utf8_lossy(&job)
        );
        results.send(answer.as_bytes(), priority)?;
    }
}

fn dies_reading() -> Result<(), Box<dyn std::error::Error>> {
    let (jobs, results) = queue_args()?;
    let _msg = jobs.receive_in_place()?;
    results.send(b"holding it", 0)?;
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Offsets in the tour's shared memory object.
const LOCK_AT: usize = 4096; // Mutex<[u64; 2]>
const FLAG_AT: usize = 8192; // AtomicU32 handshake
const COUNT: u64 = 200_000;

fn spawn(role: &str, name: &str) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .env(ROLE, role)
        .arg(name)
        .stdout(Stdio::inherit())
        .spawn()
}

fn shared_lock(region: &MappedRegion) -> shmkit::Result<&Mutex<[u64; 2]>> {
    // SAFETY: in the tour, these bytes are only ever accessed through this typed view.
    unsafe { region.get(LOCK_AT) }
}

fn flag(region: &MappedRegion) -> shmkit::Result<&AtomicU32> {
    // SAFETY: as above.
    unsafe { region.get(FLAG_AT) }
}

fn locks_demo(region: &MappedRegion) -> Result<u64, Box<dyn std::error::Error>> {
    let name = format!("shmkit-tour-{}", std::process::id());
    let lock = shared_lock(region)?; // zeroed memory is an unlocked mutex holding [0, 0]
    let mut other = spawn("counter", &name)?;
    for _ in 0..COUNT {
        let mut pair = lock.lock().map_err(|_| "owner died")?;
        pair[0] += 1;
        pair[1] += 1;
    }
    if !other.wait()?.success() {
        return Err("the counting child failed".into());
    }
    let pair = lock.lock().map_err(|_| "owner died")?;
    assert_eq!(pair[0], pair[1]);
    Ok(pair[0])
}

fn owner_death_demo(region: &MappedRegion) -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-tour-{}", std::process::id());
    let lock = shared_lock(region)?;
    let flag = flag(region)?;
    let mut victim = spawn("dies-holding-lock", &name)?;
    let start = Instant::now();
    while flag.load(Ordering::Acquire) == 0 {
        if start.elapsed() > Duration::from_secs(30) {
            return Err("the child never took the lock".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    victim.kill()?; // SIGKILL: no destructor, no unlock
    victim.wait()?;
    println!(
        "   parent: killed the child {} while it held the lock",
        victim.id()
    );
    let start = Instant::now();
    match lock.lock() {
        Ok(_) => return Err("expected to be told the owner died".into()),
        Err(died) => {
            let mut pair = died.into_inner();
            println!(
                "   parent: lock() -> OwnerDied after {:?}; the data reads {:?}",
                start.elapsed(),
                *pair
            );
            pair[1] = pair[0];
            MutexGuard::mark_consistent(&mut pair);
            println!(
                "   parent: repaired it to {:?} and marked it consistent",
                *pair
            );
        }
    }
    let pair = lock.lock().map_err(|_| "still inconsistent")?;
    println!("   parent: the next lock() is clean: {:?}", *pair);
    Ok(())
}

/// A struct with a lock inside, placed in a managed segment by name. `#[derive(ShmSafe)]`
/// checks that every field may live in shared memory and gives it a layout fingerprint, so a
/// process that asks for it as another type gets an error, not garbage.
#[derive(ShmSafe)]
#[repr(C)]
struct Scoreboard {
    scores: Mutex<[u32; 4]>,
    updates: AtomicU32,
}

fn managed_demo() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-tour-segment-{}", std::process::id());
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20)?;
    let board = segment.construct(
        "scoreboard",
        Scoreboard {
            scores: Mutex::new([10, 20, 30, 40]),
            updates: AtomicU32::new(0),
        },
    )?;
    println!(
        "   parent: constructed \"scoreboard\" in /dev/shm/{name}: {:?}",
        *board.scores.lock().map_err(|_| "owner died")?
    );
    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "scoreboard")
        .arg(&name)
        .status()?;
    if !status.success() {
        return Err(format!("the scoreboard child failed: {status}").into());
    }
    println!(
        "   parent: after the child, scoreboard = {:?}, updates = {}",
        *board.scores.lock().map_err(|_| "owner died")?,
        board.updates.load(Ordering::Acquire)
    );
    segment.check_sanity()?;
    Ok(())
}

fn scoreboard_child() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let board = segment
        .find::<Scoreboard>("scoreboard")?
        .ok_or("no scoreboard in the segment")?;
    let mut scores = board.scores.lock().map_err(|_| "owner died")?;
    scores[2] += 5;
    board.updates.fetch_add(1, Ordering::AcqRel);
    println!(
        "   child:  pid {} found \"scoreboard\" by name and added 5 to slot 2",
        std::process::id()
    );
    // Asking for it as another type is an error, not a reinterpretation of its bytes.
    match segment.find::<[u32; 4]>("scoreboard") {
        Ok(_) => return Err("a wrong-type find succeeded".into()),
        Err(e) => println!(
            "   child:  find::<[u32; 4]>(\"scoreboard\") -> {:?}: {e}",
            e.kind()
        ),
    }
    Ok(())
}

fn open_region() -> Result<MappedRegion, Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the object's name")?;
    Ok(MappedRegion::map(&SharedMemory::open(&name)?)?)
}

fn counter() -> Result<(), Box<dyn std::error::Error>> {
    let region = open_region()?;
    let lock = shared_lock(&region)?;
    for _ in 0..COUNT {
        let mut pair = lock.lock().map_err(|_| "owner died")?;
        pair[0] += 1;
        pair[1] += 1;
    }
    println!("   child:  pid {} added its {COUNT}", std::process::id());
    Ok(())
}

fn dies_holding_lock() -> Result<(), Box<dyn std::error::Error>> {
    let region = open_region()?;
    let lock = shared_lock(&region)?;
    let mut pair = lock.lock().map_err(|_| "owner died")?;
    pair[0] += 1; // half an update: pair[1] is not changed yet
    flag(&region)?.store(1, Ordering::Release);
    println!(
        "   child:  pid {} holds the lock mid-update",
        std::process::id()
    );
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the object's name")?;
    let shm = SharedMemory::open(&name)?;
    let region = MappedRegion::map(&shm)?;
    let text = format!(
        "hello from the child process {} (mapped at {:p})",
        std::process::id(),
        region.as_ptr()
    );
    region.write_at(0, &(text.len() as u16).to_le_bytes())?;
    region.write_at(2, text.as_bytes())?;
    println!("   child:  opened {name} and wrote {} bytes", text.len());
    Ok(())
}

/// A value with every kind of collection inside, stored in a segment as it is: each field finds
/// the segment from its own address, so building it needs no allocator plumbing.
#[derive(ShmSafe, Default)]
#[repr(C)]
struct Customer {
    name: ShmString,
    orders: ShmVec<u32>,
    notes: HashMap<u64, ShmString>,
}

type Customers = Mutex<HashMap<ShmString, Customer>>;

fn collections_demo() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-tour-collections-{}", std::process::id());
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20)?;
    let customers = segment.construct("customers", Customers::default())?;
    {
        let mut c = customers.lock().map_err(|_| "owner died")?;
        let alice = c.entry("alice").or_default();
        alice.name.push_str("Alice Liddell");
        alice.orders.extend([1001, 1002]);
        alice.notes.insert(1, "prefers email");
    }
    println!("   parent: stored \"customers\" with one entry, \"alice\"");
    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "customers")
        .arg(&name)
        .status()?;
    if !status.success() {
        return Err(format!("the customers child failed: {status}").into());
    }
    let c = customers.lock().map_err(|_| "owner died")?;
    let mut keys: std::vec::Vec<&str> = c.keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    let alice = &c["alice"];
    println!(
        "   parent: customers {keys:?}; alice's orders {:?}, note 2 = {:?}",
        alice.orders.as_slice(),
        alice.notes.get(&2).map(|n| n.as_str())
    );
    Ok(())
}

fn customers_child() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let customers = segment
        .find::<Customers>("customers")?
        .ok_or("no customers in the segment")?;
    let mut c = customers.lock().map_err(|_| "owner died")?;
    let alice = c.get_mut("alice").ok_or("alice is missing")?;
    println!(
        "   child:  pid {} found {} with orders {:?}",
        std::process::id(),
        alice.name,
        alice.orders.as_slice()
    );
    alice.orders.push(1003);
    alice.notes.insert(2, "ships to Oxford");
    let bob = c.entry("bob").or_default();
    bob.name.push_str("Bob");
    bob.orders.push(2001);
    println!("   child:  added order 1003 and a note for alice, and a new customer, bob");
    Ok(())
}
