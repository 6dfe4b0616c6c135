"""A hand's official collision geometry: hand-object penetration to a stated tolerance, and exact self-collision.

The geometry is what the hand's MJCF collides with (geoms with a nonzero contype or conaffinity), as MuJoCo
collides it: boxes as they are, meshes as their convex hulls, cylinders as polytopes; capsules and spheres
exactly (a segment and a radius). Every piece is convex; its surface is triangles (round pieces: an inscribed
tessellation with `PRIMITIVE_SEGMENTS` segments per circle, at most 0.064 mm inside the Allegro's 12 mm tip
capsules), and the distance of a point inside it to its boundary is exact (a polytope: its nearest face plane; a
capsule: radius minus the distance to its segment).

- `penetration(x, object_sdf)`: the deeper of (a) the deepest point of the hand's collision surface inside the
  object (the object's exact `MeshSDF`) and (b) the deepest point of the object's surface inside any one collision
  piece (a blade edge pressed into a box face sinks into the box, while the box face sinks into the thin blade
  hardly at all). Each by branch and bound (`geometry.deepest_point`) to `tolerance_m`: sampling the surfaces
  more densely cannot raise the figure by more than that.
- `self_penetration(x)`: MuJoCo's own collision detection (`mj_collision`) between the collision geoms of the
  posed hand, with MuJoCo's filtering (parent and child, the MJCF's <exclude> pairs): the deepest contact. This
  is what a MuJoCo simulation of the grasp would see.
- For the grasp optimiser, differentiable in x and cheap enough for every step: `surface_points(x)` (samples of the
  outer collision surface plus every polytope corner), `object_penetration(x, sdf, points)` (object surface points
  inside the pieces) and `self_penetration_sum(x)` (surface points inside the pieces of links that may touch).

`hand_collision(hand)` builds it (once per hand model; the MJCF is compiled once per hand kind).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from flash_core.geometry.deepest_point import cell_radius, deepest_point, mesh_sdf_depth
from flash_core.geometry.sdf import MeshSDF
from flash_core.hands import mjcf, surface
from flash_core.hands.attached import LinkAttachedPoints
from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose import split_pose

PRIMITIVE_SEGMENTS = 32
DEFAULT_TOLERANCE_M = 1e-4
# Points of one piece deeper than this inside another piece of the same link are not on the hand's outer surface.
_INNER_MARGIN_M = 2e-4
_FEW_PLANES = 8  # pieces with at most this many face planes (boxes) are evaluated apart from convex hulls
# (cell, piece) pairs evaluated at once: bounds the memory (pairs x face planes x 3).
_PAIR_CHUNK = 32_768
# (piece, point) pairs tested against the pieces' boxes at once.
_POINT_CHUNK = 1 << 20


@dataclass(frozen=True)
class CollisionPieces:
    """The convex collision pieces of a hand in their links' frames (numpy, float64). S pieces, T triangles.

    A piece is a polytope (face planes) or round (a capsule: segment and radius; a sphere: a zero-length segment).
    """

    link_index: np.ndarray  # (S,) index into the hand's link_names
    names: tuple[str, ...]  # (S,) geom names (or "<body>#<k>" for unnamed geoms)
    centre_m: np.ndarray  # (S, 3) centre of a ball holding the piece
    radius_m: np.ndarray  # (S,) that ball's radius
    plane_normal: np.ndarray  # (S, K, 3) outward unit face normals of polytopes, zero-padded (round: all zero)
    plane_offset: np.ndarray  # (S, K) n . v of the faces, padded with +inf (a plane that never binds)
    round: np.ndarray  # (S,) bool: capsule or sphere
    segment_m: np.ndarray  # (S, 2, 3) end points of a round piece's segment (polytopes: zeros)
    round_radius_m: np.ndarray  # (S,) a round piece's radius (polytopes: 0)
    triangles: np.ndarray  # (T, 3, 3) the surface
    triangle_piece: np.ndarray  # (T,) piece of each triangle


def collision_pieces(model, link_names: list[str], segments: int = PRIMITIVE_SEGMENTS) -> CollisionPieces:
    """The collision geoms of the compiled MJCF `model` on the links `link_names`, as convex pieces."""
    import trimesh

    mujoco = mjcf.require_mujoco()
    mesh_type = int(mujoco.mjtGeom.mjGEOM_MESH)
    round_types = (int(mujoco.mjtGeom.mjGEOM_CAPSULE), int(mujoco.mjtGeom.mjGEOM_SPHERE))
    hulls, links, names, segment, round_radius = [], [], [], [], []
    for link, name in enumerate(link_names):
        body = model.body(name).id
        for k, g in enumerate(np.flatnonzero(model.geom_bodyid == body)):
            if not (model.geom_contype[g] or model.geom_conaffinity[g]):
                continue  # visual only
            geom_type, size = int(model.geom_type[g]), model.geom_size[g]
            if geom_type == mesh_type:
                mesh_id = model.geom_dataid[g]
                start, count = model.mesh_vertadr[mesh_id], model.mesh_vertnum[mesh_id]
                local = model.mesh_vert[start:start + count].astype(np.float64)
            else:
                local = np.asarray(mjcf.primitive_mesh(geom_type, size, segments).vertices)
            rotation = np.empty(9)
            mujoco.mju_quat2Mat(rotation, model.geom_quat[g])
            rotation = rotation.reshape(3, 3)
            hulls.append(trimesh.convex.convex_hull(local @ rotation.T + model.geom_pos[g]))
            links.append(link)
            names.append(model.geom(g).name or f"{name}#{k}")
            is_round = geom_type in round_types
            half = size[1] if geom_type == round_types[0] else 0.0  # a capsule's half-length along its z
            axis = rotation[:, 2] * half
            segment.append(np.stack([model.geom_pos[g] - axis, model.geom_pos[g] + axis]) if is_round
                           else np.zeros((2, 3)))
            round_radius.append(float(size[0]) if is_round else 0.0)
    if not hulls:
        raise ValueError("the hand model has no collision geoms (contype or conaffinity > 0)")
    is_round = np.array(round_radius) > 0
    # One plane per facet (a box's 12 triangles lie in 6 planes), padded to the most any piece has.
    facets = [np.unique(np.concatenate([h.face_normals, (h.face_normals * h.triangles[:, 0]).sum(1, keepdims=True)],
                                       axis=1).round(9), axis=0) if not r else np.zeros((0, 4))
              for h, r in zip(hulls, is_round, strict=True)]
    planes = max(1, max(len(f) for f in facets))
    normal = np.zeros((len(hulls), planes, 3))
    offset = np.full((len(hulls), planes), np.inf)
    for s, facet in enumerate(facets):
        normal[s, : len(facet)] = facet[:, :3]
        offset[s, : len(facet)] = facet[:, 3]
    centre = np.stack([h.bounds.mean(0) for h in hulls])
    radius = np.array([np.linalg.norm(h.vertices - c, axis=1).max() for h, c in zip(hulls, centre, strict=True)])
    # A round piece's ball must hold the true surface, not only the inscribed tessellation.
    radius = np.maximum(radius, [np.linalg.norm(seg - c, axis=1).max() + r
                                 for seg, c, r in zip(segment, centre, round_radius, strict=True)])
    triangles = np.concatenate([h.triangles for h in hulls])
    triangle_piece = np.concatenate([np.full(len(h.faces), s) for s, h in enumerate(hulls)])
    return CollisionPieces(np.asarray(links), tuple(names), centre, radius, normal, offset, is_round,
                           np.stack(segment), np.asarray(round_radius), triangles, triangle_piece)


def collision_hulls(model, link_names: list[str]) -> dict[str, object]:
    """Per link with collision geoms, the convex hull (trimesh, link frame) of its collision pieces."""
    import trimesh

    pieces = collision_pieces(model, link_names)
    return {link_names[link]: trimesh.convex.convex_hull(
        pieces.triangles[np.isin(pieces.triangle_piece, np.flatnonzero(pieces.link_index == link))].reshape(-1, 3))
        for link in np.unique(pieces.link_index)}


def links_that_may_touch(model, link_names: list[str]) -> np.ndarray:
    """(L, L) bool: link pairs MuJoCo checks for collision. As in mj_collision, bodies welded together (no joint
    between them) count as one, and such a group never collides with itself or its parent group; pairs in the
    MJCF's <exclude> list never collide either."""
    excluded = mjcf.excluded_body_pairs(model)
    weld = [int(model.body_weldid[model.body(name).id]) for name in link_names]
    parent_weld = [int(model.body_weldid[model.body_parentid[w]]) for w in weld]
    may = np.zeros((len(weld), len(weld)), bool)
    for i in range(len(weld)):
        for j in range(len(weld)):
            family = weld[i] == weld[j] or parent_weld[i] == weld[j] or parent_weld[j] == weld[i]
            may[i, j] = not family and frozenset((link_names[i], link_names[j])) not in excluded
    return may


