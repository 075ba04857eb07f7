"""Checkpoint sources by name, fully offline: a Hugging Face cache laid out as huggingface_hub lays it out (checked
by huggingface_hub's own scanner and resolved by transformers itself), a kagglehub cache written through
kagglehub's own cache functions, and the errors for names that are not cached."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from hf_bert_reference import (
    WEIGHT_STDDEV,
    hf_reference_tokenizer,
    keras_outputs,
    max_diffs,
    random_batch,
    torch_outputs,
)

from bert_keras.checkpoints import load_checkpoint, resolve_checkpoint
from bert_keras.errors import CheckpointNotFoundError

REPO = "tiny-org/tiny-bert"
ROOT_REPO = "tiny-bert-root"  # a legacy name without an organisation, like bert-base-uncased
BIN_REPO = "tiny-org/tiny-bert-bin"  # PyTorch weights only
COMMIT_MAIN, COMMIT_V1 = "a" * 40, "b" * 40  # refs/main and the tag v1
TAG = "v1"
# In the repos' tree listings but never cached: resolving succeeds only if these are not asked for.
UNFETCHED = {"tf_model.h5": b"tf weights", "flax_model.msgpack": b"flax weights", "README.md": b"# tiny\n"}
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=24, type_vocab_size=2)
TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------- the caches

@pytest.fixture(autouse=True)
def hub_offline(monkeypatch):
    """huggingface_hub offline whatever the environment (tests/conftest.py sets HF_HUB_OFFLINE=1 by default, but
    huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def tiny_bert(vocab_size, seed):
    """A tiny transformers BertModel, every weight random, in eval mode."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.BertModel(transformers.BertConfig(vocab_size=vocab_size, **TINY)).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn_like(parameter) * WEIGHT_STDDEV
            parameter.copy_(1.0 + noise / 2 if name.endswith("LayerNorm.weight") else noise)
    return model


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def add_snapshot(cache, repo_id, commit, files, refs=(), unfetched=None):
    """Put `files` (name -> bytes) into `cache` as huggingface_hub does: blobs named by their git SHA-1 (by
    SHA-256 for LFS files), snapshots/<commit>/<name> relative symlinks to them, refs/<ref> holding the commit,
    and the commit's tree listing (trees/<commit>.json) naming `unfetched` files too, as a download writes it."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    tree = {}
    for name, data in files.items():
        lfs = name.endswith((".safetensors", ".bin", ".h5", ".msgpack"))
        blob = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha1(data)
        tree[name] = {"size": len(data), "blob_id": git_blob_sha1(data)}
        if lfs:
            tree[name].update(lfs_sha256=blob, lfs_size=len(data))
        blob_path = repo / "blobs" / blob
        blob_path.parent.mkdir(parents=True, exist_ok=True)
        blob_path.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob_path, link.parent))
    for name, data in (unfetched or {}).items():
        tree[name] = {"size": len(data), "blob_id": git_blob_sha1(data)}
    (repo / "trees").mkdir(parents=True, exist_ok=True)
    (repo / "trees" / f"{commit}.json").write_text(json.dumps({"format_version": 1, "files": tree}))
    for ref in refs:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)


def checkpoint_files(model, directory, vocab_path, lowercase=True, weights="safetensors"):
    """The files of an HF repo holding `model`: written by transformers itself, plus the real vocab.txt."""
    import torch

    if weights == "safetensors":
        model.save_pretrained(directory)
    else:
        model.config.to_json_file(directory / "config.json")
        torch.save(model.state_dict(), directory / "pytorch_model.bin")
    hf_reference_tokenizer(vocab_path, lowercase=lowercase).save_pretrained(directory)
    shutil.copyfile(vocab_path, directory / "vocab.txt")
    return {path.name: path.read_bytes() for path in directory.iterdir()}


@pytest.fixture(scope="module")
def vocab_path():
    from bert_keras.assets import asset_path

    return os.path.join(asset_path("minilm"), "vocab.txt")


