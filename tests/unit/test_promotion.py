"""The promotion rule as a pure function: metrics in, decision and comparison table out."""
from pathlib import Path

import pytest

from flows.promotion import PromotionRule, decide, load_rule

ROOT = Path(__file__).resolve().parents[2]
RULE = PromotionRule(margin=0.01, class_drop_tolerance=0.02, ignore_classes=("background",),
                     minimums={"mean_fg_iou": 0.5, "iou/grain": 0.4})
CHAMP = {"mean_fg_iou": 0.60, "iou/grain": 0.62, "iou/pore": 0.58, "iou/background": 0.95}


def _checks(decision):
    return {(r["check"], r["metric"]): r["passed"] for r in decision.rows}


def test_first_model_must_pass_every_minimum():
    ok = decide({"mean_fg_iou": 0.55, "iou/grain": 0.45}, None, RULE)
    assert ok.promote and _checks(ok) == {("minimum", "mean_fg_iou"): True, ("minimum", "iou/grain"): True}
    low = decide({"mean_fg_iou": 0.55, "iou/grain": 0.30}, None, RULE)
    assert not low.promote and low.reasons == ("iou/grain 0.3000 is below the minimum 0.4000 for a first model",)
    assert not decide({"iou/grain": 0.9}, None, RULE).promote  # a missing metric never passes


def test_better_by_the_margin_without_class_drops_is_promoted():
    d = decide({**CHAMP, "mean_fg_iou": 0.615, "iou/pore": 0.57}, CHAMP, RULE)
    assert d.promote and "all 3 checks passed" in d.reasons[0]
    margin = d.rows[0]
    assert margin["check"] == "margin" and margin["delta"] == pytest.approx(0.015) and margin["limit"] == 0.01


def test_improvement_below_the_margin_is_refused():
    d = decide({**CHAMP, "mean_fg_iou": 0.605}, CHAMP, RULE)
    assert not d.promote and d.reasons[0].startswith("margin: mean_fg_iou 0.6050 vs champion 0.6000")


def test_exactly_the_margin_and_exactly_the_tolerance_pass():
    d = decide({**CHAMP, "mean_fg_iou": 0.61, "iou/pore": 0.56}, CHAMP, RULE)
    assert d.promote, d.reasons


def test_a_class_dropping_beyond_the_tolerance_blocks_promotion():
    d = decide({**CHAMP, "mean_fg_iou": 0.70, "iou/pore": 0.50}, CHAMP, RULE)
    assert not d.promote and _checks(d)[("class drop", "iou/pore")] is False
    assert _checks(d)[("margin", "mean_fg_iou")] is True and len(d.reasons) == 1


def test_ignored_classes_and_a_missing_class():
    d = decide({"mean_fg_iou": 0.70, "iou/grain": 0.70, "iou/background": 0.10}, CHAMP, RULE)
    assert ("class drop", "iou/background") not in _checks(d)
    assert _checks(d)[("class drop", "iou/pore")] is False  # the challenger lacks a class the champion has


def test_size_error_is_checked_only_when_both_have_it():
    better = {**CHAMP, "mean_fg_iou": 0.70}
    assert decide({**better, "size_distribution_error": 0.3}, CHAMP, RULE).promote
    worse = decide({**better, "size_distribution_error": 0.3}, {**CHAMP, "size_distribution_error": 0.2}, RULE)
    assert not worse.promote and _checks(worse)[("size error", "size_distribution_error")] is False


def test_the_repository_rule_file_loads():
    rule = load_rule(ROOT / "mlflow" / "promotion.yaml")
    assert rule.score == "mean_fg_iou" and rule.margin > 0 and rule.class_drop_tolerance >= 0
    assert rule.ignore_classes == ("background",) and rule.minimums["mean_fg_iou"] > 0


def test_unknown_keys_in_a_rule_file_are_an_error(tmp_path):
    path = tmp_path / "rule.yaml"
    path.write_text("margn: 0.1\n")
    with pytest.raises(ValueError, match="margn"):
        load_rule(path)
