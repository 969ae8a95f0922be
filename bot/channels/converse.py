"""Batch interface for testers and tools: JSON lines in, JSON lines out.

Each input line is ``{"conversation": <id>, "text": "<message>"}``. Lines are
answered strictly in order, one output line each, flushed at once so the
command can sit behind a pipe. Whatever a line holds (bytes that are not
UTF-8, JSON nested past any sense, lone surrogates, a novel), it gets
``{"error": ..., "line": N}`` and the run goes on: one tester's bad line must
not lose the rest of a batch. Only answers go to stdout.

An id is a string or a whole number, and the two never meet: ``1`` and
``"1"`` are different conversations. In the tracker store they are kept as
``converse:n:1`` and ``converse:s:1``, which no Telegram or shell
conversation can be.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import IO, Any

from telegram.constants import MessageLimit

from bot.engine import Engine

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 1_000_000  # far past any real request; the rest of a longer line is skipped
MAX_TEXT_CHARS = int(MessageLimit.MAX_TEXT_LENGTH)  # the longest message Telegram delivers
MAX_ID_CHARS = 200
_TOO_LONG = object()


class BadLine(ValueError):
    """A line that cannot be answered; its message is the reason, for the tester."""


async def converse(engine: Engine, infile: IO[bytes], outfile: IO[str]) -> int:
    """Answer every line of ``infile`` (bytes) on ``outfile``; return the number of errors."""
    loop = asyncio.get_running_loop()
    errors = line_number = 0
    while (line := await loop.run_in_executor(None, _read_line, infile)) is not None:
        line_number += 1
        if line is not _TOO_LONG and not line.strip():
            continue
        result = await answer_line(engine, line, line_number)
        errors += "error" in result
        outfile.write(json.dumps(result, ensure_ascii=False) + "\n")
        outfile.flush()
    return errors


def _read_line(infile: IO[bytes]) -> Any:
    """The next line's bytes, ``_TOO_LONG`` (its rest skipped), or None at the end."""
    line = infile.readline(MAX_LINE_BYTES + 1)
    if not line:
        return None
    if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
        return line
    while True:
        rest = infile.readline(65536)
        if not rest or rest.endswith(b"\n"):
            return _TOO_LONG


async def answer_line(engine: Engine, line: Any, line_number: int) -> dict[str, Any]:
    try:
        conversation, text = parse(line, line_number)
    except BadLine as exc:
        return {"error": f"line {line_number}: {exc}", "line": line_number}
    try:
        replies = await engine.respond(conversation_key(conversation), text)
    except Exception as exc:  # one failing line must not end the run
        logger.error("The engine failed on line %d (%s)", line_number, type(exc).__name__)
        return {"error": f"line {line_number}: the bot failed to answer", "line": line_number}
    return {
        "conversation": conversation,
        "text": text,
        "replies": [reply.to_dict() for reply in replies],
    }


def conversation_key(conversation: str | int) -> str:
    """The tracker store's id: typed, so 1 and "1" stay apart, and marked as ours."""
    kind = "s" if isinstance(conversation, str) else "n"
    return f"converse:{kind}:{conversation}"


def parse(line: Any, line_number: int) -> tuple[str | int, str]:
    """The (conversation, text) of one line, or :class:`BadLine` saying what is wrong."""
    if line is _TOO_LONG:
        raise BadLine(f"is longer than {MAX_LINE_BYTES:,} bytes")
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"is not valid UTF-8 (byte 0x{line[exc.start]:02x} "
                      f"at position {exc.start})") from None
    if line_number == 1:
        decoded = decoded.removeprefix("\ufeff")  # a byte-order mark from a Windows editor
    try:
        request = json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise BadLine(f"is not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise BadLine("is nested too deeply to read") from None
    except ValueError:  # e.g. a number with more digits than Python will convert
        raise BadLine("holds a number too long to read") from None
    if not isinstance(request, dict):
        raise BadLine('expected an object like {"conversation": "c1", "text": "hello"}')
    return _conversation(request.get("conversation")), _text(request.get("text"))


def _conversation(value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadLine('"conversation" must be a string or a whole number (the conversation id)')
    if value == "":
        raise BadLine('"conversation" must not be empty')
    if isinstance(value, str):
        _check_unicode(value, '"conversation"')
    if len(str(value)) > MAX_ID_CHARS:
        raise BadLine(f'"conversation" must be at most {MAX_ID_CHARS} characters')
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadLine('"text" must be a string (the message)')
    if len(value) > MAX_TEXT_CHARS:
        raise BadLine(f'"text" is {len(value):,} characters; at most {MAX_TEXT_CHARS:,} '
                      "(the longest message Telegram delivers)")
    _check_unicode(value, '"text"')
    return value


def _check_unicode(value: str, field: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadLine(f"{field} holds a lone surrogate (\\u{ord(value[exc.start]):04x}), "
                      "which is not a character") from None
