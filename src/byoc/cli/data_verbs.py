"""`byoc data synth` and `byoc data to-tfrecord`: the parsers only; the generator (numpy, PIL)
and the converter (TensorFlow) load when the command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from byoc.data.difficulty import DIFFICULTIES


def _progress_line(done: int, total: int) -> None:
    if done % 200 == 0 or done == total:
        sys.stderr.write(f"\rsynth: {done}/{total} images")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _synth(args: argparse.Namespace) -> int:
    """`byoc data synth`: generate, then print a summary."""
    from byoc.data import synth

    summary = synth.generate(
        args.out, args.per_class, args.seed, image_size=args.image_size,
        difficulty=args.difficulty, balanced=args.balanced,
        validation_fraction=args.validation_fraction, test_fraction=args.test_fraction,
        overwrite=args.overwrite, progress=_progress_line if sys.stderr.isatty() else None,
    )
    rate = summary.total / summary.seconds if summary.seconds else 0
    train = summary.per_class_images[synth.TRAIN]
    print(f"Wrote {summary.total} images of {synth.NUM_CLASSES} classes to {summary.out} in "
          f"{summary.seconds:.1f} s ({rate:.0f} images/s).")
    for split in synth.SPLITS:
        print(f"  {split + '/':12} {summary.images[split]:6d} images")
    print(f"  train/ per class: {min(train)} to {max(train)} images"
          f"{' (balanced)' if summary.balanced else ' (GTSRB-like imbalance)'}")
    return 0


def _to_tfrecord(args: argparse.Namespace) -> int:
    """`byoc data to-tfrecord`: convert, then say what was written."""
    from byoc.data import tfrecords

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            width = 30
            bar = "#" * (width * done // total)
            sys.stderr.write(f"\rto-tfrecord: [{bar:<{width}}] {done}/{total} images")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    result = tfrecords.convert(args.src, args.dst, args.shards, gzip_records=args.gzip,
                               overwrite=args.overwrite,
                               progress=progress if sys.stderr.isatty() else None)
    print(f"Wrote {sum(result.channels.values())} records to {result.out}:")
    for channel, count in result.channels.items():
        print(f"  {channel + '/':12} {count:6d} records in {result.shards} shard(s)")
    print(f"Train on it as it is: byoc local train --data {result.out} ...")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="make and inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", metavar="COMMAND")
    data.set_defaults(func=lambda _args: data.print_help() or 2)
    p = data_sub.add_parser(
        "synth",
        help="write a synthetic 43-class traffic-sign dataset",
        description="Write DIR/train, DIR/validation and DIR/test, each with one folder per "
                    "GTSRB ClassId (00..42) of PNG and PPM images and a signnames.csv.",
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    p.add_argument("--per-class", type=int, default=100, metavar="N",
                   help="mean images per class over all splits (default 100); with GTSRB's "
                        "imbalance the rarest classes get about a quarter of it")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--image-size", type=int, default=32, metavar="PX",
                   help="side in pixels (default 32)")
    p.add_argument("--difficulty", choices=tuple(DIFFICULTIES), default="normal",
                   help="how much pose, lighting, blur and occlusion vary (default normal)")
    p.add_argument("--balanced", action="store_true",
                   help="the same count for every class instead of GTSRB's imbalance")
    p.add_argument("--validation-fraction", type=float, default=0.15, metavar="F",
                   help="default 0.15")
    p.add_argument("--test-fraction", type=float, default=0.15, metavar="F", help="default 0.15")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing train/validation/test folders in --out")
    p.set_defaults(func=_synth)

    p = data_sub.add_parser(
        "to-tfrecord",
        help="convert an image data set to TFRecord shards",
        description="Convert SRC (train/, validation/, test/ channels, or one channel, in any "
                    "image layout `train` reads) into DST/train, DST/validation and DST/test, "
                    "each N TFRecord shards with a signnames.csv beside them. DST can be given "
                    "to `train` or `byoc train --data` as it is.",
    )
    p.add_argument("src", type=Path, metavar="SRC", help="the data set to convert")
    p.add_argument("dst", type=Path, metavar="DST", help="where to write the shards")
    p.add_argument("--shards", type=int, default=8, metavar="N",
                   help="TFRecord files per channel (default 8); at least the number of hosts "
                        "that will read them with ShardedByS3Key")
    p.add_argument("--gzip", action="store_true", help="gzip-compress the shards")
    p.add_argument("--overwrite", action="store_true",
                   help="replace shards already in DST's channels")
    p.set_defaults(func=_to_tfrecord)
