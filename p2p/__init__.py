"""libp2p hosts, gossip topics, stream protocols and message schemas (market issue)."""
