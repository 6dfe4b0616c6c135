"""Grasp metrics beside simulated success: geometry, similarity to ground truth, diversity, semantic alignment.

Per grasp (`GraspGeometry`, from the shared grasp assessment `flash_training.assess.assess_grasps`, which the
data builder's acceptance also uses):
- penetration: the hand's official collision geometry against the object's exact mesh, both ways, dense to the
  assessment's tolerance (m); self-penetration: MuJoCo's contacts between the hand's collision geoms (m);
- contacts: which fingers have a contact candidate within `contact_threshold_m` (5 mm) of the surface and the
  part each touches; the data set's acceptance verdict and, when rejected, why;
- SDF loss: mean over the hand model's surface points of their depth inside the object (m, the FLASH paper's
  aggregate penetration term).
Over grasps:
- Chamfer distance to ground truth: mean Euclidean Chamfer distance (mm, both directions) between the hand's
  surface cloud and that of the closest ground-truth grasp of the same object and hand;
- joint spread: mean over joints of the joints' standard deviation (rad), per (object, hand), averaged;
- pose coverage: fraction of the 20 icosahedron face directions that some grasp's approach direction (palm
  normal, object frame) falls in, per (object, hand), averaged;
- semantic alignment without an LLM: a prompt naming a part of its object is aligned when a touching finger
  lands on that part; a prompt naming fingers is aligned when exactly those fingers touch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

FINGER_WORDS = {"thumb": "thumb", "index": "index", "middle": "middle", "ring": "ring", "pinky": "little",
                "little": "little"}


@dataclass(frozen=True)
class GraspGeometry:
    penetration_m: float
    sdf_loss_m: float
    self_penetration_m: float
    touching: tuple[str, ...]  # fingers in contact
    finger_parts: dict[str, str | None]  # finger -> part it touches (None: no contact)
    accepted: bool  # passes FLASH-Drive's acceptance test
    rejected_because: str | None


def measure_geometry(hand, x: np.ndarray, mesh, part_names: tuple[str, ...], face_parts: np.ndarray | None,
                     contact_threshold_m: float = 0.005) -> list[GraspGeometry]:
    """x (G, 25) of one hand on one object (object frame) -> per-grasp geometry."""
    from flash_training.assess import AcceptanceConfig, AssessedObject, assess_grasps

    obj = AssessedObject.from_mesh(mesh, face_parts, part_names)
    poses = torch.as_tensor(x, dtype=hand.dtype)
    assessment = assess_grasps(hand, poses, obj, AcceptanceConfig(contact_threshold_m=contact_threshold_m))
    with torch.no_grad():
        depth = torch.relu(-obj.sdf(hand.surface_points(poses)))  # (G, N)
    out = []
    for g in range(len(x)):
        labels = dict(zip(hand.finger_names, assessment.part_labels(g)))
        out.append(GraspGeometry(
            penetration_m=float(assessment.max_penetration_m[g]), sdf_loss_m=float(depth[g].mean()),
            self_penetration_m=float(assessment.self_penetration_m[g]),
            touching=tuple(f for f, p in labels.items() if p is not None), finger_parts=labels,
            accepted=bool(assessment.accepted[g]), rejected_because=assessment.reasons[g],
        ))
    return out


def chamfer_to_references_mm(hand, x: np.ndarray, references: np.ndarray) -> np.ndarray:
    """(G,) mean Euclidean Chamfer distance (mm) from each grasp's hand cloud to the closest reference grasp's."""
    from flash_core.geometry.chamfer import chamfer_distance

    with torch.no_grad():
        clouds = hand.surface_points(torch.as_tensor(x, dtype=hand.dtype))  # (G, N, 3)
        refs = hand.surface_points(torch.as_tensor(references, dtype=hand.dtype))  # (R, N, 3)
        best = torch.full((len(x),), torch.inf, dtype=hand.dtype)
        for r in range(len(refs)):
            cd = chamfer_distance(clouds, refs[r:r + 1].expand(len(x), -1, -1), squared=False).distance / 2
            best = torch.minimum(best, cd)
    return best.numpy() * 1000


def joint_spread_rad(joints: np.ndarray) -> float:
    """Mean over joints of their standard deviation across grasps (G, J); NaN for fewer than 2 grasps."""
    return float(np.std(joints, axis=0).mean()) if len(joints) > 1 else float("nan")


def _icosahedron_face_normals() -> np.ndarray:
    import trimesh

    return np.asarray(trimesh.creation.icosahedron().face_normals)


def pose_coverage(approach: np.ndarray) -> float:
    """Fraction of the 20 icosahedron face directions hit by approach directions (G, 3)."""
    bins = np.argmax(approach @ _icosahedron_face_normals().T, axis=1)
    return len(set(bins.tolist())) / 20.0


def named_part(prompt: str | None, part_names: tuple[str, ...]) -> str | None:
    """The object part the prompt names, when it names exactly one (single-part objects name none)."""
    if not prompt or len(part_names) < 2:
        return None
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    named = [p for p in part_names if set(re.findall(r"[a-z]+", p.lower())) <= words]
    return named[0] if len(named) == 1 else None


def named_fingers(prompt: str | None, finger_names: tuple[str, ...]) -> frozenset[str] | None:
    """The fingers a prompt names ("pinch it with the thumb and index finger"), None when it names none."""
    if not prompt:
        return None
    words = re.findall(r"[a-z]+", prompt.lower())
    named = frozenset(FINGER_WORDS[w] for w in words if w in FINGER_WORDS and FINGER_WORDS[w] in finger_names)
    return named or None


def rate(flags: list[bool | None]) -> float | None:
    """Fraction of True among the flags that are not None (None when there are none)."""
    known = [f for f in flags if f is not None]
    return float(np.mean(known)) if known else None
