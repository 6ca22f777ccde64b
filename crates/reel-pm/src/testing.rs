//! Test support: an in-memory model of the TicketBroker (the chain boundary, until the
//! contract and the anvil tests exist) and fixtures.
//!
//! [`MemoryBroker`] follows docs/compatibility.md#redemption-checks: the redemption checks in the
//! contract's order with its revert strings, deposit before reserve, reserve allocation per
//! active transcoder per round, `usedTickets`. Transactions wait in a mempool (one per
//! account nonce, a replacement needs a higher gas price) until [`MemoryBroker::mine`].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::{
    ChainState, PmError, PreparedTx, PricePerPixel, Receipt, ReserveInfo, SenderInfo, SignedTicket,
    Store, TicketBroker, TicketParams,
    ticket::{self, ExpirationParams, MAX_WIN_PROB},
};
use alloy_primitives::{Address, B256, U256, keccak256};
use reel_net::EthSigner;
use reel_types::Wei;
use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::Mutex,
};

pub fn wei(v: u64) -> Wei {
    Wei::from_base_units(U256::from(v))
}

pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("pm.sqlite")).unwrap();
    (dir, store)
}

pub fn gateway_key() -> EthSigner {
    EthSigner::from_bytes(&[0x42; 32]).unwrap()
}

/// Params as an orchestrator at `0x0a…` would issue them (rand 7), expiring at `exp`.
pub fn issued_params(exp: u64) -> TicketParams {
    TicketParams {
        recipient: Address::repeat_byte(0x0a),
        // 0.002 ETH beats a 1.2M-gas redemption at 1 gwei; EV 1e12 wei.
        face_value: wei(2_000_000_000_000_000),
        win_prob: crate::recipient::win_prob_for(
            wei(2_000_000_000_000_000),
            wei(1_000_000_000_000),
        )
        .unwrap(),
        recipient_rand_hash: ticket::recipient_rand_hash(U256::from(7u64)),
        seed: U256::from(1u64),
        expiration_block: exp,
        expiration: ExpirationParams {
            creation_round: 10,
            creation_round_block_hash: B256::repeat_byte(10),
        },
        price: PricePerPixel::from_wei_per_unit(1),
    }
}

/// A validly signed always-winning ticket from [`gateway_key`] on [`issued_params`].
pub fn signed_ticket(nonce: u32) -> SignedTicket {
    let mut p = issued_params(140);
    p.win_prob = MAX_WIN_PROB;
    let t = p.ticket(gateway_key().address(), nonce);
    SignedTicket {
        sig: t.sign(&gateway_key()),
        ticket: t,
        recipient_rand: U256::from(7u64),
    }
}

#[derive(Debug, Clone)]
struct Pending {
    tx: PreparedTx,
    ticket: SignedTicket,
}

#[derive(Debug, Default)]
struct Chain {
    block: u64,
    round: u64,
    round_initialized: bool,
    round_hashes: HashMap<u64, B256>,
    validity: u64,
    pool: HashSet<Address>,
    pool_size_override: Option<u64>,
    senders: HashMap<Address, SenderInfo>,
    /// (holder, round) → total claimed in that round; (holder, round, claimant) → claimed.
    claimed_round: HashMap<(Address, u64), Wei>,
    claimed_by: HashMap<(Address, u64, Address), Wei>,
    used: HashSet<B256>,
    gas_price: Wei,
    next_nonce: u64,
    /// Account nonces mined so far (the `latest` transaction count).
    mined_nonce: u64,
    mempool: BTreeMap<u64, Pending>,
    receipts: HashMap<B256, Receipt>,
    fees: HashMap<Address, Wei>,
    /// WinningTicketRedeemed events per ticket hash.
    redeemed_events: HashMap<B256, u32>,
    broadcast_errors: VecDeque<PmError>,
    prepare_errors: VecDeque<PmError>,
    /// Transactions this node signed, by hash (a signed tx carries its ticket).
    signed_txs: HashMap<B256, SignedTicket>,
    prepared: u32,
    /// The next `usedTickets` read mines a block first (a block landing between two reads).
    mine_before_used_check: bool,
}

/// The in-memory TicketBroker model.
#[derive(Debug)]
pub struct MemoryBroker {
    chain: Mutex<Chain>,
}

