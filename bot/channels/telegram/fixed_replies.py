"""Replies that never go through the dialogue model.

Some answers must not depend on Rasa: the emergency numbers, the fail-safe
sent when the engine fails or is too slow, and what to say about stickers,
group chats or privacy. They are built once at start-up; every number in them
comes from the service directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import content

FAILSAFE = """Sorry, something went wrong on my side and I can't answer properly right now.

If anyone is in danger right now, call [police_999].
To report a worry about a child, call the police on [police_101].
If you're under 19, you can talk to [childline.name] on [childline], free, 24 hours."""

NOT_TEXT = """I can only read text, so I can't see stickers, photos, voice notes, files or locations. Please type your message instead.

If anyone is in danger right now, call [police_999]."""

EDITED = """I saw you edited a message. I only read new messages, so please send it again as a new one.

If anyone is in danger right now, call [police_999]."""

PRIVATE_ONLY = """I only talk in private chats, to keep conversations private. Please message me directly.

If anyone is in danger right now, call [police_999]."""

PRIVACY = """What this bot keeps, and how to erase it:

• Your messages and the bot's replies, so it can follow the conversation. They are filed under a code made from your chat, not under your Telegram id, name or username.
• They are erased automatically after {retention_days} days with no new messages.
• /forget erases this conversation now.
• The bot's logs don't contain what you write.

This chat also stays on your phone until you delete it. /clear deletes the recent messages; to remove everything, delete the chat in Telegram.

This chatbot is automated and no person reads it. Please don't share names, addresses or other personal details here."""

FORGOTTEN = """Done. I've erased this conversation from the bot's memory.

The messages are still in this chat on your phone: /clear deletes recent ones, or you can delete the chat in Telegram."""

FORGET_FAILED = """Sorry, I couldn't erase the conversation just now. Please try /forget again in a few minutes.

If anyone is in danger right now, call [police_999]."""

CLEARED = """I've asked Telegram to delete the messages in this chat from the last 48 hours, yours and mine.

Telegram doesn't let bots delete older messages. To remove everything, delete this chat in your Telegram app (open the chat menu and choose "Delete chat").

This only clears your phone's chat. /forget erases what the bot remembers."""

ONE_AT_A_TIME = """You sent a lot of messages at once. I read one message at a time, so I've answered your latest ones and skipped some before them.

Please send one message and wait for my answer. If anyone is in danger right now, call [police_999]."""


@dataclass(frozen=True)
class FixedReplies:
    failsafe: str
    not_text: str
    edited: str
    private_only: str
    emergency: str
    services: str
    privacy: str
    forgotten: str
    forget_failed: str
    cleared: str
    one_at_a_time: str

    @classmethod
    def build(cls, directory: content.Directory, retention_days: float) -> "FixedReplies":
        render = directory.render
        return cls(
            failsafe=render(FAILSAFE),
            not_text=render(NOT_TEXT),
            edited=render(EDITED),
            private_only=render(PRIVATE_ONLY),
            emergency=render(content.response_text("utter_emergency")),
            services=services_list(directory),
            privacy=render(PRIVACY.format(retention_days=f"{retention_days:g}")),
            forgotten=render(FORGOTTEN),
            forget_failed=render(FORGET_FAILED),
            cleared=render(CLEARED),
            one_at_a_time=render(ONE_AT_A_TIME),
        )


def services_list(directory: content.Directory) -> str:
    """The whole service directory, for /services."""
    blocks = ["Services that can help. If anyone is in danger right now, call "
              f"{directory.services['police_999'].contact}."]
    blocks += [service_block(s) for s in directory.services.values()]
    return "\n\n".join(blocks)


def service_block(s: content.Service) -> str:
    """One service as /services lists it (and as ``make preview`` shows it to staff)."""
    lines = [s.name]
    if s.phone:
        lines.append(f"Phone: {s.phone}")
    if s.text:
        lines.append(f"Text: {s.text}")
    if s.web:
        lines.append(f"Web: {s.web}")
    if s.hours:
        lines.append(f"Hours: {s.hours}")
    lines.append(f"For: {s.for_whom}")
    lines.append(f"Checked {s.last_verified:%d %B %Y} against {s.source}")
    return "\n".join(lines)
