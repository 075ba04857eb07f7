"""ModelManager: which versions of which models are loaded, kept in step with their base paths (TF Serving's
file-system source + availability-preserving manager).

Each model's base path is polled for numeric version directories. The versions its policy wants (latest N,
all, or specific ones) are loaded; a version no longer wanted is unloaded only after the versions replacing it
are available, and only when the requests already holding it have finished: during a hot swap every request is
served by either the old or the new version.

A version is loaded only once its directory is complete: its file listing (names, sizes, modification times)
must be the same in two scans `SETTLE_SECONDS` apart, and a graph with variables needs its variables index. A
load that fails anyway (a copy caught half-way, a transient read error) is retried, as TF Serving does, up to
`max_num_load_retries` more times, `load_retry_interval_seconds` apart; a version whose directory changes is
retried at once. Versions whose directory is gone are forgotten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from typing import Iterator

import grpc
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis.get_model_status_pb2 import ModelVersionStatus
from tensorflow_serving.config import model_server_config_pb2

from bert_keras.serving.errors import ServingError, not_found
from bert_keras.serving.servable import Servable
from bert_keras.serving.servable_loader import open_servable
from bert_keras.serving_contract import OPENVINO_MANIFEST, OPENVINO_MODEL, OPENVINO_TEXT_MODEL, OPENVINO_WEIGHTS

log = logging.getLogger("bert_keras.serving")

LOADING, AVAILABLE, UNLOADING, END = (ModelVersionStatus.LOADING, ModelVersionStatus.AVAILABLE,
                                      ModelVersionStatus.UNLOADING, ModelVersionStatus.END)
RETIRE_TIMEOUT_SECONDS = 60.0
SETTLE_SECONDS = 0.2
VARIABLES_INDEX = os.path.join("variables", "variables.index")
_VARIABLE_OPS = {"VarHandleOp", "VariableV2", "Variable"}
# TF Serving's defaults: --max_num_load_retries=5, --load_retry_interval_micros=60000000.
DEFAULT_MAX_LOAD_RETRIES = 5
DEFAULT_LOAD_RETRY_INTERVAL_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class LoadRetryPolicy:
    """How failed version loads are retried (TF Serving's --max_num_load_retries, --load_retry_interval_micros)."""

    max_num_load_retries: int = DEFAULT_MAX_LOAD_RETRIES
    load_retry_interval_seconds: float = DEFAULT_LOAD_RETRY_INTERVAL_SECONDS


@dataclasses.dataclass
class VersionState:
    version: int
    state: int
    servable: Servable | None = None
    error: str = ""
    failures: int = 0  # failed loads so far
    retry_at: float = 0.0  # time.monotonic() of the next allowed attempt
    listing: tuple = ()  # the directory listing the last failed attempt saw


def _listing(path: str) -> tuple:
    """(relative path, size, mtime_ns) of every file under `path`, sorted: changes while a copy is under way."""
    entries = []
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                info = os.stat(full)
            except OSError:  # removed while listed: the directory is changing
                continue
            entries.append((os.path.relpath(full, path), info.st_size, info.st_mtime_ns))
    return tuple(sorted(entries))


def _has_variables(saved_model_pb: str) -> bool:
    """Whether the SavedModel's graph holds variables (then its variables index must be present)."""
    model = saved_model_pb2.SavedModel()
    try:
        with open(saved_model_pb, "rb") as f:
            model.ParseFromString(f.read())
    except (OSError, DecodeError):
        return False  # unreadable or cut short: the load reports it (and is retried)
    return any(node.op in _VARIABLE_OPS for graph in model.meta_graphs for node in graph.graph_def.node)


def _incomplete(path: str) -> str | None:
    """Why a version directory cannot be loaded yet (still being written), or None. An OpenVINO export (it has
    the manifest) needs its IR files and its text part's SavedModel."""
    saved_model_dir = path
    if os.path.exists(os.path.join(path, OPENVINO_MANIFEST)):
        for name in (OPENVINO_MODEL, OPENVINO_WEIGHTS):
            if not os.path.exists(os.path.join(path, name)):
                return f"no {name} yet"
        saved_model_dir = os.path.join(path, OPENVINO_TEXT_MODEL)
    pb = os.path.join(saved_model_dir, "saved_model.pb")
    if not os.path.exists(pb) and not os.path.exists(os.path.join(saved_model_dir, "saved_model.pbtxt")):
        return "no saved_model.pb yet"
    if os.path.exists(pb) and not os.path.exists(os.path.join(saved_model_dir, VARIABLES_INDEX)) and \
            _has_variables(pb):
        return f"its graph has variables but {VARIABLES_INDEX} is missing"
    before = _listing(path)
    time.sleep(SETTLE_SECONDS)
    if _listing(path) != before:
        return "its files are still changing"
    return None


def _public_message(error: Exception, path: str) -> str:
    """A load error without the server's absolute paths (it is shown to clients by GetModelStatus)."""
    message = str(error).replace(os.path.dirname(path) + os.sep, "").replace(os.path.dirname(path), "")
    return message.split("\n")[0] or type(error).__name__


def _numeric_versions(base_path: str) -> list[int]:
    try:
        names = os.listdir(base_path)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(base_path, n)))


