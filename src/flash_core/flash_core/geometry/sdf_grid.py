"""Signed distance stored on a regular grid and read back trilinearly: cheap, differentiable penalties.

A mesh query costs ~1 s for 262k points on 2 CPU cores; `torch.nn.functional.grid_sample` on a 64^3
grid costs milliseconds, so training uses the grid and metrics use the exact `MeshSDF`.

Resolution error: the signed distance is 1-Lipschitz, so a trilinear read-back differs from the
exact value by at most sum_i w_i |node_i - p| <= sqrt(sum_i w_i |node_i - p|^2) <= half the cell
diagonal, 0.5 * sqrt(hx^2 + hy^2 + hz^2) (`max_error_m`). Near sharp features it gets close to that
bound; on flat or smooth parts it is far smaller. Outside the grid the value at the nearest grid
point plus the distance to the grid box is returned (an upper bound on the true distance).
Convention as everywhere in FLASH: negative inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from flash_core.geometry.checks import check_points

GRID_FORMAT = "flash-sdf-grid-v1"


@dataclass(frozen=True)
class SDFGrid:
    """Signed distances at the nodes of a regular grid spanning `bounds_m` inclusively."""

    values: torch.Tensor  # (nx, ny, nz) signed distance in metres, indexed [x, y, z]
    bounds_m: torch.Tensor  # (2, 3) positions of the first and the last node: [min, max]

    def __post_init__(self):
        if self.values.ndim != 3 or min(self.values.shape) < 2:
            raise ValueError(f"values must be (nx, ny, nz) with at least 2 nodes per axis, got {tuple(self.values.shape)}")
        if self.bounds_m.shape != (2, 3) or not bool((self.bounds_m[1] > self.bounds_m[0]).all()):
            raise ValueError(f"bounds_m must be (2, 3) with max > min on every axis, got {self.bounds_m.tolist()}")
        if not bool(torch.isfinite(self.values).all()):
            raise ValueError("SDF grid values hold NaN or infinite entries")
        # grid_sample wants (D, H, W) = (z, y, x); a contiguous copy reads ~30x faster than a permuted view.
        object.__setattr__(self, "_volume", self.values.permute(2, 1, 0).contiguous()[None, None])

    @classmethod
    def from_sdf(
        cls,
        sdf: Callable[[torch.Tensor], torch.Tensor],
        bounds_m: torch.Tensor,
        resolution: int = 64,
        points_per_query: int = 1 << 18,
    ) -> "SDFGrid":
        """Sample any SDF (B, N, 3) -> (B, N) at resolution^3 nodes spanning bounds_m (2, 3)."""
        if resolution < 2:
            raise ValueError(f"resolution must be at least 2, got {resolution}")
        bounds_m = torch.as_tensor(bounds_m, dtype=torch.float64)
        axes = [torch.linspace(float(bounds_m[0, i]), float(bounds_m[1, i]), resolution, dtype=torch.float64) for i in range(3)]
        nodes = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)  # (R^3, 3), x slowest
        chunks = nodes.split(points_per_query)
        with torch.no_grad():
            values = [sdf(chunk[None])[0] for chunk in tqdm(chunks, desc="SDF grid", disable=len(chunks) < 4, leave=False)]
        return cls(values=torch.cat(values).reshape(resolution, resolution, resolution).float(), bounds_m=bounds_m.float())

    @classmethod
    def from_mesh_sdf(cls, mesh_sdf, resolution: int = 64, padding_m: float = 0.02) -> "SDFGrid":
        """Grid over a `MeshSDF`'s bounding box grown by `padding_m` on every side."""
        bounds = mesh_sdf.bounds + torch.tensor([[-padding_m], [padding_m]], dtype=torch.float64)
        return cls.from_sdf(mesh_sdf, bounds, resolution)

    @property
    def spacing_m(self) -> torch.Tensor:
        """(3,) distance between neighbouring nodes along x, y, z."""
        return (self.bounds_m[1] - self.bounds_m[0]) / (torch.tensor(self.values.shape, dtype=self.bounds_m.dtype) - 1)

    @property
    def max_error_m(self) -> float:
        """Bound on |trilinear - exact| inside the grid: half the cell diagonal."""
        return 0.5 * math.sqrt(float(self.spacing_m.square().sum()))

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (B, N) at points (B, N, 3), differentiable w.r.t. the points."""
        check_points(points)
        volume = self._volume.to(device=points.device, dtype=points.dtype)  # (1, 1, nz, ny, nx)
        low, high = (b.to(device=points.device, dtype=points.dtype) for b in self.bounds_m)
        inside_box = torch.maximum(torch.minimum(points, high), low)
        unit = 2.0 * (inside_box - low) / (high - low) - 1.0  # [-1, 1] per axis, (x, y, z) order as grid_sample wants
        sampled = F.grid_sample(volume, unit.reshape(1, 1, 1, -1, 3), mode="bilinear", padding_mode="border", align_corners=True)
        outside = torch.linalg.vector_norm(points - inside_box, dim=-1)
        return sampled.reshape(points.shape[:-1]) + outside

    def to(self, device: torch.device | str) -> "SDFGrid":
        """A copy of the grid on `device`, so repeated queries there need no transfer."""
        return SDFGrid(values=self.values.to(device), bounds_m=self.bounds_m.to(device))

    def save(self, path: str | Path) -> None:
        """Write the grid as a safetensors file."""
        from safetensors.torch import save_file

        tensors = {"values": self.values.detach().cpu().contiguous(), "bounds_m": self.bounds_m.detach().cpu().contiguous()}
        save_file(tensors, str(path), metadata={"format": GRID_FORMAT})

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> "SDFGrid":
        """Read a grid written by `save`."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no SDF grid file at {path}")
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as handle:
                metadata = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        except Exception as exc:  # safetensors has its own error type for truncated or foreign files
            raise ValueError(f"cannot read SDF grid {path}: {exc}") from exc
        if metadata.get("format") != GRID_FORMAT or not {"values", "bounds_m"} <= tensors.keys():
            raise ValueError(f"{path} is not a FLASH SDF grid (format {metadata.get('format')!r}, expected {GRID_FORMAT!r})")
        return cls(values=tensors["values"], bounds_m=tensors["bounds_m"])
