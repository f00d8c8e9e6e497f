"""Sampling strategies on hand-made probability maps: each orders images as its idea says, scores stay in [0, 1]."""
import numpy as np
import pytest

from ml.sampling import STRATEGIES, Candidate, get_strategy, rank, score_of, summarize
from ml.sampling.kcenter import greedy_k_center
from ml.sampling.typiclust import TypiClust


def _maps(fg: np.ndarray) -> np.ndarray:
    """(2, H, W) probabilities from a foreground probability map."""
    return np.stack([1 - fg, fg]).astype(np.float32)


def _square(inside: float = 0.95, outside: float = 0.05) -> np.ndarray:
    fg = np.full((64, 64), outside, np.float32)
    fg[20:44, 20:44] = inside
    return fg


def _scores(name: str, *maps: np.ndarray) -> list[float]:
    s = get_strategy(name)
    return [score_of(s, Candidate(f"img{i}", m, tta=(m, m))) for i, m in enumerate(maps)]


@pytest.mark.parametrize("name", ["entropy", "margin", "boundary"])
def test_uncertain_images_score_higher_than_confident_ones(name):
    confident, unsure, coin = _maps(_square(0.99, 0.01)), _maps(_square(0.7, 0.3)), _maps(_square(0.55, 0.45))
    a, b, c = _scores(name, confident, unsure, coin)
    assert 0 <= a < b < c <= 1


def test_entropy_and_margin_extremes():
    certain, uniform = _maps(np.ones((8, 8), np.float32)), _maps(np.full((8, 8), 0.5, np.float32))
    assert _scores("entropy", certain, uniform) == pytest.approx([0.0, 1.0], abs=1e-6)
    assert _scores("margin", certain, uniform) == pytest.approx([0.0, 1.0], abs=1e-6)
    three = np.full((3, 4, 4), 1 / 3, np.float32)
    assert _scores("entropy", three) == pytest.approx([1.0], abs=1e-6)


def test_boundary_prefers_doubt_on_grain_edges_at_equal_entropy():
    on_edges, in_background = _square(), _square()
    ring = np.zeros((64, 64), bool)
    ring[19:45, 19:45] = True
    ring[21:43, 21:43] = False  # two pixels each side of the square's edge
    on_edges[ring] = np.where(on_edges[ring] > 0.5, 0.6, 0.4)  # unsure, same argmax
    far = np.zeros((64, 64), bool)
    far[:3] = True  # as many pixels, far from any edge
    assert far.sum() == ring.sum()
    in_background[far] = 0.4
    entropy = _scores("entropy", _maps(on_edges), _maps(in_background))
    boundary = _scores("boundary", _maps(on_edges), _maps(in_background))
    assert entropy[0] == pytest.approx(entropy[1], rel=1e-3)
    assert boundary[0] > boundary[1] + 0.1
    assert _scores("boundary", _maps(np.full((16, 16), 0.3, np.float32))) == [0.0]  # no edge, no score


def test_tta_scores_disagreement_between_flips():
    p = _maps(_square(0.9, 0.1))
    flipped_wrong = _maps(1 - _square(0.9, 0.1))
    s = get_strategy("tta")
    agree = score_of(s, Candidate("a", p, tta=(p, p, p, p)))
    disagree = score_of(s, Candidate("b", p, tta=(p, flipped_wrong, p, p)))
    assert agree == pytest.approx(0.0, abs=1e-6) and 0 < disagree <= 1
    with pytest.raises(ValueError, match="tta=True"):
        score_of(s, Candidate("c", p))


def _pool() -> list[Candidate]:
    """Three near-copies of the hardest image, then a different, slightly easier one, then easy ones."""
    rng = np.random.default_rng(0)
    base, other = rng.normal(size=16), rng.normal(size=16)
    spec = [("hard_a", 0.5, base), ("hard_b", 0.49, base + 1e-3), ("hard_c", 0.48, base - 1e-3),
            ("different", 0.45, other), ("easy", 0.1, rng.normal(size=16))]
    return [Candidate(i, _maps(np.full((8, 8), p, np.float32)), embedding=e) for i, p, e in spec]


def test_kcenter_picks_diverse_embeddings_over_duplicates():
    pool = _pool()
    assert get_strategy("entropy").select(pool, 2) == ["hard_a", "hard_b"]
    assert get_strategy("kcenter").select(pool, 2) == ["hard_a", "different"]
    labeled = [Candidate("seen", embedding=pool[0].embedding)]
    assert get_strategy("kcenter").select(pool, 2, labeled=labeled) == ["different", "easy"]
    with pytest.raises(ValueError, match="embed"):
        get_strategy("kcenter").select([Candidate("x", pool[0].probs)], 1)


def test_greedy_k_center_covers_every_cluster_before_repeating_one():
    points = np.array([[0.0, 0], [0, 0.1], [10, 0], [10, 0.1], [0, 10]])
    cluster = [0, 0, 1, 1, 2]
    assert sorted(cluster[i] for i in greedy_k_center(points, np.zeros((0, 2)), 3)) == [0, 1, 2]
    assert cluster[greedy_k_center(points, points[:3], 1)[0]] == 2  # far from the centres given
    assert greedy_k_center(points, np.zeros((0, 2)), 1, weights=[0.1, 0.2, 0.9, 0.3, 0.5]) == [2]


