"""Grasp descriptions at three levels of abstraction, generated deterministically from contact labels.

- high: the goal, in words a person would use ("Pick up the mug by its handle.")
- mid:  the part and how many fingers hold it ("Grasp the mug's handle with three fingers, thumb included.")
- low:  every finger and the part it touches ("Put the thumb and the index finger on the handle, the middle
        finger on the body, and keep the ring finger off the mug.")

Everything said is derived from the contact labels, so "the handle" is only said when fingers touch the
handle. Wording varies between grasps through a generator seeded by the grasp's key: rebuilding gives the
same text.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

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
GENERIC_HIGH = ("Pick up the {category}.", "Grasp the {category} firmly.", "Lift the {category}.")


@dataclass(frozen=True)
class ContactSummary:
    """Which part each finger touches: `finger_parts[i]` is a part name or None for finger_names[i]."""

    category: str
    finger_names: tuple[str, ...]
    finger_parts: tuple[str | None, ...]

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


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def describe_grasp(summary: ContactSummary, key: str) -> dict[str, str]:
    """The three descriptions of one grasp; `key` (e.g. "object|hand|row") seeds the choice of wording."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    category, main = summary.category, summary.main_part
    touching = [f for f, p in zip(summary.finger_names, summary.finger_parts, strict=False) if p is not None]
    if main is None:
        return {level: f"Hold the hand around the {category} without touching it." for level in ("low", "mid", "high")}

    high = _pick(rng, PART_INTENTS.get((category, main), tuple(t.format(category=category) for t in GENERIC_HIGH)))

    count = NUMBER_WORDS.get(len(touching), f"{len(touching)} fingers")
    with_thumb = "thumb included" if "thumb" in touching else "without the thumb"
    mid = _pick(
        rng,
        (
            f"Grasp the {category}'s {main} with {count}, {with_thumb}.",
            f"Use {count} ({with_thumb}) to hold the {main} of the {category}.",
        ),
    )

    by_part: dict[str, list[str]] = {}
    for finger, part in zip(summary.finger_names, summary.finger_parts, strict=False):
        if part is not None:
            by_part.setdefault(part, []).append(_finger_phrase(finger))
    clauses = [f"{_join(fingers)} on the {part}" for part, fingers in by_part.items()]
    idle = [_finger_phrase(f) for f, p in zip(summary.finger_names, summary.finger_parts, strict=False) if p is None]
    low = f"Put {_join(clauses)}"
    low += f", and keep {_join(idle)} off the {category}." if idle else f", closing all fingers on the {category}."
    return {"low": low[0].upper() + low[1:], "mid": mid, "high": high}
