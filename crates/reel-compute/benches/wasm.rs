//! The sandbox against native code: the same C (`crates/reel-testkit/guests/workloads.c`) compiled with
//! `clang --target=wasm32-wasi -O2` and run in reel's runtime, and compiled with `cc -O2`
//! and run as a process; and a module's first run (compiled) against a cached one.
//!
//!     cargo bench -p reel-compute --bench wasm
//!
//! Each figure is the median of several runs. The native times include spawning the
//! process (about a millisecond); the WebAssembly times include instantiating the module
//! and its WASI context. Prints a Markdown table.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reel_compute::job::Outcome;
use reel_compute::{Limits, RunInput, Runtime};
use reel_testkit::compute;

const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn native(bin: &std::path::Path, args: &[&str], input: &[u8]) -> (Duration, Vec<u8>) {
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    (t0.elapsed(), out.stdout)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wasm, bin) = (
        compute::workloads_wasm().to_vec(),
        compute::workloads_native(dir.path()),
    );
    let limits = Limits {
        fuel: 1_000_000_000_000,
        memory_bytes: 512 << 20,
        timeout: Duration::from_secs(120),
        output_bytes: 64 << 20,
    };
    let hash_in: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let (w, h) = (1920usize, 1080usize);
    let img: Vec<u8> = (0..w * h).map(|i| ((i * 31) % 253) as u8).collect();
    let workloads: [(&str, Vec<&str>, &[u8]); 3] = [
        ("hash 64 MiB (FNV-1a)", vec!["hash"], &hash_in),
        (
            "blur 1920x1080 (3x3 box)",
            vec!["blur", "1920", "1080"],
            &img,
        ),
        ("sieve below 50,000,000", vec!["sieve", "50000000"], b""),
    ];

    // First run against cached: a fresh runtime each time for the first. Both compile (or
    // find in the cache) and run a small sieve.
    let small_sieve = |rt: &Runtime| {
        let t0 = Instant::now();
        let m = rt.compile(&wasm).expect("compile");
        let r = rt
            .run(
                &m,
                &RunInput {
                    stdin: Bytes::new(),
                    args: &["sieve".into(), "1000".into()],
                    env: &[],
                    seed: [0; 32],
                    limits,
                },
            )
            .expect("run");
        assert_eq!(r.outcome, Outcome::Exited { code: 0 });
        t0.elapsed()
    };
    let first: Vec<Duration> = (0..3)
        .map(|_| small_sieve(&Runtime::new(4).expect("runtime")))
        .collect();
    let rt = Runtime::new(4).expect("runtime");
    let m = rt.compile(&wasm).expect("compile");
    let cached: Vec<Duration> = (0..RUNS).map(|_| small_sieve(&rt)).collect();
    let (first, cached) = (median(first), median(cached));

    println!("| workload | native -O2 | WebAssembly (reel) | ratio | fuel |");
    println!("|---|---|---|---|---|");
    for (name, args, input) in &workloads {
        let args_s: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut nt = Vec::new();
        let mut wt = Vec::new();
        let mut fuel = 0;
        for _ in 0..RUNS {
            let (t, out_n) = native(&bin, args, input);
            nt.push(t);
            let t0 = Instant::now();
            let r = rt
                .run(
                    &m,
                    &RunInput {
                        stdin: Bytes::copy_from_slice(input),
                        args: &args_s,
                        env: &[],
                        seed: [0; 32],
                        limits,
                    },
                )
                .expect("run");
            wt.push(t0.elapsed());
            assert_eq!(r.outcome, Outcome::Exited { code: 0 }, "{name}");
            assert_eq!(r.stdout.as_ref(), out_n.as_slice(), "{name}: same output");
            fuel = r.fuel_used;
        }
        let (n, wv) = (median(nt), median(wt));
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2}x | {fuel} |",
            n.as_secs_f64() * 1e3,
            wv.as_secs_f64() * 1e3,
            wv.as_secs_f64() / n.as_secs_f64()
        );
    }
    println!();
    println!(
        "module of {} KiB: first run (compile + run) {:.1} ms, cached run {:.2} ms ({:.0}x)",
        wasm.len() / 1024,
        first.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3,
        first.as_secs_f64() / cached.as_secs_f64()
    );
}
