"""The hyperparameter table (reference §1.2): one declarative row per name.

Validation (config/hyperparams.py), the `auto` resolution and the README section all read this one
table, so the documented behaviour cannot drift from the checked behaviour (anchor: the XGBoost
container's hyperparameter_validation.py; avoided: hand-written if-chains and `eval`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

BINARY = "binary_classifier"
MULTICLASS = "multiclass_classifier"
REGRESSOR = "regressor"
PREDICTOR_TYPES: tuple[str, ...] = (BINARY, MULTICLASS, REGRESSOR)
ALL_TYPES: frozenset[str] = frozenset(PREDICTOR_TYPES)

# Reference §2: the losses each predictor type accepts; the first one is what `auto` resolves to.
LOSSES_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    REGRESSOR: (
        "squared_loss",
        "absolute_loss",
        "eps_insensitive_squared_loss",
        "eps_insensitive_absolute_loss",
        "quantile_loss",
        "huber_loss",
    ),
    BINARY: ("logistic", "hinge_loss"),
    MULTICLASS: ("softmax_loss",),
}

# Reference §5.1: metrics `_tuning_objective_metric` may name (after `validation:` or `test:`).
TUNING_METRICS: Mapping[str, tuple[str, ...]] = {
    BINARY: ("objective_loss", "binary_classification_accuracy", "binary_f_beta", "precision", "recall")
    + ("roc_auc_score",),
    MULTICLASS: ("objective_loss", "multiclass_accuracy", "multiclass_top_k_accuracy", "macro_precision")
    + ("macro_recall", "macro_f_beta", "dcg"),
    REGRESSOR: ("objective_loss", "mse", "absolute_loss", "rmse"),
}
VALIDATION_ONLY_METRICS: frozenset[str] = frozenset({"rmse"})
TUNING_CHANNELS: tuple[str, ...] = ("validation", "test")

# Keys that are effective although they start with `_`; every other `_*`, `sagemaker_*` and
# `force_dense` key is accepted and ignored (reference §1.1, contract §4).
TUNING_KEY = "_tuning_objective_metric"
LOG_LEVEL_KEY = "_log_level"
LOG_LEVELS: tuple[str, ...] = ("info", "debug")
IGNORED_KEYS: frozenset[str] = frozenset({"force_dense"})
IGNORED_PREFIXES: tuple[str, ...] = ("_", "sagemaker_")


class Kind(str, Enum):
    """How a value string is parsed, before the row's extra tokens (`auto`, `balanced`) are tried."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    ENUM = "enum"
    NAMES = "names"  # a JSON list of strings or comma-separated names (class_names)


