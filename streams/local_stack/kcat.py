"""Runs the system `kcat` against a current librdkafka, so it can talk to the local broker.

Debian bookworm's kcat links an older librdkafka, which misreads the tagged fields of tansu's
ApiVersions v3 response ("ApiVersionRequest failed: Local: Read underflow") and never connects.
Apache Kafka is not affected. The `confluent-kafka` wheel (extra `kcat`) bundles a current
librdkafka; kcat is started with that library first on its search path, unchanged otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from schemas.kafka_security import KafkaSecurity

PLAINTEXT = KafkaSecurity()
CONFIG_NAME = "kcat-security.properties"


class KcatUnavailable(RuntimeError):
    pass


def bundled_librdkafka() -> Path:
    """The librdkafka shared object shipped inside the installed confluent-kafka wheel."""
    spec = importlib.util.find_spec("confluent_kafka")
    if spec is None or spec.origin is None:
        raise KcatUnavailable("confluent-kafka is not installed: pip install 'framegate[kcat]'")
    libs = Path(spec.origin).parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        raise KcatUnavailable(
            f"no librdkafka in {libs} (a confluent-kafka wheel built without it?)"
        )
    return found[0]


def library_dir(cache_dir: Path) -> Path:
    """A directory holding `librdkafka.so.1` -> the bundled library (the name kcat asks for)."""
    target = bundled_librdkafka()
    cache_dir.mkdir(parents=True, exist_ok=True)
    link = cache_dir / "librdkafka.so.1"
    if not link.is_symlink() or link.resolve() != target.resolve():
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    return cache_dir


def write_security_config(security: KafkaSecurity, directory: Path) -> Path:
    """librdkafka properties for `security` in a file only this user can read (kcat `-F`):
    a password on kcat's command line would be visible to every process on the host."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_NAME
    body = "".join(f"{name}={value}\n" for name, value in security.librdkafka_properties().items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # an older file may have been more open
        out.write(body)
    return path


def kcat_command(
    args: list[str], cache_dir: Path, environ: dict[str, str],
    security: KafkaSecurity = PLAINTEXT,
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for running kcat with the bundled librdkafka and `security`."""
    binary = shutil.which("kcat") or shutil.which("kafkacat")
    if binary is None:
        raise KcatUnavailable("kcat is not installed (Debian/Ubuntu: apt-get install kcat)")
    lib = library_dir(cache_dir)
    search = [str(lib), *filter(None, environ.get("LD_LIBRARY_PATH", "").split(":"))]
    config = [] if security == PLAINTEXT else ["-F", str(write_security_config(security, cache_dir))]
    return [binary, *config, *args], {**environ, "LD_LIBRARY_PATH": ":".join(search)}
