// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Poseidon with five inputs (width 6), as circomlib computes it: the contract circomlibjs
/// generates (`artifacts/PoseidonT6.json`).
interface IPoseidon5 {
    function poseidon(uint256[5] calldata input) external pure returns (uint256);
}

/// @title BabyJubJub: the twisted Edwards curve over BN254's scalar field, and EdDSA-Poseidon on it.
/// @notice a x^2 + y^2 = 1 + d x^2 y^2 over F_r, a = 168700, d = 168696 (EIP-2494), as
/// sequencer/babyjub.py. a is a square and d is not, so the projective formulas below (Bernstein
/// et al. 2008, add-2008-bbjlp and dbl-2008-bbjlp; x = X/Z, y = Y/Z) are complete: they add and
/// double every pair of points, the identity (0 : 1 : 1) included, and Z is never 0.
///
/// `verify` accepts exactly what `sequencer.eddsa.verify` accepts (circomlib's
/// EdDSAPoseidonVerifier): both points on the curve with coordinates below r, S below the prime
/// subgroup's order l, the message below r, the key not of small order (8 A != 0), and
/// S B8 = R8 + 8 h A with h = Poseidon(R8x, R8y, Ax, Ay, m). It needs no inversion: S B8 - h (8 A)
/// is computed in one double-and-add over both scalars, two bits of each per step (Straus-Shamir,
/// a table of 16 points), and compared with R8 in projective form. `add` and `multiply` (what the tests hold against the Python) return affine
/// points: one inversion at the end, by the modexp precompile.
contract BabyJubJub {
    /// BN254's scalar field modulus, the curve's base field.
    uint256 internal constant Q = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant A = 168700;
    uint256 internal constant D = 168696;
    /// The order l of the prime subgroup, where keys and signatures live (the curve's is 8 l).
    uint256 internal constant SUBORDER = 2736030358979909402780800718157159386076813972158567259200215660948447373041;
    /// The verification's double-and-add takes 2 bits of each scalar per step, adding one of 16
    /// points (i B8 + j (-8A), i and j < 4); l < 2^251, so the scalars, reduced mod l, take 126.
    uint256 internal constant WINDOW_BITS = 2;
    uint256 internal constant WINDOWS = 126;
    /// circomlib's EdDSA base point B8, the generator of the prime subgroup.
    uint256 internal constant BASE8_X = 5299619240641551281634865583518297030282874472190772894086521144482721001553;
    uint256 internal constant BASE8_Y = 16950150798460657717958625567821834550301663161624707787222815936182638968203;
    /// 2 B8 and 3 B8 (B8 is fixed, so its row of the table is constant).
    uint256 internal constant BASE8_2X = 10031262171927540148667355526369034398030886437092045105752248699557385197826;
    uint256 internal constant BASE8_2Y = 633281375905621697187330766174974863687049529291089048651929454608812697683;
    uint256 internal constant BASE8_3X = 2763488322167937039616325905516046217694264098671987087929565332380420898366;
    uint256 internal constant BASE8_3Y = 15305195750036305661220525648961313310481046260814497672243197092298550508693;
    /// The modexp precompile (EIP-198), which inverts: z^(r-2) mod r.
    address internal constant MODEXP = address(0x05);

    error InverseFailed();

    IPoseidon5 public immutable poseidon5;

    constructor(IPoseidon5 poseidon5_) {
        poseidon5 = poseidon5_;
    }

    /// Whether `p` has coordinates below r and lies on the curve.
    function onCurve(uint256[2] calldata p) public pure returns (bool) {
        return _onCurve(p[0], p[1]);
    }

    /// p + q (affine in, affine out).
    function add(uint256[2] calldata p, uint256[2] calldata q) external view returns (uint256[2] memory) {
        uint256[48] memory table;
        _store(table, 0, p[0], p[1], 1);
        (uint256 x, uint256 y, uint256 z) = _addTo(q[0], q[1], 1, table, 0);
        return _affine(x, y, z);
    }

    /// scalar * p, for any scalar (not reduced: as `sequencer.babyjub.multiply`).
    function multiply(uint256[2] calldata p, uint256 scalar) external view returns (uint256[2] memory) {
        uint256[48] memory table;
        _store(table, 0, p[0], p[1], 1);
        (uint256 x, uint256 y, uint256 z) = (0, 1, 1);
        for (uint256 bit = 256; bit > 0; ) {
            unchecked {
                --bit;
            }
            (x, y, z) = _double(x, y, z);
            if ((scalar >> bit) & 1 == 1) (x, y, z) = _addTo(x, y, z, table, 0);
        }
        return _affine(x, y, z);
    }

    /// Whether (r8, s) is a valid EdDSA-Poseidon signature of `message` by `publicKey`.
    function verify(uint256[2] calldata publicKey, uint256 message, uint256[2] calldata r8, uint256 s)
        external
        view
        returns (bool)
    {
        if (!_onCurve(publicKey[0], publicKey[1]) || !_onCurve(r8[0], r8[1])) return false;
        if (s >= SUBORDER || message >= Q) return false;
        (uint256 x8, uint256 y8, uint256 z8) = _double(publicKey[0], publicKey[1], 1);
        (x8, y8, z8) = _double(x8, y8, z8);
        (x8, y8, z8) = _double(x8, y8, z8);
        if (x8 == 0 && y8 == z8) return false; // 8 A is the identity: a key anyone could sign for
        // 8 A is in the prime subgroup (the curve's order is 8 l), so h acts on it mod l.
        uint256 h = poseidon5.poseidon([r8[0], r8[1], publicKey[0], publicKey[1], message]) % SUBORDER;
        // the negation of (x, y) is (-x, y)
        (uint256 x, uint256 y, uint256 z) = _combination(_table((Q - x8) % Q, y8, z8), s, h);
        // S B8 - h 8A = R8, compared without inverting Z
        return x == mulmod(r8[0], z, Q) && y == mulmod(r8[1], z, Q);
    }

    /// table[i + 4 j] = i B8 + j K for i, j < 4 (K = -8A, projective).
    function _table(uint256 kx, uint256 ky, uint256 kz) private pure returns (uint256[48] memory table) {
        _store(table, 0, 0, 1, 1);
        _store(table, 1, BASE8_X, BASE8_Y, 1);
        _store(table, 2, BASE8_2X, BASE8_2Y, 1);
        _store(table, 3, BASE8_3X, BASE8_3Y, 1);
        _store(table, 4, kx, ky, kz);
        (uint256 x, uint256 y, uint256 z) = _double(kx, ky, kz);
        _store(table, 8, x, y, z);
        (x, y, z) = _addTo(x, y, z, table, 4);
        _store(table, 12, x, y, z);
        for (uint256 j = 4; j < 16; j += 4) {
            for (uint256 i = 1; i < 4; i++) {
                (x, y, z) = _addTo(table[3 * j], table[3 * j + 1], table[3 * j + 2], table, i);
                _store(table, i + j, x, y, z);
            }
        }
    }

    /// s B8 + h K, from the table of `_table`, WINDOW_BITS of each scalar per step (Straus-Shamir).
    function _combination(uint256[48] memory table, uint256 s, uint256 h)
        private
        pure
        returns (uint256 x, uint256 y, uint256 z)
    {
        (x, y, z) = (0, 1, 1);
        for (uint256 window = WINDOWS; window > 0; ) {
            unchecked {
                --window;
            }
            (x, y, z) = _double(x, y, z);
            (x, y, z) = _double(x, y, z);
            uint256 shift = window * WINDOW_BITS;
            uint256 digit = ((s >> shift) & 3) | (((h >> shift) & 3) << WINDOW_BITS);
            if (digit != 0) (x, y, z) = _addTo(x, y, z, table, digit);
        }
    }

    function _onCurve(uint256 x, uint256 y) private pure returns (bool) {
        if (x >= Q || y >= Q) return false;
        uint256 xx = mulmod(x, x, Q);
        uint256 yy = mulmod(y, y, Q);
        return addmod(mulmod(A, xx, Q), yy, Q) == addmod(1, mulmod(D, mulmod(xx, yy, Q), Q), Q);
    }

    function _store(uint256[48] memory table, uint256 i, uint256 x, uint256 y, uint256 z) private pure {
        table[3 * i] = x;
        table[3 * i + 1] = y;
        table[3 * i + 2] = z;
    }

    /// (x : y : z) + the point at `table[3 i ..]`.
    function _addTo(uint256 x1, uint256 y1, uint256 z1, uint256[48] memory table, uint256 i)
        private
        pure
        returns (uint256, uint256, uint256)
    {
        uint256 p;
        assembly {
            p := add(table, mul(i, 0x60))
        }
        return _add(x1, y1, z1, p);
    }

    /// (x1 : y1 : z1) + the point whose X, Y, Z are the memory words at `p` (add-2008-bbjlp:
    /// A = Z1 Z2, B = A^2, C = X1 X2, D = Y1 Y2, E = d C D, F = B - E, G = B + E,
    /// X3 = A F ((X1 + Y1)(X2 + Y2) - C - D), Y3 = A G (D - a C), Z3 = F G).
    function _add(uint256 x1, uint256 y1, uint256 z1, uint256 p)
        private
        pure
        returns (uint256 x3, uint256 y3, uint256 z3)
    {
        assembly {
            // few locals at a time (the stack reaches 16): x3, y3 and z3 hold intermediates; the
            // modulus in a local (a constant is copied from the code at each use)
            let q := Q
            let c
            let d
            {
                let x2 := mload(p)
                let y2 := mload(add(p, 0x20))
                x3 := mulmod(addmod(x1, y1, q), addmod(x2, y2, q), q)
                c := mulmod(x1, x2, q)
                d := mulmod(y1, y2, q)
            }
            x3 := addmod(x3, sub(q, addmod(c, d, q)), q)
            let a := mulmod(z1, mload(add(p, 0x40)), q)
            {
                let b := mulmod(a, a, q)
                let e := mulmod(mulmod(D, c, q), d, q)
                z3 := addmod(b, sub(q, e), q) // F
                y3 := addmod(b, e, q) // G
            }
            x3 := mulmod(mulmod(a, z3, q), x3, q)
            let fg := mulmod(z3, y3, q)
            y3 := mulmod(mulmod(a, y3, q), addmod(d, sub(q, mulmod(A, c, q)), q), q)
            z3 := fg
        }
    }

    /// 2 (x : y : z) (dbl-2008-bbjlp: C = X^2, D = Y^2, E = a C, F = E + D, J = F - 2 Z^2,
    /// X3 = 2 X Y J (its (X + Y)^2 - C - D), Y3 = F (E - D), Z3 = F J).
    function _double(uint256 x, uint256 y, uint256 z) private pure returns (uint256 x3, uint256 y3, uint256 z3) {
        assembly {
            let q := Q
            let d := mulmod(y, y, q)
            let e := mulmod(A, mulmod(x, x, q), q)
            let f := addmod(e, d, q)
            let j := addmod(f, sub(q, mulmod(2, mulmod(z, z, q), q)), q)
            x3 := mulmod(mulmod(2, mulmod(x, y, q), q), j, q)
            y3 := mulmod(f, addmod(e, sub(q, d), q), q)
            z3 := mulmod(f, j, q)
        }
    }

    function _affine(uint256 x, uint256 y, uint256 z) private view returns (uint256[2] memory point) {
        (bool ok, bytes memory inverse) = MODEXP.staticcall(abi.encode(32, 32, 32, z, Q - 2, Q));
        if (!ok || inverse.length != 32) revert InverseFailed();
        uint256 zInverse = abi.decode(inverse, (uint256));
        point[0] = mulmod(x, zInverse, Q);
        point[1] = mulmod(y, zInverse, Q);
    }
}
