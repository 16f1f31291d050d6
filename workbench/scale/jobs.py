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
