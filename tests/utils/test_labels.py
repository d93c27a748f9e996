import numpy as np
import pytest

from skpneumo.utils.labels import class_name


@pytest.mark.parametrize("label, name", [
    (0, "NORMAL"), (1, "PNEUMONIA"), (np.int64(1), "PNEUMONIA"), (np.int32(0), "NORMAL"),
    ("PNEUMONIA", "PNEUMONIA"), ("1", "1"), (np.str_("NORMAL"), "NORMAL"), ("b", "b"),
    (2, "2"), (-1, "-1"), (True, "True"), (np.bool_(False), "False"), (1.0, "1.0"),
])
def test_class_name_names_0_and_1_and_leaves_other_labels_alone(label, name):
    assert class_name(label) == name
