//! `reel orchestrator`, `reel transcoder` and `reel gateway` as separate processes on
//! loopback, off-chain: a segment whose transcoder is killed mid-work is redone and charged
//! once; a wrong secret stops a transcoder with a clear error; config files and
//! `--dump-config`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reel_testkit::media::Clip;
use reel_testkit::metrics::metric_or_zero;
use reel_testkit::{Wait, wait_until_blocking};

use crate::proc_support::{Role, field, host_of};

fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
}

fn json(addr: &str, path: &str) -> serde_json::Value {
    let (st, body) = http(addr, "GET", path, b"");
    assert_eq!(st, 200);
    serde_json::from_slice(&body).unwrap()
}

/// A sample of the `/metrics` at `addr`; one the node does not show yet is 0.
fn metric(addr: &str, name: &str) -> f64 {
    let (_, body) = http(addr, "GET", "/metrics", b"");
    metric_or_zero(&String::from_utf8_lossy(&body), name)
}

#[test]
fn a_transcoder_killed_mid_segment_costs_a_retry_not_a_double_charge() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "kill-test-secret";
    let orch = Role::start(&[
        "orchestrator",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("o").to_str().unwrap(),
        "--orch-secret",
        secret,
        // The redo runs in this process, the fallback when no worker processes run.
        "--transcode-in-child=false",
        "--preset",
        "ultrafast",
        "--threads",
        "1",
    ]);
    let ob = orch.banner();
    let service = field(&ob, "service");
    let ocli = host_of(&field(&ob, "status"));
    // A deliberately slow transcoder, so that it is surely mid-task when killed.
    let mut t = Role::start(&[
        "transcoder",
        "--orch-addr",
        &service,
        "--orch-secret",
        secret,
        "--cli-addr",
        "127.0.0.1:0",
        "--preset",
        "veryslow",
        "--threads",
        "1",
    ]);
    t.banner();
    wait_until_blocking(
        "the transcoder to register",
        Duration::from_secs(20),
        || {
            let st = json(&ocli, "/status");
            (!st["transcoders"].as_array().unwrap().is_empty()).then_some(())
        },
    )
    .expect("the transcoder did not register");
    let gw = gateway(&service);
    let gb = gw.banner();
    let ghttp = host_of(&field(&gb, "play"));
    let gcli = host_of(&field(&gb, "status"));

    // Two 2-second segments.
    let seg = segments(dir.path(), "s", 2);

    // Segment 0: done by the transcoder.
    let (st, body) = http(&ghttp, "PUT", "/live/killme/0.ts", &seg[0]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        metric(
            &ocli,
            "reel_segments_by_worker_total{worker=\"transcoder-1\"}"
        ),
        1.0
    );

    // Segment 1: kill -9 the transcoder while it works on it.
    let ghttp2 = ghttp.clone();
    let s1 = seg[1].clone();
    let push = std::thread::spawn(move || http(&ghttp2, "PUT", "/live/killme/1.ts", &s1));
    Wait::new("the task to reach the transcoder", Duration::from_secs(20))
        .every(Duration::from_millis(5))
        .until_ok_blocking(|| {
            let st = json(&ocli, "/status");
            match st["transcoders"][0]["in_flight"] == 1 {
                true => Ok(()),
                false => Err(st),
            }
        })
        .expect("the task never reached the transcoder");
    t.kill();
    let (st, body) = push.join().unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));

    // Redone here, once; the gateway saw one success per segment and no failure.
    assert_eq!(
        metric(&ocli, "reel_segments_by_worker_total{worker=\"local\"}"),
        1.0
    );
    assert_eq!(metric(&ocli, "livepeer_segment_transcoded_total"), 2.0);
    assert_eq!(metric(&gcli, "livepeer_segment_transcoded_total"), 2.0);
    assert_eq!(
        metric(&gcli, "livepeer_segment_transcode_failed_total"),
        0.0
    );
    // Charged once per segment: 2 × 60 frames × 426×240.
    let o = json(&ocli, "/status");
    let sessions = o["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{o}");
    assert_eq!(sessions[0]["segments"], 2);
    assert_eq!(sessions[0]["charged_pixels"], 2 * 60 * 426 * 240);
    assert!(
        o["transcoders"].as_array().unwrap().is_empty(),
        "the dead transcoder is gone"
    );
    // The playlist holds both segments.
    let (st, pl) = http(&ghttp, "GET", "/stream/killme/P240p30fps16x9.m3u8", b"");
    assert_eq!(st, 200);
    let pl = String::from_utf8_lossy(&pl);
    assert_eq!(pl.matches("#EXTINF").count(), 2, "{pl}");
}

