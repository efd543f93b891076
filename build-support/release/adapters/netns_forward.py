"""A TCP forwarder between network namespaces: 127.0.0.1:LPORT in one namespace →
127.0.0.1:CPORT in another. The one implementation (the simulated fleet, the
engine-restart test).

It runs as a process of its own (`python netns_forward.py ...`; setns() in the
caller would leak into the dockerd it starts). Sockets keep the namespace they were
created in; setns() switches only the calling thread. A namespace given as "-" is
the one this process started in, held open: the forwarder outlives its starter, so
it must not name the starter's /proc/<pid>/ns/net. Standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

CLONE_NEWNET = 0x40000000
OWN = "-"


def start(lport: int, cport: int, listen_in: str, connect_in: str, log: Path):
    """Starts a forwarder and waits for its ready line; returns its Popen."""
    from release.adapters import daemons
    from release.base.errors import CommandError

    proc = daemons.spawn(
        [sys.executable, "-I", __file__, str(lport), str(cport), listen_in, connect_in],
        log,
        stdout_pipe=True,
    )
    if proc.stdout.readline().strip() != "ready":
        raise CommandError(f"forwarder {lport} → {cport} did not start; see {log}")
    proc.stdout.close()
    return proc


def marker(lport: int, cport: int) -> str:
    return f"netns_forward.py {lport} {cport} "


def main(argv: list[str]) -> None:
    import ctypes
    import os
    import socket
    import threading

    libc = ctypes.CDLL(None, use_errno=True)
    lport, cport, listen_in, connect_in = int(argv[0]), int(argv[1]), *argv[2:4]
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)

    def enter(path: str) -> None:
        fd = own if path == OWN else os.open(path, os.O_RDONLY)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + path)
        if fd != own:
            os.close(fd)

    enter(listen_in)
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", lport))
    lst.listen(128)
    enter(OWN)

    def pump(a, b) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve(conn) -> None:
        enter(connect_in)
        try:
            up = socket.create_connection(("127.0.0.1", cport), timeout=10)
        except OSError:
            conn.close()
            return
        up.settimeout(None)
        threading.Thread(target=pump, args=(up, conn), daemon=True).start()
        pump(conn, up)

    print("ready", flush=True)
    sys.stdout.close()  # the starter stops reading; nothing else goes there
    while True:
        conn, _ = lst.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
