//! `shmkit mq create|send|recv|peek`: message queues from the shell.
//!
//! `send` does not wait for room and `recv` does not wait for a message unless `--timeout` says
//! how long to: a full (empty) queue is exit status 1 with a message saying so.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use shmkit::{MessageQueue, Permissions};

use crate::Outcome;
use crate::fail::{self, Failure};
use crate::format;

/// Options of `shmkit mq`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Mq,
}

#[derive(Debug, clap::Subcommand)]
enum Mq {
    /// Create a message queue
    Create(CreateArgs),
    /// Send a message (fails at once on a full queue unless --timeout is given)
    Send(SendArgs),
    /// Receive the next message: the oldest of the highest priority (fails at once on an empty
    /// queue unless --timeout is given)
    Recv(RecvArgs),
    /// Show the next message without removing it
    Peek(PeekArgs),
}

/// Options of `shmkit mq create`.
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The queue's name (as in /dev/shm, without a leading slash)
    name: String,
    /// How many messages the queue holds
    #[arg(long, value_name = "N")]
    max_msgs: usize,
    /// The longest message, in bytes
    #[arg(long, value_name = "BYTES")]
    max_size: usize,
    /// Permission bits, in octal (applied exactly, whatever the umask)
    #[arg(long, default_value = "600", value_parser = parse_mode)]
    mode: u32,
}

/// Options of `shmkit mq send`.
#[derive(Debug, clap::Args)]
struct SendArgs {
    /// The queue's name
    name: String,
    /// The message (its UTF-8 bytes)
    message: String,
    /// The message's priority (higher is received first)
    #[arg(long, short, default_value_t = 0, value_name = "P")]
    priority: u32,
    /// Wait up to this many milliseconds for room in a full queue
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
}

/// Options of `shmkit mq recv`.
#[derive(Debug, clap::Args)]
struct RecvArgs {
    /// The queue's name
    name: String,
    /// Wait up to this many milliseconds for a message in an empty queue
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
}

/// Options of `shmkit mq peek`.
#[derive(Debug, clap::Args)]
struct PeekArgs {
    /// The queue's name
    name: String,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(format!("`{s}` is not an octal mode such as 600 or 0660")),
    }
}

#[derive(Debug, Serialize)]
struct JsonCreated<'a> {
    name: &'a str,
    max_msgs: usize,
    max_size: usize,
    mode: String,
}

#[derive(Debug, Serialize)]
struct JsonSent<'a> {
    name: &'a str,
    bytes: usize,
    priority: u32,
    queued: usize,
}

#[derive(Debug, Serialize)]
struct JsonMessage<'a> {
    name: &'a str,
    priority: u32,
    bytes: usize,
    /// The message if it is valid UTF-8.
    text: Option<&'a str>,
    /// The message's bytes in hex, always.
    hex: String,
    /// Messages left in the queue.
    queued: usize,
}

/// Runs the `mq` subcommand.
pub(crate) fn run(args: &Args, json: bool) -> Result<Outcome, Failure> {
    match &args.command {
        Mq::Create(a) => create(a, json),
        Mq::Send(a) => send(a, json),
        Mq::Recv(a) => recv(a, json),
        Mq::Peek(a) => peek(a, json),
    }
}

fn open(name: &str) -> Result<MessageQueue, Failure> {
    MessageQueue::open(name).map_err(|e| Failure::of(&format!("cannot open queue `{name}`"), &e))
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn create(args: &CreateArgs, json: bool) -> Result<Outcome, Failure> {
    let name = &args.name;
    MessageQueue::create_with(
        name,
        args.max_msgs,
        args.max_size,
        Permissions::from_mode(args.mode),
    )
    .map_err(|e| Failure::of(&format!("cannot create queue `{name}`"), &e))?;
    let mode = format!("{:04o}", args.mode);
    let out = if json {
        format::json(&JsonCreated {
            name,
            max_msgs: args.max_msgs,
            max_size: args.max_size,
            mode,
        })
    } else {
        format!(
            "created message queue {name}: {} messages of up to {} bytes, mode {mode}\n",
            args.max_msgs, args.max_size
        )
    };
    Ok(Outcome {
        out,
        ..Outcome::default()
    })
}

fn send(args: &SendArgs, json: bool) -> Result<Outcome, Failure> {
    let name = &args.name;
    let q = open(name)?;
    let msg = args.message.as_bytes();
    let what = format!("cannot send to `{name}`");
    let sent = match args.timeout {
        None => q.try_send(msg, args.priority),
        Some(ms) => q.send_timeout(msg, args.priority, millis(ms)),
    }
    .map_err(|e| Failure::of(&what, &e))?;
    if !sent {
        let when = match args.timeout {
            None => "--timeout MS waits for room".to_owned(),
            Some(ms) => format!("still full after {ms} ms"),
        };
        return Err(Failure::new(
            fail::GENERAL,
            format!(
                "{what}: the queue is full ({} messages; {when})",
                q.capacity()
            ),
        ));
    }
    let queued = q.len();
    let out = if json {
        format::json(&JsonSent {
            name,
            bytes: msg.len(),
            priority: args.priority,
            queued,
        })
    } else {
        format!(
            "sent {} bytes to {name} with priority {} ({queued} queued)\n",
            msg.len(),
            args.priority
        )
    };
    Ok(Outcome {
        out,
        ..Outcome::default()
    })
}

fn recv(args: &RecvArgs, json: bool) -> Result<Outcome, Failure> {
    let name = &args.name;
    let q = open(name)?;
    let what = format!("cannot receive from `{name}`");
    let got = match args.timeout {
        None => q.try_receive_vec(),
        Some(ms) => q.receive_vec_timeout(millis(ms)),
    }
    .map_err(|e| Failure::of(&what, &e))?;
    let Some((msg, priority)) = got else {
        let when = match args.timeout {
            None => "--timeout MS waits for a message".to_owned(),
            Some(ms) => format!("no message came within {ms} ms"),
        };
        return Err(Failure::new(
            fail::GENERAL,
            format!("{what}: the queue is empty ({when})"),
        ));
    };
    Ok(message(name, &msg, priority, q.len(), json))
}

fn peek(args: &PeekArgs, json: bool) -> Result<Outcome, Failure> {
    let name = &args.name;
    let q = open(name)?;
    let what = format!("cannot peek at `{name}`");
    let got = q.peek_vec().map_err(|e| Failure::of(&what, &e))?;
    let Some((msg, priority)) = got else {
        return Err(Failure::new(
            fail::GENERAL,
            format!("{what}: the queue is empty"),
        ));
    };
    Ok(message(name, &msg, priority, q.len(), json))
}

/// A received or peeked message: `priority P: TEXT`, or `priority P (hex): 00ff...` when it is
/// not UTF-8 (or holds control characters other than tab and newline).
fn message(name: &str, msg: &[u8], priority: u32, queued: usize, json: bool) -> Outcome {
    let text = std::str::from_utf8(msg).ok();
    let hex = msg.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    let out = if json {
        format::json(&JsonMessage {
            name,
            priority,
            bytes: msg.len(),
            text,
            hex,
            queued,
        })
    } else {
        match text.filter(|t| !t.chars().any(|c| c.is_control() && c != '\t' && c != '\n')) {
            Some(t) => format!("priority {priority}: {t}\n"),
            None => format!("priority {priority} (hex): {hex}\n"),
        }
    };
    Outcome {
        out,
        ..Outcome::default()
    }
}
