"""`framegate gateway` (serve) and `framegate gateway keys add|list|revoke`.

Imports stay light: FastAPI and uvicorn load only when the server actually starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schemas.settings import load_settings
from streams.gateway.auth import KEY_ID_PATTERN, KeysFile, Scope, add_key, revoke_key

console = Console()
gateway_app = typer.Typer(
    help="HTTP gateway: POST /v1/tasks onto Kafka, answered by admission. No subcommand: serve.",
    invoke_without_command=True,
)
keys_app = typer.Typer(help="API keys of the gateway (hashed at rest).", no_args_is_help=True)
gateway_app.add_typer(keys_app, name="keys")

KeysFileOption = Annotated[
    Path | None,
    typer.Option("--keys-file", help="Default: settings (FRAMEGATE_GATEWAY_KEYS_FILE)."),
]


def _key_id(value: str) -> str:
    """Checked before the keys file is touched; a bad id is a usage error (exit 2)."""
    if not re.fullmatch(KEY_ID_PATTERN.strip("^$"), value):
        raise typer.BadParameter(
            "use 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return value


KeyIdArgument = Annotated[
    str, typer.Argument(help=f"Name of the key ({KEY_ID_PATTERN}).", callback=_key_id)
]


def _keys_path(keys_file: Path | None) -> Path:
    return keys_file or load_settings().resolved_gateway_keys_file


@gateway_app.callback()
def gateway(
    ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(help="Port (default: FRAMEGATE_GATEWAY_PORT).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: FRAMEGATE_BIND_HOST).")
    ] = None,
) -> None:
    """Serve the gateway with uvicorn until Ctrl-C / SIGTERM."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from streams.gateway.app import create_app
    from streams.gateway.http_server import server_config

    settings = load_settings()
    settings.kafka_security.check_usable()  # its Kafka clients start in the background
    bind = host or settings.bind_host
    bound_port = port or settings.gateway_port
    console.print(
        f"gateway on http://{bind}:{bound_port} (keys: {settings.resolved_gateway_keys_file}, "
        f"broker: {settings.kafka_bootstrap})"
    )
    server = uvicorn.Server(server_config(create_app(settings), settings, bind, bound_port, log_level="info"))
    server.run()
    if not server.started:  # as `uvicorn.run` does: the port was taken, the app failed to start
        raise typer.Exit(3)


@keys_app.command("add")
def keys_add(
    key_id: KeyIdArgument,
    scope: Annotated[
        list[Scope] | None,
        typer.Option("--scope", help="Repeatable; default: tasks:submit + tasks:read."),
    ] = None,
    producer: Annotated[
        str | None, typer.Option(help="Producer identity stamped on requests (default: key_id).")
    ] = None,
    keys_file: KeysFileOption = None,
) -> None:
    """Create a key and print it ONCE: only its SHA-256 is stored."""
    path = _keys_path(keys_file)
    scopes = set(scope or [Scope.submit, Scope.read])
    try:
        key = add_key(path, key_id, scopes, producer)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(
        f"added {key_id} ({', '.join(sorted(s.value for s in scopes))}) to {path}", style="dim"
    )
    typer.echo(key)


@keys_app.command("list")
def keys_list(keys_file: KeysFileOption = None) -> None:
    """Key ids, producers and scopes (never the keys)."""
    path = _keys_path(keys_file)
    entries = KeysFile.model_validate_json(path.read_bytes()).keys if path.exists() else []
    for entry in entries:
        typer.echo(f"{entry.key_id}\tproducer={entry.producer}\t{','.join(sorted(entry.scopes))}")


@keys_app.command("revoke")
def keys_revoke(key_id: KeyIdArgument, keys_file: KeysFileOption = None) -> None:
    """Remove a key; a running gateway notices on its next request."""
    if not revoke_key(_keys_path(keys_file), key_id):
        console.print(f"[red]no key {key_id!r}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
