"""From FLASH-Drive items to the network's batches: data order, sharding over processes, distinct clouds.

Order. A global batch of B rows holds G objects (`objects_per_batch`), B / G grasps of each: every epoch, each
object's grasps are shuffled and cut into chunks of r = B / G (an object's last incomplete chunk waits for a
later epoch's shuffle), the chunks of all objects are shuffled together, and each run of G chunks is a batch.
All of it is drawn from (seed, epoch), and step s is batch s mod batches_per_epoch of epoch s //
batches_per_epoch: the position in the data is a function of the step, so a resumed run goes on exactly where the
interrupted one was. G = None means r = 1: a plain shuffle of the grasps.

Clouds. The r rows of a chunk share one cloud, the chunk's first row's (its object's full cloud or one of its
stored partial views, as the data set drew it): the augmentation is the same per row, and a batch holds only about
G distinct clouds. The collate function keeps each distinct cloud once with every row's index into them
(`torch.unique` on (object, view)), so the object encoder runs once per distinct cloud. `CloudCache` makes each
distinct cloud model-ready once per run: thinned to the model's N points and centred on its centroid exactly as
`GraspGenerator` prepares a cloud at inference, sampled/grouped by the object encoder's PointNet++ and, for a model
with `hand_object_distance`, given its estimated normals (pure geometry, reused at every step). Grasps move into
the same centred frame (x[:3] -= centroid).

Sharding. Process p of W loads rows [p B/W, (p + 1) B/W) of each global batch, whole chunks (G must be a multiple
of W); x_0 and t of a step are drawn for the whole global batch from (seed, step) and sliced the same way. Every
row's loss term is then the same whatever W is, and DDP's average of the W equal-sized shards' mean-loss
gradients is the gradient of the global batch's mean loss: one process and several follow the same curve (up to
float summation order).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.objective import FlowBatch
from flash_core.generator import model_cloud_index
from flash_core.geometry.cloud_sdf import estimate_normals
from flash_core.geometry.rotations import rotate_hand_states, yaw_matrix
from flash_core.geometry.sdf_grid import SDFGrid
from flash_core.model.pointnet2 import LevelGrouping, PointNet2, PointNetGrouping, concat_groupings
from flash_training.train.distributed import ProcessGroup

# Independent random streams derived from the run's seed.
ORDER_STREAM, STEP_STREAM, VALIDATION_STREAM, TURN_STREAM = 0, 1, 2, 3


def stream_generator(seed: int, stream: int, counter: int) -> torch.Generator:
    """A torch generator for (seed, stream, counter), e.g. (seed, STEP_STREAM, step): reproducible anywhere."""
    state = np.random.SeedSequence([seed, stream, counter]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class DataOrder:
    """Which data-set items each step trains on (see the module docstring)."""

    def __init__(self, item_objects: np.ndarray, batch_size: int, seed: int, objects_per_batch: int | None = None):
        """item_objects (I,): the object of every item of the training split."""
        groups = objects_per_batch or batch_size
        if batch_size % groups:
            raise ValueError(f"data.batch_size {batch_size} must be a multiple of data.objects_per_batch {groups}")
        self.batch_size, self.seed = batch_size, seed
        self.rows_per_chunk = batch_size // groups
        self.chunks_per_batch = groups
        self._items_by_object = [np.flatnonzero(item_objects == o) for o in np.unique(item_objects)]
        chunks = sum(len(items) // self.rows_per_chunk for items in self._items_by_object)
        self.batches_per_epoch = chunks // groups
        if self.batches_per_epoch == 0:
            raise ValueError(f"the training split holds {len(item_objects)} grasps of {len(self._items_by_object)} "
                             f"objects, fewer than one batch of {batch_size} ({groups} objects x "
                             f"{self.rows_per_chunk}); lower data.batch_size or build a larger data set")
        self._epoch: tuple[int, np.ndarray] | None = None

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch within the epoch) of a step."""
        return divmod(step, self.batches_per_epoch)

    def global_batch(self, step: int) -> np.ndarray:
        """(B,) data-set item indices of step `step`, chunk after chunk."""
        epoch, batch = self.position(step)
        return self._batches(epoch)[batch]

    def _batches(self, epoch: int) -> np.ndarray:
        """(batches_per_epoch, B) items of every batch of an epoch."""
        if self._epoch is None or self._epoch[0] != epoch:
            generator = stream_generator(self.seed, ORDER_STREAM, epoch)
            r, chunks = self.rows_per_chunk, []
            for items in self._items_by_object:
                shuffled = items[torch.randperm(len(items), generator=generator).numpy()]
                chunks += [shuffled[i : i + r] for i in range(0, len(items) - r + 1, r)]
            order = torch.randperm(len(chunks), generator=generator).numpy()
            used = order[: self.batches_per_epoch * self.chunks_per_batch]
            self._epoch = epoch, np.stack([chunks[c] for c in used]).reshape(self.batches_per_epoch, -1)
        return self._epoch[1]

    def rank_rows(self, group: ProcessGroup) -> slice:
        """This process's rows of a global batch: equal shares of whole chunks."""
        if self.chunks_per_batch % group.world_size:
            raise ValueError(f"a batch of {self.chunks_per_batch} chunks (data.objects_per_batch, or data.batch_size "
                             f"without it) does not split evenly over {group.world_size} processes")
        share = self.batch_size // group.world_size
        return slice(group.rank * share, (group.rank + 1) * share)


