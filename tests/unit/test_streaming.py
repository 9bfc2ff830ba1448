"""The streamed input: listings agree with `read_channel` on every layout, streamed pixels equal
in-memory ones, shards are exact, the input mode decides and can be forced, TFRecords round-trip
through `byoc data to-tfrecord`."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from byoc import cli, contract
from byoc.contract import TEST, TRAIN, VALIDATION, Paths, TrainingEnv
from byoc.data import formats, streaming, tfrecords
from byoc.data.formats import list_channel, read_channel
from byoc.errors import UserError
from byoc.hyperparams import HyperParameters, parse
from byoc.training import input_mode
from byoc.training.splits import load_splits
from tests.support.data import every_layout, tiny_folders

SIZE = (16, 16)
LAYOUTS = ("folders", "signnames", "gtsrb", "gtsrb_ppm", "listing_csv", "test_folders", "wrapper")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    return every_layout(tmp_path_factory.mktemp("layouts"))


def _in_order(stream: streaming.Stream, **kw) -> tuple[np.ndarray, np.ndarray]:
    """A stream's images and labels, put back in listing order by their positions."""
    images, labels, positions = [], [], []
    for image, label, position in stream.examples(**kw).as_numpy_iterator():
        images.append(image)
        labels.append(label)
        positions.append(position)
    order = np.argsort(positions)
    return np.asarray(images)[order], np.asarray(labels)[order]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_listing_gives_read_channels_labels_classes_and_test_split(layouts, layout):
    data = read_channel(layouts[layout], SIZE)
    listing = list_channel(layouts[layout])
    assert listing.format == data.format
    assert listing.class_names == data.class_names
    assert listing.y.tolist() == data.y.tolist()
    assert (listing.test is None) == (data.test is None)
    if data.test is not None:
        assert listing.test.y.tolist() == data.test.y.tolist()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_streamed_pixels_equal_in_memory_pixels(layouts, layout):
    data = read_channel(layouts[layout], SIZE)
    stream, test = streaming.open_channel(layouts[layout], SIZE, 3)
    x, y = _in_order(stream)
    assert np.array_equal(x, data.x) and y.tolist() == data.y.tolist()
    if data.test is not None:
        assert np.array_equal(_in_order(test)[0], data.test.x)


def test_streamed_grayscale_at_another_size_equals_in_memory(layouts):
    data = read_channel(layouts["gtsrb_ppm"], (12, 20), channels=1)
    stream, _ = streaming.open_channel(layouts["gtsrb_ppm"], (12, 20), 1)
    x, _ = _in_order(stream)
    assert x.shape == (6, 12, 20, 1) and np.array_equal(x, data.x)


def test_array_formats_are_not_listed(tmp_path):
    np.savez(tmp_path / "train.npz", x=np.zeros((2, 8, 8, 3), np.uint8), y=[0, 1])
    assert list_channel(tmp_path) is None
    assert streaming.open_channel(tmp_path, SIZE, 3) is None


def test_shards_take_each_example_once(layouts):
    stream, _ = streaming.open_channel(layouts["folders"], SIZE, 3)
    seen = [sorted(int(p) for *_, p in stream.examples(shard=(3, i)).as_numpy_iterator())
            for i in range(3)]
    assert sorted(sum(seen, [])) == list(range(len(stream)))
    assert max(map(len, seen)) - min(map(len, seen)) <= 1


def test_training_batches_are_full_weighted_and_reshuffled(layouts):
    stream, _ = streaming.open_channel(layouts["folders"], SIZE, 3)
    hp = HyperParameters(seed=3)
    weights = np.array([1.0, 2.0, 3.0])
    batches = list(stream.training(hp, 4, weights).take(6).as_numpy_iterator())
    assert all(x.shape == (4, 16, 16, 3) and x.dtype == np.float32 for x, _, _ in batches)
    for _, y, w in batches:
        assert w.tolist() == weights[y].tolist()
    # 12 images, 3 batches an epoch: the second pass comes in another order.
    first = np.concatenate([y for _, y, _ in batches[:3]])
    assert sorted(first.tolist()) == sorted(stream.y.tolist())


