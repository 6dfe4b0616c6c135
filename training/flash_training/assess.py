"""One grasp assessment for the data builder, the demo and evaluation: measure, accept, label.

`assess_grasps(hand, x, obj, config)` measures B grasps of one hand on one object and returns a
`GraspAssessment`:
- max_penetration_m: the hand's official collision geometry against the object, both ways (the hand's collision
  surface inside the object's exact SDF; the object's surface inside any collision piece), each to within
  `config.tolerance_m` of the exact figure (`flash_core.hands.collision`); grasps found deeper than
  `config.exact_up_to_m` are not measured further, and their figure is a lower bound above it;
- self_penetration_m: MuJoCo's collision detection between the collision geoms of the posed hand (exact);
- finger_distance_m, finger_parts: per finger, the distance of its links' official collision geometry to the
  surface (`flash_training.data.contacts`: what the simulator touches with) and the part of the face closest to
  that point (-1 beyond `contact_threshold_m`);
- required_friction: the least friction coefficient with which the touching links can resist each of simulated
  protocol (b)'s six pushes (`flash_core.geometry.force_closure.required_friction`; +inf when none suffices);
- contact_fingers, accepted, reasons: the acceptance test (penetration < 2 mm, at least three fingers including
  the thumb within 3.5 mm, self-penetration < 2 mm, the pushes resisted with half the simulator's friction, as
  DexGraspBench's analytic force-closure metrics allow) and, per rejected grasp, the first check it failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flash_core.geometry.force_closure import required_friction
from flash_core.geometry.sdf import MeshSDF
from flash_core.hands.collision import DEFAULT_TOLERANCE_M, hand_collision
from flash_core.hands.hand_model import HandModel
from flash_training.data.contacts import centre_of_mass, contact_geometry, link_contacts


@dataclass(frozen=True)
class AcceptanceConfig:
    max_penetration_m: float = 0.002
    # Measured on the collision geometry: 3.5 mm, not 5, because a finger that far off engages late in simulation
    # and pushes the free object away before the others hold it (docs/benchmarks.md, "Grasps that hold").
    contact_threshold_m: float = 0.0035
    min_contact_fingers: int = 3
    require_thumb: bool = True
    max_self_penetration_m: float = 0.002
    max_required_friction: float = 0.3  # half the simulator's 0.6 (DexGraspBench's analytic metrics use half)
    tolerance_m: float = DEFAULT_TOLERANCE_M  # penetration is exact to this (denser sampling changes it less)
    exact_up_to_m: float = 0.01  # deeper penetration is only bounded from below (saves time on hopeless grasps)

    def __post_init__(self) -> None:
        if not 0 < self.tolerance_m < self.max_penetration_m:
            raise ValueError(f"tolerance_m must lie in (0, max_penetration_m), got {self.tolerance_m}")
        if self.exact_up_to_m < self.max_penetration_m:
            raise ValueError("exact_up_to_m below max_penetration_m would leave verdicts to lower bounds")


@dataclass(frozen=True)
class AssessedObject:
    """An object as the assessment needs it: its exact SDF (whose mesh it also reads) and face part labels."""

    sdf: MeshSDF
    face_parts: np.ndarray  # (F,) int: part index of each face of the SDF's mesh
    part_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.face_parts.shape != (len(self.sdf.faces),):
            raise ValueError(f"face_parts has shape {self.face_parts.shape}, expected ({len(self.sdf.faces)},)")
        if len(self.face_parts) and not 0 <= self.face_parts.min() <= self.face_parts.max() < len(self.part_names):
            raise ValueError(f"face_parts must index part_names ({len(self.part_names)} parts)")

    @classmethod
    def from_processed(cls, obj) -> AssessedObject:
        """From a `flash_training.data.processing.ProcessedObject`."""
        return cls(obj.sdf, np.asarray(obj.asset.face_parts), tuple(obj.asset.part_names))

    @classmethod
    def from_mesh(cls, mesh, face_parts: np.ndarray | None = None, part_names: tuple[str, ...] = ("object",)):
        """From a trimesh mesh (metres, the grasps' frame); without part labels the whole object is one part."""
        parts = np.zeros(len(mesh.faces), np.int64) if face_parts is None else np.asarray(face_parts)
        return cls(MeshSDF.from_trimesh(mesh), parts, tuple(part_names))


@dataclass(frozen=True)
class GraspAssessment:
    """Per grasp (B of them, F fingers in `finger_names` order); numpy arrays."""

    max_penetration_m: np.ndarray  # (B,) hand-object penetration (see module docstring)
    self_penetration_m: np.ndarray  # (B,) deepest contact between the hand's own collision geoms
    finger_distance_m: np.ndarray  # (B, F) closest contact candidate of each finger to the surface
    finger_parts: np.ndarray  # (B, F) int part touched by each finger, -1 for none
    contact_fingers: np.ndarray  # (B,) int fingers within the contact threshold
    required_friction: np.ndarray  # (B,) friction needed to resist protocol (b)'s pushes (+inf: not measured or none)
    accepted: np.ndarray  # (B,) bool
    reasons: list[str | None]  # (B,) None when accepted, else the first failed check in words
    finger_names: tuple[str, ...]
    part_names: tuple[str, ...]

    def part_labels(self, i: int) -> tuple[str | None, ...]:
        """Grasp i: the part name each finger touches (None: no contact), in finger order."""
        return tuple(self.part_names[p] if p >= 0 else None for p in self.finger_parts[i])


def rejection_reason(
    penetration_m: float, self_penetration_m: float, touching: np.ndarray, thumb: int | None, config: AcceptanceConfig,
    friction: float = 0.0,
) -> str | None:
    """The first check a grasp fails, in words (None when it passes); touching (F,) bool per finger; friction: the
    friction it needs to resist protocol (b)'s pushes."""
    if not (np.isfinite(penetration_m) and np.isfinite(self_penetration_m)):
        return "non-finite pose or distance"
    if penetration_m >= config.max_penetration_m:
        return f"penetration >= {config.max_penetration_m * 1000:g} mm"
    if touching.sum() < config.min_contact_fingers:
        return f"fewer than {config.min_contact_fingers} fingers within {config.contact_threshold_m * 1000:g} mm"
    if config.require_thumb and thumb is not None and not touching[thumb]:
        return "thumb not in contact"
    if self_penetration_m >= config.max_self_penetration_m:
        return f"self-collision >= {config.max_self_penetration_m * 1000:g} mm"
    if friction > config.max_required_friction:
        return f"contacts cannot resist a push with friction {config.max_required_friction:g}"
    return None


@torch.no_grad()
def assess_grasps(
    hand: HandModel, x: torch.Tensor, obj: AssessedObject, config: AcceptanceConfig | None = None
) -> GraspAssessment:
    """Measure, accept and label grasps x (B, 25) of `hand` on `obj` (in the object's frame); `config` defaults
    to the data set's acceptance test."""
    config = config or AcceptanceConfig()
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != hand.pose_dim:
        raise ValueError(f"x must be a (B, {hand.pose_dim}) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    finite = torch.isfinite(x).all(-1)
    b, f = len(x), len(hand.finger_names)
    penetration = np.full(b, np.inf)
    self_penetration = np.full(b, np.inf)
    distance = np.full((b, f), np.inf)
    parts = np.full((b, f), -1, dtype=np.int64)
    friction = np.full(b, np.inf)
    if finite.any():
        good = x[finite].to(dtype=hand.dtype, device=hand.device)
        rows = finite.cpu().numpy()
        collision = hand_collision(hand)
        measured = collision.penetration(good, obj.sdf, config.tolerance_m, config.exact_up_to_m)
        penetration[rows] = measured.max_m.cpu().numpy()
        self_penetration[rows] = collision.self_penetration(good)
        contacts = link_contacts(hand, good, obj.sdf)
        finger_links = contact_geometry(hand).finger_links.cpu().numpy()  # (F, L)
        per_finger = np.where(finger_links[None], contacts.distance_m[:, None, :], np.inf)  # (B', F, L)
        closest = per_finger.argmin(-1)  # (B', F)
        distance[rows] = np.take_along_axis(per_finger, closest[..., None], -1)[..., 0]
        finger_point = np.take_along_axis(contacts.point, closest[..., None].repeat(3, -1), 1)  # (B', F, 3)
        faces = obj.sdf.query(torch.as_tensor(finger_point, dtype=obj.sdf.vertices.dtype)).face.cpu().numpy()
        parts[rows] = np.where(distance[rows] < config.contact_threshold_m, obj.face_parts[faces], -1)
        clean = (penetration[rows] < config.max_penetration_m) & \
            (self_penetration[rows] < config.max_self_penetration_m)
        if clean.any():  # the friction check costs milliseconds per grasp: only where the cheaper checks pass
            centre = centre_of_mass(obj.sdf.vertices.cpu().numpy(), obj.sdf.faces.cpu().numpy())
            touching_links = contacts.distance_m < config.contact_threshold_m
            friction[np.flatnonzero(rows)[clean]] = required_friction(
                contacts.point[clean], contacts.normal[clean], touching_links[clean], centre)
    touching = distance < config.contact_threshold_m
    thumb = hand.finger_names.index("thumb") if "thumb" in hand.finger_names else None
    reasons = [rejection_reason(penetration[i], self_penetration[i], touching[i], thumb, config, friction[i])
               for i in range(b)]
    return GraspAssessment(
        max_penetration_m=penetration,
        self_penetration_m=self_penetration,
        finger_distance_m=distance,
        finger_parts=parts,
        contact_fingers=touching.sum(1),
        required_friction=friction,
        accepted=np.array([r is None for r in reasons], dtype=bool),
        reasons=reasons,
        finger_names=tuple(hand.finger_names),
        part_names=obj.part_names,
    )
