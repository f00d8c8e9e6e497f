"""Training precision: native bf16 detection, the "auto" rule, forced modes, and a bf16 run's fp32 checkpoint."""
from pathlib import Path

import pytest
import torch

from dataset.pipeline import TrainingRecord, replay_config
from foundation.schema import binary_schema
from ml.checkpoint import read_artifact
from ml.data import find_samples, load_samples, split_samples
from ml.precision import cpu_flags, cpu_model, native_cpu_bf16, resolve_precision
from ml.train import TrainConfig, train
from ml.train_options import train_config

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


def test_native_bf16_is_amx_or_avx512_bf16(tmp_path):
    assert native_cpu_bf16(SAPPHIRE_RAPIDS) and native_cpu_bf16(frozenset({"avx512_bf16"}))
    assert not native_cpu_bf16(AVX2_ONLY) and not native_cpu_bf16(frozenset())
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu avx2 amx_bf16\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "absent") == frozenset()
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu\n")
    assert cpu_model(info) == "AMD EPYC" and cpu_model(tmp_path / "absent") == "unknown CPU"


def test_auto_is_bf16_only_where_native_and_either_can_be_forced():
    assert resolve_precision("auto", "cpu", SAPPHIRE_RAPIDS).name == "bf16"
    assert resolve_precision("auto", "cpu", AVX2_ONLY).name == "fp32"
    forced = resolve_precision("bf16", "cpu", AVX2_ONLY)
    assert forced.dtype == torch.bfloat16 and forced.channels_last
    assert resolve_precision("fp32", "cpu", SAPPHIRE_RAPIDS).dtype is None


def test_an_unknown_precision_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: auto, fp32, bf16"):
        TrainConfig(precision="fp16")
    with pytest.raises(ValueError, match="valid: auto, fp32, bf16"):
        resolve_precision("half", "cpu")


def test_a_bf16_run_trains_and_saves_fp32_weights(synthetic_dataset, tmp_path):
    samples = load_samples(find_samples([synthetic_dataset / "images"], synthetic_dataset / "masks"), binary_schema())
    tr, va = split_samples(samples, 0.25)
    cfg = train_config(epochs=1, decoder_channels=(16, 16, 8, 8, 8), patch=64, patches_per_epoch=8, batch_size=4,
                       threads=2, precision="bf16")
    result = train(cfg, binary_schema(), tr, va, tmp_path)
    assert result.precision == "bf16" and result.state.history[0]["train_loss"] > 0
    weights = read_artifact(Path(result.model_path))[1]
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float32}


def test_a_replay_computes_in_the_precision_the_run_used():
    record = TrainingRecord("dataset-v2", 3, "epochs", 3, None, threads=2, device="cpu", precision="bf16")
    assert replay_config(train_config(), record).precision == "bf16"
    old = TrainingRecord("dataset-v1", 3, "epochs", 3, None, threads=2, device="cpu")
    assert replay_config(train_config(), old).precision == "fp32"
