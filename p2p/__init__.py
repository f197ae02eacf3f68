"""libp2p hosts, gossip topics, stream protocols and message schemas (see docs/network.md).
Also every node's HTTP endpoint for Prometheus and its health (`metrics_http`), and the
coordinator's and the sequencer's database, SQLite or PostgreSQL (`database`, with
`postgres_server`, a throwaway PostgreSQL server for tests and benchmarks).

Imports nothing else of provernet's: the coordinator and the roller inject what it needs
(a registry lookup, a clock, keys).
"""
