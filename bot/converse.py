"""Batch interface for testers and tools: JSON lines in, JSON lines out.

Each input line is ``{"conversation": "<id>", "text": "<message>"}``. Lines are
answered strictly in order, one output line each, flushed at once so the
command can sit behind a pipe. A bad line gets ``{"error": ...}`` and the run
goes on. Only answers go to stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import IO, Any

from bot.engine import Engine

logger = logging.getLogger(__name__)


async def converse(engine: Engine, infile: IO[str], outfile: IO[str]) -> int:
    """Answer every line of ``infile`` on ``outfile``; return the number of errors."""
    loop = asyncio.get_running_loop()
    errors = 0
    line_number = 0
    while True:
        line = await loop.run_in_executor(None, infile.readline)
        if not line:
            return errors
        line_number += 1
        if not line.strip():
            continue
        result = await answer_line(engine, line, line_number)
        errors += "error" in result
        outfile.write(json.dumps(result, ensure_ascii=False) + "\n")
        outfile.flush()


async def answer_line(engine: Engine, line: str, line_number: int) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"line {line_number} is not valid JSON: {exc.msg}", "line": line_number}
    problem = _check_request(request)
    if problem:
        return {"error": f"line {line_number}: {problem}", "line": line_number}

    conversation, text = str(request["conversation"]), request["text"]
    try:
        replies = await engine.respond(conversation, text)
    except Exception:  # one failing line must not end the run
        logger.exception("The engine failed on line %d", line_number)
        return {"error": f"line {line_number}: the bot failed to answer", "line": line_number}
    return {
        "conversation": conversation,
        "text": text,
        "replies": [reply.to_dict() for reply in replies],
    }


def _check_request(request: Any) -> str | None:
    if not isinstance(request, dict):
        return 'expected an object like {"conversation": "c1", "text": "hello"}'
    conversation = request.get("conversation")
    if isinstance(conversation, bool) or not isinstance(conversation, (str, int)):
        return '"conversation" must be a string (the conversation id)'
    if str(conversation) == "":
        return '"conversation" must not be empty'
    if not isinstance(request.get("text"), str):
        return '"text" must be a string (the message)'
    return None
