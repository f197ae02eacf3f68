// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {RollerStaking} from "../RollerStaking.sol";

/// Test only. A token that calls its registered receiver back on every transfer to it (as
/// ERC-777 hooks do), so a hostile recipient can try to re-enter the staking contract mid-payout.
contract ReentrantToken is ERC20 {
    address public hooked;

    constructor() ERC20("Reentrant", "RE") {}

    function setHooked(address receiver) external {
        hooked = receiver;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (to == hooked && from != address(0)) {
            TokenReceiver(to).onTokenReceived(from, value);
        }
    }
}

interface TokenReceiver {
    function onTokenReceived(address from, uint256 value) external;
}

/// Test only. Stakes, then on receiving a payout re-enters `withdraw` or `claim` once.
contract ReentrancyAttacker is TokenReceiver {
    enum Attack {
        None,
        Withdraw,
        Claim
    }

    RollerStaking public immutable staking;
    ERC20 public immutable token;
    Attack public attack;

    constructor(RollerStaking staking_, ERC20 token_) {
        staking = staking_;
        token = token_;
    }

    function stake(uint256 amount) external {
        token.approve(address(staking), amount);
        staking.stake(amount);
    }

    function requestUnstake(uint256 amount) external {
        staking.requestUnstake(amount);
    }

    function withdraw(Attack attack_) external {
        attack = attack_;
        staking.withdraw();
    }

    function claim(Attack attack_) external {
        attack = attack_;
        staking.claim();
    }

    function onTokenReceived(address, uint256) external {
        if (msg.sender != address(token)) return;
        Attack current = attack;
        attack = Attack.None;
        if (current == Attack.Withdraw) staking.withdraw();
        if (current == Attack.Claim) staking.claim();
    }
}
