"""Checkpoint sources by name: a local directory, a Hugging Face Hub repo or a keras-hub preset, as a local directory.

Downloads and caches are the field's own: huggingface_hub's `snapshot_download` (its cache, HF_HUB_OFFLINE,
HF_HUB_CACHE / HF_HOME, revision pinning) for the Hugging Face Hub, and keras-hub's preset file loader (which
caches through kagglehub, KAGGLEHUB_CACHE) for keras-hub presets.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator

import keras_hub
import requests
from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HFValidationError,
    IncompleteSnapshotError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from kagglehub.config import CACHE_FOLDER_ENV_VAR_NAME, get_cache_folder
from keras_hub.src.utils import preset_utils

from bert_keras.errors import CheckpointNotFoundError, InputFileError, InvalidInputError
from bert_keras.json_files import read_json

HF_SCHEME = "hf://"
KAGGLE_SCHEME = "kaggle://"
REVISION_SEPARATOR = "@"

# What a BERT checkpoint needs from a Hugging Face repo (the rest of a repo, e.g. TF/Flax/ONNX weights, is skipped).
HF_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json",
            "model.safetensors")
HF_TORCH_FILE = "pytorch_model.bin"  # fetched only when the repo has no model.safetensors
# A keras-hub preset hosted on the Hugging Face Hub (e.g. hf://keras/bert_tiny_en_uncased); absent from HF BERT
# repos, so these patterns download nothing there.
KERAS_HUB_ON_HF_FILES = ("metadata.json", "model.weights.h5", "assets/tokenizer/*")

# keras-hub preset files: config.json and the weights are required, the rest optional.
KERAS_HUB_CONFIG = "config.json"
KERAS_HUB_WEIGHTS = "model.weights.h5"
KERAS_HUB_SHARDED_WEIGHTS = "model.weights.json"  # index of a sharded preset: {"weight_map": {...: file(s)}}
KERAS_HUB_OPTIONAL = ("metadata.json", "tokenizer.json", "assets/tokenizer/vocabulary.txt")

# A bare hub name: `name` or `org/name`, word characters, dots and dashes (optionally followed by @revision).
_HUB_NAME = re.compile(r"\w[\w.\-]*(/\w[\w.\-]*)?")
_KAGGLE_SEGMENTS = (4, 5)  # org/model/framework/variation[/version]


def resolve_checkpoint(source: str | os.PathLike, revision: str | None = None,
                       cache_dir: str | os.PathLike | None = None) -> str:
    """A local directory holding the checkpoint `source` names, downloading it into the hub's cache if needed.

    How `source` is read, in this order:

    1. ``hf://org/name`` is a Hugging Face Hub repo; ``kaggle://org/model/keras/variant[/version]`` a keras-hub
       preset on Kaggle. Any other ``scheme://`` is an error.
    2. An existing path is a local directory and is returned as is (an existing file is an error). An
       `os.PathLike` is always a local path.
    3. A bare name (``name`` or ``org/name``: word characters, ``.`` and ``-``, at most one ``/``, no OS path
       separator beyond it) that does not exist locally is a hub name: one of
       ``keras_hub.models.BertBackbone.presets`` (e.g. ``bert_tiny_en_uncased``) is a keras-hub preset, anything
       else a Hugging Face repo (``bert-base-uncased``, ``google-bert/bert-base-uncased``).
    4. Anything else is a missing local path: FileNotFoundError.

    A hub name may end in ``@revision`` (``org/name@v1.0``, ``org/name@<commit>``; for a keras-hub preset the
    Kaggle version number), the same as passing `revision`.

    Hugging Face repos are fetched with `huggingface_hub.snapshot_download` into its cache (HF_HUB_CACHE /
    HF_HOME, or `cache_dir`), honouring HF_HUB_OFFLINE; only the files a BERT checkpoint needs are fetched
    (config.json, vocab.txt, tokenizer_config.json, special_tokens_map.json, tokenizer.json, model.safetensors,
    and pytorch_model.bin only for a repo without model.safetensors; a keras-hub preset hosted on the Hub also
    gets its metadata.json, model.weights.h5 and assets/tokenizer/). keras-hub presets go through keras-hub's own
    preset file loader, which caches through kagglehub (KAGGLEHUB_CACHE, or `cache_dir`).

    Args:
        source: a local directory or a hub name, as above.
        revision: a branch, tag or commit (Hugging Face) or a version number (Kaggle) to pin.
        cache_dir: the hub cache to use instead of the default one (for a keras-hub preset it is set as
            KAGGLEHUB_CACHE for the duration of the call, so do not resolve presets from several threads with
            different `cache_dir`s).

    Returns:
        The local directory (for a hub name, the cached snapshot or preset directory).

    Raises:
        CheckpointNotFoundError: a hub name that is neither cached nor downloadable (offline, unknown, gated),
            naming the cache searched and how to get the checkpoint.
        FileNotFoundError: a missing local path that is not a hub name.
        ValueError: an unsupported scheme, an invalid hub name or revision, or conflicting revisions.
    """
    if isinstance(source, os.PathLike):
        return _local_directory(os.fspath(source))
    if not isinstance(source, str):
        raise TypeError(f"checkpoint source {source!r}: expected a str or os.PathLike, got {type(source).__name__}")
    if source.startswith(HF_SCHEME):
        name, revision = _split_revision(source, source[len(HF_SCHEME):], revision)
        return _resolve_hf(source, name, revision, cache_dir, bare=False)
    if source.startswith(KAGGLE_SCHEME):
        return _resolve_keras_hub(source, _kaggle_handle(source, source, revision), cache_dir)
    if "://" in source:
        raise InvalidInputError(f"checkpoint source {source!r}: unsupported scheme {source.split('://')[0] + '://'!r}; "
                         f"expected {HF_SCHEME}org/name, {KAGGLE_SCHEME}org/model/keras/variant[/version], a bare "
                         "hub name or a local directory")
    if os.path.exists(source):
        return _local_directory(source)
    name, _, _ = source.partition(REVISION_SEPARATOR)
    if not _looks_like_hub_name(name):
        return _local_directory(source)
    name, revision = _split_revision(source, source, revision)
    if "/" not in name and name in _keras_hub_bert_presets():
        return _resolve_keras_hub(source, _kaggle_handle(source, name, revision), cache_dir)
    if "/" not in name:
        _refuse_other_keras_hub_presets(source, name)
    return _resolve_hf(source, name, revision, cache_dir, bare=True)


# ------------------------------------------------------------------------------------------------ name rules

def _looks_like_hub_name(name: str) -> bool:
    return bool(_HUB_NAME.fullmatch(name))  # no backslash, no leading "/", ".", "~": never an OS path form


def _split_revision(source: str, name: str, revision: str | None) -> tuple[str, str | None]:
    """`name@rev` -> (name, rev), checking `rev` against the `revision` argument."""
    name, separator, in_name = name.partition(REVISION_SEPARATOR)
    if not separator:
        return name, revision
    if not in_name:
        raise InvalidInputError(f"checkpoint source {source!r}: empty revision after {REVISION_SEPARATOR!r}; expected "
                         f"name{REVISION_SEPARATOR}branch, tag or commit")
    if revision is not None and revision != in_name:
        raise InvalidInputError(f"checkpoint source {source!r} pins revision {in_name!r} but revision={revision!r} "
                         "was passed too; give one")
    return name, in_name


def _local_directory(path: str) -> str:
    if os.path.isdir(path):
        return path
    if os.path.exists(path):
        raise NotADirectoryError(f"{path}: a file; expected a checkpoint directory (or a hub name)")
    raise FileNotFoundError(
        f"{path}: no such checkpoint directory, and not a hub name (expected a local directory, "
        f"{HF_SCHEME}org/name, a Hugging Face name such as org/name, a keras-hub preset name such as "
        f"bert_tiny_en_uncased, or {KAGGLE_SCHEME}org/model/keras/variant)")


# ------------------------------------------------------------------------------------------------ Hugging Face

def _resolve_hf(source: str, repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None,
                bare: bool) -> str:
    """The snapshot directory of `repo_id` in huggingface_hub's cache, fetching the BERT files if needed."""
    cache = os.path.abspath(os.path.expanduser(os.fspath(cache_dir))) if cache_dir is not None \
        else constants.HF_HUB_CACHE
    at = f" at revision {revision!r}" if revision else ""
    no_local = "no such local directory, and the " if bare else ""  # a bare name may be a mistyped path

    def not_found(reason: str) -> CheckpointNotFoundError:
        return CheckpointNotFoundError(source, cache, f"{source}: {no_local}Hugging Face repo {repo_id!r}{at} "
                                                      f"{reason}")

    def download(patterns) -> str:
        return snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=list(patterns))

    try:
        folder = download(HF_FILES + KERAS_HUB_ON_HF_FILES)
        if not _exists(folder, "model.safetensors") and not _is_keras_hub_config(folder):
            folder = download((HF_TORCH_FILE,))
    except HFValidationError as error:
        raise InvalidInputError(f"checkpoint source {source!r}: {repo_id!r} is not a valid Hugging Face repo name "
                         f"(expected name or org/name): {error}") from None
    except LocalEntryNotFoundError as error:
        if constants.HF_HUB_OFFLINE:
            reason = "HF_HUB_OFFLINE is set"
        else:
            cause = error.__cause__ or error
            reason = f"the Hub could not be reached: {type(cause).__name__}: {_first_line(cause)}"
        if isinstance(error, IncompleteSnapshotError):
            missing = re.search(r"\d+ file\(s\) are missing \([^)]*\)", str(error))
            where = f"is only partly in the Hugging Face cache {cache}{': ' + missing.group(0) if missing else ''},"
        else:
            where = f"is not in the Hugging Face cache {cache}"
        raise not_found(f"{where} and cannot be downloaded ({reason}). "
                        f"{_hf_hint(repo_id, revision, cache_dir, constants.HF_HUB_OFFLINE)}") from None
    except GatedRepoError:
        raise not_found("is gated: accept its terms on huggingface.co, then log in (`hf auth login`) or set "
                        "HF_TOKEN") from None
    except RevisionNotFoundError:
        raise not_found("does not exist: the repo has no such branch, tag or commit") from None
    except RepositoryNotFoundError:
        raise not_found("was not found on the Hugging Face Hub (check the name; a private repo needs "
                        "`hf auth login` or HF_TOKEN)") from None
    missing = _missing_checkpoint_files(folder)
    if missing:
        raise not_found(f"has no {' or '.join(missing)} in its snapshot {folder} (not a BERT checkpoint, or only "
                        f"partly cached). {_hf_hint(repo_id, revision, cache_dir, constants.HF_HUB_OFFLINE)}")
    return folder


