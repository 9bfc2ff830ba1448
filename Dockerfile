# byoc image: `docker run IMAGE train` trains under /opt/ml, `docker run IMAGE serve` serves.
#
# Dockerfile (CPU) and Dockerfile.gpu (CUDA) are one recipe. They differ only in the defaults of
# BASE_IMAGE and EXTRAS (Docker has no include), and container/ci-images.sh fails when they differ
# anywhere else. Where nothing can be pulled, build on a local base:
#   docker build --network host --build-arg BASE_IMAGE=local/debian:bookworm -t byoc:cpu .
ARG BASE_IMAGE=debian:bookworm-slim
ARG EXTRAS=train,serve

# ---- builder: a venv with byoc and its train + serve dependencies, nothing else ----
FROM ${BASE_IMAGE} AS builder
ARG EXTRAS
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv binutils \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, from pyproject.toml alone and a stub package, so that editing the source
# does not re-download TensorFlow.
WORKDIR /tmp/deps
COPY pyproject.toml ./
RUN mkdir -p src/byoc && touch src/byoc/__init__.py README.md \
    && pip install ".[${EXTRAS}]" \
    && pip uninstall -y byoc \
    && rm -rf /tmp/deps

# Slimming, all safe at run time: C/C++ headers (for compiling TensorFlow ops), packages' own test
# suites, TensorFlow's static symbol tables (-180 MB; the dynamic ones stay) and libclang (-60 MB;
# a TensorFlow dependency that nothing imports at run time). Bytecode stays: without it every
# start recompiles TensorFlow's Python (+7 s). pip stays, for images built FROM this one.
RUN site=$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
    && rm -rf "$site"/tensorflow/include "$site"/*/tests "$site"/*/*/tests \
    && strip --strip-unneeded "$site"/tensorflow/libtensorflow*.so.2 \
    && pip uninstall -y libclang

# The real package, as a wheel (never editable: the image must not depend on /src).
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && pip install --no-deps /tmp/wheels/byoc-*.whl \
    && rm -rf /tmp/wheels /src/build

# ---- runtime: the interpreter, the venv and the two entrypoints ----
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
COPY train serve /opt/program/
# SageMaker calls `train` and `serve` by name, so they live on PATH. It runs the container as
# root, so the image keeps root: files written to /opt/ml must be writable by that user.
ENV PATH=/opt/program:/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
WORKDIR /opt/program
