"""Chaos campaigns: the market's nodes as separate processes on anvil, killed and restarted at
random and cut off from L1, and the checks that nothing was lost (`campaign.run_campaign`;
`benchmarks/chaos.py` is its command line, docs/reliability.md its figures)."""
