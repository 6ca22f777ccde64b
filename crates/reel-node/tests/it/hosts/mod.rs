//! The network across hosts: a chain host (anvil), a gateway, three orchestrators (the
//! third transcoding on two remote transcoders) and a publisher, each in a network
//! namespace of its own with its own address, joined by the test kit's wire. The same
//! `LocalNetwork` the loopback tests use, placed on the hosts; the full on-chain flow
//! (discovery from the ServiceRegistry, tickets, redemption, rewards) over links that are
//! slow, lossy, cut and flooded. Skipped, saying so, where namespaces cannot be made (not
//! root).
//!
//! One layout runs at a time: the budgets asserted are latencies, and two networks of
//! eight hosts transcoding on two cores at once would measure each other.

mod faults;
mod flood;
mod soak;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use reel_chain::{DevnetOptions, SenderConfig as TxConfig};
use reel_localnet::{
    GatewaySpec, LocalNetwork, NetworkSpec, OrchestratorSpec, Placement, Role, TranscoderSpec,
};
use reel_node::gateway::{GatewaySettings, SegmentEvent};
use reel_node::orchestrator::OrchestratorSettings;
use reel_pm::{PricePerPixel, RecipientConfig, SenderConfig, TicketState};
use reel_testkit::Wait;
use reel_testkit::netns::Net;
use reel_types::{Lpt, Ppm, Wei};
use tokio::runtime::Handle;
use tokio::sync::{Mutex, MutexGuard, broadcast};
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Face value = EV: every ticket wins, so every payment is a ticket to redeem.
pub(crate) const EV: u64 = 10_000_000_000_000_000;
const HOSTS: &[&str] = &[
    "chain", "gateway", "o0", "o1", "o2", "t0", "t1", "pub", "hostile",
];
/// Every role listens on this port of its own host.
pub(crate) const PORT: u16 = 8935;
/// Wei per pixel at which a segment (30 frames of 256x144) costs about one ticket's EV,
/// so that payments (and the chain's view of them) move with every segment.
pub(crate) const PRICE_TICKET_PER_SEGMENT: u64 = 9_000_000_000;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

pub(crate) fn wei(v: u64) -> Wei {
    Wei::from_base_units(U256::from(v))
}

/// Roles to hosts: delegators live with the chain.
#[derive(Debug)]
struct Hosts(Arc<Net>);

impl Placement for Hosts {
    fn runtime(&self, role: Role) -> Option<Handle> {
        let name = match role {
            Role::Chain | Role::Delegator(_) => "chain".to_owned(),
            Role::Orchestrator(n) => format!("o{n}"),
            Role::Transcoder(_, k) => format!("t{k}"),
            Role::Gateway => "gateway".to_owned(),
        };
        self.0.host(&name).ok().map(|h| h.handle())
    }
}

/// What a layout is started with.
pub(crate) struct Options {
    /// Stake of o0, o1 and o2 in whole LPT.
    pub(crate) stakes: [u64; 3],
    /// Blocks per round (a block a second).
    pub(crate) round_length: u64,
    /// Wei per pixel.
    pub(crate) price: u64,
    /// Each ticket's expected value and its face value (wei): a face value above the EV
    /// makes tickets win with probability EV / face.
    pub(crate) ev: u64,
    pub(crate) face: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            stakes: [500, 300, 200],
            round_length: 20,
            price: PRICE_TICKET_PER_SEGMENT,
            ev: EV,
            face: EV,
        }
    }
}

/// A started layout: the hosts, the network on them, and test media.
pub(crate) struct Layout {
    pub(crate) net: Arc<Net>,
    pub(crate) lnet: LocalNetwork,
    pub(crate) segs: Arc<Vec<Vec<u8>>>,
    pub(crate) events: std::sync::Mutex<broadcast::Receiver<SegmentEvent>>,
    _dir: tempfile::TempDir,
    _one: MutexGuard<'static, ()>,
}

