"""Training: tf.distribute strategies, optimizers and schedules, callbacks for model.fit."""
