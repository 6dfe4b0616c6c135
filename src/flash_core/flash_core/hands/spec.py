"""The per-hand data file (`hands/data/<name>.yaml`), read into a typed, validated `HandSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import yaml

_DATA_PACKAGE = "flash_core.hands.data"


@dataclass(frozen=True)
class XmlPatch:
    """A textual fix applied to the MJCF before compiling (`find` must occur exactly once)."""

    find: str
    replace: str
    why: str


@dataclass(frozen=True)
class FingerContact:
    links: tuple[str, ...]
    flex_axis: tuple[float, float, float]  # in each link's frame, through its origin


@dataclass(frozen=True)
class HandSpec:
    name: str
    asset: str  # key in flash_core.assets.SOURCES
    primitives_xml: str  # file in hands/data: boxes/capsules only, same kinematics
    root_body: str
    joint_names: tuple[str, ...]  # FLASH order
    model_joint_names: tuple[str, ...]  # the MJCF's names, same order
    joint_limits: tuple[tuple[float, float], ...]  # rad, FLASH order
    limits_source: str
    finger_names: tuple[str, ...]
    contact_fingers: dict[str, FingerContact]
    contact_points_per_finger: int
    open_joints: tuple[float, ...]
    pregrasp_joints: tuple[float, ...]
    xml_patches: tuple[XmlPatch, ...] = ()
    excluded_link_pairs: tuple[tuple[str, str], ...] = ()
    # link -> ((x, y, z, radius), ...) in the link frame, metres
    collision_spheres: dict[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        for what in ("model_joint_names", "joint_limits", "open_joints", "pregrasp_joints"):
            if len(getattr(self, what)) != n:
                raise ValueError(f"hand '{self.name}': {what} has {len(getattr(self, what))} entries, expected {n}")
        for (lo, hi), joint in zip(self.joint_limits, self.joint_names):
            if not lo < hi:
                raise ValueError(f"hand '{self.name}': joint {joint} has empty limits [{lo}, {hi}]")
        for what in ("open_joints", "pregrasp_joints"):
            for q, (lo, hi), joint in zip(getattr(self, what), self.joint_limits, self.joint_names):
                if not lo <= q <= hi:
                    raise ValueError(f"hand '{self.name}': {what} puts joint {joint} at {q}, outside [{lo}, {hi}]")
        if sorted(self.contact_fingers) != sorted(self.finger_names):
            raise ValueError(f"hand '{self.name}': contact fingers {sorted(self.contact_fingers)} "
                             f"!= finger_names {sorted(self.finger_names)}")


def known_hands() -> list[str]:
    """Names of the hands that have a data file."""
    return sorted(p.name[:-5] for p in resources.files(_DATA_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def read_data_text(filename: str) -> str:
    """Text of a file shipped in hands/data (the YAMLs, the primitives-only MJCFs)."""
    return resources.files(_DATA_PACKAGE).joinpath(filename).read_text()


def load_spec(name: str) -> HandSpec:
    """Read hands/data/<name>.yaml; unknown name -> KeyError listing the known hands."""
    if name not in known_hands():
        raise KeyError(f"unknown hand '{name}'; known hands: {known_hands()}")
    raw = yaml.safe_load(read_data_text(f"{name}.yaml"))
    contact = raw["contact"]
    collision = raw.get("self_collision", {})
    return HandSpec(
        name=raw["name"],
        asset=raw["asset"],
        primitives_xml=raw["primitives_xml"],
        root_body=raw["root_body"],
        joint_names=tuple(str(j) for j in raw["joint_names"]),
        model_joint_names=tuple(raw["model_joint_names"]),
        joint_limits=tuple((float(lo), float(hi)) for lo, hi in raw["joint_limits"]),
        limits_source=raw["limits_source"],
        finger_names=tuple(raw["finger_names"]),
        contact_fingers={
            finger: FingerContact(links=tuple(c["links"]), flex_axis=tuple(float(a) for a in c["flex_axis"]))
            for finger, c in contact["fingers"].items()
        },
        contact_points_per_finger=int(contact["points_per_finger"]),
        open_joints=tuple(float(q) for q in raw["open_joints"]),
        pregrasp_joints=tuple(float(q) for q in raw["pregrasp_joints"]),
        xml_patches=tuple(XmlPatch(**p) for p in raw.get("xml_patches") or ()),
        excluded_link_pairs=tuple(tuple(p) for p in collision.get("excluded_link_pairs") or ()),
        collision_spheres={
            link: tuple(tuple(float(v) for v in s) for s in spheres)
            for link, spheres in (collision.get("spheres") or {}).items()
        },
    )
