//! Max float and the sender watch (see docs/compatibility.md#max-float-and-the-sender-watch): how
//! much a sender can be trusted to pay this orchestrator right now, from its reserve, its deposit
//! and what is being redeemed.
//!
//! `reserveAlloc = (fundsRemaining + claimedInCurrentRound) / poolSize − claimedReserve(sender, us)`
//! (0 for an empty pool), and `maxFloat = reserveAlloc − pending`, except that `pending` is
//! ignored when `deposit ≥ 3 × pending` (the deposit covers it). `pending` is the face value
//! of our redemptions in flight. Sender state is read through [`TicketBroker`] and kept fresh
//! by [`SenderMonitor::apply_event`] from the TicketBroker's events; events that cannot be
//! applied exactly ask for a re-read.

use crate::{PmError, SenderInfo, TicketBroker};
use alloy_primitives::{Address, U256};
use reel_types::Wei;
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Cached sender entries unused for this long are dropped (go-livepeer: 2 days).
pub const SENDER_TTL: Duration = Duration::from_secs(2 * 24 * 60 * 60);

/// A TicketBroker event (or a round change) as the chain watcher decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEvent {
    DepositFunded {
        sender: Address,
        amount: Wei,
    },
    ReserveFunded {
        holder: Address,
        amount: Wei,
    },
    ReserveClaimed {
        holder: Address,
        claimant: Address,
        amount: Wei,
    },
    Withdrawal {
        sender: Address,
    },
    Unlock {
        sender: Address,
        end_round: u64,
    },
    UnlockCancelled {
        sender: Address,
    },
    WinningTicketTransfer {
        sender: Address,
        recipient: Address,
        amount: Wei,
    },
    /// A new round: per-round claims reset.
    NewRound {
        round: u64,
    },
    /// The active pool changed size.
    PoolSize {
        size: u64,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    /// False while the entry only tracks pending amounts and the chain was not read yet.
    loaded: bool,
    info: SenderInfo,
    claimed_by_us: Wei,
    pending: Wei,
    last_access: Instant,
}

#[derive(Debug, Default)]
struct State {
    senders: HashMap<Address, Entry>,
    pool_size: u64,
}

/// Per-sender chain state and pending redemptions, for one recipient address.
#[derive(Debug)]
pub struct SenderMonitor {
    recipient: Address,
    state: Mutex<State>,
}

