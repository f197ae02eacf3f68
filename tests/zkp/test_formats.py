"""File formats against what circom and snarkjs write and read."""

import dataclasses
import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_ecc import optimized_bn128 as bn

from zkp.binfile import write_binfile
from zkp.errors import FileAccessError, MalformedFile
from zkp.field import Q, R, from_montgomery, limbs_to_ints
from zkp.points import g1_from_montgomery, g2_from_montgomery
from zkp.proof import Proof
from zkp.r1cs import read_r1cs
from zkp.snarkjs_json import (
    read_proof,
    read_public_signals,
    read_verification_key,
    write_proof,
    write_public_signals,
    write_verification_key,
)
from zkp.witness import calculate_witness
from zkp.wtns import read_wtns, write_wtns
from zkp.zkey import read_zkey, read_zkey_verification_key

MULTIPLIER_INPUTS = {"a": 3, "b": 11}


def section_table(data: bytes) -> dict[int, tuple[int, int]]:
    """Section id -> (payload offset, size), parsed independently of zkp.binfile."""
    (n_sections,) = struct.unpack_from("<I", data, 8)
    table, position = {}, 12
    for _ in range(n_sections):
        section_id, size = struct.unpack_from("<IQ", data, position)
        table[section_id] = (position + 12, size)
        position += 12 + size
    return table


# r1cs


def test_r1cs_matches_snarkjs_export(circuits, snarkjs, tmp_path):
    circuit = circuits["poseidon"]
    snarkjs("r1cs", "export", "json", circuit.r1cs, tmp_path / "r1cs.json")
    theirs = json.loads((tmp_path / "r1cs.json").read_text())
    ours = read_r1cs(circuit.r1cs)
    assert int(theirs["prime"]) == R
    assert (ours.n_wires, ours.n_outputs, ours.n_pub_inputs, ours.n_prv_inputs, ours.n_labels) == (
        theirs["nVars"],
        theirs["nOutputs"],
        theirs["nPubInputs"],
        theirs["nPrvInputs"],
        theirs["nLabels"],
    )
    assert len(ours.constraints) == theirs["nConstraints"]
    assert ours.constraints == [
        tuple({int(w): int(c) for w, c in lc.items()} for lc in constraint)
        for constraint in theirs["constraints"]
    ]
    assert ours.wire_to_label.tolist() == theirs["map"]


# wtns


def test_snarkjs_accepts_our_wtns(circuits, snarkjs, tmp_path):
    circuit = circuits["poseidon"]
    witness = calculate_witness(circuit.wasm, {"in": [[1, 2], [3, 4]]})
    write_wtns(tmp_path / "ours.wtns", witness)
    assert "WITNESS IS CORRECT" in snarkjs("wtns", "check", circuit.r1cs, tmp_path / "ours.wtns")
    snarkjs("wtns", "export", "json", tmp_path / "ours.wtns", tmp_path / "ours.json")
    exported = [int(v) for v in json.loads((tmp_path / "ours.json").read_text())]
    assert exported == limbs_to_ints(witness)
    assert (read_wtns(tmp_path / "ours.wtns") == witness).all()


def test_wtns_from_ints_round_trips(tmp_path):
    values = [1, 0, R - 1, 2**200]
    write_wtns(tmp_path / "w.wtns", values)
    assert limbs_to_ints(read_wtns(tmp_path / "w.wtns")) == values


# zkey


def test_zkey_verification_key_matches_snarkjs_export(multiplier_setup):
    theirs = read_verification_key(multiplier_setup.verification_key)
    assert theirs.alphabeta_12 is not None
    theirs = dataclasses.replace(theirs, alphabeta_12=None)
    assert read_zkey(multiplier_setup.zkey).vk == theirs
    assert read_zkey_verification_key(multiplier_setup.zkey) == theirs


