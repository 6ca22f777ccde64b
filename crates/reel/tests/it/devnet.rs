use alloy::providers::Provider;
use reel_chain::{DevnetFile, connect};
use reel_contracts::bindings::LivepeerToken;
use reel_testkit::Wait;
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// A `reel devnet` process, SIGTERMed on drop so its anvil dumps state and exits.
struct DevnetProcess {
    child: Child,
    stdout: mpsc::Receiver<String>,
}

impl DevnetProcess {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reel"))
            .args(["devnet", "--port", "0", "--accounts", "2", "--data-dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("reel starts");
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, stdout: rx }
    }

    /// Lines printed until the ready banner's last line.
    fn wait_ready(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with("Press Ctrl-C");
                    lines.push(line);
                    if done {
                        return lines;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("devnet not ready within {timeout:?}; printed: {lines:#?}");
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        self.child.wait().expect("wait")
    }
}

impl Drop for DevnetProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

#[tokio::test]
async fn devnet_starts_serves_the_token_mines_blocks_and_resumes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let mut devnet = DevnetProcess::start(dir.path(), &["--block-time", "1", "--lpt", "12.5"]);
    let banner = devnet.wait_ready(Duration::from_secs(15));
    let took = started.elapsed();
    assert!(banner[0].starts_with("reel devnet started"), "{banner:#?}");
    let json_line = banner
        .iter()
        .find(|l| l.contains("devnet.json"))
        .expect("names the file");
    assert!(
        json_line.contains(&dir.path().join("devnet.json").display().to_string()),
        "{json_line}"
    );
    eprintln!("devnet up in {took:?}");

    let file = DevnetFile::load(&dir.path().join("devnet.json"))?;
    let provider = connect(&file.rpc_url)?;
    let token = LivepeerToken::new(file.contracts.livepeer_token, &provider);
    assert_eq!(token.name().call().await?, "Livepeer Token");
    assert_eq!(
        token.balanceOf(file.accounts[1].address).call().await?,
        alloy::primitives::U256::from(12_500_000_000_000_000_000u128)
    );
    // --block-time 1: blocks keep coming with no transactions.
    let before = provider.get_block_number().await?;
    let two_more = Wait::new("two more blocks", Duration::from_millis(2500))
        .until_ok(async || match provider.get_block_number().await {
            Ok(after) if after < before + 2 => Err(after.to_string()),
            Ok(after) => Ok(after),
            Err(e) => Err(e.to_string()),
        })
        .await;
    assert!(two_more.is_ok(), "blocks {before} -> {two_more:?}");
    // The height the resumed chain must keep: the last one seen before the stop.
    let after = provider.get_block_number().await?;

    let status = devnet.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(dir.path().join("anvil-state.json").is_file());

    let again = DevnetProcess::start(dir.path(), &[]);
    let banner = again.wait_ready(Duration::from_secs(15));
    assert!(banner[0].starts_with("reel devnet resumed"), "{banner:#?}");
    let resumed = DevnetFile::load(&dir.path().join("devnet.json"))?;
    assert_eq!(resumed.contracts, file.contracts);
    let provider = connect(&resumed.rpc_url)?;
    assert!(
        provider.get_block_number().await? >= after,
        "chain height kept"
    );
    Ok(())
}

fn run_failing(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(args)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn bad_input_gets_a_clear_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("devnet.json"), [0xff, 0xfe, 0x00])?;
    let d = dir.path().to_str().expect("utf-8 temp dir");
    let (code, stderr) = run_failing(&["devnet", "--port", "0", "--data-dir", d]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("devnet.json is unreadable") && stderr.contains("--reset"),
        "{stderr}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    let fresh = tempfile::tempdir()?;
    let f = fresh.path().to_str().expect("utf-8 temp dir");
    let (code, stderr) = run_failing(&["devnet", "--port", &port, "--data-dir", f]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("port {port} is in use: pass a different --port")),
        "{stderr}"
    );

    let (code, stderr) = run_failing(&["devnet", "--lpt", "1.2.3", "--data-dir", f]);
    assert_eq!(code, 2, "usage error");
    assert!(stderr.contains("not a decimal amount"), "{stderr}");
    Ok(())
}

#[test]
fn missing_anvil_says_how_to_install_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(["devnet", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("REEL_ANVIL", dir.path().join("no-anvil-here"))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("anvil not found") && stderr.contains("./x setup"),
        "{stderr}"
    );
    Ok(())
}
