"""Languages and standard taxonomies: the English default encoder against the multilingual one.

1. Tokopedia (Indonesian) and fashion (English): XGBoost on sentence embeddings and zero-shot
   (text-to-category-name similarity) with all-MiniLM-L6-v2 and with multilingual-e5-small,
   test accuracy and macro-F1 on the random split of a seeded sample.
2. Google's product taxonomy mapped onto Shopify's, scored against Shopify's official
   Shopify-to-Google mapping (``mappings.json``): top-1 / top-3 agreement of the path-embedding
   mapping (flat and with parent consistency) against the plain lexical baseline (TF-IDF over
   path names), all in this run.

Every text is embedded once into one workspace cache (``--workspace``, default
``benchmarks/.languages-ws``) and reused by every model and by a re-run. Prints JSON and writes
``benchmarks/languages_results.json`` (``--out`` for another file).

    python benchmarks/languages.py --tokopedia 2000 --fashion 1500
    python benchmarks/languages.py --skip-catalogs            # the mapping part only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("default", "multilingual-e5-small")


def uptime() -> str:
    """The load average, as ``uptime`` prints it."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def catalog_rows(root: Path, dataset: str, n: int, seed: int) -> list[dict]:
    """XGBoost-on-embeddings and zero-shot rows for both encoders on a sample of ``dataset``."""
    from workbench import Workspace, ingest_dataset
    from workbench.embeddings.embed import embed_products
    from workbench.runs.records import get_run
    from workbench.runs.training import train_models

    ws = Workspace(root / f"{dataset}-{n}")
    ingest_dataset(ws, dataset, sample=n, seed=seed)
    rows = []
    for model in MODELS:
        t0 = time.perf_counter()
        report = embed_products(ws, model=model, progress=False)
        embed_s = time.perf_counter() - t0
        for kind, params in (("xgboost", {"n_estimators": 200}), ("zero-shot", {})):
            t0 = time.perf_counter()
            (run_id,) = train_models(ws, [kind], "random", params={kind: params}, embedding_model=model, seed=seed)
            metrics = get_run(ws, run_id)["metrics"]
            metrics = json.loads(metrics) if isinstance(metrics, str) else metrics
            rows.append({"catalog": dataset, "products": n, "encoder": model, "model": kind,
                         "accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
                         "seconds": round(time.perf_counter() - t0, 1), "embed_seconds": round(embed_s, 1),
                         "embedded_now": report.embedded, "load": uptime()})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def mapping_rows(root: Path, roots: list[str] | None, encoders=MODELS) -> list[dict]:
    """Google onto Shopify: agreement with Shopify's own mapping, lexical vs embeddings."""
    from workbench import Workspace
    from workbench.catalog.taxonomy import SEP
    from workbench.catalog.taxonomy_sources import load_google, load_shopify, load_shopify_google_mapping
    from workbench.embeddings.taxonomy_mapping import propose_mapping
    from workbench.evaluate.mapping_agreement import mapping_agreement

    shopify, google = load_shopify(), load_google()
    reference = defaultdict(set)
    for sid, gid in load_shopify_google_mapping().items():
        try:
            reference[google.node_of(gid)].add(shopify.node_of(sid))
        except Exception:  # noqa: BLE001 - a rule naming an id the files lack is left out
            continue

    def under(nodes):
        return [n for n in nodes if not roots or any(n == r or n.startswith(r + SEP) for r in roots)]

    src, tgt = under(google.taxonomy.nodes), under(shopify.taxonomy.nodes)
    truth = {k: v for k, v in reference.items() if k in set(src)}
    ws = Workspace(root / "mapping")
    rows = []
    runs = [("lexical", "-", False), ("lexical", "-", True)]
    runs += [("embedding", m, c) for m in encoders for c in (False, True)]
    for method, model, consistent in runs:
        t0 = time.perf_counter()
        frame = propose_mapping(google.taxonomy, shopify.taxonomy, method=method,
                                model=model if model != "-" else "default", workspace=ws,
                                consistent=consistent, source_nodes=src, target_nodes=tgt)
        proposed = {r.catalog_node: [a["node"] for a in r.alternatives] for r in frame.itertuples()}
        score = mapping_agreement(proposed, truth)
        rows.append({"method": method, "encoder": model, "parent_consistency": consistent,
                     "google_nodes": len(src), "shopify_nodes": len(tgt), "scored": score["n"],
                     "top1": round(score["top1"], 4), "top3": round(score["top3"], 4),
                     "seconds": round(time.perf_counter() - t0, 1), "load": uptime()})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokopedia", type=int, default=2000, help="Tokopedia products sampled")
    parser.add_argument("--fashion", type=int, default=1500, help="fashion products sampled")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workspace", default=str(HERE / ".languages-ws"), help="folder of the shared caches")
    parser.add_argument("--roots", default=None,
                        help="map only these top-level categories (comma separated; default: whole trees)")
    parser.add_argument("--mapping-encoders", default=",".join(MODELS),
                        help="encoders of the mapping part (default: both)")
    parser.add_argument("--skip-catalogs", action="store_true")
    parser.add_argument("--skip-mapping", action="store_true")
    parser.add_argument("--out", default=str(HERE / "languages_results.json"), help="JSON results file")
    args = parser.parse_args()
    root = Path(args.workspace)
    root.mkdir(parents=True, exist_ok=True)
    out = {"machine": f"{os.cpu_count()} CPUs", "start_load": uptime(), "catalogs": [], "mapping": []}
    if not args.skip_catalogs:
        out["catalogs"] += catalog_rows(root, "tokopedia", args.tokopedia, args.seed)
        out["catalogs"] += catalog_rows(root, "fashion", args.fashion, args.seed)
    if not args.skip_mapping:
        out["mapping"] = mapping_rows(root, [r.strip() for r in args.roots.split(",")] if args.roots else None,
                                      [m.strip() for m in args.mapping_encoders.split(",") if m.strip()])
    out["end_load"] = uptime()
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
