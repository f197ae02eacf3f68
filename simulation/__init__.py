"""Virtual-time market simulation against adversarial rollers (docs/simulation.md).

It drives the coordinator's real decision core (`coordinator.core.CoordinatorCore`) and the
ledger's real rules (`market_contracts.ledger.Ledger`, `market_contracts.rules`), so what it
measures is what the network runs.

| module | holds |
| --- | --- |
| `scenario` | the TOML scenario format, checked key by key |
| `profiles` | hardware profiles: proving-time distributions per task kind |
| `behaviours` | the catalogue of roller behaviours (honest and the attacks) |
| `operators` | the coordinator's and the sequencer's conduct (honest, misreport, reroll) |
| `machines` | a proving machine's queue, shared by a sybil's identities |
| `rollers` | the simulated identities built from a scenario |
| `l1` | the ledger, the Rollup's height and the journal of L1 operations |
| `engine` | the run: the core's shell in virtual time (trio `MockClock`) |
| `metrics` | what a run records, and `metrics.json` |
| `plots`, `report`, `outputs` | the PNG plots, `report.md` and `report.html`, the output folder |
| `sweep` | one scenario over a grid of settings |
"""
