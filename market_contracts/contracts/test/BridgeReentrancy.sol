// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TokenReceiver} from "./ReentrantToken.sol";

/// Test only. Receives the Bridge's payouts through ReentrantToken's hook and, once, calls the
/// Bridge again with calldata the test armed it with (the same claim, exit or refund, or another),
/// recording whether that inner call succeeded and what it returned, so the test sees the
/// Bridge refuse it while the outer payout stands.
contract BridgeReentrancyAttacker is TokenReceiver {
    address public immutable bridge;
    address public immutable token;
    bytes public armed;
    bool public reentered;
    bool public reentrySucceeded;
    bytes public reentryResult;

    constructor(address bridge_, address token_) {
        bridge = bridge_;
        token = token_;
    }

    /// Act as this contract (approve the Bridge, deposit).
    function execute(address target, bytes calldata data) external {
        (bool ok, bytes memory result) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    function arm(bytes calldata data) external {
        armed = data;
    }

    function onTokenReceived(address, uint256) external {
        if (msg.sender != token || armed.length == 0) return;
        bytes memory data = armed;
        delete armed;
        (bool ok, bytes memory result) = bridge.call(data);
        reentered = true;
        reentrySucceeded = ok;
        reentryResult = result;
    }
}
