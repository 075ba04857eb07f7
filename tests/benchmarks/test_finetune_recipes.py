"""The fine-tuning recipes are defined once: the benchmark's library config equals what their `bert-keras
finetune` flags parse to, and scripts/main_job.sh takes the classify flags from them."""

import argparse
import os
import subprocess
import sys

import pytest

from bert_keras.benchmarks.finetune import RECIPES, finetune_flags, recipe_settings
from bert_keras.training.finetuning_config import FinetuningConfig, add_finetuning_arguments, config_from_args

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("quick", [False, True])
@pytest.mark.parametrize("task", list(RECIPES))
def test_a_recipe_as_flags_parses_to_the_same_config(task, quick, tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\n")
    files = dict(init_checkpoint=str(tmp_path), train_file=str(train), output_dir=str(tmp_path / "run"))
    settings = recipe_settings(task, quick)
    parser = argparse.ArgumentParser()
    add_finetuning_arguments(parser)
    parsed = config_from_args(parser.parse_args(["--task", task, *finetune_flags(files), *finetune_flags(settings)]))
    assert parsed == FinetuningConfig(task=task, **files, **settings)


def test_main_job_takes_the_classify_recipe_from_its_one_definition():
    code = ("import runpy, sys; sys.argv = ['finetune', '--print-args', 'classify']; "
            "runpy.run_module('bert_keras.benchmarks.finetune', run_name='__main__'); "
            "print('imported:', *sorted({'torch', 'transformers'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    *flags, imported = result.stdout.splitlines()
    assert flags == finetune_flags(RECIPES["classify"].settings)
    assert imported == "imported:"  # the main job runs on the runtime dependencies alone
    with open(os.path.join(ROOT, "scripts", "main_job.sh"), encoding="utf-8") as f:
        script = f.read()
    assert "-m bert_keras.benchmarks.finetune --print-args classify" in script
    for flag in finetune_flags(RECIPES["classify"].settings)[::2]:
        assert flag not in script, f"{flag} repeated in scripts/main_job.sh"
