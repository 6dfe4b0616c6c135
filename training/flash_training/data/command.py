"""`flash dataset build|report`: build a FLASH-Drive data set from a preset, or rewrite its report.

    flash dataset build --preset mini --out data/flash-drive-mini [--resume] [--device cuda]
    flash dataset build --preset mini --out data/dgn --import dexgraspnet:allegro_config_dicts \
        --meshes DexGraspNet/meshdata                   (refine downloaded grasps instead of synthesising)
    flash dataset build --out data/flash-drive --ray 2  (the default preset as 2 Ray tasks, merged)
    flash dataset build --out parts/0 --shard 0/2       (part 0 of 2 here, part 1 elsewhere, then:)
    flash dataset merge --out data/flash-drive parts/0 parts/1
    flash dataset report data/flash-drive-mini
    flash dataset build --preset mini --out data/mine --user-meshes my_meshes --only-user-meshes --candidates 32

Heavy imports happen inside `run`, so `flash --help` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset_command", required=True)
    build = sub.add_parser("build", help="build (or resume) a data set")
    build.add_argument(
        "--preset",
        choices=("tiny", "mini", "default", "full"),
        default="default",
        help="size and quality preset (default: 'default'; build times in docs/benchmarks.md)",
    )
    build.add_argument("--out", required=True, help="output folder")
    build.add_argument("--resume", action="store_true", help="continue an interrupted build in --out")
    spread = build.add_mutually_exclusive_group()
    spread.add_argument(
        "--shard", metavar="I/N", help="build only part I of the objects dealt into N parts (then flash dataset merge)"
    )
    spread.add_argument(
        "--ray",
        type=int,
        metavar="N",
        help="build N parts as Ray tasks and merge them into --out (each reserves --threads CPUs, default 1)",
    )
    build.add_argument("--ray-address", help="Ray cluster to use with --ray (default: a local Ray on this machine)")
    build.add_argument(
        "--device", default="cpu", help="torch device for grasp optimisation and DINOv2 (cpu, cuda, cuda:1)"
    )
    build.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's choice). 1 keeps build times steady on a machine that other "
        "jobs share: two threads against a busy core stalled small batches (docs/benchmarks.md)",
    )
    build.add_argument(
        "--hands", nargs="+", choices=("leap", "allegro"), help="hands to build grasps for (default: the preset's)"
    )
    build.add_argument("--user-meshes", help="folder of OBJ/STL/PLY/GLB meshes to add (see docs/dataset_format.md)")
    build.add_argument(
        "--only-user-meshes",
        action="store_true",
        help="build the --user-meshes alone, without the preset's objects, and keep every rejected candidate "
        "(pose and reason) in the manifest and the reasons per object in the report",
    )
    build.add_argument("--candidates", type=int, help="candidate grasps synthesised per object and hand")
    build.add_argument("--grasps-per-hand", type=int, help="grasps kept per object and hand")
    build.add_argument(
        "--import",
        dest="imports",
        action="append",
        metavar="KIND:PATH",
        help="grasps to import and refine instead of the preset's synthesised objects (repeatable): "
        "dexgraspnet:DIR (config-dict .npy files) or multigraspset:PATH (.jsonl records, file or folder)",
    )
    build.add_argument(
        "--meshes", help="object meshes of the imported grasps: <code>/coacd/decomposed.obj or <code>.obj"
    )
    build.add_argument("--import-limit", type=int, help="import only the first N objects of each --import")
    build.add_argument("--import-max-grasps", type=int, help="refine at most N imported grasps per object and hand")
    build.add_argument("--no-semantic", action="store_true", help="skip the rendered DINOv2 point features")
    build.add_argument("--dinov2", help="local folder of a pretrained Dinov2Model (else an untrained stand-in)")
    build.add_argument(
        "--llm-url", help="OpenAI-compatible endpoint for descriptions, e.g. http://127.0.0.1:8000/v1 (off by default)"
    )
    build.add_argument("--llm-model", default="gpt-4o-mini", help="model name sent to --llm-url")
    build.add_argument(
        "--llm-key-env", default="OPENAI_API_KEY", help="environment variable that holds the endpoint's key"
    )
    merge = sub.add_parser("merge", help="join the parts of a build made with --shard into one data set")
    merge.add_argument("--out", required=True, help="output folder (new)")
    merge.add_argument("parts", nargs="+", help="the part folders, all N of them")
    report = sub.add_parser("report", help="rewrite report.md and the histograms of a data set")
    report.add_argument("root", help="data set folder")


def build_config(args: argparse.Namespace):
    from dataclasses import replace

    from flash_training.data.build import PRESETS, SourceSpec
    from flash_training.data.grasp_import import IMPORT_KINDS, ImportSpec
    from flash_training.data.llm_text import LlmTextConfig

    config = PRESETS[args.preset]
    if args.hands:
        config = replace(config, hands=tuple(args.hands))
    if args.imports:
        if not args.meshes:
            raise SystemExit("--import needs --meshes: the folder of the imported objects' meshes")
        specs = []
        for item in args.imports:
            kind, _, path = item.partition(":")
            if kind not in IMPORT_KINDS or not path:
                raise SystemExit(f"--import {item}: expected KIND:PATH with KIND one of {', '.join(IMPORT_KINDS)}")
            # Absolute paths: the manifest records them, and a resume from another folder must match.
            meshes = str(Path(args.meshes).resolve())
            specs.append(ImportSpec(kind, str(Path(path).resolve()), meshes, args.import_limit, args.import_max_grasps))
        config = replace(config, sources=(), imports=tuple(specs))
    if args.only_user_meshes and not args.user_meshes:
        raise SystemExit("--only-user-meshes needs --user-meshes DIR")
    if args.user_meshes:
        if not Path(args.user_meshes).is_dir():
            raise SystemExit(f"--user-meshes {args.user_meshes}: no such folder")
        user = (SourceSpec("user", {"root": str(Path(args.user_meshes).resolve())}),)
        config = (replace(config, sources=user, keep_rejected=True) if args.only_user_meshes
                  else replace(config, sources=config.sources + user))
    for value, option, name in ((args.candidates, "--candidates", "candidates_per_hand"),
                                (args.grasps_per_hand, "--grasps-per-hand", "grasps_per_hand")):
        if value is not None:
            if value < 1:
                raise SystemExit(f"{option} must be >= 1, got {value}")
            config = replace(config, **{name: value})
    if args.no_semantic:
        config = replace(config, semantic=None)
    elif args.dinov2 and config.semantic is not None:
        config = replace(config, semantic=replace(config.semantic, model_path=args.dinov2))
    if args.llm_url:
        config = replace(
            config, llm=LlmTextConfig(base_url=args.llm_url, model=args.llm_model, api_key_env=args.llm_key_env)
        )
    return config


def run(args: argparse.Namespace) -> None:
    if args.dataset_command == "report":
        from flash_training.data.import_report import write_build_report

        print(write_build_report(args.root))
        return
    if args.dataset_command == "merge":
        from flash_training.data.import_report import write_build_report
        from flash_training.data.storage import merge_parts

        print(write_build_report(merge_parts(args.parts, args.out)))
        return
    from flash_training.data.build import build_dataset
    from flash_training.data.sharding import build_with_ray, parse_part

    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    if args.ray is not None:
        report = build_with_ray(
            args.out, build_config(args), args.ray, args.device, args.resume, args.ray_address, args.threads or 1
        )
    else:
        try:
            part = parse_part(args.shard) if args.shard else None
        except ValueError as exc:
            raise SystemExit(f"--shard: {exc}") from exc
        report = build_dataset(args.out, build_config(args), device=args.device, resume=args.resume, part=part)
    print(f"data set in {args.out}; report: {report}")
