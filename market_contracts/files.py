"""Files the market's tools write for people and other tools to read."""

from __future__ import annotations

import json
from pathlib import Path

from atomicfile import atomic_file


def save_json(path: Path, document: object) -> None:
    """Write `document` as indented JSON, whole or not at all and durably (a deployment file
    names contracts that cost gas to deploy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", durable=True, encoding="utf-8") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