def test_unreadable_files_are_left_out_and_counted(tmp_path, caplog):
    tiny_folders(tmp_path, classes=2, per_class=2)
    (tmp_path / "class_0" / "broken.png").write_bytes(b"not an image")
    stream, _ = streaming.open_channel(tmp_path, SIZE, 3)
    assert len(stream) == 5  # listed, not decoded
    with caplog.at_level(logging.WARNING):
        x, y = stream.load()
        assert len(x) == 4 and "skipped 1 unreadable" in caplog.text
        caplog.clear()
        assert len(list(stream.examples())) == 4 and stream.skipped == 1
        stream.report_skipped("reading")
    assert "Skipping an unreadable image" in caplog.text
    assert "skipped 1 unreadable image file(s) while reading" in caplog.text


def test_lazy_images_read_only_what_is_asked(layouts, monkeypatch):
    stream, _ = streaming.open_channel(layouts["folders"], SIZE, 3)
    data = read_channel(layouts["folders"], SIZE)
    decoded = []
    real = formats.decode
    monkeypatch.setattr(formats, "decode", lambda *a, **k: decoded.append(a[0]) or real(*a, **k))
    lazy = streaming.LazyImages(stream, np.arange(len(stream))[::-1])
    assert lazy.shape == (12, 16, 16, 3)
    picked = lazy.take([0, 5], axis=0)
    assert np.array_equal(picked, data.x[[11, 6]])
    assert len(decoded) == 2


# --- the input mode ------------------------------------------------------------------------


def test_auto_streams_past_a_quarter_of_memory():
    small = input_mode.choose("auto", 1000, (32, 32), 3, memory=10**9)
    assert not small.stream and "within 25%" in small.reason
    big = input_mode.choose("auto", 100_000, (224, 224), 3, memory=16 * 10**9)
    assert big.stream and "15.05 GB" in big.reason and "more than 25%" in big.reason


@pytest.mark.parametrize("mode", ["memory", "stream"])
def test_input_mode_can_be_forced(mode):
    choice = input_mode.choose(mode, 10**9, (224, 224), 3, memory=10**6)
    assert choice.mode == mode and f"input_mode={mode}" in choice.reason


def test_input_mode_is_validated():
    assert parse({"input_mode": "Stream"}).input_mode == "stream"
    with pytest.raises(UserError, match="'input_mode'.*one of auto, memory, stream"):
        parse({"input_mode": "disk"})


def test_available_memory_is_positive():
    assert input_mode.available_memory() > 0


def _env(tmp_path, **channels) -> TrainingEnv:
    return TrainingEnv(Paths(tmp_path / "ml"), {}, {}, {}, dict(channels))


@pytest.mark.parametrize("layout", ["folders", "gtsrb", "test_folders"])
def test_both_modes_give_the_same_splits(layouts, tmp_path, layout, caplog):
    env = _env(tmp_path, train=layouts[layout])
    splits = {}
    with caplog.at_level(logging.INFO, logger="byoc.training"):
        for mode in ("memory", "stream"):
            splits[mode] = load_splits(env, HyperParameters(image_size=SIZE, input_mode=mode,
                                                            validation_split=0.3))
    assert "Streaming the channels: input_mode=stream" in caplog.text
    assert "Reading the channels into memory: input_mode=memory" in caplog.text
    memory, streamed = splits["memory"], splits["stream"]
    assert memory.class_names == streamed.class_names
    assert set(memory.y) == set(streamed.y)
    for name in memory.y:
        assert streamed.streamed(name) and not memory.streamed(name)
        assert memory.y[name].tolist() == streamed.y[name].tolist()
        assert np.array_equal(memory.x[name], _in_order(streamed.x[name])[0])


