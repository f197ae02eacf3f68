"""The top layer: the `provernet` command line and its configuration, the devnet, the market
explorer, the chaos harness, the benchmarks' shared pieces, and the test world (`world`) that
the devnet, the benchmarks and the tests build their markets with."""
