"""``--cluster`` and ``--shared-dir`` for the commands that can run on a Dask cluster
(``embed``, ``classify``, ``train``, ``project``)."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager, nullcontext
from typing import Iterator


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cluster ADDRESS|local:N`` and ``--shared-dir DIR`` to a subcommand."""
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="run on a Dask cluster: a scheduler address (tcp://HOST:8786) or local:N for "
                             "N worker processes here (default: $WORKBENCH_CLUSTER, else in this process)")
    parser.add_argument("--shared-dir", default=None, metavar="DIR",
                        help="folder every worker can read and write, for the job's partitions "
                             "(default: $WORKBENCH_SHARED_DIR, else <workspace>/scale)")


@contextmanager
def cluster_client(args: argparse.Namespace) -> Iterator[object | None]:
    """The Dask client of ``--cluster`` (``None`` without one); a ``local:N`` cluster is stopped after."""
    from workbench.scale.cluster import cluster_address

    address = cluster_address(getattr(args, "cluster", None))
    if address is None:
        with nullcontext(None) as none:
            yield none
        return
    from workbench.scale.cluster import connect, worker_count

    with connect(address) as client:
        print(f"cluster {address}: {worker_count(client)} workers, scheduler {client.scheduler.address}",
              file=sys.stderr)
        yield client