def test_zkey_sections_agree_with_r1cs(multiplier_setup):
    zkey = read_zkey(multiplier_setup.zkey)
    r1cs = read_r1cs(multiplier_setup.circuit.r1cs)
    n_constraints = len(r1cs.constraints)
    assert (zkey.n_vars, zkey.n_public) == (r1cs.n_wires, r1cs.n_public) == (4, 2)
    assert zkey.domain_size >= n_constraints + zkey.n_public + 1
    assert zkey.domain_size // 2 < n_constraints + zkey.n_public + 1
    assert zkey.a.shape == zkey.b1.shape == (zkey.n_vars, 2, 4)
    assert zkey.b2.shape == (zkey.n_vars, 2, 2, 4)
    assert zkey.c.shape == (zkey.n_vars - zkey.n_public - 1, 2, 4)
    assert zkey.h.shape == (zkey.domain_size, 2, 4)
    assert len(zkey.vk.ic) == zkey.n_public + 1

    # values are c * 2^512 mod r; after the constraints' A and B terms come
    # one A row per public signal (and the constant) with coefficient 1
    decoded = {
        (int(rec["matrix"]), int(rec["constraint"]), int(rec["signal"])): from_montgomery(
            from_montgomery(limbs_to_ints(rec["value"])[0], R), R
        )
        for rec in zkey.coefficients
    }
    expected = {
        (matrix, index, wire): coefficient
        for index, constraint in enumerate(r1cs.constraints)
        for matrix in (0, 1)
        for wire, coefficient in constraint[matrix].items()
    }
    expected |= {(0, n_constraints + wire, wire): 1 for wire in range(zkey.n_public + 1)}
    assert decoded == expected


def test_zkey_points_are_on_the_curve(multiplier_setup):
    zkey = read_zkey(multiplier_setup.zkey)
    g1s = [zkey.vk.alpha1, zkey.beta1, zkey.delta1, *zkey.vk.ic]
    for section in (zkey.a, zkey.b1, zkey.c, zkey.h):
        g1s += g1_from_montgomery(section)
    g2s = [zkey.vk.beta2, zkey.vk.gamma2, zkey.vk.delta2, *g2_from_montgomery(zkey.b2)]
    assert all(bn.is_on_curve(_g1(p), bn.b) for p in g1s if p is not None)
    assert all(bn.is_on_curve(_g2(p), bn.b2) for p in g2s if p is not None)
    assert zkey.vk.gamma2 == _affine_g2(bn.G2)  # snarkjs leaves gamma at the generator


