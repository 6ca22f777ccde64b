//! `reel job run` against real `reel orchestrator` and `reel gateway` processes: a job's
//! output and exit code come back; and an orchestrator in the middle of a job that would
//! run for minutes still exits within 5 s of SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reel_testkit::Wait;

use crate::proc_support::{Role, field, host_of};

/// An off-chain orchestrator selling compute, and a gateway that knows only it.
fn network(dir: &std::path::Path) -> (Role, String, Role, String) {
    let orch = Role::start(&[
        "orchestrator",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.join("o").to_str().unwrap(),
        "--transcode-in-child",
        "false",
        "--compute-price",
        "1",
    ]);
    let ob = orch.banner();
    assert!(
        field(&ob, "compute").starts_with("WebAssembly jobs at 1 wei/fuel"),
        "{ob:?}"
    );
    let service = field(&ob, "service");
    let ocli = host_of(&field(&ob, "status"));
    let gw = Role::start(&[
        "gateway",
        "--rtmp-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--orch-addr",
        &service,
        "--evidence-dir",
        dir.join("evidence").to_str().unwrap(),
    ]);
    let gb = gw.banner();
    let ghttp = format!("http://{}", host_of(&field(&gb, "play")));
    (orch, ocli, gw, ghttp)
}

fn module(dir: &std::path::Path, name: &str, body: &str) -> String {
    let wasm = wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "computed\n")
          (func (export "_start") {body}))"#
    ))
    .unwrap();
    let path = dir.join(name);
    std::fs::write(&path, wasm).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Jobs running on the orchestrator, from its `/status` (a plain HTTP/1.0 GET).
fn jobs_in_use(ocli: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(ocli) else {
        return 0;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(c, "GET /status HTTP/1.0\r\nHost: {ocli}\r\n\r\n");
    let mut resp = String::new();
    let _ = c.read_to_string(&mut resp);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["jobs"]
        .as_array()
        .map(|a| a.iter().filter_map(|j| j["inUse"].as_u64()).sum())
        .unwrap_or(0)
}

#[test]
fn job_run_returns_output_and_exit_code_and_a_busy_orchestrator_still_stops_within_5_s() {
    let dir = tempfile::tempdir().unwrap();
    let (mut orch, ocli, _gw, ghttp) = network(dir.path());

    let hello = module(
        dir.path(),
        "hello.wasm",
        "(i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 9))
         (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
         (call $proc_exit (i32.const 3))",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(["job", "run", &hello, "--gateway", &ghttp])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "computed\n", "{err}");
    assert_eq!(out.status.code(), Some(3), "the guest's exit code: {err}");
    assert!(err.contains("exited with code 3"), "{err}");

    // A file that is not WebAssembly is refused before anything is sent.
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(["job", "run", "Cargo.toml", "--gateway", &ghttp])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WebAssembly binary"));

    // A job with fuel and time for minutes, running when the orchestrator gets SIGTERM.
    let spin = module(dir.path(), "spin.wasm", "(loop $l (br $l))");
    let mut job = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "job",
            "run",
            &spin,
            "--max-fuel",
            "1000000000000",
            "--timeout",
            "600s",
            "--gateway",
            &ghttp,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Wait::new(
        "the job to run on the orchestrator",
        Duration::from_secs(20),
    )
    .every(Duration::from_millis(50))
    .until_blocking(|| (jobs_in_use(&ocli) == 1).then_some(()))
    .unwrap();
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(orch.child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = Wait::new("the orchestrator to exit", Duration::from_secs(15))
        .every(Duration::from_millis(20))
        .until_blocking(|| orch.child.try_wait().unwrap())
        .unwrap();
    let took = t0.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?} after SIGTERM"
    );
    // The client is told, not left waiting for ten minutes.
    let client = Wait::new("the client to give up", Duration::from_secs(30))
        .every(Duration::from_millis(50))
        .until_blocking(|| job.try_wait().unwrap())
        .unwrap();
    assert!(!client.success());
    let mut err = String::new();
    std::io::Read::read_to_string(job.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("the gateway refused the job"), "{err}");
}
