"""The Fast DDS profiles the graph and the tests set (config/fastdds_*.xml) load without parser errors: Fast DDS
reports a bad element on stderr and goes on with its defaults, so a typo would silently undo them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

CONFIG = Path(__file__).resolve().parents[2] / "config"
START_A_NODE = ("import rclpy; from rclpy.node import Node; rclpy.init(); node = Node('profile_check'); "
                "node.destroy_node(); rclpy.shutdown(); print('started')")


@pytest.mark.parametrize("profile", ["fastdds_services.xml", "fastdds_sim.xml"])
def test_profile_loads_without_errors(profile, ros_env):
    done = subprocess.run([sys.executable, "-c", START_A_NODE], capture_output=True, text=True, timeout=60,
                          env={**ros_env, "FASTDDS_DEFAULT_PROFILES_FILE": str(CONFIG / profile)})
    assert done.returncode == 0 and done.stdout.strip() == "started", done.stderr
    assert "Error" not in done.stderr, done.stderr


def test_a_broken_profile_is_reported(ros_env, tmp_path):
    """The check above can fail: a misspelt element shows up on stderr."""
    broken = tmp_path / "broken.xml"
    broken.write_text((CONFIG / "fastdds_services.xml").read_text().replace("<sec>", "<secs>")
                      .replace("</sec>", "</secs>"))
    done = subprocess.run([sys.executable, "-c", START_A_NODE], capture_output=True, text=True, timeout=60,
                          env={**ros_env, "FASTDDS_DEFAULT_PROFILES_FILE": str(broken)})
    assert "XMLPARSER" in done.stderr and "Error" in done.stderr
