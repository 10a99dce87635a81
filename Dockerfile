# Production image of the exosome QC LIMS: gunicorn by default; the same image runs the Celery
# worker and beat (see docker-compose.yml). Build: docker build -t exosome-lims .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint's system libraries (Pango, HarfBuzz subsetting, a font) and libpq for PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz-subset0 \
        fonts-dejavu-core \
        libpq5 \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user; its home gives fontconfig and matplotlib a writable cache directory.
RUN groupadd --system --gid 1000 lims \
    && useradd --system --uid 1000 --gid lims --create-home --home-dir /home/lims \
        --shell /usr/sbin/nologin lims

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them. Every package is pinned
# by hash in the production lock (requirements-dev.lock is for tests only).
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

# The code stays owned by root: the app user can read it but not change it.
COPY . .

# Static files are collected at build time with throw-away production settings. With
# DATABASE_URL set the settings never touch a database at import. None of these values
# stays in the image.
RUN DEBUG=False SECRET_KEY=build ALLOWED_HOSTS='*' \
        DATABASE_URL=postgres://build@localhost/build \
        python manage.py collectstatic --noinput \
    && mkdir -p /app/var/files /app/var/backups \
    && chown -R lims:lims /app/var

# A container is a production deployment: never fall back to development defaults
# (settings then refuse to start without SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL).
ENV DEBUG=False

USER lims
EXPOSE 8000
# Each worker is replaced after about 1,000 requests (jittered), so memory a large request
# made it keep is returned; the same flags as docker-compose.yml.
CMD ["gunicorn", "lims.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--max-requests", "1000", "--max-requests-jitter", "100"]