def wanted_versions(model_config: model_server_config_pb2.ModelConfig, present: list[int]) -> list[int]:
    """The versions a ModelConfig's version policy serves out of those present (default: the latest one)."""
    policy = model_config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return list(present)
    if kind == "specific":
        return sorted(v for v in present if v in set(policy.specific.versions))
    count = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions else 1
    return present[-count:]


class ModelManager:
    """Loaded versions of the models in a ModelServerConfig.

    Args:
        config: a tensorflow_serving ModelServerConfig (model_config_list).
        poll_seconds: how often base paths are scanned for versions (0: only at start and on `poll()`).
        retry: a `LoadRetryPolicy` (TF Serving's defaults if None).
    """

    def __init__(self, config: model_server_config_pb2.ModelServerConfig, poll_seconds: float = 1.0,
                 retry: LoadRetryPolicy | None = None):
        self.retry = retry or LoadRetryPolicy()
        self._lock = threading.RLock()
        self._models: dict[str, dict[int, VersionState]] = {}
        self._configs: dict = {}
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._poll_lock = threading.Lock()
        self.reload_config(config)
        self._thread = None
        if poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="version-poller", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ configuration and loading

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Serve exactly the models of `config` (HandleReloadConfigRequest): new ones load, dropped ones unload."""
        configs = {m.name: m for m in config.model_config_list.config}
        if len(configs) != len(config.model_config_list.config):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "model names in the config must be unique")
        with self._lock:
            self._configs = configs
            for name in configs:
                self._models.setdefault(name, {})
        self.poll()

    def poll(self) -> None:
        """Scan every base path once: load wanted versions, then unload unwanted ones."""
        with self._poll_lock:
            with self._lock:
                configs = dict(self._configs)
                dropped = [n for n in self._models if n not in configs]
            for name, model_config in configs.items():
                self._sync_model(name, model_config)
            for name in dropped:
                self._unload(name, list(self._models.get(name, {})))
                with self._lock:
                    self._models.pop(name, None)

    def _due(self, state: VersionState | None, path: str) -> bool:
        """Whether a wanted version should be (re)loaded now."""
        if state is None or state.state == END and not state.error:
            return True
        if state.state != END:  # loading, available or unloading
            return False
        if state.failures > self.retry.max_num_load_retries:
            return False
        return time.monotonic() >= state.retry_at or _listing(path) != state.listing

    def _sync_model(self, name: str, model_config) -> None:
        present = _numeric_versions(model_config.base_path)
        wanted = wanted_versions(model_config, present)
        with self._lock:
            versions = self._models[name]
            for gone in [v for v, s in versions.items() if v not in present and s.state == END]:
                del versions[gone]  # its directory was removed: forget it (and its failures)
            states = {v: versions.get(v) for v in wanted}
        # outside the lock: _due may list a directory, and requests resolve versions under that lock
        to_load = [v for v, state in states.items()
                   if self._due(state, os.path.join(model_config.base_path, str(v)))]
        for version in to_load:
            self._load(name, version, os.path.join(model_config.base_path, str(version)))
        with self._lock:
            available = [v for v in wanted if v in versions and versions[v].state == AVAILABLE]
            stale = [v for v, s in versions.items() if v not in wanted and s.state == AVAILABLE]
        if available or not wanted:
            self._unload(name, stale)  # availability preserving: only once a wanted version serves

    def _load(self, name: str, version: int, path: str) -> None:
        waiting = _incomplete(path)
        if waiting is not None:  # not a failure: look again at the next poll
            log.info("model %s version %s is not complete yet (%s); waiting", name, version, waiting)
            return
        with self._lock:
            previous = self._models[name].get(version)
            failures = previous.failures if previous is not None else 0
            self._models[name][version] = VersionState(version, LOADING, failures=failures)
        start = time.perf_counter()
        try:
            servable = open_servable(name, version, path)
        except Exception as error:  # a broken export must not take the server down
            failures += 1
            left = self.retry.max_num_load_retries - failures + 1
            log.error("model %s version %s failed to load from %s (attempt %d, %s): %s", name, version, path,
                      failures, f"retrying in {self.retry.load_retry_interval_seconds:g} s" if left > 0 else
                      "no retries left", error)
            with self._lock:
                self._models[name][version] = VersionState(
                    version, END, error=f"version {version} failed to load: {_public_message(error, path)}",
                    failures=failures, retry_at=time.monotonic() + self.retry.load_retry_interval_seconds,
                    listing=_listing(path))
            return
        with self._lock:
            self._models[name][version] = VersionState(version, AVAILABLE, servable)
        log.info("loaded model %s version %s in %.1f s", name, version, time.perf_counter() - start)

    def _unload(self, name: str, versions: list[int], timeout: float = RETIRE_TIMEOUT_SECONDS) -> None:
        for version in versions:
            with self._lock:
                state = self._models.get(name, {}).get(version)
                if state is None or state.servable is None:
                    continue
                servable, state.state, state.servable = state.servable, UNLOADING, None
            servable.retire(timeout)  # waits for the requests holding it
            with self._lock:
                self._models[name][version] = VersionState(version, END)
            log.info("unloaded model %s version %s", name, version)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.poll()
            except Exception:  # keep polling: a transient file-system error must not stop version updates
                log.exception("version poll failed")

    def stop(self, timeout: float = RETIRE_TIMEOUT_SECONDS) -> None:
        """Stop polling and unload everything, waiting at most `timeout` seconds in all for in-flight requests."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        with self._lock:
            names = list(self._models)
        for name in names:
            self._unload(name, list(self._models[name]), max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ requests

    def _resolve_version(self, name: str, version: int | None, label: str | None) -> int:
        versions = self._models[name]
        if label:
            labels = dict(self._configs[name].version_labels)
            if label not in labels:
                raise not_found(f"Unrecognized servable version label: {label} (model {name} has labels "
                                f"{sorted(labels)})")
            version = labels[label]
        if version is not None:
            if version not in versions or versions[version].state != AVAILABLE:
                available = sorted(v for v, s in versions.items() if s.state == AVAILABLE)
                raise not_found(f"Servable not found for request: Specific({name}, {version}); available versions "
                                f"{available}")
            return version
        available = [v for v, s in versions.items() if s.state == AVAILABLE]
        if not available:
            raise not_found(f"Servable not found for request: Latest({name}); no version of it is available yet")
        return max(available)

    @contextlib.contextmanager
    def servable(self, name: str, version: int | None = None, label: str | None = None) -> Iterator[Servable]:
        """The servable a request addresses (latest available by default), held until the block ends."""
        with self._lock:
            if name not in self._models or name not in self._configs:
                raise not_found(f"Servable not found for request: Latest({name}); served models: "
                                f"{sorted(self._configs)}")
            servable = self._models[name][self._resolve_version(name, version, label)].servable.acquire()
        try:
            yield servable
        finally:
            servable.release()

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionState]:
        """Version states of a model (all, or the one asked for), as GetModelStatus reports them."""
        with self._lock:
            if name not in self._models:
                raise not_found(f"Could not find any versions of model {name}")
            states = self._models[name]
            if label:
                version = self._resolve_version(name, None, label)
            if version is not None:
                if version not in states:
                    raise not_found(f"Could not find version {version} of model {name}")
                return [dataclasses.replace(states[version])]
            return [dataclasses.replace(s) for _, s in sorted(states.items())]

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._configs)