def piece_depth(pieces: CollisionPieces, s: int, points: np.ndarray) -> np.ndarray:
    """(N,) depth of points (N, 3), in piece s's link frame, inside piece s (negative outside; numpy)."""
    if pieces.round[s]:
        a, b = pieces.segment_m[s]
        along = np.clip((points - a) @ (b - a) / max(float((b - a) @ (b - a)), 1e-30), 0, 1)
        return pieces.round_radius_m[s] - np.linalg.norm(points - a - along[:, None] * (b - a), axis=1)
    return (pieces.plane_offset[s] - points @ pieces.plane_normal[s].T).min(-1)


def outer_surface_points(pieces: CollisionPieces, count: int, seed: int = 0) -> surface.LinkPoints:
    """About `count` points on the hand's outer collision surface in their links' frames, plus every polytope
    corner on it (where a convex piece pressed onto a surface sinks deepest). Points inside another piece of the
    same link are left out; the rest are shared among the links by outer area and spread by FPS within each."""
    import trimesh

    per_link: dict[int, list[np.ndarray]] = {}  # link -> area samples of its pieces
    corners = []
    for s in range(len(pieces.names)):
        link = int(pieces.link_index[s])
        mesh = trimesh.Trimesh(*trimesh.util.append_faces(  # the piece's triangles as a mesh
            [pieces.triangles[pieces.triangle_piece == s].reshape(-1, 3)],
            [np.arange(3 * int((pieces.triangle_piece == s).sum())).reshape(-1, 3)]))
        dense, _ = trimesh.sample.sample_surface(mesh, 64 * max(1, count // len(pieces.names)), seed=seed + s)
        others = [o for o in range(len(pieces.names)) if o != s and pieces.link_index[o] == link]

        def outer(points: np.ndarray, others=others) -> np.ndarray:
            return np.all([piece_depth(pieces, o, points) < _INNER_MARGIN_M for o in others], axis=0) \
                if others else np.ones(len(points), bool)

        per_link.setdefault(link, []).append(dense[outer(dense)])
        if not pieces.round[s]:
            vertices = np.unique(mesh.vertices.round(12), axis=0)
            corners.append((vertices[outer(vertices)], link))
    links = sorted(per_link)
    pools = {link: np.concatenate(per_link[link]) for link in links}
    counts = surface._allocate(np.array([len(pools[link]) for link in links], float), count)
    points, index = [], []
    for link, k in zip(links, counts, strict=True):
        points.append(pools[link][surface._fps(pools[link], min(int(k), len(pools[link])))])
        index.append(np.full(len(points[-1]), link))
    for vertices, link in corners:
        points.append(vertices)
        index.append(np.full(len(vertices), link))
    return surface.LinkPoints(np.concatenate(points), np.concatenate(index))


@dataclass(frozen=True)
class HandPenetration:
    """Penetration of B posed hands into one object (metres, >= 0), each at most `tolerance_m` below the truth
    (round pieces: plus their tessellation's inset, 0.064 mm); above `stop_above_m`, only a lower bound."""

    hand_in_object_m: torch.Tensor  # (B,) deepest point of the hand's collision surface inside the object
    object_in_hand_m: torch.Tensor  # (B,) deepest point of the object's surface inside a collision piece
    max_m: torch.Tensor  # (B,) the deeper of the two
    evaluations: int  # distance queries made (benchmarks)


class HandCollision:
    """Collision geometry of one `HandModel` (same dtype and device). Build with `hand_collision(hand)`."""

    def __init__(self, hand: HandModel, pieces: CollisionPieces, model, points: surface.LinkPoints):
        self.hand = hand
        self.pieces = pieces
        self._points = LinkAttachedPoints(points.points, points.link_index, hand.dtype, hand.device)
        kw = {"dtype": hand.dtype, "device": hand.device}
        self._link = torch.as_tensor(pieces.link_index, device=hand.device)
        self._centre = torch.as_tensor(pieces.centre_m, **kw)
        self._radius = torch.as_tensor(pieces.radius_m, **kw)
        self._normal = torch.as_tensor(pieces.plane_normal, **kw)
        self._offset = torch.as_tensor(pieces.plane_offset, **kw)
        self._plane_count = torch.as_tensor(np.isfinite(pieces.plane_offset).sum(1), device=hand.device)  # (S,)
        self._round = torch.as_tensor(pieces.round, device=hand.device)
        self._segment = torch.as_tensor(pieces.segment_m, **kw)
        self._round_radius = torch.as_tensor(pieces.round_radius_m, **kw)
        self._triangles = torch.as_tensor(pieces.triangles, **kw)  # (T, 3, 3) link frames
        self._triangle_piece = torch.as_tensor(pieces.triangle_piece, device=hand.device)
        self._model = model
        self._may_touch = torch.as_tensor(links_that_may_touch(model, hand.link_names), device=hand.device)  # (L, L)
        # Per piece its bounding box in its link frame (S, 2, 3); per link a ball holding all its pieces and the
        # indices of its points and pieces, padded with -1 (they index the last entry, masked out by the caller).
        box = np.stack([np.stack([t.reshape(-1, 3).min(0), t.reshape(-1, 3).max(0)])
                        for t in (pieces.triangles[pieces.triangle_piece == k] for k in range(len(pieces.names)))])
        self._box = torch.as_tensor(box, **kw)
        num_links = len(hand.link_names)
        link_centre, link_radius = np.zeros((num_links, 3)), np.full(num_links, -1.0)  # links without pieces: -1
        for link in np.unique(pieces.link_index):
            corners = box[pieces.link_index == link].reshape(-1, 3)
            link_centre[link] = (corners.min(0) + corners.max(0)) / 2
            link_radius[link] = np.linalg.norm(corners - link_centre[link], axis=1).max()
        self._link_centre, self._link_radius = torch.as_tensor(link_centre, **kw), torch.as_tensor(link_radius, **kw)
        link_box = np.zeros((num_links, 2, 3))  # links without pieces: an empty box
        for link in np.unique(pieces.link_index):
            link_box[link] = [box[pieces.link_index == link, 0].min(0), box[pieces.link_index == link, 1].max(0)]
        self._link_box = torch.as_tensor(link_box, **kw)  # (L, 2, 3) around all pieces of a link, link frame
        corner = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], device=hand.device)
        self._link_corners = torch.where(corner.bool(), self._link_box[:, None, 1], self._link_box[:, None, 0])
        self._link_points = _padded_groups(points.link_index, num_links, hand.device)  # (L, Na)
        self._link_points_local = torch.as_tensor(points.points, **kw)[self._link_points]  # (L, Na, 3)
        self._link_pieces = _padded_groups(pieces.link_index, num_links, hand.device)  # (L, Sb)
        self._data = mjcf.require_mujoco().MjData(model)
        self._qpos_address = np.array([model.joint(j).qposadr[0] for j in hand.model_joint_names])

    # ------------------------------------------------------------------ posed geometry
    def _piece_poses(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 25) -> (B, S, 4, 4) world pose of each piece's link."""
        return self.hand.link_poses(x)[:, self._link]

    @staticmethod
    def _apply(poses: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """poses (..., 4, 4), points (..., 3) in the pose's frame -> (..., 3) world."""
        return (poses[..., :3, :3] @ points[..., None]).squeeze(-1) + poses[..., :3, 3]

    def piece_balls(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 25) -> world centres (B, S, 3) and radii (S,) of balls holding each collision piece."""
        return self._apply(self._piece_poses(x), self._centre), self._radius

    def surface_points(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 25) -> (B, N, 3) points on the outer collision surface (`outer_surface_points`), differentiable:
        the optimiser's penetration samples, so it keeps what the simulator collides with out of the object."""
        return self._points.move(self.hand.link_poses(x))

    def surface_triangles(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 25) -> (B, T, 3, 3) the collision surface in the world frame (`pieces.triangle_piece` (T,))."""
        poses = self._piece_poses(x)[:, self._triangle_piece]  # (B, T, 4, 4)
        return self._apply(poses[:, :, None], self._triangles)

    def _plane_groups(self, piece: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
        """Rows of `piece` (Q,) in two groups, each with the plane count that covers its pieces: pieces with few
        planes (boxes: 6) are not padded to the many of a convex hull (a LEAP fingertip: ~100)."""
        count = self._plane_count[piece]
        few = count <= _FEW_PLANES
        return [(torch.nonzero(group).squeeze(1), planes) for group, planes in
                ((few, _FEW_PLANES), (~few, self._normal.shape[1])) if group.any()]

    def _depth_in_pieces(self, piece: torch.Tensor, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth (Q,) of points local (Q, 3), each in its piece's link frame, inside piece `piece` (Q,) (negative
        outside; exact inside) and, for polytopes, the face plane that binds (Q,). Differentiable in `local`."""
        depth = torch.full_like(local[:, 0], torch.inf)  # round pieces: +inf here (they have no planes)
        binding = torch.zeros_like(piece)
        for rows, planes in self._plane_groups(piece):
            normal, offset = self._normal[piece[rows], :planes], self._offset[piece[rows], :planes]
            depth[rows], binding[rows] = (offset - (normal @ local[rows, :, None]).squeeze(-1)).min(-1)
        is_round = self._round[piece]
        if is_round.any():
            a, b = self._segment[piece[is_round]].unbind(1)
            along = ((local[is_round] - a) * (b - a)).sum(-1) / (b - a).square().sum(-1).clamp_min(1e-30)
            foot = a + along.clamp(0, 1)[:, None] * (b - a)
            round_depth = self._round_radius[piece[is_round]] - (local[is_round] - foot).norm(dim=-1)
            depth = depth.masked_scatter(is_round, round_depth)
        return depth, binding

    def _hand_depth(self, poses: torch.Tensor, candidates: torch.Tensor, cells: torch.Tensor, batch: torch.Tensor,
                    floor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth (P,) of cell centroids (cells (P, 3, 3) of hand `batch` (P,)) inside the deepest of their hand's
        candidate pieces (B, S) bool, and an upper bound over each cell (a DepthBound). A capsule's depth is
        1-Lipschitz; a polytope's is the least of its face planes' depths, so each plane's depth, an affine
        function, bounds it over the cell by its largest value at a corner, and the least of these bounds holds.
        Pieces whose bounding box the cell misses are skipped: they bound the depth by a negative number, below
        every floor."""
        depth = torch.full((len(cells),), -torch.inf, dtype=cells.dtype, device=cells.device)
        upper = depth.clone()
        radius = cell_radius(cells)
        centroid = cells.mean(1)
        for chunk in torch.arange(len(cells), device=cells.device).split(_PAIR_CHUNK // len(self._round)):
            cell, piece = torch.nonzero(candidates[batch[chunk]], as_tuple=True)
            cell = chunk[cell]
            pose = poses[batch[cell], piece]  # (Q, 4, 4)
            middle = ((centroid[cell] - pose[:, :3, 3])[:, None] @ pose[:, :3, :3]).squeeze(1)  # link frame
            box, margin = self._box[piece], radius[cell, None]
            near = ((middle > box[:, 0] - margin) & (middle < box[:, 1] + margin)).all(-1)
            cell, piece, pose = cell[near], piece[near], pose[near]
            local = (cells[cell] - pose[:, None, :3, 3]) @ pose[:, :3, :3]  # R^T (p - t) per corner: link frame
            piece_depth, _ = self._depth_in_pieces(piece, local.mean(1))
            piece_upper = torch.empty_like(piece_depth)
            for rows, planes in self._plane_groups(piece):  # every plane bounds the depth; the tightest wins
                normal, offset = self._normal[piece[rows], :planes], self._offset[piece[rows], :planes]
                piece_upper[rows] = (offset[:, :, None] - normal @ local[rows].transpose(1, 2)).amax(-1).amin(-1)
            is_round = self._round[piece]
            piece_upper[is_round] = piece_depth[is_round] + radius[cell[is_round]]
            depth.scatter_reduce_(0, cell, piece_depth, "amax")
            upper.scatter_reduce_(0, cell, piece_upper, "amax")
        return depth, upper

    def _summed_depth(self, poses: torch.Tensor, points: torch.Tensor, batch: torch.Tensor, piece: torch.Tensor,
                      num_batches: int, clearance_m: float) -> torch.Tensor:
        """(B,) sum over pairs of relu(depth + clearance) of world points (Q, 3) of hand `batch` (Q,) inside piece
        `piece` (Q,) of that hand, posed by poses (B, S, 4, 4); differentiable in poses and points. Pairs whose
        point lies outside the piece's bounding box (grown by the clearance) add nothing and are dropped first."""
        pose = poses[batch, piece]  # (Q, 4, 4)
        local = ((points - pose[:, :3, 3])[:, None] @ pose[:, :3, :3]).squeeze(1)  # R^T (p - t)
        with torch.no_grad():
            box = self._box[piece]  # (Q, 2, 3)
            keep = torch.nonzero(((local > box[:, 0] - clearance_m) & (local < box[:, 1] + clearance_m)).all(-1))
        keep = keep.squeeze(1)
        depth = torch.relu(self._depth_in_pieces(piece[keep], local[keep])[0] + clearance_m)
        return torch.zeros(num_batches, dtype=local.dtype, device=local.device).index_add(0, batch[keep], depth)

    @torch.no_grad()
    def depth_inside(self, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """x (B, 25), world points (B, N, 3) -> (B, N) depth of each point inside the deepest collision piece of
        its hand (negative outside: minus the distance to the nearest piece where the nearest face plane says so,
        otherwise a lower bound of it). Brute force over all pieces: for checks and benchmarks."""
        poses = self._piece_poses(x)  # (B, S, 4, 4)
        pieces = torch.arange(len(self._radius), device=points.device)
        depth = torch.empty(points.shape[:2], dtype=points.dtype, device=points.device)
        for i in range(len(x)):
            for chunk in torch.arange(points.shape[1], device=points.device).split(_PAIR_CHUNK // len(pieces)):
                offset = points[i, chunk, None] - poses[i, None, :, :3, 3]  # (Q, S, 3)
                local = torch.einsum("qsi,sij->qsj", offset, poses[i, :, :3, :3])  # R^T (p - t) per piece
                piece = pieces.expand(len(chunk), -1).reshape(-1)
                depth[i, chunk] = self._depth_in_pieces(piece, local.reshape(-1, 3))[0].reshape(len(chunk), -1).amax(-1)
        return depth

    def object_penetration(self, x: torch.Tensor, sdf, object_points: torch.Tensor, clearance_m: float = 0.0,
                           sdf_error_m: float = 0.0) -> torch.Tensor:
        """x (B, 25), object surface points (N, 3) -> (B,) summed depth (m) of the object points inside the hand's
        collision pieces (counted from `clearance_m` outside), differentiable in x: DexGraspNet's E_pen, which
        catches a thin rim or edge pushed into a piece between the hand's own surface samples. `sdf` (any signed
        distance of the object, e.g. its grid, wrong by at most `sdf_error_m`) picks the pieces near its surface."""
        link_poses = self.hand.link_poses(x)  # (B, L, 4, 4)
        poses = link_poses[:, self._link]  # (B, S, 4, 4)
        with torch.no_grad():
            centres = self._apply(poses, self._centre)  # (B, S, 3)
            near = sdf(centres).abs() < self._radius + clearance_m + sdf_error_m  # (B, S): pieces near the surface
            near_link = torch.zeros(link_poses.shape[:2], device=x.device).index_add(1, self._link, near.float()) > 0
            # The object points inside the box around each such link's pieces (in the link's frame; boxes, not
            # balls: a thin plate's ball holds most of a mug), then each of those in each of the link's pieces.
            link_b, link = torch.nonzero(near_link, as_tuple=True)
            rows, point = [], []
            for chunk in torch.arange(len(link_b), device=x.device).split(max(1, _POINT_CHUNK // len(object_points))):
                pose, box = link_poses[link_b[chunk], link[chunk]], self._link_box[link[chunk]]
                local = (object_points[None] - pose[:, None, :3, 3]) @ pose[:, :3, :3]  # (P, N, 3)
                inside = ((local > box[:, None, 0] - clearance_m) & (local < box[:, None, 1] + clearance_m)).all(-1)
                found = torch.nonzero(inside, as_tuple=True)
                rows.append(chunk[found[0]])
                point.append(found[1])
            rows, point = (torch.cat(rows), torch.cat(point)) if rows else (link_b[:0], link_b[:0])
            piece = self._link_pieces[link[rows]]  # (Q, Sb), -1 padded
            row, j = torch.nonzero(piece >= 0, as_tuple=True)
            pair_b, pair_s, point = link_b[rows[row]], piece[row, j], point[row]
            keep = near[pair_b, pair_s]
            pair_b, pair_s, point = pair_b[keep], pair_s[keep], point[keep]
        return self._summed_depth(poses, object_points[point], pair_b, pair_s, len(x), clearance_m)

    def self_penetration_sum(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 25) -> (B,) summed depth (m) of the outer collision surface points inside pieces of other links
        that may touch (MuJoCo's filtering), differentiable in x: the optimiser's self-collision term."""
        link_poses = self.hand.link_poses(x)  # (B, L, 4, 4)
        points = self._points.move(link_poses)  # (B, N, 3)
        with torch.no_grad():
            centres = self._apply(link_poses, self._link_centre)  # (B, L, 3)
            reach = self._link_radius[:, None] + self._link_radius[None]
            batch, link_a, link_b = torch.nonzero((torch.cdist(centres, centres) < reach) & self._may_touch,
                                                  as_tuple=True)
            # Link pairs whose boxes overlap: link a's box corners in link b's frame, against link b's box.
            relative = torch.linalg.solve(link_poses[batch, link_b], link_poses[batch, link_a])  # (T, 4, 4) b <- a
            corners = self._link_corners[link_a] @ relative[:, :3, :3].transpose(1, 2) + relative[:, None, :3, 3]
            box = self._link_box[link_b]  # (T, 2, 3)
            overlap = ((corners.amax(1) > box[:, 0]) & (corners.amin(1) < box[:, 1])).all(-1)
            batch, link_a, link_b, relative = batch[overlap], link_a[overlap], link_b[overlap], relative[overlap]
            # Points of link a (T, Na) in link b's frame, kept inside the box around all of link b's pieces.
            point = self._link_points[link_a]
            own = self._link_points_local[link_a]  # (T, Na, 3) in link a's frame
            local = own @ relative[:, :3, :3].transpose(1, 2) + relative[:, None, :3, 3]  # (T, Na, 3)
            box = self._link_box[link_b][:, None]  # (T, 1, 2, 3)
            pair, i = torch.nonzero(((local > box[..., 0, :]) & (local < box[..., 1, :])).all(-1) & (point >= 0),
                                    as_tuple=True)
            # ... then paired with each piece of link b (the pieces' own boxes are checked in _summed_depth).
            piece = self._link_pieces[link_b[pair]]  # (Q, Sb)
            row, j = torch.nonzero(piece >= 0, as_tuple=True)
            batch, point, piece = batch[pair[row]], point[pair[row], i[row]], piece[row, j]
        return self._summed_depth(link_poses[:, self._link], points[batch, point], batch, piece, len(x), 0.0)

    def _cells_near_pieces(self, poses: torch.Tensor, pieces: torch.Tensor, cells: torch.Tensor,
                           owner: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The (hand, cell) pairs whose cell (cells (P, 3, 3), of hand owner (P,), or of every hand when None)
        reaches into the bounding box of one of the hand's `pieces` (B, S) bool: (hand (Q,), cells (Q, 3, 3))."""
        centroid, reach = cells.mean(1), cell_radius(cells)
        hands, picked = [], []
        for b in torch.nonzero(pieces.any(1)).squeeze(1).tolist():
            mine = torch.arange(len(cells), device=cells.device) if owner is None else torch.nonzero(owner == b)[:, 0]
            s = torch.nonzero(pieces[b]).squeeze(1)
            pose = poses[b, s]  # (S_b, 4, 4)
            offset = centroid[mine, None] - pose[:, :3, 3]  # (P_b, S_b, 3)
            local = torch.einsum("psi,sij->psj", offset, pose[:, :3, :3])  # R^T (p - t): each piece's link frame
            box, margin = self._box[s], reach[mine, None, None]
            near = ((local > box[:, 0] - margin) & (local < box[:, 1] + margin)).all(-1).any(-1)
            picked.append(mine[near])
            hands.append(torch.full_like(picked[-1], b))
        if not picked:
            return torch.zeros(0, dtype=torch.long, device=cells.device), cells[:0]
        picked = torch.cat(picked)
        return torch.cat(hands), cells[picked]

    # ------------------------------------------------------------------ measures
    @torch.no_grad()
    def penetration(self, x: torch.Tensor, sdf: MeshSDF, tolerance_m: float = DEFAULT_TOLERANCE_M,
                    stop_above_m: float = torch.inf) -> HandPenetration:
        """Penetration of hands x (B, 25) into the object whose exact signed distance is `sdf` (see module doc).
        stop_above_m: hands found deeper than this are not measured further (their figure is a lower bound)."""
        self.hand.validate_pose(x)
        b = len(x)
        poses = self._piece_poses(x)  # (B, S, 4, 4)
        centres, radii = self._apply(poses, self._centre), self._radius
        centre_distance = sdf(centres)  # (B, S)
        # A piece whose ball does not reach into the object cannot hold a penetrating point, and one whose ball
        # misses the object's surface cannot hold a point of it: both directions start from few pieces.
        reaches_in = centre_distance < radii
        touches_surface = centre_distance.abs() < radii

        hand_b, hand_t = torch.nonzero(reaches_in[:, self._triangle_piece], as_tuple=True)
        triangles = self._apply(poses[hand_b, self._triangle_piece[hand_t]][:, None], self._triangles[hand_t])
        hand_in = deepest_point(triangles, hand_b, b, mesh_sdf_depth(sdf), tolerance_m, stop_above_m)

        faces = sdf.vertices[sdf.faces].to(dtype=self.hand.dtype, device=self.hand.device)  # (F, 3, 3)
        cells_b, cells = self._cells_near_pieces(poses, touches_surface, faces)
        object_in = deepest_point(
            cells, cells_b, b,
            lambda cells, batch, floor: self._hand_depth(poses, touches_surface, cells, batch, floor), tolerance_m,
            stop_above_m,
        )
        return HandPenetration(
            hand_in.depth_m, object_in.depth_m, torch.maximum(hand_in.depth_m, object_in.depth_m),
            hand_in.evaluations + object_in.evaluations + b * len(radii),
        )

    def self_penetration(self, x: torch.Tensor) -> np.ndarray:
        """x (B, 25) -> (B,) deepest contact (m) MuJoCo finds between the hand's collision geoms; 0 where they
        do not touch. Only the joint angles matter."""
        self.hand.validate_pose(x)
        q = split_pose(x)[2].detach().cpu().double().numpy()
        mujoco = mjcf.require_mujoco()
        data, model = self._data, self._model
        depth = np.zeros(len(q))
        for i, angles in enumerate(q):
            data.qpos[self._qpos_address] = angles
            mujoco.mj_kinematics(model, data)
            mujoco.mj_collision(model, data)
            if data.ncon:
                depth[i] = max(0.0, -float(data.contact.dist[: data.ncon].min()))
        return depth


def _padded_groups(group: np.ndarray, num_groups: int, device) -> torch.Tensor:
    """(num_groups, M) indices of the members of each group (group (N,) int), padded with -1."""
    members = [np.flatnonzero(group == g) for g in range(num_groups)]
    table = np.full((num_groups, max(1, max(len(m) for m in members))), -1)
    for g, m in enumerate(members):
        table[g, : len(m)] = m
    return torch.as_tensor(table, device=device)


@functools.lru_cache(maxsize=8)
def _geometry(name: str, primitives: bool, link_names: tuple[str, ...], num_points: int):
    from flash_core.hands.spec import load_spec

    model = mjcf.compile_model(mjcf.load_source(load_spec(name), primitives).xml)
    pieces = collision_pieces(model, list(link_names))
    return pieces, model, outer_surface_points(pieces, num_points)


@functools.lru_cache(maxsize=16)
def hand_collision(hand: HandModel, num_surface_points: int = 2048) -> HandCollision:
    """The collision geometry of `hand` (the MJCF it was built from), with about `num_surface_points` outer surface
    samples plus the polytope corners. Cached per hand model; the geometry once per hand kind (about 2 s)."""
    return HandCollision(hand, *_geometry(hand.name, hand.source == "primitives", tuple(hand.link_names),
                                          num_surface_points))
