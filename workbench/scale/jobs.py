"""Running a job's partition tasks on the cluster: submit one task per partition (retried
when a worker dies), show Dask's progress bar (or one line per partition when the output is
not a terminal), and hand back each partition's result once."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Iterator, Sequence

from workbench.errors import WorkbenchError

RETRIES = 3


def run_partitions(client, task: Callable, arguments: Sequence[tuple], *, name: str,
                   progress: bool | None = None, echo=None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Submit ``task(*args)`` per partition and yield ``(index, stats)`` as partitions finish.

    Each task has a stable key (``name-index``) and ``retries`` so a task whose worker died runs
    again elsewhere; a task that fails for its own reasons stops the job with its error.
    """
    from distributed import as_completed

    futures = {client.submit(task, *args, key=f"{name}-{i:05d}", retries=RETRIES, pure=False): i
               for i, args in enumerate(arguments)}
    interactive = sys.stderr.isatty() if progress is None else progress
    if interactive:
        from distributed import progress as dask_progress

        dask_progress(list(futures), notebook=False)
    started = time.perf_counter()
    try:
        for done, future in enumerate(as_completed(futures), 1):
            index = futures[future]
            try:
                stats = future.result()
            except Exception as exc:
                raise WorkbenchError(f"{name}: partition {index} failed on the cluster: "
                                     f"{type(exc).__name__}: {exc}") from exc
            if echo is not None and not interactive:
                echo(f"{name}: partition {done}/{len(futures)} done ({stats.get('rows', 0):,} rows, "
                     f"{time.perf_counter() - started:.0f} s)")
            yield index, stats
    finally:
        for future in futures:
            future.release()


class ClusterJob:
    """What a job run on a cluster keeps: the Dask ``client``, ``rows_per_part`` of each
    partition, the ``shared`` folder (``None``: ``<workspace>/scale``), ``progress`` (``None``: a
    bar on a terminal) and ``echo`` (a line per partition otherwise), and ``stats``: each finished
    partition's rows, seconds, worker pid and peak memory."""

    def __init__(self, client, *, rows_per_part: int, shared: str | None = None, progress: bool | None = None,
                 echo=None):
        self.client = client
        self.rows_per_part = rows_per_part
        self.shared = shared
        self.progress = progress
        self.echo = echo
        self.stats: list[dict] = []

    def partitions(self, task: Callable, arguments: Sequence[tuple], name: str) -> Iterator[int]:
        """:func:`run_partitions` with this job's settings: yields each finished partition's index;
        its stats join ``stats`` once the caller has taken its result."""
        self.stats = []
        for index, stats in run_partitions(self.client, task, arguments, name=name, progress=self.progress,
                                           echo=self.echo):
            yield index
            self.stats.append(stats)
