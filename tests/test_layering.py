"""The layering rule of architecture.md: every module imports only downward.

L0 errors/batch/env/stop; L1 config; L2 codecs, learner (never each other); L3 data, model; L4 training,
serving (never each other); L5 cli. flask/gunicorn only in serving; torch only in
training/torch_comm.py (and distributed setup); matplotlib only in training/report.py.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "container" / "linear_learner"
LEVEL = {
    "errors": 0,
    "batch": 0,
    "env": 0,
    "stop": 0,
    "config": 1,
    "codecs": 2,
    "learner": 2,
    "data": 3,
    "model": 3,
}
LEVEL.update({"training": 4, "serving": 4, "cli": 5, "__init__": 0})
SIBLINGS_FORBIDDEN = {
    ("codecs", "learner"),
    ("learner", "codecs"),
    ("training", "serving"),
    ("serving", "training"),
}
THIRD_PARTY_ONLY_IN = {
    "flask": ("serving",),
    "gunicorn": ("serving",),
    "torch": ("training",),
    "matplotlib": ("training",),
}


def _top(module: Path) -> str:
    rel = module.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(module: Path):
    tree = ast.parse(module.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                parts = module.relative_to(PKG).parts
                base = list(parts[:-1])[: len(parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                yield "rel", target[0] if target else "__init__"
            elif node.module:
                yield "abs", node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield "abs", alias.name


def test_every_module_imports_only_downward():
    problems = []
    for module in PKG.rglob("*.py"):
        if module.name == "record_pb2.py":
            continue
        me = _top(module)
        for kind, name in _imports(module):
            if kind == "abs" and name.startswith("linear_learner."):
                kind, name = "rel", name.split(".")[1]
            if kind == "rel":
                other = name.removesuffix(".py")
                if other == me or other not in LEVEL:
                    continue
                if LEVEL[other] > LEVEL[me] or (me, other) in SIBLINGS_FORBIDDEN:
                    problems.append(f"{module.relative_to(PKG)} imports {other}")
            else:
                root = name.split(".")[0]
                allowed = THIRD_PARTY_ONLY_IN.get(root)
                if allowed and me not in allowed:
                    problems.append(f"{module.relative_to(PKG)} imports {root}")
    assert not problems, problems
