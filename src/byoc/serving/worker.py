"""gunicorn's gthread worker, with one change: a graceful stop does not wait for idle connections.

On SIGTERM the stock worker stops accepting and then waits, up to the graceful timeout, until
every open connection is gone, including idle keep-alive connections that will never send
another request. Such a connection held every stop for the whole graceful timeout (20 s), after a
single request from a client that keeps connections open. Here an idle connection is closed as
soon as the worker stops; requests in flight still get the whole graceful timeout.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker


class GracefulThreadWorker(ThreadWorker):
    """gthread; on a graceful stop, idle connections expire at once."""

    def murder_keepalived(self, *args: object, **kwargs: object) -> None:
        """gunicorn 27 also calls this with `force=True` as a stop ends; passed on as given, so
        that the worker does not die there (exit 255) and hold up the stop."""
        if not self.alive:  # stopping: an idle connection has no request to finish
            for conn in self.keepalived_conns:
                conn.timeout = 0
        super().murder_keepalived(*args, **kwargs)

    def murder_pending(self) -> None:
        """Connections accepted but not read yet (gunicorn 26 and later; 23-25 never call this)."""
        if not self.alive:
            for conn in getattr(self, "pending_conns", ()):
                conn.timeout = 0
        super().murder_pending()
