"""Solidity verifiers generated from a verification key, and the calldata they take.

Two contracts per key:

* `render_verifier`: snarkjs's ABI, `verifyProof(uint256[2] _pA,
  uint256[2][2] _pB, uint256[2] _pC, uint256[n] _pubSignals)`, so it is a
  drop-in for snarkjs users and their `zkey export soliditycalldata`; and
  `verify(bytes proof, uint256[] inputs)`, the proof as `zkp.system.Groth16`
  encodes it, which the staking contract calls without knowing the proof
  system or the number of inputs.
* `render_batch_verifier`: `verifyBatch(uint256[2][] a, uint256[2][2][] b,
  uint256[2] c, uint256[n][] inputs)` for an aggregate of `zkp.aggregate`.

Both check e(A, B) e(alpha, -beta) e(vk_x, -gamma) e(C, -delta) = 1: the
inverse of snarkjs's product, so the key's G2 points are negated here, once,
instead of the proof's A on every call. Both return false, never revert, for
any invalid proof: a coordinate not below q or an input not below r (checked
before the value reaches a precompile, since a failing precompile burns all
the gas it was given), a point off its curve or outside its subgroup (the
precompiles fail), a pairing product other than one; the batch verifier also
for no proofs or arrays of different lengths.

Gas: the precompile calls and the loops are inline assembly. A batch of K
costs the pairing precompile's 45,000 + 34,000 (K + 3), one ecMul (6,000)
per proof for r_i A_i and n + 2 in all for the key's points (the inputs are
summed with mulmod first, so their ecMuls do not grow with K), the calldata,
and about 1,300 gas a proof besides: hashing the calldata where it lies,
the scalars, the range checks.

A key made by an insecure development setup carries a label
(`VerificationKey.setup_label`); the generated source repeats it at the top.
"""

import re
from collections.abc import Sequence

from zkp.errors import ZkpError
from zkp.evm import g1_words, g2_words, negate_g2
from zkp.field import Q, R
from zkp.proof import AggregateProof, Proof, VerificationKey

SOLIDITY_PRAGMA = "^0.8.24"
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


class VerifierGenerationError(ZkpError):
    """No verifier can be generated: the key has no public inputs (Solidity has no
    zero-length arrays for the ABI to take), or the contract name is not an identifier."""


