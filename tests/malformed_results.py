"""Malformed Label Studio annotation results, generated from the result format (brush RLE and polygon regions of
the binary schema), for the pull's robustness tests: every case must be quarantined, none may stop a pull.

``sized`` cases are malformed whatever the task says about its image; ``unsized`` ones only matter when the
image's size has to come from the results (a task without size, no readable image): their sizes are wrong.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from labeling.masks import mask_to_polygon, mask_to_rle

LABEL = "grain"


@dataclass(frozen=True)
class Case:
    name: str
    result: Any  # the annotation's ``result`` (normally a list of region dicts)
    sized: bool = True


def valid_mask(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A one-blob binary mask (hole-free, so its polygon is exact)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    mask = np.zeros(shape, np.uint8)
    y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    mask[y:y + int(rng.integers(3, h // 2)), x:x + int(rng.integers(3, w // 2))] = 1
    return mask


def brush(mask: np.ndarray, label: str = LABEL) -> dict:
    h, w = mask.shape
    return {"from_name": "brush", "to_name": "image", "type": "brushlabels", "original_width": w,
            "original_height": h, "image_rotation": 0,
            "value": {"format": "rle", "rle": mask_to_rle(mask), "brushlabels": [label]}}


def polygon(mask: np.ndarray, label: str = LABEL) -> dict:
    h, w = mask.shape
    return {"from_name": "polygon", "to_name": "image", "type": "polygonlabels", "original_width": w,
            "original_height": h, "image_rotation": 0,
            "value": {"points": mask_to_polygon(mask), "polygonlabels": [label], "closed": True}}


def _set(region: dict, path: tuple[str, ...], value: Any) -> dict:
    out = copy.deepcopy(region)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return out


_DROP = object()
WRONG_TYPES = [None, 1, -1, 2.5, True, "x", "", [], {}, [None], {"a": 1}]
BAD_LABELS = [[], ["feldspar"], [""], ["GRAIN"], ["grain "], [LABEL, LABEL], [1], [None], [[LABEL]], LABEL,
              {"grain": 1}, ["x" * 5000]]


def _bad_rles(shape: tuple[int, int], rle: list[int]) -> list:
    h, w = shape
    other = mask_to_rle(np.ones((h + 1, w), np.uint8))
    return [None, "abc", "", [], [1, 2, 3], rle[:len(rle) // 2], rle[:-3], other, mask_to_rle(np.ones((h, w - 1))),
            [255, 255, 255, 255, 0, 0, 0], [256, *rle[1:]], [-1, *rle[1:]], [float(v) for v in rle],
            [str(v) for v in rle], [rle], {"rle": rle}, [True] * 8, [0, 0, 0, 0] + rle[4:], [10 ** 20, *rle[1:]],
            [[1, 2], [3]]]


BAD_POINTS = [None, [], [[10, 10]], [[10, 10], [20, 20]], [[10, 10, 1], [20, 20, 1], [30, 5, 1]],
              [["a", "b"], ["c", "d"], ["e", "f"]], [[1], [2], [3]], "10,10 20,20 30,5", {"x": 1},
              [[101, 0], [0, 0], [0, 50]], [[-1, 0], [10, 0], [0, 50]], [[1e308, 1], [2, 2], [3, 1]],
              [[1, 2], [3, 4], [5]], [[None, None]] * 3, [[[1, 2]]] * 3, [[10, 10], [20, 20], "x"],
              [[1e6, 1e6], [2e6, 1], [1, 3e6]], [[10, 10]] * 2 + [[-1e-3, 50]]]


def sized_cases(shape: tuple[int, int], seed: int = 0) -> list[Case]:
    """Results malformed whatever the task's size: wrong types, missing keys, unknown labels, empty, huge values,
    non-dict results, brush RLE of the wrong length or type, malformed polygon points."""
    mask = valid_mask(shape, seed)
    b, p = brush(mask), polygon(mask)
    cases = [Case("empty result", []), Case("result of only choices",
                                             [{"from_name": "c", "to_name": "image", "type": "choices",
                                               "value": {"choices": ["ok"]}}]),
             Case("result with no type", [_set(b, ("type",), _DROP)]),
             Case("brush and a None region", [b, None]), Case("region is a list", [[b]]),
             Case("region is a string", ["brushlabels"]), Case("region is a number", [7]),
             Case("result is an object", {"0": b}), Case("result is a string", "brushlabels"),
             Case("empty region", [{}])]
    for kind, region, labels_key in (("brush", b, "brushlabels"), ("polygon", p, "polygonlabels")):
        cases += [Case(f"{kind} type {v!r}", [_set(region, ("type",), v)]) for v in (None, 1, [labels_key], {})]
        cases += [Case(f"{kind} value {v!r}", [_set(region, ("value",), v)]) for v in WRONG_TYPES]
        cases.append(Case(f"{kind} value as a list", [_set(region, ("value",), [region["value"]])]))
        cases.append(Case(f"{kind} without value", [_set(region, ("value",), _DROP)]))
        cases.append(Case(f"{kind} without labels", [_set(region, ("value", labels_key), _DROP)]))
        cases += [Case(f"{kind} labels {str(v)[:30]!r}", [_set(region, ("value", labels_key), v)])
                  for v in [*BAD_LABELS, *WRONG_TYPES[:4]]]
        cases.append(Case(f"{kind} good then bad label", [region, _set(region, ("value", labels_key), ["feldspar"])]))
    cases += [Case(f"rle {str(v)[:30]!r}", [_set(b, ("value", "rle"), v)]) for v in _bad_rles(shape, b["value"]["rle"])]
    cases += [Case(f"brush format {v!r}", [_set(b, ("value", "format"), v)]) for v in ("png", None, 1, [])]
    cases.append(Case("brush without rle", [_set(b, ("value", "rle"), _DROP)]))
    cases += [Case(f"points {str(v)[:30]!r}", [_set(p, ("value", "points"), v)]) for v in BAD_POINTS]
    cases.append(Case("polygon without points", [_set(p, ("value", "points"), _DROP)]))
    cases += [Case(f"points {str(v)[:20]!r} after a good region", [b, _set(p, ("value", "points"), v)])
              for v in BAD_POINTS[:6]]
    cases += [Case(f"points {str(v)[:20]!r} after a good polygon", [p, _set(p, ("value", "points"), v)])
              for v in BAD_POINTS[6:]]
    cases += [Case(f"good polygon then rle {str(v)[:20]!r}", [p, _set(b, ("value", "rle"), v)])
              for v in _bad_rles(shape, b["value"]["rle"])]
    cases += [Case(f"good polygon then brush labels {str(v)[:20]!r}", [p, _set(b, ("value", "brushlabels"), v)])
              for v in BAD_LABELS]
    cases += [Case(f"type {v!r}", [_set(b, ("type",), v)]) for v in ("BrushLabels", "brush", "polygon")]
    rng = np.random.default_rng(seed)
    cases += [Case("huge label list", [_set(b, ("value", "brushlabels"), [LABEL] * 10000)]),
              Case("huge random rle", [_set(b, ("value", "rle"), rng.integers(0, 256, 200_000).tolist())]),
              Case("huge polygon, one point out", [_set(p, ("value", "points"),
                                                        [*rng.uniform(0, 100, (20_000, 2)).tolist(), [100.5, 3]])])]
    return cases


def unsized_cases(shape: tuple[int, int], seed: int = 0) -> list[Case]:
    """Results whose image size is missing or wrong: malformed when the task does not say its size."""
    mask = valid_mask(shape, seed)
    b, p = brush(mask), polygon(mask)
    h, w = shape
    cases = []
    for kind, region in (("brush", b), ("polygon", p)):
        cases.append(Case(f"{kind} without original_width", [_set(region, ("original_width",), _DROP)], False))
        cases.append(Case(f"{kind} without sizes", [_set(_set(region, ("original_width",), _DROP),
                                                         ("original_height",), _DROP)], False))
        for v in (None, "abc", -5, 0, 10 ** 12, [w], True, w + 0.5, {"w": w}, "1e9"):
            cases.append(Case(f"{kind} original_width {v!r}", [_set(region, ("original_width",), v)], False))
        cases.append(Case(f"{kind} huge sizes", [_set(_set(region, ("original_width",), 10 ** 6),
                                                      ("original_height",), 10 ** 6)], False))
    cases.append(Case("brush sized one row more", [_set(b, ("original_height",), h + 1)], False))
    cases.append(Case("brush sized one column less", [_set(b, ("original_width",), w - 1)], False))
    return cases
