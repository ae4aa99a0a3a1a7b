# mediaforged in a container. The library is mounted read-only at /library, the catalog
# lives in the /state volume, and the control socket in /run/mediaforge (mount it to use
# mediaforgectl from the host):
#   docker build -t mediaforged .
#   docker run -d -v /srv/media:/library:ro -v mf-state:/state \
#       -v /run/mediaforge:/run/mediaforge mediaforged
#   docker exec <container> mediaforgectl status
# inotify watches are a host limit: raise fs.inotify.max_user_watches on the host.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY mediaforged ./mediaforged
RUN pip install --no-cache-dir . && rm -rf /src

RUN useradd --system --uid 10001 --user-group mediaforge \
    && mkdir -p /state /run/mediaforge \
    && chown mediaforge:mediaforge /state /run/mediaforge
USER mediaforge
VOLUME ["/state"]

ENV MEDIAFORGE_ROOTS=/library \
    MEDIAFORGE_STATE_DIR=/state \
    MEDIAFORGE_SOCKET_PATH=/run/mediaforge/mediaforged.sock \
    MEDIAFORGE_LOG_FORMAT=json

HEALTHCHECK --interval=60s --timeout=10s CMD ["mediaforgectl", "ping"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["mediaforged"]
