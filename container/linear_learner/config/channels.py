"""inputdataconfig / resourceconfig / checkpointconfig -> ChannelSpec, Cluster, checkpoint dir.

Everything here is checked before any data is read, so a wrong ContentType or a missing `train`
channel fails in seconds with the channel named (P01, P05) instead of after minutes of polling.
Media types are parsed here with the stdlib only (the config layer may not import codecs).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from linear_learner.errors import ClientError, excerpt

CSV = "text/csv"
RECORDIO_PROTOBUF = "application/x-recordio-protobuf"
SUPPORTED_CONTENT_TYPES: tuple[str, ...] = (CSV, RECORDIO_PROTOBUF)
CHANNELS: tuple[str, ...] = ("train", "validation", "test")
INPUT_MODES: tuple[str, ...] = ("File", "Pipe", "FastFile")
DISTRIBUTIONS: tuple[str, ...] = ("FullyReplicated", "ShardedByS3Key")
COMPRESSIONS: tuple[str, ...] = ("None", "Gzip")
RECORD_WRAPPERS: tuple[str, ...] = ("None", "RecordIO")


@dataclass(frozen=True)
class ChannelSpec:
    """One data channel as the platform describes it (contract §3); values canonically spelled."""

    name: str
    content_type: str
    content_params: dict[str, str] = field(default_factory=dict)
    input_mode: str = "File"
    distribution: str = "FullyReplicated"
    compression: str = "None"
    record_wrapper: str = "None"

    @property
    def is_pipe(self) -> bool:
        return self.input_mode == "Pipe"


def _split_media_type(value: str) -> tuple[str, dict[str, str]]:
    """'Text/CSV; label_size=1' -> ('text/csv', {'label_size': '1'}); parameter names lower-cased."""
    head, *rest = value.split(";")
    params: dict[str, str] = {}
    for part in rest:
        key, _, val = part.partition("=")
        if key.strip():
            params[key.strip().lower()] = val.strip().strip('"')
    return head.strip().lower(), params


def _canonical(value: object, allowed: tuple[str, ...], default: str) -> str | None:
    """Case-insensitive match against the allowed spellings; missing -> default; unknown -> None."""
    if value is None:
        return default
    text = str(value).strip().lower()
    return next((a for a in allowed if a.lower() == text), None)


def _parse_channel(name: str, entry: object, problems: list[str]) -> ChannelSpec | None:
    where = f"channel '{excerpt(name)}'"
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: expected a JSON object (got {type(entry).__name__})")
        return None
    raw_type = entry.get("ContentType")
    if raw_type is None or not str(raw_type).strip():
        content_type, params = RECORDIO_PROTOBUF, {}
    else:
        content_type, params = _split_media_type(str(raw_type))
        if content_type not in SUPPORTED_CONTENT_TYPES:
            problems.append(
                f"{where}: unsupported ContentType '{excerpt(str(raw_type))}'; "
                f"supported: {', '.join(SUPPORTED_CONTENT_TYPES)}"
            )
            return None
    if "label_size" in params and params["label_size"] != "1":
        problems.append(f"{where}: label_size must be 1 (got '{excerpt(params['label_size'])}')")
    settings = {}
    for key, allowed, default in (
        ("TrainingInputMode", INPUT_MODES, "File"),
        ("S3DistributionType", DISTRIBUTIONS, "FullyReplicated"),
        ("CompressionType", COMPRESSIONS, "None"),
        ("RecordWrapperType", RECORD_WRAPPERS, "None"),
    ):
        value = _canonical(entry.get(key), allowed, default)
        if value is None:
            problems.append(
                f"{where}: unsupported {key} '{excerpt(str(entry.get(key)))}'; supported: {', '.join(allowed)}"
            )
        settings[key] = value or default
    return ChannelSpec(
        name=name,
        content_type=content_type,
        content_params=params,
        input_mode=settings["TrainingInputMode"],
        distribution=settings["S3DistributionType"],
        compression=settings["CompressionType"],
        record_wrapper=settings["RecordWrapperType"],
    )


def parse_inputdataconfig(raw: Mapping) -> dict[str, ChannelSpec]:
    """Validate every channel and raise one ClientError naming each bad one; unknown keys tolerated."""
    problems: list[str] = []
    specs: dict[str, ChannelSpec] = {}
    for name, entry in raw.items():
        if name not in CHANNELS:
            problems.append(f"unknown channel '{excerpt(name)}'; Linear Learner reads {', '.join(CHANNELS)}")
            continue
        spec = _parse_channel(name, entry, problems)
        if spec is not None:
            specs[name] = spec
    if "train" not in raw:
        problems.insert(0, "missing required channel 'train'")
    if problems:
        raise ClientError("invalid input data configuration: " + "; ".join(problems))
    return specs


@dataclass(frozen=True)
class Cluster:
    """This host's place in the job; rank = index in the sorted host list (hosts[0] is the master)."""

    current_host: str
    hosts: tuple[str, ...]
    network_interface_name: str | None = None

    @property
    def rank(self) -> int:
        return self.hosts.index(self.current_host)

    @property
    def is_master(self) -> bool:
        return self.rank == 0

    @property
    def is_multi_host(self) -> bool:
        return len(self.hosts) > 1


