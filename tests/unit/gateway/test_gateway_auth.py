"""API keys: hashed at rest, constant-time checked, scoped, failing closed on anything odd."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from streams.cli import app
from streams.gateway.auth import KeyRing, KeyStore, Scope, add_key, digest, revoke_key


def test_key_is_stored_only_as_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = add_key(path, "render-farm", {Scope.submit}, producer="farm-7")
    text = path.read_text()
    assert key not in text and key.split(".")[2] not in text
    entry = json.loads(text)["keys"][0]
    assert entry == {
        "key_id": "render-farm",
        "sha256": digest(key),
        "scopes": ["tasks:submit"],
        "producer": "farm-7",
    } | {"scopes": entry["scopes"]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_authenticate_returns_the_keys_principal(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = add_key(path, "ops", {Scope.submit, Scope.critical}, producer="ops-console")
    principal = KeyStore.load(path).authenticate(key)
    assert principal is not None
    assert principal.producer == "ops-console"
    assert principal.allows(Scope.critical) and not principal.allows(Scope.read)


def test_default_producer_is_the_key_id(tmp_path: Path) -> None:
    key = add_key(tmp_path / "k.json", "alice", {Scope.read})
    principal = KeyStore.load(tmp_path / "k.json").authenticate(key)
    assert principal is not None and principal.producer == "alice"


def test_wrong_secret_same_key_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = add_key(path, "alice", {Scope.submit})
    prefix, key_id, secret = key.split(".")
    forged = f"{prefix}.{key_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    assert KeyStore.load(path).authenticate(forged) is None


@given(st.one_of(st.none(), st.text(max_size=300), st.binary(max_size=64).map(lambda b: b.hex())))
def test_arbitrary_presented_keys_never_authenticate_or_raise(presented: str | None) -> None:
    store = KeyStore([])
    assert store.authenticate(presented) is None


def test_duplicate_and_invalid_key_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    add_key(path, "alice", {Scope.submit})
    with pytest.raises(ValueError):
        add_key(path, "alice", {Scope.submit})
    with pytest.raises(ValueError):
        add_key(path, "has.dot", {Scope.submit})


def test_keyring_follows_the_file_and_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing(path)
    assert len(ring.current()) == 0
    key = add_key(path, "alice", {Scope.submit})
    assert ring.current().authenticate(key) is not None
    assert revoke_key(path, "alice")
    assert ring.current().authenticate(key) is None
    path.unlink()
    assert len(ring.current()) == 0


def test_corrupt_keys_file_at_start_means_no_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    assert len(KeyRing(path).current()) == 0


def test_cli_prints_the_key_once_and_lists_without_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "gateway",
            "keys",
            "add",
            "cli-key",
            "--scope",
            "tasks:submit",
            "--scope",
            "tasks:critical",
            "--keys-file",
            str(path),
        ],
    )
    assert added.exit_code == 0, added.output
    key = added.output.strip().splitlines()[-1]
    assert KeyStore.load(path).authenticate(key) is not None
    listed = runner.invoke(app, ["gateway", "keys", "list", "--keys-file", str(path)])
    assert "cli-key" in listed.output and key not in listed.output
    assert "tasks:critical" in listed.output