impl MemoryBroker {
    pub fn new(recipient: Address) -> Self {
        let mut c = Chain {
            block: 100,
            round: 10,
            round_initialized: true,
            validity: 2,
            gas_price: wei(1_000_000_000),
            ..Default::default()
        };
        c.round_hashes.insert(10, B256::repeat_byte(10));
        c.pool.insert(recipient);
        Self {
            chain: Mutex::new(c),
        }
    }

    fn c(&self) -> std::sync::MutexGuard<'_, Chain> {
        self.chain.lock().unwrap()
    }

    /// Sets a sender's state; its `claimed_in_current_round` counts as claimed this round.
    pub fn set_sender(&self, sender: Address, mut info: SenderInfo) {
        let mut c = self.c();
        let r = c.round;
        c.claimed_round
            .insert((sender, r), info.reserve.claimed_in_current_round);
        info.reserve.claimed_in_current_round = Wei::ZERO;
        c.senders.insert(sender, info);
    }
    pub fn sender(&self, sender: Address) -> SenderInfo {
        self.c().senders.get(&sender).copied().unwrap_or_default()
    }
    pub fn set_pool_size(&self, n: u64) {
        self.c().pool_size_override = Some(n);
    }
    pub fn set_claimed(&self, holder: Address, claimant: Address, amount: Wei) {
        let mut c = self.c();
        let r = c.round;
        c.claimed_by.insert((holder, r, claimant), amount);
    }
    pub fn set_gas_price(&self, g: Wei) {
        self.c().gas_price = g;
    }
    pub fn advance_blocks(&self, n: u64) {
        self.c().block += n;
    }
    pub fn block(&self) -> u64 {
        self.c().block
    }
    /// Moves to the next round and initialises it (a fresh block hash).
    pub fn next_round(&self) {
        let mut c = self.c();
        c.round += 1;
        let r = c.round;
        c.round_hashes.insert(r, B256::repeat_byte(r as u8));
        c.round_initialized = true;
    }
    pub fn round(&self) -> u64 {
        self.c().round
    }
    pub fn set_round_initialized(&self, v: bool) {
        self.c().round_initialized = v;
    }
    pub fn fail_next_broadcast(&self, e: PmError) {
        self.c().broadcast_errors.push_back(e);
    }
    /// The next `prepare_redeem` fails (the chain broker's gas estimate runs the redemption,
    /// so a contract refusal shows up there).
    pub fn fail_next_prepare(&self, e: PmError) {
        self.c().prepare_errors.push_back(e);
    }
    pub fn fees(&self, recipient: Address) -> Wei {
        self.c().fees.get(&recipient).copied().unwrap_or(Wei::ZERO)
    }
    pub fn redeemed_events(&self, ticket_hash: B256) -> u32 {
        self.c()
            .redeemed_events
            .get(&ticket_hash)
            .copied()
            .unwrap_or(0)
    }
    pub fn prepared(&self) -> u32 {
        self.c().prepared
    }
    pub fn mempool_len(&self) -> usize {
        self.c().mempool.len()
    }
    /// Another transaction of the redeeming account (the keeper's `reward()`) is mined with
    /// the next nonce, evicting whatever of ours waited on it.
    pub fn other_tx_takes_next_nonce(&self) {
        let mut c = self.c();
        let n = c.mined_nonce;
        c.mempool.remove(&n);
        c.mined_nonce = n + 1;
        c.next_nonce = c.next_nonce.max(n + 1);
        c.block += 1;
    }
    /// Forgets the mempool, as a restarted node or a reorg does.
    pub fn drop_mempool(&self) {
        self.c().mempool.clear();
    }
    /// Somebody else redeems a ticket directly (front-run).
    pub fn redeem_directly(&self, t: &SignedTicket) -> Result<(), String> {
        let mut c = self.c();
        Self::execute(&mut c, t)
    }

    /// A block is mined right before the next `usedTickets` read, after the receipts were
    /// read: the redeemer's view of one tick straddles two blocks.
    pub fn mine_before_next_used_check(&self) {
        self.c().mine_before_used_check = true;
    }

    /// Mines one block with every transaction in the mempool.
    pub fn mine(&self) {
        let mut c = self.c();
        c.block += 1;
        let block = c.block;
        let txs: Vec<Pending> = std::mem::take(&mut c.mempool).into_values().collect();
        for p in txs {
            c.mined_nonce = c.mined_nonce.max(p.tx.tx_nonce + 1);
            let res = Self::execute(&mut c, &p.ticket);
            let receipt = Receipt {
                block,
                success: res.is_ok(),
                revert_reason: res.err(),
            };
            c.receipts.insert(p.tx.tx_hash, receipt);
        }
    }

    fn claimable(c: &Chain, holder: Address, claimant: Address) -> Wei {
        let pool = c.pool_size_override.unwrap_or(c.pool.len() as u64);
        if !c.pool.contains(&claimant) || pool == 0 {
            return Wei::ZERO;
        }
        let info = c.senders.get(&holder).copied().unwrap_or_default();
        let claimed_round = c
            .claimed_round
            .get(&(holder, c.round))
            .copied()
            .unwrap_or(Wei::ZERO);
        let share = (info.reserve.funds_remaining.base_units() + claimed_round.base_units())
            / U256::from(pool);
        let by = c
            .claimed_by
            .get(&(holder, c.round, claimant))
            .copied()
            .unwrap_or(Wei::ZERO);
        Wei::from_base_units(share - by.base_units())
    }

    /// `redeemWinningTicket`, checks in the contract's order (see
    /// docs/compatibility.md#redemption-checks).
    fn execute(c: &mut Chain, st: &SignedTicket) -> Result<(), String> {
        let t = &st.ticket;
        if t.recipient.is_zero() {
            return Err("ticket recipient is null address".into());
        }
        if t.sender.is_zero() {
            return Err("ticket sender is null address".into());
        }
        if t.expiration.aux_data().len() != 64 {
            return Err("invalid length for ticket auxData: must be 64 bytes".into());
        }
        let round_hash = c.round_hashes.get(&t.expiration.creation_round).copied();
        if round_hash.is_none_or(|h| h.is_zero()) {
            return Err("ticket creationRound does not have a block hash".into());
        }
        if round_hash != Some(t.expiration.creation_round_block_hash) {
            return Err("ticket creationRoundBlockHash invalid for creationRound".into());
        }
        if t.expiration.creation_round + c.validity <= c.round {
            return Err("ticket is expired".into());
        }
        if ticket::recipient_rand_hash(st.recipient_rand) != t.recipient_rand_hash {
            return Err("recipientRand does not match recipientRandHash".into());
        }
        let h = t.hash();
        if c.used.contains(&h) {
            return Err("ticket is used".into());
        }
        if t.recover_signer(&st.sig).ok() != Some(t.sender) {
            return Err("invalid signature over ticket hash".into());
        }
        if !ticket::wins(&st.sig, st.recipient_rand, t.win_prob) {
            return Err("ticket did not win".into());
        }
        let mut info = c.senders.get(&t.sender).copied().unwrap_or_default();
        if !(info.withdraw_round == 0 || c.round < info.withdraw_round) {
            return Err("sender is unlocked".into());
        }
        if info.deposit.is_zero() && info.reserve.funds_remaining.is_zero() {
            return Err("sender deposit and reserve are zero".into());
        }
        c.used.insert(h);
        let amount = if t.face_value > info.deposit {
            let want = t.face_value.checked_sub(info.deposit).unwrap();
            let claim = want.min(Self::claimable(c, t.sender, t.recipient));
            let paid = info.deposit.checked_add(claim).unwrap();
            info.deposit = Wei::ZERO;
            info.reserve.funds_remaining = info.reserve.funds_remaining.checked_sub(claim).unwrap();
            let r = c.round;
            let e = c.claimed_round.entry((t.sender, r)).or_insert(Wei::ZERO);
            *e = e.checked_add(claim).unwrap();
            let e = c
                .claimed_by
                .entry((t.sender, r, t.recipient))
                .or_insert(Wei::ZERO);
            *e = e.checked_add(claim).unwrap();
            paid
        } else {
            info.deposit = info.deposit.checked_sub(t.face_value).unwrap();
            t.face_value
        };
        c.senders.insert(t.sender, info);
        let f = c.fees.entry(t.recipient).or_insert(Wei::ZERO);
        *f = f.checked_add(amount).unwrap();
        *c.redeemed_events.entry(h).or_insert(0) += 1;
        Ok(())
    }
}

