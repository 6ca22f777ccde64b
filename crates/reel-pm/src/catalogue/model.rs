//! The validator against a reference model.

use super::*;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any sequence of payments with any nonces (duplicates, out of order, split across
    /// payments): exactly the first occurrence of each nonce is credited, up to the cap, and
    /// the balance is that count × EV to the wei.
    #[test]
    fn validator_matches_the_reference_model(
        payments in proptest::collection::vec(
            proptest::collection::vec(1u32..40, 0..8), 1..6),
        cap in 5usize..30,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let o = Orch::new(RecipientConfig { max_nonces_per_rand: cap, ..cfg() });
        let p = rt.block_on(o.params(price()));
        let mut seen = std::collections::HashSet::new();
        let mut expected = 0u64;
        for nonces in &payments {
            let out = o.receive(&payment_with_nonces(&p, GW_KEY, nonces), "s").unwrap();
            let mut accepted = 0u32;
            for n in nonces {
                if !seen.contains(n) && seen.len() < cap {
                    seen.insert(*n);
                    accepted += 1;
                }
            }
            proptest::prop_assert_eq!(out.accepted, accepted);
            proptest::prop_assert_eq!(out.rejected.len(), nonces.len() - accepted as usize);
            expected += u64::from(accepted);
        }
        let (bal, neg) = o.recipient.balances().balance(&AccountKey::new(addr(GW_KEY), CAP, "s"));
        proptest::prop_assert!(!neg);
        proptest::prop_assert_eq!(bal, p.ev().checked_mul(U256::from(expected)).unwrap());
    }
}
