# The Switchboard server. Configuration comes from the environment (see README).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
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
RUN pip install --no-cache-dir .

ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/app/var
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["sh", "-c", "switchboard migrate && switchboard serve"]
