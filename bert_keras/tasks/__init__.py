"""Fine-tuning tasks: each ties a data reader, a task model, its metrics and its predictions together.

`TASKS` maps the command-line task names to their classes; `load_trained_task` reads back the model directory
a fine-tuning run writes (what `bert-keras evaluate`, `predict` and `export` take).
"""

from bert_keras.tasks.spec import TASK_NAMES, TaskSpec
from bert_keras.tasks.trained import TrainedTask, load_trained_task, save_trained_task

__all__ = ["TASK_NAMES", "TaskSpec", "TrainedTask", "load_trained_task", "save_trained_task"]
