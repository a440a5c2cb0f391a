import pytest

from hub.store.line_protocol import line


def test_tags_sorted_escaped_and_empty_left_out():
    assert (
        line("water level", {"sensor_id": "a b", "node_id": "n,1", "admin_code": ""}, {"value": 1.5, "seq": 3}, 1000)
        == r"water\ level,node_id=n\,1,sensor_id=a\ b value=1.5,seq=3i 1000"
    )


def test_string_fields_quoted_and_escaped():
    assert line("m", {}, {"s": 'say "hi"\\'}, 1) == 'm s="say \\"hi\\"\\\\" 1'


def test_nan_refused():
    with pytest.raises(ValueError):
        line("m", {}, {"v": float("nan")}, 1)
