use alloy::primitives::{B256, keccak256};
use std::fmt;

/// A key of the Controller's registry: `keccak256(name)`, as Livepeer's contracts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContractId {
    name: &'static str,
    id: B256,
}

impl ContractId {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            id: keccak256(name.as_bytes()),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn id(&self) -> B256 {
        self.id
    }

    pub fn livepeer_token() -> Self {
        Self::new("LivepeerToken")
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::b256;

    #[test]
    fn ids_are_keccak_of_the_name() {
        // Values as `cast keccak <name>` prints them; the first matches Livepeer's mainnet
        // deployment arguments (see docs/compatibility.md#registry-and-proxies).
        assert_eq!(
            ContractId::new("BondingManagerTarget").id(),
            b256!("fc6f6f33d2bb065ac61cbdd4dbe4b7adf6f3e7e6c6a3d1fe297cbf9a187092e4")
        );
        assert_eq!(
            ContractId::livepeer_token().id(),
            b256!("3443e257065fe41dd0e4d1f5a1b73a22a62e300962b57f30cddf41d0f8273ba7")
        );
    }
}
