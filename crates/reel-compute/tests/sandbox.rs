//! The sandbox on real modules: WAT written here and C compiled with clang to WASI. Each
//! workload's output is checked against the same computation done natively.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reel_compute::job::{JobSpec, Outcome, WasmJob};
use reel_compute::{ComputeError, Limits, ModuleStore, Run, RunInput, Runtime, WasmWorker};
use reel_testkit::compute;

const SEED: [u8; 32] = [7; 32];

fn limits() -> Limits {
    Limits {
        fuel: 50_000_000,
        memory_bytes: 16 << 20,
        timeout: Duration::from_secs(10),
        output_bytes: 1 << 20,
    }
}

fn run_with(rt: &Runtime, wasm: &[u8], stdin: &[u8], args: &[&str], limits: Limits) -> Run {
    let m = rt.compile(wasm).unwrap();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    rt.run(
        &m,
        &RunInput {
            stdin: Bytes::copy_from_slice(stdin),
            args: &args,
            env: &[("GREETING".into(), "hi".into())],
            seed: SEED,
            limits,
        },
    )
    .unwrap()
}

fn run(wasm: &[u8], stdin: &[u8], args: &[&str]) -> Run {
    run_with(&Runtime::new(8).unwrap(), wasm, stdin, args, limits())
}

/// A WASI command whose `_start` is `body`, with `fd_write`, `fd_read`, `proc_exit`,
/// `random_get`, `clock_time_get` and `path_open` imported, one page of memory and a
/// `print(ptr, len)` helper.
fn wat(body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
          (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "hello from wasm\n")
          (func $print (param $ptr i32) (param $len i32)
            (i32.store (i32.const 0) (local.get $ptr))
            (i32.store (i32.const 4) (local.get $len))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "_start") {body}))"#
    ))
    .unwrap()
}

#[test]
fn a_module_writes_stdout_and_echoes_stdin() {
    let r = run(
        &wat("(call $print (i32.const 64) (i32.const 16))"),
        b"",
        &[],
    );
    assert_eq!(r.outcome, Outcome::Exited { code: 0 });
    assert_eq!(r.stdout, Bytes::from_static(b"hello from wasm\n"));
    assert!(r.fuel_used > 0 && r.fuel_used < 1000, "{}", r.fuel_used);

    // Read up to 1,000 bytes of stdin into 1024.. and write them back.
    let echo = wat(
        "(i32.store (i32.const 16) (i32.const 1024)) (i32.store (i32.const 20) (i32.const 1000))
         (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
         (call $print (i32.const 1024) (i32.load (i32.const 24)))",
    );
    let r = run(&echo, b"stdin bytes", &[]);
    assert_eq!(r.stdout, Bytes::from_static(b"stdin bytes"));
}

#[test]
fn exit_codes_traps_and_fuel_are_outcomes_not_errors() {
    let r = run(&wat("(call $proc_exit (i32.const 3))"), b"", &[]);
    assert_eq!(r.outcome, Outcome::Exited { code: 3 });

    let r = run(&wat("unreachable"), b"", &[]);
    assert!(
        matches!(&r.outcome, Outcome::Trapped { message } if message.contains("unreachable")),
        "{:?}",
        r.outcome
    );

    // An infinite loop burns exactly the fuel it bought.
    let spin = wat("(loop $l (br $l))");
    let r = run(&spin, b"", &[]);
    assert_eq!(r.outcome, Outcome::OutOfFuel);
    assert_eq!(r.fuel_used, limits().fuel);

    // With fuel for hours, the deadline stops it.
    let rt = Runtime::new(8).unwrap();
    let t0 = std::time::Instant::now();
    let r = run_with(
        &rt,
        &spin,
        b"",
        &[],
        Limits {
            fuel: u64::MAX / 2,
            timeout: Duration::from_millis(200),
            ..limits()
        },
    );
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stopped near its deadline"
    );
    // A guest that waits in the host (poll_oneoff on a 60 s relative clock) is stopped too:
    // the deadline is a timer, not only a count of instructions.
    let sleeper = wat::parse_str(
        r#"(module
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            ;; subscription at 0: userdata 0, tag clock (0), clock id monotonic (1),
            ;; timeout 60 s, precision 0, flags 0 (relative)
            (i32.store8 (i32.const 8) (i32.const 0))
            (i32.store (i32.const 16) (i32.const 1))
            (i64.store (i32.const 24) (i64.const 60000000000))
            (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))))"#,
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let r = run_with(
        &rt,
        &sleeper,
        b"",
        &[],
        Limits {
            timeout: Duration::from_millis(200),
            ..limits()
        },
    );
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // The runtime is still good for the next job.
    let r = run_with(
        &rt,
        &wat("(call $print (i32.const 64) (i32.const 5))"),
        b"",
        &[],
        limits(),
    );
    assert_eq!(r.stdout, Bytes::from_static(b"hello"));
}

