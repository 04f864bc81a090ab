# mediaserver: CPU image. Build: docker build -t mediaserver .
# Run:   docker run -p 8000:8000 -p 9092:9092 -p 40000-40099:40000-40099/udp \
#          -e MEDIASERVER_API_KEYS=secret -v models:/models mediaserver
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng ffmpeg make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# torch first: kokoro and silero-vad depend on torch. Pass your CPU wheel index as TORCH_INDEX
# (`--build-arg TORCH_INDEX=...`) to avoid the multi-GB CUDA build that the default index resolves.
ARG TORCH_INDEX=""
RUN pip install --no-cache-dir torch==2.13.0 ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
COPY pyproject.toml README.md ./
COPY mediaserver ./mediaserver
COPY conf ./conf
RUN pip install --no-cache-dir . \
 && pip install --no-cache-dir --no-deps "pyrnnoise>=0.4"

ENV MEDIASERVER_MODELS_DIR=/models \
    MEDIASERVER_SERVER__HOST=0.0.0.0 \
    MEDIASERVER_RTP__BIND_HOST=0.0.0.0 \
    MEDIASERVER_AUDIOSOCKET__HOST=0.0.0.0 \
    MEDIASERVER_AUTO_UNLOAD=300
RUN mkdir -p /models && chown nobody /models
VOLUME /models
EXPOSE 8000 9092
USER nobody
CMD ["mediaserver", "serve"]