def test_zkey_conventions_yield_a_proof_snarkjs_accepts(multiplier_setup, snarkjs, tmp_path):
    """A textbook Groth16 prover (r = s = 0) on our reading of the zkey.

    This pins the conventions the fast prover relies on: Montgomery points,
    coefficients as c * 2^512, and H on the odd coset with no division by Z.
    """
    zkey = read_zkey(multiplier_setup.zkey)
    w = limbs_to_ints(calculate_witness(multiplier_setup.circuit.wasm, MULTIPLIER_INPUTS))
    n = zkey.domain_size

    rows = [[0] * n, [0] * n]  # A and B evaluated on the domain
    for rec in zkey.coefficients:
        value = from_montgomery(from_montgomery(limbs_to_ints(rec["value"])[0], R), R)
        m, c = int(rec["matrix"]), int(rec["constraint"])
        rows[m][c] = (rows[m][c] + value * w[int(rec["signal"])]) % R
    rows.append([a * b % R for a, b in zip(*rows)])

    omega = pow(5, (R - 1) // n, R)
    coset_shift = pow(5, (R - 1) // (2 * n), R)
    n_inverse = pow(n, -1, R)

    def on_coset(values):
        coefficients = [
            n_inverse * sum(v * pow(omega, -i * j, R) for i, v in enumerate(values)) % R
            for j in range(n)
        ]
        points = [coset_shift * pow(omega, k, R) % R for k in range(n)]
        return [sum(c * pow(x, j, R) for j, c in enumerate(coefficients)) % R for x in points]

    a, b, c = (on_coset(row) for row in rows)
    h_scalars = [(x * y - z) % R for x, y, z in zip(a, b, c)]

    pi_a = _msm([zkey.vk.alpha1, *g1_from_montgomery(zkey.a)], [1, *w], bn.Z1, _g1)
    pi_b = _msm([zkey.vk.beta2, *g2_from_montgomery(zkey.b2)], [1, *w], bn.Z2, _g2)
    private = w[zkey.n_public + 1 :]
    pi_c = _msm(
        g1_from_montgomery(zkey.c) + g1_from_montgomery(zkey.h), private + h_scalars, bn.Z1, _g1
    )
    proof = Proof(a=_affine_g1(pi_a), b=_affine_g2(pi_b), c=_affine_g1(pi_c))

    write_proof(tmp_path / "proof.json", proof)
    write_public_signals(tmp_path / "public.json", w[1 : zkey.n_public + 1])
    verdict = snarkjs(
        "groth16", "verify", multiplier_setup.verification_key, tmp_path / "public.json",
        tmp_path / "proof.json",
    )
    assert "OK!" in verdict


# snarkjs JSON


def test_snarkjs_json_round_trips_to_the_same_bytes(multiplier_setup, snarkjs, tmp_path):
    (tmp_path / "input.json").write_text(json.dumps(MULTIPLIER_INPUTS))
    wasm = multiplier_setup.circuit.wasm
    snarkjs("wtns", "calculate", wasm, tmp_path / "input.json", tmp_path / "w.wtns")
    snarkjs(
        "groth16", "prove", multiplier_setup.zkey, tmp_path / "w.wtns",
        tmp_path / "proof.json", tmp_path / "public.json",
    )
    (tmp_path / "ours").mkdir()
    write_proof(tmp_path / "ours" / "proof.json", read_proof(tmp_path / "proof.json"))
    write_public_signals(
        tmp_path / "ours" / "public.json", read_public_signals(tmp_path / "public.json")
    )
    write_verification_key(
        tmp_path / "ours" / "vk.json", read_verification_key(multiplier_setup.verification_key)
    )
    for ours, theirs in [
        ("proof.json", tmp_path / "proof.json"),
        ("public.json", tmp_path / "public.json"),
        ("vk.json", multiplier_setup.verification_key),
    ]:
        assert (tmp_path / "ours" / ours).read_bytes() == theirs.read_bytes()
    assert read_public_signals(tmp_path / "public.json") == [33, 3]


def test_hex_numbers_are_read_as_snarkjs_reads_them(tmp_path):
    (tmp_path / "public.json").write_text('["0x1f", "31", 31]')
    assert read_public_signals(tmp_path / "public.json") == [31, 31, 31]


def test_points_at_infinity_round_trip(tmp_path):
    proof = Proof(a=None, b=None, c=(1, 2))
    write_proof(tmp_path / "proof.json", proof)
    assert json.loads((tmp_path / "proof.json").read_text())["pi_a"] == ["0", "1", "0"]
    assert read_proof(tmp_path / "proof.json") == proof


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ('{"protocol": "plonk", "curve": "bn128"}', "protocol is 'plonk'"),
        ('{"protocol": "groth16", "curve": "bls12381"}', "curve is 'bls12381'"),
        ('{"protocol": "groth16", "curve": "bn128", "pi_a": ["1", "2", "1"]}', "pi_b is missing"),
        (
            '{"protocol": "groth16", "curve": "bn128", "pi_a": ["%d", "2", "1"]}' % Q,
            "pi_a: .* is not below the field modulus",
        ),
        ('{"protocol": "groth16", "curve": "bn128", "pi_a": ["1", "2", "3"]}', r"pi_a: not affine"),
        (
            '{"protocol": "groth16", "curve": "bn128", "pi_a": ["-1", "2", "1"]}',
            "pi_a: '-1' is not",
        ),
    ],
)
def test_malformed_proof_json(tmp_path, text, problem):
    (tmp_path / "proof.json").write_text(text)
    with pytest.raises(MalformedFile, match=f"proof.json: {problem}"):
        read_proof(tmp_path / "proof.json")


def test_malformed_public_and_vk_json(multiplier_setup, tmp_path):
    (tmp_path / "public.json").write_text(json.dumps([str(R)]))
    with pytest.raises(MalformedFile, match=r"public.json: signal 0: .* not below"):
        read_public_signals(tmp_path / "public.json")
    vk = json.loads(multiplier_setup.verification_key.read_text())
    vk["nPublic"] = 5
    (tmp_path / "vk.json").write_text(json.dumps(vk))
    with pytest.raises(MalformedFile, match="vk.json: nPublic is 5 but IC has 3 points"):
        read_verification_key(tmp_path / "vk.json")
    with pytest.raises(FileAccessError, match="missing.json"):
        read_proof(tmp_path / "missing.json")


# malformed binary files


@pytest.fixture(scope="module")
def artifacts(multiplier_setup, tmp_path_factory):
    """path -> reader for one file of each binary format."""
    d = tmp_path_factory.mktemp("artifacts")
    write_wtns(d / "w.wtns", calculate_witness(multiplier_setup.circuit.wasm, MULTIPLIER_INPUTS))
    return {
        multiplier_setup.zkey: read_zkey,
        multiplier_setup.circuit.r1cs: read_r1cs,
        d / "w.wtns": read_wtns,
    }


