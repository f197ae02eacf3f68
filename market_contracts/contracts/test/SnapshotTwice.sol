// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IRosterSnapshots {
    function snapshotRoster() external returns (uint256 id);
}

/// Takes two roster snapshots in one transaction, hence in one L1 block, which the staking
/// contract must refuse; only the tests deploy it.
contract SnapshotTwice {
    function snapshotTwice(IRosterSnapshots staking) external {
        staking.snapshotRoster();
        staking.snapshotRoster();
    }
}
