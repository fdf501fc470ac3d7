"""hyperparameters.json strings -> one frozen, resolved Hyperparameters, or one ClientError.

Reference §1.1: every client encodes differently (SDK `str()`, JSON-dumped script-mode values,
lower-case booleans, `auto`), so one pass trims, strips one level of JSON quoting and parses by the
schema's kind. Every problem is collected and raised together before any data is read (P08), so a
user fixes the whole configuration in one round trip instead of one job per typo.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from linear_learner.config import schema
from linear_learner.config.schema import BY_NAME, PARAMS, Kind, Param
from linear_learner.errors import ClientError, excerpt

_INT_RE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Hyperparameters:
    """The resolved configuration: one attribute per hyperparameter, `auto` already concrete except
    for the data-dependent feature_dim (None = from data), positive_example_weight_mult ('auto' or
    'balanced' kept as words) and num_classes (None unless multiclass).
    """

    predictor_type: str
    num_classes: int | None
    feature_dim: int | None
    mini_batch_size: int
    epochs: int
    optimizer: str
    loss: str
    learning_rate: float
    l1: float
    wd: float
    momentum: float
    beta_1: float
    beta_2: float
    bias_lr_mult: float
    bias_wd_mult: float
    use_bias: bool
    init_method: str
    init_scale: float
    init_sigma: float
    init_bias: float
    use_lr_scheduler: bool
    lr_scheduler_step: int
    lr_scheduler_factor: float
    lr_scheduler_minimum_lr: float
    normalize_data: bool
    normalize_label: bool
    unbias_data: bool
    unbias_label: bool
    num_point_for_scaler: int
    num_models: int
    num_calibration_samples: int
    binary_classifier_model_selection_criteria: str
    target_recall: float
    target_precision: float
    f_beta: float
    positive_example_weight_mult: float | str
    balance_multiclass_weights: bool
    accuracy_top_k: int
    early_stopping_patience: int
    early_stopping_tolerance: float
    margin: float
    quantile: float
    loss_insensitivity: float
    huber_delta: float
    class_names: tuple[str, ...] | None
    # Not hyperparameters of the table:
    tuning_objective_metric: str | None
    log_level: str
    user_set: frozenset[str]
    raw: dict[str, str]
    warnings: tuple[str, ...] = ()

    def as_log_dict(self) -> dict[str, object]:
        """The final configuration for the `Final configuration: {...}` line (JSON-able)."""
        out: dict[str, object] = {p.name: getattr(self, p.name) for p in PARAMS}
        if out["feature_dim"] is None:
            out["feature_dim"] = "auto"
        out[schema.TUNING_KEY] = self.tuning_objective_metric
        out[schema.LOG_LEVEL_KEY] = self.log_level
        return out


def default_configuration() -> dict[str, str]:
    """What the built-in calls default-input.json: every default as the string it would carry."""
    return {p.name: p.default for p in PARAMS if p.default is not None}


def _unquote(text: str) -> str:
    """Trim, then strip one level of JSON string quoting (`"\\"adam\\""` -> `adam`)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = text[1:-1]
        text = decoded.strip() if isinstance(decoded, str) else text
    return text


