"""The situations the safety layer must recognise and the everyday messages it must leave
alone, by id (docs/safety-taxonomy.md explains each). Examples and evaluation sets use these."""

from __future__ import annotations

SITUATIONS = (
    "confinement", "documents-withheld", "debt-bondage", "forced-marriage", "forced-sex-work",
    "scam-compound", "domestic-servitude", "forced-labour", "child-missing-now",
    "online-grooming", "sextortion", "virtual-kidnapping", "threats-violence", "self-harm",
    "third-party-report",
)

NEGATIVE_CATEGORIES = (
    "homework", "games", "jokes-idioms", "pets", "school", "family-arguments", "feelings",
    "health", "shopping-online", "work-normal", "travel", "lesson-questions", "news-media",
    "chit-chat", "tech-help", "sports",
)