def test_truncated_files_name_file_and_section(artifacts, tmp_path):
    for path, reader in artifacts.items():
        data = path.read_bytes()
        damaged = tmp_path / f"cut{path.suffix}"
        last_id, (offset, size) = max(section_table(data).items(), key=lambda item: item[1][0])
        damaged.write_bytes(data[: offset + size - 1])
        expected = (
            f"{damaged}: section {last_id} truncated: expected {size} bytes, found {size - 1}"
        )
        with pytest.raises(MalformedFile) as failure:
            reader(damaged)
        assert str(failure.value) == expected


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_files_raise_only_malformed_file(artifacts, tmp_path, data):
    path = data.draw(st.sampled_from(sorted(artifacts)))
    original = path.read_bytes()
    damaged = bytearray(original[: data.draw(st.integers(0, len(original)))])
    for _ in range(data.draw(st.integers(0, 3))):
        if damaged:
            position = data.draw(st.integers(0, min(len(damaged), 400) - 1))
            damaged[position] = data.draw(st.integers(0, 255))
    target = tmp_path / f"damaged{path.suffix}"
    target.write_bytes(bytes(damaged))
    try:
        artifacts[path](target)
    except MalformedFile as e:
        assert str(e).startswith(f"{target}: ")


def test_structural_damage_is_explained(artifacts, multiplier_setup, tmp_path):
    zkey = multiplier_setup.zkey.read_bytes()
    table = section_table(zkey)

    def damaged(data: bytes, position: int, value: bytes):
        path = tmp_path / f"bad{position}.zkey"
        path.write_bytes(data[:position] + value + data[position + len(value) :])
        return path

    cases = [
        (damaged(zkey, 0, b"ptau"), read_zkey, "not a zkey file"),
        (damaged(zkey, 4, struct.pack("<I", 9)), read_zkey, "zkey version 9 is not supported"),
        (damaged(zkey, table[1][0], struct.pack("<I", 2)), read_zkey, "protocol id 2 is not"),
        (
            damaged(zkey, table[2][0] + 4, b"\x00"),
            read_zkey,
            "made for the prime .* not BN254's base field",
        ),
        (
            damaged(zkey, table[4][0], struct.pack("<I", 1000)),
            read_zkey,
            "section 4 is .* for 1000 coefficients",
        ),
    ]
    for path, reader, problem in cases:
        with pytest.raises(MalformedFile, match=f"{path}: {problem}"):
            reader(path)

    write_binfile(tmp_path / "partial.zkey", "zkey", 1, [(1, struct.pack("<I", 1))])
    with pytest.raises(MalformedFile, match="partial.zkey: section 2 is missing"):
        read_zkey(tmp_path / "partial.zkey")
    write_binfile(tmp_path / "twice.wtns", "wtns", 2, [(1, b""), (1, b"")])
    with pytest.raises(MalformedFile, match="twice.wtns: section 1 appears 2 times"):
        read_wtns(tmp_path / "twice.wtns")
    with pytest.raises(FileAccessError, match="nowhere.r1cs"):
        read_r1cs(tmp_path / "nowhere.r1cs")


def test_witness_for_another_field_is_refused(tmp_path):
    write_wtns(tmp_path / "w.wtns", [1, 2])
    data = bytearray((tmp_path / "w.wtns").read_bytes())
    offset, _ = section_table(bytes(data))[1]
    data[offset + 4 : offset + 36] = Q.to_bytes(32, "little")
    (tmp_path / "w.wtns").write_bytes(bytes(data))
    with pytest.raises(MalformedFile, match="w.wtns: made for the prime .* BN254's scalar field"):
        read_wtns(tmp_path / "w.wtns")


# py_ecc conversions for the reference checks


def _g1(p):
    return bn.Z1 if p is None else (bn.FQ(p[0]), bn.FQ(p[1]), bn.FQ.one())


def _g2(p):
    return bn.Z2 if p is None else (bn.FQ2(list(p[0])), bn.FQ2(list(p[1])), bn.FQ2.one())


def _affine_g1(p):
    if bn.is_inf(p):
        return None
    x, y = bn.normalize(p)
    return int(x), int(y)


def _affine_g2(p):
    if bn.is_inf(p):
        return None
    x, y = bn.normalize(p)
    return tuple(int(c) for c in x.coeffs), tuple(int(c) for c in y.coeffs)


def _msm(points, scalars, zero, to_py_ecc):
    total = zero
    for point, scalar in zip(points, scalars, strict=True):
        if point is not None and scalar:
            total = bn.add(total, bn.multiply(to_py_ecc(point), scalar))
    return total
