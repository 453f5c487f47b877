//! Bounded-memory sort at scale: streams a synthetic, seeded entry stream
//! of `--gib N` GiB (default 1) through the sorter with `--budget` (default
//! 256 MiB), writes the `.fsm` through the SHA-256 hashing writer into
//! /dev/null, and prints throughput, spilled runs and peak RSS.
//!
//!     cargo bench --bench sort_spill -- --gib 10
//!
//! A measurement, not a test: nothing here fails on speed.

use std::io;
use std::time::Instant;

use ekvplan::testing::EntrySorter;
use ekvplan::testing::fsm::HashingWriter;

/// xorshift64*: deterministic, dependency-free key material.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probe
    }
    let gib = arg("--gib", 1.0);
    let budget = (arg("--budget", 256.0) * (1 << 20) as f64) as u64;
    let value_len = arg("--value", 1000.0) as usize;
    let total = (gib * (1u64 << 30) as f64) as u64;
    let spill = tempfile::tempdir().expect("spill dir");

    let mut sorter = EntrySorter::new(1 << 40, budget, spill.path());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut key = Vec::with_capacity(64);
    let mut value = vec![0u8; value_len];
    let mut fed = 0u64;
    let mut n = 0u64;
    let t0 = Instant::now();
    while fed < total {
        key.clear();
        key.extend_from_slice(b"!redis|str|");
        // A unique suffix (the counter) after random bytes: random order,
        // no duplicates.
        key.extend_from_slice(&rng.next().to_be_bytes());
        key.extend_from_slice(&rng.next().to_be_bytes());
        key.extend_from_slice(&n.to_be_bytes());
        let fill = rng.next().to_le_bytes();
        for (i, b) in value.iter_mut().enumerate() {
            *b = fill[i & 7];
        }
        sorter.add(&key, &value).expect("add");
        fed += (key.len() + value.len()) as u64;
        n += 1;
    }
    let t_feed = t0.elapsed();
    let out = HashingWriter::new(io::sink());
    let (out, stats) = sorter.write_to(out).expect("write");
    let (_, sha, written) = out.finish();
    let t_all = t0.elapsed();
    let mib = fed as f64 / (1 << 20) as f64;
    println!(
        "sorted {n} entries, {mib:.0} MiB of keys+values, budget {} MiB: \
         {} spilled runs, feed {:.1}s, total {:.1}s, {:.0} MiB/s, \
         {written} bytes written (sha256 {}…), peak RSS {:.0} MiB",
        budget >> 20,
        stats.spilled_runs,
        t_feed.as_secs_f64(),
        t_all.as_secs_f64(),
        mib / t_all.as_secs_f64(),
        &hex::encode(sha)[..12],
        peak_rss_mib()
    );
}
