//! Runs the soak example (`examples/soak.rs`) for 30 seconds: worker processes doing a random
//! mix of every operation, killed and restarted at random moments, then every invariant
//! checked. The 10-minute run is `cargo run --release --example soak -- --secs 600`.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} missing: cargo test builds examples",
        path.display()
    );
    path
}

#[test]
fn soak_30_seconds_with_kills_keeps_every_invariant() {
    let secs = std::env::var("SHMKIT_SOAK_SECS").unwrap_or_else(|_| "30".to_owned());
    let out = Command::new(example("soak"))
        .args(["--secs", &secs, "--workers", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "soak failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("every invariant holds"), "{stdout}");
    // The parent really killed workers, and they really worked.
    let kills: u64 = stdout
        .split_once("soak: ")
        .and_then(|_| stdout.lines().find(|l| l.contains(" kills;")))
        .and_then(|l| l.trim_start_matches("soak: ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(kills >= 10, "only {kills} kills in:\n{stdout}");
    assert!(!stdout.contains("ledger 0 updates"), "{stdout}");
}
