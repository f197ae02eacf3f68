"""A roller farm: one staked roller proving on many machines, through a PostgreSQL queue.

The roller (`provernet roller run --farm URL`) keeps its stake, key, sessions, admission, signing
and journal; its prover (`prover.FarmProver`) puts each block task's witness and proof on the
farm's queue and verifies what comes back before it signs. Workers (`provernet roller worker
--farm URL`, `worker.FarmWorker`) on other machines take jobs, prove them with the node's own
`roller.proving.BlockProver`, and hand the proof back. docs/farm.md says why PostgreSQL and not
Ray, and what each side trusts.

- `queue`: the farm's tables and every statement on them: jobs, workers, quarantine;
- `artifacts`: circuits published by content hash, fetched and checked by the workers;
- `prover`: the roller's side;
- `worker`: the worker's side.
"""