def render_verifier(vk: VerificationKey, contract_name: str = "Groth16Verifier") -> str:
    """Source of a contract verifying single proofs: snarkjs's `verifyProof` ABI, and
    `verify(bytes proof, uint256[] inputs)`, the proof as `zkp.system.Groth16` encodes it, which
    a caller that knows neither the proof system nor the number of inputs can make."""
    n = _require_renderable(vk, contract_name)
    signals_in_range = "\n".join(
        f"            inRange := and(inRange, lt(calldataload({_at('signals', 32 * i)}), R))"
        for i in range(n))
    accumulate = "\n".join(
        f"            accumulate(vkX, IC{i + 1}_X, IC{i + 1}_Y, "
        f"calldataload({_at('signals', 32 * i)}))"
        for i in range(n))
    return f"""{_header(vk)}
/// @title {contract_name}
/// @notice Verifies Groth16 proofs (BN254) of one circuit, with snarkjs's ABI or as bytes.
contract {contract_name} {{
{_key_constants(vk)}

    /// @notice Whether (_pA, _pB, _pC) proves the statement with these public signals.
    /// @dev _pB in the precompile's order: [[x.c1, x.c0], [y.c1, y.c0]]. Returns false for any
    /// invalid proof, never reverts.
    function verifyProof(
        uint256[2] calldata _pA,
        uint256[2][2] calldata _pB,
        uint256[2] calldata _pC,
        uint256[{n}] calldata _pubSignals
    ) external view returns (bool) {{
        uint256 pA;
        uint256 pB;
        uint256 pC;
        uint256 signals;
        assembly {{
            pA := _pA
            pB := _pB
            pC := _pC
            signals := _pubSignals
        }}
        return _verify(pA, pB, pC, signals);
    }}

    /// @notice Whether `proof`, abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c), proves
    /// the statement with these {n} public inputs.
    /// @dev Returns false for any invalid proof, for bytes of another length and for another
    /// number of inputs; never reverts.
    function verify(bytes calldata proof, uint256[] calldata inputs) external view returns (bool) {{
        if (proof.length != 0x100 || inputs.length != {n}) return false;
        uint256 pA;
        uint256 signals;
        assembly {{
            pA := proof.offset
            signals := inputs.offset
        }}
        return _verify(pA, pA + 0x40, pA + 0xc0, signals);
    }}

    /// The check, on a proof and {n} signals at these calldata offsets; answers the call itself.
    function _verify(uint256 pA, uint256 pB, uint256 pC, uint256 signals) private view returns (bool) {{
        assembly ("memory-safe") {{
{_YUL_HELPERS}
            let inRange := and(lt(calldataload(pA), Q), lt(calldataload(add(pA, 0x20)), Q))
            inRange := and(inRange, and(lt(calldataload(pB), Q), lt(calldataload(add(pB, 0x20)), Q)))
            inRange := and(inRange, and(lt(calldataload(add(pB, 0x40)), Q), lt(calldataload(add(pB, 0x60)), Q)))
            inRange := and(inRange, and(lt(calldataload(pC), Q), lt(calldataload(add(pC, 0x20)), Q)))
{signals_in_range}
            if iszero(inRange) {{ reject() }}

            // The pairing input, 192 bytes a pair: (A, B), (alpha, -beta), (vk_x, -gamma), (C, -delta).
            let pairs := mload(0x40)
            calldatacopy(pairs, pA, 0x40)
            calldatacopy(add(pairs, 0x40), pB, 0x80)
            mstore(add(pairs, 0xc0), ALPHA_X)
            mstore(add(pairs, 0xe0), ALPHA_Y)
            storeG2(add(pairs, 0x100), NEG_BETA_X1, NEG_BETA_X0, NEG_BETA_Y1, NEG_BETA_Y0)
            // vk_x = IC0 + sum_i x_i IC_i, built in its own slot
            let vkX := add(pairs, 0x180)
            mstore(vkX, IC0_X)
            mstore(add(vkX, 0x20), IC0_Y)
{accumulate}
            storeG2(add(vkX, 0x40), NEG_GAMMA_X1, NEG_GAMMA_X0, NEG_GAMMA_Y1, NEG_GAMMA_Y0)
            let cPair := add(pairs, 0x240)
            calldatacopy(cPair, pC, 0x40)
            storeG2(add(cPair, 0x40), NEG_DELTA_X1, NEG_DELTA_X0, NEG_DELTA_Y1, NEG_DELTA_Y0)

            let success := staticcall(gas(), 8, pairs, 0x300, 0, 0x20)
            mstore(0, and(success, mload(0)))
            return(0, 0x20)
        }}
    }}
}}
"""


