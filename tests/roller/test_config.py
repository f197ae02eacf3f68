"""roller.toml: defaults, every key, and each kind of mistake refused with file, key and reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from roller import config
from roller.config import CONFIG_NAME, RollerConfig, load_config
from roller.errors import ConfigError
from roller.keys import DATADIR_ENV

PEER = "/ip4/10.0.0.2/tcp/4001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
COORDINATOR = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(DATADIR_ENV, raising=False)


def write(datadir: Path, text: str) -> Path:
    datadir.mkdir(parents=True, exist_ok=True)
    path = datadir / CONFIG_NAME
    path.write_text(text)
    return path


def test_no_file_means_every_default(tmp_path):
    loaded = load_config(tmp_path)
    assert loaded == RollerConfig(datadir=tmp_path)
    assert loaded.deployment == tmp_path / "deployment.json"
    assert (loaded.backend, loaded.max_concurrent_tasks, loaded.safety_margin) == ("auto", 1, 0.2)
    assert loaded.listen == "/ip4/127.0.0.1/tcp/0"
    assert loaded.metrics_address == ("127.0.0.1", 9464)
    assert loaded.coordinators is None and loaded.bootstrap == ()
    assert loaded.rollups is None  # every rollup the staking contract enables


def test_every_field_has_a_checked_key():
    assert set(config._CHECKS) == {f.name for f in dataclasses.fields(RollerConfig)}


def test_every_key_read_dashes_or_underscores(tmp_path):
    write(tmp_path, f"""
rpc-url = "http://10.0.0.1:8545"
deployment = "market/deployment.json"
bootstrap = ["{PEER}"]
listen = "/ip4/0.0.0.0/tcp/4002"
backend = "cpu"
max_concurrent_tasks = 2
safety-margin = 0.35
metrics_listen = "[::1]:9500"
coordinators = ["{COORDINATOR.lower()}"]
rollups = ["{COORDINATOR.lower()}"]
reconnect_initial = 0.5
reconnect-max = 30
""")
    loaded = load_config(tmp_path)
    assert loaded.rpc_url == "http://10.0.0.1:8545"
    assert loaded.deployment == tmp_path / "market/deployment.json"  # relative to the file
    assert loaded.bootstrap == (PEER,)
    assert loaded.listen == "/ip4/0.0.0.0/tcp/4002"
    assert (loaded.backend, loaded.max_concurrent_tasks, loaded.safety_margin) == ("cpu", 2, 0.35)
    assert loaded.metrics_address == ("::1", 9500)
    assert loaded.coordinators == (COORDINATOR,)  # checksummed
    assert loaded.rollups == (COORDINATOR,)
    assert (loaded.reconnect_initial, loaded.reconnect_max) == (0.5, 30.0)
    assert [loaded.reconnect_delay(n) for n in (1, 2, 3, 10)] == [0.5, 1.0, 2.0, 30.0]


def test_overrides_beat_the_file_and_unset_ones_do_not(tmp_path):
    write(tmp_path, 'backend = "cpu"\nsafety_margin = 0.3\n')
    loaded = load_config(tmp_path, overrides={"backend": "gpu", "safety-margin": None})
    assert (loaded.backend, loaded.safety_margin) == ("gpu", 0.3)


def test_data_directory_precedence(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    path = write(tmp_path / "conf", f'datadir = "{elsewhere}"\n')
    assert load_config(path=path).datadir == elsewhere
    monkeypatch.setenv(DATADIR_ENV, str(tmp_path / "from-env"))
    assert load_config(path=path).datadir == tmp_path / "from-env"
    assert load_config(tmp_path / "flag", path=path).datadir == tmp_path / "flag"


def test_the_default_file_is_found_through_the_environment(tmp_path, monkeypatch):
    write(tmp_path, 'backend = "cpu"\n')
    monkeypatch.setenv(DATADIR_ENV, str(tmp_path))
    assert load_config().backend == "cpu"


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("max_tasks = 2", "'max_tasks'", "did you mean 'max_concurrent_tasks'?"),
    ("[roller]\nbackend = 'cpu'", "'roller'", "unknown key"),
    ('backend = "tpu"', "'backend'", "expected one of auto, cpu, gpu"),
    ('max_concurrent_tasks = "2"', "'max_concurrent_tasks'", "whole number of at least 1"),
    ("max_concurrent_tasks = 0", "'max_concurrent_tasks'", "whole number of at least 1"),
    ("max_concurrent_tasks = true", "'max_concurrent_tasks'", "whole number of at least 1"),
    ("safety_margin = 1.0", "'safety_margin'", "fraction from 0 up to (not including) 1"),
    ("safety_margin = -0.1", "'safety_margin'", "fraction"),
    ('safety_margin = "0.2"', "'safety_margin'", "expected a number"),
    ('bootstrap = "/ip4/1.2.3.4/tcp/1"', "'bootstrap'", "expected a list of multiaddrs"),
    ('bootstrap = ["/ip4/1.2.3.4/tcp/1"]', "'bootstrap'", "no /p2p/<peer id>"),
    ('bootstrap = ["10.0.0.2:4001"]', "'bootstrap'", "expected a multiaddr"),
    ('listen = "/ip4/300.0.0.1/tcp/1"', "'listen'", "expected a multiaddr"),
    ('metrics_listen = "9464"', "'metrics_listen'", "expected host:port"),
    ('metrics_listen = "localhost:99999"', "'metrics_listen'", "expected host:port"),
    ('rpc_url = "127.0.0.1:8545"', "'rpc_url'", "http(s):// or ws(s):// URL"),
    ('coordinators = ["0x1234"]', "'coordinators'", "not an Ethereum address"),
    ("coordinators = []", "'coordinators'", "leave the key out"),
    ("rollups = []", "'rollups'", "leave the key out to serve every rollup the staking"),
    ("reconnect_initial = 0", "'reconnect_initial'", "positive number of seconds"),
    ('deployment = ""', "'deployment'", "non-empty string"),
])
def test_a_bad_key_or_value_is_named_with_its_file(tmp_path, text, key, reason):
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and key in message and reason in message


def test_reconnect_max_below_initial_is_refused(tmp_path):
    path = write(tmp_path, "reconnect_initial = 10\nreconnect_max = 5\n")
    with pytest.raises(ConfigError, match=f"^{path}: reconnect_max .5 s. is below"):
        load_config(tmp_path)


def test_a_bad_override_names_the_override(tmp_path):
    with pytest.raises(ConfigError, match="^override: key 'backend'"):
        load_config(tmp_path, overrides={"backend": "fast"})


def test_not_toml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, 'backend = "cpu"\nmax_concurrent_tasks = \n')
    with pytest.raises(ConfigError, match=f"^{path}: not valid TOML: .*line 2"):
        load_config(tmp_path)


def test_an_explicit_file_must_exist_the_default_need_not(tmp_path):
    assert load_config(tmp_path).backend == "auto"
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path, path=tmp_path / "missing.toml")
