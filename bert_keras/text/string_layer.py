"""StringLayer: the base of bert-keras' text layers."""

from __future__ import annotations

import keras


class StringLayer(keras.layers.Layer):
    """A Keras layer that takes tf.string / ragged tensors as they are (no conversion to float tensors)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True
