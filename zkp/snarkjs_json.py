"""snarkjs's JSON files: proof.json, public.json and verification_key.json,
and our aggregate of proofs written in their style.

snarkjs writes every number as a decimal string and every point in projective
form: G1 as [x, y, z], G2 as [[x0, x1], [y0, y1], [z0, z1]], with z = 1 for an
affine point and infinity as [0, 1, 0] (G2: [[0, 0], [1, 0], [0, 0]]). It
writes files with one-space indentation, as we do, so our files and its files
are the same bytes.
"""

import json
import os
import re
from collections.abc import Sequence

from zkp.errors import FileAccessError, MalformedFile
from zkp.field import Q, R
from zkp.points import G1, G2
from zkp.proof import AggregateProof, Proof, VerificationKey

_CURVE = "bn128"
#: names snarkjs accepts for BN254
_CURVE_NAMES = {"bn128", "bn254", "altbn128"}
_PROTOCOL = "groth16"
#: our key in verification_key.json for VerificationKey.setup_label; snarkjs ignores it
_SETUP_LABEL = "provernet_setup"
_DECIMAL = re.compile(r"[0-9]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")


class _Invalid(ValueError):
    """A problem in a JSON document, named by its place in the document."""


def read_proof(path: str | os.PathLike) -> Proof:
    def parse(doc):
        _expect_groth16(doc)
        return Proof(
            a=_g1(_field(doc, "pi_a"), "pi_a"),
            b=_g2(_field(doc, "pi_b"), "pi_b"),
            c=_g1(_field(doc, "pi_c"), "pi_c"),
        )

    return _read(path, parse)


def write_proof(path: str | os.PathLike, proof: Proof) -> None:
    _write(
        path,
        {
            "pi_a": _g1_json(proof.a),
            "pi_b": _g2_json(proof.b),
            "pi_c": _g1_json(proof.c),
            "protocol": _PROTOCOL,
            "curve": _CURVE,
        },
    )


def read_public_signals(path: str | os.PathLike) -> list[int]:
    def parse(doc):
        if not isinstance(doc, list):
            raise _Invalid("expected a list of public signals")
        return [_number(v, R, f"signal {i}") for i, v in enumerate(doc)]

    return _read(path, parse)


def write_public_signals(path: str | os.PathLike, signals: Sequence[int]) -> None:
    _write(path, [str(v) for v in signals])


def read_verification_key(path: str | os.PathLike) -> VerificationKey:
    def parse(doc):
        _expect_groth16(doc)
        ic = _field(doc, "IC")
        if not isinstance(ic, list) or not ic:
            raise _Invalid("IC: expected a non-empty list of G1 points")
        n_public = _field(doc, "nPublic")
        if n_public != len(ic) - 1:
            raise _Invalid(f"nPublic is {n_public!r} but IC has {len(ic)} points")
        alphabeta = doc.get("vk_alphabeta_12")
        return VerificationKey(
            alpha1=_g1(_field(doc, "vk_alpha_1"), "vk_alpha_1"),
            beta2=_g2(_field(doc, "vk_beta_2"), "vk_beta_2"),
            gamma2=_g2(_field(doc, "vk_gamma_2"), "vk_gamma_2"),
            delta2=_g2(_field(doc, "vk_delta_2"), "vk_delta_2"),
            ic=tuple(_g1(p, f"IC[{i}]") for i, p in enumerate(ic)),
            alphabeta_12=None if alphabeta is None else _fq12(alphabeta),
            setup_label=_setup_label(doc),
        )

    return _read(path, parse)


def write_verification_key(path: str | os.PathLike, vk: VerificationKey) -> None:
    doc = {
        "protocol": _PROTOCOL,
        "curve": _CURVE,
        "nPublic": vk.n_public,
        "vk_alpha_1": _g1_json(vk.alpha1),
        "vk_beta_2": _g2_json(vk.beta2),
        "vk_gamma_2": _g2_json(vk.gamma2),
        "vk_delta_2": _g2_json(vk.delta2),
    }
    if vk.alphabeta_12 is not None:
        doc["vk_alphabeta_12"] = [[[str(c) for c in fq2] for fq2 in fq6] for fq6 in vk.alphabeta_12]
    doc["IC"] = [_g1_json(p) for p in vk.ic]
    if vk.setup_label is not None:
        doc[_SETUP_LABEL] = vk.setup_label
    _write(path, doc)


def _read(path, parse):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise FileAccessError(path, e.strerror or str(e)) from e
    except UnicodeDecodeError as e:
        raise MalformedFile(path, f"not UTF-8 text: {e.reason}") from e
    try:
        return parse(json.loads(text))
    except json.JSONDecodeError as e:
        raise MalformedFile(path, f"not JSON: {e.msg} at line {e.lineno}") from e
    except _Invalid as e:
        raise MalformedFile(path, str(e)) from e


def _write(path, doc) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
    except OSError as e:
        raise FileAccessError(path, f"cannot write: {e.strerror or e}") from e


def _expect_groth16(doc) -> None:
    if not isinstance(doc, dict):
        raise _Invalid("expected a JSON object")
    if doc.get("protocol") != _PROTOCOL:
        raise _Invalid(f"protocol is {doc.get('protocol')!r}, expected {_PROTOCOL!r}")
    if doc.get("curve") not in _CURVE_NAMES:
        raise _Invalid(f"curve is {doc.get('curve')!r}, expected {_CURVE!r}")


