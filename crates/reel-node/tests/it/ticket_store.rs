//! Ticket store unavailable (see docs/faults.md#ticket-store-unavailable) against a running
//! orchestrator: the ticket store is made full (SQLite's `max_page_count`, exactly what a full disk
//! returns) or locked by another process (`BEGIN EXCLUSIVE` on a second connection). Payments are
//! refused with a 503 naming the store, nothing is credited or transcoded, `/healthz` turns red
//! with the reason, requests that store nothing are still served, and once the fault clears the
//! very same tickets are credited once, to the wei.

use reel_pm::PriceProto;
use std::time::Duration;

use alloy_primitives::{B256, U256};
use reel_net::http::{self as wire, BodyKind};
use reel_net::proto;
use reel_node::node::OrchestratorBuilder;
use reel_node::payments::ChainFacts;
use reel_node::tasks::Tasks;
use reel_pm::ticket::ExpirationParams;
use reel_pm::{PricePerPixel, RecipientConfig, RedeemerConfig, TicketParams};
use reel_testkit::metrics::metric;
use reel_types::Wei;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// EV of one ticket; face value is capped at it, so every ticket wins and is stored.
const EV: u64 = 1_000_000_000_000;

fn facts() -> ChainFacts {
    ChainFacts {
        block: 1_000,
        round: 10,
        expiration: ExpirationParams {
            creation_round: 10,
            creation_round_block_hash: B256::repeat_byte(7),
        },
        gas_price: Wei::ZERO,
    }
}

/// A payment of one ticket per nonce on the session's params, signed by `gw`.
fn tickets(gw: &Client, info: &proto::OrchestratorInfo, nonces: &[u32]) -> (proto::Payment, Wei) {
    let price = PricePerPixel::from_proto(info.price_info.as_ref().unwrap()).unwrap();
    let tp = info.ticket_params.as_ref().unwrap();
    let p = TicketParams::from_proto(tp, tp.expiration_params.as_ref(), price).unwrap();
    let me = gw.signer.address();
    let payment = proto::Payment {
        ticket_params: Some(p.to_proto()),
        sender: me.to_vec(),
        expiration_params: Some(p.expiration.to_proto()),
        ticket_sender_params: nonces
            .iter()
            .map(|n| proto::TicketSenderParams {
                sender_nonce: *n,
                sig: p.ticket(me, *n).sign(&gw.signer).to_vec(),
            })
            .collect(),
        expected_price: Some(price.to_proto().unwrap()),
    };
    let value = p.ev().checked_mul(U256::from(nonces.len())).unwrap();
    (payment, value)
}

