"""A stand-in for Telegram's Bot API on 127.0.0.1, for tests and benchmarks
that must not reach Telegram.

It answers the methods the bot calls (getMe, getUpdates, sendMessage,
setMyCommands, answerCallbackQuery, deleteMessages, ...), records every call,
and hands out updates that tests push, exactly as the real API would for
long polling. Tests can make it fail a method as Telegram does (a 429 with
``retry_after``, a 502, a 401 for a revoked token), take time over each
``sendMessage`` as a real network round trip does (``send_delay``), or hold
one chat's messages until released. It runs on its own thread and event loop, so the adapter under
test can run in a subprocess or in the test's own loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Signpost", "username": "signpost_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    status: int = 200  # what the stand-in answered
    done: float | None = None  # when it answered


@dataclass
class Fault:
    method: str
    status: int
    chat_id: int | None = None  # only calls for this chat
    times: float = 1  # how many calls fail (math.inf: until cleared)
    retry_after: int | None = None
    when: Callable[[dict], bool] | None = None  # only calls whose parameters pass this

    def matches(self, method: str, params: dict) -> bool:
        return self.times > 0 and method == self.method and (
            self.chat_id is None or int(params.get("chat_id", 0)) == self.chat_id) and (
            self.when is None or self.when(params))

    def response(self) -> web.Response:
        if self.status >= 500:  # as a proxy in front of Telegram answers: not JSON
            return web.Response(status=self.status, text="<html>Bad Gateway</html>")
        body: dict[str, Any] = {"ok": False, "error_code": self.status,
                                "description": _DESCRIPTIONS.get(self.status, "Error")}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


_DESCRIPTIONS = {401: "Unauthorized", 403: "Forbidden: bot was blocked by the user",
                 429: "Too Many Requests: retry after 1"}


class TelegramStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.send_delay = 0.0  # seconds each sendMessage takes, like a round trip to Telegram
        self._held: dict[int, asyncio.Event] = {}  # chats whose messages wait to be released
        self._updates: list[dict] = []
        self._confirmed_below = 0  # every update below this id has been confirmed
        self._delivered: dict[int, int] = {}  # chat id -> messages that reached it
        self._changed = threading.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(10_000)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._arrived = asyncio.Event()  # wakes a waiting getUpdates (used in its loop only)
        self.port = 0

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> "TelegramStandIn":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # long polls still waiting
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    # --- what tests use ----------------------------------------------------------

    def push(self, update: dict) -> dict:
        """Queue an update for getUpdates; ``update_id`` is filled in."""
        update = {"update_id": next(self._update_ids), **update}
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        self._loop.call_soon_threadsafe(self._arrived.set)
        return update

    def fail(self, method: str, status: int, **how: Any) -> Fault:
        """Answer the next call(s) to ``method`` with an error (see :class:`Fault`)."""
        fault = Fault(method, status, **how)
        with self._changed:
            self.faults.append(fault)
        return fault

    def hold(self, chat_id: int) -> Callable[[], None]:
        """Keep messages to ``chat_id`` waiting inside the stand-in; returns the release."""
        held = asyncio.run_coroutine_threadsafe(_new_event(), self._loop).result(timeout=10)
        self._held[chat_id] = held
        return lambda: self._loop.call_soon_threadsafe(held.set)

    def confirmed(self, update: dict) -> bool:
        """Whether the bot has confirmed ``update`` (as returned by :meth:`push`): it
        confirms an update only once it has handled it, replies sent."""
        return update["update_id"] < self._confirmed_below

    def next_message_id(self) -> int:
        return next(self._message_ids)

    def calls_to(self, method: str) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def sent_to(self, chat_id: int) -> list[Call]:
        """The messages that reached ``chat_id`` (not those the stand-in failed)."""
        return [c for c in self.calls_to("sendMessage")
                if int(c.params["chat_id"]) == chat_id and c.status == 200]

    def delivered_count(self, chat_id: int) -> int:
        """How many messages have been delivered to ``chat_id`` (cheap, for load tests)."""
        return self._delivered.get(chat_id, 0)

    def texts_to(self, chat_id: int) -> list[str]:
        return [c.params["text"] for c in self.sent_to(chat_id)]

    def wait_until(self, condition: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = condition()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the bot did not do what the test waited for")
                self._changed.wait(min(remaining, 0.5))

    def wait_for_messages(self, chat_id: int, count: int, timeout: float = 60) -> list[str]:
        self.wait_until(lambda: len(self.sent_to(chat_id)) >= count, timeout)
        return self.texts_to(chat_id)

    # --- the API -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        with self._changed:
            fault = next((f for f in self.faults if f.matches(method, params)), None)
            if fault:
                fault.times -= 1
            call = Call(method, params, status=fault.status if fault else 200)
            self.calls.append(call)
            self._changed.notify_all()
        if fault:
            return fault.response()
        if method == "sendMessage":
            await asyncio.sleep(self.send_delay)
            held = self._held.get(int(params.get("chat_id", 0)))
            if held:
                await held.wait()
        if method == "getUpdates":
            result: Any = await self._get_updates(params)
        else:
            answer = _ANSWERS.get(method)
            if answer is None:
                return web.json_response({"ok": False, "error_code": 404,
                                          "description": f"Not Found: {method} is not in the stand-in"})
            result = answer(self, params)
        with self._changed:
            call.done = time.monotonic()
            if method == "sendMessage":
                chat = int(params.get("chat_id", 0))
                self._delivered[chat] = self._delivered.get(chat, 0) + 1
            self._changed.notify_all()
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 2.0)
        while True:
            with self._changed:
                # Like Telegram: asking for an offset confirms everything before it.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if offset > self._confirmed_below:
                    self._confirmed_below = offset
                    self._changed.notify_all()
                ready = list(self._updates)
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0:
                return ready[: int(params.get("limit") or 100)]
            self._arrived.clear()
            try:  # sleep until an update is pushed, as Telegram's long polling does
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _message(self, params: dict) -> dict:
        return {"message_id": self.next_message_id(), "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER, "text": params.get("text", "")}


async def _new_event() -> asyncio.Event:
    return asyncio.Event()  # made in the stand-in's loop, where it is awaited


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        raw = await request.json()
    else:
        raw = dict(await request.post())
    params = {}
    for key, value in raw.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        params[key] = value
    return params


_ANSWERS: dict[str, Callable[[TelegramStandIn, dict], Any]] = {
    "getMe": lambda s, p: BOT_USER,
    "deleteWebhook": lambda s, p: True,
    "setWebhook": lambda s, p: True,
    "getWebhookInfo": lambda s, p: {"url": "", "has_custom_certificate": False,
                                    "pending_update_count": 0},
    "setMyCommands": lambda s, p: True,
    "sendMessage": lambda s, p: s._message(p),
    "answerCallbackQuery": lambda s, p: True,
    "editMessageReplyMarkup": lambda s, p: True,
    "deleteMessage": lambda s, p: True,
    "deleteMessages": lambda s, p: True,
    "sendChatAction": lambda s, p: True,
    "close": lambda s, p: True,
    "logOut": lambda s, p: True,
}


# --- updates as Telegram sends them ------------------------------------------------

_USER = {"is_bot": False, "first_name": "Sam", "last_name": "Private", "username": "sam_private_99"}


def message(chat_id: int, message_id: int, chat_type: str = "private", **fields: Any) -> dict:
    chat = {"id": chat_id, "type": chat_type}
    chat.update({"first_name": "Sam", "username": "sam_private_99"} if chat_type == "private"
                else {"title": "A group"})
    return {"message_id": message_id, "date": int(time.time()), "chat": chat,
            "from": {"id": abs(chat_id), **_USER}, **fields}


def text_update(chat_id: int, message_id: int, text: str, chat_type: str = "private") -> dict:
    fields: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split()[0]
        fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"message": message(chat_id, message_id, chat_type, **fields)}


def button_update(chat_id: int, message_id: int, data: str) -> dict:
    return {"callback_query": {
        "id": f"cb{message_id}", "from": {"id": chat_id, **_USER}, "chat_instance": "ci",
        "data": data,
        "message": {"message_id": message_id, "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER,
                    "text": "Is a child, or anyone else, in danger right now?"},
    }}
