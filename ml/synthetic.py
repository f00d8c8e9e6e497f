"""Seeded synthetic SEM grain images with exact class and instance masks."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import tifffile
from skimage import measure

from ml.box import Box

GENERATOR_VERSION = "1"  # bump when the output for a given seed changes

_MIN_PIXELS = 12  # grains smaller than this after occlusion are dropped
_HARMONICS = np.arange(2, 7)  # outline wobble frequencies
_SHIFT = 4  # cv2 sub-pixel bits for polygon vertices


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generator; see module docs for the meaning of each."""

    height: int = 256
    width: int = 256
    grains: tuple[int, int] = (10, 30)  # inclusive range of grain count
    radius: tuple[float, float] = (5.0, 35.0)  # px, log-uniform
    elongation: tuple[float, float] = (1.0, 2.2)  # major/minor axis ratio
    irregularity: float = 0.25  # radial outline perturbation (0 = ellipses)
    touching: float = 0.6  # fraction of grains placed against an earlier one
    n_classes: int = 1  # grain phases, class ids 1..n_classes
    noise: float = 0.04  # signal-dependent gaussian noise strength
    curtaining: float = 0.3  # vertical-ish stripe strength (0 disables)
    banner: bool = True  # burn an instrument info banner at the bottom
    banner_height: float = 0.1  # fraction of height
    bit_depth: int = 8  # 8 -> uint8, 16 -> uint16
    pixel_size_um: float | None = 0.5  # recorded in metadata
    # SEM-field realism (all off by default, so the defaults' output is unchanged); see ``sem_field``
    size_sigma: float = 0.0  # > 0: radius log-normal around the range's geometric mean (clipped to it)
    appearance: float = 0.0  # per-image spread of grey levels, polarity, rims, blur and noise (0: one look)
    texture: float = 0.0  # smooth mottling inside grains and on the substrate
    charging: float = 0.0  # bright charged grains with horizontal scan streaks (strength; 0 disables)
    dark_grains: float = 0.25  # with appearance: chance a look asks for grains darker than the substrate (as
    # backscatter or TEM images show them); a substrate too dark for that keeps them bright (about half of those)

    def __post_init__(self) -> None:
        bad = [msg for msg, ok in {
            "height and width must be >= 16": min(self.height, self.width) >= 16,
            "grains must satisfy 0 <= lo <= hi": 0 <= self.grains[0] <= self.grains[1],
            "radius must satisfy 0 < lo <= hi": 0 < self.radius[0] <= self.radius[1],
            "elongation must satisfy 1 <= lo <= hi": 1 <= self.elongation[0] <= self.elongation[1],
            "n_classes must be in 1..255": 1 <= self.n_classes <= 255,
            "bit_depth must be 8 or 16": self.bit_depth in (8, 16),
            "banner_height must be in [0, 0.5]": 0 <= self.banner_height <= 0.5,
            "size_sigma, appearance, texture and charging must be >= 0":
                min(self.size_sigma, self.appearance, self.texture, self.charging) >= 0,
            "dark_grains must be in [0, 1]": 0 <= self.dark_grains <= 1,
        }.items() if not ok]
        if bad:
            raise ValueError("invalid SyntheticConfig: " + "; ".join(bad))


@dataclass(frozen=True)
class SyntheticSample:
    """One generated image with its exact ground truth."""

    image: np.ndarray  # (H, W) uint8 or uint16
    class_map: np.ndarray  # (H, W) uint8, 0 = background, k = phase k
    instance_map: np.ndarray  # (H, W) int32, 0 = background, 1..N = grain ids
    banner: Box | None  # banner strip; both masks are 0 inside it
    meta: dict  # seed, generator version, config, pixel_size_um, n_grains


@dataclass(frozen=True)
class _Shape:
    """A grain outline: centre, semi-axes, orientation and radial harmonics."""

    cy: float
    cx: float
    a: float
    b: float
    theta: float
    amps: np.ndarray
    phases: np.ndarray

    def radius(self, ang: np.ndarray) -> np.ndarray:
        """Outline radius at image-frame angle(s) ``ang`` (atan2(dy, dx) convention)."""
        phi = np.asarray(ang) - self.theta
        ellipse = self.a * self.b / np.hypot(self.b * np.cos(phi), self.a * np.sin(phi))
        wobble = np.cos(np.multiply.outer(phi, _HARMONICS) + self.phases) @ self.amps
        return ellipse * np.maximum(1.0 + wobble, 0.2)