#[test]
fn memory_and_output_bombs_stop_at_their_limits() {
    // Grow by 64 MiB at a time until refused, then trap as a C program's abort would.
    let bomb = wat(
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1024)) (i32.const -1)))) unreachable",
    );
    let r = run(&bomb, b"", &[]);
    assert_eq!(r.outcome, Outcome::MemoryLimit);

    // Print forever: the output is cut at its limit and the run says so.
    let flood = wat("(loop $l (call $print (i32.const 64) (i32.const 16)) (br $l))");
    let rt = Runtime::new(8).unwrap();
    let r = run_with(
        &rt,
        &flood,
        b"",
        &[],
        Limits {
            output_bytes: 1000,
            ..limits()
        },
    );
    assert_eq!(r.outcome, Outcome::OutputLimit);
    assert_eq!(r.stdout.len(), 1000);
}

#[test]
fn bad_modules_are_refused_before_running() {
    let rt = Runtime::new(8).unwrap();
    let e = rt.compile(b"\0asm\x01\0\0\0garbage").unwrap_err();
    assert!(matches!(e, ComputeError::InvalidModule(_)), "{e}");
    let e = rt
        .compile(
            &wat::parse_str(r#"(module (import "env" "socket" (func)) (func (export "_start")))"#)
                .unwrap(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("`env::socket`"), "{e}");
    let e = rt
        .compile(&wat::parse_str(r#"(module (import "wasi_snapshot_preview1" "no_such_call" (func)) (func (export "_start")))"#).unwrap())
        .unwrap_err();
    assert!(matches!(e, ComputeError::MissingImport(_)), "{e}");
    let e = rt
        .compile(&wat::parse_str("(module (func (export \"main\")))").unwrap())
        .unwrap_err();
    assert!(matches!(e, ComputeError::NoStart), "{e}");
}

#[test]
fn randomness_and_clocks_depend_on_the_seed_only() {
    // 16 random bytes, then the clock twice, all printed raw.
    let m = wat("(drop (call $random_get (i32.const 128) (i32.const 16)))
         (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 144)))
         (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 152)))
         (call $print (i32.const 128) (i32.const 32))");
    let a = run(&m, b"", &[]);
    let b = run(&m, b"", &[]);
    assert_eq!(a.stdout, b.stdout, "same seed, same bytes");
    assert_eq!(a.fuel_used, b.fuel_used);
    let realtime = u64::from_le_bytes(a.stdout[16..24].try_into().unwrap());
    assert_eq!(
        realtime,
        1_767_225_600 * 1_000_000_000,
        "the virtual clock's start"
    );
    let rt = Runtime::new(8).unwrap();
    let compiled = rt.compile(&m).unwrap();
    let other = rt
        .run(
            &compiled,
            &RunInput {
                stdin: Bytes::new(),
                args: &[],
                env: &[],
                seed: [8; 32],
                limits: limits(),
            },
        )
        .unwrap();
    assert_ne!(
        other.stdout[..16],
        a.stdout[..16],
        "another seed, other bytes"
    );
}

#[test]
fn there_is_no_filesystem() {
    // path_open on fd 3 (a preopened dir, if there were one) fails with EBADF (8).
    let m = wat(
        "(call $proc_exit (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 4)
            (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 256)))",
    );
    let r = run(&m, b"", &[]);
    assert_eq!(r.outcome, Outcome::Exited { code: 8 });
}

#[test]
fn compiled_modules_are_cached_by_hash() {
    let rt = Runtime::new(1).unwrap();
    let a = wat("(call $print (i32.const 64) (i32.const 1))");
    let b = wat("(call $print (i32.const 64) (i32.const 2))");
    rt.compile(&a).unwrap();
    rt.compile(&a).unwrap();
    assert_eq!((rt.stats().compiled, rt.stats().hits), (1, 1));
    rt.compile(&b).unwrap();
    rt.compile(&a).unwrap();
    assert_eq!(rt.stats().compiled, 3, "a cache of one keeps only the last");
}

