// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title RollupToken: the devnet L2's token, which the Bridge holds while it is on L2.
/// @notice Separate from ProverToken (what rollers stake): the L2 moves this one. Its deployer
/// mints, which a devnet needs to fund its users and to back the genesis balances (minted to the
/// Bridge); a production rollup bridges an existing ERC-20 instead.
contract RollupToken is ERC20, Ownable {
    constructor() ERC20("Provernet Rollup Token", "PRT") Ownable(msg.sender) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
