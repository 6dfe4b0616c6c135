"""The MoveIt SRDF of the Gen3 + LEAP assembly: planning groups, named states, the end effector, and the
self-collision pairs MoveIt may skip, computed from the generated URDF the way MoveIt Setup Assistant does.

    flash robot-description --out urdf/ --srdf      # also writes urdf/gen3_leap.srdf

Disabled pairs, in Setup Assistant's order (each stage looks only at the pairs the earlier ones left):
  Adjacent  links joined by a joint; a link without collision geometry joins its neighbours to each other;
  Default   in collision at MoveIt's default state (joints at 0, or mid-range where 0 is outside);
  Always    in collision in at least `always_fraction` of `always_samples` random states;
  Never     in collision in none of `n_samples` random states, and never closer than `never_margin_m`
            (2 cm; Setup Assistant has no margin, and without one sampling misses rare contacts).
Random states are uniform within the URDF joint limits (continuous joints over one turn), drawn from a fixed
seed, so the same URDF gives the same SRDF. The collision geometry is the URDF's own (meshes as triangle
BVHs, boxes), loaded by Pinocchio and checked with coal, i.e. the shapes MoveIt's FCL checker sees. "Never"
is a sampling verdict, as in Setup Assistant: more samples make it more trustworthy.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from flash_core.planning.description import (
    ARM_JOINT_NAMES,
    HAND_JOINT_NAMES,
    HAND_PREFIX,
    HAND_ROOT_BODY,
    AssemblyConfig,
    write_robot_description,
)
from flash_core.utils.cache import cache_dir

ROBOT_NAME = "gen3_leap"
BASE_LINK = "base_link"
MANIPULATOR_GROUP = "manipulator"  # ros2_kortex's name for the arm group
HAND_GROUP = "hand"
END_EFFECTOR = "leap_hand"
TIP_LINK = HAND_PREFIX + HAND_ROOT_BODY  # the grasp's wrist frame: IK and pose goals are for this link
# ros2_kortex's named arm states (kortex_moveit_config); "home" equals planning.robot_model.HOME_ARM_Q_RAD.
ARM_STATES_RAD = {
    "home": (0.0, 0.26179939, 3.14159265, -2.26892803, 0.0, 0.95993109, 1.57079633),
}
HAND_STATES_RAD = {"open": (0.0,) * len(HAND_JOINT_NAMES)}  # zero = the flat open LEAP hand
REASONS = ("Adjacent", "Default", "Always", "Never")


@dataclass(frozen=True)
class CollisionMatrixConfig:
    n_samples: int = 10000  # Setup Assistant's default sampling density
    always_samples: int = 1000
    always_fraction: float = 0.95
    # "Never" only for pairs that never come this close: sampling misses rare contacts (the elbow folding the
    # hand back onto half_arm_2_link, crossed fingers), so a pair must keep a clearance in every sample.
    # Setup Assistant uses 0 (contact); the margin keeps ~30 rarely-near pairs checked (docs/benchmarks.md).
    never_margin_m: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.always_samples < 1:
            raise ValueError(f"sample counts must be positive, got {self.n_samples}, {self.always_samples}")
        if not 0.0 < self.always_fraction <= 1.0:
            raise ValueError(f"always_fraction must be in (0, 1], got {self.always_fraction}")
        if self.never_margin_m < 0.0:
            raise ValueError(f"never_margin_m must be >= 0, got {self.never_margin_m}")


@dataclass(frozen=True)
class DisabledPair:
    link1: str
    link2: str
    reason: str  # one of REASONS


class UrdfCollisionModel:
    """Pinocchio kinematics and collision geometry of a URDF, with geometries grouped per link.

    q is Pinocchio's configuration (nq,): continuous joints take two entries (cos, sin).
    """

    def __init__(self, urdf_path: str | os.PathLike):
        import pinocchio as pin

        path = Path(urdf_path)
        if not path.is_file():
            raise FileNotFoundError(f"URDF not found: {path} (write it with `flash robot-description`)")
        self.urdf_path = path
        self.model = pin.buildModelFromUrdf(str(path))
        self.geometry = pin.buildGeomFromUrdf(self.model, str(path), pin.COLLISION)
        root = ET.parse(path).getroot()
        self.links: tuple[str, ...] = tuple(link.get("name") for link in root.findall("link"))
        self.joints: tuple[tuple[str, str], ...] = tuple(
            (joint.find("parent").get("link"), joint.find("child").get("link")) for joint in root.findall("joint")
        )  # (parent link, child link) per URDF joint
        # Geometry objects are attached to their link's BODY frame.
        self.geometry_link = [self.model.frames[o.parentFrame].name for o in self.geometry.geometryObjects]

    @cached_property
    def links_with_geometry(self) -> tuple[str, ...]:
        present = set(self.geometry_link)
        return tuple(link for link in self.links if link in present)

    def default_q(self) -> np.ndarray:
        """MoveIt's default state: each joint at 0, or at the middle of its limits when 0 is outside them."""
        import pinocchio as pin

        q = pin.neutral(self.model)  # revolute 0, continuous (cos, sin) = (1, 0)
        lower, upper = self.model.lowerPositionLimit, self.model.upperPositionLimit
        for j in range(1, self.model.njoints):
            i = self.model.idx_qs[j]
            if self.model.nqs[j] == 1 and not lower[i] <= 0.0 <= upper[i]:
                q[i] = 0.5 * (lower[i] + upper[i])
        return q

    def random_q(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, nq) states uniform within the joint limits; continuous joints uniform over [-pi, pi)."""
        model = self.model
        out = np.zeros((n, model.nq))
        for j in range(1, model.njoints):
            start, width = model.idx_qs[j], model.nqs[j]
            if width == 2:  # continuous revolute: (cos, sin)
                angle = rng.uniform(-math.pi, math.pi, n)
                out[:, start], out[:, start + 1] = np.cos(angle), np.sin(angle)
            elif width == 1:
                out[:, start] = rng.uniform(model.lowerPositionLimit[start], model.upperPositionLimit[start], n)
            else:
                raise ValueError(f"joint '{model.names[j]}' has {width} position variables: only revolute "
                                 "and continuous joints are supported")
        return out

    def adjacent_pairs(self) -> set[frozenset[str]]:
        """Links joined by a joint, plus the neighbours of each link without geometry (Setup Assistant)."""
        neighbours: dict[str, set[str]] = {link: set() for link in self.links}
        for parent, child in self.joints:
            neighbours[parent].add(child)
            neighbours[child].add(parent)
        pairs = {frozenset(edge) for edge in self.joints}
        with_geometry = set(self.links_with_geometry)
        for link in self.links:
            if link not in with_geometry:
                pairs |= {frozenset(p) for p in combinations(sorted(neighbours[link]), 2)}
        return pairs


class _PairChecker:
    """Geometry pairs of a set of link pairs, checked in one `pin.computeCollisions` call per state."""

    def __init__(self, urdf: UrdfCollisionModel, link_pairs: list[tuple[str, str]]):
        import pinocchio as pin

        self.urdf = urdf
        self.link_pairs = link_pairs
        self.geometry = urdf.geometry.copy()
        self.geometry.removeAllCollisionPairs()
        by_link: dict[str, list[int]] = {}
        for index, link in enumerate(urdf.geometry_link):
            by_link.setdefault(link, []).append(index)
        self.owner: list[int] = []  # geometry pair k belongs to link pair owner[k]
        self.members: list[list[int]] = []  # link pair p -> its geometry pairs
        for p, (a, b) in enumerate(link_pairs):
            ks = []
            for i in by_link[a]:
                for j in by_link[b]:
                    ks.append(len(self.owner))
                    self.owner.append(p)
                    self.geometry.addCollisionPair(pin.CollisionPair(min(i, j), max(i, j)))
            self.members.append(ks)
        self.data = urdf.model.createData()
        self.gdata = self.geometry.createData()

    def set_margin(self, margin_m: float) -> None:
        """Count pairs closer than margin_m as colliding (coal's security margin)."""
        for request in self.gdata.collisionRequests:
            request.security_margin = margin_m

    def deactivate(self, pair: int) -> None:
        for k in self.members[pair]:
            self.gdata.deactivateCollisionPair(k)

    def colliding(self, q: np.ndarray) -> set[int]:
        """Indices of the (active) link pairs in collision at q."""
        import pinocchio as pin

        if not pin.computeCollisions(self.urdf.model, self.data, self.geometry, self.gdata, q, False):
            return set()
        active, results = self.gdata.activeCollisionPairs, self.gdata.collisionResults
        return {self.owner[k] for k in range(len(self.owner)) if active[k] and results[k].isCollision()}


def disabled_collision_pairs(urdf_path: str | os.PathLike, config: CollisionMatrixConfig | None = None,
                             progress: bool = True) -> list[DisabledPair]:
    """The disabled-collision pairs of a URDF (links with collision geometry only), sorted by link names."""
    from tqdm import tqdm

    config = config or CollisionMatrixConfig()
    urdf = UrdfCollisionModel(urdf_path)
    rng = np.random.default_rng(config.seed)
    adjacent = urdf.adjacent_pairs()
    reasons: dict[tuple[str, str], str] = {}
    remaining = []
    for a, b in combinations(sorted(urdf.links_with_geometry), 2):
        if frozenset((a, b)) in adjacent:
            reasons[(a, b)] = "Adjacent"
        else:
            remaining.append((a, b))

    checker = _PairChecker(urdf, remaining)
    at_default = checker.colliding(urdf.default_q())
    counts = np.zeros(len(remaining), dtype=int)
    for q in tqdm(urdf.random_q(rng, config.always_samples), desc="SRDF: always-colliding pairs",
                  disable=not progress, leave=False):
        counts[list(checker.colliding(q))] += 1
    always = {p for p in range(len(remaining)) if counts[p] >= config.always_fraction * config.always_samples}
    for p in range(len(remaining)):
        if p in at_default:
            reasons[remaining[p]] = "Default"
        elif p in always:
            reasons[remaining[p]] = "Always"
        if p in at_default or p in always or counts[p] > 0:
            checker.deactivate(p)  # decided, or already seen colliding: never "Never"

    seen = set(np.flatnonzero(counts)) | at_default | always
    checker.set_margin(config.never_margin_m)
    for q in tqdm(urdf.random_q(rng, config.n_samples), desc="SRDF: never-colliding pairs",
                  disable=not progress, leave=False):
        for p in checker.colliding(q):
            seen.add(p)
            checker.deactivate(p)
    for p in range(len(remaining)):
        if p not in seen:
            reasons[remaining[p]] = "Never"
    return [DisabledPair(a, b, reason) for (a, b), reason in sorted(reasons.items())]


def srdf_xml(urdf_path: str | os.PathLike, disabled: list[DisabledPair]) -> str:
    """SRDF text for the generated Gen3 + LEAP URDF; checks that every name it uses exists there."""
    urdf = UrdfCollisionModel(urdf_path)
    links = set(urdf.links)
    joint_names = {j.get("name") for j in ET.parse(urdf_path).getroot().findall("joint")}
    hand_joints = [HAND_PREFIX + name for name in HAND_JOINT_NAMES]
    missing = sorted(({BASE_LINK, TIP_LINK} - links) | (set(ARM_JOINT_NAMES + tuple(hand_joints)) - joint_names))
    if missing:
        raise ValueError(f"{urdf_path} is not the Gen3 + LEAP assembly: it lacks {missing}")
    unknown = sorted({n for pair in disabled for n in (pair.link1, pair.link2)} - links)
    if unknown or any(pair.reason not in REASONS for pair in disabled):
        raise ValueError(f"disabled pairs name unknown links {unknown} or reasons outside {REASONS}")

    robot = ET.Element("robot", name=ROBOT_NAME)
    robot.append(ET.Comment(" Written by flash_core.planning.srdf from the generated URDF; regenerate, do not edit. "))
    manipulator = ET.SubElement(robot, "group", name=MANIPULATOR_GROUP)
    ET.SubElement(manipulator, "chain", base_link=BASE_LINK, tip_link=TIP_LINK)
    hand = ET.SubElement(robot, "group", name=HAND_GROUP)
    for name in hand_joints:
        ET.SubElement(hand, "joint", name=name)
    for group, names, states in ((MANIPULATOR_GROUP, ARM_JOINT_NAMES, ARM_STATES_RAD),
                                 (HAND_GROUP, hand_joints, HAND_STATES_RAD)):
        for state, values in states.items():
            element = ET.SubElement(robot, "group_state", name=state, group=group)
            for name, value in zip(names, values):
                ET.SubElement(element, "joint", name=name, value=f"{value:.8g}")
    ET.SubElement(robot, "end_effector", name=END_EFFECTOR, parent_link=TIP_LINK, group=HAND_GROUP,
                  parent_group=MANIPULATOR_GROUP)
    ET.SubElement(robot, "virtual_joint", name="virtual_joint", type="fixed", parent_frame="world",
                  child_link=BASE_LINK)
    for pair in disabled:
        ET.SubElement(robot, "disable_collisions", link1=pair.link1, link2=pair.link2, reason=pair.reason)
    ET.indent(robot)
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"


def write_srdf(urdf_path: str | os.PathLike, out_path: str | os.PathLike,
               config: CollisionMatrixConfig | None = None, progress: bool = True) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(srdf_xml(urdf_path, disabled_collision_pairs(urdf_path, config, progress)))
    return out


def read_disabled_pairs(srdf_path: str | os.PathLike) -> list[DisabledPair]:
    root = ET.parse(srdf_path).getroot()
    return [DisabledPair(e.get("link1"), e.get("link2"), e.get("reason")) for e in root.findall("disable_collisions")]


def cached_moveit_description(assembly: AssemblyConfig | None = None,
                              config: CollisionMatrixConfig | None = None) -> dict[str, Path]:
    """{"mjcf", "urdf", "srdf"} paths for this hand mount in the FLASH cache. The URDF is rewritten each call
    (cheap; its mesh paths point into this machine's cache); the SRDF is computed once per mount and config."""
    assembly, config = assembly or AssemblyConfig(), config or CollisionMatrixConfig()
    files = write_robot_description(_description_dir(assembly, config), assembly)
    srdf = files["urdf"].with_suffix(".srdf")
    if not srdf.is_file():
        partial = srdf.with_suffix(f".{os.getpid()}.tmp")
        write_srdf(files["urdf"], partial, config)
        partial.replace(srdf)  # atomic: a concurrent reader never sees half a file
    files["srdf"] = srdf
    return files


def _description_dir(assembly: AssemblyConfig, config: CollisionMatrixConfig) -> Path:
    return cache_dir("moveit", hashlib.sha256(repr((assembly, config)).encode()).hexdigest()[:16])


def never_colliding_link_pairs(assembly: AssemblyConfig | None = None,
                               config: CollisionMatrixConfig | None = None) -> frozenset[frozenset[str]]:
    """Link pairs the SRDF marks "Never" for this hand mount: the collision pairs MoveIt skips, shared with the
    OMPL planner's checker and the validator. Generated once per mount and config (seconds), then read back
    from the cache without rewriting the description."""
    assembly, config = assembly or AssemblyConfig(), config or CollisionMatrixConfig()
    srdf = _description_dir(assembly, config) / f"{ROBOT_NAME}.srdf"
    if not srdf.is_file():
        srdf = cached_moveit_description(assembly, config)["srdf"]
    return frozenset(frozenset((p.link1, p.link2)) for p in read_disabled_pairs(srdf) if p.reason == "Never")
