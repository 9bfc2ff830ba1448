"""Train a LeNet-style CNN on traffic-sign images: a SageMaker script-mode training script.

It knows SageMaker's conventions only: hyperparameters arrive as `--key value` arguments, the
data channels as SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION, and whatever is saved under
SM_MODEL_DIR becomes model.tar.gz. Each channel holds one folder per class (00, 01, ... 42) of
.png or .ppm images, and may hold a signnames.csv (ClassId,SignName) naming the classes.

Saved under SM_MODEL_DIR:
- model.keras: the model. It takes 32x32 RGB images as float32 pixels in 0..255 (it rescales
  them itself) and returns one probability per class.
- classes.json: the class names, index = label.

Run it anywhere with the variables set, e.g.

    SM_MODEL_DIR=out SM_CHANNEL_TRAIN=data/train python train.py --epochs 5
"""

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tensorflow import keras

IMAGE_SIZE = 32
IMAGE_SUFFIXES = {".png", ".ppm", ".jpg", ".jpeg", ".bmp"}


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    return parser.parse_args()


def read_sign_names(channel):
    """{ClassId: SignName} from the channel's signnames.csv, or {} without one."""
    path = Path(channel) / "signnames.csv"
    if not path.is_file():
        return {}
    names = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and row[0].strip().isdigit():  # skips the header
                names[int(row[0])] = row[1].strip()
    return names


def class_names(channel):
    """The class names, index = label: from signnames.csv when the folders are ClassIds,
    else the folder names in sorted order."""
    folders = sorted(p.name for p in Path(channel).iterdir() if p.is_dir())
    signs = read_sign_names(channel)
    if signs and all(name.isdigit() for name in folders):
        count = max(max(signs), max(int(name) for name in folders)) + 1
        return [signs.get(i, str(i)) for i in range(count)]
    return folders


def load_images(channel, names):
    """All images of a channel as (N, 32, 32, 3) uint8 and their labels."""
    images, labels = [], []
    index = {name: i for i, name in enumerate(names)}
    for folder in sorted(p for p in Path(channel).iterdir() if p.is_dir()):
        label = int(folder.name) if folder.name.isdigit() else index[folder.name]
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(path) as img:
                    img = img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE))
                    images.append(np.asarray(img, dtype=np.uint8))
                labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def build_cnn(num_classes, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3)):
    """LeNet: Conv -> Pool -> Conv -> Pool -> Flatten -> FC -> FC -> softmax."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(6, 5, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 5, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="relu"),
        keras.layers.Dense(84, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def main():
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    names = class_names(args.train)
    x_train, y_train = load_images(args.train, names)
    print(f"train: {len(x_train)} images of {len(names)} classes")
    validation = None
    if args.validation:
        validation = load_images(args.validation, names)
        print(f"validation: {len(validation[0])} images")

    model = build_cnn(len(names))
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=validation, shuffle=True, verbose=2)
    if validation is not None:
        loss, accuracy = model.evaluate(*validation, verbose=0)
        print(f"validation_loss={loss:.4f} validation_accuracy={accuracy:.4f}")

    # On several hosts each trains alone; only the first saves, so their files do not clash.
    hosts = json.loads(os.environ.get("SM_HOSTS", "[]"))
    if hosts and os.environ.get("SM_CURRENT_HOST") != hosts[0]:
        return
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / "model.keras")
    (model_dir / "classes.json").write_text(json.dumps(names, indent=1))
    print(f"saved model.keras and classes.json in {model_dir}")


if __name__ == "__main__":
    main()