def _radius(rng: np.random.Generator, cfg: SyntheticConfig) -> float:
    """Log-uniform in the range, or log-normal around its geometric mean (``size_sigma``), clipped to it."""
    lo, hi = np.log(cfg.radius)
    if cfg.size_sigma > 0:
        return float(np.exp(np.clip(rng.normal((lo + hi) / 2, cfg.size_sigma), lo, hi)))
    return float(np.exp(rng.uniform(lo, hi)))


def _random_shape(rng: np.random.Generator, cfg: SyntheticConfig) -> _Shape:
    """Log-uniform (or log-normal) size, random elongation, orientation and outline wobble."""
    r = _radius(rng, cfg)
    e = float(np.sqrt(rng.uniform(*cfg.elongation)))
    w = rng.uniform(0.0, 1.0, _HARMONICS.size) / _HARMONICS
    amps = cfg.irregularity * rng.uniform(0.3, 1.0) * w / w.sum()
    phases = rng.uniform(0.0, 2 * np.pi, _HARMONICS.size)
    return _Shape(0.0, 0.0, r * e, r / e, float(rng.uniform(0, np.pi)), amps, phases)


def _place(rng: np.random.Generator, cfg: SyntheticConfig, shape: _Shape,
           placed: list[_Shape], vis_h: int) -> _Shape:
    """Centre ``shape`` against a random earlier grain, or uniformly at random."""
    if placed and rng.random() < cfg.touching:
        other = placed[int(rng.integers(len(placed)))]
        ang = rng.uniform(0.0, 2 * np.pi)
        d = other.radius(ang) + shape.radius(ang + np.pi) - rng.uniform(0.5, 2.5)
        cy, cx = other.cy + d * np.sin(ang), other.cx + d * np.cos(ang)
        if 0 <= cy < vis_h and 0 <= cx < cfg.width:
            return replace(shape, cy=float(cy), cx=float(cx))
    return replace(shape, cy=rng.uniform(0, vis_h), cx=rng.uniform(0, cfg.width))


def _paint(inst: np.ndarray, s: _Shape, gid: int) -> None:
    """Fill grain ``gid`` into ``inst`` in place; later grains occlude earlier ones."""
    ang = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
    r = s.radius(ang)
    pts = np.stack([s.cx + r * np.cos(ang), s.cy + r * np.sin(ang)], axis=1)
    cv2.fillPoly(inst, [np.rint(pts * (1 << _SHIFT)).astype(np.int32)], gid, cv2.LINE_8, _SHIFT)