def _hf_hint(repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None, offline: bool) -> str:
    """How to put the checkpoint into the cache: the `hf download` of exactly the files resolving asks for."""
    options = (f" --revision {revision}" if revision else "") + \
              (f" --cache-dir {os.fspath(cache_dir)}" if cache_dir is not None else "")
    retry = "unset HF_HUB_OFFLINE and retry with internet access" if offline else "retry with internet access"
    return (f"To get it: `hf download {repo_id}{options} {' '.join(HF_FILES)}` (a repo without model.safetensors "
            f"needs {HF_TORCH_FILE}) where the Hub is reachable, or {retry}.")


def _first_line(error: BaseException) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines else "(no message)"


def _exists(folder: str, name: str) -> bool:
    return os.path.exists(os.path.join(folder, name))


def _is_keras_hub_config(folder: str) -> bool:
    """Whether `folder`'s config.json is a keras-hub preset's (a serialized Keras object), the rule of
    `detect_format`."""
    path = os.path.join(folder, KERAS_HUB_CONFIG)
    if not os.path.exists(path):
        return False
    try:
        data = read_json(path, expect=None)
    except InputFileError:
        return False  # not a keras-hub config; detect_format reports the file
    return isinstance(data, dict) and "class_name" in data and "module" in data


def _missing_checkpoint_files(folder: str) -> list[str]:
    if not _exists(folder, KERAS_HUB_CONFIG):
        return [KERAS_HUB_CONFIG]
    if _is_keras_hub_config(folder):
        return [] if _exists(folder, KERAS_HUB_WEIGHTS) else [KERAS_HUB_WEIGHTS]
    if _exists(folder, "model.safetensors") or _exists(folder, HF_TORCH_FILE):
        return []
    return ["model.safetensors", HF_TORCH_FILE]


