"""FLASH training: what produces the data set and the model, on top of the ROS-free core.

- `data`  FLASH-Drive: object sources, mesh processing, grasp synthesis and refinement, acceptance,
          contact labels, text, storage (`flash dataset build`)
- `demo`  the README's main job (`flash demo`)

The core (`flash_core`) keeps only what inference and the robot nodes need.
"""
