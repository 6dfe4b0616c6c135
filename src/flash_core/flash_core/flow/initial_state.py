"""Where the flow starts: x_0, an open hand placed around the object, palm towards it.

The distribution (object-centred frame, the object's centroid at the origin):
1. a direction d uniform on the unit sphere (the training distribution), or, for an object on a support (a table)
   whose upward normal u is given, uniform on the cap d . u >= sin(min_elevation_rad): the hand starts above the
   table, so the flow ends in grasps an arm can reach from above or the side (a subset of what it was trained on);
2. the wrist rotation R turns the hand's palm normal n onto -d (palm facing the centre), followed by a roll about
   that axis uniform in [0, 2 pi);
3. the wrist translation puts the open hand's cloud centre c at r d: t = r d - R c;
4. jitter: t += N(0, translation_jitter_m^2), R <- exp(N(0, rotation_jitter_rad^2)) R, joints = open pose
   + N(0, joint_jitter_rad^2), reflected back into the joint limits (a clip would pile samples on the limits).

The joints start near the open pose (0.05 rad). This leaves the finger angles decided early: on the straight path
x_t = (1 - t) x_0 + t x_1 a source dimension with spread s leaves the network about s (1 - t) / t of room to change
its endpoint at time t, and the default model's one-step estimate of the final joints was within 0.064 rad at t = 0
while the wrist was still 7 cm away (benchmarks/flow_commitment.py). A 0.4 rad start was tried to keep the fingers
open to change until the wrist arrives; at 3000 steps it held less often than the 0.05 start did at 2000
(docs/benchmarks.md, "The default model"), so the default stays. Checkpoints record the distribution they were
trained from.

Different x_0 lead to different grasps, so K samples of this give K diverse grasps of one goal. n and c come from the
hand itself (`InitialStateSampler.from_hand`): n is `HandModel.palm_frame().normal` (the way the fingertips move when
the fingers curl), c the centre of the open hand's cloud.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from flash_core.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d, rotation_between


@dataclass
class InitialStateConfig:
    radius_m: float = 0.2
    translation_jitter_m: float = 0.01
    rotation_jitter_rad: float = 0.1
    joint_jitter_rad: float = 0.05
    # With a support normal: the lowest start direction above the support plane (20 degrees).
    min_elevation_rad: float = 0.35

    def __post_init__(self) -> None:
        if self.radius_m <= 0:
            raise ValueError(f"radius_m must be positive, got {self.radius_m}")
        if min(self.translation_jitter_m, self.rotation_jitter_rad, self.joint_jitter_rad) < 0:
            raise ValueError("jitters must be >= 0")
        if not -math.pi / 2 < self.min_elevation_rad < math.pi / 2:
            raise ValueError(f"min_elevation_rad must be in (-pi/2, pi/2), got {self.min_elevation_rad}")


class InitialStateSampler:
    def __init__(self, config: InitialStateConfig, open_joints_rad: torch.Tensor, joint_lower_rad: torch.Tensor,
                 joint_upper_rad: torch.Tensor, palm_normal: torch.Tensor, palm_centre_m: torch.Tensor):
        """open_joints_rad, joint_lower_rad, joint_upper_rad: (J,); palm_normal, palm_centre_m: (3,) in the wrist
        frame."""
        self.config = config
        self.open_joints = open_joints_rad
        self.lower = joint_lower_rad
        self.upper = joint_upper_rad
        self.palm_normal = F.normalize(palm_normal, dim=-1)
        self.palm_centre = palm_centre_m

    @classmethod
    def from_hand(cls, hand, config: InitialStateConfig | None = None) -> InitialStateSampler:
        """Palm normal from `HandModel.palm_frame`, centre of the open hand's cloud (see the module docstring)."""
        with torch.no_grad():
            open_cloud = hand.surface_points(hand.open_pose(1))[0].float().cpu()  # (M, 3) in the wrist frame
        return cls(config or InitialStateConfig(), hand.open_joints().float().cpu(), hand.joint_lower.float().cpu(),
                   hand.joint_upper.float().cpu(), hand.palm_frame().normal.float().cpu(), open_cloud.mean(0))

    def sample(self, num: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32, support_normal: torch.Tensor | None = None) -> torch.Tensor:
        """num initial hand states (num, 9 + J) around an object centred at the origin; support_normal (3,): the
        upward normal of the plane the object rests on, to start only above it (see the module docstring)."""
        if num < 1:
            raise ValueError(f"num must be >= 1, got {num}")
        cfg = self.config

        def randn(*shape):
            return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

        if support_normal is None:
            direction = F.normalize(randn(num, 3), dim=-1)  # uniform on the sphere
        else:
            direction = self._above(support_normal, num, generator, device, dtype)
        normal = self.palm_normal.to(device, dtype)
        face_centre = rotation_between(normal, -direction)  # (num, 3, 3)
        roll = torch.rand(num, generator=generator, dtype=dtype).to(device) * 2 * math.pi
        # Roll about the palm normal, applied in the hand frame, keeps the palm facing the centre.
        rotation = face_centre @ axis_angle_to_matrix(normal * roll[:, None])
        rotation = axis_angle_to_matrix(randn(num, 3) * cfg.rotation_jitter_rad) @ rotation
        translation = cfg.radius_m * direction - rotation @ self.palm_centre.to(device, dtype)
        translation = translation + randn(num, 3) * cfg.translation_jitter_m
        joints = self.open_joints.to(device, dtype) + randn(num, self.open_joints.numel()) * cfg.joint_jitter_rad
        joints = reflect_into(joints, self.lower.to(device, dtype), self.upper.to(device, dtype))
        return torch.cat((translation, matrix_to_rot6d(rotation), joints), dim=-1)

    def _above(self, support_normal: torch.Tensor, num: int, generator: torch.Generator | None,
               device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """(num, 3) directions uniform on the cap of elevation >= min_elevation_rad about support_normal: on a
        sphere the area above a height h is proportional to 1 - h, so height uniform in [sin(min), 1]."""
        up = torch.as_tensor(support_normal, dtype=dtype).reshape(-1).to(device)
        if up.shape != (3,) or not torch.isfinite(up).all() or up.norm() < 1e-6:
            raise ValueError(f"support_normal must be a finite non-zero 3-vector, got {support_normal}")
        up = up / up.norm()
        uniform = torch.rand(num, 2, generator=generator, dtype=dtype).to(device)
        low = math.sin(self.config.min_elevation_rad)
        height = low + (1.0 - low) * uniform[:, 0]
        azimuth = 2 * math.pi * uniform[:, 1]
        ring = torch.sqrt(1.0 - height**2)
        local = torch.stack((ring * torch.cos(azimuth), ring * torch.sin(azimuth), height), -1)  # about +z
        z = torch.tensor([0.0, 0.0, 1.0], dtype=dtype, device=device)
        return local @ rotation_between(z, up[None])[0].T  # +z turned onto up


def reflect_into(values: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """values (..., J) folded back into [lower, upper] (J,) by reflection at the bounds, repeated as often as
    needed (a triangle wave of period 2 (upper - lower)): the density stays continuous inside the range, with no
    mass piled on a bound as a clip would leave."""
    span = upper - lower
    phase = torch.remainder(values - lower, 2 * span)  # [0, 2 span)
    return lower + torch.where(phase > span, 2 * span - phase, phase)
