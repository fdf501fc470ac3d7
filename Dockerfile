# Open Linear Learner: a SageMaker algorithm image. SageMaker runs `docker run IMAGE train` and
# `docker run IMAGE serve`; the argument goes to the exec-form ENTRYPOINT below.
#
#   docker build -t open-linear-learner .                                   # default: official slim Python
#   docker build --build-arg INSTALL_EXTRAS=distributed -t oll:dist .       # + torch for multi-host training
#   docker build --build-arg BASE_IMAGE=localhost/oll-base:bookworm ...     # machines with no registry
#                                                                           # (local_test/build_image.sh)
#
# BASE_IMAGE must provide python3 (>= 3.11, for tomllib) with the venv module; both stages use it, so the venv's
# interpreter symlink stays valid in the final image.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

# "" (default image) or "distributed" (adds the project's pinned torch extra).
ARG INSTALL_EXTRAS=""
# Optional pip sources, visible only in this stage's RUN steps (never in the final image). For a CPU-only
# torch in production: --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_FIND_LINKS=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180 \
    PYTHONDONTWRITEBYTECODE=1

# pip lives in a separate build venv and installs into /opt/venv through --python, so the shipped venv
# holds no pip, setuptools or wheel unless a dependency itself requires them.
RUN python3 -m venv /opt/build && python3 -m venv --without-pip /opt/venv

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall numpy/scipy.
COPY pyproject.toml ./
RUN python3 -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + [r for e in filter(None, sys.argv[1].split(",")) \
for r in p["optional-dependencies"][e]]))' "$INSTALL_EXTRAS" >/tmp/requirements.txt
RUN set -eu; \
    [ -n "$PIP_EXTRA_INDEX_URL" ] && export PIP_EXTRA_INDEX_URL || unset PIP_EXTRA_INDEX_URL; \
    [ -n "$PIP_FIND_LINKS" ] && export PIP_FIND_LINKS || unset PIP_FIND_LINKS; \
    cat /tmp/requirements.txt; \
    /opt/build/bin/pip --python /opt/venv/bin/python install --only-binary=:all: -r /tmp/requirements.txt

# Then the package itself, as a wheel (no editable install, no source tree in the image).
COPY pyproject.toml README.md* ./
COPY container ./container
RUN set -eu; \
    /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps . ; \
    /opt/build/bin/pip --python /opt/venv/bin/python check; \
    # The scientific wheels ship their own test suites (~55 MB) that nothing imports at run time.
    for pkg in numpy scipy matplotlib; do \
        find "/opt/venv/lib/python3"*"/site-packages/$pkg" -depth -type d -name tests -exec rm -rf {} + ; \
    done; \
    /opt/venv/bin/python -c "import linear_learner.cli"

# ---------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="open-linear-learner" \
      org.opencontainers.image.description="SageMaker-compatible Linear Learner algorithm (train and serve)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true

# Only the venv: no compilers, pip caches or source tree. Files are root-owned and world-readable, so the
# image also runs under an arbitrary --user; the only writable paths it needs are /opt/ml (mounted) and /tmp.
COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=TRUE \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba_cache

# Caches built once here instead of in every new container: matplotlib's font list (~4 s at the first
# report), numba's compiled CSV parser and training kernels (~8 s and ~5 s at first use; numba
# recompiles by itself if the host CPU differs). World-writable like /tmp itself, so an arbitrary --user can still refresh them.
RUN python -c "import matplotlib.font_manager" \
    && (python -c "from linear_learner.codecs import csv_kernel as k; k.decode(b'1,2,3\n4,5,6\n', 3, True)" \
        && python -c "from linear_learner.learner import kernels; kernels.warm_up()" \
        || echo "note: numba cache not prebuilt") \
    && mkdir -p "$NUMBA_CACHE_DIR" \
    && chmod -R a+rwX /tmp/matplotlib "$NUMBA_CACHE_DIR" && chmod 1777 /tmp/matplotlib "$NUMBA_CACHE_DIR"

WORKDIR /opt/program
EXPOSE 8080

# Exec form: linear-learner is PID 1 and receives SageMaker's SIGTERM itself (contract §1, §7).
ENTRYPOINT ["linear-learner"]
