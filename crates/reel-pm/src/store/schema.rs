//! The store's tables, indexes, trigger and checks, applied on every open (`IF NOT EXISTS`;
//! the trigger is dropped and made again, so that an older store gets the current rule).
//! Final states are final, but for one way out: a redemption the chain rolled back
//! (`Store::reopen`).

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_nonces (
    rand_hash        BLOB    NOT NULL,
    nonce            INTEGER NOT NULL,
    expiration_block INTEGER NOT NULL,
    PRIMARY KEY (rand_hash, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_nonces_expiry ON seen_nonces (expiration_block);
CREATE TABLE IF NOT EXISTS winning_tickets (
    id                        INTEGER PRIMARY KEY,
    ticket_hash               BLOB    NOT NULL UNIQUE,
    sender                    BLOB    NOT NULL,
    recipient                 BLOB    NOT NULL,
    face_value                TEXT    NOT NULL,
    win_prob                  TEXT    NOT NULL,
    sender_nonce              INTEGER NOT NULL,
    recipient_rand            BLOB    NOT NULL,
    recipient_rand_hash       BLOB    NOT NULL,
    creation_round            INTEGER NOT NULL,
    creation_round_block_hash BLOB    NOT NULL,
    params_expiration_block   INTEGER NOT NULL,
    sig                       BLOB    NOT NULL,
    state                     TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'submitted', 'redeemed', 'used', 'expired', 'invalid')),
    tx_hash                   BLOB,
    block_number              INTEGER,
    reason                    TEXT,
    attempts                  INTEGER NOT NULL DEFAULT 0,
    received_at               INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    CHECK (state != 'redeemed' OR (tx_hash IS NOT NULL AND length(tx_hash) = 32
                                   AND tx_hash != zeroblob(32) AND block_number IS NOT NULL)),
    CHECK (state != 'invalid' OR reason IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS winning_tickets_open ON winning_tickets (state)
    WHERE state IN ('pending', 'submitted');
DROP TRIGGER IF EXISTS winning_tickets_final_is_final;
CREATE TRIGGER winning_tickets_final_is_final
BEFORE UPDATE ON winning_tickets
WHEN OLD.state IN ('redeemed', 'used', 'expired', 'invalid')
    AND NOT (OLD.state = 'redeemed' AND NEW.state = 'submitted'
             AND NEW.reason = 'redemption rolled back')
BEGIN
    SELECT RAISE(ABORT, 'ticket already in a final state');
END;
CREATE TABLE IF NOT EXISTS redemption_txs (
    tx_hash   BLOB    PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES winning_tickets (id),
    tx_nonce  INTEGER NOT NULL,
    gas_price TEXT    NOT NULL,
    raw       BLOB    NOT NULL,
    sent_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS redemption_txs_ticket ON redemption_txs (ticket_id);
"#;