def render_batch_verifier(vk: VerificationKey,
                          contract_name: str = "Groth16BatchVerifier") -> str:
    """Source of a contract verifying aggregates (`zkp.aggregate`) of proofs of one circuit."""
    n = _require_renderable(vk, contract_name)
    input_bytes = 32 * n
    add_to_sums = "\n".join(
        f"                xj := calldataload({_at('x', 32 * (j - 1))})\n"
        f"                if iszero(lt(xj, R)) {{ reject() }}\n"
        f"                mstore({_at('sums', 32 * j)}, addmod(mload({_at('sums', 32 * j)}), "
        f"mulmod(r, xj, R), R))"
        for j in range(1, n + 1))
    accumulate = "\n".join(
        f"            accumulate(vkX, IC{j}_X, IC{j}_Y, mload({_at('sums', 32 * j)}))"
        for j in range(1, n + 1))
    zero_sums = "\n".join(f"            mstore({_at('sums', 32 * j)}, 0)" for j in range(n + 1))
    return f"""{_header(vk)}
/// @title {contract_name}
/// @notice Verifies aggregates of K Groth16 proofs (BN254) of one circuit with one pairing
/// check of K + 3 pairs: prod e(r_i A_i, B_i) * e((sum r_i) alpha, -beta)
/// * e(sum r_i vk_x(x_i), -gamma) * e(C, -delta) = 1, where C = sum r_i C_i and
/// r_i = uint256(keccak256(abi.encode(t, i))) mod R for i = 1..K,
/// t = keccak256(abi.encodePacked(a, b, inputs)).
contract {contract_name} {{
{_key_constants(vk)}

    /// @notice Whether (a, b, c) is a valid aggregate of K proofs, proof i proving inputs[i].
    /// @dev b in the precompile's order: [[x.c1, x.c0], [y.c1, y.c0]] each. Returns false for any
    /// invalid aggregate, for K = 0 and for arrays of different lengths; never reverts.
    function verifyBatch(
        uint256[2][] calldata a,
        uint256[2][2][] calldata b,
        uint256[2] calldata c,
        uint256[{n}][] calldata inputs
    ) external view returns (bool) {{
        assembly ("memory-safe") {{
{_YUL_HELPERS}
            // Both coordinates of A (calldata at aI) and all four of B (at bI) below Q.
            function requireCoordinates(aI, bI) {{
                if iszero(and(and(lt(calldataload(aI), Q), lt(calldataload(add(aI, 0x20)), Q)),
                              and(and(lt(calldataload(bI), Q), lt(calldataload(add(bI, 0x20)), Q)),
                                  and(lt(calldataload(add(bI, 0x40)), Q), lt(calldataload(add(bI, 0x60)), Q))))) {{
                    reject()
                }}
            }}
            // r_i = keccak256(abi.encode(t, i)) mod R, t being at memory 0; adds r_i to sums[0]
            // and r_i x_ij to sums[j] once x_ij (calldata at x + 32 (j - 1)) is below R.
            function challenge(i, sums, x) -> r {{
                mstore(0x20, i)
                r := mod(keccak256(0, 0x40), R)
                mstore(sums, addmod(mload(sums), r, R))
                let xj := 0
{add_to_sums}
            }}

            if iszero(and(iszero(iszero(a.length)), and(eq(b.length, a.length), eq(inputs.length, a.length)))) {{
                reject()
            }}
            if iszero(and(lt(calldataload(c), Q), lt(calldataload(add(c, 0x20)), Q))) {{ reject() }}

            // sums: sum_i r_i, then sum_i r_i x_ij for each input j (mod R); then the pairing
            // input, 192 bytes a pair
            let sums := mload(0x40)
            let pairs := add(sums, {hex(input_bytes + 32)})
            // t: the three arrays' contents back to back, hashed where the pairs will go
            calldatacopy(pairs, a.offset, shl(6, a.length))
            calldatacopy(add(pairs, shl(6, a.length)), b.offset, shl(7, a.length))
            calldatacopy(add(pairs, mul(a.length, 0xc0)), inputs.offset, mul(a.length, {hex(input_bytes)}))
            mstore(0, keccak256(pairs, mul(a.length, {hex(192 + input_bytes)})))
{zero_sums}
            // (r_i A_i, B_i), checking each value on the way
            for {{ let i := 0 }} lt(i, a.length) {{ i := add(i, 1) }} {{
                let pair := add(pairs, mul(i, 0xc0))
                let aI := add(a.offset, shl(6, i))
                let bI := add(b.offset, shl(7, i))
                requireCoordinates(aI, bI)
                calldatacopy(pair, aI, 0x40)
                scale(pair, challenge(add(i, 1), sums, add(inputs.offset, mul(i, {hex(input_bytes)}))))
                calldatacopy(add(pair, 0x40), bI, 0x80)
            }}

            // ((sum r_i) alpha, -beta)
            let tail := add(pairs, mul(a.length, 0xc0))
            mstore(tail, ALPHA_X)
            mstore(add(tail, 0x20), ALPHA_Y)
            scale(tail, mload(sums))
            storeG2(add(tail, 0x40), NEG_BETA_X1, NEG_BETA_X0, NEG_BETA_Y1, NEG_BETA_Y0)
            // (sum_i r_i vk_x(x_i), -gamma) = ((sum r_i) IC0 + sum_j sums[j] IC_j, -gamma)
            let vkX := add(tail, 0xc0)
            mstore(vkX, IC0_X)
            mstore(add(vkX, 0x20), IC0_Y)
            scale(vkX, mload(sums))
{accumulate}
            storeG2(add(vkX, 0x40), NEG_GAMMA_X1, NEG_GAMMA_X0, NEG_GAMMA_Y1, NEG_GAMMA_Y0)
            // (C, -delta)
            let cPair := add(tail, 0x180)
            calldatacopy(cPair, c, 0x40)
            storeG2(add(cPair, 0x40), NEG_DELTA_X1, NEG_DELTA_X0, NEG_DELTA_Y1, NEG_DELTA_Y0)

            let success := staticcall(gas(), 8, pairs, mul(add(a.length, 3), 0xc0), 0, 0x20)
            mstore(0, and(success, mload(0)))
            return(0, 0x20)
        }}
    }}
}}
"""


