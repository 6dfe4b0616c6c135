"""FLASH-Drive: the data set builder (objects, mesh processing, grasp synthesis/refinement, labels, storage).

One concept per module; import from the module that owns it (nothing heavy is imported here):
- `objects/`     object sources with licences: procedural part-labelled objects, YCB, user meshes
- `processing`   repair, centre, labelled surface points, exact SDF and SDF grid per object
- `grasp_energy` DexGraspNet-style energy terms;  `refine` Adam on x;  `synthesis` grasps from scratch
- `contacts`     per-finger contact parts and the acceptance test
- `text`         low/mid/high descriptions from contacts;  `llm_text` optional OpenAI-compatible backend
- `semantic`     rendered views, DINOv2 features projected onto the points
- `storage`      the on-disk format (docs/dataset_format.md);  `dataset` the torch Dataset;  `splits`
- `grasp_formats` DexGraspNet / Multi-GraspSet-style importers
- `build`, `report`, `command`  the `flash dataset` pipeline
"""
