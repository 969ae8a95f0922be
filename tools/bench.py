"""Benchmarks: Signpost and a stock-Rasa baseline, measured in the same run.

``python -m tools.bench`` (``make bench``) prints a table with ratios, writes it
as Markdown into BENCHMARKS.md, and the raw figures as JSON under results/
(which is not committed). Nothing here is a pass/fail test: machines are
noisy, so the baseline is measured in the same run and compared as a ratio.

Signpost, through the engine in-process: per-message latency (p50/p95/p99)
one conversation at a time and with 20 concurrent conversations, throughput,
cold start (process start to first answer) and peak RSS of a serving
process, and training time (full, and after editing one answer's text).
Through the Telegram adapter (the real ``python -m bot telegram`` process,
polling a loopback stand-in for the Bot API): the same latencies, and the
adapter's overhead over the bare engine; and a burst: 20 chats writing at
once while every ``sendMessage`` takes 150 ms, as a round trip to Telegram
can, which shows whether chats wait for each other's sends.

Sustained load: 500 conversations of 10 messages, started evenly over about
five minutes, each message sent once the previous one was answered and read,
through the adapter polling the stand-in with 150 ms per ``sendMessage``:
messages lost (never answered) and duplicated (a reply sent twice in a row),
which must both be 0, and the time to each message's first reply.

Baseline: the same training data and domain, trained with Rasa's default
``rasa init`` configuration, served by ``rasa run`` with the REST channel (as
most Rasa users deploy it) and hit over HTTP with the same messages and
concurrency. Its training is capped (:data:`BASELINE_EPOCHS` per neural
component, :data:`BASELINE_TRAINING_LIMIT` in all) so it finishes on two
cores, and cached under results/baseline/ by the fingerprint of what it is
trained on, so it is trained once, not on every run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import yaml

from bot import project
from tools import local_servers

RESULTS = project.ROOT / "results"
BENCHMARKS_MD = project.ROOT / "BENCHMARKS.md"
# BENCHMARKS.md below this line is written by people (what the figures mean,
# earlier runs); a new run rewrites only what is above it.
KEPT_MARK = "<!-- Below this line: written by people. make bench rewrites only what is above. -->"
CONCURRENCY = 20

# What worried people and testers send, as whole conversations.
SCRIPTS = [
    ["hello", "im worried about my daughter", "no", "can i report anonymously", "thanks", "bye"],
    ["hi", "what did the review find", "how many people have been charged since the trial",
     "what is the kingfisher team", "are you a bot", "bye"],
    ["a child is being hurt right now", "how do i report a concern about a child",
     "what is the urn", "can i talk to a person", "im deaf how do i contact the police", "thank you"],
    ["my 14 year old has a much older boyfriend who buys her things", "yes",
     "what happens after i report", "is it confidential", "what helplines are there", "ok bye"],
]

TARGETS = {
    "p50_one_ms": "≤ 25 ms",
    "p95_long_ms": "≤ 150 ms",
    "p99_concurrent_ms": "≤ 100 ms",
    "throughput": "≥ 2× baseline",
    "cold_start_s": "≤ 20 s",
    "peak_rss_mb": "≤ 900 MB",
    "adapter_overhead_p50_ms": "≤ 2 ms",
}
# A 300-word message, as worried people write them: the story, then the question.
LONG_MESSAGE = (
    "sorry this is long and i dont really know if this is the right place to ask. "
    "my daughter is fourteen and for the last couple of months shes been different, "
    "coming home late, new clothes and a new phone we never bought her, and she says "
    "shes at her friends house but her friends mum says she hasnt seen her for weeks. "
    "we have seen her getting out of a car with a man who must be in his twenties, "
    "and when we asked her about him she said he is just a friend and that we would "
    "not understand. she has stopped seeing her old friends and her school rang to say "
    "she has missed lessons on thursday afternoons. she gets messages late at night and "
    "hides her phone when we walk in. last weekend she came home smelling of alcohol and "
    "went straight to bed without talking to anyone. my husband wants to go round and "
    "confront the man but we do not know where he lives, only that he drives a grey car. "
    "i keep telling myself it might be nothing, that teenagers are like this, but i have "
    "a horrible feeling in my stomach. i read about what happened in oxford years ago "
    "and some of it sounds the same, the presents and the older men and the lies about "
    "where she is. i dont want to get her into trouble or make her hate us, and i dont "
    "want to waste the police's time if i am wrong. she is at home tonight and safe as "
    "far as i know. who should i talk to about this, and do i need proof before i call "
    "anyone, or can i just ask for advice first without giving our names?")
LONG_SAMPLES = 40

Send = Callable[[str, str], Awaitable[object]]

BENCH_KEY = "bench-pseudonym-key-of-32-bytes-or-more"
BENCH_SECRET = "bench-webhook-secret-of-32-characters"
SEND_DELAY = 0.150  # a slow round trip to Telegram, for the burst
# The stock baseline's neural components (DIET, ResponseSelector, TED, UnexpecTED)
# train for 100 epochs by default; capped so training finishes on two cores.
BASELINE_EPOCHS = 20
BASELINE_TRAINING_LIMIT = 15 * 60
BASELINE_CACHE = RESULTS / "baseline"
# Sustained load: conversations, messages each, the period they start over, and
# how long a person reads a reply before typing the next message.
SUSTAINED_CONVERSATIONS = 500
SUSTAINED_MESSAGES = 10
SUSTAINED_SECONDS = 300.0
SUSTAINED_READING = 2.0
SUSTAINED_LOST_AFTER = 60.0  # a message not answered by then counts as lost

# Threads for waiting on the stand-in: one per concurrent conversation, or the
# default pool (a handful of threads on 2 cores) would pace the load instead.
_WAITERS = concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENCY + 4)


@dataclass
class Load:
    """Latencies of one load pattern, in milliseconds, and its throughput."""

    concurrency: int
    latencies_ms: list[float] = field(repr=False)
    seconds: float

    @property
    def messages(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    @property
    def throughput(self) -> float:
        return self.messages / self.seconds

    def summary(self) -> dict[str, float]:
        return {"messages": self.messages, "concurrency": self.concurrency,
                "p50_ms": self.percentile(50), "p95_ms": self.percentile(95),
                "p99_ms": self.percentile(99), "mean_ms": statistics.mean(self.latencies_ms),
                "throughput_per_s": self.throughput}


async def drive(send: Send, conversations: int, concurrency: int) -> Load:
    """Run ``conversations`` scripted conversations, ``concurrency`` at a time.

    Each conversation sends its next message only after the previous one was
    answered (a closed loop, like people waiting for a reply). ``send`` may
    return its own, more precise latency in seconds; otherwise it is timed here.
    """
    queue = [(f"bench-{uuid.uuid4().hex[:12]}", SCRIPTS[n % len(SCRIPTS)])
             for n in range(conversations)]
    latencies: list[float] = []

    async def worker() -> None:
        # A message's latency runs from when its sender was ready to send it (the
        # start, or the previous reply), so time spent queueing behind other
        # conversations counts, even if the send only starts later.
        ready = started
        while queue:
            conversation, script = queue.pop()
            for text in script:
                measured = await send(conversation, text)
                done = time.perf_counter()
                elapsed = measured if isinstance(measured, float) else done - ready
                latencies.append(elapsed * 1000)
                ready = done

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Load(concurrency, latencies, time.perf_counter() - started)


async def measure_loads(send: Send, conversations: int) -> dict[str, Load]:
    await drive(send, conversations=4, concurrency=1)  # warm up caches and connections
    return {
        "one": await drive(send, conversations=conversations, concurrency=1),
        "concurrent": await drive(send, conversations=conversations, concurrency=CONCURRENCY),
    }


# --- processes ---------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _endpoints(folder: Path) -> Path:
    path = folder / "endpoints.yml"
    path.write_text("tracker_store:\n  type: bot.rasa_plugins.tracker_store.SQLiteTrackerStore\n"
                    "  db: conversations.db\nlock_store:\n  type: in_memory\n")
    return path


def _copy_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("config.yml", "domain.yml"):
        shutil.copy(project.ROOT / name, folder / name)
    shutil.copytree(project.DATA, folder / "data")
    return folder


def _timed_run(command: list[str], **kwargs) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


# --- Signpost ------------------------------------------------------------------------


def train_times(folder: Path) -> dict[str, float]:
    """Full training from nothing, then again after editing one answer's text."""
    root = _copy_project(folder / "project")
    train = [sys.executable, "-m", "bot", "train", "--force", "--root", str(root)]
    full = _timed_run(train)
    domain = root / "domain.yml"
    domain.write_text(domain.read_text().replace("You're welcome. Take care.",
                                                 "You're very welcome. Take care.", 1))
    edited = _timed_run(train)
    return {"full_s": full, "after_answer_edit_s": edited}


