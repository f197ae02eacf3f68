"""Where zkp keeps what it makes once per machine and reuses: development keys (`setup/`,
zkp.setup), compiled circuits (`circuits/`, zkp.builds) and compiled witness calculators
(`wasm/`, zkp.witness). Every entry is named by a hash of what it was made from."""

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """$PROVERNET_CACHE, else $XDG_CACHE_HOME/provernet, else ~/.cache/provernet."""
    if "PROVERNET_CACHE" in os.environ:
        return Path(os.environ["PROVERNET_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "provernet"
