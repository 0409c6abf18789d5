"""Helpers for the service's long-running background loops (outbox sender, escalation)."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task was asked to stop and a library ate the request.

    On Python 3.11 ``asyncio.wait_for`` (which aiosmtplib and the database drivers
    use inside) returns its result instead of raising when the cancel lands just as
    the awaited thing completes (CPython gh-86296). The task still counts the
    request (``Task.cancelling()``), so a loop that calls this between steps stops
    at the next one; without it the loop runs on and a shutdown waits forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()
