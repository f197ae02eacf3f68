"""`provernet audit` reproduces the worked cases of tests/vectors/market-vectors.json from the
command line (valid and invalid side by side: an invalid case ends in the rules error it names,
one line, nothing printed), and `audit assignments` checks a coordinator's log against anvil."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result
from py_ecc import optimized_bn128 as bn

from coordinator.audit import audit_record_to_json
from coordinator.commands import AuditRecord, AuditRound
from coordinator.roster import prepare_roster
from market_contracts import rules
from market_contracts.anvil import run_anvil
from market_contracts.chain import RpcChain
from market_contracts.rules import InvalidNumber, InvalidParams, InvalidRoster
from market_contracts.units import ONE_TOKEN
from provernet.cli import cli
from provernet.commands.audit import command
from provernet.world import ONE_TRANSFER, World
from zkp.proof import VerificationKey

SEED = "0x" + "cd" * 32
ADDRESS = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"


def _audit(*args) -> Result:
    return CliRunner().invoke(command, [str(arg) for arg in args])


def _reproduces(subtests, cases: list[dict], args_of, expected_of) -> None:
    for case in cases:
        with subtests.test(case["case"]):
            result = _audit(*args_of(case))
            if "error" in case:
                assert result.exit_code != 0 and result.output == ""
                assert type(result.exception) is getattr(rules, case["error"])
                assert "\n" not in str(result.exception)
            else:
                assert result.exit_code == 0, result.output
                assert result.output.count("\n") == 1
                assert json.loads(result.output) == expected_of(case)


def test_seed_reproduces_vectors(vectors, subtests):
    def args(case, batch):
        return ["seed", *(["--batch"] if batch else []), "--chain-id", case["chain_id"],
                "--rollup", case["rollup"], "--block", case["batch" if batch else "block"],
                "--round", case["round"], "--randomness", case["randomness"]]
    _reproduces(subtests, vectors["block_seed"], lambda c: args(c, False),
                lambda c: {"seed": c["seed"]})
    _reproduces(subtests, vectors["batch_seed"], lambda c: args(c, True),
                lambda c: {"seed": c["seed"]})


def test_slots_reproduces_vectors(vectors, subtests, tmp_path):
    def args(case):
        roster = tmp_path / "roster.json"  # the cases run one at a time
        roster.write_text(json.dumps(case["roster"]))
        return ["slots", "--seed", case["seed"], "--roster", roster, "--m", case["m"]]
    _reproduces(subtests, vectors["draw_slots"], args,
                lambda c: {"holders": c["holders"], "slot_counts": c["slot_counts"]})


def test_reputation_reproduces_vectors(vectors, subtests):
    _reproduces(subtests, vectors["next_reputation"], lambda c: [
        "reputation", "--rep", c["rep"], "--outcome", c["outcome"],
        *[arg for name, value in c["params"].items() for arg in ("--param", f"{name}={value}")],
    ], lambda c: {"rep": c["next"]})


def test_ticket_reproduces_vectors(vectors, subtests):
    _reproduces(subtests, vectors["lottery"], lambda c: [
        "ticket", "--lottery-randomness", c["lottery_randomness"], "--block", c["block"],
        *[arg for roller, slots in c["entries"] for arg in ("--entry", f"{roller}:{slots}")],
    ], lambda c: {"tickets": c["tickets"], "winner": c["winner"]})


GOOD_ROSTER = json.dumps([[ADDRESS, "1000"]])


@pytest.mark.parametrize(("args", "roster_text", "error", "named"), [
    pytest.param(["slots", "--seed", SEED, "--m", 1], "{not json", InvalidRoster, "not JSON",
                 id="slots: roster not JSON"),
    pytest.param(["slots", "--seed", SEED, "--m", 1], '{"a": 1}', InvalidRoster,
                 "must hold a JSON list", id="slots: roster not a list"),
    pytest.param(["slots", "--seed", SEED, "--m", 1], json.dumps([[ADDRESS, 1000]]),
                 InvalidRoster, "1000", id="slots: weight not a string"),
    pytest.param(["slots", "--seed", SEED, "--m", 1], json.dumps([[ADDRESS]]),
                 InvalidRoster, ADDRESS, id="slots: entry without weight"),
    pytest.param(["reputation", "--rep", 5, "--outcome", "late", "--param", "rep_mn=3"], None,
                 InvalidParams, "rep_mn=3", id="reputation: unknown parameter"),
    pytest.param(["reputation", "--rep", 5, "--outcome", "late", "--param", "rep_min=6000"],
                 None, InvalidParams, "rep_min", id="reputation: parameters the market refuses"),
    pytest.param(["ticket", "--lottery-randomness", SEED, "--block", 1, "--entry", ADDRESS],
                 None, InvalidNumber, "ROLLER:SLOTS", id="ticket: entry without slots"),
])
def test_bad_input_is_a_one_line_rules_error(tmp_path, args, roster_text, error, named):
    if roster_text is not None:
        path = tmp_path / "roster.json"
        path.write_text(roster_text)
        args = [*args, "--roster", path]
    result = _audit(*args)
    assert result.exit_code != 0 and result.output == ""
    assert isinstance(result.exception, error)
    assert "\n" not in str(result.exception) and named in str(result.exception)


def test_missing_roster_file_is_a_one_line_rules_error(tmp_path):
    missing = tmp_path / "absent.json"
    result = _audit("slots", "--seed", SEED, "--roster", missing, "--m", 1)
    assert isinstance(result.exception, InvalidRoster)
    assert str(result.exception) == f"cannot read roster file {missing}: No such file or directory"


@pytest.mark.parametrize("args", [
    ["slots", "--seed", SEED, "--roster", "r.json", "--m", "two"],
    ["reputation", "--rep", 5, "--outcome", "tardy"],
    ["reputation", "--rep", -1, "--outcome", "late"],
])
def test_malformed_option_is_a_usage_error(args):
    result = _audit(*args)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith("Error: Invalid value for")


def test_subcommands():
    assert sorted(command.commands) == ["assignments", "reputation", "seed", "slash", "slots",
                                        "ticket"]


# `audit assignments` against L1

def _any_key() -> VerificationKey:
    """Nothing is proven here: any well-formed key lets the Rollup be deployed."""
    g1 = tuple(v.n for v in bn.normalize(bn.G1))
    g2 = tuple(tuple(v.coeffs) for v in bn.normalize(bn.G2))
    return VerificationKey(g1, g2, g2, g2, (g1,) * 5)


@pytest.fixture(scope="module")
def l1(tmp_path_factory):
    """Anvil with a market, three staked rollers, a roster snapshot of them, and block 1
    committed after it with its randomness recorded; then a fourth roller stakes, so that the
    live roster is no longer block 1's. The honest audit record of its round 0 and the L1 data
    it was drawn from."""
    with run_anvil() as node:
        chain = RpcChain(node.url)
        owner, sequencer = chain.dev_accounts[:2]
        world = World.deploy(chain)
        deployment = world.attach_rollup(sequencer.address, vk=_any_key(), genesis_root=0,
                                         batch_size=2, max_transfers=1)
        market, rollup = world.market, world.rollup
        for i in range(4):
            roller = world.new_account(eth=10**18, tokens=(i + 1) * 100 * ONE_TOKEN)
            if i == 3:
                late = roller
                continue
            market.stake(roller, (i + 1) * 100 * ONE_TOKEN)
        snapshot = world.snapshot_roster()
        chain.mine()
        rollup.commit_block(sequencer, 77, ONE_TRANSFER)
        market.stake(late, 400 * ONE_TOKEN)
        chain.mine()
        chain.mine()
        randomness = rollup.record_randomness(owner, 1)
        roster_block, _, _ = rollup.draw_blocks(1)
        assert market.roster_snapshot_of(rollup.address, 1) == snapshot
        (taken,) = market.snapshots()
        roster = [(entry.roller, entry.weight) for entry in taken.entries]
        assert len(roster) == 3 and len(market.roster()) == 4
        files = tmp_path_factory.mktemp("assignments")
        deployment.save(files / "deployment.json")
        seed = rules.block_seed(chain.chain_id, rollup.address, 1, 0, randomness)

        def record(drawn_from):
            holders = tuple(rules.draw_slots(seed, drawn_from, 2))
            return AuditRecord(
                rules.TaskKind.BLOCK, 1, randomness, roster_block, prepare_roster(drawn_from).hash,
                (AuditRound(0, seed, holders, tuple(
                    (roller, k, None) for roller, k in rules.slot_counts(holders).items())),),
                None, False)

        yield {"url": node.url, "files": files, "record": record(roster),
               "from_live_roster": record(market.roster())}


def _assignments(l1, *records: dict | str) -> Result:
    log = l1["files"] / "audit.jsonl"
    log.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return CliRunner().invoke(cli, ["audit", "assignments", str(log), "--rpc-url", l1["url"],
                                    "--deployment", str(l1["files"] / "deployment.json")])


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.anvil
def test_assignments_passes_an_honest_log_and_names_a_doctored_one(l1):
    honest = audit_record_to_json(l1["record"])
    result = _assignments(l1, honest)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"kind": "block", "index": 1, "rounds": 1, "ok": True,
                                         "problems": []}

    doctored = json.loads(json.dumps(honest))
    doctored["rounds"][0]["holders"] = [doctored["rounds"][0]["holders"][0]] * 2
    doctored["roster_block"] += 1
    result = _assignments(l1, honest, doctored)
    assert "1 task(s) were not drawn by the rules" in _one_error_line(result)
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["ok"] and not second["ok"]
    assert any("roster block" in p for p in second["problems"])


@pytest.mark.anvil
def test_the_roster_is_the_snapshot_not_the_live_roster(l1):
    # A coordinator that drew from the roster as it is now (a roller staked after the snapshot)
    # is named, beside the honest record drawn from block 1's snapshot.
    result = _assignments(l1, audit_record_to_json(l1["record"]),
                          audit_record_to_json(l1["from_live_roster"]))
    _one_error_line(result)
    honest, live = (json.loads(line) for line in result.stdout.splitlines())
    assert honest["ok"] and not live["ok"]
    assert any("roster hash is not that of its roster snapshot" in p for p in live["problems"])


@pytest.mark.anvil
def test_assignments_names_a_task_l1_never_drew(l1):
    unknown = audit_record_to_json(l1["record"]) | {"index": 2}
    result = _assignments(l1, unknown)
    _one_error_line(result)
    assert json.loads(result.stdout)["problems"] == ["L1 has no recorded randomness for it"]


@pytest.mark.anvil
@pytest.mark.parametrize(("line", "named"), [
    ("{not json", "audit.jsonl:1: not an audit record"),
    (json.dumps({"kind": "block"}), "missing field 'index'"),
])
def test_a_malformed_log_is_one_error_line(l1, line, named):
    assert named in _one_error_line(_assignments(l1, line))


def test_a_missing_log_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["audit", "assignments", str(tmp_path / "absent.jsonl"),
                                      "--rpc-url", "http://127.0.0.1:9"])
    assert "absent.jsonl" in _one_error_line(result)
