//! Credit per `(counterparty, capability, constraint)`, exact.
//!
//! An account keeps two monotonic sums in units of `1 / price.den` wei: credited (Σ EV of
//! accepted tickets × den) and debited (Σ price.num × units). Balance = credited − debited,
//! which may be negative on the gateway side after a debit (go-livepeer allows it); no float
//! and no rounding anywhere. The first credit pins the account's price
//! (`setFixedPricePerSession`) so later price changes do not touch running work.
//! Accounts idle for longer than the TTL (10 min) are dropped.

use crate::{PmError, PricePerUnit};
use alloy_primitives::{Address, U256};
use reel_types::Wei;
use std::{
    collections::HashMap,
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

/// What credit is for: a capability and its constraint. For AI work the constraint is the
/// model id, so one balance per model is shared by the gateway's requests, as go-livepeer
/// keys them ("`<capability>_<model>`"). For transcoding it is the session (stream): each
/// stream pins its own price, as go-livepeer keys transcoding balances by manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub capability: u32,
    pub constraint: String,
}

impl Scope {
    pub fn new(capability: u32, constraint: impl Into<String>) -> Self {
        Self {
            capability,
            constraint: constraint.into(),
        }
    }

    /// This scope's account with `counterparty`.
    pub fn account(&self, counterparty: Address) -> AccountKey {
        AccountKey {
            counterparty,
            scope: self.clone(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.capability, self.constraint)
    }
}

/// One account: the counterparty (the sender on the orchestrator, the orchestrator on the
/// gateway) and what the credit is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    pub counterparty: Address,
    pub scope: Scope,
}

impl AccountKey {
    pub fn new(counterparty: Address, capability: u32, constraint: impl Into<String>) -> Self {
        Scope::new(capability, constraint).account(counterparty)
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.counterparty, self.scope)
    }
}

/// Idle accounts are forgotten after this long.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone)]
struct Account {
    price: PricePerUnit,
    credited: U256,
    debited: U256,
    last_used: Instant,
}

/// All accounts of one node.
#[derive(Debug)]
pub struct Balances {
    accounts: Mutex<HashMap<AccountKey, Account>>,
    ttl: Duration,
}