impl SenderMonitor {
    pub fn new(recipient: Address, pool_size: u64) -> Self {
        Self {
            recipient,
            state: Mutex::new(State {
                senders: HashMap::new(),
                pool_size,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Each update below is applied only after its checks: a poisoned lock still guards
        // consistent data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the sender's state and our claims on its reserve from the chain.
    pub async fn refresh<B: TicketBroker>(
        &self,
        broker: &B,
        sender: Address,
    ) -> Result<(), PmError> {
        let info = broker.sender_info(sender).await?;
        let claimed = broker.claimed_reserve(sender, self.recipient).await?;
        let mut st = self.lock();
        let now = Instant::now();
        let e = st.senders.entry(sender).or_insert_with(|| Entry {
            loaded: true,
            info,
            claimed_by_us: claimed,
            pending: Wei::ZERO,
            last_access: now,
        });
        e.loaded = true;
        e.info = info;
        e.claimed_by_us = claimed;
        e.last_access = now;
        Ok(())
    }

    /// Reads the pool size from the chain.
    pub async fn refresh_pool_size<B: TicketBroker>(&self, broker: &B) -> Result<(), PmError> {
        let n = broker.transcoder_pool_size().await?;
        self.lock().pool_size = n;
        Ok(())
    }

    /// Reads a sender once if it is not cached yet.
    pub async fn ensure<B: TicketBroker>(
        &self,
        broker: &B,
        sender: Address,
    ) -> Result<(), PmError> {
        if self.lock().senders.get(&sender).is_some_and(|e| e.loaded) {
            return Ok(());
        }
        self.refresh(broker, sender).await
    }

    /// Whether `sender` is one this recipient tracks (read or holding pending redemptions):
    /// the chain watcher re-reads only those on TicketBroker events.
    pub fn is_watched(&self, sender: Address) -> bool {
        self.lock().senders.contains_key(&sender)
    }

    /// Every tracked sender (what a chain rollback must re-read).
    pub fn watched(&self) -> Vec<Address> {
        self.lock().senders.keys().copied().collect()
    }

    /// The cached sender state, if any.
    pub fn sender_info(&self, sender: Address) -> Option<SenderInfo> {
        let mut st = self.lock();
        let e = st.senders.get_mut(&sender).filter(|e| e.loaded)?;
        e.last_access = Instant::now();
        Some(e.info)
    }

    /// The sender's max float for this recipient (0 if unknown).
    pub fn max_float(&self, sender: Address) -> Result<Wei, PmError> {
        let st = self.lock();
        let Some(e) = st.senders.get(&sender) else {
            return Ok(Wei::ZERO);
        };
        let reserve_alloc = if st.pool_size == 0 {
            Wei::ZERO
        } else {
            let total = e
                .info
                .reserve
                .funds_remaining
                .checked_add(e.info.reserve.claimed_in_current_round)?;
            let share = total
                .base_units()
                .checked_div(U256::from(st.pool_size))
                .unwrap_or(U256::ZERO);
            // A pool that grew mid-round can make the share smaller than what we claimed.
            Wei::from_base_units(share.saturating_sub(e.claimed_by_us.base_units()))
        };
        let three_pending = e.pending.checked_mul(U256::from(3u64))?;
        if !e.pending.is_zero() && e.info.deposit >= three_pending {
            return Ok(reserve_alloc);
        }
        Ok(Wei::from_base_units(
            reserve_alloc
                .base_units()
                .saturating_sub(e.pending.base_units()),
        ))
    }

    /// Counts a redemption in flight against the sender.
    pub fn add_pending(&self, sender: Address, amount: Wei) -> Result<(), PmError> {
        let mut st = self.lock();
        let e = st.senders.entry(sender).or_insert_with(|| Entry {
            loaded: false,
            info: SenderInfo::default(),
            claimed_by_us: Wei::ZERO,
            pending: Wei::ZERO,
            last_access: Instant::now(),
        });
        e.pending = e.pending.checked_add(amount)?;
        Ok(())
    }

    /// Sets the amount in flight (start-up recovery recomputes it from the store).
    pub fn set_pending(&self, sender: Address, amount: Wei) {
        let mut st = self.lock();
        let e = st.senders.entry(sender).or_insert_with(|| Entry {
            loaded: false,
            info: SenderInfo::default(),
            claimed_by_us: Wei::ZERO,
            pending: Wei::ZERO,
            last_access: Instant::now(),
        });
        e.pending = amount;
    }

    /// Releases a finished redemption; refuses to go below zero (see
    /// docs/faults.md#n6-balances-are-exact).
    pub fn sub_pending(&self, sender: Address, amount: Wei) -> Result<(), PmError> {
        let mut st = self.lock();
        let pending = st
            .senders
            .get(&sender)
            .map(|e| e.pending)
            .unwrap_or(Wei::ZERO);
        let left = pending
            .checked_sub(amount)
            .map_err(|_| PmError::PendingUnderflow {
                sender,
                amount,
                pending,
            })?;
        if let Some(e) = st.senders.get_mut(&sender) {
            e.pending = left;
        }
        Ok(())
    }

    pub fn pending(&self, sender: Address) -> Wei {
        self.lock()
            .senders
            .get(&sender)
            .map(|e| e.pending)
            .unwrap_or(Wei::ZERO)
    }

    /// Applies an event to the cache. Returns the senders whose state must be re-read
    /// (events whose effect on deposit vs reserve cannot be derived exactly).
    pub fn apply_event(&self, ev: &BrokerEvent) -> Result<Vec<Address>, PmError> {
        let mut st = self.lock();
        let mut refresh = Vec::new();
        match ev {
            BrokerEvent::DepositFunded { sender, amount } => {
                if let Some(e) = st.senders.get_mut(sender) {
                    e.info.deposit = e.info.deposit.checked_add(*amount)?;
                }
            }
            BrokerEvent::ReserveFunded { holder, amount } => {
                if let Some(e) = st.senders.get_mut(holder) {
                    e.info.reserve.funds_remaining =
                        e.info.reserve.funds_remaining.checked_add(*amount)?;
                }
            }
            BrokerEvent::ReserveClaimed {
                holder,
                claimant,
                amount,
            } => {
                let me = self.recipient;
                if let Some(e) = st.senders.get_mut(holder) {
                    let r = &mut e.info.reserve;
                    match r.funds_remaining.checked_sub(*amount) {
                        Ok(left) => {
                            r.funds_remaining = left;
                            r.claimed_in_current_round =
                                r.claimed_in_current_round.checked_add(*amount)?;
                            if *claimant == me {
                                e.claimed_by_us = e.claimed_by_us.checked_add(*amount)?;
                            }
                        }
                        // Our cache is behind the chain: re-read rather than guess.
                        Err(_) => refresh.push(*holder),
                    }
                }
            }
            BrokerEvent::Withdrawal { sender } => {
                if let Some(e) = st.senders.get_mut(sender) {
                    e.info.deposit = Wei::ZERO;
                    e.info.reserve.funds_remaining = Wei::ZERO;
                }
            }
            BrokerEvent::Unlock { sender, end_round } => {
                if let Some(e) = st.senders.get_mut(sender) {
                    e.info.withdraw_round = *end_round;
                }
            }
            BrokerEvent::UnlockCancelled { sender } => {
                if let Some(e) = st.senders.get_mut(sender) {
                    e.info.withdraw_round = 0;
                }
            }
            BrokerEvent::WinningTicketTransfer { sender, .. } => {
                if st.senders.contains_key(sender) {
                    refresh.push(*sender);
                }
            }
            BrokerEvent::NewRound { .. } => {
                refresh.extend(st.senders.keys().copied());
            }
            BrokerEvent::PoolSize { size } => st.pool_size = *size,
        }
        Ok(refresh)
    }

    /// Drops senders unused for `ttl` that have nothing pending.
    pub fn cleanup(&self, now: Instant, ttl: Duration) -> usize {
        let mut st = self.lock();
        let before = st.senders.len();
        st.senders.retain(|_, e| {
            !e.pending.is_zero() || now.saturating_duration_since(e.last_access) <= ttl
        });
        before.saturating_sub(st.senders.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ReserveInfo;
    use crate::testing::MemoryBroker;

    fn wei(v: u64) -> Wei {
        Wei::from_base_units(U256::from(v))
    }

    #[tokio::test]
    async fn max_float_formula() {
        let me = Address::repeat_byte(0xaa);
        let sender = Address::repeat_byte(0xbb);
        let broker = MemoryBroker::new(me);
        broker.set_sender(
            sender,
            SenderInfo {
                deposit: wei(1000),
                withdraw_round: 0,
                reserve: ReserveInfo {
                    funds_remaining: wei(900),
                    claimed_in_current_round: wei(100),
                },
            },
        );
        broker.set_pool_size(4);
        broker.set_claimed(sender, me, wei(50));
        let m = SenderMonitor::new(me, 0);
        assert_eq!(m.max_float(sender).unwrap(), Wei::ZERO, "unknown sender");
        m.refresh(&broker, sender).await.unwrap();
        assert_eq!(m.max_float(sender).unwrap(), Wei::ZERO, "pool size 0");
        m.refresh_pool_size(&broker).await.unwrap();
        // (900 + 100) / 4 − 50 = 200
        assert_eq!(m.max_float(sender).unwrap(), wei(200));
        // pending 400: deposit 1000 < 3 × 400 → 200 − 400 → 0
        m.add_pending(sender, wei(400)).unwrap();
        assert_eq!(m.max_float(sender).unwrap(), Wei::ZERO);
        m.sub_pending(sender, wei(300)).unwrap();
        // pending 100: deposit 1000 ≥ 300 → pending ignored
        assert_eq!(m.max_float(sender).unwrap(), wei(200));
        assert!(matches!(
            m.sub_pending(sender, wei(101)),
            Err(PmError::PendingUnderflow { .. })
        ));
        m.sub_pending(sender, wei(100)).unwrap();
    }

    #[tokio::test]
    async fn events_update_the_cache() {
        let me = Address::repeat_byte(0xaa);
        let s = Address::repeat_byte(0xbb);
        let m = SenderMonitor::new(me, 2);
        // Unknown senders are not cached by events.
        m.apply_event(&BrokerEvent::DepositFunded {
            sender: s,
            amount: wei(5),
        })
        .unwrap();
        assert!(m.sender_info(s).is_none());
        m.refresh(&MemoryBroker::new(me), s).await.unwrap();
        assert_eq!(m.sender_info(s), Some(SenderInfo::default()));
        m.apply_event(&BrokerEvent::ReserveFunded {
            holder: s,
            amount: wei(100),
        })
        .unwrap();
        m.apply_event(&BrokerEvent::ReserveClaimed {
            holder: s,
            claimant: me,
            amount: wei(10),
        })
        .unwrap();
        let info = m.sender_info(s).unwrap();
        assert_eq!(info.reserve.funds_remaining, wei(90));
        assert_eq!(info.reserve.claimed_in_current_round, wei(10));
        // (90 + 10) / 2 − 10 = 40
        assert_eq!(m.max_float(s).unwrap(), wei(40));
        m.apply_event(&BrokerEvent::Unlock {
            sender: s,
            end_round: 9,
        })
        .unwrap();
        assert_eq!(m.sender_info(s).unwrap().withdraw_round, 9);
        m.apply_event(&BrokerEvent::UnlockCancelled { sender: s })
            .unwrap();
        assert_eq!(m.sender_info(s).unwrap().withdraw_round, 0);
        assert_eq!(
            m.apply_event(&BrokerEvent::WinningTicketTransfer {
                sender: s,
                recipient: me,
                amount: wei(1)
            })
            .unwrap(),
            vec![s]
        );
        assert_eq!(
            m.apply_event(&BrokerEvent::ReserveClaimed {
                holder: s,
                claimant: me,
                amount: wei(1000)
            })
            .unwrap(),
            vec![s],
            "claim larger than the cached reserve asks for a re-read"
        );
        m.apply_event(&BrokerEvent::Withdrawal { sender: s })
            .unwrap();
        assert_eq!(m.max_float(s).unwrap(), Wei::ZERO);
        m.apply_event(&BrokerEvent::PoolSize { size: 0 }).unwrap();
        assert_eq!(
            m.cleanup(
                Instant::now() + SENDER_TTL + Duration::from_secs(1),
                SENDER_TTL
            ),
            1
        );
    }
}
