"""Data: image decoding, channel formats, the synthetic sign generator, the tf.data pipeline."""
