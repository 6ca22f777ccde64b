// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./lib/Vm.sol";
import {LivepeerToken} from "../src/LivepeerToken.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

contract LivepeerTokenTest is TestBase {
    event Mint(address indexed to, uint256 amount);
    event Burn(address indexed burner, uint256 amount);
    event Transfer(address indexed from, address indexed to, uint256 value);

    LivepeerToken internal token;
    address internal minter;
    address internal burner;
    address internal alice;
    uint256 internal constant ALICE_KEY = 0xA11CE;

    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function setUp() public {
        token = new LivepeerToken();
        minter = makeAddr("minter");
        burner = makeAddr("burner");
        alice = vm.addr(ALICE_KEY);
        token.grantRole(token.MINTER_ROLE(), minter);
        token.grantRole(token.BURNER_ROLE(), burner);
    }

    function test_Metadata() public view {
        vm.assertEq(token.name(), "Livepeer Token", "name");
        vm.assertEq(token.symbol(), "LPT", "symbol");
        vm.assertEq(uint256(token.decimals()), 18, "decimals");
        vm.assertEq(token.totalSupply(), 0, "no premine");
        vm.assertEq(token.MINTER_ROLE(), keccak256("MINTER_ROLE"), "minter role id");
        vm.assertEq(token.BURNER_ROLE(), keccak256("BURNER_ROLE"), "burner role id");
        vm.assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), address(this)), "deployer is admin");
    }

    function test_Mint_ByMinter() public {
        vm.expectEmit(true, true, false, true, address(token));
        emit Transfer(address(0), alice, 5 ether);
        vm.expectEmit(true, false, false, true, address(token));
        emit Mint(alice, 5 ether);
        vm.prank(minter);
        token.mint(alice, 5 ether);
        vm.assertEq(token.balanceOf(alice), 5 ether, "balance");
        vm.assertEq(token.totalSupply(), 5 ether, "supply");
    }

    function test_Mint_RevertsWithoutRole() public {
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role)
        );
        token.mint(alice, 1);
        // the burner role does not allow minting either
        vm.prank(burner);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, burner, role));
        token.mint(alice, 1);
    }

    function test_Mint_RevertsToZeroAddress() public {
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        token.mint(address(0), 1);
    }

    function test_Burn_ByBurner() public {
        vm.prank(minter);
        token.mint(burner, 10 ether);
        vm.expectEmit(true, false, false, true, address(token));
        emit Burn(burner, 4 ether);
        vm.prank(burner);
        token.burn(4 ether);
        vm.assertEq(token.balanceOf(burner), 6 ether, "balance after burn");
        vm.assertEq(token.totalSupply(), 6 ether, "supply after burn");
    }

    function test_Burn_RevertsWithoutRole() public {
        vm.prank(minter);
        token.mint(alice, 10 ether);
        bytes32 role = token.BURNER_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        token.burn(1);
    }

    function test_Burn_RevertsBeyondBalance() public {
        vm.prank(minter);
        token.mint(burner, 1 ether);
        vm.prank(burner);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, burner, 1 ether, 1 ether + 1)
        );
        token.burn(1 ether + 1);
    }

    function test_BurnFrom_WithAllowance() public {
        vm.prank(minter);
        token.mint(alice, 10 ether);
        vm.prank(alice);
        token.approve(burner, 3 ether);
        vm.expectEmit(true, false, false, true, address(token));
        emit Burn(alice, 3 ether);
        vm.prank(burner);
        token.burnFrom(alice, 3 ether);
        vm.assertEq(token.balanceOf(alice), 7 ether, "balance");
        vm.assertEq(token.allowance(alice, burner), 0, "allowance spent");
    }

    function test_BurnFrom_Reverts() public {
        vm.prank(minter);
        token.mint(alice, 10 ether);
        bytes32 role = token.BURNER_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        token.burnFrom(alice, 1);
        vm.prank(burner);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, burner, 0, 1));
        token.burnFrom(alice, 1);
    }

    function test_Transfer_RevertsBeyondBalance() public {
        vm.prank(minter);
        token.mint(alice, 1 ether);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 1 ether, 2 ether)
        );
        token.transfer(minter, 2 ether);
    }

    function test_GrantRole_RevertsForNonAdmin() public {
        bytes32 role = token.MINTER_ROLE();
        bytes32 admin = token.DEFAULT_ADMIN_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, admin));
        token.grantRole(role, alice);
    }

    function test_RevokeRole_StopsMinting() public {
        bytes32 role = token.MINTER_ROLE();
        token.revokeRole(role, minter);
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, minter, role));
        token.mint(alice, 1);
    }

    function _permitDigest(address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    function test_Permit_SetsAllowance() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_KEY, _permitDigest(alice, burner, 7 ether, 0, deadline));
        token.permit(alice, burner, 7 ether, deadline, v, r, s);
        vm.assertEq(token.allowance(alice, burner), 7 ether, "allowance from permit");
        vm.assertEq(token.nonces(alice), 1, "nonce advanced");
    }

    function test_Permit_RevertsWhenExpired() public {
        vm.warp(1000);
        uint256 deadline = 999;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_KEY, _permitDigest(alice, burner, 1, 0, deadline));
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(alice, burner, 1, deadline, v, r, s);
    }

    function test_Permit_RevertsOnReplayAndWrongSigner() public {
        uint256 deadline = block.timestamp + 1;
        bytes32 digest = _permitDigest(alice, burner, 1, 0, deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_KEY, digest);
        token.permit(alice, burner, 1, deadline, v, r, s);
        // replay: the nonce moved on, so the same signature recovers someone else
        vm.expectRevert();
        token.permit(alice, burner, 1, deadline, v, r, s);

        uint256 otherKey = 0xB0B;
        (v, r, s) = vm.sign(otherKey, _permitDigest(alice, burner, 1, 1, deadline));
        vm.expectRevert(
            abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, vm.addr(otherKey), alice)
        );
        token.permit(alice, burner, 1, deadline, v, r, s);
    }

    function testFuzz_MintBurnConservesSupply(uint256 minted, uint256 burned) public {
        minted = bound(minted, 0, type(uint128).max);
        burned = bound(burned, 0, minted);
        vm.prank(minter);
        token.mint(burner, minted);
        vm.prank(burner);
        token.burn(burned);
        vm.assertEq(token.totalSupply(), minted - burned, "supply");
        vm.assertEq(token.balanceOf(burner), minted - burned, "balance");
    }
}
