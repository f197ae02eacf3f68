"""Real libp2p nodes on loopback for the network tests.

A context manager rather than a fixture: pytest-trio runs each fixture in a task
of its own, and a node's nurseries must open and close in the test's task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from p2p.config import P2PConfig
from p2p.host import Node, open_node


@asynccontextmanager
async def running_nodes(tmp_path: Path, *names: str, config: P2PConfig | None = None
                        ) -> AsyncIterator[list[Node]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(open_node(tmp_path / name, config=config)) for name in names]
