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


def test_layers_hold():
    """import-linter's contracts in pyproject.toml: the layer order and the forbidden imports."""
    import subprocess
    import sys

    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), "import-linter is in requirements.lock"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_nothing_outside_the_cli_imports_it():
    pattern = re.compile(r"^\s*(?:from|import)\s+grainloop\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for folder in ("foundation", "ml", "labeling", "dataset", "flows")
                 for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_no_side_effects_at_import(tmp_path):
    import subprocess
    import sys

    code = "import ml.train, ml.predict, ml.synthetic, grainloop.cli"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, env={"PYTHONPATH": str(ROOT)})
    assert list(tmp_path.iterdir()) == []
