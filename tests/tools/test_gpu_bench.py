"""``python -m tools.gpu_bench --quick`` on a CPU machine: a table with measured ORT CPU rows and n/a rows."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.gpu_bench", "--quick", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_quick_table_and_json():
    proc = run()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "e2e/bare" in lines[1]
    measured = [ln for ln in lines if " ort-cpu  fp32 " in ln]
    assert len(measured) == 2 and all("100.00/" in ln for ln in measured)  # ORT CPU agrees with itself
    kinds = {ln.split()[1] for ln in lines[2:]}
    assert kinds == {"ort-cpu", "ort-cuda", "ort-trt", "trt"}  # unavailable kinds are rows, not omitted
    assert any("n/a (CPU runs fp32 only)" in ln for ln in lines)
    assert len(lines) == 2 + 4 * 2 * 2

    rows = json.loads(run("--json", "--kinds", "ort-cpu").stdout)
    by_batch = {r["batch"]: r for r in rows if r["precision"] == "fp32"}
    assert set(by_batch) == {1, 8}
    for r in by_batch.values():
        assert r["bare_fps"] > 0 and r["e2e_fps"] > 0 and r["agree_min"] == pytest.approx(1.0)
    assert by_batch[1]["mean_batch"] == 1.0 and 1.0 <= by_batch[8]["mean_batch"] <= 8.0
