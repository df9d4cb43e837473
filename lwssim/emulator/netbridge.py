"""TCP/unix-socket forwarders: how a process in a network namespace of its own reaches the stack.

Karpenter (v1.14.1, ``pkg/operator/operator.go`` ``NewOperator``) binds its metrics and health servers to
``":<port>"``, every interface, and no flag narrows that to 127.0.0.1. The emulator therefore runs it in a
user + network namespace of its own (``unshare --user --map-root-user --net``), whose only interface is a
loopback nothing outside can reach, and connects the two sides through unix sockets in the state folder (a
socket file is reachable from any network namespace):

* outside (``karpenter-bridge``, one process of the stack): ``unix:<state>/karpenter-net/api.sock`` ->
  ``tcp:127.0.0.1:<apiserver port>``;
* inside (started by the namespace's shell before it ``exec``s Karpenter, so Karpenter is its parent):
  brings ``lo`` up, listens on ``tcp:127.0.0.1:<apiserver port>`` -> ``unix:.../api.sock`` (the kubeconfig
  stays the same: same address, same certificate), and ``unix:.../health.sock`` -> ``tcp:127.0.0.1:<health
  port>`` so the stack can read Karpenter's ``/readyz``. It exits when its parent (Karpenter) is gone.

``python -m lwssim.emulator.netbridge --forward LISTEN=TARGET [...] [--lo-up] [--ready FILE]
[--exit-with-parent]``, where LISTEN and TARGET are ``tcp:HOST:PORT`` or ``unix:PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import struct
import sys
from pathlib import Path

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def lo_up() -> None:
    """Set the loopback interface up (a new network namespace starts with it down); needs CAP_NET_ADMIN
    in the namespace, which ``unshare --map-root-user`` gives."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def parse_endpoint(text: str) -> tuple[str, str, int]:
    """``tcp:HOST:PORT`` -> ("tcp", host, port); ``unix:PATH`` -> ("unix", path, 0)."""
    kind, _, rest = text.partition(":")
    if kind == "unix" and rest:
        return ("unix", rest, 0)
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return ("tcp", host, int(port))
    raise ValueError(f"an endpoint is tcp:HOST:PORT or unix:PATH, got {text!r}")


async def _open(end: tuple[str, str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    kind, where, port = end
    if kind == "unix":
        return await asyncio.open_unix_connection(where)
    return await asyncio.open_connection(where, port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the half-close on."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _serve(listen: tuple[str, str, int], target: tuple[str, str, int]) -> asyncio.AbstractServer:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            tr, tw = await _open(target)
        except OSError:
            w.close()
            return
        try:
            await asyncio.gather(_pipe(r, tw), _pipe(tr, w))
        finally:
            for x in (w, tw):
                with contextlib.suppress(Exception):
                    x.close()

    kind, where, port = listen
    if kind == "unix":
        Path(where).unlink(missing_ok=True)
        return await asyncio.start_unix_server(handle, where)
    return await asyncio.start_server(handle, where, port)


async def _main(forwards: list[tuple[str, str]], ready: str | None, exit_with_parent: bool) -> None:
    servers = [await _serve(parse_endpoint(a), parse_endpoint(b)) for a, b in forwards]
    if ready:
        Path(ready).write_text(str(os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        if exit_with_parent and os.getppid() != parent:
            break
    for s in servers:
        s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lwssim.emulator.netbridge", description=__doc__)
    ap.add_argument("--forward", action="append", default=[], metavar="LISTEN=TARGET", required=True)
    ap.add_argument("--lo-up", action="store_true", help="set the loopback interface up first")
    ap.add_argument("--ready", help="file written once every listener is open")
    ap.add_argument("--exit-with-parent", action="store_true", help="exit when the parent process is gone")
    args = ap.parse_args(argv)
    forwards = []
    for item in args.forward:
        a, sep, b = item.partition("=")
        if not sep:
            ap.error(f"--forward wants LISTEN=TARGET, got {item!r}")
        parse_endpoint(a), parse_endpoint(b)
        forwards.append((a, b))
    if args.lo_up:
        lo_up()
    asyncio.run(_main(forwards, args.ready, args.exit_with_parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