#[test]
fn c_workloads_match_the_same_computation_done_natively() {
    let wasm = compute::workloads_wasm();
    let big = Limits {
        fuel: 2_000_000_000,
        memory_bytes: 64 << 20,
        ..limits()
    };
    let rt = Runtime::new(8).unwrap();
    let input: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = run_with(&rt, wasm, &input, &["hash"], big);
    assert_eq!(
        r.outcome,
        Outcome::Exited { code: 0 },
        "{:?}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        format!("{:016x}\n", compute::fnv1a(&input))
    );

    let (w, h) = (160, 90);
    let img: Vec<u8> = (0..w * h).map(|i| ((i * 37) % 251) as u8).collect();
    let r = run_with(&rt, wasm, &img, &["blur", "160", "90"], big);
    assert_eq!(r.outcome, Outcome::Exited { code: 0 });
    assert_eq!(r.stdout.as_ref(), compute::box_blur(&img, w, h).as_slice());

    let r = run_with(&rt, wasm, b"", &["sieve", "200000"], big);
    assert_eq!(
        r.outcome,
        Outcome::Exited { code: 0 },
        "{:?}",
        String::from_utf8_lossy(&r.stderr)
    );
    let (count, last) = compute::primes_below(200_000);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        format!("{count} {last}\n")
    );

    // A bad call is the program's own error, with its stderr.
    let r = run_with(&rt, wasm, b"abc", &["blur", "2", "2"], big);
    assert_eq!(r.outcome, Outcome::Exited { code: 2 });
    assert!(String::from_utf8_lossy(&r.stderr).contains("want 2 x 2 bytes, got 3"));
    // C's malloc sees the memory limit as NULL, and this program says so and exits.
    let r = run_with(
        &rt,
        wasm,
        b"",
        &["sieve", "100000000"],
        Limits {
            memory_bytes: 8 << 20,
            ..big
        },
    );
    assert_eq!(r.outcome, Outcome::Exited { code: 2 });
}

#[test]
fn shutdown_stops_a_running_guest_within_milliseconds_and_refuses_new_ones() {
    let rt = Runtime::new(8).unwrap();
    let spin = rt.compile(&wat("(loop $l (br $l))")).unwrap();
    // The runner says when it calls `run`: on a loaded machine the thread may start late,
    // and the 300 ms must count from the call, not from the spawn.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let runner = {
        let (rt, spin) = (rt.clone(), spin.clone());
        std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            let _ = started_tx.send(());
            let r = rt.run(
                &spin,
                &RunInput {
                    stdin: Bytes::new(),
                    args: &[],
                    env: &[],
                    seed: SEED,
                    limits: Limits {
                        fuel: u64::MAX / 2,
                        timeout: Duration::from_secs(600),
                        ..limits()
                    },
                },
            );
            (r, t0.elapsed())
        })
    };
    started_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    rt.shutdown();
    let (r, ran) = runner.join().unwrap();
    assert!(matches!(r, Err(ComputeError::ShuttingDown)), "{r:?}");
    assert!(ran >= Duration::from_millis(300), "it was running: {ran:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "stopped in {:?}",
        t0.elapsed()
    );
    let again = rt.run(
        &spin,
        &RunInput {
            stdin: Bytes::new(),
            args: &[],
            env: &[],
            seed: SEED,
            limits: limits(),
        },
    );
    assert!(matches!(again, Err(ComputeError::ShuttingDown)));
}

#[tokio::test]
async fn a_run_from_inside_an_async_runtime_works_too() {
    // No nested block_on panic: the sandbox moves to a thread of its own.
    let r = run(&wat("(call $print (i32.const 64) (i32.const 5))"), b"", &[]);
    assert_eq!(r.stdout, Bytes::from_static(b"hello"));
}

#[tokio::test]
async fn the_worker_runs_a_job_by_hash_once_its_module_is_stored() {
    use reel_jobs::{JobError, JobWorker};
    let store = Arc::new(ModuleStore::new(64 << 20));
    let worker = WasmWorker::new(Runtime::new(8).unwrap(), Arc::clone(&store));
    let module = Bytes::from(wat("(call $print (i32.const 64) (i32.const 16))"));
    let spec = JobSpec {
        module: String::new(),
        module_len: 0,
        input_len: 0,
        args: vec![],
        env: vec![],
        max_fuel: 1_000_000,
        max_memory_mib: 16,
        timeout_ms: 5_000,
        max_output_bytes: 1024,
        seed: "11".repeat(32),
    };
    let job = WasmJob::new(module.clone(), Bytes::new(), spec);
    let lean = reel_jobs::JobRequest::new(reel_compute::job::CONTENT_TYPE, job.by_hash().encode());
    let e = worker.run("", lean.clone()).await.unwrap_err();
    assert!(matches!(e, JobError::MissingContent(_)), "{e}");
    store
        .put(reel_compute::job::sha256(&module), module.clone())
        .unwrap();
    let out = worker.run("", lean).await.unwrap();
    let r = reel_compute::job::WasmResult::decode(&out.body).unwrap();
    assert_eq!(r.output, Bytes::from_static(b"hello from wasm\n"));
    assert_eq!(r.receipt.request, job.request_hash());
    assert_eq!(
        out.units,
        r.receipt.fuel_used + reel_compute::job::io_units(16),
        "fuel plus 16 bytes of output"
    );
}
