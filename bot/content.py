"""Staff-edited content: the service directory, the FAQ and their sources.

Staff keep phone numbers and FAQ answers up to date without touching code, so
everything here is checked before it can reach a model or a user. Every
problem is reported as "file, entry: what is wrong and what to do", never as
a traceback. The same loaders are used by the check (``make faq-check``), by
training (the FAQ becomes Rasa data) and by the engine (answers name services
by id, and the engine fills in the details from the directory).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bot import project

SERVICES_FILE = project.DATA / "services.yml"
FAQ_FILE = project.DATA / "faq.yml"
SOURCES_FILE = project.DATA / "sources" / "sources.yml"
LANGUAGES_FILE = project.DATA / "languages.yml"

MIN_FAQ_EXAMPLES = 15
# The numbers the bot's emergency and safety answers rely on. The check refuses
# any other value, and a deleted entry: a slip of the keyboard here would send
# someone in danger to a wrong number. If one ever really changes nationally,
# that is a reviewed code change here, not a content edit.
ESSENTIAL_NUMBERS = {
    "police_999": "999",
    "police_101": "101",
    "silent_solution": "55",
    "relay_999": "18000",
    "relay_101": "18001 101",
    "childline": "0800 1111",
    "samaritans": "116 123",
}
REQUIRED_SERVICES = tuple(ESSENTIAL_NUMBERS)
# Details not re-checked for this long get a warning, and then fail the check.
VERIFY_WARN_MONTHS = 6
VERIFY_FAIL_MONTHS = 12
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# [service_id] or [service_id.field] inside an answer.
PLACEHOLDER = re.compile(r"\[([a-z][a-z0-9_]*)(?:\.([a-z]+))?\]")
PLACEHOLDER_FIELDS = ("name", "phone", "text", "web", "for", "hours")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, in words a member of staff can act on."""

    file: Path
    entry: str | None
    message: str

    def __str__(self) -> str:
        where = shown(self.file) + (f", entry '{self.entry}'" if self.entry else "")
        return f"{where}: {self.message}"


