"""Monitoring of served traffic: every statistic of a period against its threshold.

:func:`monitor_report` reads the API's log (predictions, requests, feedback), the serving
snapshot and the serving run's reference (:mod:`workbench.service.reference`) and computes:

* **volume**, **error share** and **p99 latency** of the period;
* **confidence drift**: PSI of the top-1 confidence against the run's test split, and the share
  below its threshold against the test split's share (a gap);
* **category-mix drift**: PSI of the predicted categories at every taxonomy level against the
  training mix (Jensen-Shannon beside it);
* **input drift**: PSI of the title length in tokens, the unknown-token share against the
  validation baseline (a gap), and a classifier two-sample test (ROC AUC) on sentence embeddings
  of the titles against a sample of training titles;
* **feedback acceptance** (the API's feedback and the seller's page's answers), **live accuracy** of the
  review sample (against the test accuracy),
  and the **shadow run's agreement** with the serving run (with both accuracies where feedback
  says what the right category was).

Each has a threshold (:data:`DEFAULT_THRESHOLDS`, overridden by ``service/monitoring.json`` or
the caller); a statistic with too few observations is ``too few`` and crosses nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.runs.evaluation import json_ready
from workbench.service.drift import (binned_psi, classifier_two_sample_auc, jensen_shannon, psi, tokens,
                                     unknown_token_share)
from workbench.service.files import ServiceFiles, read_json
from workbench.service.log import read_log, utc_now
from workbench.service.reference import Reference, ancestor, load_reference
from workbench.service.snapshot import read_snapshot

#: name -> threshold; ``MAXIMA`` cross when above, the others when below
DEFAULT_THRESHOLDS: dict[str, float] = {
    "volume": 1, "error_share": 0.05, "latency_p99_ms": 250.0,
    "confidence_psi": 0.25, "low_confidence_gap": 0.15,
    "category_mix_psi": 0.25, "title_length_psi": 0.25, "unknown_token_gap": 0.10, "embedding_auc": 0.75,
    "feedback_acceptance": 0.70, "live_accuracy_gap": 0.05, "shadow_agreement": 0.80,
}
MAXIMA = {"error_share", "latency_p99_ms", "confidence_psi", "low_confidence_gap", "category_mix_psi",
          "title_length_psi", "unknown_token_gap", "embedding_auc", "live_accuracy_gap"}
#: fewest observations for a statistic to be judged
MIN_COUNTS = {"predictions": 50, "feedback": 20, "live": 20, "shadow": 50, "latency": 20}
MIX_PER_CATEGORY = 3
CONFIDENCE_EDGES = (0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)
NO_THRESHOLD_CUT = 0.5
EMBEDDING_SAMPLE = 500


@dataclass
class Statistic:
    """One monitored figure of the period."""

    key: str
    label: str
    value: float | None
    threshold: float
    n: int
    status: str = "ok"  # ok | crossed | too few | no reference | skipped
    direction: str = "max"
    detail: str = ""

    def judge(self, minimum: int = 1) -> "Statistic":
        """Set ``status`` from the value, the threshold and the number of observations."""
        if self.status != "ok":
            return self
        if self.value is None or math.isnan(self.value) or self.n < minimum:
            self.status = "too few"
            return self
        over = self.value > self.threshold if self.direction == "max" else self.value < self.threshold
        self.status = "crossed" if over else "ok"
        return self


@dataclass
class MonitorReport:
    """The statistics of one period, the per-bucket series and what the plots draw."""

    since: datetime | None
    until: datetime
    serving_run: str
    shadow_run: str | None
    statistics: list[Statistic]
    series: pd.DataFrame
    confidence: dict[str, np.ndarray] = field(default_factory=dict)
    mix: dict[str, pd.DataFrame] = field(default_factory=dict)
    shadow: dict[str, Any] = field(default_factory=dict)
    feedback: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def crossed(self) -> list[Statistic]:
        """The statistics past their thresholds."""
        return [s for s in self.statistics if s.status == "crossed"]

    def statistic(self, key: str) -> Statistic:
        """One statistic by key (e.g. ``category_mix_psi:articleType``)."""
        for s in self.statistics:
            if s.key == key:
                return s
        raise KeyError(key)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the period, every statistic, the crossed keys, the series and summaries."""
        series = self.series.copy()
        if "bucket" in series:
            series["bucket"] = series["bucket"].astype(str)
        return {"since": None if self.since is None else self.since.isoformat(), "until": self.until.isoformat(),
                "serving_run": self.serving_run, "shadow_run": self.shadow_run,
                "statistics": [json_ready(asdict(s)) for s in self.statistics],
                "crossed": [s.key for s in self.crossed],
                "series": [json_ready(r) for r in series.to_dict("records")],
                "feedback": json_ready(self.feedback), "shadow": json_ready(self.shadow), "notes": self.notes}


