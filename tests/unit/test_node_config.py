"""Tests for unseen.config.node: loading node.yaml, resolving its paths, and refusing bad files clearly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from unseen.config.node import ConfigError, NodeConfig, load_node_config, save_node_config
from unseen.transport.tls import TlsPaths


def base_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "party_id": 9999,
        "home": "state",
        "rest_port": 8080,
        "federation_port": 9370,
        "tls": {"cert": "tls/node.crt", "key": "tls/node.key"},
        "peers": {
            10000: {"host": "10.0.0.2", "port": 9370, "ca": "partners/10000.crt"},
            10001: {"host": "10.0.0.3", "port": 9370, "pinned_cert": "/etc/unseen/10001.crt"},
        },
    }
    config.update(changes)
    return config


def write(tmp_path: Path, config: dict[str, Any] | str, name: str = "node.yaml") -> Path:
    path = tmp_path / "conf" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


# --- loading ------------------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_files_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, base_config(audit_dir="audit"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_node_config(path)
    folder = (tmp_path / "conf").resolve()
    assert config.home == folder / "state"
    assert config.tls.cert == folder / "tls" / "node.crt"
    assert config.tls.key == folder / "tls" / "node.key"
    assert config.peers[10000].ca == folder / "partners" / "10000.crt"
    assert config.peers[10001].pinned_cert == Path("/etc/unseen/10001.crt")
    assert config.audit_dir == folder / "audit"
    assert config.api_token_file == folder / "state" / "api.token"  # relative to home


def test_loading_through_a_relative_path_still_gives_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, base_config())
    monkeypatch.chdir(tmp_path)
    config = load_node_config(Path("conf/node.yaml"))
    assert config.home.is_absolute()
    assert config.home == (tmp_path / "conf" / "state").resolve()
    assert all(p.is_absolute() for p in (config.tls.cert, config.tls.key, config.peers[10000].anchor_path))


def test_parent_references_are_resolved(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, base_config(home="../shared/state")))
    assert config.home == (tmp_path / "shared" / "state").resolve()


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    home = tmp_path / "abs-home"
    config = load_node_config(write(tmp_path, base_config(home=str(home), api_token_file=str(tmp_path / "t"))))
    assert config.home == home
    assert config.api_token_file == tmp_path / "t"


def test_defaults_and_derived_values(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, base_config()))
    assert config.rest_host == "127.0.0.1"
    assert config.federation_host == "127.0.0.1"
    assert config.audit_dir is None
    assert config.db_url == f"sqlite:///{config.home / 'node.db'}"
    assert config.jobs_dir == config.home / "jobs"
    assert config.peers[10000].host == "10.0.0.2"
    assert config.peers[10000].port == 9370
    assert TlsPaths.of(config.tls).cert == config.tls.cert
    assert config.peers[10000].anchor_kind == "ca"
    assert config.peers[10001].anchor_kind == "pinned"


def test_saved_config_loads_back_equal(tmp_path: Path) -> None:
    original = load_node_config(write(tmp_path, base_config(database_url="sqlite:////tmp/x.db")))
    saved = tmp_path / "saved" / "node.yaml"
    save_node_config(original, saved)
    assert load_node_config(saved) == original


# --- refusals -----------------------------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "node.yaml"
    with pytest.raises(ConfigError, match="not found") as raised:
        load_node_config(path)
    assert str(path) in str(raised.value)


def test_a_folder_instead_of_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_node_config(tmp_path)


@pytest.mark.parametrize("text", ["party_id: [1, 2\n", "a: b: c\n", "key: 'unterminated\n", "\tparty_id: 1\n"])
def test_bad_yaml_names_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="not valid YAML") as raised:
        load_node_config(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("text", ["", "- 1\n- 2\n", "just text\n"])
def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="is invalid") as raised:
        load_node_config(path)
    assert str(path) in str(raised.value)


def test_binary_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_bytes(b"party_id: \xff\xfe\x00\x01\n")
    with pytest.raises(ConfigError):
        load_node_config(path)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"tls": {"cert": "a", "key": "b", "password": "x"}}, "tls.password"),
        ({"peers": {10000: {"host": "h", "port": 1, "ca": "c", "weight": 2}}}, "peers.10000.weight"),
    ],
)
def test_unknown_key_is_named(tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    path = write(tmp_path, base_config(**changes))
    with pytest.raises(ConfigError) as raised:
        load_node_config(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"{field}: Extra inputs are not permitted" in message


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rest_port": 0}, "rest_port"),
        ({"rest_port": 65536}, "rest_port"),
        ({"federation_port": -1}, "federation_port"),
        ({"federation_port": 70000}, "federation_port"),
        ({"peers": {10000: {"host": "h", "port": 99999, "ca": "c"}}}, "peers.10000.port"),
    ],
)
def test_port_out_of_range_names_the_field(tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    path = write(tmp_path, base_config(**changes))
    with pytest.raises(ConfigError) as raised:
        load_node_config(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"{field}: Input should be" in message


@pytest.mark.parametrize("port", [1, 65535])
def test_ports_at_the_edges_of_the_range_are_accepted(tmp_path: Path, port: int) -> None:
    config = load_node_config(write(tmp_path, base_config(rest_port=port, federation_port=port)))
    assert config.rest_port == port


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"party_id": 0}, "party_id"),
        ({"party_id": "guest"}, "party_id"),
        ({"peers": {0: {"host": "h", "port": 1, "ca": "c"}}}, "peers.0.[key]"),
        ({"recv_timeout_s": 0}, "recv_timeout_s"),
        ({"max_message_bytes": 10}, "max_message_bytes"),
    ],
)
def test_other_invalid_values_name_the_field(tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{field}: ")):
        load_node_config(write(tmp_path, base_config(**changes)))


@pytest.mark.parametrize("missing", ["party_id", "home", "rest_port", "federation_port", "tls"])
def test_missing_required_field_is_named(tmp_path: Path, missing: str) -> None:
    config = base_config()
    del config[missing]
    with pytest.raises(ConfigError, match=f"{missing}: Field required"):
        load_node_config(write(tmp_path, config))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_node_config(write(tmp_path, base_config(rest_port=0, colour="x", party_id=-3)))
    message = str(raised.value)
    for field in ("rest_port", "colour", "party_id"):
        assert f"{field}:" in message


def test_model_refuses_unknown_keys_directly() -> None:
    with pytest.raises(ValueError, match="colour"):
        NodeConfig.model_validate(base_config(colour="x"))


def test_a_silent_initiator_is_waited_for_three_rpc_timeouts_unless_the_operator_says_otherwise() -> None:
    assert NodeConfig.model_validate(base_config()).initiator_silence_limit_s == 30.0
    assert NodeConfig.model_validate(base_config(rpc_timeout_s=2)).initiator_silence_limit_s == 6.0
    assert NodeConfig.model_validate(base_config(initiator_silence_s=120)).initiator_silence_limit_s == 120.0
    with pytest.raises(ValueError, match="initiator_silence_s"):
        NodeConfig.model_validate(base_config(initiator_silence_s=0))


@pytest.mark.parametrize("url", ["mysql://root:secret@db/unseen", "postgresql+psycopg2://u:secret@db/u", "node.db"])
def test_a_database_the_node_cannot_use_is_refused_at_load_without_its_password(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="database_url") as raised:
        load_node_config(write(tmp_path, base_config(database_url=url)))
    assert "secret" not in str(raised.value)


def test_a_postgresql_url_is_accepted(tmp_path: Path) -> None:
    url = "postgresql+psycopg://unseen@db.example:5432/unseen"
    assert load_node_config(write(tmp_path, base_config(database_url=url))).db_url == url


# --- trust per partner ----------------------------------------------------------------------------------------


def test_a_shared_ca_bundle_is_refused_with_the_fix_named(tmp_path: Path) -> None:
    """An old config trusted one bundle for every party; it is refused, not silently applied to each peer."""
    old = base_config(tls={"cert": "c", "key": "k", "trusted_cas": ["ca.crt"]})
    with pytest.raises(ConfigError, match=r"tls\.trusted_cas is no longer read") as caught:
        load_node_config(write(tmp_path, old))
    assert "unseen cert import" in str(caught.value) and "peers" in str(caught.value)


@pytest.mark.parametrize(
    "peer",
    [{"host": "h", "port": 1}, {"host": "h", "port": 1, "ca": "a.crt", "pinned_cert": "b.crt"}],
    ids=["no anchor", "two anchors"],
)
def test_each_peer_needs_exactly_one_anchor(tmp_path: Path, peer: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="exactly one trust anchor"):
        load_node_config(write(tmp_path, base_config(peers={10000: peer})))


def test_a_malformed_pinned_fingerprint_is_refused(tmp_path: Path) -> None:
    peer = {"host": "h", "port": 1, "ca": "a.crt", "fingerprint": "AB:CD"}
    with pytest.raises(ConfigError, match="not a SHA-256 fingerprint"):
        load_node_config(write(tmp_path, base_config(peers={10000: peer})))
