use alloy::providers::Provider;
use reel_chain::{
    Anvil, AnvilConfig, ChainConfig, ChainError,
    anvil::{find_anvil, search_anvil},
    connect,
};
use reel_testkit::Wait;
use std::{net::TcpListener, path::PathBuf, time::Duration};

#[tokio::test]
async fn spawns_on_a_free_port_with_the_chain_id_and_dies_on_drop() -> anyhow::Result<()> {
    let anvil = Anvil::spawn(AnvilConfig {
        chain_id: 4242,
        ..Default::default()
    })
    .await?;
    let provider = connect(&anvil.endpoint())?;
    assert_eq!(provider.get_chain_id().await?, 4242);
    let port = anvil.port();
    let log = anvil.log_file().to_path_buf();
    drop(anvil);
    // The child is killed on drop: the port frees up and the temporary log is gone.
    let freed = Wait::new(format!("port {port} to be freed"), Duration::from_secs(2))
        .every(Duration::from_millis(20))
        .until(async || TcpListener::bind(("127.0.0.1", port)).ok())
        .await;
    assert!(freed.is_ok(), "port {port} still taken after drop");
    assert!(!log.exists(), "temporary log {} left behind", log.display());
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_dumps_state_that_the_next_start_loads() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state.json");
    let config = AnvilConfig {
        state_file: Some(state.clone()),
        ..Default::default()
    };
    let anvil = Anvil::spawn(config.clone()).await?;
    let provider = connect(&anvil.endpoint())?;
    provider
        .raw_request::<_, serde_json::Value>("anvil_mine".into(), (7u64,))
        .await?;
    anvil.shutdown(Duration::from_secs(10)).await?;
    assert!(state.is_file(), "state file written on shutdown");

    let anvil = Anvil::spawn(config).await?;
    let block = connect(&anvil.endpoint())?.get_block_number().await?;
    assert_eq!(block, 7, "resumed at the dumped block");
    Ok(())
}

#[tokio::test]
async fn port_in_use_names_the_flag() -> anyhow::Result<()> {
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let err = Anvil::spawn(AnvilConfig {
        port: Some(port),
        port_flag: "--rpc-port",
        ..Default::default()
    })
    .await
    .expect_err("port is taken");
    assert!(
        matches!(err, ChainError::PortInUse { port: p, flag: "--rpc-port" } if p == port),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("port {port} is in use: pass a different --rpc-port (or stop what is using it)")
    );
    Ok(())
}

#[tokio::test]
async fn a_binary_that_is_not_anvil_fails_clearly() -> anyhow::Result<()> {
    let err = Anvil::spawn(AnvilConfig {
        binary: Some(PathBuf::from("/nonexistent/anvil")),
        ..Default::default()
    })
    .await
    .expect_err("no such binary");
    assert!(matches!(err, ChainError::AnvilSpawn { .. }), "{err:?}");

    // `false` starts and exits at once: reported with its status, not a hang.
    let err = Anvil::spawn(AnvilConfig {
        binary: Some(PathBuf::from("/bin/false")),
        ..Default::default()
    })
    .await
    .expect_err("exits immediately");
    assert!(matches!(err, ChainError::AnvilExited { .. }), "{err:?}");
    Ok(())
}

#[test]
fn search_finds_npm_binary_then_path_and_says_how_to_install() -> anyhow::Result<()> {
    let empty = tempfile::tempdir()?;
    let err = search_anvil(
        &[empty.path().to_path_buf()],
        Some(std::ffi::OsStr::new("")),
    )
    .expect_err("nothing to find");
    let msg = err.to_string();
    assert!(msg.contains("./x setup"), "{msg}");
    assert!(msg.contains("REEL_ANVIL"), "{msg}");

    // A binary on PATH is found.
    let bin = tempfile::tempdir()?;
    std::fs::write(bin.path().join("anvil"), "")?;
    let found = search_anvil(&[empty.path().to_path_buf()], Some(bin.path().as_os_str()))?;
    assert_eq!(found, bin.path().join("anvil"));

    // The npm package's real executable in a parent's node_modules wins over PATH.
    let repo = tempfile::tempdir()?;
    let npm = repo
        .path()
        .join("node_modules/@foundry-rs/anvil-linux-amd64/bin");
    std::fs::create_dir_all(&npm)?;
    std::fs::write(npm.join("anvil"), "")?;
    let nested = repo.path().join("target/debug");
    std::fs::create_dir_all(&nested)?;
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            search_anvil(&[nested], Some(bin.path().as_os_str()))?,
            npm.join("anvil")
        );
    }
    Ok(())
}

#[test]
fn the_checkouts_anvil_is_found() -> anyhow::Result<()> {
    let path = find_anvil()?;
    assert!(path.is_file(), "{}", path.display());
    Ok(())
}

#[tokio::test]
async fn chain_config_checks_chain_id_and_controller() -> anyhow::Result<()> {
    let anvil = Anvil::spawn(AnvilConfig::default()).await?;
    let wrong_chain = ChainConfig {
        rpc_url: anvil.endpoint(),
        chain_id: 1,
        controller: Default::default(),
    };
    let err = wrong_chain.resolve().await.expect_err("wrong chain id");
    assert!(
        matches!(
            err,
            ChainError::WrongChain {
                expected: 1,
                actual: 31337,
                ..
            }
        ),
        "{err:?}"
    );

    let no_code = ChainConfig {
        rpc_url: anvil.endpoint(),
        chain_id: 31337,
        controller: Default::default(),
    };
    let err = no_code.resolve().await.expect_err("no controller");
    assert!(matches!(err, ChainError::NoController { .. }), "{err:?}");

    let err = ChainConfig {
        rpc_url: "ws://x".into(),
        chain_id: 1,
        controller: Default::default(),
    }
    .resolve()
    .await
    .expect_err("bad scheme");
    assert!(err.to_string().contains("use http:// or https://"), "{err}");
    Ok(())
}

/// Left to itself, anvil writes every state older than its in-memory history (500 blocks)
/// to `~/.foundry/anvil/tmp` — gigabytes an hour for a devnet mining a block a second, left
/// behind when it is killed. We keep the in-memory history only: recent blocks answer,
/// older states are refused instead of written to disk.
#[tokio::test]
async fn history_stays_in_memory_and_nothing_is_persisted() -> anyhow::Result<()> {
    let anvil = Anvil::spawn(AnvilConfig::default()).await?;
    let provider = connect(&anvil.endpoint())?;
    provider
        .raw_request::<_, ()>("anvil_mine".into(), (700u64,))
        .await?;
    let who = alloy::primitives::address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    let recent = provider.get_balance(who).number(650).await?;
    assert!(!recent.is_zero(), "a recent block's state is kept");
    let old = provider.get_balance(who).number(10).await;
    let e = old
        .expect_err("a state 690 blocks back is not kept")
        .to_string();
    assert!(e.contains("BlockOutOfRange"), "{e}");
    Ok(())
}