def _layout(rng: np.random.Generator, cfg: SyntheticConfig, vis_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Paint all grains; return the raw instance map and class per id (0 = background)."""
    n = int(rng.integers(cfg.grains[0], cfg.grains[1] + 1))
    inst = np.zeros((cfg.height, cfg.width), np.int32)
    placed: list[_Shape] = []
    for gid in range(1, n + 1):
        placed.append(_place(rng, cfg, _random_shape(rng, cfg), placed, vis_h))
        _paint(inst, placed[-1], gid)
    return inst, np.concatenate([[0], rng.integers(1, cfg.n_classes + 1, n)])


def _clean(inst: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep each grain's largest 4-connected part if not tiny; renumber 1..N in painting order."""
    comp = measure.label(inst, background=0, connectivity=1)  # regions of equal id
    size = np.bincount(comp.ravel())
    parent = np.zeros(size.size, np.int64)
    parent[comp.ravel()] = inst.ravel()
    key = size * size.size + np.arange(size.size)  # unique: size first, then index breaks ties
    best = np.zeros(classes.size, np.int64)
    np.maximum.at(best, parent, key)
    kept = np.flatnonzero((key == best[parent]) & (size >= _MIN_PIXELS) & (parent > 0))
    kept = kept[np.argsort(parent[kept])]
    lut = np.zeros(size.size, np.int32)
    lut[kept] = np.arange(1, kept.size + 1, dtype=np.int32)
    return lut[comp], np.concatenate([[0], classes[parent[kept]]]).astype(np.uint8)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Dark substrate with a smooth low-frequency variation."""
    coarse = rng.standard_normal((4, 4)).astype(np.float32)
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.float32(rng.uniform(0.1, 0.2)) + np.float32(0.03) * smooth


def _shading(rng: np.random.Generator, inst: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-grain grey level by phase plus a linear gradient towards a common detector side."""
    n = classes.size
    phase_levels = np.linspace(0.45, 0.85, n_classes) if n_classes > 1 else np.array([0.65])
    level = np.concatenate([[0.0], phase_levels])[classes] + rng.normal(0, 0.02, n)
    ang = rng.uniform(0, 2 * np.pi) + rng.normal(0, 0.5, n)
    area = np.maximum(np.bincount(inst.ravel(), minlength=n), 1)
    ys, xs = np.indices(inst.shape, dtype=np.float32)
    cy, cx = (np.bincount(inst.ravel(), v.ravel(), n) / area for v in (ys, xs))
    g = rng.uniform(0.04, 0.12, n) / np.sqrt(area / np.pi)
    gy, gx = g * np.sin(ang), g * np.cos(ang)
    lut = [t.astype(np.float32) for t in (level - gy * cy - gx * cx, gy, gx)]
    return lut[0][inst] + lut[1][inst] * ys + lut[2][inst] * xs


def _rim(rng: np.random.Generator, inst: np.ndarray) -> np.ndarray:
    """Secondary-electron edge effect: bright within 1-3 px inside grain boundaries."""
    ids, cross = inst.astype(np.float32), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    edge = cv2.dilate(ids, cross) != cv2.erode(ids, cross)  # both sides of every id change
    dist = np.minimum(cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3), 16)  # huge if no edges
    glow = np.float32(rng.uniform(0.12, 0.25)) * np.exp(-dist / np.float32(rng.uniform(0.8, 1.5)))
    return np.where(inst > 0, glow, np.float32(0))


