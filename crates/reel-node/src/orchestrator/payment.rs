//! `POST /payment`: go-livepeer's payment-only request, which tops up a stream's credit at
//! its price and answers with fresh `OrchestratorInfo` (new ticket params).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reel_net::http as wire;
use reel_net::proto;

use super::admission::check_request;
use super::state::Inner;
use crate::jobs::transcode;

pub(super) async fn payment(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let c = match check_request(&inner, peer, &headers) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    if let (Some(payments), Some(p)) = (&inner.payments, &c.payment) {
        // `/payment` tops up a stream's credit at its price (go-livepeer's payment-only
        // request).
        let price = inner.price_for(c.gateway);
        match payments
            .receive(p, c.gateway, &transcode::scope(&c.session), price)
            .await
        {
            Ok(o) => {
                inner.metrics.record_payment(&o);
            }
            Err(e) => {
                inner.metrics.payment_recv_errors.inc();
                return super::health::payment_refusal_response(&e);
            }
        }
    }
    let token = c.seg.auth_token.clone().unwrap_or_default();
    match inner.info(c.gateway, token).await {
        Ok(info) => {
            let body = wire::encode_payment_result(&proto::PaymentResult { info: Some(info) });
            ([(header::CONTENT_TYPE, wire::CONTENT_TYPE_PROTOBUF)], body).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