class ContentError(Exception):
    """The content has problems; ``problems`` says what they are."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    for_whom: str
    source: str
    last_verified: dt.date
    phone: str | None = None
    text: str | None = None
    web: str | None = None
    hours: str | None = None
    note: str | None = None

    @property
    def contact(self) -> str:
        """The main way to reach the service: phone, else text, else web."""
        return self.phone or self.text or self.web or ""

    def field(self, name: str | None) -> str | None:
        if name is None:
            return self.contact
        return self.for_whom if name == "for" else getattr(self, name, None)

    @property
    def numbers(self) -> set[str]:
        """Every number in its phone and text fields, as bare digits ("999, then 55" gives 999 and 55)."""
        found: set[str] = set()
        for value in (self.phone, self.text):
            found |= {_digits(m) for m in _NUMBER.findall(value or "")}
        return found


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    examples: tuple[str, ...]
    answer: str
    source: str
    quotes: tuple[str, ...]


@dataclass(frozen=True)
class LanguageCard:
    """The card in one language: its sentences by the key of their English original."""

    code: str
    name: str  # in the language itself: what a button shows
    english_name: str
    rtl: bool
    reviewed: dt.date | None  # when a native speaker last reviewed it; None: never
    text: dict[str, str]


@dataclass(frozen=True)
class Directory:
    """The services by id, and the rendering of ``[id]`` placeholders."""

    services: dict[str, Service]

    def render(self, text: str) -> str:
        def fill(match: re.Match) -> str:
            service = self.services.get(match.group(1))
            value = service.field(match.group(2)) if service else None
            return value or match.group(0)

        return PLACEHOLDER.sub(fill, text)

    def numbers(self) -> dict[str, str]:
        """Each known number (as digits) and the id of the service it belongs to.

        A number two entries share (emergencySMS texts 999) belongs to the
        first, the one it is the main number of."""
        owners: dict[str, str] = {}
        for s in self.services.values():
            for number in sorted(s.numbers):
                owners.setdefault(number, s.id)
        return owners


# --- loading -----------------------------------------------------------------


def load_directory(path: Path = SERVICES_FILE, serving: bool = False) -> Directory:
    """The service directory. ``serving``: as the bot serves it, so an essential
    number changed after the check ran (999, 101, Childline...) is refused here too."""
    services, problems = _read_services(path)
    if not _unreadable(problems, path):
        problems += _missing_required(services, path, _flawed(problems, path))
    if serving and not problems:
        problems += essential_number_problems(services, path)
    if problems:
        raise ContentError(problems)
    return Directory(services)


def load_sources(path: Path = SOURCES_FILE) -> dict[str, Source]:
    sources, problems = _read_sources(path)
    if problems:
        raise ContentError(problems)
    return sources


def load_faq(path: Path = FAQ_FILE, sources_path: Path = SOURCES_FILE) -> list[FaqEntry]:
    sources, problems = _read_sources(sources_path)
    entries, more = _read_faq(path, sources)
    if problems + more:
        raise ContentError(problems + more)
    return entries


def load_languages(path: Path = LANGUAGES_FILE,
                   services: Path = SERVICES_FILE) -> tuple[dict[str, str], list[LanguageCard]]:
    """The English originals of the language card, and the card in each language."""
    directory = load_directory(services)
    english, cards, problems = _read_languages(path, directory)
    if problems:
        raise ContentError(problems)
    return english, cards


def response_text(name: str, domain_path: Path = project.DOMAIN) -> str:
    """A response's text straight from domain.yml (placeholders not yet filled in).

    For replies that must not depend on the model, such as /emergency.
    """
    found = responses(domain_path)
    if not found.get(name):
        raise ContentError([Problem(domain_path, name, "this response is missing")])
    return str(default_variation(found[name])["text"])


def default_variation(variations: list[dict]) -> dict:
    """The variation given when no slot condition applies (the first without a ``condition``).

    Conditional variations (a ``condition:`` on a response) are for a
    particular person or topic; a fixed reply is the one for anybody.
    """
    return next((v for v in variations if not v.get("condition")), variations[0])


def responses(domain_path: Path = project.DOMAIN) -> dict[str, list[dict]]:
    """The domain's responses by name, each a list of variations (text and buttons, unfilled)."""
    problems: list[Problem] = []
    data = _read_yaml(domain_path, problems) or {}
    if problems:
        raise ContentError(problems)
    return {str(name): [v for v in variations or [] if isinstance(v, dict) and v.get("text")]
            for name, variations in (data.get("responses") or {}).items()}


def faq_response_text(entry: FaqEntry, sources: dict[str, Source]) -> str:
    """The bot's reply for an FAQ entry: the answer, then a short citation."""
    return f"{entry.answer.strip()}\n\nSource: {sources[entry.source].title}."


def faq_quote_text(entry: FaqEntry, sources: dict[str, Source]) -> str:
    """The reply to a follow-up the bot could not place ("since when?", "what did he say?").

    People often follow an answer with a question that only makes sense after
    it. The statement's own words are the fullest true answer the bot has, and
    the closing line keeps 999 and 101 in case the person meant something else.
    """
    quoted = "\n\n".join(f"“{q.strip()}”" for q in entry.quotes)
    return (f"In the statement's own words:\n\n{quoted}\n\nSource: {sources[entry.source].title}.\n\n"
            "If you meant something else, ask in other words or choose a topic. If anyone is in "
            "danger right now, call [police_999]. To report a worry about a child, call [police_101].")


# --- the check ---------------------------------------------------------------


class ContentPaths(NamedTuple):
    services: Path
    faq: Path
    sources: Path
    domain: Path


def paths(root: Path = project.ROOT) -> ContentPaths:
    """Where the content files are in the project at ``root``."""
    def at(path: Path) -> Path:
        return root / path.relative_to(project.ROOT)

    return ContentPaths(at(SERVICES_FILE), at(FAQ_FILE), at(SOURCES_FILE), at(project.DOMAIN))


