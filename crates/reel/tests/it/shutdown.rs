//! Every role and `reel devnet` exit cleanly within 5 s of SIGTERM, even while their
//! transactions are pending on a chain that has stopped mining.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use reel_chain::{DevnetFile, Protocol};
use reel_testkit::Wait;
use reel_types::{Lpt, Ppm};

use crate::proc_support::{Role, field};

const DEADLINE: Duration = Duration::from_secs(5);

fn sigterm(role: &Role) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(role.child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

/// Waits for `role` to exit; its status and how long it took.
fn exit_within(role: &mut Role, what: &str, since: Instant) -> Duration {
    let left = (DEADLINE * 3).saturating_sub(since.elapsed());
    let status = Wait::new(format!("{what} to exit"), left)
        .every(Duration::from_millis(20))
        .until_blocking(|| role.child.try_wait().unwrap())
        .unwrap_or_else(|e| {
            panic!(
                "{what} still running {:?} after SIGTERM: {e}",
                since.elapsed()
            )
        });
    assert!(status.success(), "{what} exited with {status}");
    since.elapsed()
}

async fn pending_txs(rpc: &str) -> u64 {
    let pool: serde_json::Value = reel_chain::connect(rpc)
        .unwrap()
        .raw_request("txpool_status".into(), ())
        .await
        .unwrap();
    u64::from_str_radix(
        pool["pending"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_and_the_devnet_exit_within_5_s_of_sigterm_with_transactions_pending() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    let mut devnet = Role::start(&[
        "devnet",
        "--data-dir",
        data.to_str().unwrap(),
        "--port",
        "0",
        "--block-time",
        "0",
        "--accounts",
        "4",
        "--round-length",
        "100",
    ]);
    let banner = devnet.banner();
    let rpc = field(&banner, "RPC");
    let file = data.join("devnet.json");
    let f = DevnetFile::load(&file).unwrap();
    let config = reel_chain::ChainConfig {
        rpc_url: rpc.clone(),
        chain_id: f.chain_id,
        controller: f.contracts.controller,
    };

    // Account 1 is an active orchestrator with a service URI.
    let orch = Protocol::connect(
        &config,
        Some(PrivateKeySigner::from_bytes(&f.accounts[1].private_key).unwrap()),
    )
    .await
    .unwrap();
    orch.ensure_round_initialized().await.unwrap();
    let me = orch.from().unwrap();
    orch.bond(Lpt::from_whole(100), me).await.unwrap();
    orch.set_transcoder("5".parse::<Ppm>().unwrap(), "50".parse::<Ppm>().unwrap())
        .await
        .unwrap();
    let file_arg = file.to_str().unwrap();
    let mut o = Role::start(&[
        "orchestrator",
        "--network",
        "onchain",
        "--devnet",
        file_arg,
        "--account",
        "1",
        "--http-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("o").to_str().unwrap(),
        "--orch-secret",
        "shutdown-test-secret",
        "--initialize-round",
    ]);
    let service = field(&o.banner(), "service");
    let mut t = Role::start(&[
        "transcoder",
        "--orch-addr",
        &service,
        "--orch-secret",
        "shutdown-test-secret",
        "--cli-addr",
        "127.0.0.1:0",
    ]);
    t.banner();
    let mut g = Role::start(&[
        "gateway",
        "--network",
        "onchain",
        "--devnet",
        file_arg,
        "--account",
        "2",
        "--http-addr",
        "127.0.0.1:0",
        "--rtmp-addr",
        "127.0.0.1:0",
        "--cli-addr",
        "127.0.0.1:0",
    ]);
    g.banner();

    // The chain stops mining; a new round starts, and a keeper (the devnet's or the
    // orchestrator's, which initialises rounds too) sends `initializeRound()`, which stays
    // pending; the other finds the round being initialised.
    let p = reel_chain::connect(&rpc).unwrap();
    p.raw_request::<_, ()>("evm_setAutomine".into(), (false,))
        .await
        .unwrap();
    let st = orch.round_status().await.unwrap();
    let to_next = st.start_block + st.length - st.block;
    p.raw_request::<_, ()>("anvil_mine".into(), (to_next,))
        .await
        .unwrap();
    Wait::new("a keeper transaction pending", Duration::from_secs(20))
        .every(Duration::from_millis(100))
        .until_ok(async || match pending_txs(&rpc).await {
            0 => Err(0),
            _ => Ok(()),
        })
        .await
        .expect("the keepers did not send");

    let since = Instant::now();
    for r in [&devnet, &o, &t, &g] {
        sigterm(r);
    }
    let mut took = Vec::new();
    for (r, what) in [
        (&mut g, "gateway"),
        (&mut t, "transcoder"),
        (&mut o, "orchestrator"),
        (&mut devnet, "devnet"),
    ] {
        took.push((what, exit_within(r, what, since)));
    }
    eprintln!("exit after SIGTERM: {took:?}");
    for (what, d) in took {
        assert!(d < DEADLINE, "{what} took {d:?}");
    }
    assert_devnet_saved(&data);
}

fn assert_devnet_saved(data: &Path) {
    assert!(
        data.join("anvil-state.json").exists(),
        "the devnet saved its chain"
    );
}
