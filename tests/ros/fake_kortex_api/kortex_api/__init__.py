"""A test double of Kinova's kortex_api (not on PyPI): only the classes and calls flash_motion's kortex worker
uses, with the module layout of the real wheel, so the worker runs unmodified against it. Every call is
recorded as a JSON line in $FAKE_KORTEX_LOG. $FAKE_KORTEX_MODE picks what a trajectory does: "end"
(default; ACTION_START then ACTION_END), "abort" (ACTION_ABORT), "reject" (ValidateWaypointList reports an
error), "crash" (the process exits with code 3). $FAKE_KORTEX_TIME_SCALE: seconds of motion per trajectory
second (default 0)."""
