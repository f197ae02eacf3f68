"""Files the market's tools write for people and other tools to read."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def save_json(path: Path, document: object) -> None:
    """Write `document` as indented JSON by a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
