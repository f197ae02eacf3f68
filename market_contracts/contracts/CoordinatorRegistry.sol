// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/// @title CoordinatorRegistry: who may run the market.
/// @notice Coordinators assign tasks and settle outcomes on the staking contract, so the set is
/// curated by the owner. Each coordinator is bound to one Rollup: it settles that rollup's
/// batches and pays from that rollup's reward pool only (market-spec.md, "Settlement"). Rollers accept gossip announcements only from registered coordinators,
/// matching the announced libp2p peer id against the one stored here.
contract CoordinatorRegistry is Ownable2Step {
    struct Coordinator {
        bytes peerId;
        string metadata;
        uint64 registeredAt;
        address rollup;
    }

    mapping(address => Coordinator) private _coordinators;
    address[] private _addresses;
    mapping(address => uint256) private _position; // index in _addresses plus one; 0 = absent

    event CoordinatorRegistered(
        address indexed coordinator, bytes peerId, string metadata, address indexed rollup
    );
    event CoordinatorRemoved(address indexed coordinator);

    error ZeroAddress();
    error EmptyPeerId();
    error AlreadyRegistered(address coordinator);
    error NotRegistered(address coordinator);

    constructor(address initialOwner) Ownable(initialOwner) {}

    function register(address coordinator, bytes calldata peerId, string calldata metadata, address rollup)
        external
        onlyOwner
    {
        if (coordinator == address(0) || rollup == address(0)) revert ZeroAddress();
        if (peerId.length == 0) revert EmptyPeerId();
        if (_position[coordinator] != 0) revert AlreadyRegistered(coordinator);
        _coordinators[coordinator] = Coordinator(peerId, metadata, uint64(block.timestamp), rollup);
        _addresses.push(coordinator);
        _position[coordinator] = _addresses.length;
        emit CoordinatorRegistered(coordinator, peerId, metadata, rollup);
    }

    function remove(address coordinator) external onlyOwner {
        uint256 position = _position[coordinator];
        if (position == 0) revert NotRegistered(coordinator);
        // Swap-and-pop keeps removal O(1); the order of `coordinators()` is not meaningful.
        address last = _addresses[_addresses.length - 1];
        _addresses[position - 1] = last;
        _position[last] = position;
        _addresses.pop();
        delete _position[coordinator];
        delete _coordinators[coordinator];
        emit CoordinatorRemoved(coordinator);
    }

    function isCoordinator(address account) external view returns (bool) {
        return _position[account] != 0;
    }

    /// The Rollup `account` is bound to; zero if it is not a registered coordinator.
    function rollupOf(address account) external view returns (address) {
        return _coordinators[account].rollup;
    }

    function coordinatorInfo(address coordinator) external view returns (Coordinator memory) {
        if (_position[coordinator] == 0) revert NotRegistered(coordinator);
        return _coordinators[coordinator];
    }

    function coordinators() external view returns (address[] memory) {
        return _addresses;
    }
}
