"""Training an XGBoost booster on a Dask cluster through ``xgboost.dask``.

The feature matrix is split row-wise into one chunk per worker, every worker builds its
histograms on its rows and XGBoost's collective combines them each round, so the trees are
trained by the cluster; the result is an ordinary booster (saved as XGBoost JSON like any
``xgboost`` run).
"""

from __future__ import annotations

import math

import numpy as np
import xgboost as xgb

from workbench.errors import WorkbenchError


def train_on_cluster(address: str, params: dict, train: tuple, valid: tuple | None, *, rounds: int,
                     stopping: int | None) -> xgb.Booster:
    """Train ``params`` for ``rounds`` boosting rounds on the cluster at ``address``; ``train``
    and ``valid`` are ``(features, labels, weights or None)``."""
    import dask.array as da
    from distributed import Client
    from xgboost import dask as dxgb

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise WorkbenchError(f"cannot reach the Dask scheduler at {address} ({exc}); "
                             "start one or drop --cluster") from None
    with client:
        workers = max(1, len(client.scheduler_info()["workers"]))

        def as_dask(features: np.ndarray, labels: np.ndarray, weights: np.ndarray | None):
            rows = max(1, math.ceil(len(features) / workers))
            return dxgb.DaskDMatrix(
                client, da.from_array(np.asarray(features, dtype=np.float32), chunks=(rows, features.shape[1])),
                da.from_array(labels, chunks=rows),
                weight=None if weights is None else da.from_array(weights, chunks=rows))

        evals = [] if valid is None else [(as_dask(*valid), "valid")]
        output = dxgb.train(client, {**params, "nthread": params.get("nthread") or 1}, as_dask(*train),
                            num_boost_round=rounds, evals=evals, early_stopping_rounds=stopping,
                            verbose_eval=False)
    return output["booster"]