async def engine_loads(model: Path, folder: Path, conversations: int) -> dict[str, Load]:
    from bot.engine import Engine

    engine = await Engine.load(model, _endpoints(folder))
    return await measure_loads(engine.respond, conversations)


async def long_messages(model: Path, folder: Path, samples: int = LONG_SAMPLES) -> dict:
    """What a 300-word message costs, each in a fresh conversation (the encoder reads it whole)."""
    from bot.engine import Engine

    engine = await Engine.load(model, _endpoints(folder))
    await engine.respond("long-warmup", LONG_MESSAGE)
    seconds = []
    for n in range(samples):
        started = time.perf_counter()
        # A different last word each time, so no cache answers for the encoder.
        await engine.respond(f"long-{n}", f"{LONG_MESSAGE} {n}")
        seconds.append(time.perf_counter() - started)
    load = Load(1, [1000 * s for s in seconds], sum(seconds))
    return {"words": len(LONG_MESSAGE.split()), **load.summary()}


async def long_conversations(model: Path, folder: Path, conversations: int = CONCURRENCY,
                             length: int = 80) -> dict[str, float]:
    """Does a message cost more late in a long conversation than early on?

    ``conversations`` conversations of ``length`` messages each (the scripts'
    messages in turn), one message at a time; the mean cost of messages 1-5 is
    compared with that of the last five.
    """
    from bot.engine import Engine

    engine = await Engine.load(model, _endpoints(folder))
    texts = [text for script in SCRIPTS for text in script]
    costs: list[list[float]] = [[] for _ in range(length)]
    for n in range(conversations):
        for i in range(length):
            started = time.perf_counter()
            await engine.respond(f"long{n}", texts[(n + i) % len(texts)])
            costs[i].append(time.perf_counter() - started)
    early = statistics.mean(c for i in range(5) for c in costs[i]) * 1000
    late = statistics.mean(c for i in range(length - 5, length) for c in costs[i]) * 1000
    return {"early_ms": early, "late_ms": late, "ratio": late / early, "length": length}


