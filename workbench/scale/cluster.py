"""Connecting to a Dask cluster: a scheduler address, or ``local:N`` for a LocalCluster of N
worker processes on this machine; ``$WORKBENCH_CLUSTER`` when no ``--cluster`` is given."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from distributed import Client

from workbench.errors import WorkbenchError

ENV = "WORKBENCH_CLUSTER"
_LOCAL = re.compile(r"local(?::(\d+))?")


def cluster_address(value: str | None = None) -> str | None:
    """The cluster to use: ``value``, else ``$WORKBENCH_CLUSTER``, else ``None`` (in-process)."""
    value = value if value is not None else os.environ.get(ENV)
    value = (value or "").strip()
    return value or None


def _check_address(address: str) -> None:
    if _LOCAL.fullmatch(address):
        return
    if not re.fullmatch(r"(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+(:\d+)?", address):
        raise WorkbenchError(
            f"--cluster {address!r} is neither local:N nor a scheduler address such as "
            "tcp://10.0.0.5:8786 (start one with `dask scheduler`)")


@contextmanager
def connect(address: str, *, worker_memory: str | None = None, timeout: float = 20) -> Iterator["Client"]:
    """A Dask client for ``address``; ``local:N`` starts (and afterwards stops) a LocalCluster of
    N single-threaded worker processes on 127.0.0.1. A scheduler address that does not answer
    within ``timeout`` seconds is a :class:`WorkbenchError` saying what to check."""
    _check_address(address)
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a dependency
        raise WorkbenchError("dask.distributed is not installed; pip install 'dask[distributed]'") from None
    local = _LOCAL.fullmatch(address)
    if local:
        n = int(local.group(1) or os.cpu_count() or 1)
        if n < 1:
            raise WorkbenchError(f"--cluster local:{n} needs at least one worker")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, memory_limit=worker_memory or "auto")
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise WorkbenchError(f"cannot reach the Dask scheduler at {address} ({exc}); is `dask scheduler` "
                             "running there, and is its port open from here?") from None
    try:
        yield client
    finally:
        client.close()


def worker_count(client) -> int:
    """Workers the cluster has now."""
    return len(client.scheduler_info().get("workers", {}))
