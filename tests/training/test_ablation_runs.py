"""`flash ablations`: each variant changes exactly its switch, variants the data cannot support are reported with the
reason, and the whole table (train, judge, report) runs end to end on a tiny data set and resumes."""

import json
import os
import shutil

import pytest
from flash_training.ablations import AblationConfig, base_config, plan_variants
from flash_training.train.config import config_to_dict
from tiny_runs import TINY_CONFIG, write_procedural_drive

from flash_core.cli import main

# scratch_text: tiny.yaml is scratch already
TRAINED = ("full", "no_live_hand", "semantics", "no_text", "hand_object_distance", "unrefined")


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return write_procedural_drive(tmp_path_factory.mktemp("ablations") / "data", unrefined=True)


def differences(a, b, prefix=""):
    out = set()
    for key in set(a) | set(b):
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            out |= differences(a[key], b[key], f"{prefix}{key}.")
        elif a.get(key) != b.get(key):
            out.add(prefix + key)
    return out


def test_each_variant_of_the_default_model_changes_only_its_switch(drive, tmp_path):
    base = base_config(AblationConfig(data=str(drive), out=str(tmp_path), budget_steps=7))
    assert base.loop.steps == 7 and base.loop.eval_every == 0 and base.model.text.kind == "smollm2"
    plans = {p.name: p for p in plan_variants(base, drive, tmp_path)}
    assert list(plans) == ["full", "no_live_hand", "scratch_text", "semantics", "no_text", "hand_object_distance",
                           "unrefined"]
    changed = {name: differences(config_to_dict(base), config_to_dict(p.config)) for name, p in plans.items()}
    assert changed == {"full": set(), "no_live_hand": {"model.use_live_hand", "model.hand_object_distance"},
                       "no_text": {"model.use_text"}, "hand_object_distance": {"model.hand_object_distance"},
                       "scratch_text": {"model.text.kind", "model.llm_training"},
                       "semantics": {"model.object.semantic_dim"}, "unrefined": {"data.root"}}
    assert plans["scratch_text"].config.model.llm_training == "full"  # a scratch text model trains
    assert plans["semantics"].label == "with semantic features"  # the default model has none; the data has 8-D
    assert plans["semantics"].config.model.object.semantic_dim == 8
    assert plans["hand_object_distance"].label == "w/o hand-object distance"  # the default model has it
    unrefined = plans["unrefined"].config.data.root
    for shard in (drive / "grasps").glob("shard_*"):  # the unrefined copy's x is the shard's x_unrefined
        linked = tmp_path / "data-unrefined" / "grasps" / shard.name / "x.npy"
        assert unrefined == str(tmp_path / "data-unrefined") and linked.resolve() == shard / "x_unrefined.npy"


def test_a_data_set_without_unrefined_grasps_reports_that_variant_as_not_run(drive, tmp_path):
    plain = tmp_path / "plain"
    os.symlink(drive, plain)
    for shard in (drive / "grasps").glob("shard_*"):
        os.rename(shard / "x_unrefined.npy", shard / "x_unrefined.hidden")
    try:
        plans = {p.name: p for p in plan_variants(base_config(AblationConfig(str(plain), str(tmp_path), 1)), plain,
                                                  tmp_path)}
    finally:
        for shard in (drive / "grasps").glob("shard_*"):
            os.rename(shard / "x_unrefined.hidden", shard / "x_unrefined.npy")
    assert plans["unrefined"].config is None
    assert "keeps no grasps from before refinement (x_unrefined.npy is missing from 1 of 1 shards)" in \
        plans["unrefined"].reason


