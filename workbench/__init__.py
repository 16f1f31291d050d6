"""Product categorization workbench.

The notebook API mirrors the command line: ingest a catalog into a workspace, embed it,
train and compare models, evaluate them, choose thresholds, shelve and review.
"""

from workbench.info import workspace_info
from workbench.ingest import ingest_dataset, ingest_file
from workbench.mapping import ColumnMapping
from workbench.relabel import load_taxonomy
from workbench.splits import split_frame
from workbench.store import Workspace
from workbench.taxonomy import Taxonomy

__version__ = "0.1.0"

__all__ = ["ColumnMapping", "Taxonomy", "Workspace", "__version__", "ingest_dataset", "ingest_file",
           "load_taxonomy", "split_frame", "workspace_info"]