# ------------------------------------------------------------------------------------------------ keras-hub

def _keras_hub_bert_presets() -> dict:
    return keras_hub.models.BertBackbone.presets


def _refuse_other_keras_hub_presets(source: str, name: str) -> None:
    """A keras-hub preset of another architecture is an error, not a Hugging Face name to look up."""
    if name in preset_utils.BUILTIN_PRESETS:
        examples = ", ".join(sorted(_keras_hub_bert_presets())[:4])
        raise InvalidInputError(f"checkpoint source {source!r}: a keras-hub preset, but not of a BERT backbone; "
                                f"expected one of keras_hub.models.BertBackbone.presets (e.g. {examples})")


def _kaggle_handle(source: str, name: str, revision: str | None) -> str:
    """The kaggle:// handle of a built-in preset name or a kaggle:// source, with the version pinned if asked."""
    if name.startswith(KAGGLE_SCHEME):
        handle, revision = _split_revision(source, name, revision)
    else:
        handle = _keras_hub_bert_presets()[name]["kaggle_handle"]
    segments = handle[len(KAGGLE_SCHEME):].split("/")
    if len(segments) not in _KAGGLE_SEGMENTS or not all(segments):
        raise InvalidInputError(f"checkpoint source {source!r}: expected a Kaggle handle "
                         f"{KAGGLE_SCHEME}org/model/framework/variation[/version], e.g. "
                         f"{KAGGLE_SCHEME}keras/bert/keras/bert_tiny_en_uncased/3")
    if revision is None:
        return handle
    if not revision.isdigit():
        raise InvalidInputError(f"checkpoint source {source!r}: revision {revision!r} is not a Kaggle model version "
                         "(expected a number such as 3)")
    if len(segments) == max(_KAGGLE_SEGMENTS):
        if name.startswith(KAGGLE_SCHEME) and segments[-1] != revision:
            raise InvalidInputError(f"checkpoint source {source!r} pins version {segments[-1]} but "
                                    f"revision={revision!r} "
                             "was passed too; give one")
        segments = segments[:-1]
    return KAGGLE_SCHEME + "/".join(segments + [revision])