def cold_start_and_memory(model: Path, folder: Path, conversations: int) -> dict[str, float]:
    """Start ``python -m bot converse`` cold, time its first answer, load it, read its peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "converse", "--jsonl", "--model", str(model),
         "--endpoints", str(_endpoints(folder))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        def ask(conversation: str, text: str) -> None:
            process.stdin.write(json.dumps({"conversation": conversation, "text": text}) + "\n")
            process.stdin.flush()
            process.stdout.readline()

        ask("cold", "hello")
        cold = time.perf_counter() - started
        for n in range(conversations):
            for text in SCRIPTS[n % len(SCRIPTS)]:
                ask(f"c{n}", text)
        return {"cold_start_s": cold, "peak_rss_mb": peak_rss_mb(process.pid)}
    finally:
        process.stdin.close()
        _stop(process)


async def telegram_loads(model: Path, folder: Path, conversations: int) -> dict:
    """The real adapter process, polling a loopback stand-in; time from update to first reply."""
    from tools.telegram_standin import TelegramStandIn, text_update

    standin = TelegramStandIn().start()
    token = "123456789:" + "B" * 35
    # Telegram's own limit (30 messages a second) would dominate every figure here;
    # lift it to measure the adapter itself. docs/deploying.md documents the limit.
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": standin.base_url,
           "SIGNPOST_ID_KEY": BENCH_KEY, "TELEGRAM_MAX_MESSAGES_PER_SECOND": "100000",
           "SIGNPOST_STATE_DIR": str(folder / "state")}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram", "--model", str(model),
         "--endpoints", str(_endpoints(folder))],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chats: dict[str, int] = {}
    numbers = itertools.count(1)
    loop = asyncio.get_running_loop()
    try:
        standin.push(text_update(1, standin.next_message_id(), "/start"))
        await loop.run_in_executor(None, lambda: standin.wait_for_messages(1, 1, timeout=300))
        cold = time.perf_counter() - started

        async def send(conversation: str, text: str) -> float:
            chat = chats.setdefault(conversation, 10_000 + next(numbers))
            before = len(standin.sent_to(chat))
            pushed = time.monotonic()
            standin.push(text_update(chat, standin.next_message_id(), text))
            # Wait on the stand-in's condition in a thread rather than polling here,
            # which would compete for the interpreter with the stand-in itself.
            await loop.run_in_executor(_WAITERS, lambda: standin.wait_for_messages(chat, before + 1))
            # The stand-in stamps each call as it arrives: use that, not when we noticed.
            return standin.sent_to(chat)[before].at - pushed

        loads = await measure_loads(send, conversations)
        return {"loads": loads, "cold_start_s": cold, "peak_rss_mb": peak_rss_mb(process.pid)}
    finally:
        _stop(process)
        standin.stop()




def telegram_burst(model: Path, folder: Path, chats: int = CONCURRENCY) -> dict:
    """``chats`` people write at once, each sendMessage taking SEND_DELAY: time to each
    first reply (from the updates being available to the reply being delivered), with
    Telegram's default rate limit in place."""
    from tools.telegram_standin import TelegramStandIn, text_update

    standin = TelegramStandIn().start()
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456789:" + "U" * 35,
           "TELEGRAM_API_BASE_URL": standin.base_url, "SIGNPOST_ID_KEY": BENCH_KEY,
           "SIGNPOST_STATE_DIR": str(folder / "state")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram", "--model", str(model),
         "--endpoints", str(_endpoints(folder))],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        standin.push(text_update(1, standin.next_message_id(), "/start"))
        standin.wait_until(lambda: any(c.done for c in standin.sent_to(1)), 300)
        standin.send_delay = SEND_DELAY
        ids = range(20_001, 20_001 + chats)
        pushed = time.monotonic()
        for chat in ids:
            standin.push(text_update(chat, standin.next_message_id(), "how do i report abuse"))
        standin.wait_until(lambda: all(any(c.done for c in standin.sent_to(chat)) for chat in ids),
                           120)
        firsts = sorted(min(c.done for c in standin.sent_to(chat) if c.done) - pushed
                        for chat in ids)
        return {"chats": chats, "send_delay_ms": SEND_DELAY * 1000,
                "first_reply_p50_ms": statistics.median(firsts) * 1000,
                "first_reply_max_ms": firsts[-1] * 1000}
    finally:
        _stop(process)
        standin.stop()