def test_the_tables_build_end_to_end_and_a_rerun_redoes_only_what_is_missing(drive, tmp_path, monkeypatch):
    out = tmp_path / "out"
    argv = ["ablations", "--data", str(drive), "--out", str(out), "--budget-steps", "2", "--config", str(TINY_CONFIG),
            "--goals", "1", "--grasps", "1", "--solver-steps", "2", "--protocol", "force", "--renders", "0",
            "--set", "loop.checkpoint_every=1", "--no-progress"]
    main(argv)
    results = json.loads((out / "results.json").read_text())
    assert [v["name"] for v in results["variants"] if v["run"]] == list(TRAINED)
    assert [v["reason"] for v in results["variants"] if not v["run"]] == [
        "the full model's text model is already trained from scratch"]
    methods = {m["name"]: m for m in results["methods"]}
    assert list(methods) == ["full", "full_polish", "full_settle", "full_settle_ranked", *TRAINED[1:], "retrieval",
                            "optimiser"]
    for name, method in methods.items():
        clouds = ("full",) if name == "optimiser" else ("full", "partial")
        assert sorted(method["summaries"]) == sorted(clouds)
        for cloud in clouds:
            stored = json.loads((out / "eval" / name / cloud / "metrics.json").read_text())
            assert method["summaries"][cloud] == stored["summary"]["all"] and stored["summary"]["all"]["grasps"] == 1
    for name in TRAINED:
        assert (out / "runs" / name / "model" / "model.safetensors").is_file()
    report = (out / "report.md").read_text()
    assert "## Table 1: methods" in report and "## Table 2: ablations" in report
    assert report.count("| nearest-neighbour retrieval |") == 2 and "| trained on unrefined grasps |" in report
    assert "2 steps of batch 8" in report and "--set loop.checkpoint_every=1" in report
    assert "given the mesh: its grasps do not depend on the cloud" in report

    # A sitting interrupted after no_text's first step (its run then held only checkpoint 1) and before its
    # judgement on partial clouds: the rerun trains no_text on from step 1, judges that, and redoes nothing else.
    shutil.rmtree(out / "runs" / "no_text" / "model")
    shutil.rmtree(out / "runs" / "no_text" / "checkpoints" / "step_00000002")
    (out / "eval" / "no_text" / "partial" / "generation.json").unlink()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("eval/*/*/metrics.json")}
    trained = []
    import flash_training.train.trainer as trainer

    real_train = trainer.train
    monkeypatch.setattr(trainer, "train", lambda config, run_dir, resume: trained.append(run_dir.name) or
                        real_train(config, run_dir, resume))
    main(argv)
    assert trained == ["no_text"]
    redone = {p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp}
    assert redone == {out / "eval" / "no_text" / "partial" / "metrics.json"}
    again = json.loads((out / "results.json").read_text())["methods"]
    assert [m["summaries"] for m in again] == [m["summaries"] for m in results["methods"]]  # same weights, same seed


def test_a_finished_train_run_is_judged_as_the_full_model_without_training_again(drive, tmp_path, monkeypatch):
    run = tmp_path / "default"
    main(["train", "--config", str(TINY_CONFIG), "--data", str(drive), "--out", str(run), "--steps", "2",
          "--no-progress"])
    import flash_training.train.trainer as trainer

    trained = []
    monkeypatch.setattr(trainer, "train", lambda config, run_dir, resume: trained.append(run_dir.name))
    out = tmp_path / "report"
    main(["ablations", "--data", str(drive), "--out", str(out), "--full-run", str(run), "--variants", "full",
          "--goals", "1", "--grasps", "1", "--solver-steps", "2", "--protocol", "force", "--renders", "0",
          "--no-progress"])
    assert trained == []  # the given run is the full model; no other variant was selected
    results = json.loads((out / "results.json").read_text())
    assert [v["name"] for v in results["variants"] if v["run"]] == ["full"]
    assert {v["reason"] for v in results["variants"] if not v["run"]} >= {"not selected (--variants)"}
    assert [m["name"] for m in results["methods"]] == ["full", "full_polish", "full_settle", "full_settle_ranked",
                                                          "retrieval", "optimiser"]
    assert results["variants"][0]["train_seconds"] > 0  # read from the run's logged step rates
    report = (out / "report.md").read_text()
    assert "2 steps of batch 8" in report  # the run's own config is the base
    # The reproducing command says what was judged, and the text which clouds of how many goals.
    assert f"--full-run {run} --variants full --solver-steps 2`" in report
    assert "the object's full cloud (1 goal); one of its stored single-view clouds (1 goal);" in report