def test_an_array_channel_is_read_into_memory(tmp_path, caplog):
    np.savez(tmp_path / "train.npz", x=np.zeros((4, 16, 16, 3), np.uint8), y=[0, 1, 0, 1])
    with caplog.at_level(logging.INFO, logger="byoc.training"):
        splits = load_splits(_env(tmp_path, train=tmp_path),
                             HyperParameters(image_size=SIZE, input_mode="stream"))
    assert not splits.streamed(TRAIN)
    assert "holds arrays (pickle or .npz) already" in caplog.text



def test_a_channel_byoc_does_not_read_is_named_once_and_left_alone(tmp_path, caplog):
    # `train` checks the channels before TensorFlow loads and again before reading them: the
    # warning comes from the reading, once.
    from byoc.training.splits import check_channels

    np.savez(tmp_path / "train.npz", x=np.zeros((4, 16, 16, 3), np.uint8), y=[0, 1, 0, 1])
    env = _env(tmp_path, train=tmp_path, extras=tmp_path / "elsewhere")
    with caplog.at_level(logging.INFO, logger="byoc.training"):
        check_channels(env)
        splits = load_splits(env, HyperParameters(image_size=SIZE))
    assert caplog.text.count("Ignoring channel(s) ['extras']") == 1
    assert set(splits.y) <= {TRAIN, VALIDATION, TEST}

# --- TFRecord --------------------------------------------------------------------------------


@pytest.mark.parametrize("gzip", [False, True])
def test_to_tfrecord_round_trip(layouts, tmp_path, gzip, capsys):
    src = layouts["gtsrb"]  # ROI crops, and a test split inside the channel
    args = ["data", "to-tfrecord", str(src), str(tmp_path / "dst"), "--shards", "2"]
    assert cli.main(args + (["--gzip"] if gzip else [])) == 0
    assert "13 records" in capsys.readouterr().out
    data = read_channel(src, SIZE)
    for channel, expected in ((TRAIN, data), (TEST, data.test)):
        files = tfrecords.record_files(tmp_path / "dst" / channel)
        assert len(files) == 2 and all(f.name.endswith(".gz") == gzip for f in files)
        assert (tmp_path / "dst" / channel / formats.SIGNNAMES_FILE).is_file()
        stream, _ = streaming.open_channel(tmp_path / "dst" / channel, SIZE, 3,
                                           class_names=data.class_names, name=channel)
        assert stream.format == "tfrecord" and stream.class_names == data.class_names
        x, y = _in_order(stream)
        # Records are dealt round-robin to the shards: the stream reads shard by shard.
        order = np.argsort(np.concatenate([np.arange(len(expected))[i::2] for i in range(2)]))
        assert sorted(y.tolist()) == sorted(expected.y.tolist())
        assert np.array_equal(x[order], expected.x) and y[order].tolist() == expected.y.tolist()


def test_records_shard_and_subset_exactly(layouts, tmp_path):
    tfrecords.convert(layouts["folders"], tmp_path, shards=3)
    stream, _ = streaming.open_channel(tmp_path / TRAIN, SIZE, 3)
    assert len(stream) == 12
    part = stream.subset(np.array([1, 4, 5, 10]))
    assert part.y.tolist() == stream.y[[1, 4, 5, 10]].tolist()
    seen = [sorted(int(p) for *_, p in part.examples(shard=(2, i)).as_numpy_iterator())
            for i in range(2)]
    assert seen == [[0, 2], [1, 3]]
    assert np.array_equal(part.read([3, 0]), _in_order(stream)[0][[10, 1]])


def test_records_stream_in_a_training_job(layouts, tmp_path):
    tfrecords.convert(layouts["test_folders"], tmp_path, shards=2)
    splits = load_splits(_env(tmp_path, train=tmp_path / TRAIN, test=tmp_path / TEST),
                         HyperParameters(image_size=SIZE, input_mode="stream",
                                         validation_split=0.34))
    assert splits.class_names == ["Stop", "Yield"]
    assert {TRAIN, VALIDATION, TEST} == set(splits.x) and len(splits.y[TEST]) == 4
    assert len(splits.y[TRAIN]) + len(splits.y[VALIDATION]) == 6


