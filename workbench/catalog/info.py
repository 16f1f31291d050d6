"""A readable summary of a workspace (``workbench info``)."""

from __future__ import annotations

import json
from typing import Any

from workbench.store import Workspace


def workspace_info(ws: Workspace) -> dict[str, Any]:
    """Counts of products, labelled products (catalog or human labels; a model's unreviewed
    shelving is counted apart, as ``shelved_by_model``), rejects (by reason), warnings (by kind),
    levels, categories, splits and leakage."""
    level_names = json.loads(ws.meta("level_names") or "[]")
    per_level = ws.df("SELECT level, count(*) AS n FROM categories GROUP BY level ORDER BY level")
    splits = ws.df("SELECT kind, part, count(*) AS n FROM splits GROUP BY ALL")
    split_kind = "grouped" if (splits["kind"] == "grouped").any() else "random"
    reasons = ws.df("SELECT reason, count(*) AS n FROM rejects GROUP BY reason ORDER BY n DESC")
    warnings = (ws.df("SELECT kind, count(*) AS n FROM warnings GROUP BY kind ORDER BY n DESC, kind")
                if ws.has_table("warnings") else None)
    departments = ws.df("SELECT department, count(*) AS n FROM products WHERE department IS NOT NULL "
                        "GROUP BY department ORDER BY n DESC")
    return {
        "workspace": str(ws.path),
        "products": int(ws.scalar("SELECT count(*) FROM products")),
        # a model's own (unreviewed) shelving is not a label: nothing trains on it
        "labelled": int(ws.scalar("SELECT count(*) FROM products WHERE leaf IS NOT NULL "
                                  "AND coalesce(label_source, 'catalog') <> 'model'")),
        "shelved_by_model": int(ws.scalar("SELECT count(*) FROM products WHERE leaf IS NOT NULL "
                                          "AND label_source = 'model'")),
        "rejected": int(ws.scalar("SELECT count(*) FROM rejects")),
        "reject_reasons": dict(zip(reasons["reason"], map(int, reasons["n"]))),
        "warnings": int(warnings["n"].sum()) if warnings is not None else 0,
        "warning_reasons": dict(zip(warnings["kind"], map(int, warnings["n"]))) if warnings is not None else {},
        "sources": ws.df("SELECT path, accepted, rejected FROM sources ORDER BY ingested_at").to_dict("records"),
        "levels": level_names,
        "categories_per_level": {level_names[int(l) - 1] if int(l) <= len(level_names) else str(l): int(n)
                                 for l, n in zip(per_level["level"], per_level["n"])},
        "leaves": int(ws.scalar("SELECT count(*) FROM categories WHERE is_leaf")),
        "merged_categories": int(ws.scalar("SELECT count(*) FROM category_merges")),
        "departments": dict(zip(departments["department"], map(int, departments["n"]))),
        "splits": {p: int(n) for p, n in zip(splits.loc[splits["kind"] == split_kind, "part"],
                                             splits.loc[splits["kind"] == split_kind, "n"])},
        "split_kind": split_kind,
        "leakage": json.loads(ws.meta("leakage") or "{}"),
    }


def format_info(info: dict[str, Any]) -> str:
    """The summary as text for the terminal."""
    lines = [f"workspace   {info['workspace']}",
             f"products    {info['products']:,} accepted ({info['labelled']:,} labelled"
             + (f", {info['shelved_by_model']:,} shelved by a model" if info.get("shelved_by_model") else "")
             + f"), {info['rejected']:,} rejected"]
    for reason, n in info["reject_reasons"].items():
        lines.append(f"            rejected {n:,}: {reason}")
    if info.get("warnings"):
        lines.append(f"warnings    {info['warnings']:,} optional fields emptied (products kept)")
        for kind, n in info["warning_reasons"].items():
            lines.append(f"            warning {n:,}: {kind}")
    lines.append(f"taxonomy    {' > '.join(info['levels']) or '(none)'}; {info['leaves']:,} leaves; "
                 + ", ".join(f"{k}: {v}" for k, v in info["categories_per_level"].items()))
    if info["merged_categories"]:
        lines.append(f"            {info['merged_categories']:,} rare categories merged")
    if info["departments"]:
        lines.append("departments " + ", ".join(f"{k} {v:,}" for k, v in list(info["departments"].items())[:8]))
    lines.append(f"split       {info['split_kind']}: " + ", ".join(f"{k} {v:,}" for k, v in info["splits"].items()))
    if info["leakage"]:
        lines.append("leakage     share of test titles also in train: " + ", ".join(
            f"{k} {v:.1%}" for k, v in info["leakage"].items()))
    return "\n".join(lines)
