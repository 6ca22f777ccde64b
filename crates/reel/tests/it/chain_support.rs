//! Helpers for the tests that drive `reel` against a devnet.

use reel_chain::{Devnet, DevnetOptions};
use std::{path::Path, process::Command};

/// Starts a throwaway devnet in `dir` with `accounts` funded accounts (0 deployed the
/// protocol), mining a block per transaction.
pub(crate) async fn devnet(dir: &Path, accounts: usize) -> Devnet {
    Devnet::start(DevnetOptions::ephemeral(dir, accounts))
        .await
        .expect("devnet starts")
}

/// Runs `reel <command> --devnet <file> --account <n> <args…>`; returns success and
/// stdout followed by stderr.
pub(crate) fn reel_as(
    devnet: &Path,
    account: usize,
    command: &str,
    args: &[&str],
) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .arg(command)
        .arg("--devnet")
        .arg(devnet)
        .args(["--account", &account.to_string()])
        .args(args)
        .output()
        .expect("reel runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("panicked"),
        "reel {command} {args:?} panicked:\n{text}"
    );
    (out.status.success(), text)
}

/// Like [`reel_as`], failing the test unless the command succeeds.
pub(crate) fn reel_ok(devnet: &Path, account: usize, command: &str, args: &[&str]) -> String {
    let (ok, text) = reel_as(devnet, account, command, args);
    assert!(ok, "reel {command} {args:?} failed:\n{text}");
    text
}

/// Mines to the next round and initialises it with `reel stake round initialize`.
pub(crate) async fn next_round(devnet: &Devnet) -> u64 {
    let round = devnet.mine_to_next_round().await.expect("mine");
    let out = reel_ok(&devnet.file_path(), 0, "stake", &["round", "initialize"]);
    assert!(out.contains("initialize round: done"), "{out}");
    round
}