@contextlib.contextmanager
def _kagglehub_cache(cache_dir: str | os.PathLike | None) -> Iterator[str]:
    """kagglehub's cache folder for the block: `cache_dir` if given (through KAGGLEHUB_CACHE, the setting
    kagglehub reads on every call; restored afterwards), else its configured one."""
    if cache_dir is None:
        yield get_cache_folder()
        return
    previous = os.environ.get(CACHE_FOLDER_ENV_VAR_NAME)
    os.environ[CACHE_FOLDER_ENV_VAR_NAME] = os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))
    try:
        yield get_cache_folder()
    finally:
        if previous is None:
            os.environ.pop(CACHE_FOLDER_ENV_VAR_NAME, None)
        else:
            os.environ[CACHE_FOLDER_ENV_VAR_NAME] = previous


def _resolve_keras_hub(source: str, handle: str, cache_dir: str | os.PathLike | None) -> str:
    """The local preset directory of a Kaggle-hosted keras-hub preset, fetched through keras-hub's own loader.

    keras-hub exposes no public "download this preset" call; `preset_utils.get_file` is what its `from_preset`
    uses for every file, so the files land in the same kagglehub cache keras-hub itself reads.
    """
    unversioned = ("; an unversioned handle always asks Kaggle for its latest version, so pin one "
                   f"({handle}/<version>) to use the cache offline"
                   if len(handle[len(KAGGLE_SCHEME):].split("/")) < max(_KAGGLE_SEGMENTS) else "")
    with _kagglehub_cache(cache_dir) as cache:
        def not_found(reason: str) -> CheckpointNotFoundError:
            return CheckpointNotFoundError(source, cache, f"{source}: keras-hub preset {handle} {reason}")

        try:
            try:
                config = preset_utils.get_file(handle, KERAS_HUB_CONFIG)
            except FileNotFoundError:
                raise not_found("was not found on Kaggle (check the name and version; a gated model needs its "
                                "terms accepted on kaggle.com)") from None
            # check_file_exists fetches the file when the preset has it.
            if not preset_utils.check_file_exists(handle, KERAS_HUB_WEIGHTS):
                if not preset_utils.check_file_exists(handle, KERAS_HUB_SHARDED_WEIGHTS):
                    raise not_found(f"has neither {KERAS_HUB_WEIGHTS} nor {KERAS_HUB_SHARDED_WEIGHTS}")
                for shard in _shard_files(preset_utils.get_file(handle, KERAS_HUB_SHARDED_WEIGHTS)):
                    preset_utils.get_file(handle, shard)
            for optional in KERAS_HUB_OPTIONAL:
                preset_utils.check_file_exists(handle, optional)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            raise not_found(
                f"is not (fully) in the kagglehub cache {cache} and cannot be downloaded (Kaggle could not be "
                f"reached: {type(error).__name__}: {_first_line(error)}). To get it, run once with internet access: "
                f"`python -c \"from bert_keras.checkpoints import resolve_checkpoint; "
                f"resolve_checkpoint('{source}')\"` (set KAGGLEHUB_CACHE to choose the cache), or pass a local "
                f"preset directory written by keras-hub's save_to_preset{unversioned}") from None
    return os.path.dirname(config)


def _shard_files(index_path: str) -> list[str]:
    """The weight files a sharded keras-hub preset's model.weights.json names."""
    weight_map = read_json(index_path).get("weight_map", {})
    names = set()
    for value in weight_map.values():
        names.update(value if isinstance(value, list) else [value])
    return sorted(names)
