// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Manager} from "../Manager.sol";
import {IController} from "../interfaces/IController.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {ILivepeerToken} from "../interfaces/ILivepeerToken.sol";
import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IL2LPTDataCache} from "../interfaces/IL2LPTDataCache.sol";
import {MathUtilsV2} from "../libraries/MathUtilsV2.sol";

/// @title Minter
/// @notice Inflation and custody. Holds every bonded LPT and every ETH deposit and fee of
/// the protocol. Once per initialized round it moves the inflation rate one step
/// (`inflationChange`) towards the target bonding rate and fixes the round's mintable LPT;
/// BondingManager mints each active transcoder's stake-weighted share of it on `reward()`.
/// @dev Not proxied (a new Minter takes over through `migrateToNewMinter`). Rates use 1e9
/// = 100% (MathUtilsV2). Storage: slot 0 controller, then the five public fields below.
contract Minter is Manager, IMinter {
    bytes32 private constant LIVEPEER_TOKEN = keccak256("LivepeerToken");
    bytes32 private constant BONDING_MANAGER = keccak256("BondingManager");
    bytes32 private constant ROUNDS_MANAGER = keccak256("RoundsManager");
    bytes32 private constant MINTER = keccak256("Minter");
    // The TicketBroker is registered under this legacy name as well; ETH moves check it.
    bytes32 private constant JOBS_MANAGER = keccak256("JobsManager");
    bytes32 private constant L2_LPT_DATA_CACHE = keccak256("L2LPTDataCache");

    /// @notice Inflation per round (1e9 = 100% of the global supply).
    uint256 public inflation;
    /// @notice Step by which `inflation` moves each initialized round.
    uint256 public inflationChange;
    /// @notice Bonding rate (active stake / global supply) that inflation steers towards.
    uint256 public targetBondingRate;
    /// @notice LPT that may be minted as rewards in the current round.
    uint256 public currentMintableTokens;
    /// @notice LPT minted as rewards so far in the current round.
    uint256 public currentMintedTokens;

    modifier onlyBondingManager() {
        require(msg.sender == controller.getContract(BONDING_MANAGER), "msg.sender not BondingManager");
        _;
    }

    modifier onlyRoundsManager() {
        require(msg.sender == controller.getContract(ROUNDS_MANAGER), "msg.sender not RoundsManager");
        _;
    }

    modifier onlyBondingManagerOrJobsManager() {
        require(
            msg.sender == controller.getContract(BONDING_MANAGER) || msg.sender == controller.getContract(JOBS_MANAGER),
            "msg.sender not BondingManager or JobsManager"
        );
        _;
    }

    modifier onlyMinterOrJobsManager() {
        require(
            msg.sender == controller.getContract(MINTER) || msg.sender == controller.getContract(JOBS_MANAGER),
            "msg.sender not Minter or JobsManager"
        );
        _;
    }

    constructor(address _controller, uint256 _inflation, uint256 _inflationChange, uint256 _targetBondingRate)
        Manager(_controller)
    {
        require(MathUtilsV2.validPerc(_inflation), "_inflation is invalid percentage");
        require(MathUtilsV2.validPerc(_inflationChange), "_inflationChange is invalid percentage");
        require(MathUtilsV2.validPerc(_targetBondingRate), "_targetBondingRate is invalid percentage");
        inflation = _inflation;
        inflationChange = _inflationChange;
        targetBondingRate = _targetBondingRate;
    }

    function setTargetBondingRate(uint256 _targetBondingRate) external onlyControllerOwner {
        require(MathUtilsV2.validPerc(_targetBondingRate), "_targetBondingRate is invalid percentage");
        targetBondingRate = _targetBondingRate;
        emit ParameterUpdate("targetBondingRate");
    }

    function setInflationChange(uint256 _inflationChange) external onlyControllerOwner {
        require(MathUtilsV2.validPerc(_inflationChange), "_inflationChange is invalid percentage");
        inflationChange = _inflationChange;
        emit ParameterUpdate("inflationChange");
    }

    /// @notice Hands all LPT and ETH to a new Minter that uses the same Controller. Called
    /// while this Minter is still the registered one (its depositETH call is authorised by
    /// that); the owner registers the new Minter afterwards.
    function migrateToNewMinter(IMinter _newMinter) external onlyControllerOwner {
        require(address(_newMinter) != address(this), "new Minter cannot be current Minter");
        require(address(_newMinter) != address(0), "new Minter cannot be null address");
        IController newMinterController = _newMinter.getController();
        require(address(newMinterController) == address(controller), "new Minter Controller must be current Controller");
        require(newMinterController.getContract(MINTER) == address(this), "new Minter must be registered");

        ILivepeerToken token = livepeerToken();
        require(token.transfer(address(_newMinter), token.balanceOf(address(this))), "token transfer failed");
        _newMinter.depositETH{value: address(this).balance}();
    }

    /// @notice Mints `mintable * ⌊_fracNum·1e9/_fracDenom⌋ / 1e9` LPT to this contract
    /// (a transcoder's reward for the round) and returns the amount.
    function createReward(uint256 _fracNum, uint256 _fracDenom)
        external
        onlyBondingManager
        whenSystemNotPaused
        returns (uint256)
    {
        // The BondingManager passes the round's total active stake, never 0 while a transcoder
        // is active; a zero here is a bug upstream, refused with its name.
        require(_fracDenom > 0, "total active stake is zero");
        uint256 mintable = currentMintableTokens;
        uint256 mintAmount = MathUtilsV2.percOf(mintable, _fracNum, _fracDenom);
        uint256 minted = currentMintedTokens + mintAmount;
        require(minted <= mintable, "minted tokens cannot exceed mintable tokens");
        currentMintedTokens = minted;
        livepeerToken().mint(address(this), mintAmount);
        return mintAmount;
    }

    function trustedTransferTokens(address _to, uint256 _amount) external onlyBondingManager whenSystemNotPaused {
        require(livepeerToken().transfer(_to, _amount), "token transfer failed");
    }

    function trustedBurnTokens(uint256 _amount) external onlyBondingManager whenSystemNotPaused {
        livepeerToken().burn(_amount);
    }

    /// @dev `transfer` forwards 2300 gas, as the deployed protocol does: a recipient
    /// contract cannot re-enter.
    function trustedWithdrawETH(address payable _to, uint256 _amount)
        external
        onlyBondingManagerOrJobsManager
        whenSystemNotPaused
    {
        _to.transfer(_amount);
    }

    function depositETH() external payable onlyMinterOrJobsManager returns (bool) {
        return true;
    }

    /// @notice Called by RoundsManager when a round is initialized.
    function setCurrentRewardTokens() external onlyRoundsManager whenSystemNotPaused {
        uint256 supply = getGlobalTotalSupply();
        uint256 newInflation = _nextInflation(supply);
        inflation = newInflation;
        uint256 mintable = MathUtilsV2.percOf(supply, newInflation);
        currentMintableTokens = mintable;
        currentMintedTokens = 0;
        emit SetCurrentRewardTokens(mintable, newInflation);
    }

    function getController() external view returns (IController) {
        return controller;
    }

    /// @notice LPT supply on this chain plus, where an L2LPTDataCache is registered, the
    /// LPT circulating on L1.
    function getGlobalTotalSupply() public view returns (uint256) {
        uint256 supply = livepeerToken().totalSupply();
        address cache = controller.getContract(L2_LPT_DATA_CACHE);
        if (cache != address(0)) supply += IL2LPTDataCache(cache).l1CirculatingSupply();
        return supply;
    }

    /// @dev One step towards the target: up below it, down (not below 0) above it.
    function _nextInflation(uint256 _supply) private view returns (uint256) {
        uint256 bondingRate;
        if (_supply > 0) {
            uint256 totalBonded = IBondingManager(controller.getContract(BONDING_MANAGER)).getTotalBonded();
            bondingRate = MathUtilsV2.percPoints(totalBonded, _supply);
        }
        uint256 current = inflation;
        uint256 target = targetBondingRate;
        if (bondingRate < target) return current + inflationChange;
        if (bondingRate > target) {
            uint256 change = inflationChange;
            return current < change ? 0 : current - change;
        }
        return current;
    }

    function livepeerToken() private view returns (ILivepeerToken) {
        return ILivepeerToken(controller.getContract(LIVEPEER_TOKEN));
    }
}
