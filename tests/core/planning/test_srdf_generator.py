"""The SRDF's disabled collision pairs: a toy URDF with a known answer, and the committed Gen3 + LEAP SRDF
re-checked on fresh random states with coal directly (not through the generator's Pinocchio pair lists)."""

from itertools import combinations
from pathlib import Path

import coal
import numpy as np
import pinocchio as pin
import pytest

from flash_core.planning import write_robot_description
from flash_core.planning.srdf import (
    CollisionMatrixConfig,
    DisabledPair,
    UrdfCollisionModel,
    disabled_collision_pairs,
    read_disabled_pairs,
    srdf_xml,
)

ROOT = Path(__file__).resolve().parents[3]
COMMITTED_SRDF = ROOT / "src/gen3_leap_moveit_config/config/gen3_leap.srdf"

# base (box) -> l1 (revolute z) -> l2 (revolute z, a small box 1 m out); post: fixed on base, inside l1's box
# at every angle; mount: fixed on base, no geometry, carries tool 2 m away.
TOY_URDF = """<?xml version="1.0"?>
<robot name="toy">
  <link name="base"><collision><geometry><box size="0.2 0.2 0.1"/></geometry></collision></link>
  <link name="l1"><collision><origin xyz="0 0 0.1"/><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link>
  <link name="l2"><collision><origin xyz="1 0 0"/><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link>
  <link name="post"><collision><geometry><box size="0.05 0.05 0.05"/></geometry></collision></link>
  <link name="mount"/>
  <link name="tool"><collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/><origin xyz="0 0 0.1"/>
    <axis xyz="0 0 1"/><limit lower="-1.5" upper="1.5" effort="1" velocity="1"/></joint>
  <joint name="j2" type="revolute"><parent link="l1"/><child link="l2"/><origin xyz="0 0 0.2"/>
    <axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="post_joint" type="fixed"><parent link="base"/><child link="post"/><origin xyz="0 0 0.2"/></joint>
  <joint name="mount_joint" type="fixed"><parent link="base"/><child link="mount"/><origin xyz="0 2 0"/></joint>
  <joint name="tool_joint" type="fixed"><parent link="mount"/><child link="tool"/></joint>
</robot>
"""


@pytest.fixture(scope="module")
def urdf_path(tmp_path_factory) -> Path:
    return write_robot_description(tmp_path_factory.mktemp("gen3_leap"))["urdf"]


def test_toy_robot_gets_setup_assistants_answer(tmp_path):
    path = tmp_path / "toy.urdf"
    path.write_text(TOY_URDF)
    pairs = disabled_collision_pairs(path, CollisionMatrixConfig(n_samples=300, always_samples=100), progress=False)
    assert pairs == [
        DisabledPair("base", "l1", "Adjacent"),
        DisabledPair("base", "l2", "Never"),
        DisabledPair("base", "post", "Adjacent"),
        DisabledPair("base", "tool", "Adjacent"),  # joined through the geometry-less mount
        DisabledPair("l1", "l2", "Adjacent"),
        DisabledPair("l1", "post", "Default"),
        DisabledPair("l1", "tool", "Never"),
        DisabledPair("l2", "post", "Never"),
        DisabledPair("l2", "tool", "Never"),
        DisabledPair("post", "tool", "Never"),
    ]


def test_default_state_is_moveits(tmp_path):
    """0 where the limits allow it, else mid-range (MoveIt's RobotState::setToDefaultValues)."""
    path = tmp_path / "offset.urdf"
    path.write_text(TOY_URDF.replace('lower="-1.5" upper="1.5"', 'lower="0.5" upper="1.5"'))
    model = UrdfCollisionModel(path)
    np.testing.assert_allclose(model.default_q(), [1.0, 0.0])


def test_committed_srdf_is_the_generators_output(urdf_path):
    """Deterministic: the default mount and config reproduce the SRDF in gen3_leap_moveit_config."""
    regenerated = srdf_xml(urdf_path, disabled_collision_pairs(urdf_path, progress=False))
    assert regenerated == COMMITTED_SRDF.read_text()


def _link_geometries(model: UrdfCollisionModel) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for index, link in enumerate(model.geometry_link):
        out.setdefault(link, []).append(index)
    return out


def _links_touch(model, gdata, by_link, a: str, b: str) -> bool:
    request = coal.CollisionRequest()
    for i in by_link[a]:
        for j in by_link[b]:
            gi, gj = model.geometry.geometryObjects[i], model.geometry.geometryObjects[j]
            pi, pj = gdata.oMg[i], gdata.oMg[j]
            result = coal.CollisionResult()
            if coal.collide(gi.geometry, coal.Transform3s(pi.rotation, pi.translation), gj.geometry,
                            coal.Transform3s(pj.rotation, pj.translation), request, result):
                return True
    return False


