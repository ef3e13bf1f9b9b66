"""A generated corpus of assistant utterances: intent, urgency and entity labels per token.

Utterances come from templates filled with slot values; some values are kept out of the
training split, so the held-out accuracy measures generalisation, not memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .features import tokenize

OUTSIDE = "O"

SLOTS: dict[str, list[str]] = {
    "CITY": [
        "paris",
        "london",
        "berlin",
        "tokyo",
        "new york",
        "madrid",
        "rome",
        "oslo",
        "lisbon",
        "chicago",
        "boston",
        "vienna",
        "prague",
        "dublin",
        "seoul",
        "lima",
        "cairo",
        "denver",
        "san francisco",
        "buenos aires",
        "athens",
        "warsaw",
        "helsinki",
        "toronto",
    ],
    "DATE": [
        "tomorrow",
        "today",
        "tonight",
        "monday",
        "tuesday",
        "friday",
        "next week",
        "this weekend",
        "next friday",
        "saturday",
        "sunday",
        "next month",
    ],
    "TIME": [
        "7:30",
        "6 am",
        "noon",
        "8:15 pm",
        "5:45",
        "9 pm",
        "midnight",
        "10:00",
        "6:20 am",
        "11 am",
        "4:30 pm",
        "7 am",
    ],
    "ARTIST": [
        "adele",
        "the beatles",
        "miles davis",
        "daft punk",
        "nina simone",
        "radiohead",
        "bob marley",
        "taylor swift",
        "john coltrane",
        "queen",
        "bjork",
        "the cure",
    ],
}

TEMPLATES: dict[str, list[str]] = {
    "weather": [
        "what is the weather in {CITY} {DATE}",
        "will it rain in {CITY} {DATE}",
        "weather forecast for {CITY}",
        "is it cold in {CITY}",
        "how hot will it be in {CITY} {DATE}",
        "do i need an umbrella in {CITY} {DATE}",
    ],
    "book_flight": [
        "book a flight from {CITY} to {CITY} {DATE}",
        "i need a ticket to {CITY} {DATE}",
        "fly me to {CITY} on {DATE}",
        "find flights from {CITY} to {CITY}",
        "get me a seat to {CITY} leaving {DATE}",
        "reserve a plane to {CITY}",
    ],
    "play_music": [
        "play {ARTIST}",
        "put on some {ARTIST}",
        "i want to hear {ARTIST}",
        "play songs by {ARTIST}",
        "shuffle music from {ARTIST}",
        "can you play {ARTIST} in the kitchen",
    ],
    "set_alarm": [
        "wake me up at {TIME}",
        "set an alarm for {TIME} {DATE}",
        "alarm at {TIME}",
        "remind me at {TIME} {DATE}",
        "set a timer until {TIME}",
        "please wake me at {TIME}",
    ],
}

URGENT = ["right now", "asap", "immediately", "urgently", "hurry up and", "quickly"]
CALM = ["when you can", "no rush", "if possible", "whenever", "at some point"]


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    urgency: str
    tags: list[str]  # one per token of tokenize(text)


def _fill(template: str, rng: random.Random, values: dict[str, list[str]]) -> tuple[str, list[str]]:
    words: list[str] = []
    tags: list[str] = []
    for part in template.split():
        slot = part.strip("{}") if part.startswith("{") else None
        value = rng.choice(values[slot]) if slot else part
        if slot and rng.random() < 0.5:
            value = value.title()
        for token in tokenize(value):
            words.append(token.text)
            tags.append(slot or OUTSIDE)
    return " ".join(words), tags


def generate(n: int, seed: int, held_out: bool) -> list[Example]:
    """``n`` examples; ``held_out`` draws slot values from the quarter kept out of training."""
    rng = random.Random(seed)
    values = {
        slot: [v for i, v in enumerate(options) if (i % 4 == 3) == held_out]
        for slot, options in SLOTS.items()
    }
    examples: list[Example] = []
    intents = sorted(TEMPLATES)
    for _ in range(n):
        intent = rng.choice(intents)
        text, tags = _fill(rng.choice(TEMPLATES[intent]), rng, values)
        urgency = "urgent" if rng.random() < 0.35 else "normal"
        words = rng.choice(URGENT if urgency == "urgent" else [*CALM, ""])
        if words:
            extra = [t.text for t in tokenize(words)]
            if rng.random() < 0.5:
                text, tags = " ".join([*extra, text]), [OUTSIDE] * len(extra) + tags
            else:
                text, tags = " ".join([text, *extra]), tags + [OUTSIDE] * len(extra)
        if rng.random() < 0.3:
            text = text[:1].upper() + text[1:]
        examples.append(Example(text, intent, urgency, tags))
    return examples
