"""Stage 8: big jobs on a Dask cluster (``--cluster ADDRESS`` or ``local:N``).

The embedded default stays one DuckDB file and one process; with a cluster, embedding, batch
classification, XGBoost training and the map's projection run by partitions on Dask workers,
which read and write Parquet on a shared folder, and the results enter the workspace through
its single writer (the process that started the job).
"""