impl TicketBroker for MemoryBroker {
    async fn chain_state(&self) -> Result<ChainState, PmError> {
        let c = self.c();
        Ok(ChainState {
            block: c.block,
            current_round: c.round,
            current_round_initialized: c.round_initialized,
        })
    }
    async fn sender_info(&self, sender: Address) -> Result<SenderInfo, PmError> {
        let c = self.c();
        let mut info = c.senders.get(&sender).copied().unwrap_or_default();
        info.reserve.claimed_in_current_round = c
            .claimed_round
            .get(&(sender, c.round))
            .copied()
            .unwrap_or(Wei::ZERO);
        Ok(info)
    }
    async fn claimed_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        let c = self.c();
        Ok(c.claimed_by
            .get(&(holder, c.round, claimant))
            .copied()
            .unwrap_or(Wei::ZERO))
    }
    async fn claimable_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        Ok(Self::claimable(&self.c(), holder, claimant))
    }
    async fn transcoder_pool_size(&self) -> Result<u64, PmError> {
        let c = self.c();
        Ok(c.pool_size_override.unwrap_or(c.pool.len() as u64))
    }
    async fn is_used_ticket(&self, h: B256) -> Result<bool, PmError> {
        let mine_first = std::mem::take(&mut self.c().mine_before_used_check);
        if mine_first {
            self.mine();
        }
        Ok(self.c().used.contains(&h))
    }
    async fn gas_price(&self) -> Result<Wei, PmError> {
        Ok(self.c().gas_price)
    }
    async fn prepare_redeem(
        &self,
        ticket: &SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> Result<PreparedTx, PmError> {
        let mut c = self.c();
        if let Some(e) = c.prepare_errors.pop_front() {
            return Err(e);
        }
        c.prepared += 1;
        let nonce = match replace {
            Some(n) => n,
            None => {
                let n = c.next_nonce;
                c.next_nonce += 1;
                n
            }
        };
        let mut raw = ticket.hash().to_vec();
        raw.extend_from_slice(&nonce.to_be_bytes());
        raw.extend_from_slice(&gas_price.base_units().to_be_bytes::<32>());
        let tx_hash = keccak256(&raw);
        c.signed_txs.insert(tx_hash, ticket.clone());
        Ok(PreparedTx {
            tx_hash,
            tx_nonce: nonce,
            gas_price,
            raw,
        })
    }
    async fn broadcast(&self, tx: &PreparedTx) -> Result<(), PmError> {
        let mut c = self.c();
        if let Some(e) = c.broadcast_errors.pop_front() {
            return Err(e);
        }
        if c.receipts.contains_key(&tx.tx_hash) {
            return Err(PmError::Chain {
                op: "broadcast",
                message: "already known".into(),
            });
        }
        let ticket = c
            .signed_txs
            .get(&tx.tx_hash)
            .cloned()
            .ok_or(PmError::Chain {
                op: "broadcast",
                message: "transaction was not prepared by this node".into(),
            })?;
        if tx.tx_nonce < c.mined_nonce {
            return Err(PmError::Chain {
                op: "broadcast",
                message: "nonce too low".into(),
            });
        }
        if let Some(existing) = c.mempool.get(&tx.tx_nonce) {
            if existing.tx.tx_hash == tx.tx_hash {
                return Ok(());
            }
            if existing.tx.gas_price >= tx.gas_price {
                return Err(PmError::Chain {
                    op: "broadcast",
                    message: "replacement transaction underpriced".into(),
                });
            }
        }
        c.mempool.insert(
            tx.tx_nonce,
            Pending {
                tx: tx.clone(),
                ticket,
            },
        );
        Ok(())
    }
    async fn receipt(&self, h: B256) -> Result<Option<Receipt>, PmError> {
        Ok(self.c().receipts.get(&h).cloned())
    }
    async fn account_nonce(&self) -> Result<Option<u64>, PmError> {
        Ok(Some(self.c().mined_nonce))
    }
}

/// Funds a sender generously.
pub fn funded(deposit: Wei, reserve: Wei) -> SenderInfo {
    SenderInfo {
        deposit,
        withdraw_round: 0,
        reserve: ReserveInfo {
            funds_remaining: reserve,
            claimed_in_current_round: Wei::ZERO,
        },
    }
}
