"""Training is skipped when nothing that shapes the model has changed."""

from __future__ import annotations

import shutil
import subprocess
import sys

from bot import project
from bot.training import ensure_model, fingerprint


def test_training_is_skipped_when_nothing_changed(model):
    before = model.stat().st_mtime_ns
    result = ensure_model()
    assert result.model == model
    assert result.trained is False
    assert model.stat().st_mtime_ns == before


def test_train_command_reports_the_skip(model):
    done = subprocess.run([sys.executable, "-m", "bot", "train"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "training skipped" in done.stdout
    assert str(model) in done.stdout


def _copy_project(tmp_path):
    for name in ("config.yml", "domain.yml"):
        shutil.copy(project.ROOT / name, tmp_path / name)
    shutil.copytree(project.DATA, tmp_path / "data")
    return tmp_path


def test_fingerprint_changes_with_an_answer_and_with_training_data(tmp_path):
    root = _copy_project(tmp_path)
    original = fingerprint(root)
    assert fingerprint(root) == original

    domain = root / "domain.yml"
    domain.write_text(domain.read_text().replace("Take care.", "Take good care."))
    edited_answer = fingerprint(root)
    assert edited_answer != original

    (root / "data" / "nlu" / "extra.yml").write_text('version: "3.1"\nnlu: []\n')
    assert fingerprint(root) not in (original, edited_answer)


def test_fingerprint_ignores_files_that_do_not_shape_the_model(tmp_path):
    root = _copy_project(tmp_path)
    original = fingerprint(root)
    (root / "README.md").write_text("notes")
    assert fingerprint(root) == original
