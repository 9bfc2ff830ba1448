# byoc image: `docker run IMAGE train` trains under /opt/ml, `docker run IMAGE serve` serves.
#
# Dockerfile (CPU) and Dockerfile.gpu (CUDA) are one recipe on the same slim base. They differ only
# in the defaults of EXTRAS and the NVIDIA_* arguments (Docker has no include);
# tests/container/test_dockerfiles.py fails when they differ anywhere else. The GPU image gets
# CUDA, cuDNN and the rest from tensorflow[and-cuda]'s nvidia-* wheels, which TensorFlow finds
# itself (no LD_LIBRARY_PATH); the driver always comes from the host.
# Where nothing can be pulled, build on a local base:
#   docker build --network host --build-arg BASE_IMAGE=local/debian:bookworm -t byoc:cpu .
# EXTRAS=serve builds the serving image (`make image-serving`): no TensorFlow, `serve` only, on
# LiteRT; it refuses a bundle without model.tflite.
ARG BASE_IMAGE=debian:bookworm-slim
ARG NVIDIA_VISIBLE_DEVICES=
ARG NVIDIA_DRIVER_CAPABILITIES=
ARG EXTRAS=train,serve

# ---- builder: a venv with byoc's dependencies (EXTRAS), and byoc as a wheel ----
FROM ${BASE_IMAGE} AS builder
ARG EXTRAS
ARG DEBIAN_FRONTEND=noninteractive
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv binutils \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
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
# LiteRT's WebGPU accelerator, NPU vendor plugins and model tools (-32 MB): byoc runs its CPU
# interpreter only. CUDA's headers in the GPU image's nvidia-* wheels (nothing compiles against
# them at run time). The serving image (no TensorFlow) also drops setuptools, which pip does not
# need to install wheels: it keeps that image under 300 MB.
RUN site=$(echo /opt/venv/lib/python3*/site-packages) \
    && rm -rf "$site"/tensorflow/include "$site"/*/tests "$site"/*/*/tests \
       "$site"/ai_edge_litert/libLiteRtWebGpuAccelerator.so "$site"/ai_edge_litert/vendors \
       "$site"/ai_edge_litert/tools "$site"/nvidia/*/include \
    && if [ -d "$site"/tensorflow ]; then \
         strip --strip-unneeded "$site"/tensorflow/libtensorflow*.so.2 \
         && pip uninstall -y libclang; \
       else pip uninstall -y setuptools; fi

# The package as a wheel, kept apart from the venv so that a source change leaves the venv's
# layer (1 GB) cached in both stages. No bytecode written: it would change the venv.
WORKDIR /src
COPY . .
RUN PYTHONDONTWRITEBYTECODE=1 pip wheel --no-deps --wheel-dir /wheels .

# ---- runtime: the interpreter, the venv, byoc (installed, never editable) and the entrypoints ----
FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /wheels /tmp/wheels
RUN /opt/venv/bin/pip install --no-deps --no-cache-dir /tmp/wheels/byoc-*.whl \
    && rm -rf /tmp/wheels
COPY train serve /opt/program/
# SageMaker calls `train` and `serve` by name, so they live on PATH. It runs the container as
# root, so the image keeps root: files written to /opt/ml must be writable by that user.
ENV PATH=/opt/program:/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# matplotlib builds its font list on first use; once here, not in every process at start-up.
RUN if python -c "import importlib.util as u, sys; sys.exit(not u.find_spec('matplotlib'))"; \
    then python -c "import matplotlib.font_manager"; fi
# The NVIDIA container runtime reads these: which GPUs to give the container and which driver
# libraries to mount (compute: libcuda; utility: NVML). Empty in the CPU image: none.
ARG NVIDIA_VISIBLE_DEVICES
ARG NVIDIA_DRIVER_CAPABILITIES
ENV NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES} \
    NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES}
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
LABEL com.amazonaws.sagemaker.capabilities.multi-models=true
WORKDIR /opt/program
