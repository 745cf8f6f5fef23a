"""xpnet.datasets: toy generators (shapes, dtypes, seeds, balance, geometry) and load_csv."""

import numpy as np
import pytest

from xpnet import datasets

GENERATORS = {
    "two_moons": datasets.two_moons,
    "circles": datasets.circles,
    "xor": datasets.xor,
    "spirals": datasets.spirals,
}


# -- generators -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("n", [1, 7, 200])
def test_shapes_and_dtypes(name, n):
    if name == "spirals":
        n = max(n, 2)  # one sample per class at least
    X, y = GENERATORS[name](n, seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    assert set(np.unique(y)) <= {0, 1}


@pytest.mark.parametrize("name", GENERATORS)
def test_same_seed_same_data(name):
    make = GENERATORS[name]
    X1, y1 = make(50, noise=0.1, seed=3)
    X2, y2 = make(50, noise=0.1, seed=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _ = make(50, noise=0.1, seed=4)
    assert not np.array_equal(X1, X3)
    X4, y4 = make(50, noise=0.1, seed=np.random.default_rng(3))  # a Generator is accepted
    np.testing.assert_array_equal(X1, X4)


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("n", [100, 101])
def test_classes_are_balanced(name, n):
    _, y = GENERATORS[name](n, seed=0)
    counts = np.bincount(y, minlength=2)
    assert counts.sum() == n
    assert counts.max() - counts.min() <= (2 if name == "xor" else 1)


def test_rows_are_shuffled():
    _, y = datasets.two_moons(100, seed=0)
    assert not np.array_equal(y, np.sort(y))


def test_two_moons_geometry():
    X, y = datasets.two_moons(101, noise=0.0, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    assert len(upper) == 50 and len(lower) == 51  # as scikit-learn: class 1 gets the odd sample
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert np.all(upper[:, 1] >= -1e-12) and np.all(lower[:, 1] <= 0.5 + 1e-12)


def test_two_moons_and_circles_match_sklearn_without_noise():
    skd = pytest.importorskip("sklearn.datasets")
    def rows_sorted(A):
        return A[np.lexsort(np.round(A, 9).T[::-1])]

    for ours, theirs, kwargs in ((datasets.two_moons, skd.make_moons, {}),
                                 (datasets.circles, skd.make_circles, {"factor": 0.5})):
        for n in (10, 11):
            X, y = ours(n, noise=0.0, seed=0, **kwargs)
            Xs, ys = theirs(n, noise=None, random_state=0, **kwargs)
            for label in (0, 1):  # the same points in each class, in any order
                np.testing.assert_allclose(rows_sorted(X[y == label]),
                                           rows_sorted(Xs[ys == label]), atol=1e-12)


def test_circles_radii():
    X, y = datasets.circles(40, noise=0.0, factor=0.3, seed=1)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)


def test_xor_four_points():
    X, y = datasets.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert y.dtype == np.int64


def test_xor_more_points_follow_their_corner():
    X, y = datasets.xor(400, noise=0.1, seed=0)
    corner = (X > 0.5).astype(np.int64)  # noise 0.1: nearly every point stays in its quadrant
    agree = np.mean((corner[:, 0] ^ corner[:, 1]) == y)
    assert agree > 0.97
    exact, labels = datasets.xor(9, seed=0)
    assert set(map(tuple, exact)) == {(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}
    np.testing.assert_array_equal(labels, exact[:, 0].astype(int) ^ exact[:, 1].astype(int))


def test_spirals_classes_and_radius():
    X, y = datasets.spirals(301, n_classes=3, noise=0.0, seed=0)
    assert set(np.unique(y)) == {0, 1, 2}
    assert sorted(np.bincount(y)) == [100, 100, 101]
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() == pytest.approx(1.0) and r.min() == pytest.approx(0.05)
    # arm 2 is arm 1 rotated by 2π/3 (both have 100 points): compare points of equal radius
    rot = 2 * np.pi / 3
    R = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    arm1, arm2 = X[y == 1], X[y == 2]
    arm1, arm2 = arm1[np.argsort(np.hypot(*arm1.T))], arm2[np.argsort(np.hypot(*arm2.T))]
    np.testing.assert_allclose(arm2, arm1 @ R.T, atol=1e-12)


@pytest.mark.parametrize("name", GENERATORS)
def test_argument_errors(name):
    make = GENERATORS[name]
    with pytest.raises(ValueError, match="n must be at least"):
        make(0)
    with pytest.raises(ValueError, match="n must be at least"):
        make(-5)
    with pytest.raises(ValueError, match="noise"):
        make(10, noise=-0.1)
    with pytest.raises(ValueError, match="noise"):
        make(10, noise=float("nan"))
    with pytest.raises(TypeError, match="n must be an int"):
        make(10.5)


def test_more_argument_errors():
    with pytest.raises(ValueError, match="factor"):
        datasets.circles(10, factor=1.0)
    with pytest.raises(ValueError, match="factor"):
        datasets.circles(10, factor=-0.1)
    with pytest.raises(ValueError, match="n_classes must be at least 2"):
        datasets.spirals(10, n_classes=1)
    with pytest.raises(ValueError, match="n must be at least 3"):
        datasets.spirals(2, n_classes=3)


# -- load_csv -------------------------------------------------------------------------------------

def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_csv_happy_path(tmp_path):
    path = write(tmp_path, "x1,x2,label\n1.5,2,0\n-3,4e-1,1\n\n0, 7 ,1\n")
    X, y, names = datasets.load_csv(path, target="label")
    np.testing.assert_array_equal(X, [[1.5, 2.0], [-3.0, 0.4], [0.0, 7.0]])
    assert X.dtype == np.float64
    np.testing.assert_array_equal(y, [0, 1, 1])
    assert y.dtype == np.int64
    assert names == ["x1", "x2"]


def test_load_csv_target_by_index_and_default(tmp_path):
    path = write(tmp_path, "y,a,b\n1,2,3\n4,5,6\n")
    X, y, names = datasets.load_csv(str(path), target=0)
    np.testing.assert_array_equal(y, [1, 4])
    assert names == ["a", "b"]
    np.testing.assert_array_equal(X, [[2, 3], [5, 6]])
    X, y, names = datasets.load_csv(path)  # default: the last column
    assert names == ["y", "a"] and y.tolist() == [3, 6]
    _, y, names = datasets.load_csv(path, target=-2)
    assert names == ["y", "b"] and y.tolist() == [2, 5]


def test_load_csv_float_target_and_delimiter(tmp_path):
    path = write(tmp_path, "a;price\n1;2.5\n2;3.0\n")
    X, y, names = datasets.load_csv(path, target="price", delimiter=";")
    assert y.dtype == np.float64 and y.tolist() == [2.5, 3.0]
    path = write(tmp_path, "a,label\n1,2.0\n2,3\n", "ints.csv")
    _, y, _ = datasets.load_csv(path, target="label")
    assert y.dtype == np.int64 and y.tolist() == [2, 3]  # integer-valued floats are integers


def test_load_csv_quoted_fields_and_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes('\ufeff"x, one",y\n"1",0\n'.encode())
    X, y, names = datasets.load_csv(path, target="y")
    assert names == ["x, one"] and X.tolist() == [[1.0]]


@pytest.mark.parametrize("bad, message", [
    ("abc", "'abc' is not a number"),
    ("", "missing value"),
    ("  ", "missing value"),
    ("nan", "'nan' is not a finite number"),
    ("inf", "'inf' is not a finite number"),
])
def test_load_csv_bad_value_names_file_line_and_column(tmp_path, bad, message):
    rows = ["x1,x2,y"] + [f"{i},{i + 1},0" for i in range(15)] + [f"3,{bad},1", "4,5,0"]
    path = write(tmp_path, "\n".join(rows) + "\n")
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path, target="y")
    text = str(info.value)
    assert text == f"{path}, line 17, column 'x2': {message}"


def test_load_csv_bad_target_value(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n2,?\n")
    with pytest.raises(ValueError, match=r"line 3, column 'y': '\?' is not a number"):
        datasets.load_csv(path, target="y")


def test_load_csv_line_numbers_count_blank_lines(tmp_path):
    path = write(tmp_path, "a,y\n\n1,0\n\n\nx,1\n")
    with pytest.raises(ValueError, match="line 6, column 'a'"):
        datasets.load_csv(path, target="y")


def test_load_csv_wrong_field_count(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,0\n1,2\n")
    with pytest.raises(ValueError, match=r"data.csv, line 3: 2 fields, but the header has 3"):
        datasets.load_csv(path, target="y")


def test_load_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        datasets.load_csv(tmp_path / "nope.csv", target="y")


def test_load_csv_unknown_target_lists_columns(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match=r"target 'label' is not a column; columns are \['a', 'b', "
                                         r"'c'\]"):
        datasets.load_csv(path, target="label")
    with pytest.raises(ValueError, match=r"target index 3 is out of range.*\['a', 'b', 'c'\]"):
        datasets.load_csv(path, target=3)
    with pytest.raises(TypeError, match="target must be"):
        datasets.load_csv(path, target=1.0)


@pytest.mark.parametrize("text, message", [
    ("", "no header row"),
    ("\n", "no header row"),
    ("a,y\n", "no data rows"),
    ("a,y\n\n\n", "no data rows"),
    ("y\n1\n", "no feature columns"),
    ("a,a,y\n1,2,3\n", "duplicate column names \\['a'\\]"),
])
def test_load_csv_empty_or_malformed(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message):
        datasets.load_csv(path, target="y" if "y" in text else -1)


def test_load_csv_without_a_target_reads_every_column(tmp_path):
    path = tmp_path / "features.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    X, y, names = datasets.load_csv(path, target=None)
    assert y is None and names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])
