"""A chaos campaign: the market as separate processes on anvil, SIGKILLed and cut off from L1.

    .venv/bin/python benchmarks/chaos.py --kills N [--l1-faults M] [--seed S] [--rollers 2]
        [--load 0.2] [--datadir DIR] [--json]

Starts anvil (1 s blocks), deploys the market and the Rollup as `provernet devnet` does, and runs
`provernet sequencer run`, `provernet coordinator run` and `--rollers` × `provernet roller run`
(CPU backend, the small block circuit, T = 15 s, K = 2) as their own processes, each reaching
L1 through a fault relay, plus a load generator that records every transfer the sequencer
accepted. Then, in a seeded random order with 5-15 s between them: N kills (SIGKILL to a random
node's process group, restarted 0-3 s later on the same data directory) and M L1 faults of
10-25 s (anvil frozen with SIGSTOP, or the relay refusing connections, answering 502, holding
requests or losing replies). After the last fault the load stops once the blocks fill a whole
batch, and every committed block has 4 deadlines (60 s) to finalize; then the checks of
`provernet.chaos` run (from L1's events and transactions, the sequencer's blocks, the
coordinator's store and the rollers' journals). The campaign's logic lives in
`provernet/chaos/` (the test `tests/provernet/test_chaos.py` runs a short one); this script is its
command line: a table of the faults and the figures, or with --json one JSON object. Exits 1 if
a check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import trio  # (imported after the path fix)
from rich.console import Console
from rich.table import Table

from provernet.chaos.campaign import CampaignConfig, CampaignReport, run_campaign
from provernet.chaos.network import MAX_ROLLERS
from provernet.services import configure_logging


def render(report: CampaignReport, console: Console) -> None:
    faults = Table(title="Faults")
    for column in ("at (s)", "fault", "target", "for (s)", "recovered", "reported by"):
        faults.add_column(column)
    for f in report.faults:
        faults.add_row(f"{f.at:.0f}", f.fault, f.target, f"{f.seconds:.1f}",
                       "yes" if f.recovered else "NO", ", ".join(f.reported_by) or "-")
    console.print(faults)
    nodes = Table(title="Nodes")
    for column in ("node", "starts", "running", "L1 txs", "reverted", "nonce gaps",
                   "duplicate txs", "tracebacks"):
        nodes.add_column(column)
    for name, n in report.nodes.items():
        nodes.add_row(name, str(n["starts"]), "yes" if n["running"] else "NO",
                      str(n["transactions"]), str(n["reverted"]), str(n["nonce_gaps"]),
                      str(n["duplicate_transactions"]), str(n["tracebacks"]))
    console.print(nodes)
    figures = Table(title="Checks")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    for name, value in report.summary().items():
        figures.add_row(name, str(value))
    console.print(figures)
    console.print("all checks passed" if not report.failures
                  else "FAILED: " + "; ".join(report.failures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, required=True, help="SIGKILLs of a random node")
    parser.add_argument("--l1-faults", type=int, default=0, help="L1 outages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rollers", type=int, default=2)
    parser.add_argument("--load", type=float, default=0.2, help="transfers a second")
    parser.add_argument("--datadir", type=Path,
                        help="where the nodes' data and logs go [default: a temporary directory, "
                             "removed after]")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.kills < 0 or args.l1_faults < 0:
        parser.error("--kills and --l1-faults count faults: 0 or more")
    if not 1 <= args.rollers <= MAX_ROLLERS:
        parser.error(f"--rollers: 1 to {MAX_ROLLERS} (anvil's dev accounts 6 to 9)")
    if args.load <= 0:
        parser.error("--load: transfers a second, more than 0")
    if args.datadir is not None and args.datadir.exists() and any(args.datadir.iterdir()):
        parser.error(f"--datadir {args.datadir} is not empty: a campaign deploys afresh, so "
                     "give it an empty or new directory")
    configure_logging()
    with tempfile.TemporaryDirectory(prefix="provernet-chaos-") as scratch:
        datadir = args.datadir or Path(scratch)
        report = trio.run(run_campaign, CampaignConfig(
            datadir=datadir, kills=args.kills, l1_faults=args.l1_faults, seed=args.seed,
            rollers=args.rollers, load=args.load))
    if args.json:
        print(json.dumps(report.summary()))
    else:
        render(report, Console())
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
