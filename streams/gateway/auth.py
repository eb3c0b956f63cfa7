"""API keys: hashed at rest, compared in constant time, each with scopes and a producer identity.

A key looks like `fgk.<key_id>.<secret>`. The keys file stores only `sha256(key)`: the secret is
32 random bytes, so a fast hash is enough (no dictionary to guess from) and authentication stays
cheap under overload, where a slow KDF per request would itself be a denial-of-service lever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from streams.gateway.errors import KeyExists

KEY_PREFIX = "fgk"
KEY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
#: Compared against when the key_id is unknown, so a miss costs what a hit costs.
_DUMMY_DIGEST = hashlib.sha256(b"framegate-no-such-key").hexdigest()


class Scope(StrEnum):
    submit = "tasks:submit"
    read = "tasks:read"
    critical = "tasks:critical"


class StoredKey(BaseModel):
    """One entry of the keys file: never the key itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: frozenset[Scope]
    producer: str = Field(min_length=1, max_length=128)


class KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[StoredKey] = Field(default_factory=list)


@dataclass(frozen=True)
class Principal:
    key_id: str
    producer: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


class AuthFailure(StrEnum):
    """Why a request was refused; the label of the auth-failure metric."""

    missing = "missing"
    invalid = "invalid"
    scope = "scope"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(key_id: str) -> str:
    return f"{KEY_PREFIX}.{key_id}.{secrets.token_urlsafe(32)}"


def _split(key: str) -> tuple[str, str] | None:
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    key_id, secret = parts[1], parts[2]
    if not re.match(KEY_ID_PATTERN, key_id) or not _SECRET_PATTERN.match(secret):
        return None
    return key_id, secret


class KeyStore:
    """Looks a presented key up by its key_id and checks its hash; never raises on bad input."""

    def __init__(self, keys: list[StoredKey]) -> None:
        self._by_id = {k.key_id: k for k in keys}

    def __len__(self) -> int:
        return len(self._by_id)

    def authenticate(self, presented: str | None) -> Principal | None:
        if not presented or len(presented) > 256:
            return None
        split = _split(presented)
        stored = self._by_id.get(split[0]) if split else None
        expected = stored.sha256 if stored else _DUMMY_DIGEST
        matches = hmac.compare_digest(digest(presented), expected)
        if stored is None or not matches:
            return None
        return Principal(key_id=stored.key_id, producer=stored.producer, scopes=stored.scopes)

    @classmethod
    def load(cls, path: Path) -> KeyStore:
        """A missing file is an empty store (every request 401s); a corrupt one is an error."""
        if not path.exists():
            return cls([])
        return cls(KeysFile.model_validate_json(path.read_bytes()).keys)


def add_key(path: Path, key_id: str, scopes: set[Scope], producer: str | None = None) -> str:
    """Appends a key to the keys file (written atomically, mode 0600) and returns the key once."""
    existing = KeysFile.model_validate_json(path.read_bytes()) if path.exists() else KeysFile()
    if any(k.key_id == key_id for k in existing.keys):
        raise KeyExists(f"key_id {key_id!r} already exists in {path}")
    key = new_key(key_id)
    entry = StoredKey(
        key_id=key_id, sha256=digest(key), scopes=frozenset(scopes), producer=producer or key_id
    )
    existing.keys.append(entry)
    _write(path, existing)
    return key


def revoke_key(path: Path, key_id: str) -> bool:
    if not path.exists():
        return False
    existing = KeysFile.model_validate_json(path.read_bytes())
    kept = [k for k in existing.keys if k.key_id != key_id]
    if len(kept) == len(existing.keys):
        return False
    _write(path, KeysFile(keys=kept))
    return True


def _write(path: Path, content: KeysFile) -> None:
    """Atomic replace, owner-only permissions: the hashes are not secret, but not public either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(content.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


class KeyRing:
    """The keys file, re-read when its mtime changes, so `keys add` needs no restart.

    A file that turns corrupt keeps the last good keys (revocations then need a valid file);
    one that disappears empties the ring: failing closed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: int | None = None
        self._store = KeyStore([])
        self.current()

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def current(self) -> KeyStore:
        stamp = self._mtime()
        if stamp != self._stamp:
            if stamp is None:
                self._store = KeyStore([])
            else:
                try:
                    self._store = KeyStore.load(self.path)
                except (OSError, ValueError):
                    return self._store
            self._stamp = stamp
        return self._store