def _as_string(value: object) -> str | None:
    """hyperparameters.json should hold strings; numbers and booleans written by hand in local runs
    are accepted as their Python str() (what the SDK would have sent). Anything else: None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return None


def parse_value(param: Param, text: str) -> tuple[object, str | None]:
    """(value, None) or (None, problem) for one already-unquoted string; tokens come back as lower-case
    words, enums canonical (legacy aliases applied)."""
    word = text.lower()
    if word in param.tokens:
        return word, None
    shown = f"'{excerpt(text)}'"
    if param.kind is Kind.BOOL:
        if word in ("true", "false"):
            return word == "true", None
        return None, f"{param.name}: must be {param.describe()} (got {shown})"
    if param.kind is Kind.NAMES:
        return parse_names(param.name, text)
    if param.kind is Kind.ENUM:
        word = param.aliases.get(word, word)
        if word in param.choices:
            return word, None
        return None, f"{param.name}: must be {param.describe()} (got '{excerpt(word)}')"
    noun = "an integer" if param.kind is Kind.INT else "a number"
    not_parsed = f"{param.name}: not {noun}{''.join(f' or {t!r}' for t in param.tokens)} ({shown})"
    try:
        number = float(text)
    except ValueError:
        return None, not_parsed
    if not math.isfinite(number):
        return None, f"{param.name}: must be a finite number (got {shown})"
    if param.kind is Kind.INT:
        if not number.is_integer():
            return None, not_parsed
        try:
            number = int(text) if _INT_RE.fullmatch(text) else int(number)
        except ValueError:  # more digits than Python converts (sys.int_info.str_digits_check_threshold)
            return None, f"{param.name}: too many digits for an integer (got {shown})"
    if not param.bounds.contains(number):
        return None, f"{param.name}: must be {param.describe()} (got {shown})"
    return number, None


def parse_names(name: str, text: str) -> tuple[tuple[str, ...] | None, str | None]:
    """`["Fair","Good"]`, `Fair,Good` or the SDK's str() of a list (`['Fair', 'Good']`) -> names.

    No eval: a bracketed text that is not JSON is split on commas and each item's quotes stripped.
    """
    items: list[object]
    try:
        decoded = json.loads(text) if text.startswith("[") else None
    except ValueError:
        decoded = None
    if isinstance(decoded, list):
        items = decoded
    else:
        body = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        items = [item.strip().strip("'\"") for item in body.split(",")]
    names = tuple(str(item).strip() for item in items)
    if len(names) < 2 or any(not n for n in names):
        return None, (
            f"{name}: needs at least 2 non-empty names, as a JSON list or comma-separated (got '{excerpt(text)}')"
        )
    seen: set[str] = set()
    duplicates = sorted({n for n in names if n in seen or seen.add(n)})  # linear: no names.count per name
    if duplicates:
        return None, f"{name}: names must be unique (repeated: {excerpt(', '.join(duplicates), 120)})"
    return names, None


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, list(BY_NAME), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown hyperparameter '{excerpt(name)}'{hint}"


def _is_ignored(name: str) -> bool:
    return name in schema.IGNORED_KEYS or name.startswith(schema.IGNORED_PREFIXES)


def _parse_tuning_metric(text: str, predictor_type: object) -> tuple[str | None, str | None]:
    """`validation:objective_loss` -> (normalised, None) or (None, problem); reference §5.1."""
    channel, sep, metric = text.lower().partition(":")
    channel, metric = channel.strip(), metric.strip()
    key = schema.TUNING_KEY
    if not sep or channel not in schema.TUNING_CHANNELS:
        allowed = " or ".join(f"'{c}:'" for c in schema.TUNING_CHANNELS)
        return None, f"{key}: must start with {allowed} (got '{excerpt(text)}')"
    metrics = schema.TUNING_METRICS.get(str(predictor_type))
    if metrics is None:
        return f"{channel}:{metric}", None  # predictor_type is already reported as wrong
    valid = (
        metrics
        if channel == "validation"
        else tuple(m for m in metrics if m not in schema.VALIDATION_ONLY_METRICS)
    )
    if metric not in valid:
        return None, (
            f"{key}: '{excerpt(metric)}' is not a {channel} metric for predictor_type '{predictor_type}'; "
            f"allowed: {', '.join(valid)}"
        )
    return f"{channel}:{metric}", None


def parse_hyperparameters(raw: Mapping[str, object]) -> Hyperparameters:
    """Validate and resolve hyperparameters.json; raises one ClientError listing every problem."""
    problems: list[str] = []
    unknown: list[str] = []
    warnings: list[str] = []
    strings: dict[str, str] = {}
    given: dict[str, str] = {}  # unquoted text of table names the user provided
    for key, value in raw.items():
        text = _as_string(value)
        if text is None:
            problems.append(f"{key}: must be a string (got JSON {type(value).__name__})")
            continue
        strings[key] = text
        if key in BY_NAME:
            given[key] = _unquote(text)
        elif key not in (schema.TUNING_KEY, schema.LOG_LEVEL_KEY) and not _is_ignored(key):
            unknown.append(_unknown(key))

    values: dict[str, object] = {}
    for p in PARAMS:
        text = given.get(p.name, p.default)
        if text is None:
            continue
        value, problem = parse_value(p, text)
        if problem:
            problems.append(problem)
        else:
            values[p.name] = value
    predictor_type = values.get("predictor_type")
    if "predictor_type" not in given:
        problems.insert(0, "missing required hyperparameter 'predictor_type'")

    tuning: str | None = None
    if schema.TUNING_KEY in strings:
        tuning, problem = _parse_tuning_metric(_unquote(strings[schema.TUNING_KEY]), predictor_type)
        if problem:
            problems.append(problem)
    log_level = _unquote(strings.get(schema.LOG_LEVEL_KEY, "info")).lower()
    if log_level not in schema.LOG_LEVELS:
        problems.append(
            f"{schema.LOG_LEVEL_KEY}: must be one of {', '.join(schema.LOG_LEVELS)} (got '{excerpt(log_level)}')"
        )

    _cross_field_rules(values, given, problems, warnings, tuning)
    problems += unknown
    if problems:
        raise ClientError("invalid hyperparameters: " + "; ".join(problems))

    context: dict[str, object] = {"tuning": tuning is not None}
    for p in PARAMS:
        value = values.get(p.name)
        if value == "auto" and p.auto is not None:
            value = p.auto(context)
        values[p.name] = value
        context[p.name] = value

    user_set = frozenset(name for name, text in given.items() if text.lower() != "auto")
    return Hyperparameters(
        **values,
        tuning_objective_metric=tuning,
        log_level=log_level,
        user_set=user_set,
        raw=strings,
        warnings=tuple(warnings),
    )


def _cross_field_rules(
    values: dict[str, object],
    given: Mapping[str, str],
    problems: list[str],
    warnings: list[str],
    tuning: str | None,
) -> None:
    """Rules that involve more than one name; they adjust `values` in place before `auto` resolution."""
    ptype = values.get("predictor_type")
    if ptype == schema.MULTICLASS:
        if "num_classes" not in given:
            problems.append(
                "num_classes: required when predictor_type is multiclass_classifier (an integer in [3, 1000000])"
            )
    else:
        # The SDK's own tests send num_classes="1" with binary_classifier: ignored, never validated.
        problems[:] = [m for m in problems if not m.startswith("num_classes:")]
        values["num_classes"] = None
        if "num_classes" in given:
            warnings.append(f"num_classes is ignored for predictor_type '{ptype}'")

    names = values.get("class_names")
    if isinstance(names, tuple):
        expected = 2 if ptype == schema.BINARY else values.get("num_classes")
        if ptype == schema.REGRESSOR:
            values["class_names"] = None  # the applies_to warning below says it is ignored
        elif isinstance(expected, int) and len(names) != expected:
            which = "binary_classifier" if ptype == schema.BINARY else f"num_classes={expected}"
            problems.append(f"class_names: {len(names)} names given, {which} needs {expected}")

    loss = values.get("loss")
    allowed = schema.LOSSES_BY_TYPE.get(str(ptype))
    if allowed and loss not in (None, "auto") and loss not in allowed:
        problems.append(
            f"loss: '{loss}' is not valid for predictor_type '{ptype}'; allowed: auto, {', '.join(allowed)}"
        )

    explicit = {name for name, text in given.items() if text.lower() != "auto"}
    if ptype in schema.PREDICTOR_TYPES:
        for p in PARAMS:
            if p.name in explicit and p.name != "num_classes" and ptype not in p.applies_to:
                warnings.append(f"{p.name} applies only to {', '.join(sorted(p.applies_to))}; ignored")
        if ptype != schema.REGRESSOR:
            values["normalize_label"] = values["unbias_label"] = False

    if tuning is not None:
        if values.get("num_models") not in ("auto", 1, None):
            warnings.append(
                f"num_models={values['num_models']} forced to 1 because {schema.TUNING_KEY} is set"
            )
        values["num_models"] = 1

    optimizer = values.get("optimizer")
    if "momentum" in explicit and optimizer in ("adam", "rmsprop", "auto"):
        warnings.append("momentum is used only by optimizer 'sgd'")
    for beta in ("beta_1", "beta_2"):
        if beta in explicit and optimizer in ("sgd", "rmsprop"):
            warnings.append(f"{beta} is used only by optimizer 'adam'")


# A test checks that this stays one attribute per schema row, in table order.
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Hyperparameters))