SUSTAINED_SCRIPT = ["hello", "im worried about my daughter", "no", "how do i report a concern",
                    "can i report anonymously", "what is the urn", "what helplines are there",
                    "are you a bot", "thanks", "bye"]


async def sustained_load(model: Path, folder: Path,
                         conversations: int = SUSTAINED_CONVERSATIONS,
                         messages: int = SUSTAINED_MESSAGES,
                         seconds: float = SUSTAINED_SECONDS) -> dict:
    """Many conversations over minutes through the adapter, every send taking 150 ms,
    with Telegram's default rate limit: is any message lost or answered twice, and
    how long do people wait for a first reply?"""
    from tools.telegram_standin import TelegramStandIn, text_update

    standin = TelegramStandIn().start()
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456789:" + "L" * 35,
           "TELEGRAM_API_BASE_URL": standin.base_url, "SIGNPOST_ID_KEY": BENCH_KEY,
           "SIGNPOST_STATE_DIR": str(folder / "state")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram", "--model", str(model),
         "--endpoints", str(_endpoints(folder))],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    waiting: dict[int, tuple[int, asyncio.Event]] = {}  # chat -> (count to reach, event)
    firsts: list[float] = []
    lost = 0
    try:
        standin.push(text_update(1, standin.next_message_id(), "/start"))
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: standin.wait_until(lambda: standin.delivered_count(1), 300))
        standin.send_delay = SEND_DELAY

        async def watch() -> None:  # one poller for every waiting conversation
            while True:
                for chat, (count, event) in list(waiting.items()):
                    if standin.delivered_count(chat) >= count:
                        event.set()
                await asyncio.sleep(0.01)

        async def conversation(n: int) -> None:
            nonlocal lost
            await asyncio.sleep(n * seconds / conversations)
            chat = 30_000 + n
            for text in (SUSTAINED_SCRIPT * messages)[:messages]:
                event = asyncio.Event()
                waiting[chat] = (standin.delivered_count(chat) + 1, event)
                pushed = time.monotonic()
                standin.push(text_update(chat, standin.next_message_id(), text))
                try:
                    await asyncio.wait_for(event.wait(), SUSTAINED_LOST_AFTER)
                except asyncio.TimeoutError:
                    lost += 1
                    continue
                finally:
                    waiting.pop(chat, None)
                reply = [c for c in standin.sent_to(chat) if c.done][-1]
                firsts.append(reply.done - pushed)
                await asyncio.sleep(SUSTAINED_READING)

        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        await asyncio.gather(*(conversation(n) for n in range(conversations)))
        elapsed = time.monotonic() - started
        watcher.cancel()
        duplicated = 0
        for n in range(conversations):
            texts = standin.texts_to(30_000 + n)
            duplicated += sum(a == b for a, b in zip(texts, texts[1:]))
        ordered = sorted(firsts)
        pick = lambda p: ordered[min(len(ordered) - 1, int(p / 100 * (len(ordered) - 1)))] * 1000  # noqa: E731
        return {"conversations": conversations, "messages": conversations * messages,
                "seconds": elapsed, "send_delay_ms": SEND_DELAY * 1000, "lost": lost,
                "duplicated": duplicated, "first_reply_p50_ms": pick(50) if ordered else None,
                "first_reply_p99_ms": pick(99) if ordered else None}
    finally:
        _stop(process)
        standin.stop()


