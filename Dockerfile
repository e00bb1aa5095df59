# The Switchboard server. Configuration comes from the environment (see README); serving needs
# JWT_SECRET and WEBHOOK_SECRET (docker/entrypoint.sh), never a generated or placeholder one.
#
# Python 3.11 (the version requirements.lock is compiled for) on Debian 12. The digest is the
# one public repositories pin for this tag; no registry could be reached to check it here.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The server's own user, with no login and no home: the code stays root's, read-only to it.
RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin switchboard

WORKDIR /app
# The dependencies first, exactly as locked (the Makefile installs from the same versions), so
# that a change of code alone reuses this layer.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md LICENSE ./
COPY access access
COPY accounts accounts
COPY core core
COPY inbox inbox
COPY paging paging
COPY realtime realtime
COPY sending sending
COPY storing storing
COPY server server
COPY schema schema
COPY resolvers resolvers
COPY db db
COPY unipile unipile
COPY crm crm
# The project alone: its dependencies are the locked ones above. Its built frontend
# (server/web/dist) is package data, so the image needs no Node.
RUN pip install --no-deps . && rm -rf build ./*.egg-info

COPY docker/entrypoint.sh /usr/local/bin/switchboard-entrypoint
# DATA_DIR is the only place the server writes (the SQLite file when DATABASE_URL is unset).
RUN mkdir /app/var && chown switchboard:switchboard /app/var

ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/app/var LOG_FORMAT=json MIGRATE_ON_START=false
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/readyz').status != 200)"]
ENTRYPOINT ["switchboard-entrypoint"]
CMD ["serve"]