def test_to_tfrecord_errors(layouts, tmp_path, capsys):
    assert cli.main(["data", "to-tfrecord", str(tmp_path / "nope"), str(tmp_path / "d")]) != 0
    assert "does not exist" in capsys.readouterr().err
    dst = tmp_path / "dst"
    tfrecords.convert(layouts["folders"], dst, shards=1)
    with pytest.raises(UserError, match="--overwrite"):
        tfrecords.convert(layouts["folders"], dst, shards=1)
    with pytest.raises(UserError, match="at least 1"):
        tfrecords.convert(layouts["folders"], dst, shards=0, overwrite=True)
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 8, 8, 3), np.uint8), y=[0, 1])
    arrays = tmp_path / "arrays"
    arrays.mkdir()
    (tmp_path / "a.npz").rename(arrays / "a.npz")
    with pytest.raises(UserError, match="nothing to convert"):
        tfrecords.convert(arrays, tmp_path / "out", shards=1)


def test_a_mix_of_gzip_and_plain_shards_is_refused(layouts, tmp_path):
    tfrecords.convert(layouts["folders"], tmp_path / "plain", shards=1)
    tfrecords.convert(layouts["folders"], tmp_path / "gz", shards=1, gzip_records=True)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in (*tfrecords.record_files(tmp_path / "plain" / TRAIN),
              *tfrecords.record_files(tmp_path / "gz" / TRAIN)):
        f.rename(mixed / f.name)
    with pytest.raises(UserError, match="mix gzip and plain"):
        streaming.open_channel(mixed, SIZE, 3)


def test_records_without_a_label_are_a_user_error(tmp_path):
    import tensorflow as tf

    buf = Image.new("RGB", (4, 4)).tobytes()
    with tf.io.TFRecordWriter(str(tmp_path / "x.tfrecord")) as w:
        w.write(tf.train.Example(features=tf.train.Features(feature={
            tfrecords.ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[buf]))}))
            .SerializeToString())
    with pytest.raises(UserError, match="x.tfrecord is not a readable TFRecord"):
        streaming.open_channel(tmp_path, SIZE, 3)


def test_report_mosaic_of_a_streamed_split_reads_only_its_images(layouts, tmp_path,
                                                                 monkeypatch):
    from byoc import evaluation

    stream, _ = streaming.open_channel(layouts["folders"], SIZE, 3)
    probs = np.full((len(stream), 3), 0.05)
    probs[np.arange(len(stream)), (stream.y + 1) % 3] = 0.9  # every prediction wrong
    decoded = []
    real = formats.decode
    monkeypatch.setattr(formats, "decode", lambda *a, **k: decoded.append(a[0]) or real(*a, **k))
    result = evaluation.SplitResult(y_true=stream.y, probs=probs,
                                    images=streaming.LazyImages(stream, np.arange(len(stream))))
    evaluation.write_report(tmp_path, class_names=stream.class_names, splits={TEST: result},
                            history={}, class_counts={TEST: np.bincount(stream.y)}, top_k=1)
    assert (tmp_path / "confident_wrong_test.png").is_file()
    assert 0 < len(decoded) <= evaluation.analysis.CONFIDENT_WRONG_LIMIT


def test_each_shard_names_its_classes(layouts, tmp_path):
    """With ShardedByS3Key the signnames.csv reaches one host: the records name their classes."""
    tfrecords.convert(layouts["signnames"], tmp_path, shards=2)
    (tmp_path / TRAIN / formats.SIGNNAMES_FILE).unlink()
    first = tfrecords.record_files(tmp_path / TRAIN)[0]
    stream, _ = streaming.open_channel(first, SIZE, 3)
    # Yield has no images, so no record names it; the others keep their names and order.
    assert stream.class_names == ["Stop", "Go"]
    assert [stream.class_names[i] for i in stream.y] == ["Stop", "Stop", "Go"]


