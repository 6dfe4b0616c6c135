"""Points fixed on a hand's links once, at build time: surface samples, contact candidates, collision spheres.

Everything here is numpy in float64 on the link hulls from `hands.mjcf.link_hulls`; `HandModel` turns the
results into tensors and moves them with the links at every call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flash_core.geometry.sampling import farthest_point_sample
from flash_core.hands.spec import HandSpec

# Candidates drawn per output point before farthest point sampling thins them to an even spread.
_OVERSAMPLE = 8
# A surface point is on the pad when its outward normal is within ~60 degrees of the closing direction.
_PAD_MIN_COS = 0.5
_DENSE_SAMPLES = 4000


@dataclass(frozen=True)
class LinkPoints:
    """Points attached to links, in each link's own frame."""

    points: np.ndarray  # (N, 3) metres
    link_index: np.ndarray  # (N,) index into the hand's link_names
    normals: np.ndarray | None = None  # (N, 3) unit outward normals


def _fps(points: np.ndarray, count: int, start_index: int = 0) -> np.ndarray:
    cloud = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64))[None]
    return farthest_point_sample(cloud, count, start_index=start_index)[0].numpy()


def _sample(hull, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` area-uniform points on a hull and the outward normals of their faces."""
    import trimesh

    points, faces = trimesh.sample.sample_surface(hull, count, seed=seed)
    return np.asarray(points), np.asarray(hull.face_normals[faces])


def _allocate(areas: np.ndarray, total: int) -> np.ndarray:
    """Split `total` points in proportion to `areas` (largest remainder), every link getting at least one."""
    if total < len(areas):
        raise ValueError(f"num_surface_points={total} is fewer than the {len(areas)} links with a surface")
    share = areas / areas.sum() * (total - len(areas))
    counts = np.floor(share).astype(int) + 1
    leftover = total - counts.sum()
    counts[np.argsort(share - np.floor(share))[::-1][:leftover]] += 1
    return counts


def sample_surface(hulls: dict, link_names: list[str], num_points: int, seed: int = 0) -> LinkPoints:
    """Area-weighted points over all links' hulls, then FPS-thinned within each link for an even spread."""
    linked = [name for name in link_names if name in hulls]
    counts = _allocate(np.array([hulls[name].area for name in linked]), num_points)
    points, normals, index = [], [], []
    for offset, (name, count) in enumerate(zip(linked, counts)):
        dense, dense_normals = _sample(hulls[name], _OVERSAMPLE * count, seed + offset)
        keep = _fps(dense, count)
        points.append(dense[keep])
        normals.append(dense_normals[keep])
        index.append(np.full(count, link_names.index(name)))
    return LinkPoints(np.concatenate(points), np.concatenate(index), np.concatenate(normals))


def contact_candidates(
    hulls: dict, link_names: list[str], open_link_poses: np.ndarray, spec: HandSpec, seed: int = 0
) -> tuple[LinkPoints, np.ndarray]:
    """Fingertip plus pad points per finger; returns the points and their finger index (C,).

    open_link_poses: (L, 4, 4) link poses in the hand frame at the open pose, used only to measure
    distances across a finger's links (to find the tip and spread the points out).
    """
    points, index, finger_index = [], [], []
    for finger_id, finger in enumerate(spec.finger_names):
        contact = spec.contact_fingers[finger]
        axis = np.asarray(contact.flex_axis, dtype=np.float64)
        local, link_of, in_hand, pad = [], [], [], []
        for name in contact.links:
            if name not in hulls:
                raise ValueError(f"hand '{spec.name}': contact link '{name}' has no geometry")
            link = link_names.index(name)
            p, n = _sample(hulls[name], _DENSE_SAMPLES, seed + link)
            closing = np.cross(axis, p)
            closing /= np.linalg.norm(closing, axis=1, keepdims=True) + 1e-12
            pose = open_link_poses[link]
            local.append(p)
            link_of.append(np.full(len(p), link))
            in_hand.append(p @ pose[:3, :3].T + pose[:3, 3])
            pad.append((n * closing).sum(1) > _PAD_MIN_COS)
        local, link_of, in_hand, pad = map(np.concatenate, (local, link_of, in_hand, pad))
        # The fingertip: the surface point farthest from the finger's first contact joint. It faces forwards,
        # not towards the palm, so it joins the pad points explicitly and FPS starts from it.
        base = open_link_poses[link_names.index(contact.links[0])][:3, 3]
        tip = int(np.argmax(np.linalg.norm(in_hand - base, axis=1)))
        pad[tip] = True
        pool = np.flatnonzero(pad)
        chosen = pool[_fps(in_hand[pool], spec.contact_points_per_finger, int(np.searchsorted(pool, tip)))]
        points.append(local[chosen])
        index.append(link_of[chosen])
        finger_index.append(np.full(len(chosen), finger_id))
    return LinkPoints(np.concatenate(points), np.concatenate(index)), np.concatenate(finger_index)


def _inner_distance(hull, points: np.ndarray) -> np.ndarray:
    """Distance from points inside a convex hull to its boundary (negative outside): min over face planes."""
    normals = np.asarray(hull.face_normals)
    offsets = (normals * np.asarray(hull.triangles)[:, 0]).sum(1)  # n . v for a vertex of each face
    return (offsets[None] - points @ normals.T).min(axis=1)


def fit_link_spheres(hull, seed: int = 0, max_spheres: int = 24) -> np.ndarray:
    """Equal spheres inside one link hull whose union covers its core: (K, 4) rows (x, y, z, radius).

    The radius is half the hull's thinnest oriented-box extent, so each sphere spans the link's thickness;
    centres are surface points pushed inwards by one radius (they land on the mid-surface), kept where the
    sphere stays inside, and spread by FPS until every candidate centre lies within one radius of a chosen one.
    Used to (re)generate the `collision_spheres` block of a hand's YAML.
    """
    radius = 0.5 * float(np.min(hull.bounding_box_oriented.primitive.extents))
    p, n = _sample(hull, _DENSE_SAMPLES, seed)
    centres = p - radius * n
    inside = centres[_inner_distance(hull, centres) >= 0.9 * radius]
    if len(inside) == 0:  # degenerate (very flat) hull: one sphere at the centroid
        centroid = np.asarray(hull.centroid)[None]
        return np.concatenate([centroid, [[max(_inner_distance(hull, centroid)[0], 1e-4)]]], axis=1)
    order = _fps(inside, min(max_spheres, len(inside)))
    count = len(order)
    for k in range(1, len(order) + 1):
        gaps = np.linalg.norm(inside[:, None] - inside[order[:k]][None], axis=-1).min(1)
        if gaps.max() <= radius:
            count = k
            break
    return np.concatenate([inside[order[:count]], np.full((count, 1), radius)], axis=1)
