"""The native BN254 library (zkp.native) against Python integers, py_ecc and ffjavascript.

Tests taking the `kernels` fixture run on both builds of the kernels (BMI2/ADX assembly and
portable C field products). Multi-scalar multiplications are checked through discrete logs:
the bases are k_i * G, made by the library's fixed-base multiplication (itself checked
against py_ecc), so sum s_i (k_i G) must equal (sum s_i k_i) G, one py_ecc multiplication
however many points.
"""

import json
import random
from pathlib import Path

import numpy as np
import pytest
from py_ecc import optimized_bn128 as bn

from zkp import native
from zkp.errors import NativeLibraryMissing
from zkp.field import Q, R, from_montgomery, ints_to_limbs, limbs_to_ints
from zkp.points import g1_from_montgomery, g2_from_montgomery
from zkp.zkey import COEFFICIENT

REPO = Path(__file__).resolve().parents[2]
MONT = 2**256


@pytest.fixture(params=native.KERNELS)
def kernels(request):
    previous = native.kernels()
    try:
        native.use_kernels(request.param)
    except ValueError:
        pytest.skip(f"this CPU cannot run the {request.param} kernels")
    yield request.param
    native.use_kernels(previous)


def limbs(values) -> np.ndarray:
    return ints_to_limbs([v % 2**256 for v in values])


def mont(values, p) -> np.ndarray:
    return limbs([v * MONT % p for v in values])


def ints(array: np.ndarray) -> list[int]:
    return limbs_to_ints(array)


# ------------------------------------------------------------------ points


def affine1(point):
    return None if bn.is_inf(point) else tuple(int(c) for c in bn.normalize(point))


def affine2(point):
    if bn.is_inf(point):
        return None
    x, y = bn.normalize(point)
    return (tuple(int(c) for c in x.coeffs), tuple(int(c) for c in y.coeffs))


def encode1(points) -> np.ndarray:
    coordinates = [c for p in points for c in (p or (0, 0))]
    return limbs([c * MONT % Q for c in coordinates]).reshape(-1, 2, 4)


def encode2(points) -> np.ndarray:
    coordinates = [c for p in points for f in (p or ((0, 0), (0, 0))) for c in f]
    return limbs([c * MONT % Q for c in coordinates]).reshape(-1, 2, 2, 4)


def g1(k: int):
    return affine1(bn.multiply(bn.G1, k % R))


def g2(k: int):
    return affine2(bn.multiply(bn.G2, k % R))


# ------------------------------------------------------------------ fields

FIELD_EDGES = [0, 1, 2, 3, 2**64 - 1, 2**64, 2**128 + 5, 2**192 - 1, 2**252]


