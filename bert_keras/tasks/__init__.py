"""Fine-tuning tasks: each ties a data reader, a task model, its metrics and its predictions together.

`registry.task_class` maps the command-line task names to their runner classes; `load_trained_task` reads back
the model directory a fine-tuning run writes (what `bert-keras evaluate`, `predict` and `export` take). The task
settings saved with it (`TaskSpec`, task.json) live in `bert_keras.checkpoints.task_spec`.
"""

from bert_keras.tasks.registry import TrainedTask, load_trained_task, save_trained_task, task_class

__all__ = ["TrainedTask", "load_trained_task", "save_trained_task", "task_class"]
