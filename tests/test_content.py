"""The staff content check: every mistake is named in words staff can act on,
and a failed check never replaces the current model."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot import content
from bot.training import TrainingError, ensure_model
from conftest import edit_yaml


def faq_entry(data, entry_id):
    return next(e for e in data["faq"] if e["id"] == entry_id)


def service(data, service_id):
    return next(s for s in data["services"] if s["id"] == service_id)


def messages(root: Path) -> list[str]:
    return [str(p) for p in content.check(root)]


def test_the_shipped_content_passes():
    assert content.check() == []


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


def run_check(root: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "check", "--root", str(root), *options],
                          capture_output=True, text=True, timeout=120)


def test_the_check_command_passes_on_good_content(copy):
    done = run_check(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Content OK: 20 services, 22 FAQ answers." in done.stdout


def test_the_check_command_fails_clearly_on_broken_content(copy):
    (copy / "data" / "services.yml").write_text("services:\n  - id: x\n    phone: [\n")
    edit_yaml(copy / "data" / "faq.yml", lambda d: faq_entry(d, "apologies").pop("quote"))
    done = run_check(copy)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "services.yml: this is not valid YAML at line 4" in done.stdout
    assert "entry 'apologies': 'quote' is missing" in done.stdout
    assert "problem(s) found. Nothing was changed" in done.stdout


# --- the essential numbers, the UK number rule and last_verified dates ---------------


@pytest.mark.parametrize("service_id, changed, number", [
    ("police_999", "998", "999"),
    ("police_101", "111", "101"),
    ("childline", "0800 1112", "0800 1111"),
    ("samaritans", "116 000", "116 123"),
    ("silent_solution", "5", "55"),
    ("relay_999", "18001", "18000"),
    ("relay_101", "18001 999", "18001 101"),
])
def test_an_essential_number_cannot_be_changed(copy, service_id, changed, number):
    edit_yaml(copy / "data" / "services.yml", lambda d: service(d, service_id).update(phone=changed))
    assert any(f"services.yml, entry '{service_id}': 'phone' must be \"{number}\", "
               f"not \"{changed}\". People in danger rely on this number" in m for m in messages(copy))


def test_an_essential_number_cannot_be_emptied(copy):
    edit_yaml(copy / "data" / "services.yml",
              lambda d: service(d, "police_999").update(phone=None, web="https://www.police.uk"))
    assert any("entry 'police_999': 'phone' must be \"999\", but it is empty" in m
               for m in messages(copy))


@pytest.mark.parametrize("service_id", sorted(content.ESSENTIAL_NUMBERS))
def test_an_essential_service_cannot_be_deleted(copy, service_id):
    edit_yaml(copy / "data" / "services.yml", lambda d: d["services"].remove(service(d, service_id)))
    assert any(f"services.yml, entry '{service_id}': this service is missing" in m
               for m in messages(copy))


@pytest.mark.parametrize("number", ["0909 123 4567", "+44 808 800 5000", "0808 80 500",
                                    "555-0100", "0808 800 5000 (free)", "1234"])
def test_a_number_that_is_not_a_uk_number_is_refused(copy, number):
    edit_yaml(copy / "data" / "services.yml",
              lambda d: service(d, "nspcc_helpline").update(phone=number))
    assert any(f"services.yml, entry 'nspcc_helpline': 'phone: {number}' does not look like a "
               "UK number" in m for m in messages(copy))


@pytest.mark.parametrize("field, number", [
    ("phone", "01865 123456"), ("phone", "0300 123 1234"), ("phone", "07700 900123"),
    ("phone", "0800 555 111"), ("phone", "116 000"), ("phone", "18001 0808 800 5000"),
    ("phone", "111"), ("text", "85258"),
])
def test_uk_numbers_written_as_documented_are_accepted(copy, field, number):
    edit_yaml(copy / "data" / "services.yml",
              lambda d: service(d, "nspcc_helpline").update({field: number}))
    assert messages(copy) == []


TODAY = dt.date(2027, 3, 15)


def verified(copy: Path, service_id: str, when: dt.date) -> None:
    """Every service checked on TODAY, except ``service_id``, checked ``when``."""
    def change(d):
        for s in d["services"]:
            s["last_verified"] = when if s["id"] == service_id else TODAY
    edit_yaml(copy / "data" / "services.yml", change)


def test_details_checked_7_months_ago_warn_but_pass(copy):
    verified(copy, "childline", dt.date(2026, 8, 14))
    review = content.review(copy, today=TODAY)
    assert review.problems == []
    assert [str(w) for w in _directory_warnings(review)] == [
        f"{copy / 'data' / 'services.yml'}, entry 'childline': 'last_verified' is 2026-08-14, "
        "more than 6 months ago. Check the details against its source, then set last_verified "
        "to the date you checked (after 12 months the check fails)"]


def test_details_checked_13_months_ago_fail(copy):
    verified(copy, "childline", dt.date(2026, 2, 14))
    assert any("entry 'childline': 'last_verified' is 2026-02-14, more than 12 months ago" in m
               for m in [str(p) for p in content.check(copy, today=TODAY)])


def test_details_checked_within_6_months_pass_without_a_warning(copy):
    verified(copy, "childline", dt.date(2026, 9, 15))
    review = content.review(copy, today=TODAY)
    assert (review.problems, _directory_warnings(review)) == ([], [])


def _directory_warnings(review: content.Review) -> list[content.Problem]:
    """The service directory's warnings (the language cards warn while unreviewed)."""
    return [w for w in review.warnings if w.file.name == "services.yml"]


