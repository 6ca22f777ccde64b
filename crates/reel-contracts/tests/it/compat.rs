//! reel's contracts expose Livepeer's external interface: every function (with its return
//! types) and every event (with its indexed fields) of [`reel_contracts::livepeer`] exists in
//! the ABI of the contract that implements it.

use alloy::json_abi::JsonAbi;
use reel_contracts::livepeer::{
    IBondingManager, ILivepeerGovernor, IMinter, IRoundsManager, IServiceRegistry, ITicketBroker,
};

fn artifact_abi(name: &str) -> JsonAbi {
    let path = format!("{}/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("artifact exists"))
            .expect("json");
    serde_json::from_value(json["abi"].clone()).expect("abi parses")
}

fn missing(interface: &JsonAbi, ours: &JsonAbi) -> Vec<String> {
    let mut missing = Vec::new();
    for f in interface.functions() {
        let found = ours.functions().any(|g| {
            g.signature() == f.signature()
                && g.outputs
                    .iter()
                    .map(|o| &o.ty)
                    .eq(f.outputs.iter().map(|o| &o.ty))
        });
        if !found {
            missing.push(format!("function {}", f.full_signature()));
        }
    }
    for e in interface.events() {
        let found = ours.events().any(|g| {
            g.signature() == e.signature()
                && g.inputs
                    .iter()
                    .map(|i| i.indexed)
                    .eq(e.inputs.iter().map(|i| i.indexed))
        });
        if !found {
            missing.push(format!("event {}", e.full_signature()));
        }
    }
    missing
}

#[test]
fn our_contracts_expose_livepeers_interface() {
    let cases = [
        ("BondingManager", IBondingManager::abi::contract()),
        ("RoundsManager", IRoundsManager::abi::contract()),
        ("Minter", IMinter::abi::contract()),
        ("ServiceRegistry", IServiceRegistry::abi::contract()),
        ("TicketBroker", ITicketBroker::abi::contract()),
        ("LivepeerGovernor", ILivepeerGovernor::abi::contract()),
    ];
    let mut problems = Vec::new();
    for (name, interface) in cases {
        assert!(interface.functions().count() > 0);
        for m in missing(&interface, &artifact_abi(name)) {
            problems.push(format!("{name}: {m}"));
        }
    }
    assert!(
        problems.is_empty(),
        "not in our ABI:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_notices_a_missing_function() {
    // Guard against a check that cannot fail: the Controller has none of the staking calls.
    let gaps = missing(
        &IServiceRegistry::abi::contract(),
        &artifact_abi("Controller"),
    );
    assert_eq!(gaps.len(), 3, "{gaps:#?}");
}
