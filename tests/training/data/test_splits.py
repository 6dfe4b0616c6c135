"""The default preset's splits hold enough objects in each test split, and the categories it names exist."""

from collections import Counter

from flash_training.data.build import PRESETS
from flash_training.data.objects import make_object_source
from flash_training.data.objects.ycb import category_of
from flash_training.data.splits import SplitConfig, object_split


def preset_objects(name: str) -> list[tuple[str, str]]:
    """(object_id, category) of a preset's objects, read from their names (no mesh is loaded)."""
    objects = []
    for spec in PRESETS[name].sources:
        source = make_object_source(spec.kind, **spec.options)
        for object_name in source.names()[: spec.limit]:
            category = {
                "procedural": lambda n: n.rpartition("_")[0],
                "ycb": category_of,
                "pybullet_random": lambda n: "random",
            }[spec.kind](object_name)
            objects.append((f"{source.name}/{object_name}", category))
    return objects


def test_default_preset_splits_have_enough_objects():
    config = PRESETS["default"].splits
    objects = preset_objects("default")
    categories = {c for _, c in objects}
    assert set(config.unseen_categories) <= categories  # no misspelt category silently holds nothing out
    assert len(objects) >= 240 and len(categories) >= 50
    split = {o: object_split(o, c, config) for o, c in objects}
    counts = Counter(split.values())
    assert counts["train"] >= 150 and counts["unseen_category"] >= 25 and counts["unseen_object"] >= 20
    held_out = {c for o, c in objects if split[o] == "unseen_category"}
    assert {"screwdriver", "pan"} <= held_out  # part-labelled categories: part prompts on unseen shapes
    train_categories = {c for o, c in objects if split[o] == "train"}
    unseen_objects = [c for o, c in objects if split[o] == "unseen_object"]
    # Unseen objects should come from categories the training set has; YCB objects that are their own category
    # are the exception, and a small one.
    assert sum(c in train_categories for c in unseen_objects) >= 0.8 * len(unseen_objects)


def test_named_categories_are_held_out_whole():
    config = SplitConfig(unseen_category_fraction=0.0, unseen_object_fraction=0.5, unseen_categories=("pan",))
    assert {object_split(f"procedural/pan_{i:03d}", "pan", config) for i in range(20)} == {"unseen_category"}
    others = {object_split(f"procedural/mug_{i:03d}", "mug", config) for i in range(20)}
    assert others == {"train", "unseen_object"}
