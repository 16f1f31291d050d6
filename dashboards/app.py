"""All workbench dashboards in one Panel app (navigation in the sidebar).

    panel serve dashboards/*.py --args --workspace DIR [--upload-limit-mb 10]

``workbench serve --workspace DIR`` serves the same app. Everything lives in the package
(:mod:`workbench.app`); this file only builds the session's app from the command line.
"""

import sys

from workbench.app.serve import app_from_argv

app_from_argv(sys.argv[1:]).servable(title="Product categorization workbench")
