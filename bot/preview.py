"""An answer exactly as a person would receive it, before it goes live.

``python -m bot preview ID`` (``make preview ID=...``) shows an FAQ answer
(data/faq.yml) or one of the bot's own responses (domain.yml) the way the
bot sends it on Telegram: numbers filled in from the service directory,
split into messages at Telegram's limit, buttons under the last message.
A service id (data/services.yml) shows the service as /services lists it,
what each placeholder for it becomes, and the answers that name it: staff
edit services most often, and a changed number shows up in all of those.
It uses the bot's own rendering and splitting but needs no model (nor Rasa),
so staff can look at an edit in a second, before training.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from bot import content, project
from bot.channels.telegram.fixed_replies import service_block
from bot.channels.telegram.splitting import split_message


class PreviewError(Exception):
    """The id names nothing that can be previewed; the message suggests close ids."""


def preview(name: str, root: Path = project.ROOT) -> str:
    """The rendered answer called ``name`` (an FAQ id or a response name), ready to print."""
    files = content.paths(root)
    directory = content.load_directory(files.services)
    answers = _answers(files)
    if name in directory.services:
        return _service(directory.services[name], directory, files, answers)
    key = _key(name, answers, directory)
    where, question, variations = answers[key]
    lines = [f"{key} ({where})" + (f": {question}" if question else "")]
    conditional = any(condition for _, _, condition in variations)
    for number, (text, buttons, condition) in enumerate(variations, 1):
        if condition:
            lines += ["", f"Variation {number} of {len(variations)}, given when {condition}."]
        elif conditional:
            lines += ["", f"Variation {number} of {len(variations)}, given when no condition applies."]
        elif len(variations) > 1:
            lines += ["", f"Variation {number} of {len(variations)} (the bot picks one at random)."]
        pieces = split_message(directory.render(text))
        lines.append(f"As a person receives it on Telegram, in {len(pieces)} "
                     f"message{'s' if len(pieces) != 1 else ''}:")
        for count, piece in enumerate(pieces, 1):
            lines += ["", f"──── message {count} of {len(pieces)} ────", piece]
        lines += [f"   [ {directory.render(title)} ]" for title in buttons]
    lines += ["", "────", "(When the message it answers signals danger, the bot may also put a "
              "999 line on top.)"]
    return "\n".join(lines)


def _service(service: content.Service, directory: content.Directory,
             files: content.ContentPaths, answers: dict) -> str:
    lines = [f"{service.id} ({content.shown(files.services)}): {service.name}",
             "As a person reads it in /services:", "", "────", service_block(service), "────"]
    if service.note:
        lines += ["", f"Note for staff (not shown to people): {service.note}"]
    lines += ["", "In answers, these placeholders become:"]
    for field in (None, *content.PLACEHOLDER_FIELDS):
        placeholder = f"[{service.id}{'.' + field if field else ''}]"
        value = service.field(field)
        lines.append(f"  {placeholder:<{len(service.id) + 8}} {value if value else '(empty: do not use it)'}")
    users = sorted(key for key, (_, _, variations) in answers.items()
                   if any(_names(service.id, text, buttons) for text, buttons, _ in variations))
    lines += ["", f"Answers that name it ({len(users)}): " + (", ".join(users) if users else "none")
              + (". Preview one with make preview ID=<answer>." if users else ".")]
    return "\n".join(lines)


def _names(service_id: str, text: str, buttons: list[str]) -> bool:
    return any(m.group(1) == service_id for t in (text, *buttons)
               for m in content.PLACEHOLDER.finditer(t))


def _condition(variation: dict) -> str:
    """A response variation's condition in words: "persona is parent"."""
    parts = [f"{c.get('name')} is {c.get('value')}" for c in variation.get("condition") or []
             if isinstance(c, dict)]
    return " and ".join(parts)


def _answers(files: content.ContentPaths) -> dict[str, tuple[str, str, list[tuple[str, list[str], str]]]]:
    """Everything that can be previewed: name -> (file, question, [(text, button titles, condition)])."""
    sources = content.load_sources(files.sources)
    found = {}
    for entry in content.load_faq(files.faq, files.sources):
        found[entry.id] = (content.shown(files.faq), entry.question,
                           [(content.faq_response_text(entry, sources), [], "")])
    for name, variations in content.responses(files.domain).items():
        found[name] = (content.shown(files.domain), "",
                       [(str(v["text"]), [str(b.get("title", "")) for b in v.get("buttons") or []
                                          if isinstance(b, dict)], _condition(v)) for v in variations])
    return found


def _key(name: str, answers: dict, directory: content.Directory) -> str:
    """``name`` as given, or with the ``utter_`` that response names start with."""
    for key in (name, f"utter_{name}"):
        if key in answers:
            return key
    # Compared without the "utter_" every response shares, which would make all of them look close.
    bare = {n.removeprefix("utter_"): n for n in [*answers, *directory.services]}
    wanted = name.lower().removeprefix("utter_")
    close = [n for b, n in bare.items() if wanted and wanted in b]
    close += [bare[b] for b in difflib.get_close_matches(wanted, bare, n=5, cutoff=0.7)
              if bare[b] not in close]
    hint = (f"Close ids: {', '.join(close[:6])}." if close else
            "The ids are in data/services.yml and data/faq.yml (id:), and in domain.yml "
            "(under responses:).")
    raise PreviewError(f"No service, FAQ entry or response is called '{name}'. {hint}")
