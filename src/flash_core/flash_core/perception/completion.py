"""Symmetry completion of a single-view object cloud: add the side the camera does not see.

A depth camera sees one side of an object; grasping treats what it does not see as empty, so hands are placed on
a half-object. Following Bohg et al., "Mind the gap - robotic grasping under incomplete observation" (ICRA 2011),
most household objects standing on a table are mirror-symmetric about a vertical plane, and many are round:

- mirror: the seen points are reflected about a vertical plane whose normal is the horizontal viewing direction
  (optionally turned by a few yaw angles). The plane's offset along that normal is searched: each candidate's
  reflected points are checked against the free space the camera saw. A reflected point lying in front of the
  seen surface on its viewing ray, or on a ray that saw no object at all (the table or the background), would
  have been seen, so it contradicts the view. Planes too close to the camera put reflected points there; planes
  farther away always explain the view (what they add hides behind the seen surface) but inflate the object, so
  the nearest plane within `violation_slack` of the best violation fraction is taken.
- rotation: the points are revolved about a vertical axis through the least-squares circle of their horizontal
  coordinates (a cylinder, a bowl, a bottle).
- auto: both; the rotation is kept when it contradicts the view hardly more than the mirror does
  (`rotation_slack`), since it also fills the sides a mirror leaves open.

Frames: any metric frame in which `up` is the table's normal (the robot base frame, an object frame with z up).
The free-space test projects points through a pinhole at the camera position with a pixel as wide as the seen
points' spacing, so it needs only the points and the camera's position, not its intrinsics. It assumes the
object is not hidden behind another one (an occluder's pixels would count as free space).

    completion = complete_occluded(points_m, camera_position_m, normals)     # (P, 3), (3,), (P, 3)
    completion.points_m, completion.normals, completion.source              # (M, 3), (M, 3), (M,) into the input
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from flash_core.geometry.sampling import farthest_point_sample

Method = Literal["mirror", "rotation", "auto"]


class CompletionError(ValueError):
    """A cloud or camera that cannot be completed, with the reason."""


@dataclass(frozen=True)
class CompletionConfig:
    method: Method = "auto"
    offset_step_m: float = 0.002  # spacing of the mirror plane offsets searched
    # Mirror normals tried: the viewing direction turned about `up` (a hammer or a box seen askew mirrors about
    # its own axes, not the view).
    yaw_offsets_deg: tuple[float, ...] = (0.0, 30.0, -30.0, 60.0, -60.0, 90.0)
    search_points: int = 512  # seen points (evenly strided) whose reflections score each mirror plane searched
    margin_m: float = 0.005  # a point this far in front of the seen surface contradicts it (depth noise, thinning)
    # Fraction of added points a nearer mirror plane may contradict beyond the best one's (0: the nearest plane of
    # the fewest violations; measured on rendered boxes and cylinders, larger slacks pull the plane towards the camera).
    violation_slack: float = 0.0
    rotation_slack: float = 0.03  # "auto" revolves when that contradicts the view at most this much more than mirroring
    # A completion contradicting the view more than this is no symmetry of the object (a fork lying flat, a drill):
    # the seen cloud is returned unchanged (method "none").
    max_violation: float = 0.1
    rotation_copies: int = 8  # revolved copies of the cloud (every 360 / copies degrees), the seen one included
    pixel_spacings: float = 1.5  # free-space pixel width, in median spacings of the seen points' projections
    min_points: int = 10

    def __post_init__(self) -> None:
        if self.method not in ("mirror", "rotation", "auto"):
            raise ValueError(f"method must be 'mirror', 'rotation' or 'auto', got {self.method!r}")
        if not (self.offset_step_m > 0 and self.margin_m >= 0 and self.pixel_spacings > 0):
            raise ValueError("offset_step_m and pixel_spacings must be positive and margin_m non-negative")
        if not (0.0 <= self.violation_slack <= 1.0 and 0.0 <= self.rotation_slack <= 1.0):
            raise ValueError(f"the slacks must lie in [0, 1], got {self.violation_slack}, {self.rotation_slack}")
        if not self.yaw_offsets_deg or self.rotation_copies < 2 or self.min_points < 3 or self.search_points < 1:
            raise ValueError("need at least one yaw offset, rotation_copies >= 2, min_points >= 3, search_points >= 1")


@dataclass(frozen=True)
class Completion:
    """The seen points followed by the added ones."""

    points_m: np.ndarray  # (M, 3) float32
    normals: np.ndarray | None  # (M, 3) float32 unit, reflected or rotated with their points; None without input ones
    source: np.ndarray  # (M,) int64: the input point each one comes from (the seen ones: themselves)
    added: np.ndarray  # (M,) bool: False for the seen points
    method: str  # "mirror", "rotation", or "none" (no symmetry explains the view: nothing added)
    violation: float  # fraction of the added points lying in the seen free space (the rejected ones' for "none")
    plane_normal: np.ndarray | None = None  # (3,) mirror: the plane {x : normal . x = offset}
    plane_offset_m: float | None = None
    axis_point_m: np.ndarray | None = None  # (3,) rotation: a point of the vertical axis

    def thinned(self, num_points: int) -> Completion:
        """At most `num_points` of the points by farthest point sampling (every point when there are fewer)."""
        if len(self.points_m) <= num_points:
            return self
        keep = farthest_point_sample(torch.as_tensor(self.points_m)[None], num_points)[0].numpy()
        return Completion(self.points_m[keep], None if self.normals is None else self.normals[keep],
                          self.source[keep], self.added[keep], self.method, self.violation, self.plane_normal,
                          self.plane_offset_m, self.axis_point_m)


class SeenFreeSpace:
    """What a camera at `camera_m` (3,) saw of `points_m` (P, 3): a depth buffer of the points on a pinhole image
    looking at their centroid, pixels as wide as the points' median spacing times `pixel_spacings`."""

    def __init__(self, points_m: np.ndarray, camera_m: np.ndarray, up: np.ndarray, pixel_spacings: float) -> None:
        self.camera_m = camera_m
        forward = points_m.mean(0) - camera_m
        self.forward = forward / np.linalg.norm(forward)
        right = np.cross(self.forward, up)
        if np.linalg.norm(right) < 1e-6:  # looking straight along `up`: any right angle will do
            right = np.cross(self.forward, [1.0, 0.0, 0.0] if abs(self.forward[0]) < 0.9 else [0.0, 1.0, 0.0])
        self.right = right / np.linalg.norm(right)
        self.down = np.cross(self.forward, self.right)
        depth = (points_m - camera_m) @ self.forward
        if depth.min() <= 1e-3:
            raise CompletionError("the camera is inside the cloud: some points lie beside or behind it "
                                  f"(depth along its view {depth.min():.4f} m)")
        uv = self._project(points_m)
        spacing = np.median(cKDTree(uv).query(uv, k=2)[0][:, 1])
        self.pixel = max(float(spacing) * pixel_spacings, 1e-5)  # (tangent of the angle)
        self.origin = uv.min(0) - 2 * self.pixel
        cells = self._cells(uv)
        shape = tuple(cells.max(0) + 3)
        buffer = np.full(shape, np.inf)
        np.minimum.at(buffer, (cells[:, 0], cells[:, 1]), depth)
        # Thinned clouds leave pixel-sized holes inside the silhouette: a pixel with no point takes its
        # neighbours' nearest depth (and counts as seen object) so that the holes read as surface, not free space.
        self.depth_m = np.where(np.isinf(buffer), ndimage.minimum_filter(buffer, size=3, mode="nearest"), buffer)

    def _project(self, points_m: np.ndarray) -> np.ndarray:
        rel = points_m - self.camera_m
        depth = rel @ self.forward
        return np.stack([rel @ self.right, rel @ self.down], -1) / np.maximum(depth, 1e-9)[..., None]

    def _cells(self, uv: np.ndarray) -> np.ndarray:
        return np.floor((uv - self.origin) / self.pixel).astype(np.int64)

    def violations(self, points_m: np.ndarray, margin_m: float) -> np.ndarray:
        """(...,) bool for points (..., 3): lying in the seen free space (before the seen surface by more than
        `margin_m` on their ray, on a ray that saw no object, or behind the camera)."""
        depth = (points_m - self.camera_m) @ self.forward
        cells = self._cells(self._project(points_m))
        inside = (cells >= 0).all(-1) & (cells < self.depth_m.shape).all(-1) & (depth > 0)
        seen = np.full(depth.shape, -np.inf)
        seen[inside] = self.depth_m[cells[inside][:, 0], cells[inside][:, 1]]
        return ~inside | np.isinf(seen) | (depth < seen - margin_m)