impl Default for Balances {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

impl Balances {
    pub fn new(ttl: Duration) -> Self {
        Self {
            accounts: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, Account>> {
        // A panic while holding this lock cannot leave an account half-updated (each update
        // is a single assignment after all checks), so the data is still consistent.
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `amount` wei. The first call for a key pins `price` for the session.
    pub fn credit(
        &self,
        key: &AccountKey,
        amount: Wei,
        price: PricePerUnit,
        now: Instant,
    ) -> Result<(), PmError> {
        let mut map = self.lock();
        let acc = map.entry(key.clone()).or_insert_with(|| Account {
            price,
            credited: U256::ZERO,
            debited: U256::ZERO,
            last_used: now,
        });
        let scaled = amount
            .base_units()
            .checked_mul(acc.price.den())
            .ok_or(PmError::Overflow { what: "credit" })?;
        acc.credited = acc
            .credited
            .checked_add(scaled)
            .ok_or(PmError::Overflow { what: "credit" })?;
        acc.last_used = now;
        Ok(())
    }

    /// Debits `units` of work at the account's pinned price (or `price` if it has none yet).
    pub fn debit_units(
        &self,
        key: &AccountKey,
        units: u64,
        price: PricePerUnit,
        now: Instant,
    ) -> Result<(), PmError> {
        let mut map = self.lock();
        let acc = map.entry(key.clone()).or_insert_with(|| Account {
            price,
            credited: U256::ZERO,
            debited: U256::ZERO,
            last_used: now,
        });
        let fee = acc.price.scaled_fee(units)?;
        acc.debited = acc
            .debited
            .checked_add(fee)
            .ok_or(PmError::Overflow { what: "debit" })?;
        acc.last_used = now;
        Ok(())
    }

    /// The session's pinned price, if it has one.
    pub fn price(&self, key: &AccountKey) -> Option<PricePerUnit> {
        self.lock().get(key).map(|a| a.price)
    }

    /// Whether the balance is at least `amount` wei (the orchestrator serves a segment only
    /// when it covers one ticket's EV, docs/faults.md#n6-balances-are-exact).
    pub fn covers(&self, key: &AccountKey, amount: Wei) -> bool {
        let map = self.lock();
        let Some(acc) = map.get(key) else {
            return amount.is_zero();
        };
        let need = amount
            .base_units()
            .checked_mul(acc.price.den())
            .and_then(|n| n.checked_add(acc.debited));
        need.is_some_and(|need| acc.credited >= need)
    }

    /// The balance as `(non-negative magnitude in wei, rounded toward zero; is_negative)`.
    pub fn balance(&self, key: &AccountKey) -> (Wei, bool) {
        let map = self.lock();
        let Some(acc) = map.get(key) else {
            return (Wei::ZERO, false);
        };
        let (mag, neg) = if acc.credited >= acc.debited {
            (acc.credited.wrapping_sub(acc.debited), false)
        } else {
            (acc.debited.wrapping_sub(acc.credited), true)
        };
        (
            Wei::from_base_units(mag.checked_div(acc.price.den()).unwrap_or(U256::ZERO)),
            neg,
        )
    }

    /// Gateway side: how many tickets of value `ev` to send so the balance reaches
    /// `min_credit` (0 when it already does): `ceil((min_credit − balance) / ev)`.
    pub fn tickets_needed(
        &self,
        key: &AccountKey,
        min_credit: Wei,
        ev: Wei,
    ) -> Result<u64, PmError> {
        if ev.is_zero() {
            return Err(PmError::ParamsRejected {
                reason: "ticket expected value is zero".into(),
            });
        }
        let map = self.lock();
        let (den, credited, debited) = map
            .get(key)
            .map(|a| (a.price.den(), a.credited, a.debited))
            .unwrap_or((U256::from(1u64), U256::ZERO, U256::ZERO));
        let target = min_credit
            .base_units()
            .checked_mul(den)
            .and_then(|t| t.checked_add(debited))
            .ok_or(PmError::Overflow {
                what: "credit target",
            })?;
        if credited >= target {
            return Ok(0);
        }
        let missing = target.wrapping_sub(credited);
        let per_ticket = ev.base_units().checked_mul(den).ok_or(PmError::Overflow {
            what: "ticket value",
        })?;
        let n = missing.div_ceil(per_ticket);
        u64::try_from(n).map_err(|_| PmError::Overflow {
            what: "ticket count",
        })
    }

    /// Drops accounts idle for longer than the TTL; returns how many.
    pub fn expire_idle(&self, now: Instant) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, a| now.saturating_duration_since(a.last_used) <= self.ttl);
        before.saturating_sub(map.len())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// One rendition of a segment, for the gateway's fee estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionEstimate {
    pub width: u32,
    pub height: u32,
    /// Frame rate as `fps_num / fps_den` (use 60/1 for passthrough).
    pub fps_num: u32,
    pub fps_den: u32,
}

/// The gateway's fee estimate for one segment (see docs/compatibility.md#credit-and-balances):
/// `Σ w × h × ceil(fps) × ceil(duration in s) × 1.02 × price`, rounded up to the wei. 1.02 is
/// applied as 102/100, so the estimate is exact.
pub fn segment_fee_estimate(
    renditions: &[RenditionEstimate],
    duration_ms: u64,
    price: &PricePerUnit,
) -> Result<Wei, PmError> {
    let secs = duration_ms.div_ceil(1000);
    let mut pixels = U256::ZERO;
    for r in renditions {
        let fps = u64::from(r.fps_num).div_ceil(u64::from(r.fps_den.max(1)));
        let px = U256::from(r.width)
            .checked_mul(U256::from(r.height))
            .and_then(|v| v.checked_mul(U256::from(fps)))
            .and_then(|v| v.checked_mul(U256::from(secs)))
            .ok_or(PmError::Overflow {
                what: "pixel estimate",
            })?;
        pixels = pixels.checked_add(px).ok_or(PmError::Overflow {
            what: "pixel estimate",
        })?;
    }
    let num = pixels
        .checked_mul(U256::from(102u64))
        .and_then(|v| v.checked_mul(price.num()))
        .ok_or(PmError::Overflow {
            what: "fee estimate",
        })?;
    let den = price
        .den()
        .checked_mul(U256::from(100u64))
        .ok_or(PmError::Overflow {
            what: "fee estimate",
        })?;
    Ok(Wei::from_base_units(num.div_ceil(den)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn key() -> AccountKey {
        AccountKey::new(Address::repeat_byte(1), 1, "session")
    }

    #[test]
    fn keys_read_like_go_livepeer_balance_keys() {
        let k = AccountKey::new(Address::ZERO, 33, "smollm2");
        assert_eq!(k.scope.to_string(), "33_smollm2");
        assert_ne!(k, AccountKey::new(Address::ZERO, 31, "smollm2"));
    }

    fn wei(v: u64) -> Wei {
        Wei::from_base_units(U256::from(v))
    }

    #[test]
    fn credit_debit_exact_with_rational_price() {
        let b = Balances::default();
        let now = Instant::now();
        // 1/3 wei per pixel: 3 pixels cost exactly 1 wei.
        let price = PricePerUnit::new(U256::from(1), U256::from(3)).unwrap();
        b.credit(&key(), wei(10), price, now).unwrap();
        b.debit_units(&key(), 3, price, now).unwrap();
        assert_eq!(b.balance(&key()), (wei(9), false));
        assert!(b.covers(&key(), wei(9)));
        b.debit_units(&key(), 1, price, now).unwrap();
        // 8 2/3 wei left: covers 8, not 9.
        assert!(b.covers(&key(), wei(8)));
        assert!(!b.covers(&key(), wei(9)));
        b.debit_units(&key(), 30, price, now).unwrap();
        // 8 2/3 − 10 = −1 1/3 → magnitude 1 (toward zero), negative.
        assert_eq!(b.balance(&key()), (wei(1), true));
        assert!(!b.covers(&key(), Wei::ZERO));
    }

    #[test]
    fn first_credit_pins_the_price() {
        let b = Balances::default();
        let now = Instant::now();
        b.credit(&key(), wei(100), PricePerUnit::from_wei_per_unit(1), now)
            .unwrap();
        // A later, higher price does not apply to this session.
        b.debit_units(&key(), 10, PricePerUnit::from_wei_per_unit(5), now)
            .unwrap();
        assert_eq!(b.balance(&key()), (wei(90), false));
        assert_eq!(b.price(&key()), Some(PricePerUnit::from_wei_per_unit(1)));
    }

    #[test]
    fn tickets_needed_rounds_up() {
        let b = Balances::default();
        let now = Instant::now();
        assert_eq!(b.tickets_needed(&key(), wei(25), wei(10)).unwrap(), 3);
        b.credit(&key(), wei(20), PricePerUnit::from_wei_per_unit(1), now)
            .unwrap();
        assert_eq!(b.tickets_needed(&key(), wei(25), wei(10)).unwrap(), 1);
        assert_eq!(b.tickets_needed(&key(), wei(20), wei(10)).unwrap(), 0);
        b.debit_units(&key(), 40, PricePerUnit::from_wei_per_unit(1), now)
            .unwrap();
        // Balance −20: need 45 more for 25 → 5 tickets.
        assert_eq!(b.tickets_needed(&key(), wei(25), wei(10)).unwrap(), 5);
        assert!(b.tickets_needed(&key(), wei(25), Wei::ZERO).is_err());
    }

    #[test]
    fn fee_estimate_is_exact() {
        let r = |w, h, fps_num, fps_den| RenditionEstimate {
            width: w,
            height: h,
            fps_num,
            fps_den,
        };
        // 426×240 at 30 fps for 2 s + 640×360 at 30000/1001 (→ 30) for 2 s, 1.02 × 1 wei/px.
        let fee = segment_fee_estimate(
            &[r(426, 240, 30, 1), r(640, 360, 30000, 1001)],
            2000,
            &PricePerUnit::from_wei_per_unit(1),
        )
        .unwrap();
        let pixels: u64 = 426 * 240 * 30 * 2 + 640 * 360 * 30 * 2;
        assert_eq!(fee, wei((pixels * 102).div_ceil(100)));
        // 2.001 s counts as 3 s; a 1/3 wei price rounds the fee up.
        let fee = segment_fee_estimate(
            &[r(10, 10, 1, 1)],
            2001,
            &PricePerUnit::new(U256::from(1), U256::from(3)).unwrap(),
        )
        .unwrap();
        assert_eq!(fee, wei((300u64 * 102).div_ceil(300)));
    }

    #[test]
    fn idle_accounts_expire() {
        let b = Balances::new(Duration::from_secs(600));
        let t0 = Instant::now();
        b.credit(&key(), wei(1), PricePerUnit::ZERO, t0).unwrap();
        assert_eq!(b.expire_idle(t0 + Duration::from_secs(600)), 0);
        assert_eq!(b.expire_idle(t0 + Duration::from_secs(601)), 1);
        assert!(b.is_empty());
    }
}
