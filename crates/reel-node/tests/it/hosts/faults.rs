//! Faults across hosts, each with its expectation stated and asserted.

use std::time::{Duration, Instant};

use reel_testkit::Wait;
use reel_testkit::netns::Link;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_across_hosts_survives_a_slow_lossy_network_and_a_cut_orchestrator() {
    let Some(l) = Layout::start(Options::default()).await else {
        return;
    };
    Wait::new(
        "both remote transcoders to register",
        Duration::from_secs(20),
    )
    .until_ok(async || {
        let n = l.lnet.orchestrators[2].node.status().transcoders.len();
        if n == 2 { Ok(()) } else { Err(n) }
    })
    .await
    .expect("the remote transcoders did not register across the wire");

    // 100 ms round trips and 1% loss on every link, both ways. The budget: the first
    // segment (discovery and a session, over slow links) within the gateway's call
    // timeout; every later one within three segment durations.
    l.net.all(Link::wan(Duration::from_millis(100), 1));
    let mut worst = Duration::ZERO;
    for seq in 0..6 {
        let budget = if seq == 0 {
            reel_node::gateway::submit::call_timeout(Duration::from_secs(1))
        } else {
            Duration::from_secs(3)
        };
        let (st, err, took) = l.push("wan", seq).await;
        assert_eq!(st, 200, "segment {seq}: {err}");
        assert!(
            took < budget,
            "segment {seq} took {took:?} (budget {budget:?})"
        );
        if seq > 0 {
            worst = worst.max(took);
        } else {
            eprintln!("100 ms, 1% loss: first segment {took:?}");
        }
    }
    eprintln!("100 ms, 1% loss: worst segment after the first {worst:?}");
    let before = l.drain();
    assert_eq!(before.len(), 6, "{before:?}");
    assert!(before.iter().all(|e| e.outcome.is_ok()), "{before:?}");
    let current = before.last().unwrap().orchestrator.clone();
    let cut = l.orch(&current);

    // The orchestrator serving the stream loses its link (the process runs on): the
    // gateway moves the stream within two segments, and every segment is still delivered.
    l.net.isolate(&format!("o{cut}"), true).unwrap();
    for seq in 6..12 {
        let (st, err, took) = l.push("wan", seq).await;
        assert_eq!(st, 200, "segment {seq} after the cut: {err}");
        assert!(
            took < Duration::from_secs(12),
            "segment {seq} took {took:?}"
        );
    }
    let after = l.drain();
    assert_eq!(after.len(), 6, "{after:?}");
    for e in &after {
        assert!(e.outcome.is_ok(), "{e:?}");
        if e.seq >= 8 {
            assert_ne!(
                e.orchestrator, current,
                "segment {} on the cut orchestrator",
                e.seq
            );
            assert_eq!(e.attempts, 1, "{e:?}");
        }
    }
    let retried: Vec<u64> = after
        .iter()
        .filter(|e| e.attempts > 1)
        .map(|e| e.seq)
        .collect();
    assert!(
        retried.len() <= 2,
        "only segments in flight retry: {retried:?}"
    );
    let next = l.orch(&after.last().unwrap().orchestrator);

    // The link comes back: every ticket any orchestrator holds (the cut one's, sent before
    // the cut, included) is redeemed once, and the deposit paid exactly their face values.
    l.net.isolate(&format!("o{cut}"), false).unwrap();
    l.net.all(Link::CLEAN);
    let per_orch = l.all_redeemed_once(Duration::from_secs(90)).await;
    assert!(per_orch[cut] >= 1 && per_orch[next] >= 1, "{per_orch:?}");
    l.all_rewarded(Duration::from_secs(40)).await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_cut_from_the_chain_for_a_round_keeps_transcoding_then_rewards_and_redeems()
{
    let Some(l) = Layout::start(Options {
        round_length: 10,
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (st, err, _) = l.push("part", 0).await;
    assert_eq!(st, 200, "{err}");
    let x = l.orch(&l.drain()[0].orchestrator);
    let host = format!("o{x}");
    l.all_rewarded(Duration::from_secs(20)).await;
    let (round_at_cut, _) = l.rounds(x).await;
    let tickets_at_cut = l.lnet.orchestrators[x].payments.tickets().unwrap().len();

    // Cut from the chain host only: gateways still reach it. A live stream goes on, paid
    // with tickets the orchestrator checks against a chain view that stops moving, across
    // a round boundary.
    l.net.link(&host, "chain", Link::CUT).unwrap();
    let start = Instant::now();
    let mut seq = 1;
    loop {
        let (st, err, took) = l.push("part", seq).await;
        assert_eq!(st, 200, "segment {seq} while cut from the chain: {err}");
        assert!(took < Duration::from_secs(3), "segment {seq} took {took:?}");
        seq += 1;
        pace(start, seq as u64).await;
        let (round, last) = l.rounds(x).await;
        if round > round_at_cut && start.elapsed() > Duration::from_secs(4) {
            assert!(
                last < round,
                "rewarded round {round} while cut from the chain"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the round never moved"
        );
    }
    let during = l.drain();
    assert!(
        during
            .iter()
            .all(|e| e.outcome.is_ok() && l.orch(&e.orchestrator) == x),
        "{during:?}"
    );
    let tickets_cut = l.lnet.orchestrators[x].payments.tickets().unwrap().len();
    assert!(
        tickets_cut > tickets_at_cut,
        "paid while cut from the chain"
    );

    // Healed: it rewards the round it is in and redeems every ticket, those taken on a
    // stale view included, once.
    l.net.link(&host, "chain", Link::CLEAN).unwrap();
    l.all_rewarded(Duration::from_secs(20)).await;
    let per_orch = l.all_redeemed_once(Duration::from_secs(60)).await;
    assert_eq!(per_orch[x], tickets_cut.max(per_orch[x]));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcoder_whose_link_flaps_loses_its_sessions_and_registers_again() {
    // o2, the one with remote transcoders, holds most of the stake.
    let Some(l) = Layout::start(Options {
        stakes: [50, 50, 900],
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let o2 = &l.lnet.orchestrators[2].node;
    let ids = async || -> Vec<u64> { o2.status().transcoders.iter().map(|t| t.id).collect() };
    Wait::new(
        "both remote transcoders to register",
        Duration::from_secs(20),
    )
    .until_ok(async || {
        let ids = ids().await;
        if ids.len() == 2 { Ok(()) } else { Err(ids) }
    })
    .await
    .unwrap();
    let first_ids = ids().await;
    // A stream on o2.
    let mut stream = None;
    for k in 0..20 {
        let name = format!("flap{k}");
        let (st, err, _) = l.push(&name, 0).await;
        assert_eq!(st, 200, "{err}");
        if l.orch(&l.drain()[0].orchestrator) == 2 {
            stream = Some(name);
            break;
        }
    }
    let stream = stream.expect("no stream drawn to o2 in 20 tries");

    for (k, t) in ["t0", "t1"].into_iter().enumerate() {
        // The link drops (and drops again after a moment back): the orchestrator finds
        // the transcoder gone by its missing pings, and the stream's segments go to the
        // other one; every segment is delivered.
        let start = Instant::now();
        let mut seq = 1 + 20 * k;
        l.net.isolate(t, true).unwrap();
        let mut gone = false;
        while start.elapsed() < Duration::from_secs(16) {
            let (st, err, took) = l.push(&stream, seq).await;
            assert_eq!(st, 200, "segment {seq} with {t} cut: {err}");
            assert!(
                took < Duration::from_secs(12),
                "segment {seq} took {took:?}"
            );
            gone |= o2.status().transcoders.len() == 1;
            if start.elapsed() > Duration::from_secs(3) && start.elapsed() < Duration::from_secs(4)
            {
                // A flap: back for a moment, then down again.
                l.net.isolate(t, false).unwrap();
                tokio::time::sleep(Duration::from_millis(300)).await;
                l.net.isolate(t, true).unwrap();
            }
            seq += 1;
            pace(start, (seq - 20 * k) as u64).await;
        }
        assert!(gone, "{t} cut for 16 s and still registered");
        l.net.isolate(t, false).unwrap();
        // Back: it registers again (a new registration, a new id).
        Wait::new("the transcoder to register again", Duration::from_secs(45))
            .every(Duration::from_millis(500))
            .until_ok(async || {
                let now = ids().await;
                if now.len() == 2 && now.iter().any(|i| !first_ids.contains(i)) {
                    Ok(())
                } else {
                    Err(now)
                }
            })
            .await
            .unwrap();
        // It held an engine for the stream before the cut; the stream went to the other
        // transcoder, so the one back holds none (an engine kept here would be tens of
        // MiB lost for good, the soak's memory growth).
        let sessions = |k: usize| engines_held(&l.lnet.orchestrators[2].transcoders[k]);
        assert_eq!(sessions(k), 0.0, "{t} came back holding an engine");
        let (st, err, _) = l.push(&stream, seq).await;
        assert_eq!(st, 200, "after {t} came back: {err}");
        // One engine at most for the one stream (none where the gateway moved it off o2).
        assert!(
            sessions(0) + sessions(1) <= 1.0,
            "{} and {} engines for one stream",
            sessions(0),
            sessions(1)
        );
    }
    let events = l.drain();
    assert!(events.iter().all(|e| e.outcome.is_ok()), "{events:?}");
    l.all_redeemed_once(Duration::from_secs(60)).await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restarted_with_live_streams_resumes_them_without_reusing_a_nonce() {
    let Some(mut l) = Layout::start(Options::default()).await else {
        return;
    };
    for s in ["g0", "g1"] {
        for seq in 0..4 {
            let (st, err, _) = l.push(s, seq).await;
            assert_eq!(st, 200, "{s}/{seq}: {err}");
        }
    }
    let before: usize = l
        .lnet
        .orchestrators
        .iter()
        .map(|o| o.payments.tickets().unwrap().len())
        .sum();
    assert!(before >= 8, "a ticket a segment: {before}");
    let addr = l.gateway_addr();
    l.lnet.restart_gateway().await.unwrap();
    assert_eq!(l.gateway_addr(), addr, "back where its publishers know it");
    l.events = std::sync::Mutex::new(l.lnet.gateway.as_ref().unwrap().gateway.events());
    // The publishers go on where they were; the new process pays with fresh params, so
    // the orchestrators see no replayed nonce (a replay would be refused, failing the
    // segment) and no ticket is held twice.
    for s in ["g0", "g1"] {
        for seq in 4..8 {
            let (st, err, _) = l.push(s, seq).await;
            assert_eq!(st, 200, "{s}/{seq} after the restart: {err}");
        }
    }
    let after = l.drain();
    assert_eq!(after.len(), 8, "{after:?}");
    let per_orch = l.all_redeemed_once(Duration::from_secs(60)).await;
    assert!(per_orch.iter().sum::<usize>() >= 16, "{per_orch:?}");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_host_killed_and_restarted_from_its_state_is_ridden_out_by_every_role() {
    let Some(mut l) = Layout::start(Options {
        round_length: 10,
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (st, err, _) = l.push("chain", 0).await;
    assert_eq!(st, 200, "{err}");
    l.all_rewarded(Duration::from_secs(20)).await;
    // Let a state dump happen after set-up.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (round_before, _) = l.rounds(0).await;

    // The stream goes on from the publisher while the chain host is killed (its state as
    // last dumped, a few blocks behind) and started again.
    let (net, gaddr, segs) = (l.net.clone(), l.gateway_addr(), l.segs.clone());
    let pushes = tokio::spawn(async move {
        let start = Instant::now();
        let mut out = Vec::new();
        for seq in 1..16 {
            out.push((
                seq,
                push_from(&net, gaddr, segs.clone(), "chain", seq).await,
            ));
            pace(start, seq as u64).await;
        }
        out
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    l.lnet.restart_chain(true).await.unwrap();
    for (seq, (st, err, took)) in pushes.await.unwrap() {
        assert_eq!(st, 200, "segment {seq} around the chain's restart: {err}");
        assert!(took < Duration::from_secs(3), "segment {seq} took {took:?}");
    }
    // The chain resumed from its state (not from genesis), and moves on: rounds are
    // initialised and rewarded, and every ticket is redeemed once.
    let (round_after, _) = l.rounds(0).await;
    assert!(
        round_after >= round_before,
        "{round_after} < {round_before}"
    );
    Wait::new("a new round", Duration::from_secs(30))
        .until_ok(async || {
            let (r, _) = l.rounds(0).await;
            if r > round_after { Ok(()) } else { Err(r) }
        })
        .await
        .unwrap();
    l.all_rewarded(Duration::from_secs(20)).await;
    // Tickets created on a round whose initialising block the restart lost commit to a
    // block hash the chain no longer has: the contract refuses them (provably
    // unredeemable, and unpaid); every other ticket is redeemed once.
    let (per_orch, unredeemable) = l.all_settled(Duration::from_secs(60), true).await;
    eprintln!(
        "after the chain's restart: redeemed {per_orch:?}, refused as rolled back {unredeemable}"
    );
    assert!(per_orch.iter().sum::<usize>() >= 10, "{per_orch:?}");
    l.stop().await;
}
