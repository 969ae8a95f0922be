"""The built wheel holds every plug-in that config.yml and endpoints.yml name.

Rasa imports those by dotted name at run time, so a module left out of the
wheel (as bot/components once was) only shows when an installed bot starts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from bot import project

# Built or local-only folders: a stale build/ would otherwise leak old files into the wheel.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "models", "var", "results", "build", "dist",
                                    "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                    ".rasa")


def plugins(root: Path = project.ROOT) -> set[str]:
    """Dotted names of our own classes that Rasa loads: Rasa's built-ins have no dot."""
    config = yaml.safe_load((root / "config.yml").read_text())
    names = {entry["name"] for section in ("pipeline", "policies", "importers")
             for entry in config.get(section) or []}

    def types(node):
        if isinstance(node, dict):
            yield from ([node["type"]] if isinstance(node.get("type"), str) else [])
            for value in node.values():
                yield from types(value)
        elif isinstance(node, list):
            for value in node:
                yield from types(value)

    names |= set(types(yaml.safe_load((root / "endpoints.yml").read_text())))
    return {name for name in names if "." in name}


def test_the_project_names_its_own_plugins():
    # Without this, the wheel test below would pass on a config that names nothing.
    assert {"bot.rasa_plugins.urgency.UrgencyClassifier", "bot.rasa_plugins.faq_importer.FaqImporter",
            "bot.rasa_plugins.nlg.SignpostNLG"} <= plugins()


@pytest.mark.slow
def test_the_wheel_holds_every_plugin_module(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(project.ROOT, source, ignore=NOT_SOURCE)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--quiet", "--disable-pip-version-check", "-w", str(tmp_path / "dist"),
                           str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    files = set(zipfile.ZipFile(wheel).namelist())

    missing = []
    for name in sorted(plugins()):
        parts = name.split(".")[:-1]  # the last part is the class
        packages = ["/".join(parts[:n]) + "/__init__.py" for n in range(1, len(parts))]
        module = "/".join(parts)
        if not ({module + ".py", module + "/__init__.py"} & files and set(packages) <= files):
            missing.append(name)
    assert missing == [], f"{wheel.name} lacks the modules for {missing}"
