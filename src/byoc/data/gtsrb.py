"""The German Traffic Sign Recognition Benchmark's 43 classes: names and training-set counts.

Index = ClassId. The counts are those of the official training set (39,209 images), used to give
the synthetic generator the same class imbalance as the real data.
"""

from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "Speed limit (20km/h)",
    "Speed limit (30km/h)",
    "Speed limit (50km/h)",
    "Speed limit (60km/h)",
    "Speed limit (70km/h)",
    "Speed limit (80km/h)",
    "End of speed limit (80km/h)",
    "Speed limit (100km/h)",
    "Speed limit (120km/h)",
    "No passing",
    "No passing for vehicles over 3.5 metric tons",
    "Right-of-way at the next intersection",
    "Priority road",
    "Yield",
    "Stop",
    "No vehicles",
    "Vehicles over 3.5 metric tons prohibited",
    "No entry",
    "General caution",
    "Dangerous curve to the left",
    "Dangerous curve to the right",
    "Double curve",
    "Bumpy road",
    "Slippery road",
    "Road narrows on the right",
    "Road work",
    "Traffic signals",
    "Pedestrians",
    "Children crossing",
    "Bicycles crossing",
    "Beware of ice/snow",
    "Wild animals crossing",
    "End of all speed and passing limits",
    "Turn right ahead",
    "Turn left ahead",
    "Ahead only",
    "Go straight or right",
    "Go straight or left",
    "Keep right",
    "Keep left",
    "Roundabout mandatory",
    "End of no passing",
    "End of no passing by vehicles over 3.5 metric tons",
)

TRAIN_COUNTS: tuple[int, ...] = (
    210, 2220, 2250, 1410, 1980, 1860, 420, 1440, 1410, 1470,
    2010, 1320, 2100, 2160, 780, 630, 420, 1110, 1200, 210,
    360, 330, 390, 510, 270, 1500, 600, 240, 540, 270,
    450, 780, 240, 689, 420, 1200, 390, 210, 2070, 300,
    360, 240, 240,
)

NUM_CLASSES = len(CLASS_NAMES)
assert len(TRAIN_COUNTS) == NUM_CLASSES
