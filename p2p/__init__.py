"""libp2p hosts, gossip topics, stream protocols and message schemas (see docs/network.md).

Imports nothing else of provernet's: the coordinator and the roller inject what it needs
(a registry lookup, a clock, keys).
"""