impl Layout {
    /// Starts the layout; `None` (after saying why) where namespaces cannot be made.
    pub(crate) async fn start(o: Options) -> Option<Self> {
        init_logs();
        if let Some(why) = Net::unavailable() {
            eprintln!("SKIPPED: the tests across hosts need network namespaces: {why}");
            return None;
        }
        let one = ONE_AT_A_TIME.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let net = Arc::new(Net::new(HOSTS, 18).unwrap());
        let host = |n: &str| net.host(n).unwrap();
        let orchestrators = (0..3)
            .map(|n| {
                let s = OrchestratorSettings {
                    price: PricePerPixel::from_wei_per_unit(o.price),
                    max_sessions: 16,
                    ..orch_settings_at(
                        host(&format!("o{n}")).socket(PORT),
                        &dir.path().join(format!("o{n}")),
                    )
                };
                OrchestratorSpec {
                    stake: Lpt::from_whole(o.stakes[n]),
                    reward_cut: "10".parse::<Ppm>().unwrap(),
                    fee_share: "50".parse::<Ppm>().unwrap(),
                    settings: s,
                    recipient: RecipientConfig {
                        ticket_ev: wei(o.ev),
                        max_face_value: Some(wei(o.face)),
                        params_validity_blocks: 8,
                        ..RecipientConfig::default()
                    },
                    redeemer: Default::default(),
                    unverified_max_float: wei(o.face),
                    transcoder: (n == 2).then(|| TranscoderSpec {
                        secret: "across-hosts-secret".into(),
                        capacity: 4,
                        encoder_threads: 1,
                        count: 2,
                    }),
                }
            })
            .collect();
        let mut gs =
            GatewaySettings::new(host("gateway").socket(PORT), ladder(&["P144p30fps16x9"]));
        gs.segment_length = Duration::from_secs(1);
        gs.max_streams = 32;
        let gateway = GatewaySpec {
            settings: gs,
            sender: SenderConfig {
                max_ticket_ev: wei(o.ev),
                max_total_ev: wei(o.ev * 10),
                ..SenderConfig::default()
            },
            deposit: Wei::from_whole(5),
            reserve: Wei::from_whole(1),
            listed_only: false,
        };
        let spec = NetworkSpec {
            tx: TxConfig::devnet(),
            block_time: Some(1),
            keepers: Some(Duration::from_secs(1)),
            placement: Some(Arc::new(Hosts(net.clone()))),
            ..NetworkSpec::new(orchestrators, Some(gateway))
        };
        let options = DevnetOptions {
            host: host("chain").addr().into(),
            eth_per_account: Wei::from_whole(10),
            lpt_per_account: Lpt::from_whole(1000),
            ..DevnetOptions::ephemeral(&dir.path().join("chain"), 5)
                .with_round_length(o.round_length)
        };
        let shutdown = CancellationToken::new();
        let lnet = LocalNetwork::launch(options, spec, &shutdown)
            .await
            .unwrap();
        let events = lnet.gateway.as_ref().unwrap().gateway.events();
        let segs = Arc::new(segments(dir.path(), 10));
        // The orchestrators registered their hosts' addresses.
        for (n, o) in lnet.orchestrators.iter().enumerate() {
            let want = format!("https://{}:{PORT}", host(&format!("o{n}")).addr());
            assert_eq!(o.node.uri().to_string(), want);
        }
        Some(Self {
            net,
            lnet,
            segs,
            events: std::sync::Mutex::new(events),
            _dir: dir,
            _one: one,
        })
    }

    /// The gateway's HTTP address (on its host).
    pub(crate) fn gateway_addr(&self) -> SocketAddr {
        self.lnet.gateway.as_ref().unwrap().gateway.http_addr()
    }

    /// Pushes segment `seq` of `stream` from the publisher's host: (status, error text,
    /// time taken, the orchestrator's URI from the gateway's event when it answered 200).
    pub(crate) async fn push(&self, stream: &str, seq: usize) -> (u16, String, Duration) {
        push_from(
            &self.net,
            self.gateway_addr(),
            self.segs.clone(),
            stream,
            seq,
        )
        .await
    }

    /// The index of the orchestrator at `uri`.
    pub(crate) fn orch(&self, uri: &str) -> usize {
        self.lnet
            .orchestrators
            .iter()
            .position(|o| o.node.uri().to_string() == uri)
            .unwrap_or_else(|| panic!("no orchestrator at {uri}"))
    }

