//! `reel deposit` on a devnet: funding lands in the Minter to the wei, the unlock period is
//! enforced, and withdraw returns exactly what was left.

use alloy::providers::Provider;
use reel_chain::{ChainConfig, Devnet, DevnetOptions, Protocol};
use reel_types::{Lpt, Wei};
use std::{path::Path, process::Command};

fn reel(devnet: &Path, account: usize, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .arg("deposit")
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
    (out.status.success(), text)
}

async fn next_round(p: &Protocol) {
    let s = p.round_status().await.expect("round");
    p.provider()
        .raw_request::<_, ()>("anvil_mine".into(), (s.start_block + s.length - s.block,))
        .await
        .expect("mine");
}

#[tokio::test]
async fn fund_unlock_and_withdraw_move_exact_amounts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = Devnet::start(DevnetOptions {
        data_dir: dir.path().to_path_buf(),
        port: None,
        chain_id: 31337,
        accounts: 2,
        block_time: 0,
        reset: false,
        eth_per_account: Wei::from_whole(10),
        lpt_per_account: Lpt::from_whole(10),
        protocol: DevnetOptions::devnet_protocol(),
    })
    .await?;
    let f = devnet.file().clone();
    let path = devnet.file_path();
    let config = ChainConfig {
        rpc_url: f.rpc_url.clone(),
        chain_id: f.chain_id,
        controller: f.contracts.controller,
    };
    let p = Protocol::connect(&config, None).await?;
    let sender = f.accounts[1].address;
    let minter_eth = |p: &Protocol| {
        let p = p.clone();
        async move { p.eth_balance(f.contracts.minter).await }
    };

    let (ok, text) = reel(&path, 1, &["fund"]);
    assert!(!ok && text.contains("nothing to fund"), "{text}");
    let (ok, text) = reel(&path, 1, &["fund", "--deposit", "20"]);
    assert!(
        !ok && text.contains("not the 20 ETH needed"),
        "cannot fund more than the balance: {text}"
    );

    let before = minter_eth(&p).await?;
    let (ok, text) = reel(&path, 1, &["fund", "--deposit", "1.25", "--reserve", "0.5"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("deposit          1.25 ETH") && text.contains("reserve          0.5 ETH"),
        "{text}"
    );
    let funded = Wei::parse_decimal("1.75")?;
    assert_eq!(
        minter_eth(&p).await?.checked_sub(before)?,
        funded,
        "the ETH sits in the Minter, to the wei"
    );

    // Withdrawing before unlocking is refused in the contract's words.
    let (ok, text) = reel(&path, 1, &["withdraw"]);
    assert!(!ok && text.contains("reverted"), "{text}");

    let (ok, text) = reel(&path, 1, &["unlock"]);
    assert!(
        ok && text.contains("in progress, withdraw from round"),
        "{text}"
    );
    let (ok, text) = reel(&path, 1, &["withdraw"]);
    assert!(
        !ok && text.contains("reverted"),
        "unlock period not over: {text}"
    );

    // The devnet's unlock period is 2 rounds.
    for _ in 0..2 {
        next_round(&p).await;
    }
    let status = p.sender_status(sender).await?;
    assert_eq!(status.deposit, Wei::parse_decimal("1.25")?);
    assert_eq!(status.reserve, Wei::parse_decimal("0.5")?);
    let (ok, text) = reel(&path, 1, &["withdraw"]);
    assert!(ok, "{text}");
    assert_eq!(
        minter_eth(&p).await?,
        before,
        "everything left the Minter again"
    );
    let status = p.sender_status(sender).await?;
    assert_eq!((status.deposit, status.reserve), (Wei::ZERO, Wei::ZERO));
    devnet.shutdown().await?;
    Ok(())
}
