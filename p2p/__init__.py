"""libp2p hosts, gossip topics, stream protocols and message schemas (see docs/network.md).
Also what every node shares below the network: its HTTP serving (`http_server`: the request
loop and JSON-RPC; `metrics_http`: the Prometheus and health endpoint on it), its retry
back-off (`backoff`), and the coordinator's and the sequencer's database, SQLite or PostgreSQL
(`database`, with `postgres_server`, a throwaway PostgreSQL server for tests and benchmarks).

Imports nothing else of provernet's: the coordinator and the roller inject what it needs
(a registry lookup, a clock, keys).
"""
