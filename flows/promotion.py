"""The written promotion rule (mlflow/promotion.yaml), the pure decision it implies, and the alias moves.

``decide`` compares recorded metrics and nothing else; ``promote`` reads the metrics from the versions' runs,
records every decision (a run with the comparison table as JSON and CSV, plus tags) and moves ``champion`` only
when the rule allows it, remembering the former champion as ``previous-champion``; ``rollback`` undoes that.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import yaml

from flows.evaluation import EvalTarget, evaluate_version
from flows.tracking import (CHALLENGER, CHAMPION, CLASS_IOU_PREFIX, FINAL_PREFIX, KIND_PROMOTION, KIND_ROLLBACK,
                            OUTCOME_TAGS, PREVIOUS, SCORE, SIZE_ERROR, TAG_CHAMPION_BEFORE, TAG_CHAMPION_HISTORY,
                            TAG_EVAL_DATASET, TAG_KIND, TAG_MODEL, TAG_OUTCOME, TAG_PROMOTION, TAG_REASONS, TAG_VERSION,
                            TrackingConfig, alias_version, client as make_client, lib, tracked_run)
from ml.config import from_dict, to_dict

EPS = 1e-12
COLUMNS = ["check", "metric", "challenger", "champion", "delta", "limit", "passed"]
OUTCOME = {True: "promoted", False: "refused"}  # a promotion decision's outcome, by Decision.promote


@dataclass(frozen=True)
class PromotionRule:
    metric_prefix: str = FINAL_PREFIX
    score: str = SCORE
    margin: float = 0.01
    class_prefix: str = CLASS_IOU_PREFIX
    class_drop_tolerance: float = 0.02
    ignore_classes: tuple[str, ...] = ("background",)
    size_error: str = SIZE_ERROR
    size_error_tolerance: float = 0.05
    minimums: dict = field(default_factory=lambda: {SCORE: 0.5})

    @classmethod
    def for_schema(cls, schema, **changes) -> "PromotionRule":
        """The written rule for a loop with this label schema. A model without a boundary class has grains only
        from a watershed split of its class map, which over-splits touching grains (docs/benchmarks.md): its size
        error says more about the split than the model, so such a model is judged without the size check."""
        if not schema.boundary:
            changes.setdefault("size_error", "")
        return cls(**changes)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: tuple[str, ...]
    rows: tuple[dict, ...]  # the comparison table: check, metric, challenger, champion, delta, limit, passed


class RollbackError(RuntimeError):
    pass


def load_rule(path: Path) -> PromotionRule:
    return from_dict(PromotionRule, yaml.safe_load(Path(path).read_text()) or {})


def _row(check: str, metric: str, challenger, champion, limit: float, passed: bool) -> dict:
    delta = challenger - champion if challenger is not None and champion is not None else None
    return {"check": check, "metric": metric, "challenger": challenger, "champion": champion, "delta": delta,
            "limit": limit, "passed": passed}


def _minimum_rows(ch: Mapping[str, float], rule: PromotionRule) -> list[dict]:
    return [_row("minimum", m, ch.get(m), None, low, ch.get(m) is not None and ch[m] >= low - EPS)
            for m, low in rule.minimums.items()]


def _class_rows(ch: Mapping[str, float], champ: Mapping[str, float], rule: PromotionRule) -> list[dict]:
    names = sorted(k for k in champ if k.startswith(rule.class_prefix)
                   and k[len(rule.class_prefix):] not in rule.ignore_classes)
    tol = rule.class_drop_tolerance
    return [_row("class drop", k, ch.get(k), champ[k], -tol, ch.get(k) is not None and ch[k] - champ[k] >= -tol - EPS)
            for k in names]


def _comparison_rows(ch: Mapping[str, float], champ: Mapping[str, float], rule: PromotionRule) -> list[dict]:
    s = rule.score
    rows = [_row("margin", s, ch.get(s), champ.get(s), rule.margin,
                 None not in (ch.get(s), champ.get(s)) and ch[s] - champ[s] >= rule.margin - EPS)]
    rows += _class_rows(ch, champ, rule)
    e = rule.size_error
    if e in ch and e in champ:  # lower is better; only once both runs have instance metrics
        rows.append(_row("size error", e, ch[e], champ[e], rule.size_error_tolerance,
                         ch[e] - champ[e] <= rule.size_error_tolerance + EPS))
    return rows


def _reason(r: dict) -> str:
    fmt = lambda v: "missing" if v is None else f"{v:.4f}"
    if r["check"] == "minimum":
        return f"{r['metric']} {fmt(r['challenger'])} is below the minimum {r['limit']:.4f} for a first model"
    return (f"{r['check']}: {r['metric']} {fmt(r['challenger'])} vs champion {fmt(r['champion'])} "
            f"(delta {fmt(r['delta'])}, limit {r['limit']:+.4f})")


def decide(challenger: Mapping[str, float], champion: Optional[Mapping[str, float]], rule: PromotionRule) -> Decision:
    """Challenger metrics against the champion's (None: there is none yet, so the absolute minimums apply)."""
    rows = _minimum_rows(challenger, rule) if champion is None else _comparison_rows(challenger, champion, rule)
    failed = [_reason(r) for r in rows if not r["passed"]]
    if not rows:
        return Decision(False, ("the rule has no check to apply",), ())
    ok = "meets every minimum" if champion is None else f"beats the champion by >= {rule.margin} {rule.score}"
    return Decision(not failed, tuple(failed) or (f"all {len(rows)} checks passed: {ok}",), tuple(rows))


