"""`llmobs ui`: serve the read-only viewer over the store, on loopback by default."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import webbrowser
from pathlib import Path

import click

from ..store.settle import settle_at_most_every
from .literal import visible


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; anything but loopback exposes your traces.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The port (0: any free one).")
@click.option("--open/--no-open", "open_browser", default=False, show_default=True,
              help="Open the viewer in your browser.")
@click.pass_obj
def ui(store: Path, host: str, port: int, open_browser: bool) -> None:
    """Look at the store's traces in your browser (needs the ui extra)."""
    try:
        import uvicorn

        from .ui import create_app
    except ImportError as exc:
        click.echo(f"llmobs ui needs the ui extra ({exc.name} is missing): "
                   'pip install "llmobs[ui]"', err=True)
        sys.exit(2)
    if not _is_loopback(host):
        click.echo(visible(f"Warning: listening on {host}, not loopback. Traces hold prompts, "
                           "model output and user data, and this viewer has no login: anyone "
                           "who can reach this address can read them."), err=True)
    try:
        listener = _listen(host, port)
    except OSError as exc:
        click.echo(visible(f"Cannot listen on {host}:{port}: {exc}"), err=True)
        sys.exit(1)
    bound_host, bound_port = listener.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown_host}:{bound_port}/"
    click.echo(f"llmobs ui: open {url} (Ctrl-C stops it)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    # Pages settle the store's inbox at most once a second, so they stay fast while spans
    # arrive; the indexing process settles it too, each time it looks for new rows.
    settle_at_most_every(1.0)
    # lifespan on: it starts the thread that builds the summary and free-text indexes
    config = uvicorn.Config(create_app(store), log_level="warning", lifespan="on",
                            server_header=False)
    uvicorn.Server(config).run(sockets=[listener])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.listen(128)
    listener.set_inheritable(True)
    return listener
