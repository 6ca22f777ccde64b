//! `reel deposit` on a devnet: funding lands in the Minter to the wei, the unlock period is
//! enforced, and withdraw returns exactly what was left.

use crate::chain_support::{devnet, reel_as};
use reel_chain::Protocol;
use reel_types::Wei;
use std::path::Path;

fn reel(devnet: &Path, account: usize, args: &[&str]) -> (bool, String) {
    reel_as(devnet, account, "deposit", args)
}

#[tokio::test]
async fn fund_unlock_and_withdraw_move_exact_amounts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = devnet(dir.path(), 2).await;
    let f = devnet.file().clone();
    let path = devnet.file_path();
    let p = Protocol::connect(&devnet.chain_config(), None).await?;
    let sender = f.accounts[1].address;
    let minter_eth = |p: &Protocol| {
        let p = p.clone();
        async move { p.eth_balance(f.contracts.minter).await }
    };

    let (ok, text) = reel(&path, 1, &["fund"]);
    assert!(!ok && text.contains("nothing to fund"), "{text}");
    let (ok, text) = reel(&path, 1, &["fund", "--deposit", "200"]);
    assert!(
        !ok && text.contains("not the 200 ETH needed"),
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
        devnet.mine_to_next_round().await?;
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
