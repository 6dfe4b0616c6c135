"""`HandModel`: one hand-agnostic, stateless model of a multi-fingered hand, built from its MJCF.

Every method is a pure function of its input (no pose is stored), works on a batch, on CPU or CUDA, in
float32 or float64, and is differentiable. Link poses come from pytorch-kinematics; all points attached to the
links (surface samples, contact candidates, collision spheres) are stored in their link frames and moved with
one gather of the link transforms and one batched multiply per call.

Shapes: B hands, L links (`link_names`), N surface points, C contact candidates, J = 16 joints.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from flash_core.hands.attached import LinkAttachedPoints
from flash_core.hands.pose import check_pose, join_pose, split_pose, wrist_matrix
from flash_core.hands.spec import HandSpec
from flash_core.hands.surface import LinkPoints


@dataclass(frozen=True)
class PalmFrame:
    """Where a hand grasps, in its root (wrist) frame, read off its own kinematics."""

    normal: torch.Tensor  # (3,) unit: the palm side, the way the fingertips move when the fingers close
    grasp_centre_m: torch.Tensor  # (3,) the fingertip centroid in the pre-grasp pose


class HandModel:
    """Build with `flash_core.hands.make_hand(name)`; see the module docstring of `flash_core.hands.pose`
    for the 25-D hand parameter x."""

    def __init__(
        self,
        spec: HandSpec,
        chain,
        source: str,
        surface: LinkPoints,
        contacts: LinkPoints,
        contact_finger_index: np.ndarray,
        spheres: LinkPoints,
        sphere_radii: np.ndarray,
        sphere_pairs: np.ndarray,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        self.spec = spec
        self.name = spec.name
        self.source = source  # "mjcf:<path>" or "primitives"
        self.joint_names = list(spec.joint_names)
        self.model_joint_names = list(spec.model_joint_names)
        self.finger_names = list(spec.finger_names)
        self.dof = len(self.joint_names)
        self.pose_dim = 9 + self.dof
        self.device = torch.device(device)
        self.dtype = dtype

        chain = chain.to(dtype=dtype, device=self.device)
        self._chain = chain
        num_frames = len(chain.idx_to_frame)
        self.link_names = [chain.idx_to_frame[i] for i in range(num_frames)]
        chain_joints = chain.get_joint_parameter_names()
        # FLASH order -> the chain's order: q_chain = q[:, _to_chain]
        self._to_chain = torch.tensor([self.model_joint_names.index(j) for j in chain_joints], device=self.device)

        as_tensor = lambda a, dt=dtype: torch.tensor(np.asarray(a), dtype=dt, device=self.device)  # noqa: E731 (a copy)
        limits = as_tensor(spec.joint_limits)
        self.joint_lower, self.joint_upper = limits[:, 0].contiguous(), limits[:, 1].contiguous()
        # The chain's root frame carries the root body's pose in the XML; FK results are re-expressed in the
        # root body's own frame (the frame the wrist pose refers to).
        with torch.no_grad():
            zero = torch.zeros(1, len(chain_joints), dtype=dtype, device=self.device)
            root = chain.forward_kinematics_tensor(zero)[0, 0]
        self._root_inv = torch.linalg.inv(root)

        self._surface = LinkAttachedPoints(surface.points, surface.link_index, dtype, self.device)  # N points
        self._surface_normals = LinkAttachedPoints(surface.normals, surface.link_index, dtype, self.device, w=0.0)
        self.surface_point_link_index = self._surface.link_index  # (N,)
        self._contacts = LinkAttachedPoints(contacts.points, contacts.link_index, dtype, self.device)  # C points
        self.contact_link_index = self._contacts.link_index  # (C,)
        self.contact_finger_index = as_tensor(contact_finger_index, torch.long)  # (C,)
        self._spheres = LinkAttachedPoints(spheres.points, spheres.link_index, dtype, self.device)  # S centres
        self.sphere_radii = as_tensor(sphere_radii)  # (S,) metres
        self._sphere_pairs = as_tensor(sphere_pairs, torch.long)  # (P, 2) sphere indices that may collide

    # ------------------------------------------------------------------ basics
    def to(self, device: torch.device | str) -> "HandModel":
        """A copy on `device` (self when already there)."""
        device = torch.device(device)
        if device == self.device:
            return self
        moved = copy.copy(self)
        moved.device = device
        moved._chain = copy.deepcopy(self._chain).to(device=device)
        for key, value in vars(self).items():
            if isinstance(value, (torch.Tensor, LinkAttachedPoints)):
                setattr(moved, key, value.to(device))
        return moved

    def __repr__(self) -> str:
        return (f"HandModel(name={self.name!r}, dof={self.dof}, links={len(self.link_names)}, "
                f"surface_points={self._surface.num_points}, source={self.source!r}, dtype={self.dtype}, "
                f"device={self.device})")

    def validate_pose(self, x: torch.Tensor) -> None:
        """Raise ValueError naming the problem for a wrong shape, dtype, device, NaN or inf."""
        check_pose(x, self.dof)
        self._check_placement(x, "hand pose")

    def _check_placement(self, t: torch.Tensor, what: str) -> None:
        if t.dtype != self.dtype or t.device.type != self.device.type:
            raise ValueError(f"{what} is {t.dtype} on {t.device} but the {self.name} model is {self.dtype} on "
                             f"{self.device}: convert the input or build/move the model (make_hand(dtype=...), .to())")

    def _check_joints(self, q: torch.Tensor) -> None:
        if not isinstance(q, torch.Tensor) or q.ndim != 2 or q.shape[1] != self.dof:
            shape = tuple(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
            raise ValueError(f"joint angles must be a (B, {self.dof}) tensor in {self.name}'s order, got {shape}")
        self._check_placement(q, "joint angles")
        if not torch.isfinite(q).all():
            raise ValueError("joint angles hold NaN or inf")

    def clamp_joints(self, q: torch.Tensor) -> torch.Tensor:
        """(..., J) -> joint angles clamped into the limits (differentiable inside them)."""
        return torch.maximum(torch.minimum(q, self.joint_upper), self.joint_lower)

    def open_pose(self, batch: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
        """(batch, 25) the canonical open hand with the identity wrist pose."""
        device = self.device if device is None else torch.device(device)
        t = torch.zeros(batch, 3, dtype=self.dtype, device=device)
        rot6d = torch.tensor([1.0, 0, 0, 0, 1, 0], dtype=self.dtype, device=device).expand(batch, 6)
        q = torch.tensor(self.spec.open_joints, dtype=self.dtype, device=device).expand(batch, self.dof)
        return join_pose(t, rot6d, q)

    def open_joints(self) -> torch.Tensor:
        """(J,) the open hand's joint angles."""
        return torch.tensor(self.spec.open_joints, dtype=self.dtype, device=self.device)

    def pregrasp_joints(self) -> torch.Tensor:
        """(J,) slightly curled joint angles to approach an object with."""
        return torch.tensor(self.spec.pregrasp_joints, dtype=self.dtype, device=self.device)

    def palm_frame(self) -> PalmFrame:
        """The palm normal and grasp centre (see `PalmFrame`), measured the same way for every hand.

        The normal is the mean fingertip (contact candidate) motion over the first tenth of the way from the open
        to the pre-grasp pose: at the start of a curl the tips move perpendicular to straight fingers, towards the
        palm side. (Over a whole curl they also move back towards the wrist, which would tilt the normal.)"""
        poses = self.open_pose(3)
        start = 0.1 * (self.pregrasp_joints() - self.open_joints())
        poses[1, 9:] = self.open_joints() + start
        poses[2, 9:] = self.pregrasp_joints()
        with torch.no_grad():
            tips_open, tips_curling, tips_pre = self.contact_candidates(poses).mean(1)  # (3,) each
        direction = tips_curling - tips_open
        if direction.norm() < 1e-6:
            raise ValueError(f"cannot find the palm side of hand {self.name!r}: its open and pre-grasp poses match")
        return PalmFrame(torch.nn.functional.normalize(direction, dim=0), tips_pre)

    # ------------------------------------------------------------------ kinematics
    def _chain_frames(self, q: torch.Tensor) -> torch.Tensor:
        """q (B, J) FLASH order -> (L, B, 4, 4) link poses in the chain's root frame (see __init__)."""
        self._check_joints(q)
        return self._chain.forward_kinematics_tensor(q[:, self._to_chain])

    def forward_kinematics(self, q: torch.Tensor) -> torch.Tensor:
        """q (B, J) in FLASH joint order -> (B, L, 4, 4) link poses in the hand root frame."""
        return torch.einsum("ij,lbjk->blik", self._root_inv, self._chain_frames(q))  # (B, L, 4, 4)

    def link_poses(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 25) -> (B, L, 4, 4) link poses in the world/object frame."""
        self.validate_pose(x)
        world_from_chain = wrist_matrix(x) @ self._root_inv  # (B, 4, 4): one product per hand, not per link
        # einsum contracts straight from the chain's (L, B) layout, without a transposed copy.
        return torch.einsum("bij,lbjk->blik", world_from_chain, self._chain_frames(split_pose(x)[2]))

    def surface_points(self, x: torch.Tensor, normals: bool = False):
        """x (B, 25) -> (B, N, 3) points on the hand's outer surface in the world frame
        (and (B, N, 3) unit outward normals when `normals`)."""
        poses = self.link_poses(x)
        points = self._surface.move(poses)
        return (points, self._surface_normals.move(poses)) if normals else points

    def contact_candidates(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 25) -> (B, C, 3) fingertip and pad points; finger of each: `contact_finger_index` (C,)."""
        return self._contacts.move(self.link_poses(x))

    def collision_spheres(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 25) -> sphere centres (B, S, 3) in the world frame and radii (S,)."""
        return self._spheres.move(self.link_poses(x)), self.sphere_radii

    def self_penetration(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 25) -> (B,) summed overlap depth (m) of collision spheres on links that may touch.

        Pairs on the same link, on parent and child, and pairs the MJCF excludes never count.
        """
        centres, radii = self.collision_spheres(x)
        i, j = self._sphere_pairs[:, 0], self._sphere_pairs[:, 1]
        distance = (centres[:, i] - centres[:, j]).norm(dim=-1)  # (B, P)
        return torch.relu(radii[i] + radii[j] - distance).sum(-1)
