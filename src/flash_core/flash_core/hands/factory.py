"""`make_hand(name)`: the registry of hands. Each hand is a YAML in hands/data plus an MJCF."""

from __future__ import annotations

import copy
import functools
import logging

import numpy as np
import torch

from flash_core.hands import mjcf, surface
from flash_core.hands.collision import collision_hulls
from flash_core.hands.hand_model import HandModel
from flash_core.hands.spec import HandSpec, known_hands, load_spec

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _geometry(name: str, primitives: bool, num_surface_points: int, seed: int):
    """Everything sampled once per hand (CPU, float64); cached because sampling takes a few hundred ms."""
    spec = load_spec(name)
    source = mjcf.load_source(spec, primitives)
    model = mjcf.compile_model(source.xml)
    chain = mjcf.build_chain(source.xml, spec.root_body)
    link_names = [chain.idx_to_frame[i] for i in range(len(chain.idx_to_frame))]
    missing = set(spec.model_joint_names) ^ set(chain.get_joint_parameter_names())
    if missing:
        raise ValueError(f"hand '{name}': YAML and MJCF joints differ: {sorted(missing)}")
    hulls = mjcf.link_hulls(model, link_names)
    surface_points = surface.sample_surface(hulls, link_names, num_surface_points, seed)
    open_poses = _open_link_poses(chain, spec)
    # Contact candidates lie on the collision geometry, the surface that touches in a simulation: the LEAP's pads
    # stand up to 3 mm proud of its collision boxes, so pads "touching" would leave the boxes a gap.
    contacts, finger_index = surface.contact_candidates(collision_hulls(model, link_names), link_names, open_poses,
                                                        spec, seed)
    spheres, radii, pairs = _spheres(spec, model, chain, link_names, hulls, seed)
    return spec, source.source, chain, surface_points, contacts, finger_index, spheres, radii, pairs


def _open_link_poses(chain, spec: HandSpec) -> np.ndarray:
    """(L, 4, 4) link poses in the root body frame at the open pose (float64 numpy)."""
    order = [spec.model_joint_names.index(j) for j in chain.get_joint_parameter_names()]
    q = torch.tensor(spec.open_joints, dtype=torch.float32)[order][None]
    frames = chain.forward_kinematics_tensor(q)[:, 0].double()
    return (torch.linalg.inv(frames[0]) @ frames).numpy()


def _spheres(spec: HandSpec, model, chain, link_names, hulls, seed):
    """Collision spheres (from the YAML, else fitted to the hulls) and the sphere pairs that may collide."""
    rows, link_of = [], []
    for link, name in enumerate(link_names):
        if name in spec.collision_spheres:
            fitted = np.asarray(spec.collision_spheres[name], dtype=np.float64)
        elif name in hulls and not spec.collision_spheres:
            fitted = surface.fit_link_spheres(hulls[name], seed)
        else:
            continue
        rows.append(fitted)
        link_of.append(np.full(len(fitted), link))
    rows, link_of = np.concatenate(rows), np.concatenate(link_of)

    parent = {}
    for frame_name in link_names:
        for child in chain.find_frame(frame_name).children:
            parent[child.name] = frame_name
    excluded = mjcf.excluded_body_pairs(model) | {frozenset(p) for p in spec.excluded_link_pairs}
    excluded |= {frozenset((child, par)) for child, par in parent.items()}
    i, j = np.triu_indices(len(rows), k=1)
    names = np.asarray(link_names)
    keep = [(link_of[a] != link_of[b]) and frozenset((names[link_of[a]], names[link_of[b]])) not in excluded
            for a, b in zip(i, j)]
    pairs = np.stack([i[keep], j[keep]], axis=1)
    return surface.LinkPoints(rows[:, :3], link_of), rows[:, 3], pairs


def build_hand(name: str, primitives: bool, num_surface_points: int = 1024, seed: int = 0,
               dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> HandModel:
    """Build from the fetched MJCF, or from the packaged primitives-only MJCF when `primitives`."""
    spec, source, chain, *points = _geometry(name, primitives, num_surface_points, seed)
    # A copy per model: pytorch-kinematics moves chains in place.
    return HandModel(spec, copy.deepcopy(chain), source, *points, dtype=dtype, device=device)


def make_hand(
    name: str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    num_surface_points: int = 1024,
    allow_primitives: bool = False,
    seed: int = 0,
) -> HandModel:
    """Build the hand `name` ("leap", "allegro") with `num_surface_points` surface samples.

    The fetched MJCF is used when present; if it is missing, `allow_primitives=True` falls back to a packaged
    boxes-only model with the same kinematics (reported in `hand.source == "primitives"` and a warning),
    otherwise flash_core.assets.AssetsMissingError is raised. `seed` fixes the surface sampling.
    """
    if name not in known_hands():
        raise KeyError(f"unknown hand '{name}'; known hands: {known_hands()}")
    from flash_core.assets import AssetsMissingError

    try:
        return build_hand(name, False, num_surface_points, seed, dtype, device)
    except AssetsMissingError:
        if not allow_primitives:
            raise
    log.warning("hand '%s': the MJCF asset is missing; using the primitives-only model (boxes, same "
                "kinematics, coarser surface). Run `flash assets fetch` for the real one.", name)
    return build_hand(name, True, num_surface_points, seed, dtype, device)