def _blobs(seed: int = 0) -> list[Candidate]:
    """Three groups of images on the unit sphere (40, 25 and 10 near-copies), each with one outlier."""
    rng = np.random.default_rng(seed)
    pool = []
    for g, n in enumerate((40, 25, 10)):
        centre = np.eye(8)[g] * 5
        pool += [Candidate(f"g{g}_{i:02d}", embedding=centre + rng.normal(scale=0.2, size=8)) for i in range(n)]
        pool.append(Candidate(f"g{g}_outlier", embedding=centre + rng.normal(scale=2.0, size=8)))
    return pool


def test_typiclust_picks_typical_images_from_uncovered_groups_largest_first():
    pool = _blobs()
    picks = get_strategy("typiclust").select(pool, 3)
    assert [p[:2] for p in picks] == ["g0", "g1", "g2"]  # one per group, the largest first
    assert not any("outlier" in p for p in picks)  # typical, not the odd one out
    labeled = [Candidate("seen", embedding=pool[0].embedding)]  # the largest group is covered
    assert [p[:2] for p in get_strategy("typiclust").select(pool, 2, labeled=labeled)] == ["g1", "g2"]
    assert picks == get_strategy("typiclust").select(pool[::-1], 3)  # the pool's order does not matter
    ranked = [i for i, _ in rank("typiclust", pool)]
    assert sorted(ranked) == sorted(c.id for c in pool)  # ranking the whole pool gives every image once
    few_groups = TypiClust(max_groups=3).select(pool, len(pool))  # a large pool: several picks a group
    assert sorted(few_groups) == sorted(c.id for c in pool) and {p[:2] for p in few_groups[:3]} == {"g0", "g1", "g2"}
    with pytest.raises(ValueError, match="embed"):
        get_strategy("typiclust").select([Candidate("x")], 1)


def test_random_is_seeded_and_independent_of_order():
    pool = [Candidate(f"img{i:02d}") for i in range(30)]
    a = get_strategy("random", seed=1).select(pool, 5)
    assert a == get_strategy("random", seed=1).select(pool[::-1], 5)
    assert a != get_strategy("random", seed=2).select(pool, 5)
    assert len(set(a)) == 5


def test_rank_orders_by_information_and_scores_fall_within_0_1():
    pool = _pool()
    ranked = rank("entropy", pool)
    assert [i for i, _ in ranked] == ["hard_a", "hard_b", "hard_c", "different", "easy"]
    for name in ("entropy", "kcenter"):
        scores = [s for _, s in rank(name, pool)]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert [i for i, _ in rank("kcenter", pool)][:2] == ["hard_a", "different"]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_scores_random_maps_within_0_1(name):
    rng = np.random.default_rng(1)
    for k in (2, 4):
        p = rng.dirichlet(np.ones(k), size=(24, 24)).transpose(2, 0, 1)
        c = Candidate("x", p, tta=(p, p[:, ::-1], p[:, :, ::-1], p[:, ::-1, ::-1]), embedding=rng.normal(size=8))
        assert 0.0 <= score_of(get_strategy(name), c) <= 1.0


def test_summarize_keeps_scores_and_drops_maps():
    c = _pool()[0]
    strategies = [get_strategy(n) for n in ("entropy", "boundary", "random")]
    small = summarize(c, strategies)
    assert small.probs is None and small.embedding is not None
    assert [score_of(s, small) for s in strategies] == [score_of(s, c) for s in strategies]
    with pytest.raises(ValueError, match="margin"):
        score_of(get_strategy("margin"), small)


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        get_strategy("entropyy")
    assert all(name in str(err.value) for name in STRATEGIES)


def test_features_give_probabilities_flip_members_and_embeddings():
    import torch

    from ml.data import Sample
    from ml.models import ModelConfig, build_model
    from ml.preprocess import fit
    from ml.sampling.features import candidate, candidates

    torch.manual_seed(0)
    model = build_model(ModelConfig(decoder_channels=(16, 16, 8, 8, 8)))
    img = (np.random.default_rng(0).random((1, 48, 80)) * 255).astype(np.uint8)
    c = candidate(model, img, fit(img), "a", tta=True, embed=True)
    assert c.probs.shape == (2, 48, 80) and np.allclose(c.probs.sum(0), 1, atol=1e-5)
    assert len(c.tta) == 4 and c.tta[0] is c.probs and not np.allclose(c.tta[1], c.probs)
    assert c.embedding.shape == (512,) and not model.encoder._forward_hooks
    np.testing.assert_allclose(candidate(model, img, fit(img), "a", embed=True).embedding, c.embedding, rtol=1e-4)
    flipped = img[:, ::-1].copy()
    assert not np.allclose(candidate(model, flipped, fit(flipped), "b", embed=True).embedding, c.embedding)
    scored = candidates(model, [Sample("a", img, fit(img), None)], [get_strategy("tta"), get_strategy("kcenter")])
    assert scored[0].probs is None and set(scored[0].scores) == {"tta", "kcenter"}
    unscored = candidates(None, [Sample("a", img, fit(img), None)], [get_strategy("random")])  # no model needed
    assert 0 <= unscored[0].scores["random"] < 1