@pytest.fixture(scope="module")
def models(vocab_path):
    with open(vocab_path, encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    return {"main": tiny_bert(vocab_size, seed=11), "v1": tiny_bert(vocab_size, seed=12)}


@pytest.fixture(scope="module")
def hf_cache(models, vocab_path, tmp_path_factory):
    """An HF hub cache holding REPO at two commits (main, tag v1), ROOT_REPO and the .bin-only BIN_REPO."""
    cache = tmp_path_factory.mktemp("hf_cache")
    main = checkpoint_files(models["main"], tmp_path_factory.mktemp("main"), vocab_path)
    older = checkpoint_files(models["v1"], tmp_path_factory.mktemp("v1"), vocab_path, lowercase=False)
    binary = checkpoint_files(models["main"], tmp_path_factory.mktemp("bin"), vocab_path, weights="bin")
    add_snapshot(cache, REPO, COMMIT_MAIN, main, refs=["main"], unfetched={**UNFETCHED, "pytorch_model.bin": b"x"})
    add_snapshot(cache, REPO, COMMIT_V1, older, refs=[TAG], unfetched=UNFETCHED)
    add_snapshot(cache, ROOT_REPO, COMMIT_MAIN, main, refs=["main"])
    add_snapshot(cache, BIN_REPO, COMMIT_MAIN, binary, refs=["main"], unfetched=UNFETCHED)
    return cache


@pytest.fixture(scope="module")
def batch(models):
    return random_batch(models["main"].config.vocab_size, [12, 5, 9])


def transformers_from_cache(repo_id, cache, revision=None):
    """transformers' own BertModel, resolved by transformers through the same cache (the reference)."""
    import transformers

    return transformers.BertModel.from_pretrained(repo_id, cache_dir=str(cache), revision=revision).eval()


def snapshot_of(repo_id, cache, revision=None):
    """The snapshot directory huggingface_hub itself resolves for a cached repo (config.json's folder)."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, "config.json", cache_dir=str(cache), revision=revision)
    assert isinstance(path, str), f"huggingface_hub finds no cached config.json of {repo_id}@{revision}"
    return os.path.dirname(path)


# ---------------------------------------------------------------------------------------------- the cache itself

def test_the_test_cache_is_what_huggingface_hub_reads(hf_cache):
    from huggingface_hub import get_cached_repo_tree, scan_cache_dir

    info = scan_cache_dir(hf_cache)
    assert not info.warnings, info.warnings
    repos = {repo.repo_id: repo for repo in info.repos}
    assert set(repos) == {REPO, ROOT_REPO, BIN_REPO}
    revisions = {revision.commit_hash: revision for revision in repos[REPO].revisions}
    assert set(revisions) == {COMMIT_MAIN, COMMIT_V1}
    assert revisions[COMMIT_MAIN].refs == frozenset({"main"}) and revisions[COMMIT_V1].refs == frozenset({TAG})
    assert {f.file_name for f in revisions[COMMIT_MAIN].files} >= {"config.json", "model.safetensors", "vocab.txt"}
    # The tree listing (what a download records) is read back, naming the files that were never fetched.
    listed = {f.path for f in get_cached_repo_tree(REPO, cache_dir=hf_cache, revision="main")}
    assert listed >= set(UNFETCHED) | {"pytorch_model.bin", "model.safetensors"}


# ---------------------------------------------------------------------------------------------- resolving

@pytest.mark.parametrize("source, revision, repo_id, expected_revision", [
    (f"hf://{REPO}", None, REPO, None),
    (REPO, None, REPO, None),
    (f"{REPO}@{TAG}", None, REPO, TAG),
    (f"hf://{REPO}@{COMMIT_V1}", None, REPO, COMMIT_V1),
    (REPO, TAG, REPO, TAG),
    (f"{REPO}@main", "main", REPO, "main"),
    (ROOT_REPO, None, ROOT_REPO, None),
    (BIN_REPO, None, BIN_REPO, None),
])
def test_hub_names_resolve_to_the_snapshot_huggingface_hub_resolves(hf_cache, source, revision, repo_id,
                                                                    expected_revision):
    # Offline (tests/conftest.py sets HF_HUB_OFFLINE=1). The tree listings name tf_model.h5, README.md and (for
    # main) pytorch_model.bin, none of them cached: huggingface_hub raises if a requested file is missing, so a
    # result also shows that only the BERT files were asked for.
    directory = resolve_checkpoint(source, revision=revision, cache_dir=hf_cache)
    assert directory == snapshot_of(repo_id, hf_cache, expected_revision)


def test_hf_home_and_hf_hub_cache_are_honoured(hf_cache, tmp_path):
    # huggingface_hub reads its environment when imported: check in fresh processes.
    home = tmp_path / "hf_home"
    home.mkdir()
    (home / "hub").symlink_to(hf_cache, target_is_directory=True)
    code = "from bert_keras.checkpoints import resolve_checkpoint; print(resolve_checkpoint(%r))" % REPO
    for variable, value in (("HF_HUB_CACHE", str(hf_cache)), ("HF_HOME", str(home))):
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HF_HOME")}
        env.update({variable: value, "HF_HUB_OFFLINE": "1"})
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                                cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        assert result.returncode == 0, result.stderr
        printed = result.stdout.strip().splitlines()[-1]
        assert os.path.realpath(printed) == os.path.realpath(snapshot_of(REPO, hf_cache)), (variable, printed)


def test_default_cache_is_huggingface_hubs(hf_cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_cache))
    assert resolve_checkpoint(f"hf://{REPO}") == snapshot_of(REPO, hf_cache)


def test_local_directory_wins_and_is_returned_as_is(tmp_path, monkeypatch):
    (tmp_path / REPO).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint(REPO) == REPO
    assert resolve_checkpoint(tmp_path) == str(tmp_path)


def test_missing_path_that_is_no_hub_name_is_file_not_found(tmp_path):
    missing = str(tmp_path / "nowhere" / "checkpoint")
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory") as raised:
        resolve_checkpoint(missing)
    assert missing in str(raised.value) and not isinstance(raised.value, CheckpointNotFoundError)
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory"):
        resolve_checkpoint("a/b/c")  # two slashes: a path, not org/name


def test_bad_sources_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="s3://"):
        resolve_checkpoint("s3://bucket/bert")
    with pytest.raises(ValueError, match="'v1'.*'v2'"):
        resolve_checkpoint(f"{REPO}@v1", revision="v2", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not a valid Hugging Face repo name"):
        resolve_checkpoint("hf://bad--name", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="Kaggle model version"):
        resolve_checkpoint("bert_tiny_en_uncased", revision="main", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not of a BERT backbone"):
        resolve_checkpoint("gpt2_base_en", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- loading

def test_hf_name_loads_with_transformers_outputs(hf_cache, models, batch):
    loaded = load_checkpoint(f"hf://{REPO}", cache_dir=hf_cache)
    reference = transformers_from_cache(REPO, hf_cache)
    expected = torch_outputs(reference, batch)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), expected, batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert max(max_diffs(torch_outputs(models["main"], batch), expected, batch["padding_mask"])) < 1e-6
    snapshot = snapshot_of(REPO, hf_cache)
    assert loaded.vocab_path == os.path.join(snapshot, "vocab.txt")
    assert loaded.lowercase is True  # main's tokenizer_config.json


def test_bare_name_and_pinned_revision_load_their_own_weights(hf_cache, models, batch, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_cache))  # the default cache, as HF_HUB_CACHE sets it
    latest = load_checkpoint(REPO)
    pinned = load_checkpoint(REPO, revision=TAG)
    main_reference = torch_outputs(transformers_from_cache(REPO, hf_cache), batch)
    v1_reference = torch_outputs(transformers_from_cache(REPO, hf_cache, revision=TAG), batch)
    mask = batch["padding_mask"]
    assert max(max_diffs(keras_outputs(latest.encoder, batch), main_reference, mask)) < TOLERANCE
    assert max(max_diffs(keras_outputs(pinned.encoder, batch), v1_reference, mask)) < TOLERANCE
    assert max(max_diffs(keras_outputs(pinned.encoder, batch), main_reference, mask)) > 0.1  # other weights
    assert pinned.lowercase is False  # v1's tokenizer_config.json says cased


def test_pytorch_only_repo_loads(hf_cache, models, batch):
    loaded = load_checkpoint(BIN_REPO, cache_dir=hf_cache)
    expected = torch_outputs(transformers_from_cache(BIN_REPO, hf_cache), batch)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), expected, batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs


def test_cli_convert_reads_a_hub_name(hf_cache, batch, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from bert_keras.cli import main

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_cache))
    output = tmp_path / "converted"
    assert main(["convert", "--input", f"hf://{REPO}@{TAG}", "--output", str(output), "--to", "keras"]) == 0
    loaded = load_checkpoint(output)
    expected = torch_outputs(transformers_from_cache(REPO, hf_cache, revision=TAG), batch)
    diffs = max_diffs(keras_outputs(loaded.encoder, batch), expected, batch["padding_mask"])
    assert max(diffs) < TOLERANCE, diffs
    assert loaded.lowercase is False


# ---------------------------------------------------------------------------------------------- not cached

def test_uncached_hf_name_offline_names_the_cache_and_the_download(tmp_path):
    cache = tmp_path / "empty_cache"
    for source in ("hf://tiny-org/absent", "tiny-org/absent"):
        with pytest.raises(CheckpointNotFoundError) as raised:
            load_checkpoint(source, cache_dir=cache)
        message = str(raised.value)
        assert source in message and str(cache) in message
        assert "HF_HUB_OFFLINE is set" in message
        assert f"`hf download tiny-org/absent --cache-dir {cache} config.json vocab.txt" in message
        assert raised.value.cache_dir == str(cache) and raised.value.source == source
        assert isinstance(raised.value, FileNotFoundError)
    assert "no such local directory" in message  # the bare name might have been a mistyped path


def test_uncached_revision_and_incomplete_snapshot_are_clear_errors(hf_cache, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"at revision 'v9' is not in the Hugging Face cache"):
        resolve_checkpoint(REPO, revision="v9", cache_dir=hf_cache)
    # A snapshot whose tree listing names model.safetensors, but the file never arrived.
    partial = tmp_path / "partial_cache"
    add_snapshot(partial, REPO, COMMIT_MAIN, {"config.json": b"{}"}, refs=["main"],
                 unfetched={"model.safetensors": b"weights"})
    partly = r"only partly in the Hugging Face cache .*: 1 file\(s\) are missing \(model.safetensors\)"
    with pytest.raises(CheckpointNotFoundError, match=partly) as raised:
        resolve_checkpoint(REPO, cache_dir=partial)
    assert "hf download" in str(raised.value)
    # No tree listing, so huggingface_hub cannot tell; the snapshot lacks weights all the same.
    bare = tmp_path / "no_tree_cache"
    add_snapshot(bare, REPO, COMMIT_MAIN, {"config.json": b"{}"}, refs=["main"])
    shutil.rmtree(bare / f"models--{REPO.replace('/', '--')}" / "trees")
    with pytest.raises(CheckpointNotFoundError, match="has no model.safetensors or pytorch_model.bin"):
        resolve_checkpoint(REPO, cache_dir=bare)


class _FakeHub(BaseHTTPRequestHandler):
    """Answers every request as the Hub answers for a repo or revision that does not exist."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        code = "RevisionNotFound" if "/revision/no-such-branch" in self.path else "RepoNotFound"
        self.send_response(404)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", "not found")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub(monkeypatch):
    from huggingface_hub import constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield
    server.shutdown()
    server.server_close()


def test_unknown_hub_name_and_revision_online(fake_hub, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="was not found on the Hugging Face Hub"):
        resolve_checkpoint("tiny-org/no-such-model", cache_dir=tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="no such branch, tag or commit"):
        resolve_checkpoint("tiny-org/tiny-bert@no-such-branch", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- keras-hub presets

@pytest.fixture
def no_network(monkeypatch):
    """Name resolution fails, as on a machine without a network."""
    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", offline)


def test_uncached_keras_hub_preset_offline_is_a_clear_error(no_network, tmp_path):
    cache = tmp_path / "kagglehub"
    before = os.environ.get("KAGGLEHUB_CACHE")
    with pytest.raises(CheckpointNotFoundError) as raised:
        load_checkpoint("bert_tiny_en_uncased", cache_dir=cache)
    message = str(raised.value)
    assert "bert_tiny_en_uncased" in message and "kaggle://keras/bert/keras/bert_tiny_en_uncased/" in message
    assert str(cache) in message and "Kaggle could not be reached" in message
    assert "resolve_checkpoint('bert_tiny_en_uncased')" in message  # how to fetch it
    assert os.environ.get("KAGGLEHUB_CACHE") == before  # the cache override is scoped


def test_cached_keras_hub_preset_resolves_through_keras_hub_offline(no_network, vocab_path, tmp_path,
                                                                    monkeypatch):
    import keras_hub
    from kagglehub import cache as kaggle_cache
    from kagglehub.handle import parse_model_handle

    # A tiny stand-in saved by keras-hub, placed in the kagglehub cache with kagglehub's own cache functions.
    preset = tmp_path / "saved_preset"
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab_path, lowercase=False)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
                                             hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
    backbone.save_to_preset(preset)
    tokenizer.save_to_preset(preset)
    handle_str = keras_hub.models.BertBackbone.presets["bert_tiny_en_uncased"]["kaggle_handle"]
    handle = parse_model_handle(handle_str[len("kaggle://"):])
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    cache = kaggle_cache.Cache()
    for path in preset.rglob("*"):
        if path.is_file():
            relative = str(path.relative_to(preset))
            target = cache.get_path(handle, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(path, target)
            cache.mark_as_complete(handle, relative)

    directory = resolve_checkpoint("bert_tiny_en_uncased")
    assert directory == cache.get_path(handle)
    loaded = load_checkpoint("bert_tiny_en_uncased")
    token_ids = np.array([[2, 5, 7, 3]], np.int32)
    inputs = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": np.ones_like(token_ids)}
    expected = backbone(inputs, training=False)["sequence_output"]
    np.testing.assert_allclose(keras_outputs(loaded.encoder, inputs)[0], np.asarray(expected), atol=1e-5)
    assert loaded.lowercase is False and loaded.vocab_path == os.path.join(directory, "assets", "tokenizer",
                                                                           "vocabulary.txt")