#[test]
fn a_wrong_secret_stops_the_transcoder_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let orch = Role::start(&[
        "orchestrator",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--orch-secret",
        "the-real-secret",
    ]);
    let service = field(&orch.banner(), "service");
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "transcoder",
            "--orch-addr",
            &service,
            "--orch-secret",
            "a-wrong-secret",
        ])
        .args(["--cli-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Never hang the suite: a transcoder that keeps retrying is killed and fails the test.
    let left = Duration::from_secs(15).saturating_sub(t0.elapsed());
    let status =
        match wait_until_blocking("the transcoder to stop", left, || child.try_wait().unwrap()) {
            Ok(st) => st,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("retried instead of stopping");
            }
        };
    assert!(!status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid secret") && err.contains("--orch-secret"),
        "{err}"
    );
}

#[test]
fn config_file_env_and_flags_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("gw.conf");
    std::fs::write(
        &conf,
        "# go-livepeer style\nmaxAttempts 5\ntranscodingOptions P144p30fps16x9\nselectRandFreq 0.5\nlocalVerify false\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "gateway",
            "--config",
            conf.to_str().unwrap(),
            "--max-attempts",
            "2",
            "--dump-config",
        ])
        .args(["--orch-addr", "https://127.0.0.1:9"])
        .env("REEL_TRANSCODING_OPTIONS", "P240p30fps16x9")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["maxAttempts"], 2, "the flag wins over the file");
    assert_eq!(
        v["transcodingOptions"][0], "P240p30fps16x9",
        "the environment wins over the file"
    );
    assert_eq!(v["selectRandFreq"], 0.5, "the file wins over the default");
    assert_eq!(v["localVerify"], false);
    // A typo in the file is an error naming the line.
    std::fs::write(&conf, "maxAttemps 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "gateway",
            "--config",
            conf.to_str().unwrap(),
            "--dump-config",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gw.conf:1: unknown setting \"maxAttemps\"")
    );
}

