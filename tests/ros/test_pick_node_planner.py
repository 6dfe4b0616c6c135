"""flash_motion's `planner` parameter: OMPL by default; `moveit` names what it needs where moveit_py is absent.
And the controller time limits: bad values stop the node at start, naming the parameters."""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter

from flash_core.planning import OmplPlanner
from flash_core.utils.require import MissingDependencyError

pytestmark = pytest.mark.ros


def _node(ros_context, **parameters):
    from flash_motion.pick_node import PickNode

    return PickNode(context=ros_context,
                    parameter_overrides=[Parameter(name, value=value) for name, value in parameters.items()])


def test_ompl_is_the_default_planner(ros_context):
    node = _node(ros_context)
    try:
        assert node.get_parameter("planner").value == "ompl"
        assert isinstance(node.planner, OmplPlanner)
    finally:
        node.destroy_node()


def test_moveit_planner_names_moveit_when_unavailable(ros_context):
    with pytest.raises(MissingDependencyError, match=r"MoveItPyPlanner .*ROS 2 Jazzy \+ MoveIt 2 \(moveit_py\)"):
        _node(ros_context, planner="moveit")


def test_unknown_planner_lists_the_choices(ros_context):
    with pytest.raises(ValueError, match=r"planner must be one of \('ompl', 'moveit'\), got 'chomp'"):
        _node(ros_context, planner="chomp")


@pytest.mark.parametrize("parameters", [{"controller_timeout_s": 0.0}, {"execution_duration_scaling": 0.9},
                                        {"execution_margin_s": -1.0}])
def test_bad_controller_time_limits_fail_at_start(ros_context, parameters):
    with pytest.raises(ValueError, match=r"controller_timeout_s must be > 0, execution_duration_scaling >= 1 and "
                                         r"execution_margin_s >= 0, got"):
        _node(ros_context, **parameters)
