import numpy as np
import pytest

from keras_rk import datasets
from keras_rk.datasets import points

ALL = points.available_point_sets()


@pytest.mark.parametrize("name", ALL)
def test_shapes_dtypes_and_split(name):
    (x, y), (x_val, y_val) = datasets.load_points(name, num_train=30, num_val=20, seed=0)
    dim = points.input_dim_of(name)
    assert x.shape == (30, dim) and x_val.shape == (20, dim)
    assert y.shape == (30,) and y_val.shape == (20,)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert 0 <= y.min() and y.max() < points.num_classes_of(name)


@pytest.mark.parametrize("name", ALL)
def test_seeded(name):
    first = datasets.load_points(name, num_train=50, num_val=50, seed=3)
    again = datasets.load_points(name, num_train=50, num_val=50, seed=3)
    other = datasets.load_points(name, num_train=50, num_val=50, seed=4)
    np.testing.assert_array_equal(first[0][0], again[0][0])
    assert not np.array_equal(first[0][0], other[0][0])


def test_paper_sizes_by_default():
    (x, _), (x_val, _) = datasets.spiral(seed=0)
    assert len(x) == len(x_val) == 1500


@pytest.mark.parametrize("name", ALL)
def test_all_classes_present(name):
    (_, y), _ = datasets.load_points(name, seed=0)
    assert set(np.unique(y)) == set(range(points.num_classes_of(name)))


def test_labels_come_before_the_noise():
    # donut_1d: class 0 is |x1| < 1 before N(0, 0.5^2) noise, so a few points
    # lie on the wrong side of the border afterwards, but most do not.
    (x, y), _ = datasets.donut_1d(seed=0)
    inside = np.abs(x[:, 0]) < 1
    agreement = np.mean(inside == (y == 0))
    assert 0.75 < agreement < 0.99


def test_squares_classes_follow_quadrants_and_octants():
    # Without noise the class is a function of the signs; with noise 0.3 on
    # U(-4, 4) at least 90% of the points keep their sign pattern.
    (x, y), _ = datasets.squares(dim=2, num_classes=4, seed=0)
    quadrant = {(1, 1): 0, (-1, 1): 1, (-1, -1): 2, (1, -1): 3}
    expected = [quadrant[tuple(s)] for s in np.where(x >= 0, 1, -1)]
    assert np.mean(np.array(expected) == y) > 0.9
    (x, y), _ = datasets.squares(dim=3, num_classes=4, seed=0)
    opposite = np.where(x >= 0, 1, -1)
    same_class_for_opposite = {tuple(s): c for s, c in zip(opposite, y)}
    assert len(set(same_class_for_opposite.values())) == 4


def test_spiral_is_scaled_by_five():
    (x, _), _ = datasets.spiral(seed=0)
    # radius 2 phi + pi <= 5 pi before noise, so about pi after dividing by 5
    assert np.abs(x).max() < 5.0


def test_donut_shells():
    (x, y), _ = datasets.donut(dim=2, num_classes=6, seed=0)
    radius = np.linalg.norm(x, axis=1)
    means = [radius[y == c].mean() for c in range(6)]
    assert means == sorted(means)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: datasets.squares(dim=4, num_classes=4), r"dim 2 or 3\. Received: dim=4"),
        (lambda: datasets.squares(num_classes=3), r"expected 2 .* or 4 .*num_classes=3"),
        (lambda: datasets.donut(num_classes=1), r"`num_classes`, expected at least 2"),
        (lambda: datasets.donut(dim=1), r"`dim`, expected an integer of at least 2"),
        (lambda: datasets.spiral(num_train=0), r"`num_train`, expected a positive integer"),
        (lambda: datasets.spiral(seed=-1), r"`seed`, expected a non-negative integer"),
        (lambda: datasets.load_points("spirals"), r"expected one of \['donut_1d'.*spirals"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_facts_of_every_data_set_come_from_its_module():
    # keras_rk.datasets answers for point and image sets alike, from the facts
    # defined once in points.py and images.py.
    from keras_rk.datasets import images

    assert datasets.available_datasets() == [*ALL, *images.DATASETS]
    for name in ALL:
        assert datasets.input_dim_of(name) == points.input_dim_of(name)
        assert datasets.num_classes_of(name) == points.num_classes_of(name)
    for name in images.DATASETS:
        assert datasets.input_dim_of(name) == images.INPUT_DIM == 28 * 28
        assert datasets.num_classes_of(name) == images.NUM_CLASSES == 10
    with pytest.raises(ValueError, match=r"Unknown point data set `name`"):
        datasets.input_dim_of("cifar10")
