"""A node process stops cleanly on SIGINT or SIGTERM, and its failures reach the operator bare."""

from __future__ import annotations

import os
import signal

import pytest
import trio

from provernet.services import run_until_stopped


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_cancels_the_service_and_its_cleanup_runs(signum, capsys):
    cleaned_up = []

    async def service():
        try:
            os.kill(os.getpid(), signum)
            await trio.sleep_forever()
        finally:
            cleaned_up.append(True)

    run_until_stopped(service, "node")
    assert cleaned_up == [True]
    assert capsys.readouterr().err.strip() == "node stopped"


def test_a_service_that_returns_by_itself_is_not_reported_stopped(capsys):
    async def service():
        await trio.sleep(0)

    run_until_stopped(service, "node")
    assert capsys.readouterr().err == ""


def test_a_failure_propagates_as_itself_not_as_a_group():
    async def service():
        raise RuntimeError("the store is damaged")

    with pytest.raises(RuntimeError, match="the store is damaged"):
        run_until_stopped(service, "node")