def epoch_batches(order: DataOrder, start: int, end: int, rows: slice) -> Iterator[tuple[int, list[list[int]]]]:
    """(epoch, this process's item lists of steps start..end-1 in that epoch), epoch by epoch."""
    step = start
    while step < end:
        epoch, batch = order.position(step)
        last = min(end, (epoch + 1) * order.batches_per_epoch)
        yield epoch, [order.global_batch(s)[rows].tolist() for s in range(step, last)]
        step = last


def step_noise(sampler: InitialStateSampler, seed: int, stream: int, counter: int, batch_size: int,
               rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """x_0 (b, D) and t (b,) of this process's rows, drawn for the whole global batch of `counter`."""
    generator = stream_generator(seed, stream, counter)
    initial = sampler.sample(batch_size, generator=generator)
    times = torch.rand(batch_size, generator=generator)
    return initial[rows], times[rows]


def cloud_turns(seed: int, step: int, keys: torch.Tensor) -> torch.Tensor:
    """(U,) angles (rad) about the up axis for the distinct clouds keys (U, 2) [object, view] of step `step`: a
    function of (seed, step, object, view) alone, so every process of a distributed run and a resumed run draw the
    same."""
    angles = [np.random.default_rng([seed, TURN_STREAM, step, obj, view + 1]).uniform(0.0, 2.0 * np.pi)
              for obj, view in keys.tolist()]
    return torch.tensor(angles, dtype=torch.float64)


# ----------------------------------------------------------------------------------------------------------------
# items -> one batch with distinct clouds


@dataclass
class ItemBatch:
    """Rows of data-set items, each distinct cloud once (what the data loader yields)."""

    prompts: list[str]  # B
    grasps: torch.Tensor  # (B, 25) in the object's stored frame
    cloud_index: torch.Tensor  # (B,) int64 index into the distinct clouds
    cloud_keys: torch.Tensor  # (U, 2) int64 [data-set object index, view (-1: the full cloud)]
    clouds: torch.Tensor  # (U, N, 3) as stored
    features: torch.Tensor | None  # (U, N, F) per-point semantic features, when the data set has them


def collate_items(items: list[dict[str, Any]], rows_per_chunk: int = 1) -> ItemBatch:
    """Rows -> ItemBatch; each chunk of `rows_per_chunk` consecutive rows (one object) takes its first row's cloud."""
    keys = torch.tensor([[item["object_index"], item["view"]] for item in items], dtype=torch.int64)
    keys = keys[torch.arange(len(items)) // rows_per_chunk * rows_per_chunk]  # (B, 2) the chunk's first row
    unique, inverse = torch.unique(keys, dim=0, return_inverse=True)  # (U, 2), (B,)
    rows = torch.arange(len(items))
    first = torch.full((len(unique),), len(items)).scatter_reduce(0, inverse, rows, "amin")  # a row per cloud
    firsts = [items[i] for i in first.tolist()]
    features = torch.stack([it["semantic"] for it in firsts]) if "semantic" in items[0] else None
    return ItemBatch(prompts=[item["prompt"] for item in items], grasps=torch.stack([item["x"] for item in items]),
                     cloud_index=inverse, cloud_keys=unique,
                     clouds=torch.stack([it["object_points"] for it in firsts]), features=features)


@dataclass
class _PreparedCloud:
    index: torch.Tensor  # (n,) int64: the model's points of the stored cloud
    centre: torch.Tensor  # (3,) centroid of the stored cloud
    grouping: PointNetGrouping  # of the centred model points, batch of one (indices stored as int32)
    normals: torch.Tensor | None  # (n, 3) `estimate_normals` of the centred model points, when asked for
    fingerprint: torch.Tensor  # a few stored coordinates: a key whose cloud changed is an error, not a stale hit


class CloudCache:
    """Model-ready object clouds, once per distinct (object, view) key: see the module docstring."""

    def __init__(self, pointnet: PointNet2, num_points: int, max_entries: int, device: torch.device,
                 normals: bool = False):
        self.pointnet = pointnet
        self.num_points = num_points
        self.normals = normals
        self.max_entries = max_entries
        self.device = device
        self._entries: OrderedDict[tuple[int, int], _PreparedCloud] = OrderedDict()
        self.hits = self.misses = 0

    def prepare(self, keys: torch.Tensor, clouds: torch.Tensor):
        """keys (U, 2), clouds (U, P, 3) -> model points (U, n, 3), index (U, n), centres (U, 3), grouping,
        normals (U, n, 3) or None."""
        clouds = clouds.to(self.device)
        names = [tuple(k) for k in keys.tolist()]
        missing = [u for u, name in enumerate(names) if name not in self._entries]
        self.misses += len(missing)
        self.hits += len(names) - len(missing)
        if missing:
            self._add([names[u] for u in missing], clouds[missing])
        entries = []
        for u, name in enumerate(names):
            entry = self._entries[name]
            self._entries.move_to_end(name)
            if not torch.equal(entry.fingerprint, clouds[u, :4]):
                raise ValueError(f"cloud {name} (object, view) changed between steps; the cloud cache assumes "
                                 "stored clouds are fixed")
            entries.append(entry)
        index = torch.stack([e.index for e in entries])  # (U, n)
        centres = torch.stack([e.centre for e in entries])  # (U, 3)
        points = torch.gather(clouds, 1, index[..., None].expand(-1, -1, 3)) - centres[:, None]
        grouping = concat_groupings([e.grouping for e in entries])
        grouping = tuple(LevelGrouping(g.centroid_index.long(), g.neighbor_index.long()) for g in grouping)
        normals = torch.stack([e.normals for e in entries]) if self.normals else None
        return points, index, centres, grouping, normals

    def _add(self, names: list[tuple[int, int]], clouds: torch.Tensor) -> None:
        index = torch.stack([model_cloud_index(cloud, self.num_points) for cloud in clouds])  # (M, n)
        centres = clouds.mean(1)  # (M, 3)
        points = torch.gather(clouds, 1, index[..., None].expand(-1, -1, 3)) - centres[:, None]
        grouping = self.pointnet.group(points)
        for m, name in enumerate(names):
            own = tuple(LevelGrouping(g.centroid_index[m : m + 1].int(), g.neighbor_index[m : m + 1].int())
                        for g in grouping)
            normals = estimate_normals(points[m]) if self.normals else None
            self._entries[name] = _PreparedCloud(index[m], centres[m], own, normals, clouds[m, :4].clone())
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def flow_batch(items: ItemBatch, cache: CloudCache, initial: torch.Tensor, times: torch.Tensor,
               use_semantics: bool, sdfs: dict[int, SDFGrid] | None = None,
               turns_rad: torch.Tensor | None = None) -> FlowBatch:
    """The network's batch: distinct clouds prepared by the cache, grasps moved into each cloud's centred frame.

    sdfs: the data set's SDF grid of every object of the batch (data-set object index -> grid), when the
    objective has a penetration term; each row gets its object's grid shifted into the centred frame.
    turns_rad (U,): each distinct cloud, with its rows' grasps, turned about the up axis through its centroid
    (`cloud_turns`). The cached PointNet++ grouping stays valid: it depends on distances alone.
    """
    device = cache.device
    points, index, centres, grouping, normals = cache.prepare(items.cloud_keys, items.clouds)
    cloud_index = items.cloud_index.to(device)
    grasps = items.grasps.to(device).clone()
    grasps[:, :3] -= centres[cloud_index]
    if turns_rad is not None:
        if sdfs is not None:
            raise ValueError("data.turn_objects does not turn the objects' SDF grids: use it without a penetration "
                             "term")
        turn = yaw_matrix(turns_rad.to(device)).to(points.dtype)  # (U, 3, 3)
        points = points @ turn.transpose(1, 2)
        normals = None if normals is None else normals @ turn.transpose(1, 2)
        grasps = rotate_hand_states(grasps, turn[cloud_index].to(grasps.dtype))
    features = None
    if use_semantics:
        if items.features is None:
            raise ValueError("the model uses semantic features, but the data set stores none")
        features = torch.gather(items.features.to(device), 1, index[..., None].expand(-1, -1, items.features.shape[-1]))
    object_sdfs = None
    if sdfs is not None:
        objects = items.cloud_keys[:, 0].tolist()
        shifted = [SDFGrid(sdfs[o].values.to(device), sdfs[o].bounds_m.to(device) - centres[u])
                   for u, o in enumerate(objects)]
        object_sdfs = [shifted[u] for u in items.cloud_index.tolist()]
    return FlowBatch(prompts=items.prompts, object_points=points, grasps=grasps, object_features=features,
                     initial=initial.to(device), times=times.to(device), object_sdfs=object_sdfs,
                     object_index=cloud_index, object_grouping=grouping, object_normals=normals)
