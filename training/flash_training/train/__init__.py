"""Training FLASH (`flash train`): flow matching on FLASH-Drive, on a CPU, one GPU or several (torchrun DDP).

- `config`         typed dataclass configs with working defaults, YAML and `--set` overrides
- `batches`        data order and sharding, distinct clouds per batch, the per-run cloud cache, step noise
- `step`           one optimiser step
- `trainer`        the run: loop, validation, `flash eval` hook, TensorBoard + metrics.jsonl, exact resume
- `checkpointing`  atomic training checkpoints (model, optimiser, schedule, RNG, data position)
- `distributed`    the torchrun process group
- `eval_hook`      generated grasps judged by `flash_training.eval` during training
- `allocator`      glibc malloc settings that remove per-step page faults
- `command`        the `flash train` CLI
"""