def test_disabled_pairs_hold_on_fresh_states(urdf_path):
    model = UrdfCollisionModel(urdf_path)
    by_link = _link_geometries(model)
    pairs = read_disabled_pairs(COMMITTED_SRDF)
    by_reason = {reason: [(p.link1, p.link2) for p in pairs if p.reason == reason] for reason in
                 ("Adjacent", "Default", "Always", "Never")}
    assert len(by_reason["Never"]) > 50 and sum(map(len, by_reason.values())) == len(pairs)
    # Adjacent: joined by a URDF joint (this model has collision geometry on every link).
    assert set(model.links_with_geometry) == set(model.links)
    joined = {frozenset(edge) for edge in model.joints}
    assert all(frozenset(p) in joined for p in by_reason["Adjacent"])

    data, gdata = model.model.createData(), model.geometry.createData()

    def place(q):
        pin.updateGeometryPlacements(model.model, data, model.geometry, gdata, q)

    place(model.default_q())
    assert all(_links_touch(model, gdata, by_link, a, b) for a, b in by_reason["Default"])
    states = model.random_q(np.random.default_rng(12345), 400)  # not the generator's seed
    disabled = {frozenset(p) for p in sum(by_reason.values(), [])}
    enabled = [p for p in combinations(model.links_with_geometry, 2) if frozenset(p) not in disabled]
    always_hits, enabled_hits = np.zeros(len(by_reason["Always"])), 0
    for q in states:
        place(q)
        for a, b in by_reason["Never"]:
            assert not _links_touch(model, gdata, by_link, a, b), f"'Never' pair {a}-{b} collides at {q}"
        always_hits += [_links_touch(model, gdata, by_link, a, b) for a, b in by_reason["Always"]]
        enabled_hits += any(_links_touch(model, gdata, by_link, a, b) for a, b in enabled)
    assert np.all(always_hits >= 0.9 * len(states))
    assert enabled_hits > 0.1 * len(states)  # the same check does see the collisions MoveIt must keep checking


def test_pinocchio_accepts_the_srdf(urdf_path):
    """pin.removeCollisionPairs reads the SRDF and removes exactly the pairs between disabled links."""
    model = pin.buildModelFromUrdf(str(urdf_path))
    geometry = pin.buildGeomFromUrdf(model, str(urdf_path), pin.COLLISION)
    geometry.addAllCollisionPairs()
    link = [model.frames[o.parentFrame].name for o in geometry.geometryObjects]
    disabled = {frozenset((p.link1, p.link2)) for p in read_disabled_pairs(COMMITTED_SRDF)}
    expected = {(cp.first, cp.second) for cp in geometry.collisionPairs
                if frozenset((link[cp.first], link[cp.second])) not in disabled}
    pin.removeCollisionPairs(model, geometry, str(COMMITTED_SRDF))
    remaining = {(cp.first, cp.second) for cp in geometry.collisionPairs}
    assert remaining == expected and 0 < len(remaining) < len(link) ** 2


def test_bad_inputs_fail_clearly(tmp_path, urdf_path):
    with pytest.raises(FileNotFoundError, match="flash robot-description"):
        UrdfCollisionModel(tmp_path / "missing.urdf")
    with pytest.raises(ValueError, match="always_fraction"):
        CollisionMatrixConfig(always_fraction=1.5)
    toy = tmp_path / "toy.urdf"
    toy.write_text(TOY_URDF)
    with pytest.raises(ValueError, match="not the Gen3 \\+ LEAP assembly"):
        srdf_xml(toy, [])
    with pytest.raises(ValueError, match="unknown links"):
        srdf_xml(urdf_path, [DisabledPair("base_link", "no_such_link", "Never")])


def test_command_writes_the_srdf_beside_the_urdf(tmp_path, capsys):
    from flash_core.cli import main

    main(["robot-description", "--out", str(tmp_path), "--srdf", "--srdf-samples", "300", "--srdf-seed", "7"])
    printed = capsys.readouterr().out
    srdf = tmp_path / "gen3_leap.srdf"
    assert f"srdf  {srdf}" in printed and (tmp_path / "gen3_leap.urdf").is_file()
    pairs = read_disabled_pairs(srdf)
    # Fewer states see fewer contacts: a superset of the committed (10 000-state) Never verdicts.
    committed_never = {(p.link1, p.link2) for p in read_disabled_pairs(COMMITTED_SRDF) if p.reason == "Never"}
    assert committed_never <= {(p.link1, p.link2) for p in pairs if p.reason == "Never"}
