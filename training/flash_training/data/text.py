"""Grasp descriptions at three levels of abstraction, generated deterministically from contact labels.

- high: the goal, in words a person would use ("Pick up the mug by its handle.")
- mid:  the part and how many fingers hold it ("Grasp the mug's handle with three fingers, thumb included.")
- low:  every finger and the part it touches ("Put the thumb and the index finger on the handle, the middle
        finger on the body, and keep the ring finger off the mug.")

Everything said is derived from the contact labels, so "the handle" is only said when fingers touch the
handle. Each level has several templates; `paraphrase_grasp` gives a grasp several distinct wordings per level
in an order drawn from a generator seeded by the grasp's key, and `describe_grasp` the first of each: rebuilding
gives the same text.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

TEXT_LEVELS = ("low", "mid", "high")
NUMBER_WORDS = {1: "one finger", 2: "two fingers", 3: "three fingers", 4: "four fingers", 5: "five fingers"}

# Why people hold a part: the high level names the intent where the category/part pair has an obvious one.
PART_INTENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("mug", "handle"): ("Pick up the mug by its handle, as if to drink from it.", "Hold the mug by the handle."),
    ("mug", "body"): ("Wrap the hand around the mug's body.", "Pick up the mug by its body, not the handle."),
    ("knife", "handle"): ("Hold the knife by the handle, ready to cut.", "Pick up the knife safely by its handle."),
    ("knife", "blade"): ("Pinch the knife by the blade to hand it over.",),
    ("hammer", "handle"): ("Hold the hammer by the handle, ready to strike.", "Pick up the hammer by its handle."),
    ("hammer", "head"): ("Pick up the hammer by its head.",),
    ("drill", "handle"): ("Hold the drill by its grip, ready to pull the trigger.", "Pick up the drill by the handle."),
    ("drill", "trigger"): ("Hold the drill with a finger on the trigger, ready to use it.",),
    ("drill", "body"): ("Pick up the drill by its body to hand it over.",),
    ("bottle", "cap"): ("Grab the bottle by its cap, as if to open it.",),
    ("bottle", "body"): ("Hold the bottle around its body, ready to pour.",),
    ("spatula", "handle"): ("Hold the spatula by the handle, ready to flip food.",),
    ("pan", "handle"): ("Pick up the pan by its handle.", "Hold the pan by the handle, ready to cook."),
    ("screwdriver", "handle"): ("Hold the screwdriver by the handle, ready to turn a screw.",),
    ("can", "lid"): ("Grab the can from the top.",),
}
GENERIC_HIGH = (
    "Pick up the {category}.",
    "Grasp the {category} firmly.",
    "Lift the {category}.",
    "Take hold of the {category}.",
    "Grab the {category}.",
)
# For objects with several parts: the goal names the part held.
PART_HIGH = (
    "Pick up the {category} by its {part}.",
    "Hold the {category} by the {part}.",
    "Grab the {category}'s {part}.",
    "Take the {category} by the {part}.",
)
MID = (
    "Grasp the {category}'s {part} with {count}, {thumb}.",
    "Use {count} ({thumb}) to hold the {part} of the {category}.",
    "Hold the {part} of the {category} with {count}, {thumb}.",
    "Take the {category} by the {part} using {count}, {thumb}.",
)


@dataclass(frozen=True)
class ContactSummary:
    """Which part each finger touches: `finger_parts[i]` is a part name or None for finger_names[i]."""

    category: str
    finger_names: tuple[str, ...]
    finger_parts: tuple[str | None, ...]
    part_names: tuple[str, ...] = ()  # the object's parts; with several, the goal names the part held

    def __post_init__(self) -> None:
        if len(self.finger_names) != len(self.finger_parts):
            raise ValueError(f"{len(self.finger_names)} finger names but {len(self.finger_parts)} finger labels")

    @property
    def main_part(self) -> str | None:
        """The part most fingers touch; ties go to the part the thumb touches, then to the first listed."""
        counts = Counter(p for p in self.finger_parts if p is not None)
        if not counts:
            return None
        best = max(counts.values())
        tied = [p for p in counts if counts[p] == best]
        thumb = dict(zip(self.finger_names, self.finger_parts, strict=False)).get("thumb")
        return thumb if thumb in tied else tied[0]


def _finger_phrase(finger: str) -> str:
    return "the thumb" if finger == "thumb" else f"the {finger} finger"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _low_level(summary: ContactSummary) -> tuple[str, ...]:
    """Wordings that place every finger: on its part, or off the object."""
    by_part: dict[str, list[str]] = {}
    for finger, part in zip(summary.finger_names, summary.finger_parts, strict=False):
        if part is not None:
            by_part.setdefault(part, []).append(_finger_phrase(finger))
    idle = [_finger_phrase(f) for f, p in zip(summary.finger_names, summary.finger_parts, strict=False) if p is None]
    category = summary.category
    on = _join([f"{_join(fingers)} on the {part}" for part, fingers in by_part.items()])
    touch = _join([f"the {part} with {_join(fingers)}" for part, fingers in by_part.items()])
    if idle:
        stay = "stays" if len(idle) == 1 else "stay"
        tails = (
            f", and keep {_join(idle)} off the {category}.",
            f"; {_join(idle)} {stay} off the {category}.",
            f", keeping {_join(idle)} off the {category}.",
            f", and lift {_join(idle)} away from the {category}.",
        )
    else:
        tails = (
            f", closing all fingers on the {category}.",
            f"; every finger touches the {category}.",
            ", using every finger.",
            f", wrapping all fingers around the {category}.",
        )
    texts = (f"Put {on}{tails[0]}", f"Place {on}{tails[1]}", f"Touch {touch}{tails[2]}", f"Rest {on}{tails[3]}")
    return tuple(t[0].upper() + t[1:] for t in texts)


def _wordings(summary: ContactSummary) -> dict[str, tuple[str, ...]]:
    """Every template of each level filled in for this grasp (distinct strings, template order)."""
    category, main = summary.category, summary.main_part
    if main is None:
        return {level: (f"Hold the hand around the {category} without touching it.",) for level in TEXT_LEVELS}
    high = list(PART_INTENTS.get((category, main), ()))
    if len(summary.part_names) > 1:
        high += [t.format(category=category, part=main) for t in PART_HIGH]
    if not high:
        high = [t.format(category=category) for t in GENERIC_HIGH]
    touching = [f for f, p in zip(summary.finger_names, summary.finger_parts, strict=False) if p is not None]
    count = NUMBER_WORDS.get(len(touching), f"{len(touching)} fingers")
    thumb = "thumb included" if "thumb" in touching else "without the thumb"
    mid = [t.format(category=category, part=main, count=count, thumb=thumb) for t in MID]
    return {"low": _low_level(summary), "mid": tuple(dict.fromkeys(mid)), "high": tuple(dict.fromkeys(high))}


def paraphrase_grasp(summary: ContactSummary, key: str, count: int) -> dict[str, list[str]]:
    """Up to `count` distinct wordings of one grasp per level ("low", "mid", "high"), fewer where a level has fewer
    templates. `key` (e.g. "object|hand|row") seeds their order; the first of each is `describe_grasp`'s."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    out = {}
    for level, options in _wordings(summary).items():
        order = np.random.default_rng([zlib.crc32(key.encode()), TEXT_LEVELS.index(level)]).permutation(len(options))
        out[level] = [options[i] for i in order[:count]]
    return out


def describe_grasp(summary: ContactSummary, key: str) -> dict[str, str]:
    """The three descriptions of one grasp; `key` (e.g. "object|hand|row") seeds the choice of wording."""
    return {level: wordings[0] for level, wordings in paraphrase_grasp(summary, key, 1).items()}