# ---- MLflow side -------------------------------------------------------------------------------------------


def run_metrics(client, version, prefix: str) -> dict[str, float]:
    """The metrics recorded on a version's training run, with the prefix (e.g. final/) stripped."""
    metrics = client.get_run(version.run_id).data.metrics
    return {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}


def _history(client, name: str) -> list[str]:
    text = client.get_registered_model(name).tags.get(TAG_CHAMPION_HISTORY, "")
    return [v for v in text.split(",") if v]


def _table_csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def record_decision(tracking: TrackingConfig, kind: str, decision: Decision, version: str, champion: Optional[str],
                    outcome: Optional[str] = None) -> str:
    """A run holding the decision (tags, decision.json, comparison.csv); its id."""
    mlflow = lib()
    tags = {TAG_KIND: kind, TAG_MODEL: tracking.model_name, TAG_VERSION: version,
            TAG_CHAMPION_BEFORE: champion or "none", TAG_OUTCOME: outcome or OUTCOME[decision.promote],
            TAG_REASONS: "; ".join(decision.reasons)[:4000]}
    with tracked_run(tracking, f"{kind} v{version}", tags) as run:
        mlflow.log_dict(to_dict(decision), "decision.json")
        mlflow.log_text(_table_csv(decision.rows), "comparison.csv")
    return run.info.run_id


def mark(tracking: TrackingConfig, kind: str, version: str, outcome: str, run_id: str) -> None:
    """The version's outcome tags, set last: once they are there, the decision has been carried out."""
    c, (outcome_tag, run_tag) = make_client(tracking), OUTCOME_TAGS[kind]
    c.set_model_version_tag(tracking.model_name, version, run_tag, run_id)
    c.set_model_version_tag(tracking.model_name, version, outcome_tag, outcome)


def record(tracking: TrackingConfig, kind: str, decision: Decision, version: str, champion: Optional[str],
           outcome: Optional[str] = None) -> str:
    """A run holding the decision (tags, decision.json, comparison.csv); the version is tagged with its outcome."""
    run_id = record_decision(tracking, kind, decision, version, champion, outcome)
    mark(tracking, kind, version, outcome or OUTCOME[decision.promote], run_id)
    return run_id


def _pending(client, tracking: TrackingConfig, version: str, champion: Optional[str]):
    """(run id, decision, champion before) of a promotion decision recorded for the version by an attempt that
    died before carrying it out (the version has no outcome tag yet); None when there is none, or the champion
    has changed since."""
    experiment = client.get_experiment_by_name(tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = '{KIND_PROMOTION}' and "
                              f"tags.`{TAG_MODEL}` = '{tracking.model_name}' and tags.`{TAG_VERSION}` = '{version}' "
                              "and attributes.status = 'FINISHED'", order_by=["attributes.start_time ASC"]) \
        if experiment else []
    before = runs[0].data.tags.get(TAG_CHAMPION_BEFORE, "none") if runs else "none"
    before = None if before == "none" else before
    if not runs or champion not in (before, version):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        saved = json.loads(Path(client.download_artifacts(runs[0].info.run_id, "decision.json", tmp)).read_text())
    return runs[0].info.run_id, Decision(saved["promote"], tuple(saved["reasons"]), tuple(saved["rows"])), before


