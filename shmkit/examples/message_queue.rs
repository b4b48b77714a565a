//! Message queues between two processes: a byte `MessageQueue` with priorities, and a
//! `TypedQueue` of a `#[derive(ShmSafe)]` struct.
//!
//! Run it with `cargo run --example message_queue`. The program re-executes itself as a child
//! (the role travels in the `SHMKIT_EXAMPLE_ROLE` environment variable). The parent queues
//! messages of different priorities before the child starts; the child receives them highest
//! priority first (first in, first out within a priority) and sends back typed `Reading`
//! records on a `TypedQueue`, which the parent receives as values of that type. Both queues are
//! removed at the end.

use std::process::Command;

use shmkit::{MessageQueue, RemoveOnDrop, ShmSafe, TypedQueue};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

/// A fixed-layout record sent by value; `#[derive(ShmSafe)]` checks every field may cross
/// processes and fingerprints the layout, so a queue opened as another type is an error.
#[derive(ShmSafe, Debug, Clone, Copy, PartialEq)]
#[repr(C)]
struct Reading {
    sensor: u32,
    priority: u32,
    value: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("worker") => worker(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let pid = std::process::id();
    let text_name = format!("shmkit-mq-text-{pid}");
    let typed_name = format!("shmkit-mq-typed-{pid}");
    let text = MessageQueue::create(&text_name, 8, 128)?;
    let _c1 = RemoveOnDrop::shared_memory(&text_name);
    let typed: TypedQueue<Reading> = TypedQueue::create(&typed_name, 8)?;
    let _c2 = RemoveOnDrop::shared_memory(&typed_name);

    for (msg, priority) in [
        ("low: tidy up", 1),
        ("normal: job A", 5),
        ("high: alarm!", 9),
        ("normal: job B", 5),
        ("stop", 0),
    ] {
        text.send(msg.as_bytes(), priority)?;
        println!("parent: sent {msg:?} with priority {priority}");
    }

    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "worker")
        .args([&text_name, &typed_name])
        .status()?;
    if !status.success() {
        return Err(format!("the worker failed: {status}").into());
    }

    // The worker has exited; everything it sent is waiting in the queue.
    while let Some((reading, priority)) = typed.try_receive()? {
        println!("parent: received {reading:?} (priority {priority})");
    }
    println!("parent: both queues are removed");
    Ok(())
}

fn worker() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let text = MessageQueue::open(&args.next().ok_or("no text queue")?)?;
    let typed: TypedQueue<Reading> = TypedQueue::open(&args.next().ok_or("no typed queue")?)?;
    let mut order = Vec::new();
    let mut sensor = 0;
    loop {
        let (msg, priority) = text.receive_vec()?;
        let msg = String::from_utf8_lossy(&msg).into_owned();
        println!("child:  received {msg:?} (priority {priority})");
        if msg == "stop" {
            break;
        }
        order.push(msg);
        sensor += 1;
        typed.send(
            &Reading {
                sensor,
                priority,
                value: f64::from(sensor) * 1.5,
            },
            priority,
        )?;
    }
    println!("child:  order: {}", order.join(" | "));
    Ok(())
}
