// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./ProtocolFixture.sol";
import {Controller} from "../../src/Controller.sol";
import {LivepeerToken} from "../../src/LivepeerToken.sol";
import {BondingManager} from "../../src/bonding/BondingManager.sol";
import {RoundsManager} from "../../src/rounds/RoundsManager.sol";
import {Minter} from "../../src/token/Minter.sol";
import {ServiceRegistry} from "../../src/ServiceRegistry.sol";
import {TicketBroker} from "../../src/pm/TicketBroker.sol";
import {BondingVotes} from "../../src/governance/BondingVotes.sol";
import {LivepeerGovernor} from "../../src/governance/LivepeerGovernor.sol";
import {Treasury} from "../../src/governance/Treasury.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";

/// @notice The whole protocol with governance, deployed in the order `reel devnet` must use
/// (the report of issue 4 lists it): every contract registered in the Controller, parameters
/// set while paused, the Treasury timelock wired to the governor, and finally the Controller
/// and the token's admin role handed to the Treasury. From then on only a passed proposal can
/// change a parameter or upgrade a contract. The test contract keeps only the token's
/// MINTER_ROLE, to hand out LPT to test participants.
abstract contract GovernedProtocolFixture is ProtocolFixture {
    uint256 internal constant UNLOCK_PERIOD = 2;
    uint256 internal constant TICKET_VALIDITY_PERIOD = 2;
    uint48 internal constant VOTING_DELAY = 1;
    uint32 internal constant VOTING_PERIOD = 10;
    uint256 internal constant PROPOSAL_THRESHOLD = 100 ether;
    uint256 internal constant QUORUM = 333_300;
    uint256 internal constant QUOTA = 500_000;
    uint256 internal constant TREASURY_CUT = 1e26; // 10%
    uint256 internal constant TREASURY_CEILING = 750_000 ether;

    TicketBroker internal broker;
    TicketBroker internal brokerTarget;
    BondingVotes internal bondingVotes;
    BondingVotes internal bondingVotesTarget;
    Treasury internal treasuryTimelock;
    LivepeerGovernor internal governor;

    function deployGovernedProtocol() internal {
        vm.roll(FIRST_ROUND * ROUND_LENGTH + 1);
        // A real clock: forge starts at timestamp 1, which TimelockController reserves as the
        // "done" mark, so an operation scheduled with delay 0 there would read as executed.
        vm.warp(1_700_000_000);
        address deployer = address(this);

        // 1. Registry and token. The Controller starts paused and owned by the deployer.
        controller = new Controller();
        token = new LivepeerToken();
        register("LivepeerToken", address(token));

        // 2. Minter, with the token roles it needs.
        minter = new Minter(address(controller), INFLATION, INFLATION_CHANGE, TARGET_BONDING_RATE);
        register("Minter", address(minter));
        token.grantRole(token.MINTER_ROLE(), address(minter));
        token.grantRole(token.BURNER_ROLE(), address(minter));

        // 3. Proxied contracts: "<Name>Target" then the proxy as "<Name>".
        bondingManagerTarget = new BondingManager(address(controller));
        bondingManager = BondingManager(deployProxied("BondingManager", address(bondingManagerTarget)));
        roundsManagerTarget = new RoundsManager(address(controller));
        roundsManager = RoundsManager(deployProxied("RoundsManager", address(roundsManagerTarget)));
        serviceRegistryTarget = new ServiceRegistry(address(controller));
        serviceRegistry = ServiceRegistry(deployProxied("ServiceRegistry", address(serviceRegistryTarget)));
        brokerTarget = new TicketBroker(address(controller));
        broker = TicketBroker(deployProxied("TicketBroker", address(brokerTarget)));
        // The Minter authorises ETH moves by the broker's legacy name.
        register("JobsManager", address(broker));
        ticketBroker = address(broker);
        bondingVotesTarget = new BondingVotes(address(controller));
        bondingVotes = BondingVotes(deployProxied("BondingVotes", address(bondingVotesTarget)));

        // 4. Parameters (round length first: the governor reads the round at construction).
        bondingManager.setUnbondingPeriod(UNBONDING_PERIOD);
        bondingManager.setNumActiveTranscoders(activeSetSize);
        bondingManager.setTreasuryRewardCutRate(TREASURY_CUT);
        bondingManager.setTreasuryBalanceCeiling(TREASURY_CEILING);
        roundsManager.setRoundLength(ROUND_LENGTH);
        roundsManager.setRoundLockAmount(ROUND_LOCK_AMOUNT);
        broker.setUnlockPeriod(UNLOCK_PERIOD);
        broker.setTicketValidityPeriod(TICKET_VALIDITY_PERIOD);

        // 5. Treasury and governor: the timelock starts with the deployer as admin only.
        treasuryTimelock = new Treasury(0, new address[](0), new address[](0), deployer);
        treasury = address(treasuryTimelock);
        register("Treasury", treasury);
        governor = new LivepeerGovernor(
            bondingVotes, treasuryTimelock, VOTING_DELAY, VOTING_PERIOD, PROPOSAL_THRESHOLD, QUORUM, QUOTA
        );
        register("LivepeerGovernor", address(governor));
        treasuryTimelock.grantRole(treasuryTimelock.PROPOSER_ROLE(), address(governor));
        treasuryTimelock.grantRole(treasuryTimelock.CANCELLER_ROLE(), address(governor));
        treasuryTimelock.grantRole(treasuryTimelock.EXECUTOR_ROLE(), address(governor));
        treasuryTimelock.renounceRole(treasuryTimelock.DEFAULT_ADMIN_ROLE(), deployer);

        // 6. Start the protocol.
        controller.unpause();
        roundsManager.initializeRound();

        // 7. Hand over: the token's admin role, then the Controller, to the Treasury. (The
        // test contract keeps MINTER_ROLE as a faucet for test participants; a real deploy
        // mints its initial balances first and renounces it too.)
        token.grantRole(token.MINTER_ROLE(), deployer);
        token.grantRole(token.DEFAULT_ADMIN_ROLE(), treasury);
        token.renounceRole(token.DEFAULT_ADMIN_ROLE(), deployer);
        controller.transferOwnership(treasury);
    }

    // ------------------------------------------------------------------ keys and tickets

    function keyOf(string memory name) internal pure returns (uint256) {
        return uint256(keccak256(bytes(name)));
    }

    /// @dev Creation round data of the current round, as an orchestrator puts in auxData.
    function currentAuxData() internal view returns (bytes memory) {
        uint256 round = currentRound();
        return abi.encode(round, roundsManager.blockHashForRound(round));
    }

    function recipientRandHash(uint256 rand) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(rand));
    }

    /// @dev A ticket that always wins (winProb = 2^256 - 1), created in the current round.
    function winningTicket(address recipient, address sender, uint256 faceValue, uint256 nonce, uint256 rand)
        internal
        view
        returns (TicketBroker.Ticket memory)
    {
        return TicketBroker.Ticket({
            recipient: recipient,
            sender: sender,
            faceValue: faceValue,
            winProb: type(uint256).max,
            senderNonce: nonce,
            recipientRandHash: recipientRandHash(rand),
            auxData: currentAuxData()
        });
    }

    /// @dev EIP-191 signature r ‖ s ‖ v (v = 27 or 28) over the ticket hash.
    function signTicket(uint256 key, TicketBroker.Ticket memory ticket) internal view returns (bytes memory) {
        bytes32 digest = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", broker.getTicketHash(ticket)));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function fundSender(address sender, uint256 deposit, uint256 reserve) internal {
        vm.deal(sender, sender.balance + deposit + reserve);
        vm.prank(sender);
        broker.fundDepositAndReserve{value: deposit + reserve}(deposit, reserve);
    }

    function depositOf(address sender) internal view returns (uint256) {
        (TicketBroker.Sender memory s,) = broker.getSenderInfo(sender);
        return s.deposit;
    }

    function withdrawRoundOf(address sender) internal view returns (uint256) {
        (TicketBroker.Sender memory s,) = broker.getSenderInfo(sender);
        return s.withdrawRound;
    }

    function reserveOf(address sender) internal view returns (uint256) {
        (, TicketBroker.ReserveInfo memory r) = broker.getSenderInfo(sender);
        return r.fundsRemaining;
    }

    // ------------------------------------------------------------------ governance

    struct Proposal {
        address[] targets;
        uint256[] values;
        bytes[] calldatas;
        string description;
        uint256 id;
    }

    function singleCall(address target, bytes memory data, string memory description)
        internal
        pure
        returns (Proposal memory p)
    {
        p.targets = new address[](1);
        p.targets[0] = target;
        p.values = new uint256[](1);
        p.calldatas = new bytes[](1);
        p.calldatas[0] = data;
        p.description = description;
    }

    function propose(address proposer, Proposal memory p) internal returns (Proposal memory) {
        vm.prank(proposer);
        p.id = governor.propose(p.targets, p.values, p.calldatas, p.description);
        return p;
    }

    /// @dev Initializes rounds until voting on `p` is open.
    function advanceToVoting(Proposal memory p) internal {
        while (governor.state(p.id) == IGovernor.ProposalState.Pending) nextRound();
    }

    /// @dev Initializes rounds until voting on `p` has closed.
    function advancePastDeadline(Proposal memory p) internal {
        while (currentRound() <= governor.proposalDeadline(p.id)) nextRound();
    }

    function vote(address voter, Proposal memory p, uint8 support) internal returns (uint256 weight) {
        vm.prank(voter);
        weight = governor.castVote(p.id, support);
    }

    function queue(Proposal memory p) internal {
        governor.queue(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
    }

    function execute(Proposal memory p) internal {
        governor.execute(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
    }

    function proposalState(Proposal memory p) internal view returns (IGovernor.ProposalState) {
        return governor.state(p.id);
    }

    /// @dev The whole cycle with `voters` all voting For.
    function passProposal(address proposer, Proposal memory p, address[] memory voters)
        internal
        returns (Proposal memory)
    {
        p = propose(proposer, p);
        advanceToVoting(p);
        for (uint256 i = 0; i < voters.length; i++) {
            vote(voters[i], p, 1);
        }
        advancePastDeadline(p);
        queue(p);
        execute(p);
        return p;
    }
}
