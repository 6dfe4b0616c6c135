"""Hand models: `make_hand("leap" | "allegro")` -> `HandModel`, and the 25-D hand parameter convention.

- `pose`        x = [t 3, rot6d 6, q 16]: split/join, 4x4, DexGraspNet layout, LEAP motor angles
- `spec`        the per-hand YAML (joint order, limits, contacts, poses) as a typed `HandSpec`
- `mjcf`        MJCF -> patched XML, pytorch-kinematics chain, per-link hulls
- `surface`     points fixed on links: surface samples, contact candidates, collision spheres
- `attached`    moving link-frame points with the links (one chunked bmm)
- `hand_model`  `HandModel`: batched, differentiable FK, surface points, contacts, self-penetration, palm frame
- `retarget`    a grasp of one hand -> another hand's pose (Allegro -> LEAP) by matching fingertips and palm
- `pose_optimizer`  Adam over batches of 25-D poses, joints kept in limits (refinement and retargeting)
- `factory`     `make_hand` (registry, primitives fallback)
- `primitives`  regenerates the packaged boxes-only MJCFs used when the assets are missing
"""

from flash_core.hands.factory import make_hand
from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose import POSE_DIM, join_pose, split_pose
from flash_core.hands.spec import known_hands

__all__ = ["POSE_DIM", "HandModel", "join_pose", "known_hands", "make_hand", "split_pose"]
