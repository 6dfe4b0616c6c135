"""Flow matching for grasps. Time runs from t = 0 (initial open hand) to t = 1 (grasp).

- `path`           the path x_0 -> x_1 and its velocity: one straight line, or the wrist first, then the fingers
- `initial_state`  the x_0 distribution: open hands around the object, palm towards it
- `objective`      CFM loss (+ optional SDF penetration penalty); the optimiser step is the trainer's
                   (`flash_training.train`)
- `solver`         torchdiffeq integration (dopri5/dopri8, Euler/midpoint/RK4) with NFE, cancel and progress
"""
