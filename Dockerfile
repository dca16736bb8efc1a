FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    LIENTHONG_DATA_DIR=/var/lib/lienthong
WORKDIR /srv/lienthong
# DejaVu Sans: the font of the visible PDF signature stamp (Vietnamese letters)
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir -e . \
 && useradd --system --home /var/lib/lienthong lienthong \
 && mkdir -p /var/lib/lienthong && chown lienthong /var/lib/lienthong
USER lienthong
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz')" || exit 1
CMD ["sh", "-c", "lienthong db upgrade && lienthong serve --host 0.0.0.0 --port 8080"]
