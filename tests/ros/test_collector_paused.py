"""flash_ros.spinning.collector_paused: the garbage collector is off inside, and its earlier state comes back."""

import gc

import pytest

from flash_ros.spinning import collector_paused


@pytest.mark.parametrize("enabled_before", [True, False])
def test_collector_is_off_inside_and_restored_after_an_error(enabled_before):
    (gc.enable if enabled_before else gc.disable)()
    try:
        with pytest.raises(RuntimeError), collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("a failing wait")
        assert gc.isenabled() == enabled_before
    finally:
        gc.enable()
