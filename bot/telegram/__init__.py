"""SafeSteps on Telegram: an aiogram 3 gateway in front of the chat API's conversation."""
