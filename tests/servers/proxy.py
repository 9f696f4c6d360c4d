"""A TCP proxy in front of one of the suite's servers that can break connections mid-response.

Tests point a client at :attr:`CuttingProxy.url` instead of the server. Everything is
forwarded unchanged until a test calls :meth:`CuttingProxy.cut`: then the next connections
whose server-to-client traffic passes the given byte count are closed at exactly that byte,
as a network failure in the middle of a download would do (the client has received the
headers and part of the body, then the connection ends). With ``then_down=True`` the link
stays down after the last cut: every new connection is closed as soon as it is accepted.
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["CuttingProxy"]


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to ``target``; see the module docstring.

    Attributes:
        target: ``(host, port)`` of the real server.
        cuts_done: How many connections were cut so far.
        carried: Response bytes forwarded to clients so far, over all connections.
        requests: Everything clients sent (request lines, headers, bodies), one bytearray
            per connection, in the order connections were opened.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        """Listen on a free port; call :meth:`start` to forward."""
        self.target = target
        self.cuts_done = 0
        self.carried = 0
        self.requests: list[bytearray] = []
        self._after = 0
        self._cuts_left = 0
        self._down_after_cuts = False
        self._down = False
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the proxy."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def cut(self, after: int, times: int = 1, *, then_down: bool = False) -> None:
        """Close the next ``times`` connections whose responses carry more than ``after``
        bytes (counted per connection), right after byte ``after``; with ``then_down``,
        refuse every connection after the last cut."""
        with self._lock:
            self._after, self._cuts_left, self._down_after_cuts = after, times, then_down

    def start(self) -> None:
        """Accept connections in a daemon thread."""
        self._thread = threading.Thread(target=self._accept, name="satchel-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close every connection. Safe to call twice."""
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for s in sockets:
            _close(s)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                _close(client)
                continue
            sent = bytearray()
            with self._lock:
                self._open.update((client, server))
                self.requests.append(sent)
            threading.Thread(target=self._pump, args=(client, server, sent), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, sent: bytearray | None) -> None:
        """Forward ``src`` to ``dst``: a request direction records into ``sent``, a response
        direction (``sent`` None) counts and may be cut."""
        carried = 0
        try:
            while data := src.recv(1 << 16):
                if sent is not None:
                    sent += data
                else:
                    limit = self._limit(carried, len(data))
                    if limit is not None:
                        self._count(limit)
                        dst.sendall(data[:limit])
                        return  # closes both ends below: the response stops mid-body
                    carried += len(data)
                    self._count(len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)
            with self._lock:
                self._open.difference_update((src, dst))

    def _count(self, n: int) -> None:
        with self._lock:
            self.carried += n

    def _limit(self, carried: int, size: int) -> int | None:
        """How much of the next ``size`` bytes may pass before the cut, or ``None``."""
        with self._lock:
            if self._cuts_left <= 0 or carried + size <= self._after:
                return None
            self._cuts_left -= 1
            self.cuts_done += 1
            self._down = self._down_after_cuts and self._cuts_left == 0
            return self._after - carried if self._after > carried else 0


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
