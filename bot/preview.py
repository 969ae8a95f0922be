"""An answer exactly as a person would receive it, before it goes live.

``python -m bot preview ID`` (``make preview ID=...``) shows an FAQ answer
(data/faq.yml) or one of the bot's own responses (domain.yml) the way the
bot sends it on Telegram: numbers filled in from the service directory,
split into messages at Telegram's limit, buttons under the last message.
It uses the bot's own rendering and splitting but needs no model (nor Rasa),
so staff can look at an edit in a second, before training.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from bot import content, project
from bot.channels.telegram.splitting import split_message


class PreviewError(Exception):
    """The id names nothing that can be previewed; the message suggests close ids."""


def preview(name: str, root: Path = project.ROOT) -> str:
    """The rendered answer called ``name`` (an FAQ id or a response name), ready to print."""
    files = content.paths(root)
    directory = content.load_directory(files.services)
    answers = _answers(files)
    key = _key(name, answers)
    where, question, variations = answers[key]
    lines = [f"{key} ({where})" + (f": {question}" if question else "")]
    for number, (text, buttons) in enumerate(variations, 1):
        if len(variations) > 1:
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


def _answers(files: content.ContentPaths) -> dict[str, tuple[str, str, list[tuple[str, list[str]]]]]:
    """Everything that can be previewed: name -> (file, question, [(text, button titles)])."""
    sources = content.load_sources(files.sources)
    found = {}
    for entry in content.load_faq(files.faq, files.sources):
        found[entry.id] = (content.shown(files.faq), entry.question,
                           [(content.faq_response_text(entry, sources), [])])
    for name, variations in content.responses(files.domain).items():
        found[name] = (content.shown(files.domain), "",
                       [(str(v["text"]), [str(b.get("title", "")) for b in v.get("buttons") or []
                                          if isinstance(b, dict)]) for v in variations])
    return found


def _key(name: str, answers: dict) -> str:
    """``name`` as given, or with the ``utter_`` that response names start with."""
    for key in (name, f"utter_{name}"):
        if key in answers:
            return key
    # Compared without the "utter_" every response shares, which would make all of them look close.
    bare = {n.removeprefix("utter_"): n for n in answers}
    wanted = name.lower().removeprefix("utter_")
    close = [n for b, n in bare.items() if wanted and wanted in b]
    close += [bare[b] for b in difflib.get_close_matches(wanted, bare, n=5, cutoff=0.7)
              if bare[b] not in close]
    hint = (f"Close ids: {', '.join(close[:6])}." if close else
            "The ids are in data/faq.yml (id:) and domain.yml (under responses:).")
    raise PreviewError(f"No FAQ entry or response is called '{name}'. {hint}")