@dataclass(frozen=True)
class Range:
    """An interval for numbers; None = unbounded on that side; *_open = strict inequality."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def describe(self) -> str:
        """'> 0', '>= 1', 'in [0, 1)', 'in [3, 1000000]'; '' when unbounded."""
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"in {left}{_num(self.lo)}, {_num(self.hi)}{right}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        return ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


ANY = Range()
GT0 = Range(lo=0, lo_open=True)
GE0 = Range(lo=0)
GE1 = Range(lo=1)
UNIT_OPEN = Range(lo=0, hi=1, lo_open=True, hi_open=True)
UNIT_HALF_OPEN = Range(lo=0, hi=1, hi_open=True)

Context = Mapping[str, object]
"""Values resolved so far (table order) plus `tuning` (bool): what an `auto` rule may look at."""


@dataclass(frozen=True)
class Param:
    """One hyperparameter.

    default: the string the built-in's default-input.json carries (None: no default; `required`
    says whether that is an error). tokens: words accepted instead of a typed value. auto: how
    the token `auto` becomes a concrete value (rows above this one are already resolved in the
    context); a rule returning the token itself, or None, keeps it symbolic for the data layer.
    aliases: legacy enum spellings mapped to the current ones.
    """

    name: str
    kind: Kind
    doc: str
    default: str | None
    bounds: Range = ANY
    choices: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    auto: Callable[[Context], object] | None = None
    auto_doc: str = ""
    applies_to: frozenset[str] = ALL_TYPES
    aliases: Mapping[str, str] = field(default_factory=dict)
    required: bool = False

    def describe(self) -> str:
        """What a valid value looks like, for error messages and the README."""
        if self.kind is Kind.ENUM:
            text = "one of " + ", ".join(self.choices)
        elif self.kind is Kind.BOOL:
            text = "true or false"
        elif self.kind is Kind.NAMES:
            text = "a JSON list of names or comma-separated names"
        else:
            noun = "an integer" if self.kind is Kind.INT else "a number"
            text = f"{noun} {self.bounds.describe()}".rstrip()
        extra = [t for t in self.tokens if t not in self.choices]
        return text + "".join(f" or '{t}'" for t in extra)


def _optimizer_lr(ctx: Context) -> float:
    return 0.1 if ctx["optimizer"] == "sgd" else 0.01


def _loss_for(ctx: Context) -> str | None:
    losses = LOSSES_BY_TYPE.get(str(ctx.get("predictor_type")))
    return losses[0] if losses else None


def _const(value: object) -> Callable[[Context], object]:
    return lambda ctx: value


def _is_regressor(ctx: Context) -> bool:
    return ctx.get("predictor_type") == REGRESSOR


_AUTO = ("auto",)
_LOSSES = tuple(dict.fromkeys(loss for losses in LOSSES_BY_TYPE.values() for loss in losses))
_CRITERIA = ("accuracy", "f_beta", "precision_at_target_recall", "recall_at_target_precision")
_CRITERIA += ("loss_function",)

# fmt: off
P = Param
K = Kind
PARAMS: tuple[Param, ...] = (
    P("predictor_type", K.ENUM, "Type of target variable.", None, choices=PREDICTOR_TYPES, required=True),
    P("num_classes", K.INT, "Number of classes (required for multiclass).", None,
      bounds=Range(lo=3, hi=1_000_000), applies_to=frozenset({MULTICLASS})),
    P("feature_dim", K.INT, "Number of features; must match every record.", "auto", GE1, tokens=_AUTO,
      auto=_const(None), auto_doc="from the data"),
    P("mini_batch_size", K.INT, "Records per mini-batch, per host.", "1000", GE1),
    P("epochs", K.INT, "Maximum passes over the training data.", "15", GE1),
    P("optimizer", K.ENUM, "Optimisation algorithm.", "auto", choices=("auto", "sgd", "adam", "rmsprop"),
      tokens=_AUTO, auto=_const("adam"), auto_doc="adam"),
    P("loss", K.ENUM, "Loss function; must suit predictor_type.", "auto", choices=("auto", *_LOSSES),
      tokens=_AUTO, auto=_loss_for, auto_doc="logistic / softmax_loss / squared_loss by predictor_type"),
    P("learning_rate", K.FLOAT, "Step size (models vary it around this value).", "auto", GT0,
      tokens=_AUTO, auto=_optimizer_lr, auto_doc="adam 0.01, rmsprop 0.01, sgd 0.1"),
    P("l1", K.FLOAT, "L1 regularisation strength.", "auto", GE0, tokens=_AUTO, auto=_const(0.0),
      auto_doc="0 (models vary 0, 1e-4)"),
    P("wd", K.FLOAT, "L2 regularisation strength (weight decay).", "auto", GE0, tokens=_AUTO,
      auto=_const(1e-4), auto_doc="1e-4 (models vary 1e-5..1e-2)"),
    P("momentum", K.FLOAT, "Momentum of sgd.", "auto", UNIT_HALF_OPEN, tokens=_AUTO, auto=_const(0.0),
      auto_doc="0"),
    P("beta_1", K.FLOAT, "Adam first-moment decay.", "auto", UNIT_HALF_OPEN, tokens=_AUTO,
      auto=_const(0.9), auto_doc="0.9"),
    P("beta_2", K.FLOAT, "Adam second-moment decay.", "auto", UNIT_HALF_OPEN, tokens=_AUTO,
      auto=_const(0.999), auto_doc="0.999"),
    P("bias_lr_mult", K.FLOAT, "Learning-rate multiplier for the bias.", "auto", GT0, tokens=_AUTO,
      auto=_const(10.0), auto_doc="10"),
    P("bias_wd_mult", K.FLOAT, "Weight-decay multiplier for the bias.", "auto", GE0, tokens=_AUTO,
      auto=_const(0.0), auto_doc="0 (bias unregularised)"),
    P("use_bias", K.BOOL, "Fit a bias term.", "true"),
    P("init_method", K.ENUM, "Weight initialisation distribution.", "uniform", choices=("uniform", "normal")),
    P("init_scale", K.FLOAT, "Uniform init: weights ~ U(-s, +s).", "0.07", GT0),
    P("init_sigma", K.FLOAT, "Normal init: weights ~ N(0, sigma^2).", "0.01", GT0),
    P("init_bias", K.FLOAT, "Initial bias.", "0"),
    P("use_lr_scheduler", K.BOOL, "Decay the learning rate during training.", "true"),
    P("lr_scheduler_step", K.INT, "Updates between learning-rate decays.", "auto", GE1, tokens=_AUTO,
      auto=_const(100), auto_doc="100"),
    P("lr_scheduler_factor", K.FLOAT, "Learning-rate decay factor.", "auto", UNIT_OPEN, tokens=_AUTO,
      auto=_const(0.99), auto_doc="0.99"),
    P("lr_scheduler_minimum_lr", K.FLOAT, "Learning rate never decays below this.", "auto", GT0,
      tokens=_AUTO, auto=_const(1e-5), auto_doc="1e-05"),
    P("normalize_data", K.BOOL, "Scale features to unit variance.", "true", tokens=_AUTO,
      auto=_const(True), auto_doc="true"),
    P("normalize_label", K.BOOL, "Scale the label (regressor only).", "auto", tokens=_AUTO,
      auto=_is_regressor, auto_doc="true for regressor, else false", applies_to=frozenset({REGRESSOR})),
    P("unbias_data", K.BOOL, "Centre features to mean 0 (dense data only).", "auto", tokens=_AUTO,
      auto=lambda ctx: bool(ctx["use_bias"]), auto_doc="= use_bias"),
    P("unbias_label", K.BOOL, "Centre the label (regressor only).", "auto", tokens=_AUTO,
      auto=lambda ctx: _is_regressor(ctx) and bool(ctx["use_bias"]),
      auto_doc="regressor: = use_bias; else false", applies_to=frozenset({REGRESSOR})),
    P("num_point_for_scaler", K.INT, "Records sampled to fit the scaler.", "10000", GE1),
    P("num_models", K.INT, "Models trained in parallel; the best is kept.", "auto", GE1, tokens=_AUTO,
      auto=lambda ctx: 1 if ctx.get("tuning") else 32, auto_doc="32 (1 when tuning)"),
    P("num_calibration_samples", K.INT, "Records used to calibrate and select.", "auto", GE1,
      tokens=_AUTO, auto=_const(10_000_000), auto_doc="10000000"),
    P("binary_classifier_model_selection_criteria", K.ENUM, "What selects the model and its threshold.",
      "accuracy", choices=_CRITERIA, applies_to=frozenset({BINARY}),
      aliases={"f1": "f_beta", "cross_entropy_loss": "loss_function"}),
    P("target_recall", K.FLOAT, "Recall for precision_at_target_recall.", "0.8", UNIT_OPEN,
      applies_to=frozenset({BINARY})),
    P("target_precision", K.FLOAT, "Precision for recall_at_target_precision.", "0.8", UNIT_OPEN,
      applies_to=frozenset({BINARY})),
    P("f_beta", K.FLOAT, "Beta of the F score (binary_f_*, macro_f_*).", "1.0", GT0,
      applies_to=frozenset({BINARY, MULTICLASS})),
    P("positive_example_weight_mult", K.FLOAT, "Weight of positive examples.", "1.0", GT0,
      tokens=("auto", "balanced"), auto=_const("auto"), applies_to=frozenset({BINARY}),
      auto_doc="candidates across models; balanced = n_neg/n_pos"),
    P("balance_multiclass_weights", K.BOOL, "Weight classes by inverse frequency.", "false",
      applies_to=frozenset({MULTICLASS})),
    P("accuracy_top_k", K.INT, "k of multiclass_top_k_accuracy.", "3", GE1, applies_to=frozenset({MULTICLASS})),
    P("early_stopping_patience", K.INT, "Epochs without improvement before stopping.", "3", GE1),
    P("early_stopping_tolerance", K.FLOAT, "Relative improvement that counts.", "0.001", GT0),
    P("margin", K.FLOAT, "Margin of hinge_loss.", "1.0", GE0, applies_to=frozenset({BINARY})),
    P("quantile", K.FLOAT, "Quantile of quantile_loss.", "0.5", UNIT_OPEN, applies_to=frozenset({REGRESSOR})),
    P("loss_insensitivity", K.FLOAT, "Epsilon of eps_insensitive_* losses, label units.", "0.01", GT0,
      applies_to=frozenset({REGRESSOR})),
    P("huber_delta", K.FLOAT, "Delta of huber_loss, label units.", "1.0", GT0,
      applies_to=frozenset({REGRESSOR})),
    # Not in the built-in: names for the evaluation report's plots, kept in the model artifact.
    P("class_names", K.NAMES, "Class names in label order (num_classes entries, or 2 for binary).", "auto",
      tokens=_AUTO, auto=_const(None), auto_doc="class indices 0..k-1",
      applies_to=frozenset({BINARY, MULTICLASS})),
)
# fmt: on
del P, K

BY_NAME: Mapping[str, Param] = {p.name: p for p in PARAMS}


def render_markdown_table() -> str:
    """The README's hyperparameter table, generated so the docs cannot drift from the validator."""
    lines = ["| name | type / allowed | default | `auto` | description |", "|---|---|---|---|---|"]
    for p in PARAMS:
        default = "required" if p.required else (p.default if p.default is not None else "–")
        if p.name == "num_classes":
            default = "required if multiclass"
        doc = p.doc
        if p.applies_to != ALL_TYPES:
            doc += " Applies to " + ", ".join(t for t in PREDICTOR_TYPES if t in p.applies_to) + "."
        if p.aliases:
            doc += " Legacy: " + ", ".join(f"`{a}` → `{b}`" for a, b in p.aliases.items()) + "."
        cells = (f"`{p.name}`", p.describe(), f"`{default}`", p.auto_doc or "–", doc)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
