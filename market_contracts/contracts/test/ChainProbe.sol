// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Exercises every way the chain layer must report a revert; only the tests deploy it.
contract ChainProbe {
    error TooSmall(uint256 given, uint256 minimum);
    error Bare();

    uint256 public counter;
    uint256 public unlockAt;
    uint256 public received;

    event Bumped(address indexed by, uint256 counter);

    constructor(uint256 unlockAt_) {
        unlockAt = unlockAt_;
    }

    function bump() external returns (uint256) {
        counter += 1;
        emit Bumped(msg.sender, counter);
        return counter;
    }

    function atLeast(uint256 amount, uint256 minimum) external returns (uint256) {
        if (amount < minimum) revert TooSmall(amount, minimum);
        counter += 1;
        return amount;
    }

    function bare() external pure {
        revert Bare();
    }

    function needsPositive(uint256 amount) external returns (uint256) {
        require(amount > 0, "amount must be positive");
        counter += 1;
        return amount;
    }

    function overflow(uint256 amount) external returns (uint256) {
        uint256 result = type(uint256).max + amount;
        counter += 1;
        return result;
    }

    function deposit() external payable {
        received += msg.value;
    }

    function unlock() external returns (uint256) {
        require(block.timestamp >= unlockAt, "still locked");
        counter += 1;
        return block.timestamp;
    }

    function setUnlockAt(uint256 unlockAt_) external {
        unlockAt = unlockAt_;
    }
}
