"""What the validated depth cut costs ``workbench inspect`` (issue 32), on the shared catalogs.

For each catalog: the whole inspection's wall time and the depth choice's part of it (the
quick char-tfidf + LinearSVC fits, timed on the same rows the inspection validates), best of
``--repeat`` runs, with the chosen depth and the per-depth figures.

    python benchmarks/inspect_depth.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

from workbench.catalog import inspect as inspect_module
from workbench.catalog.datasets import locate

CATALOGS = {"flipkart 20k": "flipkart/flipkart_20k.csv", "flipkart 1,050": "flipkart/flipkart_1050.csv",
            "fashion": "fashion/styles.csv", "tokopedia": "tokopedia/tokopedia_16k.csv"}


def main() -> None:
    """Print one line per catalog: inspection seconds, depth-choice seconds, share, chosen depth."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    original = inspect_module.choose_depth
    spent: list[float] = []

    def timed(*a, **k):
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            spent.append(time.perf_counter() - start)

    inspect_module.choose_depth = timed
    try:
        for name, rel in CATALOGS.items():
            walls, parts, result = [], [], None
            for _ in range(args.repeat):
                spent.clear()
                start = time.perf_counter()
                result = inspect_module.inspect_file(locate(rel))
                walls.append(time.perf_counter() - start)
                parts.append(sum(spent))
            choice = result["guess"]["category"]["depth_choice"]
            figures = ", ".join(f"{f['depth']}: {f['leaves']} leaves "
                                + (f"{f['accuracy']:.3f}" if f["accuracy"] is not None else "-")
                                for f in choice["figures"])
            print(f"{name:<15} inspect {min(walls):6.2f} s, depth choice {min(parts):5.2f} s "
                  f"({min(parts) / min(walls):.0%}); depth {choice['depth']} of {choice['deepest']} "
                  f"(bar {choice['bar']:.2f}; {figures})")
    finally:
        inspect_module.choose_depth = original


if __name__ == "__main__":
    main()
