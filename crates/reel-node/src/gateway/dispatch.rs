//! The gateway's one dispatch path, shared by every kind of work:
//!
//! discover → filter by capability, model and price → select → pay → submit → verify →
//! debit → score → fail over.
//!
//! A kind brings a [`Work`]: what to ask orchestrators for, its price with each, the fee to
//! pay before, and how to submit and verify one job. The pool it runs in (per stream, or per
//! (capability, model)) keeps the sessions, the latency score per (orchestrator,
//! capability), the suspensions and bans (`pool.rs`).

use std::future::Future;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use reel_net::capabilities::Capabilities;
use reel_net::proto;
use reel_pm::{PricePerUnit, Scope, TicketParams};
use reel_types::Wei;

use super::core::Core;
use super::discovery::{self, Candidate, Discovered};
use super::pool::{OrchSession, Pool};
use super::selection::{self, Choice, Reason};
use crate::payments::SegmentPayment;
use crate::rpc::ServiceUri;
use crate::{FailureKind, NodeError};

/// One job of some kind, as the dispatcher needs it.
pub(crate) trait Work: Sync {
    /// The verified result of one attempt.
    type Done: Send;

    /// What orchestrators are asked for when the pool is refreshed.
    fn capabilities(&self) -> &Capabilities;

    /// The capability the pool scores orchestrators for.
    fn capability(&self) -> u32;

    /// The orchestrator's price for this work; `None` when it does not offer it.
    fn price(&self, s: &OrchSession) -> Option<PricePerUnit>;

    /// The most this gateway pays per unit; `None`: any price.
    fn max_price(&self) -> Option<PricePerUnit>;

    /// Orchestrators to try first when some are usable (a warm model over a cold one).
    fn preferred(&self, _s: &OrchSession) -> bool {
        true
    }

    /// The balance the payment goes to, with this orchestrator session.
    fn scope(&self, s: &OrchSession) -> Scope;

    /// What to pay before submitting, at `price`.
    fn fee(&self, price: &PricePerUnit) -> Result<Wei, NodeError>;

    /// How long the work is expected to take: the latency score's denominator.
    fn expected(&self) -> Duration;

    /// Sends the job with `payment` and verifies the result; `accepted` runs once the
    /// orchestrator has taken the payment.
    fn submit<F: FnOnce() + Send>(
        &self,
        core: &Core,
        s: &OrchSession,
        payment: proto::Payment,
        accepted: F,
    ) -> impl Future<Output = Result<Self::Done, NodeError>> + Send;

    /// Units of work the result is debited for.
    fn units(&self, done: &Self::Done) -> u64;

    /// Orchestrators this work must not go to.
    fn avoid(&self) -> &[ServiceUri] {
        &[]
    }

    /// The one orchestrator this work goes to, whatever the gateway's source lists (a
    /// trusted verifier).
    fn only(&self) -> Option<&Candidate> {
        None
    }

    /// Whether any usable orchestrator will do, drawn uniformly (a re-run that checks
    /// another's result), rather than the selection's choice.
    fn uniform(&self) -> bool {
        false
    }

    /// Orchestrator info piggy-backed on the result (fresh price and params).
    fn info(&self, _done: &mut Self::Done) -> Option<proto::OrchestratorInfo> {
        None
    }
}

/// A job done: its result and how it went.
#[derive(Debug)]
pub(crate) struct Dispatched<T> {
    pub(crate) done: T,
    pub(crate) uri: ServiceUri,
    pub(crate) address: Address,
    pub(crate) reason: Reason,
    pub(crate) attempts: u32,
    pub(crate) tickets: u32,
    pub(crate) value: Wei,
    pub(crate) units: u64,
    pub(crate) price: PricePerUnit,
    /// Whether the job went to another orchestrator than the pool's previous one.
    pub(crate) swapped: bool,
}

/// Every attempt failed.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) attempts: u32,
    pub(crate) last: String,
    /// The last orchestrator tried (empty if none).
    pub(crate) last_orch: String,
}