/// The demo plays within 20 s; its keepers call reward every round without a single failed
/// tick (no "nonce too low": the keeper and the redeemer of an orchestrator share one
/// sender); the `reel job run` example it prints works against it; SIGTERM after 30 s ends
/// it within 5 s.
#[test]
fn the_demo_runs_the_whole_network_and_plays_within_20_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "devnet",
            "--demo",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    // stdout line by line, so the compute example can be run while the demo is up.
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        use std::io::BufRead;
        let out = child.stdout.take().unwrap();
        let lines = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        })
    };
    let err_reader = {
        use std::io::Read;
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        })
    };
    let started = Instant::now();
    // The demo prints a `reel job run` command that works against it: run it.
    let example = loop {
        let found = lines.lock().unwrap().iter().find_map(|l| {
            l.trim_start()
                .strip_prefix("run one    reel job run ")
                .map(str::to_owned)
        });
        if let Some(cmd) = found {
            break cmd;
        }
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "no compute example: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let args: Vec<&str> = example.split_whitespace().collect();
    let job = Command::new(env!("CARGO_BIN_EXE_reel"))
        .arg("job")
        .arg("run")
        .args(&args)
        .output()
        .unwrap();
    let job_err = String::from_utf8_lossy(&job.stderr);
    assert!(job.status.success(), "reel job run {example}: {job_err}");
    assert_eq!(
        String::from_utf8_lossy(&job.stdout),
        "hello from WebAssembly, you\n",
        "{job_err}"
    );
    assert!(job_err.contains("exited with code 0"), "{job_err}");
    std::thread::sleep(Duration::from_secs(30).saturating_sub(started.elapsed()));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let t0 = Instant::now();
    let status = child.wait().unwrap();
    let exit = t0.elapsed();
    reader.join().unwrap();
    let stdout = lines.lock().unwrap().join("\n");
    let stderr = err_reader.join().unwrap();
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        exit < Duration::from_secs(5),
        "exit took {exit:?} after SIGTERM"
    );
    for bad in ["keeper tick failed", "nonce too low", "panicked"] {
        assert!(!stderr.contains(bad), "{bad}: {stderr}");
    }
    let first: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("first segment playable "))
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no first segment: {stdout}"));
    assert!(first < 20.0, "first playable segment after {first} s");
    // Three orchestrators with their terms, one on a remote transcoder, two delegators.
    for needle in [
        "O1 ",
        "O2 ",
        "O3 ",
        "remote transcoder",
        "D1 ",
        "D2 ",
        "stopping: SIGTERM",
        "O1 and O3 sell WebAssembly jobs",
        "a first job said \"hello from WebAssembly, devnet\"",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    // Segments of every stream, each with who served it and why.
    for s in ["demo-a #", "demo-b #", "demo-c #"] {
        let served = stdout
            .lines()
            .filter(|l| l.starts_with(s) && l.contains(" → O"))
            .count();
        assert!(served >= 5, "{s}: {stdout}");
    }
    assert!(
        stdout.contains("drawn by stake/price/random weights"),
        "{stdout}"
    );
    // At least one round report with rewards.
    let report = stdout
        .split("── round")
        .nth(1)
        .unwrap_or_else(|| panic!("no round report: {stdout}"));
    assert!(
        report.contains("tickets received") && report.contains("reward called in round"),
        "{report}"
    );
}

