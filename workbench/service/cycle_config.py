"""What starts a retraining cycle and what it must show before a run is promoted: the cycle's
settings, stored in the workspace (``<workspace>/service/cycle.json``).

Defaults (:data:`DEFAULTS`), then the file, then a caller's overrides (``workbench cycle --set
NAME=VALUE`` writes the file; the notebook's ``run_cycle(ws, config={...})`` overrides one call).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from workbench.errors import WorkbenchError
from workbench.service.files import ServiceFiles, private_dir, read_json, write_json

#: the monitoring statistics that count as drift (``category_mix_psi`` covers every level)
DRIFT_STATISTICS = ("confidence_psi", "low_confidence_gap", "category_mix_psi", "title_length_psi",
                    "unknown_token_gap", "embedding_auc")
#: the statistics that say people disagree with the model
ACCEPTANCE_STATISTICS = ("feedback_acceptance", "live_accuracy_gap")

DEFAULTS: dict[str, Any] = {
    "on_drift": True,            # a crossed drift statistic starts a cycle
    "on_acceptance": True,       # a crossed feedback acceptance or live-accuracy gap starts one
    "new_labels": 100,           # this many human labels since the serving run (or the last cycle); 0: off
    "schedule_hours": 0,         # a cycle at least this often, in hours; 0: off
    "since": "24h",              # the monitored period (never before the last cycle ended)
    "embedding": False,          # the embedding drift test (loads the text encoder)
    "candidates": None,          # None: the serving run's family; else kinds or {"kind", "params", "sample", "department"}
    "shadow_requests": 200,      # the shadow scores this many requests ...
    "shadow_hours": 0,           # ... or runs this many hours (0: by requests only)
    "min_agreement": 0.90,       # the shadow's top-1 agrees with the serving run's at least this often
    "min_feedback": 10,          # feedback with a category on shadowed requests needed to compare accuracy
}

CYCLE_FILE = "cycle.json"


def config_path(files: ServiceFiles):
    """The workspace's cycle settings file."""
    return files.root / CYCLE_FILE


def _number(name: str, value: Any, *, low: float, high: float | None = None, integer: bool = False):
    try:
        number = int(value) if integer and float(value) == int(float(value)) else float(value)
    except (TypeError, ValueError):
        raise WorkbenchError(f"cycle setting {name}={value!r} must be a number, e.g. {DEFAULTS[name]}") from None
    if integer and not isinstance(number, int):
        raise WorkbenchError(f"cycle setting {name}={value!r} must be a whole number, e.g. {DEFAULTS[name]}")
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise WorkbenchError(f"cycle setting {name}={value!r} must be {bound}")
    return number


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise WorkbenchError(f"cycle setting {name}={value!r} must be true or false")


def _candidates(value: Any) -> list[dict[str, Any]] | None:
    if value in (None, "", "serving", []):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith(("[", "{")) else [k.strip() for k in text.split(",") if k.strip()]
    if isinstance(value, dict):
        value = [value]
    out = []
    for item in value:
        item = {"kind": item} if isinstance(item, str) else dict(item)
        unknown = sorted(set(item) - {"kind", "params", "sample", "department"})
        if "kind" not in item or unknown:
            raise WorkbenchError(f"cycle candidate {item!r} must be a model kind or {{\"kind\", \"params\", "
                                 "\"sample\", \"department\"}, e.g. tfidf or [{\"kind\": \"tfidf\", \"sample\": 500}]")
        if item.get("sample") is not None:
            item["sample"] = _number("candidates", item["sample"], low=1, integer=True)
        from workbench.models.base import model_class

        model_class(str(item["kind"]))  # an unknown kind: one line naming the known ones
        department = item.get("department")
        if department is not None and (not isinstance(department, str) or not department.strip()):
            raise WorkbenchError(f"cycle candidate {item['kind']!r}: department must be a column name such as "
                                 f"\"gender\", not {department!r}")
        out.append({"kind": str(item["kind"]), "params": dict(item.get("params") or {}),
                    "sample": item.get("sample"), "department": department.strip() if department else None})
    return out or None


def check_setting(name: str, value: Any) -> Any:
    """One setting, checked and converted (one clear error names the cause and the fix)."""
    if name not in DEFAULTS:
        raise WorkbenchError(f"unknown cycle setting {name!r}; use one of {', '.join(DEFAULTS)}")
    if name in ("on_drift", "on_acceptance", "embedding"):
        return _flag(name, value)
    if name in ("new_labels", "shadow_requests", "min_feedback"):
        return _number(name, value, low=0 if name != "shadow_requests" else 1, integer=True)
    if name in ("schedule_hours", "shadow_hours"):
        return _number(name, value, low=0)
    if name == "min_agreement":
        return _number(name, value, low=0, high=1)
    if name == "since":
        from workbench.service.monitoring import parse_since

        try:
            parse_since(str(value))
        except ValueError as exc:
            raise WorkbenchError(f"cycle setting since: {exc}") from None
        return str(value)
    try:
        return _candidates(value)
    except json.JSONDecodeError as exc:
        raise WorkbenchError(f"cycle setting candidates is not valid JSON ({exc}); use e.g. tfidf,xgboost") from None


def cycle_config(files, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings in force: defaults, then ``service/cycle.json``, then ``overrides``."""
    if not isinstance(files, ServiceFiles):
        files = ServiceFiles(getattr(files, "path", files))
    out = dict(DEFAULTS)
    stored = read_json(config_path(files)) or {}
    for source in (stored, overrides or {}):
        for name, value in source.items():
            out[name] = check_setting(name, value)
    return out


def save_cycle_config(files, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Store settings in ``service/cycle.json`` (checked first); returns the settings in force."""
    if not isinstance(files, ServiceFiles):
        files = ServiceFiles(getattr(files, "path", files))
    stored = dict(read_json(config_path(files)) or {})
    for name, value in changes.items():
        stored[name] = check_setting(name, value)
    private_dir(files.root)
    write_json(config_path(files), stored)
    return cycle_config(files)