    /// The gateway's segment events so far.
    pub(crate) fn drain(&self) -> Vec<SegmentEvent> {
        let mut out = Vec::new();
        let mut events = self.events.lock().unwrap();
        while let Ok(e) = events.try_recv() {
            out.push(e);
        }
        out
    }

    /// The chain's current round and orchestrator `n`'s last reward round, read from the
    /// chain host.
    pub(crate) async fn rounds(&self, n: usize) -> (u64, u64) {
        let me = self.lnet.orchestrators[n].node.address();
        let config = self.lnet.devnet().chain_config();
        self.lnet
            .on(Role::Chain, async move {
                // A client of its own, connected from the chain host: the orchestrator's
                // client keeps connections it opened from its own host, which a cut link
                // leaves hanging.
                let p = reel_chain::Protocol::connect(&config, None).await.unwrap();
                let round = p.round_status().await.unwrap().round.0;
                (round, p.transcoder(me).await.unwrap().last_reward_round.0)
            })
            .await
            .unwrap()
    }

    /// Waits until every orchestrator's last reward round is the chain's current round.
    pub(crate) async fn all_rewarded(&self, within: Duration) {
        Wait::new("every orchestrator to call reward()", within)
            .every(Duration::from_millis(500))
            .until_ok(async || {
                let mut r = Vec::new();
                for n in 0..self.lnet.orchestrators.len() {
                    r.push(self.rounds(n).await);
                }
                if r.iter().all(|(round, last)| round == last) {
                    Ok(())
                } else {
                    Err(r)
                }
            })
            .await
            .expect("not every orchestrator rewarded the current round");
    }

    /// Waits until every winning ticket any orchestrator holds is redeemed, then checks
    /// that each was held once and that the gateway's deposit paid exactly their face
    /// values: nothing paid twice, nothing lost. Returns the tickets per orchestrator.
    pub(crate) async fn all_redeemed_once(&self, within: Duration) -> Vec<usize> {
        let (per_orch, unredeemable) = self.all_settled(within, false).await;
        assert_eq!(unredeemable, 0);
        per_orch
    }

    /// [`Layout::all_redeemed_once`], where a chain rolled back (`rolled_back`) may have
    /// taken with it the block hash of the round some tickets were created in: the
    /// contract refuses those, provably, and the deposit pays only the redeemed. Returns
    /// the redeemed tickets per orchestrator and how many were refused so.
    pub(crate) async fn all_settled(
        &self,
        within: Duration,
        rolled_back: bool,
    ) -> (Vec<usize>, usize) {
        let m = self.settle(within, rolled_back).await;
        assert!(m.left.is_empty(), "tickets left unredeemed: {:?}", m.left);
        assert_eq!(
            m.deposit_paid, m.redeemed_face,
            "the deposit paid each redeemed ticket once: {:?}",
            m.per_orch
        );
        (m.per_orch, m.unredeemable)
    }

    /// Waits up to `within` for every ticket to settle (see [`Layout::all_settled`]) and
    /// says how the money stands, without asserting: the soak reports before it checks.
    pub(crate) async fn settle(&self, within: Duration, rolled_back: bool) -> Money {
        let final_ = |t: &reel_pm::StoredTicket| {
            t.state == TicketState::Redeemed
                || (rolled_back
                    && t.state == TicketState::Invalid
                    && t.reason
                        .as_deref()
                        .is_some_and(|r| r.contains("creationRoundBlockHash invalid")))
        };
        let stores: Vec<_> = self
            .lnet
            .orchestrators
            .iter()
            .map(|o| o.payments.clone())
            .collect();
        let _ = Wait::new("every winning ticket to be redeemed", within)
            .every(Duration::from_millis(500))
            .until_ok(async || {
                let n = stores
                    .iter()
                    .flat_map(|p| p.tickets().unwrap())
                    .filter(|t| !final_(t))
                    .count();
                if n == 0 { Ok(()) } else { Err(n) }
            })
            .await;
        let mut seen = HashSet::new();
        let mut m = Money::default();
        for p in &stores {
            let tickets = p.tickets().unwrap();
            for t in &tickets {
                let k = &t.signed.ticket;
                assert!(
                    seen.insert((k.recipient, k.recipient_rand_hash, k.sender_nonce)),
                    "a ticket (recipient, recipientRandHash, nonce) held twice: {k:?}"
                );
                m.won += 1;
                if t.state == TicketState::Redeemed {
                    m.redeemed_face += k.face_value.base_units();
                } else if final_(t) {
                    m.unredeemable += 1;
                } else {
                    m.left.push((t.state, t.reason.clone()));
                }
            }
            m.per_orch.push(
                tickets
                    .iter()
                    .filter(|t| t.state == TicketState::Redeemed)
                    .count(),
            );
        }
        let gp = self.lnet.gateway_protocol.clone().unwrap();
        let deposit = self
            .lnet
            .on(Role::Gateway, async move {
                let me = gp.from().unwrap();
                gp.sender_status(me).await.unwrap().deposit
            })
            .await
            .unwrap();
        m.deposit_paid = Wei::from_whole(5).base_units() - deposit.base_units();
        m
    }

