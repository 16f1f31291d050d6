"""Stage 1: what a catalog file becomes in the store.

Reading files (``reader``), column mappings and recipes (``mapping``, ``datasets``), ingest,
text cleaning, the taxonomy and its external sources, splits, relabelling after reviews, and the
read-only summaries of a workspace's catalog (``info``, ``explore``).
"""
