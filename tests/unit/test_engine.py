"""CPU inference engines (ml.engine): class maps of a briefly trained model equal the fp32 eager model's through
predict_image, the factory's errors list the valid choices, the ONNX export is cached by weights, "auto" follows
the CPU's flags, and hooks or training mode fall back to the torch model. Engines not installed are skipped."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ml.engine as engine_mod
import ml.engine_export as export_mod
from foundation.schema import binary_schema
from ml.checkpoint import load_model, state_sha256, weights_sha256
from ml.data import find_samples, load_samples, split_samples
from ml.engine import Accelerated, EngineConfig, accelerate, choose
from ml.engine_export import calibration_windows
from ml.engine_runners import installed
from ml.io import list_images, read_image
from ml.predict import PredictConfig, predict_image
from ml.preprocess import PreprocessConfig, fit
from ml.sampling.features import candidate
from ml.train import train
from ml.train_options import train_config

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
PREDICT = PredictConfig(tile=128, overlap=32, batch_size=4)
AGREEMENT = {"fp32": 0.999, "bf16": 0.995, "int8": 0.99}  # int8 of a model trained for seconds; the benchmark
# reports a trained model's (goal 0.995)
PAIRS = [("torch", "bf16"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"),
         ("openvino", "bf16"), ("openvino", "int8")]
ZEN4 = AVX2_ONLY | {"avx512f", "avx512_bf16", "avx512_vnni"}
ALDER_LAKE = AVX2_ONLY | {"avx_vnni"}


@pytest.fixture(scope="module")
def trained(synthetic_dataset, tmp_path_factory) -> Path:
    """A Unet-resnet18 (small decoder) trained for a few seconds on the synthetic dataset: its model.pt."""
    samples = load_samples(find_samples([synthetic_dataset / "images"], synthetic_dataset / "masks"), binary_schema())
    tr, va = split_samples(samples, 0.25)
    cfg = train_config(epochs=3, decoder_channels=(32, 16, 16, 16, 16), patch=96, patches_per_epoch=32, batch_size=8,
                       threads=2, precision="fp32", lr=3e-3)
    return train(cfg, binary_schema(), tr, va, tmp_path_factory.mktemp("engine_model")).model_path


@pytest.fixture(scope="module")
def images(synthetic_dataset) -> list[np.ndarray]:
    return [read_image(p) for p in list_images(synthetic_dataset / "images")[:3]]


def _labels(model: torch.nn.Module, images: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([predict_image(model, im, PREDICT).labels.ravel() for im in images])


def _calibration(trained, synthetic_dataset):
    return calibration_windows(list_images(synthetic_dataset / "images"), load_model(trained)[1].preprocess, PREDICT)


@pytest.mark.parametrize("engine,precision", PAIRS)
def test_each_engine_gives_the_eager_class_map(trained, images, synthetic_dataset, engine, precision, monkeypatch):
    if not installed(engine):
        pytest.skip(f"{engine} is not installed")
    model, _ = load_model(trained)
    reference = _labels(model, images)
    calibration = _calibration(trained, synthetic_dataset) if precision == "int8" else None
    fast = accelerate(model, trained, EngineConfig(engine, precision, threads=2), calibration)
    assert isinstance(fast, Accelerated) and (fast.engine, fast.precision) == (engine, precision)
    if precision == "int8" and not fast.check.passed:  # this engine's int8 changes this model's maps: forced, it
        assert "% of check pixels equal fp32" in fast.note  # says so; auto never takes it
        monkeypatch.setattr(engine_mod, "installed", lambda e: e in {"torch", engine})
        monkeypatch.setattr(engine_mod, "native_cpu_int8", lambda flags=None: True)
        assert accelerate(model, trained, EngineConfig(threads=2), calibration).precision != "int8"
        return
    agreement = float((_labels(fast, images) == reference).mean())
    assert agreement >= AGREEMENT[precision], f"{engine} {precision}: {agreement:.5f} of pixels agree"


def test_torch_fp32_is_the_model_itself(trained):
    model, _ = load_model(trained)
    assert accelerate(model, trained, EngineConfig("torch", "fp32")) is model


@pytest.mark.parametrize("changes,message", [
    ({"engine": "tensorrt"}, "choose one of: auto, torch, onnxruntime, openvino"),
    ({"precision": "fp16"}, "choose one of: auto, fp32, bf16, int8"),
    ({"engine": "onnxruntime", "precision": "bf16"}, "engine onnxruntime has no bf16; choose one of: auto, fp32, int8"),
    ({"engine": "torch", "precision": "int8"}, "engine torch has no int8; choose one of: auto, fp32, bf16"),
    ({"threads": 0}, "threads must be >= 1"),
])
def test_the_factory_lists_the_valid_choices(changes, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**changes)


def test_int8_without_calibration_windows_is_refused(trained):
    if not installed("onnxruntime"):
        pytest.skip("onnxruntime is not installed")
    with pytest.raises(ValueError, match="int8 needs calibration windows"):
        accelerate(load_model(trained)[0], trained, EngineConfig("onnxruntime", "int8"))


def test_the_export_is_cached_by_weights(trained, tmp_path, monkeypatch):
    if not installed("onnxruntime"):
        pytest.skip("onnxruntime is not installed")
    exports = []
    real = torch.onnx.export
    monkeypatch.setattr(export_mod.torch.onnx, "export", lambda *a, **k: exports.append(1) or real(*a, **k))
    model_file = tmp_path / "model.pt"
    model_file.write_bytes(trained.read_bytes())
    model, _ = load_model(model_file)
    assert state_sha256(model.state_dict()) == weights_sha256(model_file)
    accelerate(model, model_file, EngineConfig("onnxruntime", "fp32"))
    accelerate(model, model_file, EngineConfig("onnxruntime", "fp32"))
    assert len(exports) == 1
    assert [p.name for p in (tmp_path / "model.pt.engines").iterdir()] == \
        [f"{weights_sha256(model_file)[:20]}-fp32.onnx"]
    with torch.no_grad():
        next(model.parameters()).add_(0.01)  # other weights: exported again
    accelerate(model, model_file, EngineConfig("onnxruntime", "fp32"))
    assert len(exports) == 2


@pytest.mark.parametrize("have,flags,expected", [
    ({"torch", "onnxruntime", "openvino"}, SAPPHIRE_RAPIDS, ("openvino", "bf16")),
    ({"torch", "onnxruntime", "openvino"}, AVX2_ONLY, ("onnxruntime", "fp32")),
    ({"torch", "openvino"}, AVX2_ONLY, ("openvino", "fp32")),
    ({"torch", "onnxruntime"}, SAPPHIRE_RAPIDS, ("torch", "bf16")),
    ({"torch", "onnxruntime"}, AVX2_ONLY, ("onnxruntime", "fp32")),
    ({"torch"}, AVX2_ONLY, ("torch", "fp32")),
])
def test_auto_follows_the_cpu_flags_and_the_installed_engines(monkeypatch, have, flags, expected):
    monkeypatch.setattr(engine_mod, "installed", lambda e: e in have)
    assert choose(EngineConfig(), flags) == expected


@pytest.mark.parametrize("have,flags,expected", [
    ({"torch", "onnxruntime", "openvino"}, ZEN4, ("openvino", "int8")),
    ({"torch", "onnxruntime"}, ZEN4, ("onnxruntime", "int8")),
    ({"torch", "openvino"}, ALDER_LAKE, ("openvino", "int8")),
    ({"torch"}, ZEN4, ("torch", "bf16")),
    ({"torch", "onnxruntime", "openvino"}, AVX2_ONLY, ("onnxruntime", "fp32")),
])
def test_auto_takes_int8_given_calibration_windows_where_the_cpu_has_int8_dot_products(monkeypatch, have, flags,
                                                                                         expected):
    monkeypatch.setattr(engine_mod, "installed", lambda e: e in have)
    assert choose(EngineConfig(), flags, int8=True) == expected
    assert choose(EngineConfig(), flags)[1] != "int8"  # no calibration windows: never int8
    assert choose(EngineConfig(engine="torch"), flags, int8=True)[1] != "int8"


def test_auto_keeps_int8_only_where_the_check_passes(trained, synthetic_dataset, tmp_path, monkeypatch):
    """On a CPU with VNNI, "auto" with calibration windows runs int8 when a graph keeps the class maps, and the
    float choice when none does; the check runs once per graph and engine (cached beside it)."""
    if not installed("onnxruntime"):
        pytest.skip("onnxruntime is not installed")
    import ml.engine_int8 as int8_mod

    monkeypatch.setattr(engine_mod, "installed", lambda e: e in {"torch", "onnxruntime"})
    monkeypatch.setattr(engine_mod, "native_cpu_int8", lambda flags=None: True)
    checks = []
    real = int8_mod.agreement
    monkeypatch.setattr(int8_mod, "agreement", lambda *a: checks.append(1) or real(*a))
    model_file = tmp_path / "model.pt"
    model_file.write_bytes(trained.read_bytes())
    model, _ = load_model(model_file)
    windows = _calibration(trained, synthetic_dataset)

    monkeypatch.setattr(int8_mod, "INT8_FLOOR", 0.0)  # every graph passes: the first (every convolution) is kept
    fast = accelerate(model, model_file, EngineConfig(threads=2), windows)
    assert (fast.engine, fast.precision) == ("onnxruntime", "int8") and "every convolution" in fast.note
    accelerate(model, model_file, EngineConfig(threads=2), windows)
    assert len(checks) == 1

    monkeypatch.setattr(int8_mod, "INT8_FLOOR", 1.01)  # none passes: auto falls back to a float precision
    fast = accelerate(model, model_file, EngineConfig(threads=2), windows)
    assert fast.precision in ("bf16", "fp32") and fast.note == ""
    forced = accelerate(model, model_file, EngineConfig(precision="int8", threads=2), windows)
    assert forced.precision == "int8" and "the encoder" in forced.note  # forced: the last graph tried, said so
    assert len(checks) == 2  # the encoder's graph was checked once; every convolution's was cached


def test_a_forced_engine_takes_auto_precision_only_where_it_has_it():
    assert choose(EngineConfig(engine="torch"), SAPPHIRE_RAPIDS) == ("torch", "bf16")
    assert choose(EngineConfig(engine="onnxruntime"), SAPPHIRE_RAPIDS) == ("onnxruntime", "fp32")
    assert choose(EngineConfig(precision="fp32"), SAPPHIRE_RAPIDS)[1] == "fp32"


def test_hooks_and_training_mode_run_the_torch_model(trained, images):
    """kcenter's embedding hooks the encoder: the pass runs in torch, so the embedding equals eager's."""
    model, _ = load_model(trained)
    fast = accelerate(model, trained, EngineConfig("torch", "bf16"))
    calls = []
    fast.runner, runner = (lambda x: calls.append(1) or runner(x)), fast.runner
    state = fit(images[0], PreprocessConfig())
    eager = candidate(model, images[0], state, "a", PREDICT, embed=True)
    accelerated = candidate(fast, images[0], state, "a", PREDICT, embed=True)
    assert not calls and np.allclose(accelerated.embedding, eager.embedding)
    candidate(fast, images[0], state, "a", PREDICT, embed=False)
    assert calls, "without a hook the engine runs"
    calls.clear()
    with torch.no_grad():
        fast.train()(torch.zeros(1, 1, 64, 64))
    assert not calls and fast.model.training
    fast.eval()


def test_calibrate_keeps_a_candidate_no_slower_than_eager(trained):
    model, _ = load_model(trained)
    fast = accelerate(model, trained, EngineConfig(calibrate=True, threads=2))
    assert fast is model or isinstance(fast, Accelerated)


def test_concurrent_calls_give_the_sequential_results(trained):
    """A server calls one accelerated model from several threads (the backend's concurrent requests)."""
    from concurrent.futures import ThreadPoolExecutor

    engine = "openvino" if installed("openvino") else "onnxruntime"
    if not installed(engine):
        pytest.skip("no ONNX engine installed")
    fast = accelerate(load_model(trained)[0], trained, EngineConfig(engine, "fp32", threads=1))
    inputs = [torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    with torch.inference_mode():
        sequential = [fast(x) for x in inputs]
        with ThreadPoolExecutor(4) as pool:
            concurrent = list(pool.map(fast, inputs))
    assert all(torch.equal(a, b) for a, b in zip(sequential, concurrent))


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_several_channels_and_classes_and_any_window_size(tmp_path, monkeypatch, engine):
    """A model without a file (the served MLflow model) is exported to the user's cache."""
    if not installed(engine):
        pytest.skip(f"{engine} is not installed")
    from ml.models import ModelConfig, build_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    torch.manual_seed(0)
    model = build_model(ModelConfig(in_channels=2, classes=3, decoder_channels=(16,) * 5)).eval()
    fast = accelerate(model, None, EngineConfig(engine, "fp32", threads=1))
    assert len(list((tmp_path / "grainloop" / "engines").glob("*-fp32.onnx"))) == 1
    for shape in [(1, 2, 64, 64), (3, 2, 96, 160)]:
        x = torch.rand(shape)
        with torch.inference_mode():
            assert torch.allclose(fast(x), model(x), atol=1e-3), shape


def test_auto_int8_takes_the_next_engine_when_the_fastest_misses_the_check(monkeypatch):
    """OpenVINO and ONNX Runtime run a QDQ graph differently: auto takes the first engine whose graph passes."""
    from ml.engine_int8 import Int8Check
    from ml.models import ModelConfig, build_model

    monkeypatch.setattr(engine_mod, "installed", lambda e: True)
    monkeypatch.setattr(engine_mod, "native_cpu_int8", lambda flags=None: True)
    agreements = {"openvino": 0.91, "onnxruntime": 0.997}
    monkeypatch.setattr(engine_mod, "_int8", lambda model, model_file, engine, threads, calibration:
                        (lambda x: x, Int8Check("all", agreements[engine])))
    model = build_model(ModelConfig(in_channels=1, classes=2, decoder_channels=(16,) * 5))
    fast = accelerate(model, None, EngineConfig(threads=1), [np.zeros((1, 1, 64, 64), np.float32)])
    assert (fast.engine, fast.precision, fast.check.agreement) == ("onnxruntime", "int8", 0.997)