def parse_resourceconfig(raw: Mapping | None) -> Cluster:
    """resourceconfig.json -> Cluster; without the file, a single host named after this machine
    (what the training toolkit emulates, contract §3)."""
    if raw is None:
        host = socket.gethostname()
        return Cluster(current_host=host, hosts=(host,))
    current = raw.get("current_host")
    hosts = raw.get("hosts")
    problems = []
    if not isinstance(current, str) or not current:
        problems.append("'current_host' must be a non-empty string")
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        problems.append("'hosts' must be a non-empty list of host names")
    elif len(set(hosts)) != len(hosts):
        problems.append("'hosts' lists a host twice")
    elif isinstance(current, str) and current not in hosts:
        problems.append(f"current_host '{excerpt(current)}' is not in hosts {sorted(hosts)}")
    nic = raw.get("network_interface_name")
    if nic is not None and not isinstance(nic, str):
        problems.append("'network_interface_name' must be a string")
    if problems:
        raise ClientError("invalid resource configuration: " + "; ".join(problems))
    return Cluster(current_host=current, hosts=tuple(sorted(hosts)), network_interface_name=nic or None)


def parse_checkpointconfig(raw: Mapping | None, default_dir: Path) -> Path | None:
    """Checkpoint directory, or None when the job has no CheckpointConfig (no checkpointing)."""
    if raw is None:
        return None
    local = raw.get("LocalPath")
    if local is None or (isinstance(local, str) and not local.strip()):
        return default_dir
    if not isinstance(local, str):
        raise ClientError(f"invalid checkpoint configuration: LocalPath must be a string (got {local!r})")
    return Path(local.strip())


def load_json_config(path: Path, *, required: bool) -> dict | None:
    """Read one /opt/ml/input/config/*.json file (a JSON object); None if absent and optional.

    Errors name the file and the position, so a hand-written local config is fixed in one go.
    Value types are checked by the parse_* functions; hyperparameter values that are JSON numbers or
    booleans (local users write them) are accepted by parse_hyperparameters as their Python str().
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ClientError(f"missing configuration file {path}") from None
        return None
    except UnicodeDecodeError as exc:
        raise ClientError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ClientError(f"{path}: JSON is nested too deeply; expected a flat JSON object") from None
    except ValueError as exc:  # an integer literal with more digits than Python converts
        raise ClientError(f"{path}: invalid JSON ({excerpt(str(exc), 120)})") from None
    if not isinstance(data, dict):
        raise ClientError(f"{path}: expected a JSON object at the top level (got {type(data).__name__})")
    return data