async fn healthz(http: &Http, cli: std::net::SocketAddr) -> (u16, serde_json::Value) {
    http.get_status_json(format!("http://{cli}/healthz"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c29_full_or_locked_ticket_store_refuses_payments_health_turns_red_then_pays_once() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let ts = segments(dir.path(), 1).remove(0);
    let shutdown = CancellationToken::new();
    let osigner = reel_node::ephemeral_signer().unwrap();
    let data = dir.path().join("orch");
    let free = reel_node::ephemeral_signer().unwrap();
    let mut s = orch_settings(&data);
    s.price = PricePerPixel::from_wei_per_unit(1);
    // A gateway served for free: its segments store no tickets.
    s.price_per_gateway
        .insert(free.address(), PricePerPixel::ZERO);
    let node = OrchestratorBuilder::new(s)
        .signer(osigner)
        .fixed_facts(facts())
        .payments(
            RecipientConfig {
                ticket_ev: Wei::from_base_units(U256::from(EV)),
                max_face_value: Some(Wei::from_base_units(U256::from(EV))),
                ..RecipientConfig::default()
            },
            RedeemerConfig::default(),
            Wei::from_whole(1),
        )
        .tasks(Tasks::with_shutdown(shutdown.child_token()))
        .start()
        .await
        .unwrap();
    let pay = node.payments.clone().unwrap();
    let orch = node.orchestrator;
    let cli = orch.cli_addr().unwrap();
    let http = Http::new().unwrap();
    let gw = Client::new(orch.uri(), b"c29");
    let (st, doc) = healthz(&http, cli).await;
    assert_eq!(st, 200, "{doc}");
    assert_eq!(doc["healthy"], true);

    let info = gw.session().await.unwrap();
    let session = info.auth_token.as_ref().unwrap().session_id.clone();
    let me = gw.signer.address();
    let (payment, value) = tickets(&gw, &info, &(1..=30).collect::<Vec<_>>());
    assert_eq!(value, Wei::from_base_units(U256::from(30 * EV)));
    let seg = gw.seg_data(&info, 0, &ts);

    // --- the disk is full ------------------------------------------------------------------
    pay.store().set_max_page_count(Some(1)).unwrap();
    let (st, headers, body) = gw
        .send("/payment", &seg, &payment, BodyKind::Inline, Vec::new())
        .await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, 503, "{text}");
    assert!(
        text.contains("ticket store unavailable (disk or database full)")
            && text.contains("nothing was credited"),
        "{text}"
    );
    assert_eq!(headers.get("retry-after").unwrap(), "5");
    assert_eq!(
        pay.balance(&reel_node::jobs::transcode::scope(&session).account(me)),
        (Wei::ZERO, false)
    );
    assert_eq!(pay.counts().unwrap().total(), 0, "nothing stored");

    // A segment carrying the payment: refused the same way, nothing transcoded. The refusal
    // comes before the body is read, so the body is left out: an unread upload can break
    // the pipe under load, which is not what this test is about.
    let (st, _, body) = gw
        .send("/segment", &seg, &payment, BodyKind::Inline, Vec::new())
        .await;
    assert_eq!(st, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("ticket store unavailable"));
    assert_eq!(
        pay.balance(&reel_node::jobs::transcode::scope(&session).account(me)),
        (Wei::ZERO, false)
    );

    let (st, doc) = healthz(&http, cli).await;
    assert_eq!(st, 503, "{doc}");
    assert_eq!(doc["healthy"], false);
    assert_eq!(doc["ticketStore"]["fault"], "full");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("ticket store unavailable (disk or database full)"),
        "{doc}"
    );
    let status = get_json(&http, format!("http://{cli}/status")).await;
    assert_eq!(
        status["payments"]["ticketStore"]["healthy"], false,
        "{status}"
    );
    let m = orch.metrics();
    assert_eq!(metric(&m, "reel_ticket_store_healthy"), Some(0.0), "{m}");
    assert!(metric(&m, "reel_ticket_store_failed_writes_total").unwrap() >= 2.0);
    assert_eq!(metric(&m, "livepeer_segment_transcoded_total"), Some(0.0));
    assert_eq!(
        metric(&m, "reel_segment_rejected_total{reason=\"ticket_store\"}"),
        Some(1.0),
        "{m}"
    );

    // Requests that store nothing are served: discovery with fresh params, and a free
    // gateway's segment is transcoded.
    assert!(gw.session().await.unwrap().ticket_params.is_some());
    let fgw = Client {
        signer: free,
        ..Client::new(orch.uri(), b"c29")
    };
    let finfo = fgw.session().await.unwrap();
    let fseg = fgw.seg_data(&finfo, 0, &ts);
    let (st, body) = fgw.post(&fseg, BodyKind::Inline, ts.clone()).await;
    assert_eq!(st, 200);
    let r = wire::decode_transcode_result(&body, &wire::Limits::default()).unwrap();
    assert!(
        matches!(r.result, Some(proto::transcode_result::Result::Data(_))),
        "{r:?}"
    );

    // Room again: the probe turns the check green, and the same payment is credited once.
    pay.store().set_max_page_count(None).unwrap();
    assert!(pay.probe_store().await.is_healthy());
    let (st, doc) = healthz(&http, cli).await;
    assert_eq!(
        (st, &doc["healthy"]),
        (200, &serde_json::json!(true)),
        "{doc}"
    );
    let (st, _, body) = gw
        .send("/payment", &seg, &payment, BodyKind::Inline, Vec::new())
        .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        pay.balance(&reel_node::jobs::transcode::scope(&session).account(me)),
        (value, false)
    );
    assert_eq!(pay.counts().unwrap().pending, 30);
    // Sent again: a replay, not credited twice.
    let (st, _, _) = gw
        .send("/payment", &seg, &payment, BodyKind::Inline, Vec::new())
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        pay.balance(&reel_node::jobs::transcode::scope(&session).account(me)),
        (value, false)
    );
    assert_eq!(pay.counts().unwrap().pending, 30);

    // --- another process holds the write lock ------------------------------------------------
    pay.store()
        .set_busy_timeout(Duration::from_millis(100))
        .unwrap();
    let side = rusqlite::Connection::open(data.join(reel_node::payments::TICKET_DB)).unwrap();
    side.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (more, more_value) = tickets(&gw, &info, &(31..=40).collect::<Vec<_>>());
    let seg = gw.seg_data(&info, 1, &ts);
    let (st, _, body) = gw
        .send("/segment", &seg, &more, BodyKind::Inline, Vec::new())
        .await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, 503, "{text}");
    assert!(text.contains("database locked by another writer"), "{text}");
    assert_eq!(
        pay.balance(&reel_node::jobs::transcode::scope(&session).account(me)),
        (value, false),
        "to the wei"
    );
    let (st, doc) = healthz(&http, cli).await;
    assert_eq!(
        (st, &doc["ticketStore"]["fault"]),
        (503, &serde_json::json!("busy"))
    );
    side.execute_batch("COMMIT").unwrap();

    // The lock is gone: the same segment and payment go through, paid once.
    let (st, _, body) = gw
        .send("/segment", &seg, &more, BodyKind::Inline, ts.clone())
        .await;
    assert_eq!(st, 200);
    let r = wire::decode_transcode_result(&body, &wire::Limits::default()).unwrap();
    assert!(
        matches!(r.result, Some(proto::transcode_result::Result::Data(_))),
        "{r:?}"
    );
    let (st, _) = healthz(&http, cli).await;
    assert_eq!(st, 200, "the successful commit turned it green");
    let charged = orch
        .status()
        .sessions
        .iter()
        .find(|x| x.id == session)
        .unwrap()
        .charged_pixels;
    assert!(charged > 0);
    let expected = value
        .checked_add(more_value)
        .unwrap()
        .checked_sub(Wei::from_base_units(U256::from(charged)))
        .unwrap();
    assert_eq!(
        pay.balance(&reel_node::jobs::transcode::scope(&session).account(me)),
        (expected, false),
        "to the wei"
    );
    assert_eq!(pay.counts().unwrap().pending, 40);
    assert_eq!(
        metric(&orch.metrics(), "reel_ticket_store_healthy"),
        Some(1.0)
    );
    shutdown.cancel();
    orch.stop().await;
}
