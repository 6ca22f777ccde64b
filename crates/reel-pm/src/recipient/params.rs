//! What a recipient issues: face value and win probability from its config, gas and the
//! sender's max float (see docs/compatibility.md#face-value-and-win-probability), and the
//! fixed-width `recipientRand` HMAC.

use crate::{PmError, PricePerPixel, TicketParams, ticket::MAX_WIN_PROB};
use alloy_primitives::{Address, U256};
use hmac::{KeyInit, Mac};
use reel_types::Wei;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Domain tag of the HMAC input, so the secret can never be confused with another use.
const RAND_TAG: &[u8] = b"reel/recipient-rand/v1";

/// The orchestrator's payment settings (go-livepeer flag names in parentheses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientConfig {
    /// Expected value of one ticket (go-livepeer `-ticketEV`), default 8e9 wei.
    pub ticket_ev: Wei,
    /// Gas one redemption costs, default 1,200,000 (Arbitrum; 350,000 on L1).
    pub redeem_gas: u64,
    /// Face value = tx cost × this, default 100.
    pub tx_cost_multiplier: u64,
    /// Cap on face value (go-livepeer `-maxFaceValue`), `None` = no cap.
    pub max_face_value: Option<Wei>,
    /// Floor of the gas price used for pricing (go-livepeer `-minGasPrice`).
    pub min_gas_price: Wei,
    /// The "average" gas price below which a face value under the tx cost is refused: 3 gwei.
    pub avg_gas_price: Wei,
    /// Blocks a parameter set stays valid, default 40.
    pub params_validity_blocks: u64,
    /// Nonces accepted per parameter set, default 600.
    pub max_nonces_per_rand: usize,
    /// Tickets accepted in one payment, default 600.
    pub max_tickets_per_payment: usize,
    /// The TicketBroker's `ticketValidityPeriod` in rounds, default 2.
    pub ticket_validity_rounds: u64,
}

impl Default for RecipientConfig {
    fn default() -> Self {
        Self {
            ticket_ev: Wei::from_base_units(U256::from(8_000_000_000u64)),
            redeem_gas: 1_200_000,
            tx_cost_multiplier: 100,
            max_face_value: None,
            min_gas_price: Wei::ZERO,
            avg_gas_price: Wei::from_base_units(U256::from(3_000_000_000u64)),
            params_validity_blocks: 40,
            max_nonces_per_rand: 600,
            max_tickets_per_payment: 600,
            ticket_validity_rounds: 2,
        }
    }
}
/// Face value and win probability for a sender (see
/// docs/compatibility.md#face-value-and-win-probability). `Ok((0, 0))` for a zero price.
pub fn face_value_and_win_prob(
    cfg: &RecipientConfig,
    price: &PricePerPixel,
    gas_price: Wei,
    max_float: Wei,
) -> Result<(Wei, U256), PmError> {
    if price.is_zero() {
        return Ok((Wei::ZERO, U256::ZERO));
    }
    let ev = cfg.ticket_ev;
    let gas_price = gas_price.max(cfg.min_gas_price);
    let tx_cost = gas_price.checked_mul(U256::from(cfg.redeem_gas))?;
    let mut fv = tx_cost.checked_mul(U256::from(cfg.tx_cost_multiplier))?;
    if fv < ev {
        fv = ev.checked_mul(U256::from(100u64))?;
    }
    fv = fv.min(max_float);
    if let Some(cap) = cfg.max_face_value {
        fv = fv.min(cap);
    }
    let avg_cost = cfg.avg_gas_price.checked_mul(U256::from(cfg.redeem_gas))?;
    if fv < ev || (fv < tx_cost && fv < avg_cost) {
        return Err(PmError::InsufficientSenderReserve { max_float, ev });
    }
    Ok((fv, win_prob_for(fv, ev)?))
}