class Review(NamedTuple):
    problems: list[Problem]  # must be fixed: the check fails and nothing is trained
    warnings: list[Problem]  # should be seen to soon; nothing is stopped yet
    services: dict[str, Service]  # what could be read, for the check's summary
    faq: list[FaqEntry]


def check(root: Path = project.ROOT, today: dt.date | None = None) -> list[Problem]:
    """Everything wrong with the staff content and the bot's responses."""
    return review(root, today).problems


def review(root: Path = project.ROOT, today: dt.date | None = None) -> Review:
    """The check's problems and warnings; ``today`` defaults to the clock."""
    today = today or dt.date.today()
    services_path, faq_path, sources_path, domain_path = paths(root)
    services, problems = _read_services(services_path, today)
    directory_read = not _unreadable(problems, services_path)
    flawed = _flawed(problems, services_path)
    if directory_read:
        problems += _missing_required(services, services_path, flawed)
        problems += essential_number_problems(services, services_path)
    stale, warnings = verification_problems(services, services_path, today)
    problems += stale
    sources, more = _read_sources(sources_path)
    problems += more
    entries, more = _read_faq(faq_path, sources)
    problems += more
    directory = Directory(services)
    answers = [(faq_path, entry.id, entry.answer) for entry in entries]
    answers += [(domain_path, name, text) for name, texts in _domain_texts(domain_path, problems)
                for text in texts]
    if directory_read:
        for file, name, text in answers:
            problems += check_answer(text, directory, file, name, flawed)
    languages_path = root / LANGUAGES_FILE.relative_to(project.ROOT)
    # The cards name services too: with no directory to check them against, they wait.
    _, cards, more = (_read_languages(languages_path, directory, flawed) if directory_read
                      else (None, [], []))
    problems += more
    warnings += [Problem(languages_path, card.code, f"no native speaker has reviewed the "
                         f"{card.english_name} card yet; ask one to, then set "
                         "'reviewed_by_native_speaker' to the date of the review")
                 for card in cards if card.reviewed is None]
    # One line per mistake: the same placeholder twice in an answer, or in two
    # variations of a response, is one thing to fix.
    problems = list(dict.fromkeys(problems))
    return Review(problems, warnings, services, entries)


def essential_number_problems(services: dict[str, Service], path: Path) -> list[Problem]:
    """Each essential service must still have exactly its number (see ESSENTIAL_NUMBERS)."""
    problems = []
    for service_id, number in ESSENTIAL_NUMBERS.items():
        service = services.get(service_id)
        written = " ".join((service.phone or "").split()) if service else number
        if written != number:
            now = f'not "{written}"' if written else "but it is empty"
            problems.append(Problem(path, service_id, f"'phone' must be \"{number}\", {now}. People "
                                    "in danger rely on this number, so the check refuses any change "
                                    "to it; put it back"))
    return problems


def verification_problems(services: dict[str, Service], path: Path,
                          today: dt.date) -> tuple[list[Problem], list[Problem]]:
    """Entries whose details were last checked too long ago: (failures, warnings)."""
    def stale(checked: dt.date, months: int) -> str:
        return (f"'last_verified' is {checked:%Y-%m-%d}, more than {months} months ago. Check the "
                "details against its source, then set last_verified to the date you checked")

    failures, warnings = [], []
    for service in services.values():
        checked = service.last_verified
        if checked < months_before(today, VERIFY_FAIL_MONTHS):
            failures.append(Problem(path, service.id, stale(checked, VERIFY_FAIL_MONTHS)))
        elif checked < months_before(today, VERIFY_WARN_MONTHS):
            warnings.append(Problem(path, service.id, stale(checked, VERIFY_WARN_MONTHS)
                                    + f" (after {VERIFY_FAIL_MONTHS} months the check fails)"))
    return failures, warnings


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier (the month's last day if it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return day.replace(year=year, month=month + 1,
                       day=min(day.day, calendar.monthrange(year, month + 1)[1]))


