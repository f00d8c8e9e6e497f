"""Rules of the repository that keep the README true and the layers apart."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```", 2)[1]
    return [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.split("#")[0].strip()]


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one():
    commands = _quick_start()
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines(), f"{commands[1]!r} is not a line of .ci/run"


def test_config_folders_are_not_packages():
    for name in ("mlflow", "docker"):
        assert (ROOT / name).is_dir() and not (ROOT / name / "__init__.py").exists()


def _imports(folder: str) -> set[str]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        found |= set(re.findall(r"^\s*(?:import|from)\s+([a-zA-Z_]\w*)", path.read_text(), re.M))
    return found


def test_layers():
    assert not _imports("ml") & {"mlflow", "prefect", "label_studio_sdk", "labeling", "flows"}
    assert not _imports("labeling") & {"torch", "segmentation_models_pytorch", "mlflow", "prefect", "ml", "flows"}


def test_no_side_effects_at_import(tmp_path):
    import subprocess
    import sys

    code = "import ml.train, ml.predict, ml.synthetic, grainloop.cli"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, env={"PYTHONPATH": str(ROOT)})
    assert list(tmp_path.iterdir()) == []
