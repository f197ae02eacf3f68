"""The committed artifacts are what the committed sources compile to, and what circomlibjs
generates for Poseidon."""

from market_contracts.compile import ARTIFACTS_DIR, build_all, render


def test_recompiling_reproduces_the_committed_artifacts():
    fresh = build_all()
    committed = {path.stem: path.read_text() for path in ARTIFACTS_DIR.glob("*.json")}
    assert sorted(committed) == sorted(fresh), "artifacts missing or stale: run `make contracts`"
    for name, artifact in fresh.items():
        assert committed[name] == render(artifact), f"{name}.json differs from its source: run `make contracts`"
