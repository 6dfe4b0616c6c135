"""Points rigidly attached to links, moved with the links by one batched matrix multiply.

The points are grouped by link into fixed-size chunks (the last chunk of a link padded with zeros), so moving
all of them is a gather of one 3x4 transform per chunk (not per point) and a single `bmm` over the chunks,
laid out so that one row-wise index_select drops the padding and restores the original point order. Measured in
benchmarks/bench_hand_cloud.py against the per-point gather it replaces.
"""

from __future__ import annotations

import numpy as np
import torch

CHUNK = 32  # points per chunk: small enough to waste little padding, large enough for an efficient bmm


class LinkAttachedPoints:
    """Fixed points (M, 3) in their links' frames; `move(poses)` -> (B, M, 3) in the poses' frame."""

    def __init__(self, points: np.ndarray, link_index: np.ndarray, dtype: torch.dtype, device: torch.device,
                 w: float = 1.0):
        """w = 1 for points, 0 for directions (normals), which rotate but do not translate."""
        points = np.asarray(points, dtype=np.float64)
        link_index = np.asarray(link_index, dtype=np.int64)
        chunks, chunk_link, position = [], [], np.empty(len(points), dtype=np.int64)
        for link in np.unique(link_index):
            members = np.flatnonzero(link_index == link)
            for start in range(0, len(members), CHUNK):
                part = members[start:start + CHUNK]
                block = np.zeros((CHUNK, 4))
                block[:len(part), :3], block[:len(part), 3] = points[part], w
                position[part] = len(chunks) * CHUNK + np.arange(len(part))
                chunks.append(block)
                chunk_link.append(link)
        self.num_points = len(points)
        self.link_index = torch.tensor(link_index, device=device)  # (M,)
        self.local = torch.tensor(points, dtype=dtype, device=device)  # (M, 3) link frames
        self._chunks = torch.as_tensor(np.stack(chunks), dtype=dtype, device=device)  # (K, CHUNK, 4)
        self._chunk_link = torch.as_tensor(chunk_link, device=device)  # (K,)
        self._position = torch.as_tensor(position, device=device)  # (M,) column of each point in the chunk layout

    def to(self, device: torch.device) -> "LinkAttachedPoints":
        moved = object.__new__(LinkAttachedPoints)
        for key, value in vars(self).items():
            setattr(moved, key, value.to(device) if isinstance(value, torch.Tensor) else value)
        return moved

    def move(self, poses: torch.Tensor) -> torch.Tensor:
        """poses (B, L, 4, 4) link poses -> (B, M, 3) the points in the poses' frame."""
        batch, num_chunks = poses.shape[0], len(self._chunk_link)
        transforms = poses[:, self._chunk_link, :3, :]  # (B, K, 3, 4): one gather per chunk, not per point
        transforms = transforms.permute(1, 3, 0, 2).reshape(num_chunks, 4, batch * 3)  # (K, 4, B*3)
        moved = torch.bmm(self._chunks, transforms)  # (K, CHUNK, B*3)
        # Rows are points in chunk order: dropping the padding is a row gather of contiguous (B*3) rows.
        moved = moved.view(num_chunks * CHUNK, batch, 3).index_select(0, self._position)  # (M, B, 3)
        return moved.transpose(0, 1).contiguous()  # (B, M, 3)