async def scale_out_loads(model: Path, folder: Path, conversations: int) -> dict[str, Load]:
    """Throughput of one instance and of two behind one URL, sharing PostgreSQL and Redis.

    Instances run in webhook mode (as scaled-out bots do); each message is
    posted to the next instance in turn, as a load balancer would.
    """

    with local_servers.postgres() as pg, local_servers.redis() as rd:
        endpoints = local_servers.scale_out_endpoints(folder / "endpoints.yml", pg, rd)
        return {str(count): await _instances_load(model, folder, endpoints, count, conversations)
                for count in (1, 2)}


async def _instances_load(model: Path, folder: Path, endpoints: Path, count: int,
                          conversations: int) -> Load:
    import aiohttp

    from tools.telegram_standin import TelegramStandIn, text_update

    loop = asyncio.get_running_loop()
    standin, processes, urls = TelegramStandIn().start(), [], []
    try:
        for n in range(count):
            port = local_servers.free_port()
            urls.append(f"http://127.0.0.1:{port}/telegram")
            env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456789:" + "C" * 35,
                   "TELEGRAM_API_BASE_URL": standin.base_url, "SIGNPOST_ID_KEY": BENCH_KEY,
                   "WEBHOOK_URL": urls[-1], "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port),
                   "TELEGRAM_WEBHOOK_SECRET": BENCH_SECRET, "TELEGRAM_MAX_MESSAGES_PER_SECOND": "100000",
                   "SIGNPOST_STATE_DIR": str(folder / f"state-{count}-{n}")}
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "bot", "telegram", "--model", str(model),
                 "--endpoints", str(endpoints)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # PTB registers the webhook before its server listens: wait for the ports.
        for url in urls:
            port = int(url.split(":")[2].split("/")[0])
            await loop.run_in_executor(_WAITERS, lambda: local_servers.wait_for_port(port, 300))
        chats: dict[str, int] = {}
        numbers, turns, update_ids = itertools.count(1), itertools.count(), itertools.count(1)
        async with aiohttp.ClientSession() as http:
            async def send(conversation: str, text: str) -> float:
                chat = chats.setdefault(conversation, 50_000 + next(numbers))
                before = len(standin.sent_to(chat))
                update = {"update_id": next(update_ids),
                          **text_update(chat, standin.next_message_id(), text)}
                pushed = time.monotonic()
                async with http.post(urls[next(turns) % count], json=update,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": BENCH_SECRET}) as reply:
                    reply.raise_for_status()
                await loop.run_in_executor(_WAITERS, lambda: standin.wait_for_messages(chat, before + 1))
                return standin.sent_to(chat)[before].at - pushed

            await drive(send, conversations=2, concurrency=1)  # warm up
            return await drive(send, conversations, CONCURRENCY)
    finally:
        for process in processes:
            _stop(process)
        standin.stop()


# --- the stock-Rasa baseline --------------------------------------------------------------


def baseline_config(folder: Path) -> Path:
    """Rasa's default configuration (what ``rasa init`` trains with), reading our data."""
    import rasa.engine.recipes.default_recipe as recipe

    default = Path(recipe.__file__).parent / "config_files" / "default_config.yml"
    config = yaml.safe_load(default.read_text())
    for component in [*config.get("pipeline", []), *config.get("policies", [])]:
        if "epochs" in component:
            component["epochs"] = min(component["epochs"], BASELINE_EPOCHS)
    # The FAQ lives in data/faq.yml; the importer hands it to Rasa as plain data.
    config["importers"] = [{"name": "RasaFileImporter"}, {"name": "bot.rasa_plugins.faq_importer.FaqImporter"}]
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def baseline_fingerprint(root: Path, config: Path) -> str:
    """What the baseline is trained on: its configuration, the domain, the data, Rasa."""
    import hashlib

    import rasa

    digest = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    files = [config, root / "domain.yml", *sorted(p for p in (root / "data").rglob("*")
                                                  if p.is_file())]
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def train_baseline(folder: Path) -> tuple[Path, float, bool]:
    """The baseline model, its training time, and whether it came from the cache."""
    root = _copy_project(folder / "project")
    config = baseline_config(root)
    cached = BASELINE_CACHE / f"baseline-{baseline_fingerprint(root, config)}.tar.gz"
    timing = cached.with_suffix(".json")
    if cached.exists() and timing.exists():
        return cached, json.loads(timing.read_text())["training_full_s"], True
    models = folder / "models"
    try:
        seconds = _timed_run(
            [sys.executable, "-m", "rasa", "train", "--config", str(config), "--domain",
             str(root / "domain.yml"), "--data",
             *[str(root / "data" / p) for p in project.TRAINING_PARTS],
             "--out", str(models), "--fixed-model-name", "baseline"],
            cwd=root, env={**os.environ, "RASA_CACHE_DIRECTORY": str(folder / "cache")},
            timeout=BASELINE_TRAINING_LIMIT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the stock-Rasa baseline did not train within "
                           f"{BASELINE_TRAINING_LIMIT // 60} minutes; lower BASELINE_EPOCHS") from None
    BASELINE_CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copy(models / "baseline.tar.gz", cached)
    timing.write_text(json.dumps({"training_full_s": seconds, "epochs": BASELINE_EPOCHS}))
    return cached, seconds, False


async def baseline_loads(model: Path, folder: Path, conversations: int) -> dict:
    import aiohttp

    credentials = folder / "credentials.yml"
    credentials.write_text("rest:\n")
    port = local_servers.free_port()
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa", "run", "--model", str(model), "--credentials",
         str(credentials), "--port", str(port), "--interface", "127.0.0.1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            async def send(conversation: str, text: str) -> object:
                async with http.post(url, json={"sender": conversation, "message": text}) as reply:
                    reply.raise_for_status()
                    return await reply.json()

            while True:  # cold start: until the first message is answered
                if process.poll() is not None:
                    raise RuntimeError("rasa run exited while starting")
                try:
                    await send("cold", "hello")
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            cold = time.perf_counter() - started
            loads = await measure_loads(send, conversations)
        return {"loads": loads, "cold_start_s": cold, "peak_rss_mb": peak_rss_mb(process.pid)}
    finally:
        _stop(process)


# --- the run ------------------------------------------------------------------------


def run(model: Path, conversations: int = 50, with_baseline: bool = True) -> dict:
    from tqdm import tqdm


    steps = ["Signpost: engine latency", "Signpost: long messages", "Signpost: long conversations",
             "Signpost: cold start and memory",
             "Signpost: Telegram adapter", "Signpost: Telegram burst",
             "Signpost: sustained load", "Signpost: training"]
    scale_out = local_servers.available()
    if scale_out:
        steps.append("Signpost: one and two instances")
    if with_baseline:
        steps += ["Baseline: training (rasa init config)", "Baseline: rasa run over REST"]
    results: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"),
                     "machine": _machine(), "model": model.name, "conversations": conversations}
    with tempfile.TemporaryDirectory(prefix="signpost-bench-") as tmp, \
            tqdm(total=len(steps), file=sys.stderr, unit="step") as progress:
        folder = Path(tmp)

        def step(name: str, work):
            progress.set_description(name)
            (folder / name).mkdir()
            value = work(folder / name)
            progress.update()
            return value

        ours = results["signpost"] = {}
        ours["engine"] = step("Signpost: engine latency", lambda f: asyncio.run(
            engine_loads(model, f, conversations)))
        ours["long_message"] = step("Signpost: long messages", lambda f: asyncio.run(
            long_messages(model, f)))
        ours["long"] = step("Signpost: long conversations", lambda f: asyncio.run(
            long_conversations(model, f)))
        ours.update(step("Signpost: cold start and memory",
                         lambda f: cold_start_and_memory(model, f, conversations)))
        ours["telegram"] = step("Signpost: Telegram adapter",
                                lambda f: asyncio.run(telegram_loads(model, f, conversations)))
        ours["burst"] = step("Signpost: Telegram burst", lambda f: telegram_burst(model, f))
        ours["sustained"] = step("Signpost: sustained load",
                                 lambda f: asyncio.run(sustained_load(model, f)))
        ours["training"] = step("Signpost: training", train_times)
        if scale_out:
            ours["instances"] = step("Signpost: one and two instances", lambda f: asyncio.run(
                scale_out_loads(model, f, conversations)))
        if with_baseline:
            base = results["baseline"] = {}
            base_model, base["training_full_s"], base["training_cached"] = step(
                "Baseline: training (rasa init config)", train_baseline)
            base["epochs"] = BASELINE_EPOCHS
            base.update(step("Baseline: rasa run over REST", lambda f: asyncio.run(
                baseline_loads(base_model, f, conversations))))
    return _plain(results)


