# mediaserver: CPU image. Build: docker build -t mediaserver .
# Run:   docker run -p 8000:8000 -p 9092:9092 -p 40000-40099:40000-40099/udp \
#          -e MEDIASERVER_API_KEYS=secret -v models:/models mediaserver
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng ffmpeg make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# torch CPU first: kokoro and silero-vad depend on torch, and without this pip picks a CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
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
VOLUME /models
EXPOSE 8000 9092
USER nobody
CMD ["mediaserver", "serve"]
