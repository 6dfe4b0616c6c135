"""flash_bringup.pick_demo.run_attempts against a scripted client (no ROS): an object knocked off the table, or
out of perception's sight, ends the attempts as a failed pick, where waiting for perception to see it again would
end as a serving error."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
from flash_bringup.pick_demo import Attempt, PickDemoConfig, Scene, run_attempts
from rich.console import Console

from flash_bringup import pick_demo

REST_Z_M = 0.05


class ScriptedClient:
    """The PickClient calls run_attempts makes; the object's height follows `heights` (one per read)."""

    def __init__(self, heights, scenes_seen: int = 1000):
        self.heights = list(heights)
        self.scenes_seen = scenes_seen  # perception's target clouds before it loses sight of the object

    def now_s(self) -> float:
        return 0.0

    def wait(self, predicate, timeout_s, what):
        value = predicate()
        if not value:
            raise pick_demo.WaitTimeout(f"{what} within {timeout_s:.0f} s")
        return value

    def scene_after(self, after_s):
        if self.scenes_seen == 0:
            return None
        self.scenes_seen -= 1
        cloud = SimpleNamespace(width=100, height=1)
        return Scene(cloud, cloud, None, after_s, np.array([0.5, 0.0, REST_Z_M]))

    def object_position(self, name):
        return np.array([0.5, 0.0, self.heights.pop(0) if len(self.heights) > 1 else self.heights[0]])


def _run(monkeypatch, heights, scenes_seen: int = 1000) -> list[Attempt]:
    def executed(client, config, scene, grasps, attempt, on_stage):
        attempt.executed, attempt.grasp_index, attempt.reason = True, 0, "pick executed"

    def dropped(client, config, name, rest_z_m, attempt):
        attempt.lift_m = float(client.object_position(name)[2] - rest_z_m)

    monkeypatch.setattr(pick_demo, "generate_grasps", lambda client, config, scene, seed: ["g0", "g1", "g2"])
    monkeypatch.setattr(pick_demo, "pick", executed)
    monkeypatch.setattr(pick_demo, "judge_hold", dropped)
    attempts: list[Attempt] = []
    run_attempts(ScriptedClient(heights, scenes_seen), PickDemoConfig(attempts=3), "mug", Console(file=io.StringIO()),
                 attempts)
    return attempts


def test_an_object_off_the_table_ends_the_attempts(monkeypatch):
    # rest height, judged height, height after the attempt: 0.68 m below the table top.
    attempts = _run(monkeypatch, [REST_Z_M, REST_Z_M - 0.68, REST_Z_M - 0.68])
    assert len(attempts) == 1 and not attempts[0].success
    assert attempts[0].reason.endswith("the object fell off the table (0.68 m down): no further attempt")


def test_an_object_still_on_the_table_gets_every_attempt(monkeypatch):
    attempts = _run(monkeypatch, [REST_Z_M])  # never lifted, never fell
    assert len(attempts) == 3 and not any(a.success for a in attempts)
    assert all("fell off" not in a.reason for a in attempts)


def test_an_object_perception_no_longer_sees_ends_the_attempts(monkeypatch):
    attempts = _run(monkeypatch, [REST_Z_M], scenes_seen=1)  # pushed out of the camera's view by the first attempt
    assert len(attempts) == 2 and not attempts[1].executed and not any(a.success for a in attempts)
    assert attempts[1].reason.startswith("perception no longer sees the object")


def test_no_target_before_the_first_attempt_is_a_serving_error(monkeypatch):
    with pytest.raises(pick_demo.WaitTimeout, match="perception published no target cloud"):
        _run(monkeypatch, [REST_Z_M], scenes_seen=0)
