// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Stands in for a generated batch verifier in the Rollup's tests: it accepts exactly the public
/// inputs it was told to expect, whatever the proof, so the tests see which inputs the Rollup
/// built without proving anything. Only the tests deploy it.
contract BatchVerifierStub {
    bytes32 public expectedInputs;

    function expect(uint256[4][] calldata inputs) external {
        expectedInputs = keccak256(abi.encode(inputs));
    }

    function verifyBatch(
        uint256[2][] calldata,
        uint256[2][2][] calldata,
        uint256[2] calldata,
        uint256[4][] calldata inputs
    ) external view returns (bool) {
        return keccak256(abi.encode(inputs)) == expectedInputs;
    }
}
