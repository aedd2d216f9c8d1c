"""The notebooks run top to bottom in a fast mode (WALKTHROUGH_FAST=1, GRADIENTS_FAST=1).

The kernel is this interpreter (the venv's python): a kernel spec pointing at
``sys.executable`` is written to a temporary folder that ``JUPYTER_PATH`` puts first,
so no user- or system-wide kernel spec is used or changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL_NAME = "translator-walkthrough"


def execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    """Runs ``notebooks/<name>`` in this interpreter's kernel; returns the code outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    spec = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "translator venv", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=240,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def test_walkthrough_runs_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALKTHROUGH_FAST", "1")
    monkeypatch.setenv("WALKTHROUGH_DIR", str(tmp_path / "work"))
    outputs = execute("walkthrough.ipynb", tmp_path, monkeypatch)
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "Traceback" not in text
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 2  # the attention map and the length comparison
    assert "Luong attention" in text and "Cho context vector" in text
    assert "serve it: python app.py --models" in text
    assert (tmp_path / "work" / "exports" / "dates" / "saved_model.pb").is_file()


def test_gradients_notebook_runs_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIENTS_FAST", "1")
    outputs = execute("gradients.ipynb", tmp_path, monkeypatch)
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "Traceback" not in text
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 2  # norm against position, pre-clip norm against step
    assert "first/last at init" in text and "max pre-clip norm" in text
    assert "more of the gradient at position 1 than the vanilla RNN" in text
