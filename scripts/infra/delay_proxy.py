#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every chunk by a fixed time in each direction: a WAN link.

    python3 delay_proxy.py --listen 127.0.0.1:2232 --target 127.0.0.1:2222 --delay-ms 40 [--pid-file F]

40 ms each way gives an 80 ms round trip. Order is kept and bandwidth is not limited: each chunk is
forwarded ``delay`` after it arrived. Stdlib only (runs with Debian's python3). SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        try:
            while chunk := await reader.read(1 << 16):
                queue.put_nowait((time.monotonic() + delay, chunk))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((time.monotonic() + delay, b""))

    async def write() -> None:
        try:
            while True:
                due, chunk = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    await asyncio.gather(read(), write())


async def _serve(listen: tuple[str, int], target: tuple[str, int], delay: float) -> None:
    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            tr, tw = await asyncio.open_connection(*target)
        except OSError:
            cw.close()
            return
        try:
            await asyncio.gather(_pump(cr, tw, delay), _pump(tr, cw, delay))
        finally:
            for w in (tw, cw):
                w.close()

    server = await asyncio.start_server(handle, *listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:2232")
    ap.add_argument("--target", default="127.0.0.1:2222")
    ap.add_argument("--delay-ms", type=float, default=40.0, help="delay in EACH direction")
    ap.add_argument("--pid-file")
    args = ap.parse_args()
    if args.pid_file:
        with open(args.pid_file + ".tmp", "w") as fh:
            fh.write(f"{os.getpid()}\n")
        os.replace(args.pid_file + ".tmp", args.pid_file)
    asyncio.run(_serve(_addr(args.listen), _addr(args.target), args.delay_ms / 1000))


if __name__ == "__main__":
    main()
