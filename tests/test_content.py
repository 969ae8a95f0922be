"""The staff content check: every mistake is named in words staff can act on,
and a failed check never replaces the current model."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot import content, project
from bot.training import TrainingError, ensure_model


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the project's content that a test may break."""
    for name in ("config.yml", "domain.yml"):
        shutil.copy(project.ROOT / name, tmp_path / name)
    shutil.copytree(project.DATA, tmp_path / "data")
    return tmp_path


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def faq_entry(data, entry_id):
    return next(e for e in data["faq"] if e["id"] == entry_id)


def service(data, service_id):
    return next(s for s in data["services"] if s["id"] == service_id)


def messages(root: Path) -> list[str]:
    return [str(p) for p in content.check(root)]


def test_the_shipped_content_passes():
    assert content.check() == []


def test_every_shipped_service_has_a_source_and_a_date():
    directory = content.load_directory()
    for required in content.REQUIRED_SERVICES:
        assert required in directory.services
    for s in directory.services.values():
        assert s.source.startswith("http") and s.last_verified
        assert s.contact


def test_too_few_examples_are_rejected(copy):
    edit_yaml(copy / "data" / "faq.yml",
              lambda d: faq_entry(d, "apologies").update(examples=["did they say sorry"]))
    assert any("entry 'apologies': give at least 15 'examples' (there are 1)" in m
               for m in messages(copy))


def test_malformed_yaml_names_the_file_and_line(copy):
    faq = copy / "data" / "faq.yml"
    faq.write_text(faq.read_text().replace("  - id: apologies", "  - id: apologies\n   bad: [", 1))
    (problem,) = messages(copy)
    assert problem.startswith("data/faq.yml") or "faq.yml" in problem
    assert "not valid YAML at line" in problem


def test_a_missing_field_is_named(copy):
    edit_yaml(copy / "data" / "faq.yml", lambda d: faq_entry(d, "kingfisher_team").pop("answer"))
    assert any("entry 'kingfisher_team': 'answer' is missing" in m for m in messages(copy))


def test_a_missing_source_is_named(copy):
    edit_yaml(copy / "data" / "services.yml", lambda d: service(d, "childline").pop("source"))
    assert any("entry 'childline': 'source' is missing" in m for m in messages(copy))


def test_an_unknown_source_statement_is_named(copy):
    edit_yaml(copy / "data" / "faq.yml", lambda d: faq_entry(d, "apologies").update(source="bbc"))
    assert any("entry 'apologies': 'source' must be one of: tvp_2015, pcc_2015" in m
               for m in messages(copy))


def test_a_quote_not_in_the_statement_is_rejected(copy):
    edit_yaml(copy / "data" / "faq.yml",
              lambda d: faq_entry(d, "charges_since").update(quote="we have charged 48 offenders"))
    assert any("entry 'charges_since': the quote 'we have charged 48 offenders' is not found"
               in m for m in messages(copy))


def test_a_duplicate_id_is_rejected(copy):
    def duplicate(d):
        d["services"].append(dict(service(d, "samaritans")))
    edit_yaml(copy / "data" / "services.yml", duplicate)
    assert any("entry 'samaritans': this id is used twice" in m for m in messages(copy))


def test_an_unknown_service_id_in_an_answer_is_rejected(copy):
    edit_yaml(copy / "data" / "faq.yml", lambda d: faq_entry(d, "victim_services").update(
        answer="Call [chidline] for help."))
    assert any("entry 'victim_services': [chidline] is not a service id" in m
               for m in messages(copy))


def test_a_phone_number_not_in_the_directory_is_rejected(copy):
    edit_yaml(copy / "data" / "faq.yml", lambda d: faq_entry(d, "victim_services").update(
        answer="Call the helpline on 0800 123 4567."))
    assert any("entry 'victim_services': the number 0800 123 4567 is not in the service directory"
               in m for m in messages(copy))


def test_a_written_out_directory_number_must_use_the_service_id(copy):
    domain = copy / "domain.yml"
    domain.write_text(domain.read_text().replace("call [police_999] now", "call 999 now", 1))
    assert any("entry 'utter_emergency': the number 999 is written out; write [police_999]"
               in m for m in messages(copy))


def test_a_required_service_cannot_be_removed(copy):
    edit_yaml(copy / "data" / "services.yml",
              lambda d: d["services"].remove(service(d, "samaritans")))
    assert any("entry 'samaritans': this service is missing" in m for m in messages(copy))


def test_numbers_that_are_not_phone_numbers_are_left_alone():
    text = ("47 offenders, 201 offences, £3.5m since 2011, 100,000 pupils, "
            "2004 to 2010, aged 16 or over, URN 165 18/2/15")
    assert content.phone_numbers(text) == []
    assert content.phone_numbers("call 999, text 18000 or ring 0808 800 5000") == \
        ["999", "18000", "0808 800 5000"]


def test_a_failed_check_trains_nothing_and_leaves_the_model_untouched(copy, model):
    models = copy / "models"
    models.mkdir()
    current = models / model.name
    shutil.copy(model, current)
    before = current.read_bytes()
    (copy / "data" / "services.yml").write_text("services: [oops")

    with pytest.raises(TrainingError) as failure:
        ensure_model(root=copy)
    assert "nothing was trained and the current model is unchanged" in str(failure.value)
    assert "services.yml" in str(failure.value)
    assert sorted(models.iterdir()) == [current]
    assert current.read_bytes() == before


def run_check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "check", "--root", str(root)],
                          capture_output=True, text=True, timeout=120)


def test_the_check_command_passes_on_good_content(copy):
    done = run_check(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Content OK: 13 services, 22 FAQ answers." in done.stdout


def test_the_check_command_fails_clearly_on_broken_content(copy):
    (copy / "data" / "services.yml").write_text("services:\n  - id: x\n    phone: [\n")
    edit_yaml(copy / "data" / "faq.yml", lambda d: faq_entry(d, "apologies").pop("quote"))
    done = run_check(copy)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "services.yml: this is not valid YAML at line 4" in done.stdout
    assert "entry 'apologies': 'quote' is missing" in done.stdout
    assert "problem(s) found. Nothing was changed" in done.stdout
