"""Terminal chat with the bot, for trying it out by hand.

Buttons are shown as numbered choices: typing the number presses the button.
Each run is a new conversation, so nothing from a previous person's chat on a
shared computer is shown again.
"""

from __future__ import annotations

import asyncio
import uuid

from bot.engine import Engine, Reply
from bot.languages import has_rtl

QUIT_WORDS = {"/quit", "/exit"}


async def chat(engine: Engine) -> None:
    loop = asyncio.get_running_loop()
    conversation = f"shell-{uuid.uuid4().hex}"
    print("Signpost terminal chat. Type a message, or /quit to leave.\n")
    buttons: list = []
    while True:
        try:
            text = await loop.run_in_executor(None, input, "You: ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        text = text.strip()
        if text.lower() in QUIT_WORDS:
            return
        if not text:
            continue
        if text.isdigit() and 1 <= int(text) <= len(buttons):
            text = buttons[int(text) - 1].payload
        replies = await engine.respond(conversation, text)
        buttons = show(replies)


def show(replies: list[Reply]) -> list:
    """Print the replies and return the buttons offered, in numbered order."""
    offered = []
    for reply in replies:
        # A right-to-left reply starts its own line: after "Bot: " a bidi-aware
        # terminal would lay the whole line out left to right.
        print(f"Bot:\n{reply.text}\n" if has_rtl(reply.text) else f"Bot: {reply.text}\n")
        for button in reply.buttons:
            offered.append(button)
            print(f"  {len(offered)}. {button.title}")
        if reply.buttons:
            print()
    return offered
