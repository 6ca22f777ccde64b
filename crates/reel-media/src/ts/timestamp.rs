//! 33-bit timestamps: PTS and DTS in PES headers, the PCR in adaptation fields, and
//! their wrap-around.

pub(super) const TS_WRAP: i64 = 1 << 33;
pub(super) fn read_timestamp(b: &[u8]) -> Option<i64> {
    let b: &[u8; 5] = b.get(..5)?.try_into().ok()?;
    if b[0] & 1 != 1 || b[2] & 1 != 1 || b[4] & 1 != 1 {
        return None;
    }
    let ts = (i64::from(b[0] >> 1) & 0x07) << 30
        | i64::from(b[1]) << 22
        | i64::from(b[2] >> 1) << 15
        | i64::from(b[3]) << 7
        | i64::from(b[4] >> 1);
    Some(ts)
}

/// Places a 33-bit timestamp nearest to `reference` (undoing wrap-around).
pub(super) fn unwrap_ts(ts: i64, reference: Option<i64>) -> i64 {
    let Some(reference) = reference else {
        return ts;
    };
    let base = reference - reference.rem_euclid(TS_WRAP);
    [base - TS_WRAP, base, base + TS_WRAP]
        .into_iter()
        .map(|b| b + ts)
        .min_by_key(|c| (c - reference).abs())
        .unwrap_or(ts)
}
pub(super) fn write_timestamp(prefix: u8, ts: i64) -> [u8; 5] {
    let ts = ts.rem_euclid(TS_WRAP);
    [
        (prefix << 4) | (((ts >> 30) & 0x07) as u8) << 1 | 1,
        (ts >> 22) as u8,
        (((ts >> 15) & 0x7F) as u8) << 1 | 1,
        (ts >> 7) as u8,
        ((ts & 0x7F) as u8) << 1 | 1,
    ]
}

pub(super) fn write_pcr(base: i64) -> [u8; 6] {
    let base = base.rem_euclid(TS_WRAP);
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base & 1) as u8) << 7 | 0x7E,
        0,
    ]
}
