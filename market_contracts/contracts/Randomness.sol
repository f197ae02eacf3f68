// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Randomness: the spec's rule for turning an L1 block number into a random value
/// (market-spec.md, "Randomness and the roster of a block"). Shared by the Rollup (block
/// randomness) and RollerStaking (lottery randomness), so both draw by the same rule.
library Randomness {
    /// The randomness of something decided in L1 block c is the hash of block c + RANDOMNESS_DELAY,
    /// which nobody knows when the deciding transaction is sent.
    uint256 internal constant RANDOMNESS_DELAY = 1;
    /// How many recent block hashes BLOCKHASH can read.
    uint256 internal constant BLOCKHASH_WINDOW = 256;

    /// Thrown while `target` is not yet in the past: its hash is not known.
    error RandomnessNotYetAvailable(uint256 target);

    /// The L1 block whose hash stands for `target`'s when read in the current block: `target`
    /// while the EVM still holds its hash, otherwise the newest block a whole number of
    /// 256-block periods after it (the fallback: stalling the recording buys one new value per
    /// 256 blocks, not a choice among them).
    function source(uint256 target) internal view returns (uint256) {
        if (block.number <= target) revert RandomnessNotYetAvailable(target);
        if (block.number - target <= BLOCKHASH_WINDOW) return target;
        uint256 last = block.number - 1;
        return last - ((last - target) % BLOCKHASH_WINDOW);
    }

    /// The hash of `source(target)`: never zero, since the source is always within the window.
    function draw(uint256 target) internal view returns (bytes32) {
        return blockhash(source(target));
    }
}