def _compare_on(tracking: TrackingConfig, challenger, champion, rule: PromotionRule, target: EvalTarget) -> Decision:
    """Both versions evaluated now (or as recorded before) on the same frozen split."""
    champ = evaluate_version(tracking, _v(champion), target) if champion is not None else None
    return decide(evaluate_version(tracking, _v(challenger), target), champ, rule)


def _compare(client, challenger, champion, rule: PromotionRule) -> Decision:
    if champion is not None and challenger.tags.get(TAG_EVAL_DATASET) != champion.tags.get(TAG_EVAL_DATASET):
        return Decision(False, (f"not comparable: evaluated on {challenger.tags.get(TAG_EVAL_DATASET)!r}, the "
                                f"champion on {champion.tags.get(TAG_EVAL_DATASET)!r}; re-evaluate both on the same "
                                "test split",), ())
    champ = run_metrics(client, champion, rule.metric_prefix) if champion is not None else None
    return decide(run_metrics(client, challenger, rule.metric_prefix), champ, rule)


def _v(version) -> Optional[str]:
    """A ModelVersion's number as a string (stores return ints or strings), None for no version."""
    return None if version is None else str(version.version)


def crown(client, name: str, version: str, champion: Optional[str]) -> None:
    """Move ``champion`` to version (and ``previous-champion`` to the one before); safe to run again."""
    history = _history(client, name)
    if history[-1:] != [version]:
        client.set_registered_model_tag(name, TAG_CHAMPION_HISTORY, ",".join([*history, version]))
    client.set_registered_model_alias(name, CHAMPION, version)
    if champion is not None and champion != version:
        client.set_registered_model_alias(name, PREVIOUS, champion)
    if _v(alias_version(client, name, CHALLENGER)) == version:  # no longer a challenger
        client.delete_registered_model_alias(name, CHALLENGER)


def promote(tracking: TrackingConfig, version: int | str, rule: PromotionRule,
            target: Optional[EvalTarget] = None) -> Decision:
    """Judge a registered version against the champion with the rule; move ``champion`` only if it passes.
    With a target (the newest dataset version's test split) both are evaluated on it; without one, the
    metrics recorded on their training runs are compared, and must come from the same dataset. The decision is
    recorded first and the version tagged with its outcome last, so a rerun after a crash in between carries out
    the recorded decision instead of judging again."""
    client, name = make_client(tracking), tracking.model_name
    challenger, champion = client.get_model_version(name, str(version)), alias_version(client, name, CHAMPION)
    pending = None if challenger.tags.get(TAG_PROMOTION) else _pending(client, tracking, _v(challenger), _v(champion))
    if pending:
        run_id, decision, before = pending
    else:
        if _v(champion) == _v(challenger):
            return Decision(False, (f"version {_v(challenger)} is already the champion",), ())
        decision = (_compare_on(tracking, challenger, champion, rule, target) if target
                    else _compare(client, challenger, champion, rule))
        before = _v(champion)
        run_id = record_decision(tracking, KIND_PROMOTION, decision, _v(challenger), before)
    if decision.promote:
        crown(client, name, _v(challenger), before)
    mark(tracking, KIND_PROMOTION, _v(challenger), OUTCOME[decision.promote], run_id)
    return decision


def rollback(tracking: TrackingConfig) -> tuple[str, str]:
    """``champion`` back to ``previous-champion``; returns (from, to). The one before becomes the new previous."""
    client, name = make_client(tracking), tracking.model_name
    current, previous = _v(alias_version(client, name, CHAMPION)), _v(alias_version(client, name, PREVIOUS))
    if current is None or previous is None:
        raise RollbackError(f"{name} has no previous champion to roll back to")
    history = [v for v in _history(client, name) if v != current]
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, TAG_CHAMPION_HISTORY, ",".join(history))
    older = history[history.index(previous) - 1] if previous in history[1:] else None
    if older:
        client.set_registered_model_alias(name, PREVIOUS, older)
    else:
        client.delete_registered_model_alias(name, PREVIOUS)
    decision = Decision(True, (f"rolled back from version {current} to version {previous}",), ())
    record(tracking, KIND_ROLLBACK, decision, current, current, outcome="rolled back")
    return current, previous
