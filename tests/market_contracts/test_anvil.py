"""run_anvil leaves no process behind, and says why when anvil cannot start."""

from __future__ import annotations

import os
import socket

import pytest

from market_contracts import anvil
from market_contracts.anvil import run_anvil
from market_contracts.chain import RpcChain
from market_contracts.errors import ChainError


def assert_gone(node):
    assert node.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(node.process.pid, 0)


@pytest.mark.anvil
def test_anvil_answers_then_is_gone():
    with run_anvil(chain_id=777) as node:
        assert node.url == f"http://127.0.0.1:{node.port}"
        assert RpcChain(node.url).chain_id == 777
    assert_gone(node)


@pytest.mark.anvil
def test_anvil_is_gone_when_the_body_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with run_anvil() as node:
            raise RuntimeError("boom")
    assert_gone(node)


@pytest.mark.anvil
def test_bad_arguments_report_anvil_stderr():
    with pytest.raises(ChainError, match="exited with status 2 .*unexpected argument '--no-such"):
        with run_anvil(extra_args=["--no-such-flag"]):
            pass


@pytest.mark.anvil
def test_taken_port_is_reported():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        with pytest.raises(ChainError, match="port is in use"):
            with run_anvil(port=squatter.getsockname()[1]):
                pass


def test_missing_binary_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(anvil, "ANVIL_PATH", tmp_path / "anvil")
    with pytest.raises(ChainError, match="run `npm ci`"):
        with run_anvil():
            pass
