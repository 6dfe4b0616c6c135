"""Baselines the FLASH network is compared with (`flash_training.grasp_methods.GraspMethod`s):

- `retrieval`   nearest-neighbour retrieval from the training set (object cloud Chamfer + prompt words)
- `optimiser`   FLASH-Drive's geometry-only grasp optimisation, given the object's mesh
"""