/// `winProb` giving expected value `ev` at face value `fv`: `ev × ceil((2^256 − 1) / fv)`,
/// or `2^256 − 1` when `fv == ev`.
pub fn win_prob_for(fv: Wei, ev: Wei) -> Result<U256, PmError> {
    if fv.is_zero() {
        return Ok(U256::ZERO);
    }
    if fv == ev {
        return Ok(MAX_WIN_PROB);
    }
    let ceil = MAX_WIN_PROB.div_ceil(fv.base_units());
    ev.base_units().checked_mul(ceil).ok_or(PmError::Overflow {
        what: "win probability",
    })
}

/// The fixed-width HMAC of a parameter set for `sender` (see the `recipient` module docs).
pub fn recipient_rand(secret: &[u8; 32], params: &TicketParams, sender: Address) -> U256 {
    // HMAC accepts any key length: this cannot fail for a 32-byte key.
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret) else {
        return U256::ZERO;
    };
    mac.update(RAND_TAG);
    mac.update(&params.seed.to_be_bytes::<32>());
    mac.update(params.recipient.as_slice());
    mac.update(sender.as_slice());
    mac.update(&params.face_value.base_units().to_be_bytes::<32>());
    mac.update(&params.win_prob.to_be_bytes::<32>());
    mac.update(&params.expiration_block.to_be_bytes());
    mac.update(&params.price.num().to_be_bytes::<32>());
    mac.update(&params.price.den().to_be_bytes::<32>());
    mac.update(&params.expiration.creation_round.to_be_bytes());
    mac.update(params.expiration.creation_round_block_hash.as_slice());
    U256::from_be_slice(&mac.finalize().into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::ticket;

    fn wei(v: u64) -> Wei {
        Wei::from_base_units(U256::from(v))
    }

    #[test]
    fn face_value_follows_gas_and_caps() {
        let cfg = RecipientConfig::default();
        let price = PricePerPixel::from_wei_per_unit(1);
        let gwei = 1_000_000_000u64;
        // 1 gwei × 1.2M gas = 1.2e15 tx cost → fv 1.2e17.
        let (fv, wp) =
            face_value_and_win_prob(&cfg, &price, wei(gwei), Wei::from_whole(1)).unwrap();
        assert_eq!(fv, wei(120_000_000_000_000_000));
        assert_eq!(
            wp,
            cfg.ticket_ev.base_units() * MAX_WIN_PROB.div_ceil(fv.base_units())
        );
        assert!(ticket::ev(fv, wp) >= cfg.ticket_ev);
        // Capped by max float.
        let (fv, _) =
            face_value_and_win_prob(&cfg, &price, wei(gwei), wei(5_000_000_000_000_000)).unwrap();
        assert_eq!(fv, wei(5_000_000_000_000_000));
        // Max float below EV: no params.
        assert!(matches!(
            face_value_and_win_prob(&cfg, &price, wei(gwei), wei(1)),
            Err(PmError::InsufficientSenderReserve { .. })
        ));
        // Gas price 0 (provider glitch, #1851): fv = EV × 100, still redeemable later.
        let (fv, _) = face_value_and_win_prob(&cfg, &price, Wei::ZERO, Wei::from_whole(1)).unwrap();
        assert_eq!(fv, cfg.ticket_ev.checked_mul(U256::from(100)).unwrap());
        // Max float between EV and the 3-gwei tx cost while gas is expensive: refused.
        assert!(
            face_value_and_win_prob(&cfg, &price, wei(50 * gwei), wei(1_000_000_000_000_000))
                .is_err()
        );
        // fv == EV → always wins.
        let cfg2 = RecipientConfig {
            max_face_value: Some(cfg.ticket_ev),
            avg_gas_price: Wei::ZERO,
            ..cfg
        };
        let (fv, wp) =
            face_value_and_win_prob(&cfg2, &price, Wei::ZERO, Wei::from_whole(1)).unwrap();
        assert_eq!((fv, wp), (cfg.ticket_ev, MAX_WIN_PROB));
        // Free: no tickets.
        assert_eq!(
            face_value_and_win_prob(&cfg, &PricePerPixel::ZERO, wei(gwei), Wei::ZERO).unwrap(),
            (Wei::ZERO, U256::ZERO)
        );
    }
}