/// An orchestrator process killed with winning tickets in its database redeems them after
/// it restarts, also though the gateway that paid never comes back to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_orchestrator_redeems_its_tickets_after_restart() {
    use alloy::providers::Provider;
    use reel_chain::{ChainConfig, Devnet, DevnetOptions, Protocol};
    use reel_types::{Lpt, Wei};

    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(DevnetOptions {
        data_dir: dir.path().join("chain"),
        host: std::net::Ipv4Addr::LOCALHOST.into(),
        port: None,
        chain_id: 31337,
        accounts: 4,
        block_time: 0,
        reset: false,
        eth_per_account: Wei::from_whole(10),
        lpt_per_account: Lpt::from_whole(1000),
        // Long rounds: blocks are mined by hand here.
        protocol: reel_contracts::ProtocolParams {
            round_length: 100,
            ..DevnetOptions::devnet_protocol()
        },
    })
    .await
    .unwrap();
    let f = devnet.file().clone();
    let devnet_file = devnet.file_path();
    let config = ChainConfig {
        rpc_url: f.rpc_url.clone(),
        chain_id: f.chain_id,
        controller: f.contracts.controller,
    };
    let key = |i: usize| {
        alloy::signers::local::PrivateKeySigner::from_bytes(&f.accounts[i].private_key).unwrap()
    };
    let orch_p = Protocol::connect(&config, Some(key(1))).await.unwrap();
    // Rounds are initialised from another account than the orchestrator's, whose nonces
    // its own redemptions use.
    let keeper_p = Protocol::connect(&config, Some(key(2))).await.unwrap();
    let mine = |n: u64| {
        let p = keeper_p.clone();
        async move {
            p.provider()
                .raw_request::<_, ()>("anvil_mine".into(), (n,))
                .await
                .unwrap();
            p.ensure_round_initialized().await.unwrap();
        }
    };
    let next_round = || {
        let p = keeper_p.clone();
        async move {
            let s = p.round_status().await.unwrap();
            p.provider()
                .raw_request::<_, ()>("anvil_mine".into(), (s.start_block + s.length - s.block,))
                .await
                .unwrap();
            p.ensure_round_initialized().await.unwrap();
        }
    };
    next_round().await;
    orch_p
        .bond(Lpt::from_whole(500), orch_p.from().unwrap())
        .await
        .unwrap();
    orch_p
        .set_transcoder("10".parse().unwrap(), "100".parse().unwrap())
        .await
        .unwrap();
    next_round().await;
    let gw_p = Protocol::connect(&config, Some(key(3))).await.unwrap();
    gw_p.fund_deposit_and_reserve(Wei::from_whole(1), Wei::from_whole(1))
        .await
        .unwrap();

    // Face value = EV: every ticket wins.
    let ev = "10000000000000000";
    let odir = dir.path().join("orch");
    let devnet_arg = devnet_file.to_str().unwrap().to_owned();
    // One port for both runs: the registered service URI stays right, and the restart sends
    // no transaction that could race the redemptions for the account's nonce.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http_addr = format!("127.0.0.1:{port}");
    let orch_args = |dd: &Path| -> Vec<String> {
        [
            "orchestrator",
            "--network",
            "onchain",
            "--devnet",
            &devnet_arg,
            "--account",
            "1",
            "--http-addr",
            &http_addr,
            "--cli-addr",
            "127.0.0.1:0",
            "--data-dir",
            dd.to_str().unwrap(),
            "--price-per-unit",
            "1",
            "--ticket-ev",
            ev,
            "--max-face-value",
            ev,
            "--preset",
            "ultrafast",
            "--threads",
            "1",
            "--no-reward",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let args: Vec<String> = orch_args(&odir);
    let mut orch = Role::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ob = orch.banner();
    let ocli = host_of(&field(&ob, "status"));
    let gw = Role::start(&[
        "gateway",
        "--network",
        "onchain",
        "--devnet",
        &devnet_arg,
        "--account",
        "3",
        "--rtmp-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--transcoding-options",
        "P144p30fps16x9",
        "--max-ticket-ev",
        ev,
        "--max-total-ev",
        "100000000000000000",
    ]);
    let gb = gw.banner();
    let ghttp = host_of(&field(&gb, "play"));

    for (i, ts) in test_pattern_segments(dir.path(), "s", (320, 180), 1, 3)
        .into_iter()
        .enumerate()
    {
        let addr = ghttp.clone();
        let (st, body) = tokio::task::spawn_blocking(move || {
            http(&addr, "PUT", &format!("/live/k/{i}.ts"), &ts)
        })
        .await
        .unwrap();
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    }
    // Tickets top the session's credit up to one EV: the first segments bring one each,
    // later ones ride on the credit. Every ticket sent is a winner in the database.
    let stored = json(&ocli, "/status")["payments"]["winningTickets"].clone();
    let gcli = host_of(&field(&gb, "status"));
    let sent = metric(&gcli, "livepeer_tickets_sent") as u64;
    assert!(sent >= 2, "{sent}");
    assert_eq!(metric(&ocli, "livepeer_tickets_recv") as u64, sent);
    assert_eq!(stored["pending"], sent, "{stored}");

    // kill -9, then the params expire while it is down; the gateway is gone too.
    orch.kill();
    drop(gw);
    mine(50).await;
    let orch2 = Role::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ocli = host_of(&field(&orch2.banner(), "status"));
    // A block per poll keeps the redeemer ticking.
    Wait::new("every ticket to be redeemed", Duration::from_secs(60))
        .every(Duration::from_millis(500))
        .until_ok(async || {
            let w = json(&ocli, "/status")["payments"]["winningTickets"].clone();
            if w["redeemed"] == sent {
                return Ok(());
            }
            mine(1).await;
            Err(w)
        })
        .await
        .expect("not redeemed");
    // The orchestrator has no delegators and keeps every fee; the fee factor rounds down
    // by at most a wei per ticket. The gateway's deposit paid exactly the face values.
    let me = orch_p.from().unwrap();
    let fees = orch_p
        .delegator(me)
        .await
        .unwrap()
        .pending_fees
        .base_units();
    let paid = alloy::primitives::U256::from(sent)
        * alloy::primitives::U256::from(10u64).pow(alloy::primitives::U256::from(16u64));
    assert!(
        fees <= paid && paid - fees <= alloy::primitives::U256::from(3u64),
        "{fees}"
    );
    let st = gw_p.sender_status(gw_p.from().unwrap()).await.unwrap();
    assert_eq!(
        st.deposit.base_units(),
        alloy::primitives::U256::from(10u64).pow(alloy::primitives::U256::from(18u64)) - paid
    );
    drop(orch2);
    devnet.shutdown().await.unwrap();
}

/// The pids whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// Waits until the orchestrator has `n` worker processes registered.
fn wait_for_workers(ocli: &str, n: usize) {
    Wait::new(format!("{n} workers"), Duration::from_secs(20))
        .every(Duration::from_millis(20))
        .until_ok_blocking(|| {
            let st = json(ocli, "/status");
            let workers = st["transcoders"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["worker"] == true)
                .count();
            match workers == n {
                true => Ok(()),
                false => Err(st),
            }
        })
        .unwrap_or_else(|e| panic!("workers never became {n}: {e}"));
}

/// `count` 2-second segments of a 640×360 test pattern, as `<dir>/<name><i>.ts`.
fn segments(dir: &Path, name: &str, count: usize) -> Vec<Vec<u8>> {
    test_pattern_segments(dir, name, (640, 360), 2, count)
}

/// `count` segments of `secs` seconds of a 30 fps test pattern (no audio) of `size`, a
/// keyframe at each segment start, as `<dir>/<name><i>.ts`.
fn test_pattern_segments(
    dir: &Path,
    name: &str,
    (w, h): (u32, u32),
    secs: u32,
    count: usize,
) -> Vec<Vec<u8>> {
    Clip::new(w, h, f64::from(secs) * count as f64)
        .gop(30 * secs)
        .without_audio()
        .write_segments(dir, name, secs)
        .unwrap();
    (0..count)
        .map(|i| std::fs::read(dir.join(format!("{name}{i}.ts"))).unwrap())
        .collect()
}

/// An orchestrator transcoding in worker processes, its worker registered, and a gateway
/// that knows only it.
struct InChild {
    orch: Role,
    /// The orchestrator's service URL and CLI address.
    service: String,
    ocli: String,
    /// The gateway's HTTP and CLI addresses.
    ghttp: String,
    gcli: String,
    _gw: Role,
}

impl InChild {
    /// The orchestrator in `<dir>/o` on x264 `preset`, with `env` (test-only faults).
    fn start(dir: &Path, preset: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reel"));
        cmd.args([
            "orchestrator",
            "--http-addr",
            "127.0.0.1:0",
            "--cli-addr",
            "127.0.0.1:0",
            "--data-dir",
            dir.join("o").to_str().unwrap(),
            "--transcode-in-child",
            "true",
            "--preset",
            preset,
            "--threads",
            "1",
        ])
        .envs(env.iter().copied());
        let orch = Role::spawn(cmd);
        let ob = orch.banner();
        let service = field(&ob, "service");
        let ocli = host_of(&field(&ob, "status"));
        wait_for_workers(&ocli, 1);
        let gw = gateway(&service);
        let gb = gw.banner();
        Self {
            orch,
            service,
            ocli,
            ghttp: host_of(&field(&gb, "play")),
            gcli: host_of(&field(&gb, "status")),
            _gw: gw,
        }
    }
}

fn gateway(orchs: &str) -> Role {
    Role::start(&[
        "gateway",
        "--rtmp-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--orch-addr",
        orchs,
        "--transcoding-options",
        "P240p30fps16x9",
    ])
}

/// Σ pixels charged over the orchestrator's sessions.
fn charged(ocli: &str) -> u64 {
    json(ocli, "/status")["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["charged_pixels"].as_u64().unwrap())
        .sum()
}

/// Poison streams (see docs/faults.md#poison-streams): a worker process killed (SIGSEGV)
/// mid-segment costs that segment, not the orchestrator; the worker is restarted and the next
/// segment transcodes; the failed segment is not charged.
#[test]
fn a_worker_crash_mid_segment_costs_that_segment_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A slow preset, so that the worker is surely mid-task when it is killed.
    let mut net = InChild::start(dir.path(), "veryslow", &[]);
    let seg = segments(dir.path(), "s", 3);

    let (st, body) = http(&net.ghttp, "PUT", "/live/crash/0.ts", &seg[0]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        metric(
            &net.ocli,
            "reel_segments_by_worker_total{worker=\"worker-1\"}"
        ),
        1.0
    );

    // Segment 1: SIGSEGV to the worker while it transcodes.
    let ghttp2 = net.ghttp.clone();
    let s1 = seg[1].clone();
    let push = std::thread::spawn(move || http(&ghttp2, "PUT", "/live/crash/1.ts", &s1));
    Wait::new("a task in flight", Duration::from_secs(20))
        .every(Duration::from_millis(5))
        .until_ok_blocking(|| {
            let st = json(&net.ocli, "/status");
            match st["transcoders"][0]["in_flight"] == 1 {
                true => Ok(()),
                false => Err(st),
            }
        })
        .expect("no task in flight");
    let workers = children_of(net.orch.child.id());
    assert_eq!(workers.len(), 1, "one worker process: {workers:?}");
    // Twice: Rust's runtime catches a SIGSEGV to report stack overflows, and one sent by
    // kill (no faulting address) only resets the handler; the second is fatal, as a real
    // fault in FFmpeg would be at once.
    for _ in 0..2 {
        let killed = Command::new("kill")
            .args(["-SEGV", &workers[0].to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (st, _) = push.join().unwrap();
    assert_ne!(st, 200, "the only orchestrator failed the segment");
    assert!(
        net.orch.child.try_wait().unwrap().is_none(),
        "the orchestrator survived its worker"
    );
    assert_eq!(
        metric(&net.ocli, "livepeer_segment_transcode_failed_total"),
        1.0
    );

    // A new worker (a new process) takes the next segment.
    wait_for_workers(&net.ocli, 1);
    assert_eq!(metric(&net.ocli, "reel_transcode_worker_exits_total"), 1.0);
    assert_eq!(
        metric(&net.ocli, "reel_transcode_worker_restarts_total"),
        1.0
    );
    let again = children_of(net.orch.child.id());
    assert_eq!(again.len(), 1);
    assert_ne!(again, workers, "restarted as a new process");
    let (st, body) = http(&net.ghttp, "PUT", "/live/crash/2.ts", &seg[2]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(metric(&net.ocli, "livepeer_segment_transcoded_total"), 2.0);
    assert_eq!(metric(&net.gcli, "livepeer_segment_transcoded_total"), 2.0);
    // Charged for the two segments it returned, not for the one that crashed.
    assert_eq!(charged(&net.ocli), 2 * 60 * 426 * 240);
}

/// Poison streams (see docs/faults.md#poison-streams): a poison stream (here the test-only fault
/// that aborts the worker on one stream, standing in for a decoder abort) crashes the worker twice,
/// is then refused up front, and a gateway that knows another orchestrator takes it there; the
/// orchestrator lives on and other streams still transcode on it.
#[test]
fn a_poison_stream_is_refused_after_two_worker_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = InChild::start(
        dir.path(),
        "ultrafast",
        &[("REEL_TEST_ABORT_ON_STREAM", "poison")],
    );
    let seg = segments(dir.path(), "p", 2);

    // Two crashes; each fails its segment (this gateway knows no other orchestrator).
    for (i, s) in seg.iter().enumerate() {
        let (st, _) = http(&net.ghttp, "PUT", &format!("/live/poison/{i}.ts"), s);
        assert_ne!(st, 200, "segment {i} of the poison stream");
        Wait::new(format!("worker exit {}", i + 1), Duration::from_secs(10))
            .every(Duration::from_millis(20))
            .until_ok_blocking(
                || match metric(&net.ocli, "reel_transcode_worker_exits_total") {
                    n if n < (i + 1) as f64 => Err(n),
                    _ => Ok(()),
                },
            )
            .expect("the worker did not die");
    }
    // The third segment is refused before it reaches a worker.
    let (st, _) = http(&net.ghttp, "PUT", "/live/poison/2.ts", &seg[0]);
    assert_ne!(st, 200);
    assert_eq!(
        metric(&net.ocli, "reel_segment_rejected_total{reason=\"poison\"}"),
        1.0
    );
    assert_eq!(metric(&net.ocli, "reel_transcode_worker_exits_total"), 2.0);
    assert_eq!(charged(&net.ocli), 0, "nothing charged for the crashes");

    // Another stream still transcodes here, on a restarted worker.
    let (st, body) = http(&net.ghttp, "PUT", "/live/clean/0.ts", &seg[1]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert!(net.orch.child.try_wait().unwrap().is_none(), "alive");

    // A gateway that also knows a healthy orchestrator fails the poison stream over.
    let other = Role::start(&[
        "orchestrator",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("o2").to_str().unwrap(),
        "--preset",
        "ultrafast",
        "--threads",
        "1",
    ]);
    let other_service = field(&other.banner(), "service");
    let gw2 = gateway(&format!("{},{other_service}", net.service));
    let ghttp2 = host_of(&field(&gw2.banner(), "play"));
    let (st, body) = http(&ghttp2, "PUT", "/live/poison/3.ts", &seg[1]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        metric(&net.ocli, "reel_transcode_worker_exits_total"),
        2.0,
        "no third crash"
    );
}

/// Worker processes are the default; the flag and REEL_TRANSCODE_IN_CHILD turn them off.
#[test]
fn the_orchestrator_transcodes_in_worker_processes_by_default() {
    let dump = |args: &[&str], env: &[(&str, &str)]| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_reel"))
            .args(["orchestrator", "--dump-config"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(dump(&[], &[])["transcodeInChild"], true);
    assert_eq!(dump(&[], &[])["transcodeWorkers"], 1);
    assert_eq!(
        dump(&["--transcode-in-child=false"], &[])["transcodeInChild"],
        false
    );
    assert_eq!(
        dump(&[], &[("REEL_TRANSCODE_IN_CHILD", "false")])["transcodeInChild"],
        false
    );
    // In a config file, and the command line over it.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("o.conf");
    std::fs::write(&conf, "transcode-in-child false\ntranscode-workers 2\n").unwrap();
    let conf = conf.to_str().unwrap();
    let v = dump(&["--config", conf], &[]);
    assert_eq!(
        (&v["transcodeInChild"], &v["transcodeWorkers"]),
        (&false.into(), &2.into())
    );
    let v = dump(&["--config", conf, "--transcode-in-child", "true"], &[]);
    assert_eq!(v["transcodeInChild"], true);
    assert_eq!(
        dump(&["--transcode-workers", "3"], &[])["transcodeWorkers"],
        3
    );
}

/// A worker stuck on a segment (the test-only fault standing in for a decoder that never
/// returns) is killed at the task deadline (max(8 s, 4 × duration)) and restarted: its
/// slot is not lost for good, and the next stream transcodes.
#[test]
fn a_hung_worker_is_killed_at_the_task_deadline_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = InChild::start(
        dir.path(),
        "ultrafast",
        &[("REEL_TEST_HANG_ON_STREAM", "stuck")],
    );
    let seg = segments(dir.path(), "h", 2);

    let t0 = Instant::now();
    let (st, _) = http(&net.ghttp, "PUT", "/live/stuck/0.ts", &seg[0]);
    assert_ne!(st, 200);
    let left = Duration::from_secs(20).saturating_sub(t0.elapsed());
    Wait::new("the hung worker to be killed", left)
        .until_ok_blocking(
            || match metric(&net.ocli, "reel_transcode_worker_exits_total") {
                n if n < 1.0 => Err(n),
                _ => Ok(()),
            },
        )
        .expect("the hung worker was not killed");
    assert!(
        t0.elapsed() >= Duration::from_secs(8),
        "killed at the deadline, not before: {:?}",
        t0.elapsed()
    );
    assert!(net.orch.child.try_wait().unwrap().is_none(), "alive");
    wait_for_workers(&net.ocli, 1);
    assert_eq!(
        metric(&net.ocli, "reel_transcode_worker_restarts_total"),
        1.0
    );
    let (st, body) = http(&net.ghttp, "PUT", "/live/clean/0.ts", &seg[1]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        charged(&net.ocli),
        60 * 426 * 240,
        "only the clean segment is charged"
    );
}
