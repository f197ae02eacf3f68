// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Test only. The Rollup as the Bridge sees it (`IBridgeRollup`), every value settable: its L1
/// queue (appended by anyone, with the time), what is finalized, the exit roots, the freeze.
contract RollupDouble {
    struct Entry {
        bytes32 hash;
        uint256 time;
    }

    Entry[] internal _queue;
    uint256 public queueNext;
    uint256 public lastFinalized;
    bool public frozen;
    uint256 public finalizedRoot;
    mapping(uint256 blockNumber => bytes32) public exitRoot;

    function enqueue(bytes32 entryHash) external returns (uint256 position) {
        position = _queue.length;
        _queue.push(Entry(entryHash, block.timestamp));
    }

    function queueLength() external view returns (uint256) {
        return _queue.length;
    }

    function queueEntry(uint256 position) external view returns (bytes32 hash, uint256 time) {
        Entry storage entry = _queue[position];
        return (entry.hash, entry.time);
    }

    function setQueueNext(uint256 next) external {
        queueNext = next;
    }

    function setLastFinalized(uint256 number) external {
        lastFinalized = number;
    }

    function setFrozen(bool frozen_) external {
        frozen = frozen_;
    }

    function setFinalizedRoot(uint256 root) external {
        finalizedRoot = root;
    }

    function setExitRoot(uint256 blockNumber, bytes32 root) external {
        exitRoot[blockNumber] = root;
    }
}