def _plain(value):
    """Loads become their summaries, so the results are plain JSON."""
    if isinstance(value, Load):
        return value.summary()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _machine() -> dict:
    import rasa
    import telegram

    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "rasa": rasa.__version__,
            "python-telegram-bot": telegram.__version__}


def table(results: dict) -> str:
    """The results as a Markdown table, with targets and ratios to the baseline."""
    ours, base = results["signpost"], results.get("baseline")
    engine, telegram = ours["engine"], ours["telegram"]["loads"]

    def ratio(mine: float, theirs: float | None, higher_is_better: bool = False) -> str:
        if not theirs:
            return ""
        factor = mine / theirs if higher_is_better else theirs / mine
        return f"{factor:.1f}× {'more' if higher_is_better else 'better'}"

    def row(name, key, mine, theirs=None, unit="", fmt="{:.1f}", higher=False):
        shown = lambda v: "" if v is None else fmt.format(v) + unit  # noqa: E731
        return (f"| {name} | {TARGETS.get(key, '')} | {shown(mine)} | {shown(theirs)} "
                f"| {ratio(mine, theirs, higher) if theirs else ''} |")

    b = (base or {}).get("loads", {})
    rows = [
        "| figure | target | Signpost | stock Rasa | ratio |",
        "|---|---|---|---|---|",
        row("p50 per message, one conversation", "p50_one_ms", engine["one"]["p50_ms"],
            b.get("one", {}).get("p50_ms"), " ms"),
        row("p95 per message, one conversation", "", engine["one"]["p95_ms"],
            b.get("one", {}).get("p95_ms"), " ms"),
        row("p99 per message, one conversation", "", engine["one"]["p99_ms"],
            b.get("one", {}).get("p99_ms"), " ms"),
        row(f"p95 for a {ours['long_message']['words']}-word message", "p95_long_ms",
            ours["long_message"]["p95_ms"], None, " ms"),
        row(f"p50 with {CONCURRENCY} concurrent conversations", "", engine["concurrent"]["p50_ms"],
            b.get("concurrent", {}).get("p50_ms"), " ms"),
        row(f"p99 with {CONCURRENCY} concurrent conversations", "p99_concurrent_ms",
            engine["concurrent"]["p99_ms"], b.get("concurrent", {}).get("p99_ms"), " ms"),
        row(f"throughput, {CONCURRENCY} concurrent", "throughput",
            engine["concurrent"]["throughput_per_s"],
            b.get("concurrent", {}).get("throughput_per_s"), " msg/s", higher=True),
        row("cold start: process start to first answer", "cold_start_s", ours["cold_start_s"],
            (base or {}).get("cold_start_s"), " s"),
        row("peak RSS of the serving process", "peak_rss_mb", ours["peak_rss_mb"],
            (base or {}).get("peak_rss_mb"), " MB", "{:.0f}"),
        row("training, full", "", ours["training"]["full_s"],
            (base or {}).get("training_full_s"), " s"),
        row("training after editing one answer", "", ours["training"]["after_answer_edit_s"],
            None, " s"),
    ]
    adapter = [
        "",
        "Through the Telegram adapter (`python -m bot telegram` polling a loopback Bot API "
        "stand-in; time from the update being available to the first reply arriving; "
        "Telegram's 30 messages/second limit lifted, see below):",
        "",
        "| figure | target | one conversation | 20 concurrent |",
        "|---|---|---|---|",
        f"| p50 | | {telegram['one']['p50_ms']:.1f} ms | {telegram['concurrent']['p50_ms']:.1f} ms |",
        f"| p95 | | {telegram['one']['p95_ms']:.1f} ms | {telegram['concurrent']['p95_ms']:.1f} ms |",
        f"| p99 | | {telegram['one']['p99_ms']:.1f} ms | {telegram['concurrent']['p99_ms']:.1f} ms |",
        f"| throughput | | | {telegram['concurrent']['throughput_per_s']:.0f} msg/s |",
        f"| adapter overhead over the engine, p50 | {TARGETS['adapter_overhead_p50_ms']} "
        f"| {telegram['one']['p50_ms'] - engine['one']['p50_ms']:.1f} ms | |",
        f"| cold start to first Telegram reply | | {ours['telegram']['cold_start_s']:.1f} s | |",
        f"| peak RSS of the adapter process | | {ours['telegram']['peak_rss_mb']:.0f} MB | |",
    ]
    burst = ours.get("burst")
    if burst:
        adapter += [
            "",
            f"A burst: {burst['chats']} chats write at once and every sendMessage takes "
            f"{burst['send_delay_ms']:.0f} ms (Telegram's default rate limit in place); time to "
            "each chat's first reply:",
            "",
            "| figure | target | p50 | slowest |",
            "|---|---|---|---|",
            f"| first reply | slowest ≤ 1000 ms | {burst['first_reply_p50_ms']:.0f} ms "
            f"| {burst['first_reply_max_ms']:.0f} ms |",
        ]
    sustained = ours.get("sustained")
    if sustained:
        adapter += [
            "",
            f"Sustained load: {sustained['conversations']} conversations of "
            f"{sustained['messages'] // sustained['conversations']} messages started evenly over "
            f"{sustained['seconds'] / 60:.1f} minutes, each message sent once the last was answered "
            f"and read, every sendMessage taking {sustained['send_delay_ms']:.0f} ms (Telegram's "
            "default rate limit in place):",
            "",
            "| figure | target | Signpost |",
            "|---|---|---|",
            f"| messages lost | 0 | {sustained['lost']} |",
            f"| replies duplicated | 0 | {sustained['duplicated']} |",
            f"| first reply, p50 | | {sustained['first_reply_p50_ms']:.0f} ms |",
            f"| first reply, p99 | | {sustained['first_reply_p99_ms']:.0f} ms |",
        ]
    long = ours.get("long")
    if long:
        adapter += [
            "",
            f"Long conversations: {CONCURRENCY} conversations of {long['length']} messages, "
            "one message at a time through the engine; the mean cost of a message:",
            "",
            "| messages 1-5 | last five | late / early |",
            "|---|---|---|",
            f"| {long['early_ms']:.1f} ms | {long['late_ms']:.1f} ms | {long['ratio']:.2f}× |",
        ]
    instances = ours.get("instances")
    if instances:
        one, two = instances["1"], instances["2"]
        adapter += [
            "",
            f"Scaled out: instances in webhook mode sharing PostgreSQL (tracker store) and Redis "
            f"(lock store), {CONCURRENCY} concurrent conversations, messages posted to the "
            "instances in turn:",
            "",
            "| figure | one instance | two instances | ratio |",
            "|---|---|---|---|",
            f"| throughput | {one['throughput_per_s']:.0f} msg/s | {two['throughput_per_s']:.0f} msg/s "
            f"| {two['throughput_per_s'] / one['throughput_per_s']:.2f}× |",
            f"| p50 | {one['p50_ms']:.0f} ms | {two['p50_ms']:.0f} ms | |",
            f"| p99 | {one['p99_ms']:.0f} ms | {two['p99_ms']:.0f} ms | |",
        ]
    return "\n".join(rows + adapter)