def test_a_whole_to_tfrecord_output_as_one_channel(layouts, tmp_path):
    tfrecords.convert(layouts["test_folders"], tmp_path, shards=2)
    train, test = streaming.open_channel(tmp_path, SIZE, 3)
    data = read_channel(layouts["test_folders"], SIZE)
    assert train.class_names == data.class_names == ["Stop", "Yield"]
    assert sorted(train.y.tolist()) == sorted(data.y.tolist())
    assert sorted(test.y.tolist()) == sorted(data.test.y.tolist())


def _numbered(layouts) -> streaming.FileStream:
    """The folders layout with one class per file, so that a label names its example."""
    stream, _ = streaming.open_channel(layouts["folders"], SIZE, 3)
    n = len(stream)
    return streaming.FileStream(stream.paths, [None] * n, np.arange(n),
                                [str(i) for i in range(n)], SIZE, 3)


@pytest.mark.parametrize("sharded", [False, True])
def test_the_loop_splits_a_replicated_stream_between_workers(layouts, sharded):
    import tensorflow as tf

    from byoc.training import loop

    stream = _numbered(layouts)
    hp = HyperParameters(seed=1)
    shape = loop.Shape(batch_size=2, global_batch=4, steps=3)
    seen = []
    for worker in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                         num_replicas_in_sync=2)
        make = loop._training_input(stream, stream.y, np.ones(len(stream)), hp, shape,
                                    shard=not sharded)
        # One epoch of batches of 2: its half of the 12 images, or all of them.
        batches = make(ctx).take(6 if sharded else 3)
        labels = np.concatenate([y for _, y, _ in batches.as_numpy_iterator()])
        seen.append(set(labels.tolist()))
    if sharded:  # ShardedByS3Key: each host's files are its own already, all of them read
        assert seen[0] == seen[1] == set(range(len(stream)))
    else:  # FullyReplicated: one epoch of each worker covers its half, none twice
        assert seen[0] == set(range(0, len(stream), 2)) and seen[1] == set(range(1, 12, 2))


def test_the_loop_evaluates_a_stream_once_over_the_workers(layouts):
    import tensorflow as tf

    from byoc.training import loop

    stream = _numbered(layouts)
    labels = []
    for worker in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                         num_replicas_in_sync=2)
        ds = loop._eval_input(stream, stream.y, 4)(ctx)
        labels += [int(v) for _, y in ds.as_numpy_iterator() for v in y]
    assert sorted(labels) == list(range(len(stream)))


def test_to_tfrecord_shows_a_progress_bar(layouts, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert cli.main(["data", "to-tfrecord", str(layouts["folders"]), str(tmp_path)]) == 0
    assert "12/12 images" in capsys.readouterr().err


def test_a_memory_limit_from_the_environment_lowers_what_auto_counts_on(monkeypatch):
    machine = input_mode.available_memory()
    monkeypatch.setenv(contract.MEMORY_LIMIT_ENV, "512m")
    assert input_mode.available_memory() == min(machine, 512 * 2**20)
    choice = input_mode.choose("auto", 4000, (224, 224), 3)
    assert choice.stream and "0.54 GB of memory available" in choice.reason
    monkeypatch.setenv(contract.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(UserError, match="BYOC_MEMORY_LIMIT must be a memory size .* not 'lots'"):
        input_mode.available_memory()


@pytest.mark.parametrize("text, size", [("1g", 2**30), ("512M", 512 * 2**20),
                                        ("1.5g", 3 * 2**29), ("7000000", 7_000_000)])
def test_memory_sizes_read_as_docker_reads_them(text, size):
    assert contract.memory_bytes(text, "--memory-per-instance") == size


@pytest.mark.parametrize("text", ["", "1t", "-1g", "1k", "g"])
def test_bad_memory_sizes_say_what_is_expected(text):
    with pytest.raises(UserError, match="--memory-per-instance must be a memory size of at "
                                        "least 6m, like 512m or 2g"):
        contract.memory_bytes(text, "--memory-per-instance")
