"""Processes on this machine."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process with this id runs here (one of another user's counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
