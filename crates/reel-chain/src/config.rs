use crate::ChainError;
use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};
use reel_contracts::{ContractId, Deployment, bindings::Controller};
use serde::{Deserialize, Serialize};

/// What a node needs to know to use a chain. Every protocol address other than the
/// Controller's is looked up in the Controller, so an upgrade there reaches every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainConfig {
    pub rpc_url: String,
    pub chain_id: u64,
    pub controller: Address,
}

impl ChainConfig {
    /// Checks the endpoint serves the expected chain and resolves the protocol's addresses
    /// from the Controller.
    pub async fn resolve(&self) -> Result<Deployment, ChainError> {
        let provider = connect(&self.rpc_url)?;
        let actual = provider
            .get_chain_id()
            .await
            .map_err(|source| ChainError::Rpc {
                method: "eth_chainId",
                url: self.rpc_url.clone(),
                source: Box::new(source),
            })?;
        if actual != self.chain_id {
            return Err(ChainError::WrongChain {
                url: self.rpc_url.clone(),
                expected: self.chain_id,
                actual,
            });
        }
        let code = provider
            .get_code_at(self.controller)
            .await
            .map_err(|source| ChainError::Rpc {
                method: "eth_getCode",
                url: self.rpc_url.clone(),
                source: Box::new(source),
            })?;
        if code.is_empty() {
            return Err(ChainError::NoController {
                address: self.controller,
                url: self.rpc_url.clone(),
            });
        }
        let controller = Controller::new(self.controller, &provider);
        let lookup = async |id: ContractId| -> Result<Address, ChainError> {
            let addr = controller
                .getContract(id.id())
                .call()
                .await
                .map_err(|source| ChainError::Contract {
                    name: id.name(),
                    source: Box::new(source),
                })?;
            if addr.is_zero() {
                return Err(ChainError::NotRegistered {
                    name: id.name(),
                    controller: self.controller,
                });
            }
            Ok(addr)
        };
        Ok(Deployment {
            controller: self.controller,
            livepeer_token: lookup(ContractId::new("LivepeerToken")).await?,
            bonding_manager: lookup(ContractId::new("BondingManager")).await?,
            rounds_manager: lookup(ContractId::new("RoundsManager")).await?,
            minter: lookup(ContractId::new("Minter")).await?,
            service_registry: lookup(ContractId::new("ServiceRegistry")).await?,
            ticket_broker: lookup(ContractId::new("TicketBroker")).await?,
            bonding_votes: lookup(ContractId::new("BondingVotes")).await?,
            treasury: lookup(ContractId::new("Treasury")).await?,
            governor: lookup(ContractId::new("LivepeerGovernor")).await?,
        })
    }
}

fn parse_url(url: &str) -> Result<Url, ChainError> {
    let parsed = Url::parse(url).map_err(|e| ChainError::BadUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(ChainError::BadUrl {
            url: url.to_owned(),
            reason: format!("scheme `{other}` is not supported; use http:// or https://"),
        }),
    }
}

/// The chain id served at `url`.
pub async fn chain_id(url: &str) -> Result<u64, ChainError> {
    connect(url)?
        .get_chain_id()
        .await
        .map_err(|source| ChainError::Rpc {
            method: "eth_chainId",
            url: url.to_owned(),
            source: Box::new(source),
        })
}

/// A read-only provider for a JSON-RPC URL (http or https).
pub fn connect(url: &str) -> Result<DynProvider, ChainError> {
    Ok(ProviderBuilder::new()
        .connect_http(parse_url(url)?)
        .erased())
}

/// A provider that signs and sends transactions from `signer` (nonce, gas and chain id
/// filled in automatically).
pub fn connect_with_signer(url: &str, signer: PrivateKeySigner) -> Result<DynProvider, ChainError> {
    Ok(ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(parse_url(url)?)
        .erased())
}
