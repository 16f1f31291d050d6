"""Which model families train on a cluster, and how (``workbench train --cluster``).

* ``xgboost``: the boosting runs on the workers through ``xgboost.dask``
  (:func:`workbench.models.xgb_dask.train_on_cluster`).
* ``tfidf`` with ``classifier=sgd`` learns one partition at a time (out of core) in this process;
  the cluster does not speed it up, and the other ``tfidf`` heads need the whole matrix.
* The neural families (``transformer``, ``cnn-lstm``, ``fasttext``) and the ensembles train in
  this process; multi-GPU training is out of scope here.
"""

from __future__ import annotations

from typing import Any, Sequence

ON_CLUSTER = ("xgboost",)


def cluster_params(models: Sequence[str], params: dict[str, dict[str, Any]], address: str,
                   echo=None) -> dict[str, dict[str, Any]]:
    """``params`` with the scheduler address given to every family that trains on the cluster."""
    out = {kind: dict(values) for kind, values in params.items()}
    for kind in models:
        if kind in ON_CLUSTER:
            out.setdefault(kind, {})["cluster"] = address
        elif echo is not None:
            echo(f"{kind}: trains in this process (only {', '.join(ON_CLUSTER)} trains on the cluster)")
    return out