    pub(crate) async fn stop(self) {
        self.lnet.stop().await.unwrap();
    }
}

/// How the money stands once tickets have settled.
#[derive(Debug, Default)]
pub(crate) struct Money {
    /// Redeemed tickets per orchestrator.
    pub(crate) per_orch: Vec<usize>,
    /// Winning tickets held, all orchestrators.
    pub(crate) won: usize,
    /// Refused by the contract because their round's block hash was rolled back.
    pub(crate) unredeemable: usize,
    /// Tickets in any other state: (state, reason).
    pub(crate) left: Vec<(TicketState, Option<String>)>,
    /// Σ face values of the redeemed tickets (wei).
    pub(crate) redeemed_face: U256,
    /// What left the gateway's deposit (wei).
    pub(crate) deposit_paid: U256,
}

/// Pushes segment `seq` (media `seq` mod the clips made) of `stream` to the gateway at
/// `gateway` from the publisher's host: (status, error text, time taken).
pub(crate) async fn push_from(
    net: &Net,
    gateway: SocketAddr,
    segs: Arc<Vec<Vec<u8>>>,
    stream: &str,
    seq: usize,
) -> (u16, String, Duration) {
    let stream = stream.to_owned();
    net.host("pub")
        .unwrap()
        .run(async move {
            let http = Http::new().unwrap();
            let ts = &segs[seq % segs.len()];
            let t = Instant::now();
            let (st, r, err) = push(&http, gateway, &stream, seq, ts).await;
            assert!(st != 200 || r.len() == 1, "one rendition");
            (st, err, t.elapsed())
        })
        .await
}

/// [`push_from`] that reports a failure to connect or a timeout as an error instead of
/// panicking: a publisher that goes on while the gateway restarts. `Ok((status, time))`.
pub(crate) async fn try_push_from(
    net: &Net,
    gateway: SocketAddr,
    segs: Arc<Vec<Vec<u8>>>,
    stream: &str,
    seq: usize,
) -> Result<(u16, Duration), String> {
    let stream = stream.to_owned();
    net.host("pub")
        .unwrap()
        .run(async move {
            let http = Http::new().map_err(|e| e.to_string())?;
            let ts = segs[seq % segs.len()].clone();
            let t = Instant::now();
            let r = http
                .send(
                    http.client()
                        .put(format!("http://{gateway}/live/{stream}/{seq}.ts"))
                        .header("Accept", "multipart/mixed")
                        .body(ts),
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok((r.status, t.elapsed()))
        })
        .await
}

/// The media engines a remote transcoder holds, read from its metrics.
pub(crate) fn engines_held(metrics: &reel_node::metrics::Registry) -> f64 {
    reel_testkit::metrics::metric_or_zero(&metrics.render(), "reel_transcoder_sessions")
}

/// Sleeps until `start + n` seconds: paced pushes, one segment a second as a live
/// publisher sends them.
pub(crate) async fn pace(start: Instant, n: u64) {
    tokio::time::sleep_until((start + Duration::from_secs(n)).into()).await;
}