def write_report(results: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = results["date"].replace(":", "").replace("-", "")
    raw = RESULTS / f"bench-{stamp}.json"
    raw.write_text(json.dumps(results, indent=2))
    machine = results["machine"]
    before = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else ""
    kept = before[before.index(KEPT_MARK):] if KEPT_MARK in before else KEPT_MARK + "\n"
    BENCHMARKS_MD.write_text(f"""# Benchmarks

Measured by `make bench` (`python -m tools.bench`) on {results['date'][:10]}:
{machine['cpus']} CPUs, Python {machine['python']}, Rasa {machine['rasa']},
python-telegram-bot {machine['python-telegram-bot']}. Each conversation is a scripted,
six-message conversation ({results['conversations']} conversations per load pattern;
a conversation sends its next message when the last one is answered). Raw figures:
`results/` (not committed). Figures vary from run to run on a shared machine; the
baseline is measured in the same run so the ratios stay comparable.

{table(results)}

How each side is run:

- **Signpost**: the dialogue engine in-process (`Engine.respond`), with the SQLite
  tracker store of `endpoints.yml`, so every message is read from and written to disk.
  Cold start and memory: a fresh `python -m bot converse` process, from start to its
  first answer, then loaded with the same conversations.
- **stock Rasa**: the same domain and training data, trained with Rasa's default
  configuration (the one `rasa init` uses: DIET, ResponseSelector, TED and
  UnexpecTED policies; each capped at {BASELINE_EPOCHS} epochs instead of 100 so it
  trains on two cores, and trained once, then cached by its fingerprint), served by `rasa run` with the REST channel and its default
  in-memory tracker store, and sent the same conversations over HTTP.

What the figures mean, and where a target is missed: below, "What the figures mean".

{kept}""")
    return raw


def main(model: Path, conversations: int, with_baseline: bool) -> int:
    results = run(model, conversations, with_baseline)
    raw = write_report(results)
    print(table(results))
    print(f"\nWritten: {BENCHMARKS_MD.name} and {raw.relative_to(project.ROOT)}", file=sys.stderr)
    return 0


def cli(argv: list[str] | None = None) -> int:
    import argparse

    from bot.cli import current_model, guarded

    parser = argparse.ArgumentParser(prog="python -m tools.bench",
                                     description="Benchmark against a stock-Rasa baseline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--model", type=Path, help="benchmark this model instead of the current one")
    parser.add_argument("--conversations", type=int, default=50,
                        help="six-message conversations per load pattern (default 50)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the stock-Rasa baseline (minutes of training)")
    args = parser.parse_args(argv)
    return guarded(lambda: main(current_model(args.model), args.conversations, not args.no_baseline),
                   args.verbose)


if __name__ == "__main__":
    sys.exit(cli())
