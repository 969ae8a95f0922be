"""Telegram through python-telegram-bot: app.py wires settings, handlers and
PTB's Application; delivery.py makes sure no reply is lost; the rest are the
pseudonyms, the fixed replies and splitting at Telegram's length limit."""