def check_answer(text: str, directory: Directory, file: Path, entry: str,
                 flawed: frozenset[str] = frozenset()) -> list[Problem]:
    """Placeholders must name real services; numbers must come from the directory.

    ``flawed``: ids of directory entries that exist but have problems of their
    own; answers naming them are not blamed for it.
    """
    problems = []
    for match in PLACEHOLDER.finditer(text):
        service_id, field = match.groups()
        if service_id in flawed:
            continue
        if service_id not in directory.services:
            problems.append(Problem(file, entry, f"[{service_id}] is not a service id in "
                                    f"data/services.yml; known ids: {', '.join(directory.services)}"))
        elif field and field not in PLACEHOLDER_FIELDS:
            problems.append(Problem(file, entry, f"[{match.group(0)[1:-1]}] asks for '{field}'; "
                                    f"use one of {', '.join(PLACEHOLDER_FIELDS)}"))
        elif not directory.services[service_id].field(field):
            problems.append(Problem(file, entry, f"[{match.group(0)[1:-1]}] is empty: "
                                    f"the service has no {field} in the directory"))
    known = directory.numbers()
    for number in phone_numbers(PLACEHOLDER.sub(" ", text)):
        owner = known.get(_digits(number))
        if owner:
            problems.append(Problem(file, entry, f"the number {number} is written out; write "
                                    f"[{owner}] instead, so it is kept in one place"))
        else:
            problems.append(Problem(file, entry, f"the number {number} is not in the service "
                                    "directory (data/services.yml); add the service there "
                                    "with its source, then refer to it by id"))
    return problems


# The numbers a directory entry may give (spaces ignored). The rule is also
# written for staff at the top of data/services.yml; keep the two in step.
_UK_NUMBER = re.compile(
    r"0[1237]\d{9}"        # 01/02 landline, 03 non-geographic, 07 mobile: 11 digits
    r"|080[08]\d{6,7}"     # 0800 / 0808 freephone: 10 or 11 digits
    r"|08001111"           # and Childline's 0800 1111
    r"|116\d{3}"           # the 116 helplines, such as Samaritans' 116 123
    r"|999|112|101|111|55"  # emergency, police non-emergency, NHS 111, the Silent Solution
    r"|18000")             # Relay UK's emergency number
_SMS_SHORT_CODE = re.compile(r"[6-8]\d{4}")  # five-digit text short codes, such as 85258
_RELAY_PREFIX = "18001"  # Relay UK: 18001 before any number above


def uk_number(value: str, field: str = "phone") -> bool:
    """Whether a directory entry's phone (or text) number follows the UK rule above."""
    if not re.fullmatch(r"\d[\d ]*", value):
        return False
    digits = value.replace(" ", "")
    if field == "text" and _SMS_SHORT_CODE.fullmatch(digits):
        return True
    if digits.startswith(_RELAY_PREFIX) and len(digits) > len(_RELAY_PREFIX):
        digits = digits[len(_RELAY_PREFIX):]
    return _UK_NUMBER.fullmatch(digits) is not None


# Digit groups separated by single spaces: "999", "0800 1111", "08 08 16 89 111".
_NUMBER = re.compile(r"\d+(?: \d+)*")
_DIALLING = re.compile(r"(?:call|ring|phone|dial|text|textphone|press|number|line)\W+(?:\w+\W+)?$",
                       re.IGNORECASE)


def phone_numbers(text: str) -> list[str]:
    """Numbers in ``text`` that look like something to dial.

    A number counts when its digits are written in spaced groups ("116 123"),
    when it is 5+ digits starting with 0 or 1 ("18000"), or when it follows a
    word like "call" or "press" ("call 999"). Dates, money and counts such as
    "201 offences", "£3.5m" or "18/2/15" do not.
    """
    found = []
    for match in _NUMBER.finditer(text):
        number, start, end = match.group(0), match.start(), match.end()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        next_after = text[end + 1] if end + 1 < len(text) else ""
        # Part of a word, a date, money or a decimal: "A2", "18/2/15", "£3.5m", "100,000".
        if before.isalnum() or after.isalpha() or "/" in (before, after) or (before and before in "£$.,"):
            continue
        if after in ".," and next_after.isdigit():
            continue
        digits = _digits(number)
        spaced = " " in number
        long_dialled = len(digits) >= 5 and digits[0] in "01"
        after_verb = bool(_DIALLING.search(text[max(0, start - 40):start]))
        if spaced or long_dialled or after_verb:
            found.append(number)
    return found


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