def proof_calldata(proof: Proof, public_signals: Sequence[int]) -> tuple:
    """The arguments of `verifyProof`: (_pA, _pB, _pC, _pubSignals)."""
    return g1_words(proof.a), g2_words(proof.b), g1_words(proof.c), list(public_signals)


def aggregate_calldata(agg: AggregateProof, public_inputs: Sequence[Sequence[int]]) -> tuple:
    """The arguments of `verifyBatch`: (a, b, c, inputs)."""
    return ([g1_words(p) for p in agg.a], [g2_words(p) for p in agg.b], g1_words(agg.c),
            [list(x) for x in public_inputs])


# Shared by both verifiers: return false, and the two group operations they use.
_YUL_HELPERS = """\
            // Answer false and stop.
            function reject() {
                mstore(0, 0)
                return(0, 0x20)
            }
            // The G1 point at p becomes s times itself (ecMul); the word after it is scratch.
            function scale(p, s) {
                mstore(add(p, 0x40), s)
                if iszero(staticcall(gas(), 7, p, 0x60, p, 0x40)) { reject() }
            }
            // acc += s * (x, y) (ecMul, ecAdd); the 96 bytes after the accumulator are scratch.
            function accumulate(acc, x, y, s) {
                let m := add(acc, 0x40)
                mstore(m, x)
                mstore(add(m, 0x20), y)
                scale(m, s)
                if iszero(staticcall(gas(), 6, acc, 0x80, acc, 0x40)) { reject() }
            }
            // A G2 point at p, in the precompile's order.
            function storeG2(p, x1, x0, y1, y0) {
                mstore(p, x1)
                mstore(add(p, 0x20), x0)
                mstore(add(p, 0x40), y1)
                mstore(add(p, 0x60), y0)
            }
"""


def _require_renderable(vk: VerificationKey, contract_name: str) -> int:
    if not _IDENTIFIER.match(contract_name):
        raise VerifierGenerationError(
            f"{contract_name!r} is not a Solidity identifier: use letters, digits, _ and $, "
            "not starting with a digit")
    if vk.n_public == 0:
        raise VerifierGenerationError(
            "the key has no public inputs, and a verifier's ABI takes them as uint256[n]: "
            "Solidity has no zero-length arrays")
    return vk.n_public


def _header(vk: VerificationKey) -> str:
    lines = [
        "// SPDX-License-Identifier: MIT",
        "// Generated by provernet from a Groth16 verification key; regenerate it, do not edit.",
    ]
    if vk.setup_label is not None:
        lines += [f"// {line}" for line in vk.setup_label.splitlines()]
    lines += ["", f"pragma solidity {SOLIDITY_PRAGMA};", ""]
    return "\n".join(lines)


def _key_constants(vk: VerificationKey) -> str:
    """The moduli and the key's points as constants; G2 points negated, in precompile order."""
    constants = [
        ("R", R, "scalar field modulus (group order): public inputs are below it"),
        ("Q", Q, "base field modulus: coordinates are below it"),
    ]
    (alpha_x, alpha_y) = g1_words(vk.alpha1)
    constants += [("ALPHA_X", alpha_x, "alpha (G1)"), ("ALPHA_Y", alpha_y, None)]
    for name, point in (("BETA", vk.beta2), ("GAMMA", vk.gamma2), ("DELTA", vk.delta2)):
        (x1, x0), (y1, y0) = g2_words(negate_g2(point))
        constants += [(f"NEG_{name}_X1", x1, f"-{name.lower()} (G2), x.c1, x.c0, y.c1, y.c0"),
                      (f"NEG_{name}_X0", x0, None), (f"NEG_{name}_Y1", y1, None),
                      (f"NEG_{name}_Y0", y0, None)]
    for i, point in enumerate(vk.ic):
        x, y = g1_words(point)
        comment = "IC: vk_x = IC0 + sum_i x_i IC_i" if i == 0 else None
        constants += [(f"IC{i}_X", x, comment), (f"IC{i}_Y", y, None)]
    lines = []
    for name, value, comment in constants:
        if comment is not None:
            lines.append(f"    // {comment}")
        lines.append(f"    uint256 internal constant {name} = {value};")
    return "\n".join(lines)


def _at(base: str, offset: int) -> str:
    """A Yul expression for base + offset bytes."""
    return base if offset == 0 else f"add({base}, {hex(offset)})"