def parse_since(text: str | None) -> datetime | None:
    """``"24h"``, ``"30m"``, ``"7d"`` (before now) or an ISO time (UTC) -> a UTC time; ``None`` or
    ``"all"`` -> ``None`` (everything)."""
    if text is None or str(text).strip().lower() in ("", "all"):
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(text))
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return utc_now() - timedelta(**{unit: float(match.group(1))})
    try:
        value = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"since {text!r} is neither a duration (30m, 24h, 7d) nor an ISO time "
                         "(2026-01-05T10:00)") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def monitoring_thresholds(files: ServiceFiles, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The thresholds in force: defaults, then ``service/monitoring.json``, then ``overrides``."""
    out = dict(DEFAULT_THRESHOLDS)
    for source in (read_json(files.monitoring_config) or {}, overrides or {}):
        for name, value in source.items():
            if name not in DEFAULT_THRESHOLDS:
                raise WorkbenchError(f"unknown monitoring threshold {name!r}; use one of "
                                     f"{', '.join(DEFAULT_THRESHOLDS)}")
            out[name] = float(value)
    return out


def _stat(key: str, label: str, value, thresholds: Mapping[str, float], n: int, detail: str = "",
          base: str | None = None) -> Statistic:
    name = base or key
    return Statistic(key, label, None if value is None else float(value), thresholds[name], int(n),
                     direction="max" if name in MAXIMA else "min", detail=detail)


def _below_threshold_share(confidence: np.ndarray, thresholds: np.ndarray) -> float:
    return float(np.mean(confidence < thresholds)) if len(confidence) else float("nan")


def _reference_thresholds(snapshot: dict, ref: Reference) -> np.ndarray:
    """The threshold each test prediction of the reference would meet now."""
    from workbench.catalog.taxonomy import Taxonomy
    from workbench.evaluate.shelving import leaf_thresholds

    thr = snapshot["thresholds"]
    if thr["global"] is None:
        return np.full(len(ref.test_top1), NO_THRESHOLD_CUT)
    leaves = sorted(set(ref.test_top1["leaf"]))
    taxonomy = Taxonomy.from_node_ids(leaves, ref.level_names)
    overrides = {k: v for k, v in thr["overrides"].items() if k in taxonomy}
    per_leaf = dict(zip(leaves, leaf_thresholds(thr["global"], overrides, classes=leaves, taxonomy=taxonomy)))
    return ref.test_top1["leaf"].map(per_leaf).to_numpy(dtype=float)


def _input_statistics(preds: pd.DataFrame, ref: Reference, thresholds: Mapping[str, float],
                      files: ServiceFiles, embedding: bool) -> list[Statistic]:
    titles = preds["title"].fillna("").astype(str)
    n = len(titles)
    lengths = np.array([len(tokens(t)) for t in titles], dtype=float)
    out = [_stat("title_length_psi", "title length (tokens), PSI", binned_psi(lengths, ref.title_lengths)
                 if n else None, thresholds, n,
                 f"mean {lengths.mean():.1f} tokens against {ref.title_lengths.mean():.1f} in training" if n else "")]
    share, n_tokens = unknown_token_share(titles, ref.vocabulary)
    out.append(_stat("unknown_token_gap", "unknown-token share, gap to validation",
                     share - ref.baseline_unknown_share if n_tokens else None, thresholds, n,
                     f"{share:.1%} of {n_tokens:,} tokens unseen in training (validation: "
                     f"{ref.baseline_unknown_share:.1%})" if n_tokens else ""))
    auc = _stat("embedding_auc", "title embeddings, classifier two-sample AUC", None, thresholds, n)
    if not embedding:
        auc.status, auc.detail = "skipped", "left out: this report does not load the text encoder"
    elif n >= MIN_COUNTS["predictions"]:
        sample = titles.sample(n=min(EMBEDDING_SAMPLE, n), random_state=0).tolist()
        try:
            from workbench.embeddings.embed import embed_texts

            vectors = embed_texts(ref.sample_titles + sample, workspace=files)  # cached per text in the workspace
        except (WorkbenchError, ImportError) as exc:  # no encoder here: the other statistics still count
            auc.status, auc.detail = "skipped", f"the text encoder is not available: {exc}"
        else:
            auc.value = classifier_two_sample_auc(vectors[:len(ref.sample_titles)], vectors[len(ref.sample_titles):])
            auc.detail = f"{len(sample)} served titles against {len(ref.sample_titles)} training titles (0.5: alike)"
    out.append(auc)
    return out


def _mix_statistics(preds: pd.DataFrame, ref: Reference, thresholds: Mapping[str, float],
                    mix_frames: dict[str, pd.DataFrame]) -> list[Statistic]:
    out = []
    for level, name in enumerate(ref.level_names, 1):
        served = preds["category"].map(lambda leaf: ancestor(leaf, level)).value_counts().to_dict()
        reference = ref.mix.get(str(level), {})
        value = psi(served, reference) if served else None
        js = jensen_shannon(served, reference) if served else float("nan")
        stat = _stat(f"category_mix_psi:{name}", f"category mix at {name}, PSI", value, thresholds,
                     len(preds), f"Jensen-Shannon {js:.3f}" if served else "", base="category_mix_psi")
        # small samples over many categories scatter by chance: judge a level from 3 per category
        needed = max(MIN_COUNTS["predictions"], MIX_PER_CATEGORY * len(reference))
        out.append(stat.judge(needed))
        if stat.status == "too few":
            stat.detail += f"; judged from {needed:,} predictions ({MIX_PER_CATEGORY} per category)"
        total_s, total_r = max(sum(served.values()), 1), max(sum(reference.values()), 1)
        nodes = sorted(set(served) | set(reference))
        mix_frames[name] = pd.DataFrame({"category": nodes,
                                         "served": [served.get(k, 0) / total_s for k in nodes],
                                         "training": [reference.get(k, 0) / total_r for k in nodes]})
    return out


def _feedback_summary(feedback: pd.DataFrame, preds: pd.DataFrame) -> dict[str, Any]:
    latest = feedback.sort_values("time").drop_duplicates("prediction_id", keep="last")
    n, accepted = len(latest), int(latest["accepted"].sum()) if len(latest) else 0
    truth = latest.dropna(subset=["category"]).set_index("prediction_id")["category"]
    return {"n": n, "accepted": accepted, "acceptance": accepted / n if n else None, "truth": truth,
            "by_rank": latest["rank"].value_counts().sort_index().to_dict() if n else {}}


def _seller_feedback(files: ServiceFiles, since: datetime | None, until: datetime) -> tuple[int, int]:
    """``(answers, accepted)`` of the seller's page in the period: its answers go to the workspace
    (not through the API's log), one short read there, never a write (the API reads too); ``(0,
    0)`` without a workspace database."""
    from workbench.store import Workspace

    if not (files.workspace / "workbench.duckdb").exists():
        return 0, 0
    ws = Workspace(files.workspace, read_only=True)
    n, accepted = ws.rows("SELECT count(*), count(*) FILTER (WHERE accepted) FROM feedback WHERE channel = 'seller' "
                          "AND received_at >= coalesce(?, TIMESTAMP '1970-01-01') AND received_at < ?",
                          [since, until])[0]
    return int(n or 0), int(accepted or 0)


def _shadow_summary(preds: pd.DataFrame, truth: pd.Series) -> dict[str, Any]:
    scored = preds.dropna(subset=["shadow_category"])
    if scored.empty:
        return {"n": 0}
    agree = scored["shadow_category"] == scored["category"]
    out = {"n": int(len(scored)), "run_id": str(scored["shadow_run_id"].iloc[-1]), "agreement": float(agree.mean())}
    known = scored[scored["prediction_id"].isin(truth.index)]
    if len(known):
        right = truth.loc[known["prediction_id"]].to_numpy()
        out.update(n_labelled=int(len(known)), serving_accuracy=float(np.mean(known["category"].to_numpy() == right)),
                   shadow_accuracy=float(np.mean(known["shadow_category"].to_numpy() == right)))
    return out


def bucket_series(preds: pd.DataFrame, feedback: pd.DataFrame, ref: Reference | None, bucket: str) -> pd.DataFrame:
    """Per hour or day: predictions, mean confidence, share sent to review, leaf-mix PSI,
    unknown-token share and feedback acceptance."""
    freq = {"hour": "h", "day": "D"}[bucket]
    columns = ["bucket", "predictions", "mean_confidence", "review_share", "mix_psi", "unknown_token_share",
               "feedback", "acceptance"]
    if preds.empty:
        return pd.DataFrame(columns=columns)
    frame = preds.assign(bucket=pd.to_datetime(preds["time"]).dt.floor(freq))
    fb = feedback.assign(bucket=pd.to_datetime(feedback["time"]).dt.floor(freq)) if len(feedback) else None
    depth = len(ref.level_names) if ref is not None else 0
    rows = []
    for when, group in frame.groupby("bucket", sort=True):
        row = {"bucket": when, "predictions": len(group), "mean_confidence": float(group["confidence"].mean()),
               "review_share": float((group["decision"] == "review").mean())}
        if ref is not None and len(group) >= MIN_COUNTS["predictions"]:
            row["mix_psi"] = psi(group["category"].map(lambda c: ancestor(c, depth)).value_counts().to_dict(),
                                 ref.mix[str(depth)])
            row["unknown_token_share"] = unknown_token_share(group["title"].fillna(""), ref.vocabulary)[0]
        if fb is not None:
            day = fb[fb["bucket"] == when]
            row["feedback"] = len(day)
            row["acceptance"] = float(day["accepted"].mean()) if len(day) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=columns)


def monitor_report(files, *, since: datetime | None = None, until: datetime | None = None,
                   bucket: str = "hour", thresholds: Mapping[str, float] | None = None,
                   embedding: bool = True) -> MonitorReport:
    """Every monitoring statistic of the traffic served in ``[since, until)`` (UTC); ``files``
    is a :class:`ServiceFiles`, a workspace or its folder."""
    if not isinstance(files, ServiceFiles):
        files = ServiceFiles(getattr(files, "path", files))
    if bucket not in ("hour", "day"):
        raise WorkbenchError(f"bucket {bucket!r} must be 'hour' or 'day'")
    limits = monitoring_thresholds(files, thresholds)
    snapshot = read_snapshot(files)
    run_id = snapshot["serving"]["run_id"]
    until = until or utc_now() + timedelta(seconds=1)
    preds_all = read_log(files, "predictions", since=since, until=until)
    requests = read_log(files, "requests", since=since, until=until)
    feedback = read_log(files, "feedback", since=since, until=until)
    preds = preds_all[preds_all["run_id"] == run_id]
    notes = []
    if len(preds) < len(preds_all):
        notes.append(f"{len(preds_all) - len(preds):,} predictions of the period were made by other runs "
                     f"and are left out of the drift statistics")
    ref = load_reference(files.reference(run_id))
    n = len(preds)
    classify = requests[(requests["path"] == "/v1/classify") & (requests["status"] == 200)]
    stats = [
        _stat("volume", "predictions served", len(preds_all), limits, len(preds_all), f"{len(requests):,} requests"),
        _stat("error_share", "share of requests failing (5xx)", float((requests["status"] >= 500).mean())
              if len(requests) else None, limits, len(requests)),
        _stat("latency_p99_ms", "p99 latency of /v1/classify (ms)", float(np.percentile(classify["latency_ms"], 99))
              if len(classify) else None, limits, len(classify)),
    ]
    stats[0].judge(0)
    stats[1].judge(1)
    stats[2].judge(MIN_COUNTS["latency"])
    confidence, mix = {}, {}
    if ref is None:
        notes.append(f"no drift reference for run {run_id} yet: it is built by the API within seconds, "
                     "or by `workbench monitor`")
    else:
        served_conf = preds["confidence"].to_numpy(dtype=float)
        ref_conf = ref.test_top1["confidence"].to_numpy(dtype=float)
        confidence = {"served": served_conf, "test split": ref_conf}
        served_thr = preds["threshold"].fillna(NO_THRESHOLD_CUT).to_numpy(dtype=float)
        gap = _below_threshold_share(served_conf, served_thr) - _below_threshold_share(
            ref_conf, _reference_thresholds(snapshot, ref))
        drift = [_stat("confidence_psi", "top-1 confidence against the test split, PSI",
                       binned_psi(served_conf, ref_conf, edges=CONFIDENCE_EDGES) if n else None, limits, n,
                       f"mean {served_conf.mean():.3f} against {ref_conf.mean():.3f}" if n else ""),
                 _stat("low_confidence_gap", "share below threshold, gap to the test split", gap if n else None,
                       limits, n)]
        drift += _mix_statistics(preds, ref, limits, mix)
        drift += _input_statistics(preds, ref, limits, files, embedding)
        stats += [s.judge(MIN_COUNTS["predictions"]) for s in drift]
    fb = _feedback_summary(feedback, preds_all)
    n_seller, ok_seller = _seller_feedback(files, since, until)  # the seller's page's answers count too
    fb.update(n=fb["n"] + n_seller, accepted=fb["accepted"] + ok_seller, sellers=n_seller)
    fb["acceptance"] = fb["accepted"] / fb["n"] if fb["n"] else None
    stats.append(_stat("feedback_acceptance", "feedback acceptance rate", fb["acceptance"], limits, fb["n"],
                       f"{fb['accepted']} of {fb['n']} accepted" + (f" ({ok_seller} of {n_seller} on the seller's "
                                                                    "page)" if n_seller else ""))
                 .judge(MIN_COUNTS["feedback"]))
    live = snapshot.get("live_accuracy") or {}
    test_accuracy = snapshot["serving"]["metrics"].get("test_accuracy")
    live_gap = None if live.get("accuracy") is None or test_accuracy is None else test_accuracy - live["accuracy"]
    stats.append(_stat("live_accuracy_gap", "live accuracy (review sample) below test accuracy", live_gap, limits,
                       live.get("n") or 0, "" if live_gap is None else
                       f"live {live['accuracy']:.1%} from {live['n']} reviews, test {test_accuracy:.1%}"
                       ).judge(MIN_COUNTS["live"]))
    shadow = _shadow_summary(preds_all, fb.pop("truth"))
    stats.append(_stat("shadow_agreement", "shadow run agrees with the serving run", shadow.get("agreement"),
                       limits, shadow["n"], "" if not shadow["n"] else f"shadow run {shadow['run_id']}"
                       ).judge(MIN_COUNTS["shadow"]))
    if not shadow["n"]:
        stats[-1].status = "skipped" if snapshot.get("shadow") is None else "too few"
        if stats[-1].status == "skipped":
            stats[-1].detail = "no shadow run (`workbench shadow RUN`)"
    return MonitorReport(since, until, run_id, (snapshot.get("shadow") or {}).get("run_id"), stats,
                         bucket_series(preds, feedback, ref, bucket), confidence, mix, shadow, fb, notes)
