"""Layout checks of packed point records: good layouts pass, and each rule broken once is named."""

import pytest

from flash_core.packed_points import PackedField, PointLayoutError, check_packed_layout

XYZ = [PackedField("x", 0, 4, 1), PackedField("y", 4, 4, 1), PackedField("z", 8, 4, 1)]


def _check(fields=XYZ, point_step=16, width=5, height=2, row_step=None, data_bytes=None, **kwargs):
    row_step = width * point_step if row_step is None else row_step
    data_bytes = height * row_step if data_bytes is None else data_bytes
    check_packed_layout(fields, point_step=point_step, width=width, height=height, row_step=row_step,
                        data_bytes=data_bytes, **kwargs)


def test_padded_rows_extra_fields_and_empty_clouds_pass():
    _check(row_step=5 * 16 + 8)  # rows padded by 8 bytes
    _check(fields=[*XYZ, PackedField("rgb", 12, 1, 4)], scalar_fields=("x", "y", "z"))
    _check(width=0, height=0, data_bytes=0)  # an empty cloud has nothing to misread


@pytest.mark.parametrize("change, words", [
    ({"point_step": 8}, "'z' (offset 8, 1 x 4 bytes) ends at byte 12, past point_step 8"),
    ({"fields": [*XYZ[:2], PackedField("z", 20, 4, 1)]}, "past point_step 16"),
    ({"fields": [*XYZ, PackedField("x", 12, 4, 1)]}, "'x' appears more than once"),
    ({"fields": [*XYZ, PackedField("i", -4, 4, 1)]}, "offset -4"),
    ({"row_step": 5 * 16 - 4}, "row_step 76 is shorter than a row of 5 points"),
    ({"data_bytes": 2 * 80 + 5}, "holds 165 bytes"),
    ({"data_bytes": 2 * 80 - 1}, "holds 159 bytes"),
    ({"fields": [*XYZ[:2], PackedField("z", 8, 4, 2)], "scalar_fields": ("z",)}, "'z' must hold one element"),
    ({"point_step": 0, "fields": []}, "point_step is 0"),
    ({"width": -1}, "width -1"),
])
def test_each_broken_rule_is_named(change, words):
    with pytest.raises(PointLayoutError) as error:
        _check(**change)
    assert words in str(error.value)
