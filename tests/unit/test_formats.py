"""Channel format detection and reading: class folders, GTSRB layout, pickles, npz, labels."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from byoc.data.formats import SIGNNAMES_FILE, list_channel, read_channel, write_class_names
from byoc.errors import UserError

SIZE = (16, 16)
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _image(path: Path, colour=RED, size=(20, 14)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _framed(path: Path, roi: tuple[int, int, int, int], size=(40, 30)) -> Path:
    """A blue image with a red box at roi (x1, y1, x2, y2 inclusive, as GTSRB writes them)."""
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[...] = BLUE
    x1, y1, x2, y2 = roi
    arr[y1:y2 + 1, x1:x2 + 1] = RED
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _pickle(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


def _signs(n: int, classes: int = 3, side: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    return x, np.arange(n) % classes


# --- (a) class folders --------------------------------------------------------------------


def test_folders_any_format_and_size(tmp_path):
    _image(tmp_path / "dog" / "a.png", RED, (40, 25))
    _image(tmp_path / "dog" / "b.jpg", RED, (8, 8))
    _image(tmp_path / "cat" / "c.ppm", BLUE, (32, 32))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = read_channel(tmp_path, SIZE)
    assert data.format == "folders"
    assert data.class_names == ["cat", "dog"]
    assert data.x.shape == (3, 16, 16, 3) and data.x.dtype == np.uint8
    assert data.y.dtype == np.int64
    assert data.y.tolist() == [0, 1, 1]
    assert data.x[0, 8, 8].tolist() == list(BLUE)
    assert data.skipped == 0 and data.test is None


def test_numeric_folders_sort_numerically(tmp_path):
    for name in ("10", "2", "00001"):
        _image(tmp_path / name / "x.png")
    data = read_channel(tmp_path, SIZE)
    assert data.class_names == ["1", "2", "10"]
    assert sorted(data.y.tolist()) == [0, 1, 2]


def test_signnames_override_numeric_folders(tmp_path):
    _image(tmp_path / "00" / "x.png")
    _image(tmp_path / "02" / "y.png")
    write_class_names(tmp_path / SIGNNAMES_FILE, ["Stop", "Yield", "Priority road"])
    data = read_channel(tmp_path, SIZE)
    assert data.class_names == ["Stop", "Yield", "Priority road"]
    assert data.y.tolist() == [0, 2]  # index = ClassId, also for a class with no images


def test_grayscale_channel(tmp_path):
    _image(tmp_path / "a" / "x.png", (200, 100, 50))
    data = read_channel(tmp_path, SIZE, channels=1)
    assert data.x.shape == (1, 16, 16, 1)
    expected = np.asarray(Image.new("RGB", (1, 1), (200, 100, 50)).convert("L"))[0, 0]
    assert data.x[0, 0, 0, 0] == expected


def test_unreadable_images_are_skipped_counted_and_logged_once(tmp_path, caplog):
    _image(tmp_path / "a" / "good.png")
    _image(tmp_path / "b" / "good.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "b" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="byoc.data.formats"):
        data = read_channel(tmp_path, SIZE)
    assert data.skipped == 2
    assert len(data.y) == 2 and data.y.tolist() == [0, 1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2 unreadable" in warnings[0].getMessage()


def test_all_images_unreadable_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.png").write_bytes(b"nope")
    with pytest.raises(UserError, match="none of its 1 image files could be read"):
        read_channel(tmp_path, SIZE)


def test_wrapper_directory_is_entered(tmp_path):
    _image(tmp_path / "dataset" / "a" / "x.png")
    _image(tmp_path / "dataset" / "b" / "x.png")
    assert read_channel(tmp_path, SIZE).class_names == ["a", "b"]


def test_hidden_files_are_ignored(tmp_path):
    _image(tmp_path / "a" / "x.png")
    _image(tmp_path / "b" / "x.png")
    (tmp_path / "a" / "._x.png").write_bytes(b"macOS resource fork")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    data = read_channel(tmp_path, SIZE)
    assert data.skipped == 0 and len(data.y) == 2


# --- errors for empty and unknown channels -----------------------------------------------


def test_missing_channel(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_channel(tmp_path / "nope", SIZE)


def test_empty_channel(tmp_path):
    with pytest.raises(UserError, match="is empty.*Accepted formats"):
        read_channel(tmp_path, SIZE, name="validation")


@pytest.mark.parametrize(
    ("files", "hint"),
    [
        ({"readme.txt": b"hello"}, "It holds: readme.txt"),
        ({"signs.zip": b"PK"}, "extract it"),
        ({"a.png": None}, "one folder per class"),
    ],
)
def test_unrecognised_channel(tmp_path, files, hint):
    for name, content in files.items():
        if content is None:
            _image(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError) as err:
        read_channel(tmp_path, SIZE)
    assert hint in str(err.value) and "Accepted formats" in str(err.value)


def test_class_folders_without_images(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "labels.txt").write_text("x")
    with pytest.raises(UserError, match=r"has folders \(a, b\) but no image files"):
        read_channel(tmp_path, SIZE)


# --- (b) GTSRB layout ---------------------------------------------------------------------


def _gtsrb(root):
    """A GTSRB layout: two classes of framed images with their boxes, and a labelled Test/."""
    roi = (5, 4, 24, 19)
    for cls in ("0", "1"):
        for i in range(2):
            _framed(root / "Train" / cls / f"{cls}_{i}.png", roi)
    (root / "Train.csv").write_text(
        "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path\n"
        + "".join(f"40,30,5,4,24,19,{c},Train/{c}/{c}_{i}.png\n" for c in "01" for i in range(2))
    )
    _framed(root / "Test" / "00000.png", (10, 2, 30, 27))
    _framed(root / "Test" / "00001.png", (1, 1, 20, 20))
    (root / "Test.csv").write_text(
        "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path\n"
        "40,30,10,2,30,27,1,Test/00000.png\n"
        "40,30,1,1,20,20,0,Test/00001.png\n"
    )
    (root / "Meta.csv").write_text("Path,ClassId\n")


def test_gtsrb_layout_crops_to_roi_and_reads_test_csv(tmp_path):
    _gtsrb(tmp_path)
    data = read_channel(tmp_path, SIZE)
    assert data.format == "gtsrb"
    assert data.class_names == ["0", "1"]
    assert data.y.tolist() == [0, 0, 1, 1]
    # Cropped to the red box: no blue left anywhere.
    assert (data.x[..., 2] == 0).all() and (data.x[..., 0] == 255).all()
    assert data.test is not None
    assert data.test.y.tolist() == [1, 0]
    assert data.test.class_names == data.class_names
    assert (data.test.x[..., 2] == 0).all()


def test_listing_and_reading_label_a_channel_and_its_test_split_alike(tmp_path):
    """`list_channel` (streaming) and `read_channel` (in memory) share one labelling: the
    channel's names table (signnames.csv), and the test split on the channel's classes."""
    _gtsrb(tmp_path)
    write_class_names(tmp_path / "signnames.csv", ["stop", "yield"])
    listing, data = list_channel(tmp_path), read_channel(tmp_path, SIZE)
    assert listing.class_names == data.class_names == ["stop", "yield"]
    assert listing.y.tolist() == data.y.tolist() == [0, 0, 1, 1]
    assert listing.test.class_names == data.test.class_names == ["stop", "yield"]
    assert listing.test.y.tolist() == data.test.y.tolist() == [1, 0]


def test_gtsrb_per_class_gt_csv(tmp_path):
    images = tmp_path / "Final_Training" / "Images"
    for cls in ("00000", "00001"):
        _framed(images / cls / "00000_00000.ppm", (3, 3, 12, 12), (20, 20))
        (images / cls / f"GT-{cls}.csv").write_text(
            "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
            f"00000_00000.ppm;20;20;3;3;12;12;{int(cls)}\n"
        )
    for channel in (tmp_path, images):
        data = read_channel(channel, SIZE)
        assert data.format == "gtsrb"
        assert data.class_names == ["0", "1"]
        assert (data.x[..., 2] == 0).all()


def test_gtsrb_test_csv_without_class_id_is_not_used(tmp_path):
    _image(tmp_path / "Train" / "0" / "a.png")
    _image(tmp_path / "Train" / "1" / "a.png")
    _image(tmp_path / "Test" / "00000.png")
    (tmp_path / "Test.csv").write_text("Width,Height,Path\n20,14,Test/00000.png\n")
    data = read_channel(tmp_path, SIZE)
    assert data.test is None and len(data.y) == 2


def test_split_layout_root(tmp_path):
    """A dataset root with train/ and test/ folders (as `byoc data synth` writes) also reads."""
    for split in ("train", "test"):
        _image(tmp_path / split / "00" / "a.png")
        _image(tmp_path / split / "01" / "a.png", BLUE)
        write_class_names(tmp_path / split / SIGNNAMES_FILE, ["Stop", "Yield"])
    data = read_channel(tmp_path, SIZE)
    assert data.class_names == ["Stop", "Yield"]
    assert data.test is not None and data.test.y.tolist() == [0, 1]


# --- (c) pickle and (d) npz ---------------------------------------------------------------


def test_pickle_features_labels(tmp_path):
    x, y = _signs(12)
    _pickle(tmp_path / "train.p", {"features": x, "labels": y, "sizes": None, "coords": None})
    data = read_channel(tmp_path, (32, 32))
    assert data.format == "pickle"
    assert np.array_equal(data.x, x)
    assert data.class_names == ["0", "1", "2"]
    assert data.y.tolist() == y.tolist()


def test_unpickling_warns_naming_the_file(tmp_path, caplog):
    x, y = _signs(12)
    path = _pickle(tmp_path / "train.p", {"features": x, "labels": y})
    with caplog.at_level(logging.WARNING, logger="byoc.data.formats"):
        read_channel(tmp_path, (32, 32))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Unpickling {path}" in w and "any code" in w for w in warnings), warnings


def test_pickle_is_resized_and_made_grayscale(tmp_path):
    x, y = _signs(4)
    _pickle(tmp_path / "train.p", {"features": x, "labels": y})
    data = read_channel(tmp_path, (24, 20), channels=1)
    assert data.x.shape == (4, 24, 20, 1)
    expected = np.asarray(Image.fromarray(x[1]).convert("L").resize((20, 24), Image.BILINEAR))
    assert np.array_equal(data.x[1, ..., 0], expected)


def test_pickle_with_test_split_and_signnames(tmp_path):
    x, y = _signs(6)
    _pickle(tmp_path / "train.p", {"features": x, "labels": y})
    _pickle(tmp_path / "valid.p", {"features": x[:2], "labels": y[:2]})
    _pickle(tmp_path / "test.p", {"features": x[:3], "labels": np.array([2, 1, 0])})
    write_class_names(tmp_path / "signnames.csv", ["a", "b", "c"])
    data = read_channel(tmp_path, (32, 32))
    assert data.class_names == ["a", "b", "c"]
    assert len(data.y) == 6  # valid.p belongs in the validation channel, not here
    assert data.test.y.tolist() == [2, 1, 0]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"images_x": 1, "y_labels": 2}, "has keys 'images_x', 'y_labels'; expected"),
        ({"features": np.zeros((3, 32)), "labels": [0, 1, 2]}, "'features' has shape"),
        ({"features": np.zeros((3, 8, 8, 3), np.uint8), "labels": [0, 1]}, "3 images but"),
        ({"features": np.zeros((2, 8, 8, 3), np.uint8), "labels": np.zeros((2, 2, 2))},
         "'labels' has shape"),
        ({"features": np.full((2, 8, 8, 3), 300.0), "labels": [0, 1]}, "values from 300"),
        ([1, 2, 3], "holds a list; expected a dict"),
    ],
)
def test_bad_pickles(tmp_path, obj, message):
    _pickle(tmp_path / "train.p", obj)
    with pytest.raises(UserError, match="train.p") as err:
        read_channel(tmp_path, SIZE)
    assert message in str(err.value)


def test_unreadable_pickle(tmp_path):
    (tmp_path / "train.p").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="not a readable pickle"):
        read_channel(tmp_path, SIZE)


@pytest.mark.parametrize(("xkey", "ykey"), [("x", "y"), ("features", "labels"),
                                             ("images", "labels")])
def test_npz(tmp_path, xkey, ykey):
    x, y = _signs(5, side=16)
    np.savez(tmp_path / "data.npz", **{xkey: x, ykey: y})
    data = read_channel(tmp_path, SIZE)
    assert data.format == "npz"
    assert np.array_equal(data.x, x) and data.y.tolist() == y.tolist()


def test_npz_float_pixels_text_labels_and_shards(tmp_path):
    x, _ = _signs(4, side=16)
    names = np.array(["stop", "yield", "stop", "go"])
    np.savez(tmp_path / "part-0.npz", x=x[:2] / 255.0, y=names[:2])
    np.savez(tmp_path / "part-1.npz", x=x[2:] / 255.0, y=names[2:])
    data = read_channel(tmp_path, SIZE)
    assert data.class_names == ["go", "stop", "yield"]
    assert data.y.tolist() == [1, 2, 1, 0]
    assert np.abs(data.x.astype(int) - x).max() <= 1


def test_npz_with_object_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "data.npz", x=np.array([object()]), y=np.array([0]))
    with pytest.raises(UserError, match="data.npz"):
        read_channel(tmp_path, SIZE)


def test_single_file_channel(tmp_path):
    x, y = _signs(3, side=16)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    assert len(read_channel(tmp_path / "train.npz", SIZE).y) == 3


# --- labels across channels ---------------------------------------------------------------


def test_validation_folders_map_onto_train_names(tmp_path):
    for cls in ("a", "b", "c"):
        _image(tmp_path / "train" / cls / "x.png")
    _image(tmp_path / "val" / "c" / "x.png")
    _image(tmp_path / "val" / "a" / "x.png")
    train = read_channel(tmp_path / "train", SIZE)
    val = read_channel(tmp_path / "val", SIZE, class_names=train.class_names, name="validation")
    assert val.class_names == ["a", "b", "c"]
    assert val.y.tolist() == [0, 2]


def test_unknown_class_in_validation_is_named(tmp_path):
    for cls in ("a", "b"):
        _image(tmp_path / "train" / cls / "x.png")
    _image(tmp_path / "val" / "zebra" / "x.png")
    train = read_channel(tmp_path / "train", SIZE)
    with pytest.raises(UserError, match="'zebra'"):
        read_channel(tmp_path / "val", SIZE, class_names=train.class_names, name="validation")


def test_integer_labels_map_by_id_onto_named_classes(tmp_path):
    for cid in ("00", "01", "02"):
        _image(tmp_path / "train" / cid / "x.png")
    write_class_names(tmp_path / "train" / SIGNNAMES_FILE, ["Stop", "Yield", "Go"])
    x, _ = _signs(2, side=16)
    _pickle(tmp_path / "valid" / "valid.p", {"features": x, "labels": np.array([2, 0])})
    train = read_channel(tmp_path / "train", SIZE)
    val = read_channel(tmp_path / "valid", SIZE, class_names=train.class_names, name="validation")
    assert val.y.tolist() == [2, 0]
    _pickle(tmp_path / "valid" / "valid.p", {"features": x, "labels": np.array([2, 7])})
    with pytest.raises(UserError, match="'7'"):
        read_channel(tmp_path / "valid", SIZE, class_names=train.class_names, name="validation")


def test_numeric_names_map_by_id_not_position(tmp_path):
    x, _ = _signs(3, side=16)
    _pickle(tmp_path / "train" / "train.p", {"features": x, "labels": np.array([0, 5, 7])})
    _pickle(tmp_path / "test" / "test.p", {"features": x[:2], "labels": np.array([7, 2])})
    train = read_channel(tmp_path / "train", SIZE)
    assert train.class_names == ["0", "5", "7"]
    with pytest.raises(UserError, match="'2'"):
        read_channel(tmp_path / "test", SIZE, class_names=train.class_names, name="test")
    _image(tmp_path / "folders" / "007" / "x.png")
    folders = read_channel(tmp_path / "folders", SIZE, class_names=train.class_names)
    assert folders.y.tolist() == [2]


def test_named_validation_class_unknown_to_train(tmp_path):
    _image(tmp_path / "train" / "00" / "x.png")
    _image(tmp_path / "train" / "01" / "x.png")
    write_class_names(tmp_path / "train" / SIGNNAMES_FILE, ["Stop", "Yield"])
    _image(tmp_path / "val" / "01" / "x.png")
    write_class_names(tmp_path / "val" / SIGNNAMES_FILE, ["Stop", "Give way"])
    train = read_channel(tmp_path / "train", SIZE)
    with pytest.raises(UserError, match=r"'Give way' \(ClassId 1\)"):
        read_channel(tmp_path / "val", SIZE, class_names=train.class_names, name="validation")


def test_label_without_a_signnames_row(tmp_path):
    _image(tmp_path / "00" / "x.png")
    _image(tmp_path / "05" / "x.png")
    write_class_names(tmp_path / SIGNNAMES_FILE, ["Stop", "Yield"])
    with pytest.raises(UserError, match=r"class id\(s\) \[5\] have no row"):
        read_channel(tmp_path, SIZE)


def test_gtsrb_labelled_list_alone(tmp_path):
    """A test channel holding the benchmark's Final_Test/Images with GT-final_test.csv."""
    _framed(tmp_path / "00000.ppm", (2, 2, 9, 9), (12, 12))
    _framed(tmp_path / "00001.ppm", (1, 1, 10, 10), (12, 12))
    (tmp_path / "GT-final_test.csv").write_text(
        "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
        "00000.ppm;12;12;2;2;9;9;16\n"
        "00001.ppm;12;12;1;1;10;10;1\n"
    )
    data = read_channel(tmp_path, SIZE, class_names=[str(i) for i in range(43)], name="test")
    assert data.format == "gtsrb"
    assert data.y.tolist() == [16, 1]
    assert (data.x[..., 2] == 0).all()


def test_unlabelled_list_alone_is_an_error(tmp_path):
    _image(tmp_path / "00000.ppm")
    (tmp_path / "GT-final_test.test.csv").write_text("Filename;Width;Height\n00000.ppm;20;14\n")
    with pytest.raises(UserError, match="no ClassId column"):
        read_channel(tmp_path, SIZE)
