# framegate services (admission, lane workers, audit sink, gateway) from one image.
#
# Default: CPU torch (small; fine for admission, gateway, audit sink, and CPU trials of lanes).
# GPU lane workers need a CUDA build of the same torch version:
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t framegate:cuda .
# (compose/docker-compose.yml passes TORCH_INDEX_URL through from the environment.)
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false

WORKDIR /opt/framegate
# torch first, from the chosen index: an unpinned torch from PyPI pulls gigabytes of CUDA wheels.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
COPY gpu_consumers ./gpu_consumers
RUN pip install ".[gpu]"

RUN useradd --system --uid 10001 --home-dir /data framegate \
    && mkdir -p /data/gateway /data/artifacts /models \
    && chown -R framegate /data
USER framegate
WORKDIR /data
ENV FRAMEGATE_DATA_DIR=/data

CMD ["framegate", "--help"]
