"""Per-finger contact labels and the acceptance test for FLASH-Drive grasps.

A finger touches the object when its closest contact candidate lies within `contact_threshold_m` (5 mm) of
the surface; the part it touches is the part of the closest surface face. A grasp is kept when its deepest
hand point is less than `max_penetration_m` (2 mm) inside, enough fingers (including the thumb) touch, and
the hand does not collide with itself. Every rejection carries its reason for the build report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flash_core.geometry.sdf import MeshSDF
from flash_training.data.grasp_energy import GraspMeasures


@dataclass(frozen=True)
class AcceptanceConfig:
    max_penetration_m: float = 0.002
    contact_threshold_m: float = 0.005
    min_contact_fingers: int = 3
    require_thumb: bool = True
    max_self_penetration_m: float = 0.002


def finger_parts(measures: GraspMeasures, sdf: MeshSDF, face_parts: np.ndarray, threshold_m: float) -> np.ndarray:
    """(B, F) part index touched by each finger, -1 where the finger is farther than `threshold_m`."""
    faces = sdf.query(measures.finger_point.detach()).face.cpu().numpy()  # (B, F)
    parts = face_parts[faces]
    return np.where(measures.finger_distance_m.detach().cpu().numpy() < threshold_m, parts, -1)


def rejection_reasons(measures: GraspMeasures, finger_names: list[str], config: AcceptanceConfig) -> list[str | None]:
    """Per grasp: None when it passes, else the first failed check in words."""
    penetration = measures.max_penetration_m.detach().cpu().numpy()
    touching = measures.finger_distance_m.detach().cpu().numpy() < config.contact_threshold_m  # (B, F)
    self_pen = measures.self_penetration_m.detach().cpu().numpy()
    finite = torch.isfinite(measures.finger_distance_m).all(-1).cpu().numpy() & np.isfinite(penetration)
    thumb = finger_names.index("thumb") if "thumb" in finger_names else None
    reasons: list[str | None] = []
    for b in range(len(penetration)):
        if not finite[b]:
            reasons.append("non-finite pose or distance")
        elif penetration[b] >= config.max_penetration_m:
            reasons.append(f"penetration >= {config.max_penetration_m * 1000:g} mm")
        elif touching[b].sum() < config.min_contact_fingers:
            reasons.append(
                f"fewer than {config.min_contact_fingers} fingers within {config.contact_threshold_m * 1000:g} mm"
            )
        elif config.require_thumb and thumb is not None and not touching[b, thumb]:
            reasons.append("thumb not in contact")
        elif self_pen[b] >= config.max_self_penetration_m:
            reasons.append(f"self-collision >= {config.max_self_penetration_m * 1000:g} mm")
        else:
            reasons.append(None)
    return reasons
