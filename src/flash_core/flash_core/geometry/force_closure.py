"""Whether contacts can hold an object: the least friction with which they resist the force-closure test's pushes.

`required_friction(points, normals, touching, centre)`: per grasp, the least friction coefficient with which its
touching contacts can balance a unit push along each of +-x, +-y, +-z at the object's centre (force, and torque in
units of `length_m`), the contact forces inside linearised (`edges`-sided) friction cones: the analytic
counterpart of the simulated force-closure test (DexGraspBench's six pushes). Each balance is a non-negative least
squares problem (scipy's NNLS); the coefficient is found by bisection. DexGraspBench's analytic force-closure
metrics use half the simulator's friction for margin.

Used on an object's exact SDF (the data builder's candidate ranking and acceptance) and on an object cloud at run
time (`GraspGenerator`'s ranking): the caller finds the contacts, this module judges them.
"""

from __future__ import annotations

import numpy as np

PUSHES = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], float)


def push_residual(points: np.ndarray, normals: np.ndarray, centre: np.ndarray, friction: float,
                  edges: int = 8, length_m: float = 0.05) -> float:
    """Worst over the six unit pushes at `centre` of the least-squares residual of balancing it (force, and torque
    in units of `length_m`) with contact forces inside `edges`-sided friction pyramids at points (K, 3) whose
    object normals (outward) are normals (K, 3)."""
    from scipy.optimize import nnls

    angles = np.linspace(0.0, 2 * np.pi, edges, endpoint=False)
    inward = -normals  # (K, 3)
    helper = np.where(np.abs(inward[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    tangent = np.cross(inward, helper)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    other = np.cross(inward, tangent)
    forces = inward[:, None] + friction * (np.cos(angles)[None, :, None] * tangent[:, None]
                                           + np.sin(angles)[None, :, None] * other[:, None])  # (K, E, 3)
    torques = np.cross(((points - centre) / length_m)[:, None], forces)  # (K, E, 3)
    wrenches = np.concatenate([forces, torques], -1).reshape(-1, 6).T  # (6, K * E)
    return max(nnls(wrenches, np.concatenate([-push, np.zeros(3)]))[1] for push in PUSHES)


def required_friction(points: np.ndarray, normals: np.ndarray, touching: np.ndarray, centre: np.ndarray,
                      most: float = 1.0, tolerance: float = 1e-3, steps: int = 7) -> np.ndarray:
    """points, normals (B, L, 3) and touching (B, L) bool: each grasp's candidate contacts (e.g. one per hand link),
    the object's outward normal there and which touch -> (B,) the least friction coefficient (to within most /
    2^steps) with which the touching contacts resist each of the six pushes; +inf when `most` does not suffice or
    fewer than two touch."""
    out = np.full(len(points), np.inf)
    usable = touching & (np.linalg.norm(np.nan_to_num(normals), axis=-1) > 0.5)  # an SDF's gradient can vanish
    for b in range(len(points)):
        k = np.flatnonzero(usable[b])
        if len(k) < 2 or push_residual(points[b, k], normals[b, k], centre, most) > tolerance:
            continue
        low, high = 0.0, most
        for _ in range(steps):
            middle = (low + high) / 2
            if push_residual(points[b, k], normals[b, k], centre, middle) > tolerance:
                low = middle
            else:
                high = middle
        out[b] = high
    return out
