"""Front ends. Each talks to the engine (a conversation id and a text in,
replies out) and knows nothing about Rasa."""
