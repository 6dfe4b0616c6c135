"""Geometry kernels in torch: point-cloud ops, signed distance, penetration, meshes, rotations.

One concept per module; import from the module that owns it, e.g.
`from flash_core.geometry.sdf import MeshSDF`. Nothing heavy (warp, trimesh) is imported here.

- `checks`       input validation shared by the kernels (clear errors for bad clouds)
- `rotations`    rotation conversions (6D, matrices, quaternions; owned by the hands engineer)
- `sampling`     farthest point sampling
- `neighbors`    kNN, ball query, gather/group helpers
- `chamfer`      Chamfer distance
- `normalize`    centre + scale to the unit sphere, with the transform kept
- `triangles`    closest point on triangles (exact, differentiable)
- `warp_runtime` NVIDIA warp imported and initialised once, kernel cache under the FLASH cache
- `sdf`          point-to-mesh signed distance via NVIDIA warp (negative inside)
- `sdf_grid`     voxel-grid SDF sampled trilinearly (one object, or one per batch row) for training
- `penetration`  penetration depth and contact distance from points and any SDF
- `cloud_sdf`    signed distance to the surface an oriented point cloud samples (no mesh at run time)
- `force_closure` the least friction with which contacts resist the force-closure test's six pushes
- `mesh`         load, normalise and sample meshes
- `mesh_repair`  make meshes water-tight (voxel remesh, hole filling, smoothing)
- `rigid`        rigid transforms in numpy (compose, invert, quaternions x-y-z-w, slerp)
- `plane`        a plane facing up (numpy) from a pose or coefficients; `support_plane` the same in torch
- `frame_tree`   tf2's transform tree without ROS (static + dynamic edges, interpolation, lookups)
"""
