"""Where a posed hand touches an object, on the hand's official collision geometry (whether those contacts can hold
it is `flash_core.geometry.force_closure`).

- `ContactGeometry` (one per hand, `contact_geometry(hand)`): samples of the outer collision surface attached to
  their links (what MuJoCo collides, `flash_core.hands.collision`), which links each joint moves, the joints of
  each finger, and a MuJoCo model of the hand alone for exact self-contact queries.
- `link_contacts(hand, x, sdf)`: per link, its point closest to the object, the distance and the object's outward
  normal there.
- `centre_of_mass(...)`: where protocol (b) pushes; with `link_contacts` it is what
  `flash_core.geometry.force_closure.required_friction` judges (the least friction with which the contacts resist
  the six pushes; a grasp needing at most 0.3, half the simulator's 0.6, is accepted).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from flash_core.hands import mjcf
from flash_core.hands.attached import LinkAttachedPoints
from flash_core.hands.hand_model import HandModel
from flash_core.hands.link_surface import link_surface, per_link_argmin, per_link_min


@dataclass(frozen=True)
class ContactGeometry:
    """What contact queries of one hand need (see the module docstring). L links, J joints, F fingers."""

    surface: LinkAttachedPoints  # N points on the outer collision surface, in their links' frames
    point_link: torch.Tensor  # (N,) link index of each point
    moves: torch.Tensor  # (J, L) bool: joint j moves link l
    finger_joints: tuple[torch.Tensor, ...]  # (F,) the joints of each finger (spec.finger_names order)
    finger_links: torch.Tensor  # (F, L) bool: links moved by each finger's joints
    model: object  # mujoco.MjModel of the hand alone (self-contact queries)
    qpos_address: np.ndarray  # (J,) qpos index of each joint, FLASH order
    body_link: np.ndarray  # (nbody,) link index of each MuJoCo body (-1: none)


@functools.lru_cache(maxsize=8)
def contact_geometry(hand: HandModel, num_points: int = 1024) -> ContactGeometry:
    """Built once per hand model (about a second)."""
    links = link_surface(hand, num_points)
    surface, moves = links.points, links.moves
    finger_joints = tuple(torch.nonzero(moves[:, hand.link_names.index(hand.spec.contact_fingers[f].links[-1])])
                          .squeeze(1) for f in hand.finger_names)
    finger_links = torch.stack([moves[j].any(0) for j in finger_joints])
    model = mjcf.compile_model(mjcf.load_source(hand.spec, hand.source == "primitives").xml)
    body_link = np.full(model.nbody, -1)
    for link, name in enumerate(hand.link_names):
        body_link[model.body(name).id] = link
    return ContactGeometry(surface, surface.link_index, moves, finger_joints,
                           finger_links, model, np.array([model.joint(j).qposadr[0] for j in hand.model_joint_names]),
                           body_link)


def link_distances(hand: HandModel, x: torch.Tensor, sdf) -> torch.Tensor:
    """x (B, 25) -> (B, L) signed distance of each link's collision surface to the object (its closest point;
    +inf for links without collision geometry). `sdf` maps (B, N, 3) -> (B, N): a grid or the exact SDF."""
    geometry = contact_geometry(hand)
    distance = sdf(geometry.surface.move(hand.link_poses(x)))  # (B, N)
    return per_link_min(distance, geometry.point_link, len(hand.link_names))


@dataclass(frozen=True)
class LinkContacts:
    """Per grasp and link (B, L): the link's collision-surface point closest to the object, its signed distance
    (negative inside) and the object's outward unit normal there (numpy)."""

    distance_m: np.ndarray  # (B, L), +inf for links without collision geometry
    point: np.ndarray  # (B, L, 3)
    normal: np.ndarray  # (B, L, 3)


def link_contacts(hand: HandModel, x: torch.Tensor, sdf) -> LinkContacts:
    geometry = contact_geometry(hand)
    with torch.no_grad():
        points = geometry.surface.move(hand.link_poses(x))  # (B, N, 3)
    probe = points.detach().requires_grad_(True)
    with torch.enable_grad():
        distance = sdf(probe)
        (gradient,) = torch.autograd.grad(distance.sum(), probe)
    best, first = per_link_argmin(distance.detach(), geometry.point_link, len(hand.link_names))  # (B, L) each
    index = first.clamp(max=points.shape[1] - 1)[..., None].expand(-1, -1, 3)
    found = (first < points.shape[1])[..., None]  # links without samples keep a zero point and normal
    point = torch.where(found, torch.gather(points, 1, index), 0.0)
    normal = torch.where(found, torch.nn.functional.normalize(torch.gather(gradient, 1, index), dim=-1), 0.0)
    return LinkContacts(best.cpu().numpy(), point.cpu().numpy(), normal.cpu().numpy())


def self_contact_links(hand: HandModel, q: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
    """q (B, J) -> (B, L) bool: links whose collision geoms come within `margin_m` of another link's (MuJoCo's
    collision detection and filtering: parent-child and <exclude> pairs never touch)."""
    import mujoco

    geometry = contact_geometry(hand)
    model = geometry.model
    model.geom_margin[:] = margin_m
    data = mujoco.MjData(model)
    out = np.zeros((len(q), len(hand.link_names) + 1), bool)  # last column: bodies that are no link
    for b, joints in enumerate(np.asarray(q, np.float64)):
        data.qpos[:] = model.qpos0
        data.qpos[geometry.qpos_address] = joints
        mujoco.mj_kinematics(model, data)
        mujoco.mj_collision(model, data)
        if data.ncon:
            out[b, geometry.body_link[model.geom_bodyid[data.contact.geom[:data.ncon].ravel()]]] = True
    return out[:, :-1]


def centre_of_mass(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(3,) centre of mass of the uniform solid a mesh bounds (its vertices' centroid when it is not closed): where
    protocol (b) pushes."""
    import trimesh

    mesh = trimesh.Trimesh(vertices, faces, process=False)
    return np.asarray(mesh.center_mass if mesh.is_watertight and mesh.volume > 0 else mesh.vertices.mean(0))
