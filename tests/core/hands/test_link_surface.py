"""Per-link reductions over the points of a hand's collision surface."""

import torch

from flash_core.hands.link_surface import per_link_argmin, per_link_min


def test_each_link_gets_its_minimum_and_the_first_point_reaching_it():
    link_index = torch.tensor([0, 1, 0, 1, 0, 3])  # link 2 has no points
    values = torch.tensor([[3.0, 2.0, 1.0, 2.0, 1.0, torch.inf],
                           [-1.0, 5.0, 0.0, 4.0, 2.0, 7.0]])
    minimum, first = per_link_argmin(values, link_index, 4)
    torch.testing.assert_close(minimum, per_link_min(values, link_index, 4))
    torch.testing.assert_close(minimum, torch.tensor([[1.0, 2.0, torch.inf, torch.inf], [-1.0, 4.0, torch.inf, 7.0]]))
    # Ties take the first column (2 before 4, 1 before 3); no point or only infinite values: the column count.
    assert first.tolist() == [[2, 1, 6, 6], [0, 3, 6, 5]]
