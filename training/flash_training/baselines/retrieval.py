"""Nearest-neighbour retrieval from the training set: the baseline that only remembers what it was shown.

For a goal (prompt, object cloud):
1. find the training object whose cloud is nearest to the goal's by Chamfer distance, every cloud centred on its
   own centroid and thinned to `points` by farthest point sampling; each training object is represented by its
   full cloud and by each stored single-view cloud, so a partial goal cloud meets partial clouds too;
2. rank that object's grasps of the hand by how well their stored text matches the prompt: the best Jaccard
   overlap of word sets over every wording at every level (ties keep the data set's order);
3. return the best `count` of them (cycled when the object has fewer), moved from the matched cloud's centroid to
   the goal cloud's. No rotation is searched: the data set's objects share one upright frame, as goals do.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from flash_core.geometry.chamfer import chamfer_distance
from flash_core.geometry.sampling import farthest_point_sample
from flash_training.grasp_methods import Goal

CHAMFER_CHUNK = 64  # library clouds compared per call (bounds the memory of the neighbour search)


def words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def prompt_match(prompt: str, wordings: dict[str, list[str]]) -> float:
    """Best Jaccard overlap between the prompt's words and those of any stored wording (0 to 1)."""
    asked = words(prompt)
    scores = [len(asked & words(w)) / max(1, len(asked | words(w))) for ws in wordings.values() for w in ws]
    return max(scores, default=0.0)


def thinned_centred(clouds: np.ndarray, points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """clouds (C, N, 3) -> (C, points, 3) farthest-point thinned and centred on each cloud's centroid, and the
    centroids (C, 3) (of all N points)."""
    clouds = torch.as_tensor(np.asarray(clouds, np.float32))
    centroids = clouds.mean(1)
    index = farthest_point_sample(clouds, min(points, clouds.shape[1]))  # (C, points)
    return torch.gather(clouds, 1, index[..., None].expand(-1, -1, 3)) - centroids[:, None], centroids


class RetrievalBaseline:
    """Built once from a data set's split (default: train) for one hand; `grasps(goal, count, seed)`."""

    name = "nearest-neighbour retrieval"

    def __init__(self, root: str | Path, hand: str, split: str = "train", points: int = 256):
        from flash_training.data.storage import DatasetReader

        reader = DatasetReader(root)
        if hand not in reader.hands:
            raise ValueError(f"hand {hand!r} is not in {root} (it has {reader.hands})")
        chosen = np.flatnonzero((reader.grasp_split() == split) & (reader.grasp_hand == reader.hands.index(hand)))
        if not len(chosen):
            raise ValueError(f"{root}: split {split!r} holds no {hand} grasps to retrieve from")
        self.reader = reader
        self.hand_name = hand
        objects = reader.grasp_object[chosen]
        self.grasps_of = {int(o): chosen[objects == o] for o in np.unique(objects)}  # object -> its grasp indices
        entries, clouds, centroids = [], [], []
        for obj in self.grasps_of:
            arrays = reader.object_arrays(obj)
            views = [arrays["points"]] + list(arrays["view_points"] if "view_points" in arrays else [])
            cloud, centroid = thinned_centred(np.stack([np.asarray(v) for v in views]), points)
            entries += [obj] * len(views)
            clouds.append(cloud)
            centroids.append(centroid)
        self.entry_object = np.array(entries)  # (E,) object index of each library cloud
        self.clouds = torch.cat(clouds)  # (E, points, 3)
        self.centroids = torch.cat(centroids)  # (E, 3)
        self.points = points

    def nearest(self, cloud: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
        """Library entries sorted by Chamfer distance to `cloud` (N, 3), and the cloud's centroid (3,)."""
        query, centroid = thinned_centred(np.asarray(cloud)[None], self.points)
        distance = torch.cat([
            chamfer_distance(query.expand(len(chunk), -1, -1), chunk).distance
            for chunk in self.clouds.split(CHAMFER_CHUNK)])
        return torch.argsort(distance).numpy(), centroid[0]

    def grasps(self, goal: Goal, count: int, seed: int) -> np.ndarray:
        order, centroid = self.nearest(goal.points)
        entry = int(order[0])  # every library object has grasps of the hand
        indices = self.grasps_of[int(self.entry_object[entry])]
        scores = [prompt_match(goal.prompt, self.reader.paraphrases(int(i))) for i in indices]
        ranked = [indices[i] for i in sorted(range(len(indices)), key=lambda i: -scores[i])]
        x = np.stack([self.reader.grasp_x(int(ranked[k % len(ranked)])) for k in range(count)]).astype(np.float64)
        x[:, :3] += (centroid - self.centroids[entry]).numpy()
        return x
