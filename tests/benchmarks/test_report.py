"""The printed benchmark table: floats rounded by size, a list of floats (one per seed) on one line."""

from bert_keras.benchmarks.report import print_table


def test_floats_and_lists_of_floats_are_rounded_by_size(capsys):
    print_table("pays", {"accuracy": 0.817972, "per_seed": [0.817972, 0.828341], "seconds": 1234.5,
                         "max_diff": 3.1e-6, "path": "out/x", "counts": [1, 2]})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "== pays"
    assert [line.split(None, 1)[1] for line in lines[1:]] == [
        "0.8180", "0.8180, 0.8283", "1,234.50", "3.10e-06", "out/x", "[1, 2]"]
