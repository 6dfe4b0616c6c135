"""FLASH training: what produces the data set and the model, on top of the ROS-free core.

- `data`  FLASH-Drive: object sources, mesh processing, grasp synthesis and refinement, acceptance,
          contact labels, text, storage (`flash dataset build`)
- `demo`  the README's main job (`flash demo`; `demo_output`: its table and files)
- `grasp_methods`, `baselines`  the network and its baselines (retrieval, the geometry-only optimiser) behind one
          interface
- `ablations`  the paper's ablations and baselines trained and judged alike (`flash ablations`;
          `ablation_report`: its tables)

The core (`flash_core`) keeps only what inference and the robot nodes need.
"""
