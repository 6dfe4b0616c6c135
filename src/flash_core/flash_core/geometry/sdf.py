"""Point-to-mesh signed distance with gradients, via NVIDIA warp mesh queries (CPU and CUDA).

Convention: NEGATIVE INSIDE the mesh, positive outside, zero on the surface (trimesh uses the
opposite sign). The gradient is the unit vector from the closest surface point to the query point,
times the sign, i.e. it points out of the object; on the surface it is the face normal.

Warp's BVH query (float32) finds the closest face, the closest point and the sign. float32 queries use
warp's closest point as is; for float64 queries the closest point on that face is recomputed in torch
in float64, so they are exact (to float64 rounding) and `gradcheck` holds.
Sign methods:
- "winding" (the default, "auto"): generalised winding number > 0.5 means inside; correct everywhere we checked,
  also for meshes with holes; ~1.5x the cost of "normal";
- "normal": warp's pseudo-normal test, faster, but it flips the sign of some points whose closest feature is a
  thin rim even on water-tight meshes (measured: 115 of 20,000 points around a 5 mm-walled bowl, up to 75 mm
  "inside"; 3 of 5,000 around the current bowl). Use it only where speed matters more than those points.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from flash_core.geometry.checks import check_points
from flash_core.geometry.triangles import closest_point_on_triangles
from flash_core.geometry.warp_runtime import load_warp, warp_device

wp = load_warp()

SignMethod = Literal["auto", "normal", "winding"]


def _make_query_kernel(sign_method: str):
    @wp.kernel(module="unique")
    def closest_face_and_sign(
        mesh: wp.uint64,
        points: wp.array(dtype=wp.vec3),
        max_dist: float,
        faces: wp.array(dtype=wp.int32),
        signs: wp.array(dtype=wp.float32),
        closest: wp.array(dtype=wp.vec3),
    ):
        tid = wp.tid()
        if wp.static(sign_method == "winding"):
            hit = wp.mesh_query_point_sign_winding_number(mesh, points[tid], max_dist)
        elif wp.static(sign_method == "normal"):
            # epsilon 1e-6 (default 1e-3 of the mean edge): the default treats near-equal face distances
            # as equal and mis-signed points near a coarse box's medial plane.
            hit = wp.mesh_query_point_sign_normal(mesh, points[tid], max_dist, 1.0e-6)
        else:
            hit = wp.mesh_query_point_no_sign(mesh, points[tid], max_dist)
        if hit.result:
            faces[tid] = hit.face
            signs[tid] = wp.where(hit.sign < 0.0, -1.0, 1.0)
            closest[tid] = wp.mesh_eval_position(mesh, hit.face, hit.u, hit.v)
        else:
            faces[tid] = -1
            signs[tid] = 1.0

    return closest_face_and_sign


_KERNELS = {method: _make_query_kernel(method) for method in ("normal", "winding", "none")}


@dataclass(frozen=True)
class SDFQuery:
    """Everything one mesh query yields, without gradients. Shapes follow the points: (B, N, ...)."""

    distance_m: torch.Tensor  # (B, N) signed distance, negative inside
    closest_point: torch.Tensor  # (B, N, 3) closest point on the surface
    gradient: torch.Tensor  # (B, N, 3) unit d(distance)/d(point), pointing out of the object
    face: torch.Tensor  # (B, N) int64 index of the closest face


class MeshSDF:
    """Signed distance to one triangle mesh; build once, query many times on CPU or CUDA.

    vertices: (V, 3) in metres, faces: (F, 3) int. The warp mesh (BVH) is built lazily per device and
    cached; calling the object gives differentiable distances (B, N, 3) -> (B, N).
    """

    def __init__(
        self,
        vertices: torch.Tensor | np.ndarray,
        faces: torch.Tensor | np.ndarray,
        sign_method: SignMethod = "auto",
        max_distance_m: float = 1.0e6,
    ):
        # Own copies (trimesh hands out read-only cached arrays, and the mesh may change after this);
        # checks in numpy, which is ~10x cheaper than torch for this one-off work on a busy CPU.
        vertices = np.array(vertices, dtype=np.float64)
        faces = np.array(faces, dtype=np.int64)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"need vertices (V, 3) and faces (F, 3), got {vertices.shape} and {faces.shape}")
        if len(faces) == 0 or len(vertices) == 0:
            raise ValueError("cannot build a signed distance field from an empty mesh")
        if not np.isfinite(vertices).all():
            raise ValueError("mesh vertices hold NaN or infinite coordinates")
        if faces.min() < 0 or faces.max() >= len(vertices):
            raise ValueError(f"face indices must lie in [0, {len(vertices)}), got [{faces.min()}, {faces.max()}]")
        if sign_method == "auto":
            sign_method = "winding"
        if sign_method not in ("normal", "winding"):
            raise ValueError(f"sign_method must be 'auto', 'normal' or 'winding', got {sign_method!r}")
        self.sign_method: str = sign_method
        self.max_distance_m = max_distance_m
        self.vertices = torch.from_numpy(vertices)  # (V, 3) float64, CPU master copy
        self.faces = torch.from_numpy(faces)  # (F, 3) int64
        corners = vertices[faces]  # (F, 3, 3)
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        self.face_normals = torch.from_numpy(
            normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-300)
        )
        self._warp_meshes: dict[str, tuple] = {}  # warp device -> (wp.Mesh, its points, its indices)
        self._face_cache: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_trimesh(cls, mesh, sign_method: SignMethod = "auto", max_distance_m: float = 1.0e6) -> "MeshSDF":
        """Build from a `trimesh.Trimesh` (vertices in metres)."""
        return cls(mesh.vertices, mesh.faces, sign_method=sign_method, max_distance_m=max_distance_m)

    @property
    def bounds(self) -> torch.Tensor:
        """(2, 3) axis-aligned bounds of the vertices: [min, max]."""
        return torch.stack([self.vertices.amin(0), self.vertices.amax(0)])

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (B, N) of points (B, N, 3), differentiable w.r.t. the points."""
        check_points(points)
        return _SignedDistance.apply(points, self)

    @torch.no_grad()
    def query(self, points: torch.Tensor) -> SDFQuery:
        """Signed distance, closest point, gradient and face of points (B, N, 3); no autograd graph."""
        check_points(points)
        flat = points.detach().reshape(-1, 3)
        face, sign, warp_closest = self._warp_query(flat, self.sign_method, self.max_distance_m)
        if bool((face < 0).any()):
            missed = int((face < 0).sum())
            raise ValueError(f"{missed} point(s) lie farther than max_distance_m={self.max_distance_m} from the mesh")
        closest = self._closest_points(flat, face, warp_closest)
        offset = flat - closest
        unsigned = torch.linalg.vector_norm(offset, dim=-1)
        # On the surface the offset has no direction; the face normal is the gradient there.
        on_surface = unsigned <= 1e-12 if flat.dtype == torch.float64 else unsigned <= 1e-7
        away = sign[:, None] * offset / unsigned.clamp_min(torch.finfo(flat.dtype).tiny)[:, None]
        direction = torch.where(on_surface[:, None], self._faces_on(flat.device, flat.dtype)[1][face], away)
        batch_shape = points.shape[:-1]
        return SDFQuery(
            distance_m=(sign * unsigned).reshape(batch_shape),
            closest_point=closest.reshape(*batch_shape, 3),
            gradient=direction.reshape(*batch_shape, 3),
            face=face.reshape(batch_shape),
        )

    @torch.no_grad()
    def closest(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Closest surface point (B, N, 3) and its face (B, N) of points (B, N, 3), without the sign: ~10x cheaper
        than `query` with the winding-number sign (measured on a 1,222-face mug, one thread: 1.7 vs 22 us/point)."""
        check_points(points)
        flat = points.detach().reshape(-1, 3)
        face, _, warp_closest = self._warp_query(flat, "none", self.max_distance_m)
        if bool((face < 0).any()):
            raise ValueError(f"{int((face < 0).sum())} point(s) lie farther than max_distance_m={self.max_distance_m}")
        closest = self._closest_points(flat, face, warp_closest)
        return closest.reshape(points.shape), face.reshape(points.shape[:-1])

    @torch.no_grad()
    def inside(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N) bool: points (B, N, 3) inside the mesh by the SDF's sign method."""
        check_points(points, allow_empty=True)
        _, sign, _ = self._warp_query(points.detach().reshape(-1, 3), self.sign_method, self.max_distance_m)
        return (sign < 0).reshape(points.shape[:-1])

    @torch.no_grad()
    def unsigned_distance(self, points: torch.Tensor, max_distance_m: float) -> torch.Tensor:
        """Distance (B, N) of points (B, N, 3) to the surface, inf beyond `max_distance_m`; no sign, no graph.

        A small `max_distance_m` lets the BVH prune early: the cheap way to find a band around the surface.
        """
        check_points(points)
        flat = points.detach().reshape(-1, 3)
        face, _, warp_closest = self._warp_query(flat, "none", max_distance_m)
        found = face >= 0
        distance = torch.full(flat.shape[:1], float("inf"), dtype=flat.dtype, device=flat.device)
        closest = self._closest_points(flat[found], face[found], warp_closest[found])
        distance[found] = torch.linalg.vector_norm(flat[found] - closest, dim=-1)
        return distance.reshape(points.shape[:-1])

    def _closest_points(self, flat: torch.Tensor, face: torch.Tensor, warp_closest: torch.Tensor) -> torch.Tensor:
        """Closest surface points (P, 3) in flat's dtype: warp's float32 result, or exact for other dtypes."""
        if flat.dtype == torch.float32:
            return warp_closest
        corners = self._faces_on(flat.device, flat.dtype)[0][face]  # (P, 3, 3)
        return closest_point_on_triangles(flat, corners[:, 0], corners[:, 1], corners[:, 2])

    def _faces_on(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Corners (F, 3, 3) and unit normals (F, 3), cached per device and dtype so queries copy them once."""
        key = (str(device), dtype)
        if key not in self._face_cache:
            corners = self.vertices[self.faces].to(device=device, dtype=dtype)
            self._face_cache[key] = (corners, self.face_normals.to(device=device, dtype=dtype))
        return self._face_cache[key]

    def _warp_mesh(self, device: str):
        if device not in self._warp_meshes:
            points = wp.array(self.vertices.numpy().astype(np.float32), dtype=wp.vec3, device=device)
            indices = wp.array(self.faces.numpy().astype(np.int32).reshape(-1), dtype=wp.int32, device=device)
            mesh = wp.Mesh(points=points, indices=indices, support_winding_number=self.sign_method == "winding")
            self._warp_meshes[device] = (mesh, points, indices)  # warp needs the arrays kept alive
        return self._warp_meshes[device][0]

    def _warp_query(
        self, flat: torch.Tensor, sign_method: str, max_distance_m: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For points (P, 3): closest face (P,) int64 (-1 if none within max_distance_m), sign (P,) +-1 in
        flat's dtype and closest point (P, 3) float32."""
        device = warp_device(flat.device)
        mesh = self._warp_mesh(device)
        kernel = _KERNELS[sign_method]
        queries = flat.to(torch.float32).contiguous()
        faces = torch.empty(len(queries), dtype=torch.int32, device=flat.device)
        signs = torch.empty(len(queries), dtype=torch.float32, device=flat.device)
        closest = torch.empty_like(queries)

        # On CUDA, launch on torch's current stream so the kernel sees `queries` fully written.
        stream = wp.stream_from_torch(flat.device) if flat.device.type == "cuda" else None

        def launch(rows: slice) -> None:
            wp.launch(
                kernel,
                dim=rows.stop - rows.start,
                inputs=[mesh.id, wp.from_torch(queries[rows], dtype=wp.vec3), float(max_distance_m)],
                outputs=[
                    wp.from_torch(faces[rows]),
                    wp.from_torch(signs[rows]),
                    wp.from_torch(closest[rows], dtype=wp.vec3),
                ],
                device=device,
                stream=stream,
            )

        # Warp runs CPU kernels on one thread but releases the GIL, so split big CPU batches over
        # torch's thread count; compile first so worker threads only launch.
        workers = torch.get_num_threads() if device == "cpu" and len(queries) >= _MIN_POINTS_PER_THREAD * 2 else 1
        if workers > 1:
            wp.load_module(kernel.module, device=device)
            bounds = torch.linspace(0, len(queries), workers + 1).long().tolist()
            list(_thread_pool(workers).map(launch, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]))
        else:
            launch(slice(0, len(queries)))
        return faces.long(), signs.to(flat.dtype), closest


_MIN_POINTS_PER_THREAD = 1024


@functools.lru_cache(maxsize=None)
def _thread_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flash-sdf")


class _SignedDistance(torch.autograd.Function):
    """Signed distance with the analytic gradient (unit direction away from the closest point)."""

    @staticmethod
    def forward(ctx, points: torch.Tensor, sdf: MeshSDF) -> torch.Tensor:
        result = sdf.query(points)
        ctx.save_for_backward(result.gradient)
        return result.distance_m

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_distance: torch.Tensor):
        (gradient,) = ctx.saved_tensors
        return grad_distance.unsqueeze(-1) * gradient, None

