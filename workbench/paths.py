"""The one place that knows where things live: project root, data homes, workspaces."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKSPACE = "workspace"


def data_home_candidates() -> list[Path]:
    """Directories searched for catalog files, in order.

    ``$WORKBENCH_DATA_HOME``, then ``../shared/datasets`` beside the project root, then the
    user cache directory (where downloads are stored).
    """
    found: list[Path] = []
    env = os.environ.get("WORKBENCH_DATA_HOME")
    if env:
        found.append(Path(env).expanduser())
    found.append(PROJECT_ROOT.parent / "shared" / "datasets")
    found.append(user_cache_dir())
    return found


def user_cache_dir() -> Path:
    """Per-user cache of downloaded catalogs."""
    return Path(platformdirs.user_cache_dir("workbench")) / "datasets"


def taxonomy_home() -> Path:
    """Directory of the public category trees (Shopify, Google, Best Buy)."""
    env = os.environ.get("WORKBENCH_TAXONOMY_HOME")
    if env:
        return Path(env).expanduser()
    return PROJECT_ROOT.parent / "shared" / "taxonomies"


def workspace_dir(path: str | os.PathLike | None = None) -> Path:
    """Resolve a workspace directory: the argument, ``$WORKBENCH_WORKSPACE``, or ``./workspace``."""
    if path is None:
        path = os.environ.get("WORKBENCH_WORKSPACE", DEFAULT_WORKSPACE)
    return Path(path).expanduser().resolve()