def complete_occluded(points_m: np.ndarray, camera_position_m: np.ndarray, normals: np.ndarray | None = None,
                      config: CompletionConfig | None = None, up: np.ndarray = (0.0, 0.0, 1.0)) -> Completion:
    """Complete one camera's view of an object: points_m (P, 3) metres seen from camera_position_m (3,), same
    frame, `up` (3,) the table's normal there; normals (P, 3) optional. Raises CompletionError for an empty cloud,
    fewer than `config.min_points`, non-finite values, or a camera inside the cloud or straight above it."""
    config = config or CompletionConfig()
    points = np.asarray(points_m, np.float64)
    camera = np.asarray(camera_position_m, np.float64)
    up = np.asarray(up, np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise CompletionError(f"the cloud must be (P, 3), got {points.shape}")
    if len(points) < config.min_points:
        raise CompletionError(f"the cloud holds {len(points)} points, fewer than {config.min_points}: nothing to "
                              "complete")
    if not (np.isfinite(points).all() and np.isfinite(camera).all() and np.isfinite(up).all()):
        raise CompletionError("the cloud, the camera position or `up` holds NaN or infinite values")
    if camera.shape != (3,) or up.shape != (3,) or np.linalg.norm(up) == 0:
        raise CompletionError(f"camera_position_m and up must be non-zero 3-vectors, got {camera.shape}, {up.shape}")
    if normals is not None:
        normals = np.asarray(normals, np.float64)
        if normals.shape != points.shape or not np.isfinite(normals).all():
            raise CompletionError(f"normals must be finite and (P, 3) like the points, got {normals.shape}")
    up = up / np.linalg.norm(up)
    if (points.min(0) <= camera).all() and (camera <= points.max(0)).all():
        raise CompletionError(f"the camera {np.round(camera, 3).tolist()} m lies inside the cloud's bounding box")
    view = points.mean(0) - camera
    horizontal = view - (view @ up) * up
    if np.linalg.norm(horizontal) < 0.05 * np.linalg.norm(view):
        raise CompletionError("the camera looks straight down on the object: no horizontal viewing direction to "
                              "mirror along")
    free = SeenFreeSpace(points, camera, up, config.pixel_spacings)
    candidates = []
    if config.method in ("mirror", "auto"):
        candidates.append(_mirror(points, normals, horizontal / np.linalg.norm(horizontal), up, free, config))
    if config.method in ("rotation", "auto"):
        candidates.append(_rotation(points, normals, up, free, config))
    best = candidates[0]
    if len(candidates) == 2 and candidates[1].violation <= candidates[0].violation + config.rotation_slack:
        best = candidates[1]
    if best.violation > config.max_violation:
        return _joined(points, normals, np.zeros((0, 3)), None if normals is None else np.zeros((0, 3)),
                       np.zeros(0, np.int64), "none", best.violation)
    return best


def _joined(points: np.ndarray, normals: np.ndarray | None, new_points: np.ndarray, new_normals: np.ndarray | None,
            source: np.ndarray, method: str, violation: float, **geometry) -> Completion:
    count = len(points)
    return Completion(
        points_m=np.concatenate([points, new_points]).astype(np.float32),
        normals=None if normals is None else np.concatenate([normals, new_normals]).astype(np.float32),
        source=np.concatenate([np.arange(count), source]).astype(np.int64),
        added=np.concatenate([np.zeros(count, bool), np.ones(len(new_points), bool)]),
        method=method, violation=violation, **geometry)


def _mirror(points, normals, view, up, free: SeenFreeSpace, config: CompletionConfig) -> Completion:
    """The nearest vertical mirror plane (over the yaw offsets and offsets) within the slack of the fewest
    free-space violations."""
    best = None  # (violation, normal, offset)
    probe = points[np.linspace(0, len(points) - 1, min(len(points), config.search_points)).astype(np.int64)]
    for yaw in np.radians(config.yaw_offsets_deg):
        # Rodrigues about `up` (view is horizontal, so up x view is horizontal too).
        normal = np.cos(yaw) * view + np.sin(yaw) * np.cross(up, view)
        along = probe @ normal  # (S,) position of each probe point along the normal
        # From the nearest seen point to one seen extent beyond the farthest: past that the mirrored half floats
        # off the seen one.
        offsets = np.arange(along.min(), along.max() + np.ptp(along) + config.offset_step_m, config.offset_step_m)
        mirrored = probe[None] - 2 * (along[None, :, None] - offsets[:, None, None]) * normal  # (O, S, 3)
        fraction = free.violations(mirrored, config.margin_m).mean(1)  # (O,)
        chosen = int(np.flatnonzero(fraction <= fraction.min() + config.violation_slack)[0])
        if best is None or fraction[chosen] < best[0] - 1e-9:
            best = (float(fraction[chosen]), normal, float(offsets[chosen]))
    _, normal, offset = best
    new_points = points - 2 * (points @ normal - offset)[:, None] * normal
    violation = float(free.violations(new_points, config.margin_m).mean())
    new_normals = None if normals is None else normals - 2 * (normals @ normal)[:, None] * normal
    return _joined(points, normals, new_points, new_normals, np.arange(len(points)), "mirror", violation,
                   plane_normal=normal, plane_offset_m=offset)


def _rotation(points, normals, up, free: SeenFreeSpace, config: CompletionConfig) -> Completion:
    """The points revolved about the vertical axis through the least-squares circle of their horizontal
    coordinates (Kasa's fit: x^2 + y^2 = 2 a x + 2 b y + c, linear in a, b, c)."""
    first = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    first /= np.linalg.norm(first)
    second = np.cross(up, first)
    xy = np.stack([points @ first, points @ second], 1)  # (P, 2) horizontal coordinates
    system = np.concatenate([2 * xy, np.ones((len(xy), 1))], 1)
    (a, b, _), *_ = np.linalg.lstsq(system, (xy**2).sum(1), rcond=None)
    axis_point = a * first + b * second + (points.mean(0) @ up) * up
    copies, normals_out = [], []
    for angle in 2 * np.pi * np.arange(1, config.rotation_copies) / config.rotation_copies:
        rotation = _about(up, angle)
        copies.append((points - axis_point) @ rotation.T + axis_point)
        if normals is not None:
            normals_out.append(normals @ rotation.T)
    new_points = np.concatenate(copies)
    violation = float(free.violations(new_points, config.margin_m).mean())
    return _joined(points, normals, new_points, None if normals is None else np.concatenate(normals_out),
                   np.tile(np.arange(len(points)), config.rotation_copies - 1), "rotation", violation,
                   axis_point_m=axis_point)


def _about(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` rad about the unit `axis`."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