def _field(doc: dict, name: str):
    if name not in doc:
        raise _Invalid(f"{name} is missing")
    return doc[name]


def _number(value, modulus: int, where: str) -> int:
    """A decimal or 0x-hex string (as snarkjs's unstringifyBigInts reads them) or a JSON integer."""
    if isinstance(value, str) and _DECIMAL.match(value):
        number = int(value)
    elif isinstance(value, str) and _HEX.match(value):
        number = int(value, 16)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _Invalid(f"{where}: {value!r} is not a non-negative integer")
    if not 0 <= number < modulus:
        raise _Invalid(f"{where}: {number} is not below the field modulus")
    return number


def _fq2(value, where: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise _Invalid(f"{where}: expected a pair [c0, c1]")
    return _number(value[0], Q, where), _number(value[1], Q, where)


def _g1(value, where: str) -> G1:
    if not isinstance(value, list) or len(value) != 3:
        raise _Invalid(f"{where}: expected a G1 point [x, y, z]")
    x, y, z = (_number(v, Q, where) for v in value)
    if z == 0:
        return None
    if z != 1:
        raise _Invalid(f"{where}: not affine (z = {z})")
    return x, y


def _g2(value, where: str) -> G2:
    if not isinstance(value, list) or len(value) != 3:
        raise _Invalid(f"{where}: expected a G2 point [[x0, x1], [y0, y1], [z0, z1]]")
    x, y, z = (_fq2(v, where) for v in value)
    if z == (0, 0):
        return None
    if z != (1, 0):
        raise _Invalid(f"{where}: not affine (z = {z})")
    return x, y


def _setup_label(doc: dict) -> str | None:
    label = doc.get(_SETUP_LABEL)
    if label is not None and not isinstance(label, str):
        raise _Invalid(f"{_SETUP_LABEL}: expected a string")
    return label


def _fq12(value):
    where = "vk_alphabeta_12"
    if not isinstance(value, list) or len(value) != 2:
        raise _Invalid(f"{where}: expected [2][3][2] numbers")
    fq6s = []
    for fq6 in value:
        if not isinstance(fq6, list) or len(fq6) != 3:
            raise _Invalid(f"{where}: expected [2][3][2] numbers")
        fq6s.append(tuple(_fq2(fq2, where) for fq2 in fq6))
    return tuple(fq6s)


def _g1_json(point: G1) -> list[str]:
    if point is None:
        return ["0", "1", "0"]
    return [str(point[0]), str(point[1]), "1"]


def _g2_json(point: G2) -> list[list[str]]:
    if point is None:
        return [["0", "0"], ["1", "0"], ["0", "0"]]
    (x0, x1), (y0, y1) = point
    return [[str(x0), str(x1)], [str(y0), str(y1)], ["1", "0"]]


# Aggregates of proofs (zkp.aggregate): our own file, in snarkjs's style. Each pi_a[i], pi_b[i]
# is as in proof.json, pi_c is the combined C, and publicSignals[i] is proof i's public.json.

_AGGREGATE_PROTOCOL = "groth16-batch"


def read_aggregate(path: str | os.PathLike) -> tuple[AggregateProof, list[list[int]]]:
    """The aggregate and each proof's public signals."""

    def parse(doc):
        if not isinstance(doc, dict):
            raise _Invalid("expected a JSON object")
        if doc.get("protocol") != _AGGREGATE_PROTOCOL:
            raise _Invalid(
                f"protocol is {doc.get('protocol')!r}, expected {_AGGREGATE_PROTOCOL!r}")
        if doc.get("curve") not in _CURVE_NAMES:
            raise _Invalid(f"curve is {doc.get('curve')!r}, expected {_CURVE!r}")
        k = _field(doc, "k")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise _Invalid(f"k: {k!r} is not a positive integer")
        pi_a, pi_b, signals = (_list_of_k(doc, name, k)
                               for name in ("pi_a", "pi_b", "publicSignals"))
        aggregate = AggregateProof(
            a=tuple(_g1(p, f"pi_a[{i}]") for i, p in enumerate(pi_a)),
            b=tuple(_g2(p, f"pi_b[{i}]") for i, p in enumerate(pi_b)),
            c=_g1(_field(doc, "pi_c"), "pi_c"),
        )
        return aggregate, [_signals(s, f"publicSignals[{i}]") for i, s in enumerate(signals)]

    return _read(path, parse)


def write_aggregate(path: str | os.PathLike, aggregate: AggregateProof,
                    public_signals: Sequence[Sequence[int]]) -> None:
    _write(
        path,
        {
            "protocol": _AGGREGATE_PROTOCOL,
            "curve": _CURVE,
            "k": aggregate.k,
            "pi_a": [_g1_json(p) for p in aggregate.a],
            "pi_b": [_g2_json(p) for p in aggregate.b],
            "pi_c": _g1_json(aggregate.c),
            "publicSignals": [[str(v) for v in signals] for signals in public_signals],
        },
    )


def _list_of_k(doc: dict, name: str, k: int) -> list:
    value = _field(doc, name)
    if not isinstance(value, list) or len(value) != k:
        raise _Invalid(f"{name}: expected a list of k = {k} entries")
    return value


def _signals(value, where: str) -> list[int]:
    if not isinstance(value, list):
        raise _Invalid(f"{where}: expected a list of public signals")
    return [_number(v, R, f"{where}[{j}]") for j, v in enumerate(value)]