def _curtains(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """Near-vertical stripes from a smoothed heavy-tailed 1-D profile, fading downwards."""
    slope = float(np.tan(rng.normal(0.0, 0.05)))
    pad = int(abs(slope) * h) + 2
    prof = cv2.GaussianBlur(rng.laplace(0, 1, (1, w + 2 * pad)).astype(np.float32), (0, 0), 1.2)
    prof *= np.float32(0.1 * strength) / max(float(prof.std()), 1e-6)
    ys, xs = np.ogrid[:h, :w]
    idx = xs + pad + np.rint(ys * slope).astype(np.intp)
    fade = np.linspace(1.0, rng.uniform(0.2, 1.0), h, dtype=np.float32)[:, None]
    return prof[0, idx] * fade


@dataclass(frozen=True)
class _Look:
    """One image's rendering: substrate and grain grey levels, per-grain spread, rim gain, blur and noise gain."""

    background: float = 0.15
    grain: float = 0.65
    spread: float = 0.0
    rim: float = 1.0
    blur: float = 0.6
    noise: float = 1.0


def _lerp(a: float, b: float, t: float) -> float:
    return float(a + (b - a) * t)


def _look(rng: np.random.Generator, t: float, dark: float = 0.25) -> _Look:
    """A random look, ``t`` of the way from the generator's fixed one: brighter or darker substrates, weak or
    inverted contrast (grains darker than the substrate, as in backscatter or TEM images), faint or strong rims,
    defocus and noise."""
    bg = rng.uniform(0.08, 0.55)
    contrast = rng.uniform(0.1, 0.42) * (-1.0 if rng.random() < dark else 1.0)
    grain = bg + contrast if 0.05 <= bg + contrast <= 0.9 else bg - contrast
    base = _Look()
    return _Look(_lerp(base.background, bg, t), _lerp(base.grain, grain, t), t * rng.uniform(0.0, 0.08),
                 _lerp(1.0, rng.uniform(0.1, 1.3), t), _lerp(0.6, rng.uniform(0.6, 1.8), t),
                 _lerp(1.0, rng.uniform(0.7, 1.6), t))


def _mottle(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth zero-mean unit-ish noise with features about ``min(h, w) / cells`` across."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _charge(rng: np.random.Generator, inst: np.ndarray, strength: float) -> np.ndarray:
    """Charging: a few grains glow bright (with a halo) and drag bright streaks to their right along the scan
    lines, decaying over tens of pixels."""
    n = int(inst.max())
    hit = np.flatnonzero(rng.random(n) < 0.05 * strength) + 1
    out = np.zeros(inst.shape, np.float32)
    if hit.size == 0:
        return out
    w = inst.shape[1]
    xs = np.arange(w, dtype=np.float32)
    for gid in hit:
        ys, xg = np.nonzero(inst == gid)
        if ys.size == 0:
            continue
        amp = np.float32(strength * rng.uniform(0.15, 0.4))
        out[ys, xg] += amp
        decay = np.float32(rng.uniform(10, 60))
        for y in np.unique(ys):
            x1 = xg[ys == y].max()
            tail = np.exp(-(xs[x1 + 1:] - x1) / decay) * amp * np.float32(0.6)
            out[y, x1 + 1:] += tail
    return out + cv2.GaussianBlur(out, (0, 0), 3.0) * np.float32(0.5)


def _realism(cfg: SyntheticConfig) -> bool:
    return cfg.appearance > 0 or cfg.texture > 0 or cfg.charging > 0


def _render(rng: np.random.Generator, cfg: SyntheticConfig, inst: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """SEM-like float32 image in [0, 1] rendered from the final instance map."""
    extra = np.random.default_rng(int(rng.integers(2**63))) if _realism(cfg) else None  # draws only when used
    look = _look(extra, cfg.appearance, cfg.dark_grains) if extra is not None else _Look()
    img = _background(rng, cfg.height, cfg.width)
    grains = _shading(rng, inst, classes, cfg.n_classes)
    rim = _rim(rng, inst)
    if extra is not None:
        img = img - np.float32(img.mean() - look.background)
        per_grain = np.concatenate([[0.0], extra.normal(0.0, look.spread, int(inst.max()))]).astype(np.float32)
        grains = grains + np.float32(look.grain - 0.65) + per_grain[inst]
        if cfg.texture > 0:
            h, w = inst.shape
            img += np.float32(0.05 * cfg.texture) * _mottle(extra, h, w, max(4, w // 24))
            grains += np.float32(0.08 * cfg.texture) * _mottle(extra, h, w, max(4, w // 12))
        rim = rim * np.float32(look.rim)
    img = np.where(inst > 0, grains, img) + rim
    if extra is not None and cfg.charging > 0:
        img += _charge(extra, inst, cfg.charging)
    img = cv2.GaussianBlur(img, (0, 0), look.blur)
    if cfg.curtaining > 0:
        img += _curtains(rng, cfg.height, cfg.width, cfg.curtaining)
    sigma = np.float32(cfg.noise * look.noise) * np.sqrt(np.float32(0.3) + np.maximum(img, 0))
    img += sigma * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0.0, 1.0)


def _banner_box(cfg: SyntheticConfig) -> Box | None:
    """The bottom strip hidden by the instrument banner, if any."""
    if not cfg.banner:
        return None
    bh = min(max(6, round(cfg.height * cfg.banner_height)), cfg.height // 2)
    return Box(cfg.height - bh, cfg.height, 0, cfg.width)


def _draw_banner(rng: np.random.Generator, img: np.ndarray, box: Box) -> None:
    """In place: near-black strip, bright separator line, blocky text and a scale bar."""
    sub = img[box.slices]
    sub[:] = rng.uniform(0, 10 / 255)
    sub[: 2 if box.height >= 12 else 1] = 1.0
    ch = max(3, round(box.height * 0.35))
    top = (box.height - ch) // 2 + 1
    x, stop = max(2, ch // 2), int(box.width * 0.6)
    while x + ch < stop:  # one glyph per step, a word gap now and then
        cw = int(rng.integers(max(2, ch // 3), max(3, ch * 2 // 3) + 1))
        sub[top + int(rng.integers(0, ch // 3 + 1)): top + ch, x: x + cw] = rng.uniform(0.85, 1.0)
        x += cw + max(1, ch // 5) + (ch if rng.random() < 0.2 else 0)
    _scale_bar(sub, top, ch)


def _scale_bar(sub: np.ndarray, top: int, ch: int) -> None:
    """In place: a white horizontal bar with end ticks in the right part of the banner."""
    w = sub.shape[1]
    x0, x1 = int(w * 0.75), int(w * 0.95)
    mid, t = top + ch // 2, max(1, ch // 4)
    sub[mid - t // 2: mid - t // 2 + t, x0:x1] = 1.0
    for xa in (x0, x1 - t):
        sub[top: top + ch, xa: xa + t] = 1.0


def generate(cfg: SyntheticConfig, seed: int) -> SyntheticSample:
    """One synthetic SEM image and its exact masks; same (cfg, seed) -> same arrays."""
    rng = np.random.default_rng(seed)
    box = _banner_box(cfg)
    inst, classes = _layout(rng, cfg, box.y0 if box else cfg.height)
    if box:
        inst[box.slices] = 0
    inst, classes = _clean(inst, classes)
    img = _render(rng, cfg, inst, classes)
    if box:
        _draw_banner(rng, img, box)
    meta = {"seed": int(seed), "generator_version": GENERATOR_VERSION, "config": asdict(cfg),
            "pixel_size_um": cfg.pixel_size_um, "n_grains": int(classes.size - 1),
            "banner": box.to_dict() if box else None}
    dtype = np.uint8 if cfg.bit_depth == 8 else np.uint16
    return SyntheticSample(np.rint(img * np.iinfo(dtype).max).astype(dtype), classes[inst], inst, box, meta)


def sem_field(size: int = 448, **changes) -> SyntheticConfig:
    """A preset that looks like a real SEM grain field: dozens to hundreds of small, mostly touching grains with
    log-normal sizes (median radius about 10 px, a few up to 40 px), every image with its own look (substrate and
    grain levels, weak or inverted contrast, faint rims, defocus, noise), mottled grains and substrate, charging
    streaks and curtaining. ``changes`` override any field."""
    scale = size * size / 448**2
    cfg = dict(height=size, width=size, grains=(max(1, round(80 * scale)), max(1, round(260 * scale))),
               radius=(2.5, 40.0), size_sigma=0.55, elongation=(1.0, 2.0), irregularity=0.3, touching=0.85,
               noise=0.08, curtaining=0.5, appearance=1.0, texture=0.6, charging=0.6)
    return SyntheticConfig(**{**cfg, **changes})


def image_seed(seed: int, index: int) -> int:
    """The seed of image ``index`` in a dataset generated with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _write_sample(out_dir: Path, name: str, s: SyntheticSample) -> dict:
    """Write image, class mask and instance map of one sample; return its manifest entry."""
    px = s.meta["pixel_size_um"]
    res = {"resolution": (1e4 / px, 1e4 / px), "resolutionunit": "CENTIMETER"} if px else {}
    files = {"image": f"images/{name}.tif", "mask": f"masks/{name}.png", "instances": f"instances/{name}.tif"}
    tifffile.imwrite(out_dir / files["image"], s.image, description=json.dumps(s.meta), **res)
    if not cv2.imwrite(str(out_dir / files["mask"]), s.class_map):
        raise OSError(f"could not write {out_dir / files['mask']}")
    tifffile.imwrite(out_dir / files["instances"], s.instance_map, compression="zlib")
    return {"name": name, "seed": s.meta["seed"], "n_grains": s.meta["n_grains"], "banner": s.meta["banner"], **files}


def write_samples(out_dir: Path, samples: Iterable[tuple[str, SyntheticSample]], manifest: dict) -> list[Path]:
    """Write named samples (images/, masks/, instances/) plus ``manifest.json`` (``manifest`` and the images'
    entries) under ``out_dir``; return the image paths."""
    out_dir = Path(out_dir)
    for sub in ("images", "masks", "instances"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    entries = [_write_sample(out_dir, name, s) for name, s in samples]
    (out_dir / "manifest.json").write_text(json.dumps({**manifest, "images": entries}, indent=2, sort_keys=True) + "\n")
    return [out_dir / e["image"] for e in entries]


def write_dataset(out_dir: Path, n: int, cfg: SyntheticConfig, seed: int) -> list[Path]:
    """Write ``n`` samples plus ``manifest.json`` under ``out_dir``; return the image paths."""
    samples = ((f"syn_{i:04d}", generate(cfg, image_seed(seed, i))) for i in range(n))
    return write_samples(out_dir, samples, {"generator": "ml.synthetic", "generator_version": GENERATOR_VERSION,
                                            "seed": int(seed), "n": int(n), "config": asdict(cfg)})