def field_samples(p: int, count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    edges = FIELD_EDGES + [p - 1, p - 2, p // 2, p // 2 + 1, MONT % p, (p - 1) * MONT % p]
    return edges + [rng.randrange(p) for _ in range(count)]


@pytest.mark.parametrize("p, prefix", [(Q, "fp"), (R, "fr")])
def test_field_operations(kernels, p, prefix):
    xs = field_samples(p, 200, seed=1)
    ys = list(reversed(field_samples(p, 200, seed=2)))
    a, b = limbs(xs), limbs(ys)
    op = {name: getattr(native, f"{prefix}_{name}") for name in ("mul", "add", "sub", "inv")}
    radix_inverse = pow(MONT, -1, p)
    assert ints(op["mul"](a, b)) == [x * y * radix_inverse % p for x, y in zip(xs, ys)]
    assert ints(op["add"](a, b)) == [(x + y) % p for x, y in zip(xs, ys)]
    assert ints(op["sub"](a, b)) == [(x - y) % p for x, y in zip(xs, ys)]
    # Montgomery form in and out: 1/(x/2^256) * 2^256 = 2^512 / x.
    assert ints(op["inv"](a)) == [pow(x, -1, p) * MONT * MONT % p if x else 0 for x in xs]
    to_m = getattr(native, f"{prefix}_to_montgomery")
    from_m = getattr(native, f"{prefix}_from_montgomery")
    assert ints(to_m(a)) == [x * MONT % p for x in xs]
    assert ints(from_m(a)) == [x * radix_inverse % p for x in xs]
    assert ints(from_m(to_m(a))) == xs


@pytest.mark.parametrize("prefix, p", [("fp", Q), ("fr", R)])
def test_field_rejects_unreduced_limbs(prefix, p):
    for bad in (p, p + 1, 2**256 - 1):
        with pytest.raises(ValueError, match="not below its modulus"):
            getattr(native, f"{prefix}_mul")(limbs([1, bad]), limbs([1, 1]))


def fq2_mul(x, y):
    return ((x[0] * y[0] - x[1] * y[1]) % Q, (x[0] * y[1] + x[1] * y[0]) % Q)


def test_fp2(kernels):
    rng = random.Random(3)
    edges = [0, 1, Q - 1, MONT % Q]
    xs = [(a, b) for a in edges for b in edges]
    xs += [(rng.randrange(Q), rng.randrange(Q)) for _ in range(50)]
    ys = xs[::-1]
    a = mont([c for x in xs for c in x], Q).reshape(-1, 2, 4)
    b = mont([c for y in ys for c in y], Q).reshape(-1, 2, 4)

    def standard(array):
        c = [from_montgomery(v, Q) for v in ints(array)]
        return list(zip(c[::2], c[1::2]))

    assert standard(native.fp2_mul(a, b)) == [fq2_mul(x, y) for x, y in zip(xs, ys)]
    assert standard(native.fp2_square(a)) == [fq2_mul(x, x) for x in xs]


# ------------------------------------------------------------------ curves


def test_g1_operations(kernels):
    p, q = g1(5), g1(1234567)
    minus_p = affine1(bn.neg(bn.multiply(bn.G1, 5)))
    cases = [(p, q), (p, p), (p, minus_p), (p, None), (None, q), (None, None), (q, p)]
    a = encode1([x for x, _ in cases])
    b = encode1([y for _, y in cases])

    def lift(point):
        return bn.Z1 if point is None else (bn.FQ(point[0]), bn.FQ(point[1]), bn.FQ(1))

    assert g1_from_montgomery(native.g1_add(a, b)) == [
        affine1(bn.add(lift(x), lift(y))) for x, y in cases
    ]
    doubles = [affine1(bn.double(lift(x))) for x, _ in cases]
    assert g1_from_montgomery(native.g1_double(a)) == doubles
    assert g1_from_montgomery(native.g1_negate(a)) == [affine1(bn.neg(lift(x))) for x, _ in cases]
    assert native.g1_is_on_curve(a).all()
    off_curve = encode1([(1, 3), (p[0], p[1] + 1)])
    assert not native.g1_is_on_curve(off_curve).any()


def test_g2_operations(kernels):
    p, q = g2(7), g2(987654321)
    minus_p = affine2(bn.neg(bn.multiply(bn.G2, 7)))
    cases = [(p, q), (p, p), (p, minus_p), (p, None), (None, q), (None, None)]
    a = encode2([x for x, _ in cases])
    b = encode2([y for _, y in cases])

    def lift(point):
        if point is None:
            return bn.Z2
        return (bn.FQ2(list(point[0])), bn.FQ2(list(point[1])), bn.FQ2.one())

    assert g2_from_montgomery(native.g2_add(a, b)) == [
        affine2(bn.add(lift(x), lift(y))) for x, y in cases
    ]
    doubles = [affine2(bn.double(lift(x))) for x, _ in cases]
    assert g2_from_montgomery(native.g2_double(a)) == doubles
    assert g2_from_montgomery(native.g2_negate(a)) == [affine2(bn.neg(lift(x))) for x, _ in cases]
    assert native.g2_is_on_curve(a).all()
    # A G1-style point, and a point of the right x with the wrong y.
    off_curve = encode2([((1, 0), (2, 0)), (p[0], (p[1][0], (p[1][1] + 1) % Q))])
    assert not native.g2_is_on_curve(off_curve).any()


# ------------------------------------------------------ fixed-base products

SPECIAL_SCALARS = [0, 1, 2, 3, R - 1, R - 2, R // 2, 2**128, 2**253, 2**64 - 1]


def test_g1_mul_many(kernels):
    rng = random.Random(4)
    scalars = SPECIAL_SCALARS + [rng.randrange(R) for _ in range(14)]
    out = native.g1_mul_many(encode1([g1(1)])[0], limbs(scalars))
    assert g1_from_montgomery(out) == [g1(k) for k in scalars]
    # Another base, and infinity as base.
    base = g1(99)
    out = native.g1_mul_many(encode1([base])[0], limbs(scalars[:6]))
    assert g1_from_montgomery(out) == [g1(99 * k) for k in scalars[:6]]
    assert not native.g1_mul_many(encode1([None])[0], limbs(scalars[:3])).any()


def test_g2_mul_many(kernels):
    rng = random.Random(5)
    scalars = SPECIAL_SCALARS[:6] + [rng.randrange(R) for _ in range(2)]
    out = native.g2_mul_many(encode2([g2(1)])[0], limbs(scalars))
    assert g2_from_montgomery(out) == [g2(k) for k in scalars]


def test_mul_many_large_batches_agree_with_small_ones():
    """Thousands of scalars take wider windows and several chunks; spot-check against py_ecc."""
    rng = random.Random(6)
    scalars = [rng.randrange(R) for _ in range(5000)]
    big = native.g1_mul_many(encode1([g1(1)])[0], limbs(scalars))
    for i in (0, 1023, 1024, 4999):
        assert g1_from_montgomery(big[i : i + 1]) == [g1(scalars[i])]
    small = native.g1_mul_many(encode1([g1(1)])[0], limbs(scalars[:40]))
    assert np.array_equal(big[:40], small)


# ------------------------------------------------------------------- MSM


def msm_case(n: int, seed: int) -> tuple[list[int], list[int]]:
    """Discrete logs of the bases and the scalars, with every awkward combination in it:
    zero scalars, scalar r - 1, infinity bases, repeated bases, P and -P."""
    rng = random.Random(seed)
    logs = [rng.randrange(R) for _ in range(n)]
    scalars = [rng.randrange(R) for _ in range(n)]
    for i in range(n):
        kind = rng.randrange(8)
        if kind == 0:
            scalars[i] = 0
        elif kind == 1:
            scalars[i] = R - 1
        elif kind == 2:
            logs[i] = 0
        elif kind == 3 and i:
            logs[i] = logs[rng.randrange(i)]
        elif kind == 4 and i:
            logs[i] = (R - logs[rng.randrange(i)]) % R
    return logs, scalars


def expected_log(logs, scalars) -> int:
    return sum(k * s for k, s in zip(logs, scalars)) % R


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 100, 1000])
def test_msm_g1(kernels, n):
    logs, scalars = msm_case(n, seed=n)
    bases = native.g1_mul_many(encode1([g1(1)])[0], limbs(logs))
    result = native.msm_g1(bases, limbs(scalars))
    assert result.shape == (2, 4)
    assert g1_from_montgomery(result) == [g1(expected_log(logs, scalars))]


@pytest.mark.parametrize("n", [0, 1, 3, 17, 100])
def test_msm_g2(kernels, n):
    logs, scalars = msm_case(n, seed=100 + n)
    bases = native.g2_mul_many(encode2([g2(1)])[0], limbs(logs))
    result = native.msm_g2(bases, limbs(scalars))
    assert result.shape == (2, 2, 4)
    assert g2_from_montgomery(result) == [g2(expected_log(logs, scalars))]


@pytest.mark.parametrize(
    "logs, scalars, total",
    [
        # Every bucket of every window holds P twice: sums that are doublings.
        ([5, 5], [R - 1, R - 1], 2 * 5 * (R - 1)),
        ([5] * 9, [123456789] * 9, 9 * 5 * 123456789),
        # P and -P with equal scalars: every bucket sums to infinity.
        ([5, R - 5], [777, 777], 0),
        ([5, R - 5, 5, 9], [2**200 + 1] * 4, 14 * (2**200 + 1)),
        ([0, 0, 0], [1, 2, 3], 0),
        ([11, 12], [0, 0], 0),
    ],
)
def test_msm_g1_special_sums(kernels, logs, scalars, total):
    bases = native.g1_mul_many(encode1([g1(1)])[0], limbs(logs))
    assert g1_from_montgomery(native.msm_g1(bases, limbs(scalars))) == [g1(total)]


def test_msm_g2_special_sums(kernels):
    bases = native.g2_mul_many(encode2([g2(1)])[0], limbs([5, 5, R - 5, 8]))
    scalars = [3, 3, 3, R - 1]
    assert g2_from_montgomery(native.msm_g2(bases, limbs(scalars))) == [g2(3 * 5 - 8)]


def test_msm_thread_counts_and_chunks_agree():
    """Many threads on 2^15 points split the points into chunks, each with its own buckets."""
    logs, scalars = msm_case(1 << 15, seed=7)
    bases = native.g1_mul_many(encode1([g1(1)])[0], limbs(logs))
    expected = [g1(expected_log(logs, scalars))]
    for threads in (1, 3, 64):
        assert g1_from_montgomery(native.msm_g1(bases, limbs(scalars), threads=threads)) == expected


def test_msm_rejects_bad_input():
    bases = native.g1_mul_many(encode1([g1(1)])[0], limbs([1, 2]))
    with pytest.raises(ValueError, match="not below the group order"):
        native.msm_g1(bases, limbs([1, R]))
    unreduced = bases.copy()
    unreduced[1, 0] = limbs([Q])[0]
    with pytest.raises(ValueError, match="not below the base field modulus"):
        native.msm_g1(unreduced, limbs([1, 2]))
    with pytest.raises(ValueError, match="differ in length"):
        native.msm_g1(bases, limbs([1]))
    with pytest.raises(ValueError, match=r"shape \(n, 2, 2, 4\)"):
        native.msm_g2(bases, limbs([1, 2]))
    with pytest.raises(ValueError, match="uint64"):
        native.msm_g1(bases.astype(np.int64), limbs([1, 2]))
    with pytest.raises(ValueError, match="C-contiguous"):
        native.msm_g1(np.repeat(bases, 2, axis=0)[::2], limbs([1, 2]))
    with pytest.raises(ValueError, match="aligned"):
        raw = np.zeros(bases.nbytes + 1, dtype=np.uint8)
        unaligned = raw[1:].view(np.uint64).reshape(bases.shape)
        native.msm_g1(unaligned, limbs([1, 2]))
    with pytest.raises(ValueError, match="threads"):
        native.msm_g1(bases, limbs([1, 2]), threads=0)


# ------------------------------------------------------------------- NTT


def root(n: int) -> int:
    return pow(5, (R - 1) // n, R)


def dft(values: list[int], inverse: bool = False) -> list[int]:
    n = len(values)
    w = pow(root(n), -1, R) if inverse else root(n)
    scale = pow(n, -1, R) if inverse else 1
    return [
        scale * sum(v * pow(w, i * j, R) for j, v in enumerate(values)) % R for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 4, 16, 64])
def test_ntt_matches_dft(kernels, n):
    rng = random.Random(n)
    values = [rng.randrange(R) for _ in range(n)]
    a = mont(values, R)
    for inverse in (False, True):
        out = native.ntt(a, inverse=inverse)
        assert [from_montgomery(v, R) for v in ints(out)] == dft(values, inverse)
    assert ints(a) == [v * MONT % R for v in values], "the input must be left alone"


@pytest.mark.parametrize("log_n", [12, 14])
def test_ntt_round_trip_and_sample_points(kernels, log_n):
    """Sizes that take the threaded and the cache-blocked stages."""
    n = 1 << log_n
    rng = random.Random(log_n)
    values = [rng.randrange(R) for _ in range(n)]
    a = mont(values, R)
    forward = native.ntt(a)
    assert np.array_equal(native.ntt(forward, inverse=True), a)
    w = root(n)
    got = [from_montgomery(v, R) for v in ints(forward)]
    for i in (0, 1, n // 2 + 3, n - 1):
        wi = pow(w, i, R)
        assert got[i] == sum(v * pow(wi, j, R) for j, v in enumerate(values)) % R


def test_ntt_rejects_bad_input():
    with pytest.raises(ValueError, match="power of two"):
        native.ntt(mont([1, 2, 3], R))
    with pytest.raises(ValueError, match="not below its modulus"):
        native.ntt(limbs([1, R]))


# ----------------------------------------------------------- Groth16 H


def coefficient_records(records) -> np.ndarray:
    """Section-4 records from (matrix, constraint, signal, c), the value stored as c * 2^512."""
    out = np.zeros(len(records), dtype=COEFFICIENT)
    for i, (m, c, s, value) in enumerate(records):
        out[i] = (m, c, s, limbs([value * MONT * MONT % R])[0])
    return out


def reference_h(records, witness: list[int], n: int) -> list[int]:
    """snarkjs's steps written plainly: A, B on the domain, C = A.B, then on the odd coset
    w_2n <w_n> through the coefficients, and A.B - C there."""
    a, b = [0] * n, [0] * n
    for m, c, s, value in records:
        (a if m == 0 else b)[c] += value * witness[s]
    a = [x % R for x in a]
    b = [x % R for x in b]
    c = [x * y % R for x, y in zip(a, b)]
    points = [root(2 * n) * pow(root(n), i, R) % R for i in range(n)]

    def on_coset(evaluations):
        coefficients = dft(evaluations, inverse=True)
        out = []
        for x in points:
            acc = 0
            for coefficient in reversed(coefficients):
                acc = (acc * x + coefficient) % R
            out.append(acc)
        return out

    a, b, c = on_coset(a), on_coset(b), on_coset(c)
    return [(x * y - z) % R for x, y, z in zip(a, b, c)]


def random_h_case(n: int, n_vars: int, count: int, seed: int):
    rng = random.Random(seed)
    witness = [1] + [rng.randrange(R) for _ in range(n_vars - 1)]
    records = []
    for _ in range(count):
        value = rng.choice([1, R - 1, rng.randrange(R)])
        records.append((rng.randrange(2), rng.randrange(n), rng.randrange(n_vars), value))
    return records, witness


@pytest.mark.parametrize("n, n_vars, count", [(1, 2, 3), (2, 3, 5), (8, 6, 30), (64, 40, 300)])
def test_groth16_h_matches_reference(kernels, n, n_vars, count):
    records, witness = random_h_case(n, n_vars, count, seed=n)
    out = native.groth16_h(coefficient_records(records), limbs(witness), n)
    assert out.shape == (n, 4)
    assert ints(out) == reference_h(records, witness, n)


def test_groth16_h_rejects_bad_records():
    witness = limbs([1, 2, 3])
    for bad in [(0, 4, 0, 1), (0, 0, 3, 1), (2, 0, 0, 1)]:
        with pytest.raises(ValueError, match="coefficient record"):
            native.groth16_h(coefficient_records([(0, 0, 0, 1), bad]), witness, 4)
    with pytest.raises(ValueError, match="witness value"):
        native.groth16_h(coefficient_records([(0, 0, 0, 1)]), limbs([1, R]), 4)
    with pytest.raises(ValueError, match="power of two"):
        native.groth16_h(coefficient_records([(0, 0, 0, 1)]), witness, 6)
    with pytest.raises(ValueError, match="COEFFICIENT"):
        native.groth16_h(np.zeros(3, dtype=np.uint64), witness, 4)


# ---------------------------------------------- against ffjavascript itself

# ffjavascript (snarkjs's arithmetic), in node: its fft / ifft, the steps of snarkjs's
# groth16_prove.js from buildABC1 to joinABC, and multiExpAffine on G1 and G2.
FFJAVASCRIPT = """
import { buildBn128 } from "ffjavascript";
import { readFileSync } from "fs";
const input = JSON.parse(readFileSync(0, "utf8"));
const curve = await buildBn128(true);
const Fr = curve.Fr;
const hex = (h) => new Uint8Array(Buffer.from(h, "hex"));
const elements = (buff) => {
    const out = [];
    for (let i = 0; i < buff.byteLength; i += 32) {
        out.push(Fr.toObject(buff.slice(i, i + 32)).toString());
    }
    return out;
};
const values = new Uint8Array(input.fft.length * 32);
input.fft.forEach((v, i) => values.set(Fr.e(BigInt(v)), i * 32));
const fft = elements(await Fr.fft(values));
const ifft = elements(await Fr.ifft(values));

// groth16_prove.js, buildABC1 .. joinABC, for a domain of input.domainSize.
const n = input.domainSize, power = Math.log2(n);
const coeffs = hex(input.coefficients), witness = hex(input.witness);
const view = new DataView(coeffs.buffer);
const outBuf = [new Uint8Array(n * 32), new Uint8Array(n * 32)];
for (let i = 0; i < (coeffs.byteLength - 4) / 44; i++) {
    const at = 4 + i * 44;
    const m = view.getUint32(at, true);
    const c = view.getUint32(at + 4, true);
    const s = view.getUint32(at + 8, true);
    const coef = coeffs.slice(at + 12, at + 44);
    const term = Fr.mul(coef, witness.slice(s * 32, s * 32 + 32));
    outBuf[m].set(Fr.add(outBuf[m].slice(c * 32, c * 32 + 32), term), c * 32);
}
const [A, B] = outBuf, C = new Uint8Array(n * 32);
const at = (buff, i) => buff.slice(i * 32, i * 32 + 32);
for (let i = 0; i < n; i++) C.set(Fr.mul(at(A, i), at(B, i)), i * 32);
const inc = Fr.w[power + 1];
const odd = [];
for (const T of [A, B, C]) {
    odd.push(await Fr.fft(await Fr.batchApplyKey(await Fr.ifft(T), Fr.e(1), inc)));
}
const h = [];
for (let i = 0; i < n; i++) {
    const [a, b, c] = odd.map((buff) => at(buff, i));
    h.push(Fr.toObject(Fr.sub(Fr.mul(a, b), c)).toString());
}

const affine = (G, p) => G.toObject(G.toAffine(p)).slice(0, 2);
const msm = async (G, { bases, scalars }) =>
    affine(G, await G.multiExpAffine(hex(bases), hex(scalars)));
const g1 = await msm(curve.G1, input.g1);
const g2 = await msm(curve.G2, input.g2);
const decimal = (key, v) => (typeof v === "bigint" ? v.toString() : v);
console.log(JSON.stringify({ fft, ifft, h, g1, g2 }, decimal));
await curve.terminate();
"""


def test_against_ffjavascript(node):
    rng = random.Random(8)
    fft_values = [rng.randrange(R) for _ in range(32)]
    n = 16
    records, witness = random_h_case(n, 10, 60, seed=9)
    coefficients = coefficient_records(records)
    g1_logs, g1_scalars = msm_case(200, seed=10)
    g2_logs, g2_scalars = msm_case(20, seed=11)
    g1_bases = native.g1_mul_many(encode1([g1(1)])[0], limbs(g1_logs))
    g2_bases = native.g2_mul_many(encode2([g2(1)])[0], limbs(g2_logs))
    request = {
        "fft": [str(v) for v in fft_values],
        "domainSize": n,
        "coefficients": (len(records).to_bytes(4, "little") + coefficients.tobytes()).hex(),
        "witness": limbs(witness).tobytes().hex(),
        "g1": {"bases": g1_bases.tobytes().hex(), "scalars": limbs(g1_scalars).tobytes().hex()},
        "g2": {"bases": g2_bases.tobytes().hex(), "scalars": limbs(g2_scalars).tobytes().hex()},
    }
    theirs = json.loads(
        node("--input-type=module", "-e", FFJAVASCRIPT, cwd=REPO, stdin=json.dumps(request))
    )

    a = mont(fft_values, R)
    for key, inverse in (("fft", False), ("ifft", True)):
        ours = [from_montgomery(v, R) for v in ints(native.ntt(a, inverse=inverse))]
        assert ours == [int(v) for v in theirs[key]]
    assert ints(native.groth16_h(coefficients, limbs(witness), n)) == [int(v) for v in theirs["h"]]

    x, y = (int(c) for c in theirs["g1"])
    assert g1_from_montgomery(native.msm_g1(g1_bases, limbs(g1_scalars))) == [(x, y)]
    x, y = (tuple(int(c) for c in f) for f in theirs["g2"])
    assert g2_from_montgomery(native.msm_g2(g2_bases, limbs(g2_scalars))) == [(x, y)]


# --------------------------------------------------------------- loading


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(native, "library_path", lambda: None)
    native._library.cache_clear()
    try:
        with pytest.raises(NativeLibraryMissing, match="pip install -e"):
            native.fr_mul(limbs([1]), limbs([1]))
    finally:
        monkeypatch.undo()
        native._library.cache_clear()
    assert ints(native.fr_mul(limbs([MONT % R]), limbs([5]))) == [5]


def test_thread_count_from_environment(monkeypatch):
    monkeypatch.setenv("PROVERNET_THREADS", "3")
    assert native.default_threads() == 3
    for bad in ("0", "-1", "two"):
        monkeypatch.setenv("PROVERNET_THREADS", bad)
        with pytest.raises(ValueError, match="PROVERNET_THREADS"):
            native.default_threads()
    monkeypatch.delenv("PROVERNET_THREADS")
    assert native.default_threads() >= 1