# --- readers -------------------------------------------------------------------


def _missing_required(services: dict[str, Service], path: Path,
                      flawed: frozenset[str] = frozenset()) -> list[Problem]:
    return [Problem(path, required, "this service is missing, but the bot's emergency and "
                    "safety answers need it; put it back (with its source)")
            for required in REQUIRED_SERVICES if required not in services and required not in flawed]


def _flawed(problems: list[Problem], path: Path) -> frozenset[str]:
    """Ids of entries in ``path`` that are there but have problems of their own."""
    return frozenset(p.entry for p in problems if p.file == path and p.entry)


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping, with the lines of both."""

    def __init__(self, key: str, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(None, first, f"'{key}' is given twice", second)
        self.key, self.first_line, self.second_line = key, first.line + 1, second.line + 1


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping.

    Plain PyYAML keeps the last of two ``phone:`` lines without a word, so a
    slip in an edit silently changes a number, or makes an entry vanish.
    Merge keys (``<<:``) may still be overridden, as YAML intends.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the constructor below says so
                    continue
                if first is not key_node.start_mark:
                    raise _DuplicateKey(str(key), first, key_node.start_mark)
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path, problems: list[Problem]) -> Any:
    """The file's data, or None with one problem saying why it cannot be read.

    A file that cannot be read gives exactly one problem: whatever else is
    wrong would only be a consequence of it (see ``_unreadable``).
    """
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except FileNotFoundError:
        problems.append(Problem(path, None, "the file is missing; restore it (git checkout "
                                f"{shown(path)} brings back the last committed version)"))
    except UnicodeDecodeError:
        problems.append(Problem(path, None, "the file is not UTF-8 text; save it as UTF-8"))
    except _DuplicateKey as exc:
        problems.append(Problem(path, None, f"'{exc.key}' is given twice, at lines {exc.first_line} "
                                f"and {exc.second_line}; each may be given only once in an entry, "
                                "so keep the right one and delete the other"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or "it cannot be read"
        problems.append(Problem(path, None, f"this is not valid YAML{where}: {what}. "
                                "Check the indentation and quotes around that line"))
    return None


def _unreadable(problems: list[Problem], path: Path) -> bool:
    """Whether ``path`` as a whole could not be read (not YAML, empty, wrong shape).

    Everything checked against such a file (required services, the ids
    answers name) would fail only because of it, so those checks are skipped:
    one problem to fix, not a hundred.
    """
    return any(p.file == path and p.entry is None for p in problems)


def _entries(path: Path, key: str, problems: list[Problem]) -> list[tuple[str | None, dict]]:
    """The list under ``key``, each item with its id; bad items become problems."""
    data = _read_yaml(path, problems)
    if data is None:
        if not problems:
            problems.append(Problem(path, None, "the file is empty; restore it (git checkout "
                                    f"{shown(path)} brings back the last committed version)"))
        return []
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        problems.append(Problem(path, None, f"expected a list under '{key}:'; the file must start "
                                f"with the line '{key}:', and each entry with '  - id: ...'"))
        return []
    seen: set[str] = set()
    items = []
    for number, item in enumerate(data[key], start=1):
        if not isinstance(item, dict):
            problems.append(Problem(path, f"#{number}", "each entry must be a set of 'field: value' lines"))
            continue
        item_id = item.get("id")
        if not isinstance(item_id, str) or not _ID.match(item_id):
            problems.append(Problem(path, f"#{number}", "needs an 'id' of lower-case letters, digits "
                                    "and underscores, starting with a letter"))
            continue
        if item_id in seen:
            problems.append(Problem(path, item_id, "this id is used twice; ids must be unique"))
            continue
        seen.add(item_id)
        items.append((item_id, item))
    return items


def _text_field(item: dict, name: str, path: Path, entry: str, problems: list[Problem],
                required: bool = True) -> str | None:
    value = item.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Problem(path, entry, f"'{name}' is missing; add it to the entry"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(path, entry, f"'{name}' must be text; put the value in quotes"))
        return None
    return value.strip()


def _read_services(path: Path,
                   today: dt.date | None = None) -> tuple[dict[str, Service], list[Problem]]:
    problems: list[Problem] = []
    services = {}
    for service_id, item in _entries(path, "services", problems):
        before = len(problems)
        fields = {name: _text_field(item, name, path, service_id, problems, required=False)
                  for name in ("phone", "text", "web", "hours", "note")}
        for name in ("phone", "text"):
            # Essential numbers have a stricter rule of their own (ESSENTIAL_NUMBERS).
            if fields[name] and service_id not in ESSENTIAL_NUMBERS and not uk_number(fields[name], name):
                problems.append(Problem(path, service_id, f"'{name}: {fields[name]}' does not look "
                                        "like a UK number. Write one number, digits and spaces "
                                        "only; see the rule at the top of data/services.yml"))
        name = _text_field(item, "name", path, service_id, problems)
        for_whom = _text_field(item, "for", path, service_id, problems)
        source = _text_field(item, "source", path, service_id, problems)
        if source and not source.startswith(("http://", "https://")):
            problems.append(Problem(path, service_id, "'source' must be the web address (http...) "
                                    "of the public page the details were checked against"))
        if not (fields["phone"] or fields["text"] or fields["web"]):
            problems.append(Problem(path, service_id, "give at least one way to reach it: "
                                    "'phone', 'text' or 'web'"))
        verified = item.get("last_verified")
        if isinstance(verified, dt.datetime):
            verified = verified.date()
        if not isinstance(verified, dt.date):
            problems.append(Problem(path, service_id, "'last_verified' must be the date the details "
                                    "were checked, written as YYYY-MM-DD"))
        elif verified > (today or dt.date.today()):
            problems.append(Problem(path, service_id, "'last_verified' is in the future; set it to "
                                    "the date you checked the details (YYYY-MM-DD)"))
        unknown = set(item) - {"id", "name", "for", "source", "last_verified", *fields}
        if unknown:
            problems.append(Problem(path, service_id, f"unknown field(s): {', '.join(sorted(unknown))}; "
                                    "the fields are id, name, for, phone, text, web, hours, note, "
                                    "source and last_verified"))
        if len(problems) == before:
            services[service_id] = Service(service_id, name, for_whom, source, verified, **fields)
    return services, problems


def _read_sources(path: Path) -> tuple[dict[str, Source], list[Problem]]:
    problems: list[Problem] = []
    data = _read_yaml(path, problems)
    if problems:
        return {}, problems
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        return {}, [Problem(path, None, "expected a mapping under 'sources:'; each statement is "
                            "'  its_id:' with 'title:' and 'file:' lines under it")]
    sources = {}
    for source_id, item in data["sources"].items():
        if not isinstance(item, dict) or not item.get("title") or not item.get("file"):
            problems.append(Problem(path, str(source_id), "needs a 'title' and a 'file'"))
            continue
        file = path.parent / str(item["file"])
        if not file.is_file():
            problems.append(Problem(path, str(source_id), f"the file {item['file']} is missing; put "
                                    f"it in {shown(path.parent)}/ or correct 'file:'"))
            continue
        sources[str(source_id)] = Source(str(source_id), str(item["title"]),
                                         file.read_text(encoding="utf-8"))
    return sources, problems


def _read_faq(path: Path, sources: dict[str, Source]) -> tuple[list[FaqEntry], list[Problem]]:
    problems: list[Problem] = []
    entries = []
    example_owner: dict[str, str] = {}
    for entry_id, item in _entries(path, "faq", problems):
        before = len(problems)
        question = _text_field(item, "question", path, entry_id, problems)
        answer = _text_field(item, "answer", path, entry_id, problems)
        source = _text_field(item, "source", path, entry_id, problems)
        quotes = item.get("quote")
        quotes = [quotes] if isinstance(quotes, str) else quotes
        if not quotes or not all(isinstance(q, str) and q.strip() for q in quotes):
            problems.append(Problem(path, entry_id, "'quote' is missing: copy the words from the "
                                    "statement that support this answer (one quote, or a list)"))
            quotes = []
        if source and sources and source not in sources:
            problems.append(Problem(path, entry_id, f"'source' must be one of: {', '.join(sources)}"))
        elif source in sources:
            for quote in quotes:
                if _normal(quote) not in _normal(sources[source].text):
                    problems.append(Problem(path, entry_id, f"the quote '{_clip(quote)}' is not found "
                                            f"word for word in {sources[source].title}; copy it exactly"))
        examples = item.get("examples")
        if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
            problems.append(Problem(path, entry_id, "'examples' must be a list of ways people might ask"))
            examples = []
        elif len(examples) < MIN_FAQ_EXAMPLES:
            problems.append(Problem(path, entry_id, f"give at least {MIN_FAQ_EXAMPLES} 'examples' "
                                    f"(there are {len(examples)}); more is better"))
        for example in examples:
            owner = example_owner.setdefault(_normal(example), entry_id)
            if owner != entry_id:
                problems.append(Problem(path, entry_id, f"the example '{example.strip()}' is also "
                                        f"an example of '{owner}'; each example must belong to one entry"))
        unknown = set(item) - {"id", "question", "examples", "answer", "source", "quote"}
        if unknown:
            problems.append(Problem(path, entry_id, f"unknown field(s): {', '.join(sorted(unknown))}; "
                                    "the fields are id, question, examples, answer, source and quote"))
        if len(problems) == before:
            entries.append(FaqEntry(entry_id, question, tuple(e.strip() for e in examples),
                                    answer, source, tuple(q.strip() for q in quotes)))
    return entries, problems


CARD_KEYS = ("danger", "interpreter", "worry", "childline", "nspcc", "english_only",
             "continue_button", "choose_prompt")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?$")
_QUOTED = re.compile(r'"([^"]+)"')


def _read_languages(path: Path, directory: Directory, flawed: frozenset[str] = frozenset()
                    ) -> tuple[dict[str, str], list[LanguageCard], list[Problem]]:
    """The card's English originals and translations, with what is wrong with them.

    A translation must say what its English original says with the same
    services: the same placeholders, no number of its own (the numbers it
    may write out are those the English writes out, such as an age), and
    the English word "interpreter" kept in English, as the caller must say it.
    """
    from bot import languages as detection  # the languages the bot can recognise

    problems: list[Problem] = []
    data = _read_yaml(path, problems)
    if data is None:
        if not problems:
            problems.append(Problem(path, None, "the file is empty"))
        return {}, [], problems
    english = data.get("english") if isinstance(data, dict) else None
    listed = data.get("languages") if isinstance(data, dict) else None
    if not isinstance(english, dict) or not isinstance(listed, list):
        problems.append(Problem(path, None, "expected 'english:' (the originals) and a list "
                                "under 'languages:'"))
        return {}, [], problems
    originals: dict[str, str] = {}
    for key in CARD_KEYS:
        text = _text_field(english, key, path, "english", problems)
        if text:
            originals[key] = text
            problems += check_answer(text, directory, path, f"english.{key}", flawed)
    for key in english:
        if key not in CARD_KEYS:
            problems.append(Problem(path, "english", f"'{key}' is not part of the card; the "
                                    f"card's sentences are {', '.join(CARD_KEYS)}"))
    cards: list[LanguageCard] = []
    seen: set[str] = set()
    for number, item in enumerate(listed, start=1):
        code = item.get("code") if isinstance(item, dict) else None
        if not isinstance(code, str) or not _LANGUAGE_CODE.match(code):
            problems.append(Problem(path, f"#{number}", "needs a 'code' such as pl, ur or "
                                    "pa-Arab (language, then a script if needed)"))
            continue
        if code in seen:
            problems.append(Problem(path, code, "this language is listed twice"))
            continue
        seen.add(code)
        name = _text_field(item, "name", path, code, problems)
        english_name = _text_field(item, "english_name", path, code, problems)
        direction = item.get("direction", "ltr")
        if direction not in ("ltr", "rtl"):
            problems.append(Problem(path, code, "'direction' must be ltr (left to right) or "
                                    "rtl (right to left, e.g. Arabic, Urdu)"))
        reviewed = item.get("reviewed_by_native_speaker")
        if reviewed is not False and not isinstance(reviewed, dt.date):
            problems.append(Problem(path, code, "'reviewed_by_native_speaker' must be false, or "
                                    "the date of the review written as YYYY-MM-DD"))
            reviewed = False
        card = item.get("card")
        if not isinstance(card, dict):
            problems.append(Problem(path, code, "needs a 'card' with the sentences "
                                    f"{', '.join(CARD_KEYS)}"))
            continue
        text: dict[str, str] = {}
        for key in CARD_KEYS:
            where = f"{code}.{key}"
            value = _text_field(card, key, path, where, problems)
            if value is None or key not in originals:
                continue
            text[key] = value
            problems += check_answer(value, directory, path, where, flawed)
            problems += _translation_problems(originals[key], value, path, where)
        for key in card:
            if key not in CARD_KEYS:
                problems.append(Problem(path, code, f"'{key}' is not part of the card; every "
                                        "sentence must translate one under 'english:'"))
        if name and english_name and len(text) == len(CARD_KEYS):
            cards.append(LanguageCard(code, name, english_name, direction == "rtl",
                                      reviewed if isinstance(reviewed, dt.date) else None, text))
    for code in detection.DETECTED:
        if listed and code not in seen:
            problems.append(Problem(path, None, f"the bot recognises messages in '{code}' but "
                                    "this file has no card for it; add one"))
    return originals, cards, problems


def _translation_problems(original: str, translation: str, path: Path, where: str) -> list[Problem]:
    problems = []
    wanted, found = sorted(PLACEHOLDER.findall(original)), sorted(PLACEHOLDER.findall(translation))
    if wanted != found:
        def names(found: list) -> str:
            return ", ".join(f"[{i}{'.' + f if f else ''}]" for i, f in found) or "none"
        problems.append(Problem(path, where, f"the placeholders must be those of the English "
                                f"({names(wanted)}); this has {names(found)}"))
    digits = sorted(re.findall(r"\d+", PLACEHOLDER.sub(" ", original)))
    if sorted(re.findall(r"\d+", PLACEHOLDER.sub(" ", translation))) != digits:
        problems.append(Problem(path, where, "write no number that the English does not have; "
                                "a phone number goes in as its [placeholder]"))
    for quoted in _QUOTED.findall(original):
        if quoted.split(",")[0] not in translation:
            problems.append(Problem(path, where, f'keep "{quoted.split(",")[0]}" in English, in '
                                    "quotes: the caller says it in English on the phone"))
    return problems


def _domain_texts(path: Path, problems: list[Problem]):
    """Each response in the domain with its texts and button titles."""
    data = _read_yaml(path, problems)
    responses = (data or {}).get("responses") or {}
    for name, variations in responses.items():
        texts = []
        for variation in variations or []:
            if isinstance(variation, dict):
                texts.append(str(variation.get("text") or ""))
                texts += [str(b.get("title", "")) for b in variation.get("buttons") or []
                          if isinstance(b, dict)]
        yield name, texts


def _normal(text: str) -> str:
    """Lower case, straight quotes and single spaces, for comparing wording."""
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-"}))
    return " ".join(text.lower().split())


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(path: Path) -> str:
    """A path as people in this project write it: relative to the project when inside it."""
    try:
        return str(Path(path).resolve().relative_to(project.ROOT))
    except ValueError:
        return str(path)
