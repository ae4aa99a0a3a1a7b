# mediaforged in a container (README: "Docker"). Build from a clone:
#   docker build -t mediaforged .
#   docker compose up -d          (docker-compose.yml: a NAS example)
# Volumes: /etc/mediaforge (mediaforge.toml, optional), /state (catalog and thumbnails),
# /library (the media, mounted read-only) and /run/mediaforge (the control socket: mount it
# from the host to use mediaforgectl there). inotify watches count against the host's limit
# (fs.inotify.max_user_watches): raise it on the host; `mediaforgectl doctor` checks it.
#
# The steps are the commands the test suite runs on Debian (.ci/dev, tests/system/
# test_docker.py): Debian's ffmpeg from apt-get, the package from the repo with pip.

# --- build: the package and its dependencies in a venv (wheels only; pip stays here) ---------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mediaforged ./mediaforged
RUN python -m venv /opt/mediaforge \
    && /opt/mediaforge/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && /opt/mediaforge/bin/pip uninstall --yes --disable-pip-version-check pip setuptools

# --- runtime: Python, ffmpeg, the venv; no compiler, no pip ------------------------------------
FROM python:3.11-slim-bookworm
# Debian's ffmpeg as the distribution updates it; pinning its version would break the build
# with every point release of bookworm.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libchromaprint-tools \
    && rm -rf /var/lib/apt/lists/* \
    && pip uninstall --yes --disable-pip-version-check pip setuptools wheel
COPY --from=build /opt/mediaforge /opt/mediaforge

# A fixed uid/gid so that files in the volumes keep their owner across rebuilds; run with
# --user to match a host account instead.
RUN groupadd --system --gid 10001 mediaforge \
    && useradd --system --uid 10001 --gid mediaforge --home-dir /state \
       --shell /usr/sbin/nologin mediaforge \
    && mkdir -p /etc/mediaforge /state /library /run/mediaforge \
    && chown mediaforge:mediaforge /state /run/mediaforge \
    && chmod 0750 /state /run/mediaforge

# The environment wins over /etc/mediaforge/mediaforge.toml: the roots are what is mounted
# at /library (set MEDIAFORGE_ROOTS=/library/photos:/library/music for several).
ENV PATH=/opt/mediaforge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MEDIAFORGE_ROOTS=/library \
    MEDIAFORGE_STATE_DIR=/state \
    MEDIAFORGE_SOCKET_PATH=/run/mediaforge/mediaforged.sock \
    MEDIAFORGE_LOG_FORMAT=json \
    MEDIAFORGE_HTTP_LISTEN=0.0.0.0:8686

USER 10001:10001
WORKDIR /state
VOLUME ["/etc/mediaforge", "/state", "/library", "/run/mediaforge"]
# The HTTP API (every route but /healthz needs a token: /state/admin.token after the first
# start). Inside the container it listens on every address; publish it to the host's
# loopback (-p 127.0.0.1:8686:8686) and put a TLS proxy in front for the LAN (README).
EXPOSE 8686

# mediaforged commits its batch and closes the catalog on SIGTERM; give it time:
# `docker stop -t 60` (docker-compose.yml sets stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["mediaforgectl", "status"]
ENTRYPOINT ["mediaforged"]
