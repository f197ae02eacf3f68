// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ProverToken: the ERC-20 rollers stake and are rewarded in.
/// @notice The owner can mint, which a devnet needs to fund rollers and the reward pool. A
/// production deployment mints its supply once and renounces ownership.
/// Burnable because slashed stake that is not paid to the reporter is burned.
contract ProverToken is ERC20, ERC20Burnable, Ownable {
    constructor(address initialOwner) ERC20("Provernet Token", "PNT") Ownable(initialOwner) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