impl Core {
    /// Runs `work` from `pool` with failover: at most `max_attempts` orchestrators.
    pub(crate) async fn dispatch<W: Work>(
        &self,
        label: &str,
        pool: &mut Pool,
        work: &W,
    ) -> Result<Dispatched<W::Done>, Failed> {
        let mut exclude: Vec<ServiceUri> = work.avoid().to_vec();
        let mut last = String::from("no orchestrator tried");
        let mut last_orch = String::new();
        let mut attempts = 0u32;
        while attempts < self.settings.max_attempts {
            let mut pick = self.pick(pool, work, &exclude);
            if pick.is_none() {
                if let Err(e) = self.refresh(label, pool, work).await {
                    last = e.to_string();
                    break;
                }
                pick = self.pick(pool, work, &exclude);
            }
            let Some((uri, reason)) = pick else {
                last = format!("no usable orchestrator ({last})");
                break;
            };
            attempts += 1;
            if pool.sessions.get(&uri).is_some_and(|s| {
                s.token_expiring()
                    || s.params.as_ref().is_some_and(|p| {
                        self.payments
                            .as_ref()
                            .is_some_and(|pay| pay.validate(p).is_err())
                    })
            }) && let Err(e) = self.renew(pool, &uri, work).await
            {
                pool.suspend(&uri, &e, self.settings.pool_size);
                exclude.push(uri);
                last = e.to_string();
                continue;
            }
            let Some(sess) = pool.sessions.get(&uri).cloned() else {
                continue;
            };
            let Some(price) = work.price(&sess) else {
                exclude.push(uri);
                continue;
            };
            last_orch = uri.to_string();
            let scope = work.scope(&sess);
            let pay = match self.payment_for(&sess, &scope, &price, work) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(target: "node::gateway", %label, orch = %uri, error = %e, "cannot pay this orchestrator");
                    let e = NodeError::orchestrator(
                        &uri.to_string(),
                        FailureKind::Payment,
                        e.to_string(),
                    );
                    pool.suspend(&uri, &e, self.settings.pool_size);
                    exclude.push(uri);
                    last = e.to_string();
                    continue;
                }
            };
            let (tickets, value) = pay
                .as_ref()
                .map_or((0, Wei::ZERO), |p| (p.tickets, p.value));
            let accepted = || {
                if let (Some(p), Some(pay)) = (&pay, &self.payments) {
                    self.metrics.tickets_sent.add(u64::from(p.tickets));
                    self.metrics
                        .ticket_value_sent
                        .add(crate::payments::wei_f64(p.value));
                    if let Err(e) = pay.credit(sess.d.address, &scope, p.value, price) {
                        tracing::warn!(target: "node::gateway", error = %e, "crediting the session failed");
                    }
                }
            };
            let payment = pay.as_ref().map(|p| p.payment.clone()).unwrap_or_default();
            let sent = Instant::now();
            match work.submit(self, &sess, payment, accepted).await {
                Ok(mut done) => {
                    let units = work.units(&done);
                    let score = selection::latency_score(sent.elapsed(), work.expected());
                    if let Some(pay) = &self.payments
                        && !price.is_zero()
                        && let Err(e) = pay.debit(sess.d.address, &scope, units, price)
                    {
                        tracing::warn!(target: "node::gateway", error = %e, "debiting the session failed");
                    }
                    let swapped = pool.last.as_ref().is_some_and(|c| *c != uri);
                    pool.current = Some(uri.clone());
                    pool.last = Some(uri.clone());
                    pool.scores.insert((uri.clone(), work.capability()), score);
                    if let Some(info) = work.info(&mut done)
                        && let Some(s) = pool.sessions.get_mut(&uri)
                        && let Ok(d) = discovery::accept(
                            &s.d.candidate,
                            info,
                            work.capabilities(),
                            s.d.latency,
                        )
                        && d.address == s.d.address
                        // A new service address would need checking (discovery does that).
                        && d.service == s.d.service
                    {
                        // Fresh params and price piggy-backed on the result.
                        if let Ok(p) = self.ticket_params(&d) {
                            s.params = p;
                            s.d = d;
                        }
                    }
                    return Ok(Dispatched {
                        done,
                        address: sess.d.address,
                        uri,
                        reason,
                        attempts,
                        tickets,
                        value,
                        units,
                        price,
                        swapped,
                    });
                }
                Err(e) => {
                    self.metrics.attempt_failures.inc(&[&e
                        .failure_kind()
                        .map_or("other".to_owned(), |k| k.to_string())]);
                    tracing::warn!(target: "node::gateway", %label, orch = %uri, attempt = attempts, error = %e, "attempt failed");
                    if pool.suspend(&uri, &e, self.settings.pool_size) {
                        self.metrics.verification_failures.inc();
                    }
                    exclude.push(uri);
                    last = e.to_string();
                }
            }
        }
        Err(Failed {
            attempts,
            last,
            last_orch,
        })
    }

    pub(super) async fn candidates(&self) -> Result<Vec<Candidate>, NodeError> {
        let mut cache = self.candidates.lock().await;
        if let Some((at, c)) = cache.as_ref()
            && at.elapsed() < super::core::CANDIDATE_TTL
            && !c.is_empty()
        {
            return Ok(c.clone());
        }
        let c = self.source.candidates().await?;
        *cache = Some((Instant::now(), c.clone()));
        Ok(c)
    }

    fn request(&self, caps: &Capabilities) -> proto::OrchestratorRequest {
        let mut r = reel_net::signed::signed_orchestrator_request(&self.signer);
        r.capabilities = Some(caps.to_proto());
        r
    }

    fn usable<W: Work>(
        &self,
        pool: &Pool,
        uri: &ServiceUri,
        exclude: &[ServiceUri],
        work: &W,
    ) -> bool {
        !exclude.contains(uri)
            && !pool.banned.contains(uri)
            && !pool.is_suspended(uri)
            && pool.sessions.get(uri).is_some_and(|s| {
                work.price(s)
                    .is_some_and(|p| work.max_price().is_none_or(|max| p <= max))
            })
    }

    /// Refreshes the pool: asks every candidate not banned.
    async fn refresh<W: Work>(
        &self,
        label: &str,
        pool: &mut Pool,
        work: &W,
    ) -> Result<(), NodeError> {
        pool.refreshes = pool.refreshes.saturating_add(1);
        let cands: Vec<Candidate> = match work.only() {
            Some(c) => vec![c.clone()],
            None => self.candidates().await?,
        }
        .into_iter()
        .filter(|c| !pool.banned.contains(&c.uri))
        .collect();
        if cands.is_empty() {
            return Err(NodeError::NoOrchestrators {
                stream: label.to_owned(),
                reason: "no candidates (check --orch-addr, or the on-chain pool)".into(),
            });
        }
        let want = self.settings.pool_size.max(1);
        let (found, failed) = discovery::discover(
            &cands,
            &self.request(work.capabilities()),
            work.capabilities(),
            want,
            self.settings.discovery_timeout,
            self.settings.allow_private_peers.unwrap_or(true),
        )
        .await;
        for (uri, why) in &failed {
            self.metrics.discovery_errors.inc();
            tracing::info!(target: "node::gateway", %label, orch = %uri, error = %why, "orchestrator not usable");
        }
        for d in found {
            let uri = d.candidate.uri.clone();
            let params = match self.ticket_params(&d) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(target: "node::gateway", %label, orch = %uri, error = %e, "ticket params refused");
                    continue;
                }
            };
            let order = cands
                .iter()
                .position(|c| c.uri == uri)
                .unwrap_or(usize::MAX);
            pool.sessions.insert(uri, OrchSession { d, params, order });
        }
        Ok(())
    }

    /// The ticket params of an answer, validated, when this gateway pays.
    pub(crate) fn ticket_params(&self, d: &Discovered) -> Result<Option<TicketParams>, NodeError> {
        let (Some(pay), Some(tp)) = (&self.payments, &d.info.ticket_params) else {
            return Ok(None);
        };
        if d.price.is_zero()
            && d.info
                .capabilities_prices
                .iter()
                .all(|p| p.price_per_unit == 0)
        {
            return Ok(None);
        }
        let params = TicketParams::from_proto(tp, tp.expiration_params.as_ref(), d.price)?;
        pay.validate(&params)?;
        Ok(Some(params))
    }

    /// Re-asks one orchestrator for a fresh session (expiring token or params).
    async fn renew<W: Work>(
        &self,
        pool: &mut Pool,
        uri: &ServiceUri,
        work: &W,
    ) -> Result<(), NodeError> {
        let old = pool
            .sessions
            .get(uri)
            .cloned()
            .ok_or_else(|| NodeError::Config("no such session".into()))?;
        let (info, latency) = discovery::get_orchestrator(
            uri,
            self.request(work.capabilities()),
            crate::rpc::CALL_TIMEOUT,
        )
        .await?;
        let d = discovery::accept(&old.d.candidate, info, work.capabilities(), latency)
            .map_err(|why| NodeError::orchestrator(&uri.to_string(), FailureKind::Refused, why))?;
        if d.service != old.d.service {
            discovery::check_peer(
                &d.service,
                self.settings.allow_private_peers.unwrap_or(true),
            )
            .await
            .map_err(|why| NodeError::orchestrator(&uri.to_string(), FailureKind::Refused, why))?;
        }
        let params = self.ticket_params(&d)?;
        pool.sessions.insert(
            uri.clone(),
            OrchSession {
                d,
                params,
                order: old.order,
            },
        );
        Ok(())
    }

    fn pick<W: Work>(
        &self,
        pool: &Pool,
        work: &W,
        exclude: &[ServiceUri],
    ) -> Option<(ServiceUri, Reason)> {
        let usable: Vec<&ServiceUri> = pool
            .sessions
            .keys()
            .filter(|u| self.usable(pool, u, exclude, work))
            .collect();
        // A warm model before a cold one: the cold only when no warm one is usable.
        let preferred: Vec<&ServiceUri> = usable
            .iter()
            .copied()
            .filter(|u| work.preferred(&pool.sessions[*u]))
            .collect();
        let uris = if preferred.is_empty() {
            usable
        } else {
            preferred
        };
        if work.uniform() && !uris.is_empty() {
            let i = ((selection::draw() * uris.len() as f64) as usize).min(uris.len() - 1);
            return Some((uris[i].clone(), Reason::Verifier));
        }
        let choices: Vec<Choice> = uris
            .iter()
            .map(|u| {
                let s = &pool.sessions[*u];
                Choice {
                    stake: s.d.candidate.stake,
                    price: work.price(s).map_or(0.0, |p| price_f64(&p)),
                    score: pool.score(u, work.capability()),
                    current: pool.current.as_ref() == Some(*u),
                }
            })
            .collect();
        // Off-chain order follows the configured list, not the URI order of the map.
        let (uris, choices) = if self.source.ordered() {
            let mut idx: Vec<usize> = (0..uris.len()).collect();
            idx.sort_by_key(|i| pool.sessions[uris[*i]].order);
            (
                idx.iter().map(|i| uris[*i]).collect::<Vec<_>>(),
                idx.iter().map(|i| choices[*i].clone()).collect::<Vec<_>>(),
            )
        } else {
            (uris, choices)
        };
        let (i, reason) = selection::select(
            &choices,
            &self.settings.weights,
            self.source.ordered(),
            selection::draw(),
        )?;
        Some((uris[i].clone(), reason))
    }

    fn payment_for<W: Work>(
        &self,
        s: &OrchSession,
        scope: &Scope,
        price: &PricePerUnit,
        work: &W,
    ) -> Result<Option<SegmentPayment>, NodeError> {
        let (Some(pay), Some(params)) = (&self.payments, &s.params) else {
            return Ok(None);
        };
        if price.is_zero() {
            return Ok(None);
        }
        let fee = work.fee(price)?;
        pay.pay(s.d.address, scope, params, fee)
    }
}

/// A price as a float, for the selection weights only (never for money).
pub(crate) fn price_f64(p: &PricePerUnit) -> f64 {
    crate::payments::wei_f64(Wei::from_base_units(p.num()))
        / crate::payments::wei_f64(Wei::from_base_units(p.den())).max(1.0)
}
