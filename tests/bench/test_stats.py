"""The harness's small statistics helpers."""

from bench.stats import percentile, quarters


def test_quarters_keep_every_value_in_order_in_four_nearly_equal_parts() -> None:
    values = list(range(10))
    parts = quarters(values)
    assert [list(p) for p in parts] == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    assert [v for p in parts for v in p] == values


def test_quarters_of_fewer_than_four_values_leave_empty_parts_not_an_error() -> None:
    parts = quarters([7.0, 8.0])
    assert [list(p) for p in parts] == [[], [7.0], [], [8.0]]
    assert percentile(parts[0], 99) != percentile(parts[0], 99)  # nan: nothing measured
