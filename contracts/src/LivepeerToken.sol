// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title LivepeerToken
/// @notice ERC20 "Livepeer Token" / "LPT" with EIP-2612 permit. Minting needs MINTER_ROLE
/// (held by the Minter), burning needs BURNER_ROLE; the admin role grants both. Same
/// surface as the token Livepeer runs on Arbitrum.
contract LivepeerToken is AccessControl, ERC20Burnable, ERC20Permit {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");

    event Mint(address indexed to, uint256 amount);
    event Burn(address indexed burner, uint256 amount);

    constructor() ERC20("Livepeer Token", "LPT") ERC20Permit("Livepeer Token") {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
    }

    function mint(address _to, uint256 _amount) external onlyRole(MINTER_ROLE) {
        _mint(_to, _amount);
        emit Mint(_to, _amount);
    }

    function burn(uint256 _amount) public override onlyRole(BURNER_ROLE) {
        super.burn(_amount);
        emit Burn(msg.sender, _amount);
    }

    function burnFrom(address _from, uint256 _amount) public override onlyRole(BURNER_ROLE) {
        super.burnFrom(_from, _amount);
        emit Burn(_from, _amount);
    }
}
