"""Fit and evaluate a BertClassifier on raw strings under MirroredStrategy over 2 logical CPU devices, and the same
under the default strategy; writes both losses as JSON (argv: checkpoint directory, result path)."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import bert_keras  # noqa: E402

TEXTS = ["A wonderful film.", "Dull and far too long.", "I laughed, I cried.", "The plot makes no sense.",
         "Naive but charming.", "Nothing happens at all.", "See it twice.", "A waste of time."]
LABELS = ["positive", "negative"] * 4


def run(strategy) -> dict:
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = bert_keras.BertClassifier.from_preset(sys.argv[1], labels=["negative", "positive"],
                                                      sequence_length=16, dropout=0.0)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = model.evaluate(TEXTS, LABELS, batch_size=4, verbose=0, return_dict=True)["loss"]
    history = model.fit(TEXTS, LABELS, batch_size=4, epochs=2, shuffle=False, verbose=0)
    return {"replicas": strategy.num_replicas_in_sync, "before": before, "fit": history.history["loss"]}


results = {"default": run(tf.distribute.get_strategy()),
           "mirrored": run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))}
json.dump(results, open(sys.argv[2], "w"))