def test_the_command_prints_warnings_and_still_passes(copy):
    verified(copy, "samaritans", dt.date(2026, 8, 1))
    done = run_check(copy, "--today", TODAY.isoformat())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warnings" in done.stdout and "entry 'samaritans': 'last_verified'" in done.stdout
    assert "Content OK" in done.stdout

    verified(copy, "samaritans", dt.date(2026, 1, 1))
    done = run_check(copy, "--today", TODAY.isoformat())
    assert done.returncode == 1
    assert "entry 'samaritans': 'last_verified' is 2026-01-01, more than 12 months ago" in done.stdout


# --- one mistake, one line ------------------------------------------------------------


def test_a_syntax_error_in_the_directory_is_one_problem_naming_the_line(copy):
    services = copy / "data" / "services.yml"
    lines = services.read_text().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if line.strip() == "- id: nspcc_helpline")
    lines.insert(at + 1, "   bad: [\n")  # one line, badly indented and unclosed
    services.write_text("".join(lines))
    done = run_check(copy)
    assert done.returncode == 1
    problems = [line for line in done.stdout.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, done.stdout
    assert "services.yml: this is not valid YAML at line" in problems[0]
    assert "Check the indentation and quotes around that line" in problems[0]
    assert "1 problem(s) found" in done.stdout


def test_an_unreadable_faq_file_is_one_problem(copy):
    (copy / "data" / "faq.yml").write_text("faq:\n  - id: apologies\n    question: [\n")
    (problem,) = messages(copy)
    assert "faq.yml: this is not valid YAML at line" in problem


def test_a_duplicated_key_is_refused_naming_both_lines(copy):
    services = copy / "data" / "services.yml"
    lines = services.read_text().splitlines(keepends=True)
    start = next(n for n, line in enumerate(lines) if line.strip() == "- id: nspcc_helpline")
    phone = next(n for n in range(start, len(lines)) if lines[n].strip().startswith("phone:"))
    lines.insert(phone + 1, '    phone: "0808 800 5001"\n')
    services.write_text("".join(lines))
    (problem,) = messages(copy)
    assert (f"services.yml: 'phone' is given twice, at lines {phone + 1} and {phone + 2}; "
            "each may be given only once in an entry, so keep the right one") in problem
    with pytest.raises(content.ContentError):  # and the bot will not serve it either
        content.load_directory(services, serving=True)


def test_a_duplicated_response_in_the_domain_is_refused(copy):
    domain = copy / "domain.yml"
    domain.write_text(domain.read_text().replace("responses:\n", "responses:\n  utter_goodbye:\n"
                                                 "    - text: Bye.\n", 1))
    assert any("domain.yml: 'utter_goodbye' is given twice, at lines" in m for m in messages(copy))


def test_the_same_mistake_twice_in_an_answer_is_one_problem(copy):
    edit_yaml(copy / "data" / "faq.yml", lambda d: faq_entry(d, "victim_services").update(
        answer="Call [chidline.name] on [chidline], or [chidline] again."))
    found = [m for m in messages(copy) if "[chidline]" in m]
    assert found == [found[0]] and "entry 'victim_services': [chidline] is not a service id" in found[0]


def test_a_flawed_service_is_blamed_once_not_in_every_answer_that_names_it(copy):
    edit_yaml(copy / "data" / "services.yml",
              lambda d: service(d, "childline").update(last_verified="last week"))
    assert messages(copy) == [
        f"{copy / 'data' / 'services.yml'}, entry 'childline': 'last_verified' must be the date the "
        "details were checked, written as YYYY-MM-DD"]


def test_conditional_response_variations_are_accepted(copy):
    def add(d):
        d["responses"]["utter_goodbye"] = [
            {"text": "Take care. If you're worried about your child, call [nspcc_helpline].",
             "condition": [{"type": "slot", "name": "persona", "value": "parent"}]},
            {"text": "Take care. If anyone is in danger right now, call [police_999]."}]
    edit_yaml(copy / "domain.yml", add)
    assert messages(copy) == []
    edit_yaml(copy / "domain.yml", lambda d: d["responses"]["utter_goodbye"][0].update(
        text="Call 0808 800 5000."))
    assert any("entry 'utter_goodbye': the number 0808 800 5000 is written out" in m
               for m in messages(copy))


@pytest.mark.parametrize("change, says", [
    (lambda d: service(d, "childline").update(phnoe="0800 1111"),
     "unknown field(s): phnoe; the fields are id, name, for, phone"),
    (lambda d: service(d, "childline").update(last_verified=dt.date(2999, 1, 1)),
     "'last_verified' is in the future; set it to the date you checked"),
    (lambda d: service(d, "childline").pop("name"), "'name' is missing; add it to the entry"),
    (lambda d: d.update(services={"childline": {}}), "expected a list under 'services:'; the file must start"),
])
def test_each_problem_says_what_to_do(copy, change, says):
    edit_yaml(copy / "data" / "services.yml", change)
    assert any(says in m for m in messages(copy)), messages(copy)


def test_an_emptied_file_is_one_problem_saying_how_to_restore_it(copy):
    (copy / "data" / "services.yml").write_text("# nothing here\n")
    (problem,) = messages(copy)
    assert "services.yml: the file is empty; restore it (git checkout" in problem
