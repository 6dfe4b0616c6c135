"""Signed distance stored on a regular grid and read back trilinearly: cheap, differentiable penalties.

A mesh query costs ~1 s for 262k points on 2 CPU cores; `torch.nn.functional.grid_sample` on a 64^3
grid costs milliseconds, so training uses the grid and metrics use the exact `MeshSDF`.

Resolution error: the signed distance is 1-Lipschitz, so a trilinear read-back differs from the
exact value by at most sum_i w_i |node_i - p| <= sqrt(sum_i w_i |node_i - p|^2) <= half the cell
diagonal, 0.5 * sqrt(hx^2 + hy^2 + hz^2) (`max_error_m`). Near sharp features it gets close to that
bound; on flat or smooth parts it is far smaller. Outside the grid the value at the nearest grid
point plus the distance to the grid box is returned (an upper bound on the true distance).
Convention as everywhere in FLASH: negative inside. `SDFGridBatch` holds one grid per object and
reads a mini-batch with a different object in every row in one call.
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
            raise ValueError(
                f"values must be (nx, ny, nz) with at least 2 nodes per axis, got {tuple(self.values.shape)}"
            )
        if self.bounds_m.shape != (2, 3) or not bool((self.bounds_m[1] > self.bounds_m[0]).all()):
            raise ValueError(f"bounds_m must be (2, 3) with max > min on every axis, got {self.bounds_m.tolist()}")
        if not bool(torch.isfinite(self.values).all()):
            raise ValueError("SDF grid values hold NaN or infinite entries")
        object.__setattr__(self, "_volume", _volume(self.values[None]))

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
        axes = [
            torch.linspace(float(bounds_m[0, i]), float(bounds_m[1, i]), resolution, dtype=torch.float64)
            for i in range(3)
        ]
        nodes = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)  # (R^3, 3), x slowest
        chunks = nodes.split(points_per_query)
        with torch.no_grad():
            values = [
                sdf(chunk[None])[0] for chunk in tqdm(chunks, desc="SDF grid", disable=len(chunks) < 4, leave=False)
            ]
        return cls(
            values=torch.cat(values).reshape(resolution, resolution, resolution).float(), bounds_m=bounds_m.float()
        )

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
        flat = points.reshape(1, -1, 3)
        zero = torch.zeros(1, dtype=torch.long, device=points.device)
        return _sample_grids(self._volume, self.bounds_m[None], flat, zero).reshape(points.shape[:-1])

    def to(self, device: torch.device | str) -> "SDFGrid":
        """A copy of the grid on `device`, so repeated queries there need no transfer."""
        return SDFGrid(values=self.values.to(device), bounds_m=self.bounds_m.to(device))

    def save(self, path: str | Path) -> None:
        """Write the grid as a safetensors file."""
        from safetensors.torch import save_file

        tensors = {
            "values": self.values.detach().cpu().contiguous(),
            "bounds_m": self.bounds_m.detach().cpu().contiguous(),
        }
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
            raise ValueError(
                f"{path} is not a FLASH SDF grid (format {metadata.get('format')!r}, expected {GRID_FORMAT!r})"
            )
        return cls(values=tensors["values"], bounds_m=tensors["bounds_m"])


@dataclass(frozen=True)
class SDFGridBatch:
    """Grids of several objects (same node counts), read for a whole mini-batch in one grid_sample call.

    The grids are stacked along z into one volume and every point is sent to its own object's slab,
    so a batch with a different object in each row needs neither a loop nor a copy of the grids: one
    kernel launch on a GPU. On a CPU a Python loop over single grids is as fast or faster (each small
    grid stays in cache: 0.2 s vs 0.38 s for 256 x 1024 points over 32 grids of 48^3 at load 7).
    """

    values: torch.Tensor  # (G, nx, ny, nz) signed distance in metres
    bounds_m: torch.Tensor  # (G, 2, 3) first and last node of each grid

    def __post_init__(self):
        if (
            self.values.ndim != 4
            or min(self.values.shape[1:]) < 2
            or self.bounds_m.shape != (self.values.shape[0], 2, 3)
        ):
            raise ValueError(
                f"need values (G, nx, ny, nz) and bounds_m (G, 2, 3), "
                f"got {tuple(self.values.shape)} and {tuple(self.bounds_m.shape)}"
            )
        object.__setattr__(self, "_volume", _volume(self.values))

    @classmethod
    def stack(cls, grids: list[SDFGrid]) -> "SDFGridBatch":
        """Stack single grids (same node counts) in order: object g is grids[g]."""
        if not grids:
            raise ValueError("cannot stack an empty list of SDF grids")
        shapes = {tuple(grid.values.shape) for grid in grids}
        if len(shapes) > 1:
            raise ValueError(f"grids must share their node counts to be stacked, got {sorted(shapes)}")
        return cls(values=torch.stack([g.values for g in grids]), bounds_m=torch.stack([g.bounds_m for g in grids]))

    def __len__(self) -> int:
        return self.values.shape[0]

    def to(self, device: torch.device | str) -> "SDFGridBatch":
        """A copy on `device`, so repeated queries there need no transfer."""
        return SDFGridBatch(values=self.values.to(device), bounds_m=self.bounds_m.to(device))

    def __call__(self, points: torch.Tensor, objects: torch.Tensor | None = None) -> torch.Tensor:
        """Signed distance (B, N) of points (B, N, 3), row b in grid objects[b] (default: grid b).

        objects: (B,) int64 object index per row. Differentiable w.r.t. the points.
        """
        check_points(points)
        if objects is None:
            if points.shape[0] != len(self):
                raise ValueError(
                    f"points have {points.shape[0]} rows but the batch holds {len(self)} grids; pass objects="
                )
            objects = torch.arange(len(self), device=points.device)
        objects = torch.as_tensor(objects, dtype=torch.long, device=points.device)
        if objects.shape != points.shape[:1] or int(objects.min()) < 0 or int(objects.max()) >= len(self):
            raise ValueError(
                f"objects must be (B,) = ({points.shape[0]},) indices in [0, {len(self)}), got {objects.tolist()}"
            )
        return _sample_grids(self._volume, self.bounds_m, points, objects)


def _volume(values: torch.Tensor) -> torch.Tensor:
    """(G, nx, ny, nz) -> (1, 1, G * (nz + 1), ny, nx): grid_sample's (D, H, W) order, grids stacked along D.

    Each grid's top z layer is repeated once, so at a grid's top face the neighbouring grid never
    enters the interpolation or its gradient (as with padding_mode="border" on a single grid). A
    contiguous copy reads ~30x faster than a permuted view.
    """
    count, nx, ny, nz = values.shape
    padded = torch.cat([values, values[..., -1:]], dim=-1)  # (G, nx, ny, nz + 1)
    return padded.permute(0, 3, 2, 1).reshape(1, 1, count * (nz + 1), ny, nx).contiguous()


def _sample_grids(
    volume: torch.Tensor, bounds_m: torch.Tensor, points: torch.Tensor, objects: torch.Tensor
) -> torch.Tensor:
    """Trilinear values (B, N) of points (B, N, 3) in the stacked volume, row b in grid objects[b].

    Outside its box a point gets the value at the nearest box point plus its distance to the box.
    """
    volume = volume.to(device=points.device, dtype=points.dtype)  # (1, 1, G * (nz + 1), ny, nx)
    bounds = bounds_m.to(device=points.device, dtype=points.dtype)[objects]  # (B, 2, 3)
    low, high = bounds[:, :1], bounds[:, 1:]  # (B, 1, 3)
    inside_box = torch.maximum(torch.minimum(points, high), low)
    fraction = (inside_box - low) / (high - low)  # (B, N, 3) in [0, 1]
    slab = volume.shape[2] // bounds_m.shape[0]  # nz + 1 layers per grid
    # z position in the stack: the grid's first layer plus the position within its own nz nodes.
    stacked_z = (objects[:, None] * slab + fraction[..., 2] * (slab - 2)) / (volume.shape[2] - 1)
    unit = 2.0 * torch.cat([fraction[..., :2], stacked_z.unsqueeze(-1)], dim=-1) - 1.0  # (x, y, z) in [-1, 1]
    sampled = F.grid_sample(
        volume, unit.reshape(1, 1, 1, -1, 3), mode="bilinear", padding_mode="border", align_corners=True
    )
    return sampled.reshape(points.shape[:-1]) + torch.linalg.vector_norm(points - inside_box, dim=-1)
