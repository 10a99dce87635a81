"""Settings for the exosome QC LIMS, read from the environment (see `.env.example`).

One module for every deployment: development defaults are safe only for a laptop, and with
DEBUG off the settings refuse to start unless the secrets, hosts and database are given.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Off unless explicitly on (OWASP ASVS 4.0.3 V14.3.2: no debug mode in production): a server
# started without DEBUG in its environment runs the production branch below, which refuses to
# start without its secrets. `make run`, .ci/run and the test settings (tests/settings.py)
# turn it on for a laptop.
DEBUG = env.bool("DEBUG", default=False)
TESTING = "pytest" in sys.modules


def _announce(message: str) -> None:
    # One line on stderr so an operator sees which services the process is really using.
    if not TESTING:
        print(message, file=sys.stderr)


if not DEBUG:
    # Fail fast: a production server must never fall back to a development default.
    missing = [
        name
        for name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL")
        if not env(name, default="")
    ]
    if missing:
        raise ImproperlyConfigured(
            "Production settings (DEBUG=False) need these environment variables: "
            + ", ".join(missing)
            + ". See .env.example."
        )

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdefghijklmnop")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "health_check",
    "health_check.db",
    "health_check.storage",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "lims",
    "batches",
    "assays",
    "release",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "lims.security.DropMalformedSessionCookie",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The second factor (lims.second_factor): the verified device, then its page until done.
    "django_otp.middleware.OTPMiddleware",
    "lims.second_factor.SecondFactorMiddleware",
    # After authentication: the 404 page it renders shows the signed-in user's menu.
    "lims.security.NotFoundForNulInPath",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "lims.audit.AuditContextMiddleware",
    "lims.security.ContentSecurityPolicyMiddleware",
    "lims.security.NoStoreForSignedIn",
    # A password reset by an administrator or older than PASSWORD_MAX_AGE_DAYS: the change page.
    "lims.passwords.PasswordAgeingMiddleware",
    # django-axes must come last so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lims.urls"
WSGI_APPLICATION = "lims.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lims.roles.role_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    # Only without DATABASE_URL: production never imports the embedded server's package.
    from lims.embedded_postgres import database_url  # noqa: PLC0415

    DATABASES = {"default": env.db_url_config(database_url(VAR_DIR / "pgdata"))}
    _announce(f"DATABASE_URL is unset: using the embedded PostgreSQL in {VAR_DIR / 'pgdata'}")
    # `make run` migrates as the embedded server's owner, then serves as the app role the
    # migration created (lims.db_roles): the quick start runs with the two roles too.
    if env("EMBEDDED_DATABASE_ROLE", default=""):
        DATABASES["default"]["USER"] = env("EMBEDDED_DATABASE_ROLE")
# Persistent connections with a health check: a request or task reuses its connection
# instead of paying a new PostgreSQL backend each time.
# The application's own database login (lims.db_roles): after every migrate, run as the owner,
# this role is created if missing and given exactly the privileges the application needs
# (never DELETE on GMP tables, INSERT-only on the audit trail). The app then connects as it
# (DATABASE_URL) and only migrations connect as the owner. docker-compose and CI's drill do so.
DATABASE_APP_ROLE = env("DATABASE_APP_ROLE", default="")
DATABASE_APP_PASSWORD = env("DATABASE_APP_PASSWORD", default="")
# PostgreSQL's JIT compiles a query's expressions once its estimated cost passes jit_above_cost;
# for this application's short queries the compilation costs more than it saves (measured on a
# ten-year history: /api/v1/runs/ 1.14 → 0.51 s, the audit trail by record 3.4 → 0.8 s with it
# off). Off for every connection unless DATABASE_JIT=on.
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = f"{_options.get('options', '')} -c jit={env('DATABASE_JIT', default='off')}"
_options["options"] = _options["options"].strip()
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if CELERY_TASK_ALWAYS_EAGER:
    _announce("CELERY_BROKER_URL is unset: Celery tasks run eagerly in this process")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Bounded work (OWASP API Security Top 10 2023, API4): after the soft limit a task gets
# SoftTimeLimitExceeded (the heavy ones mark their job failed with the reason), after the hard
# limit its process is killed. Reading an instrument file has tighter limits of its own.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
FILE_PARSE_SOFT_TIME_LIMIT = env.int("FILE_PARSE_SOFT_TIME_LIMIT", default=120)
FILE_PARSE_TIME_LIMIT = FILE_PARSE_SOFT_TIME_LIMIT + 30
# The longest wait before a task that met a transient database error is retried.
TASK_RETRY_BACKOFF_MAX_SECONDS = 300
# A worker child is replaced after this many tasks or once its resident memory passes this
# many KiB, so one huge input does not keep its memory for good.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=200)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD_KB", default=786432
)
# With acks_late, Redis redelivers a task its worker never acknowledged (the worker was killed)
# once the visibility timeout passes: 10 minutes, not Redis's default hour. It must exceed the
# hard time limit and the longest retry countdown, or a task still running or waiting for its
# retry would be delivered a second time (Celery, "Using Redis: visibility timeout").
_visibility_timeout = env.int("CELERY_VISIBILITY_TIMEOUT", default=600)
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT or not (
    FILE_PARSE_TIME_LIMIT <= CELERY_TASK_TIME_LIMIT
):
    raise ImproperlyConfigured(
        "CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT, and "
        "FILE_PARSE_SOFT_TIME_LIMIT at least 30 s below CELERY_TASK_TIME_LIMIT."
    )
if _visibility_timeout <= max(CELERY_TASK_TIME_LIMIT, TASK_RETRY_BACKOFF_MAX_SECONDS):
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT and "
        f"{TASK_RETRY_BACKOFF_MAX_SECONDS} s (the longest retry countdown)."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility_timeout}
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="celery")
# Recording a run must stay quick when the broker is down: give up publishing after about a
# second (the periodic catch-up enqueues what could not be sent).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Fault-injection for the operational-qualification tests (worker killed mid-task): seconds a
# metrics task waits before working. Always 0 in production.
QC_FAULT_DELAY_SECONDS = env.float("QC_FAULT_DELAY_SECONDS", default=0.0)
CELERY_BEAT_SCHEDULE = {
    # Runs recorded while the broker was unreachable still get their metrics.
    "compute-missing-metrics": {
        "task": "assays.tasks.compute_missing_metrics",
        "schedule": env.float("MISSING_METRICS_EVERY_SECONDS", default=300.0),
    },
    # Lots and batches whose evaluation is missing or older than their metrics, specifications
    # not yet fixed for lots in testing, certificates not yet issued for released lots.
    "release-catch-up": {
        "task": "release.tasks.catch_up",
        "schedule": env.float("RELEASE_CATCH_UP_EVERY_SECONDS", default=300.0),
    },
    # The audit chain (lims.audit_chain): new events sealed every minute, the whole chain
    # verified every hour, the result shown on the audit trail page.
    "seal-audit-trail": {
        "task": "lims.tasks.seal_audit_trail",
        "schedule": env.float("AUDIT_SEAL_EVERY_SECONDS", default=60.0),
    },
    "verify-audit-chain": {
        "task": "lims.tasks.verify_audit_chain",
        "schedule": env.float("AUDIT_VERIFY_EVERY_SECONDS", default=3600.0),
    },
}
REDIS_URL = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
if REDIS_URL:
    # A shared cache, so the per-instrument API throttle counts across every web process.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("CACHE_URL", default=REDIS_URL),
        }
    }
if CELERY_BROKER_URL:
    # /health/ then also checks the broker and that a worker answers a ping.
    INSTALLED_APPS += ["health_check.contrib.celery_ping"]
    if REDIS_URL:
        INSTALLED_APPS += ["health_check.contrib.redis"]

# --- People, sign-in and sessions ----------------------------------------------------------
AUTH_USER_MODEL = "lims.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    # Common and breached passwords, offline (an air-gapped plant calls no online service):
    # Django's list of 20,000, or a larger list the plant provides, one password a line, plain or
    # gzip (NIST SP 800-63B §5.1.1.2). It is read into memory once per process.
    {
        "NAME": "django.contrib.auth.password_validation.CommonPasswordValidator",
        "OPTIONS": (
            {"password_list_path": env("PASSWORD_LIST_PATH")}
            if env("PASSWORD_LIST_PATH", default="")
            else {}
        ),
    },
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # No repeated or sequential characters (aaaa, 1234, qwerty; lims.passwords).
    {"NAME": "lims.passwords.CharacterVarietyValidator"},
]
# 21 CFR 11.300(b): days after which a password must be changed; 0 turns ageing off (NIST
# SP 800-63B §5.1.1.2 advises against forced periodic changes, a site's SOP may require them).
PASSWORD_MAX_AGE_DAYS = env.int("PASSWORD_MAX_AGE_DAYS", default=0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
# Roles that must sign in with a one-time code as well (lims.second_factor), e.g. "qa,admin".
OTP_REQUIRED_ROLES = env.list("OTP_REQUIRED_ROLES", default=[])
OTP_TOTP_ISSUER = "Exosome QC LIMS"
LOGOUT_REDIRECT_URL = "login"
# 21 CFR 11.300(d) / Annex 11 §12: repeated failures lock, in a way an anonymous caller cannot
# turn against QA (OWASP ASVS 4.0.3 V2.2.1; lims.signin): a user ID at one address after
# AXES_FAILURE_LIMIT failures, an address after AXES_ADDRESS_FAILURE_LIMIT (each user ID counted
# at most AXES_FAILURE_LIMIT times), a user ID at every address where it failed after
# AXES_ACCOUNT_FAILURE_LIMIT from several addresses. Locks lift after the cool-off (hours since
# the last failure) or when an administrator unlocks with a reason.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_ADDRESS_FAILURE_LIMIT = env.int("AXES_ADDRESS_FAILURE_LIMIT", default=10)
AXES_ACCOUNT_FAILURE_LIMIT = env.int("AXES_ACCOUNT_FAILURE_LIMIT", default=20)
if not AXES_FAILURE_LIMIT < min(AXES_ADDRESS_FAILURE_LIMIT, AXES_ACCOUNT_FAILURE_LIMIT):
    raise ImproperlyConfigured(
        "AXES_ADDRESS_FAILURE_LIMIT and AXES_ACCOUNT_FAILURE_LIMIT must exceed AXES_FAILURE_LIMIT."
    )
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address", "username"]
AXES_HANDLER = "lims.signin.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# Locks are lifted on /accounts/security/ with a reason that is audited, not by deleting
# django-axes' rows in the Django admin.
AXES_ENABLE_ADMIN = False
# The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT reverse proxies that each
# append to X-Forwarded-For, the address the outermost of them saw (lims.signin.client_address).
# Without it every request behind a proxy has the proxy's address and one address lock would
# lock everybody out.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "lims.signin.client_address"
# Idle timeout on a shared bench terminal: the session expires 30 minutes after the last request.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Security headers (production) ---------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Original instrument files and generated documents live outside the web root.
MEDIA_ROOT = env.path("FILE_STORE", default=VAR_DIR / "files")
# Where `manage.py backup` writes when given no folder (EU GMP Annex 11 §7.2).
BACKUP_DIR = env.path("BACKUP_DIR", default=VAR_DIR / "backups")
FILE_UPLOAD_MAX_BYTES = env.int("FILE_UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
# Bodies other than uploaded files (API JSON, form fields) have a limit of their own, a few MB:
# a parsed JSON document takes many times its size in memory (OWASP API Security Top 10 2023,
# API4). Django applies it to request.body and form fields, the API's JSON parser to its body.
API_JSON_MAX_BYTES = env.int("API_JSON_MAX_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_JSON_MAX_BYTES
# What a zip container (an xlsx export) may expand to before any reader opens it
# (assays.parsers.archive; OWASP ASVS 4.0.3 V12.1.2): total declared size, the inflate ratio of
# a member (Apache POI's default, 100), and the number of members.
ARCHIVE_MAX_UNCOMPRESSED_BYTES = env.int("ARCHIVE_MAX_UNCOMPRESSED_BYTES", default=50 * 1024 * 1024)
ARCHIVE_MAX_RATIO = env.float("ARCHIVE_MAX_RATIO", default=100.0)
ARCHIVE_MAX_MEMBERS = env.int("ARCHIVE_MAX_MEMBERS", default=10000)

# --- Audit trail ----------------------------------------------------------------------------
# Event time is the server's clock at the moment of the write, not the transaction start.
PGHISTORY_CREATED_AT_FUNCTION = "clock_timestamp()"
PGHISTORY_APPEND_ONLY = True
PGHISTORY_ADMIN_ALL_EVENTS = True

# --- QC engine ------------------------------------------------------------------------------

NTA_SIZE_WINDOW_NM = (50.0, 400.0)
# The qPCR normalisers (reference genes or a spike-in) are the assay definition's, not a setting
# (AssayDefinition.qpcr, assays.qc.qpcr_analysis).

# --- Work queues of the home page (release.queues) ---------------------------------------
# MSC are subcultured before confluence, every 3-4 days at the usual seeding densities: a batch
# in culture whose last passage (or start) is this many days old is due one.
PASSAGE_INTERVAL_DAYS = env.int("PASSAGE_INTERVAL_DAYS", default=4)
# How many items each queue shows before its "see all" link.
HOME_QUEUE_ITEMS = env.int("HOME_QUEUE_ITEMS", default=5)

# --- Instruments ---------------------------------------------------------------------------
INSTRUMENT_KEY_DAYS = env.int("INSTRUMENT_KEY_DAYS", default=365)

# --- Run dates --------------------------------------------------------------------------------
# A run recorded more than this many days after it started is back-dated: it needs a reason and
# is flagged on review.
BACKDATE_DAYS = env.int("BACKDATE_DAYS", default=2)
# How far in the future a run's start (or end) may be: the clocks of instruments and PCs drift.
RUN_FUTURE_TOLERANCE = timedelta(minutes=env.int("RUN_FUTURE_TOLERANCE_MINUTES", default=5))
API_THROTTLE_RATE = env("API_THROTTLE_RATE", default="600/minute")
# A request holding an Idempotency-Key renews its lease while it runs; a request that died
# (its process killed) stops renewing, and a retry with the same key takes over once the lease
# has run out (assays.api.idempotency).
IDEMPOTENCY_LEASE_SECONDS = env.int("IDEMPOTENCY_LEASE_SECONDS", default=30)

# --- Identifiers ----------------------------------------------------------------------------
# Patterns for generated identifiers; {year} and {seq} are filled in at creation.
LIMS_ID_PATTERNS = {
    "cell_bank": env("ID_PATTERN_CELL_BANK", default="CB-{year}-{seq:04d}"),
    "culture_batch": env("ID_PATTERN_CULTURE_BATCH", default="MSC-{year}-{seq:04d}"),
    "isolation_run": env("ID_PATTERN_ISOLATION_RUN", default="ISO-{year}-{seq:04d}"),
    "exosome_lot": env("ID_PATTERN_EXOSOME_LOT", default="EXO-{year}-{seq:04d}"),
    "deviation": env("ID_PATTERN_DEVIATION", default="DEV-{year}-{seq:04d}"),
    "sample_receipt": env("ID_PATTERN_SAMPLE_RECEIPT", default="RCV-{year}-{seq:04d}"),
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Instruments authenticate with their API key; people browsing the docs or reading records
    # with their session. Nothing is public (assays.api.permissions).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "assays.api.auth.InstrumentKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["assays.api.permissions.ApiPermission"],
    "DEFAULT_THROTTLE_CLASSES": ["assays.api.throttling.InstrumentRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["assays.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "assays.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "assays.api.schema.ApiAutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Exosome QC LIMS API",
    "DESCRIPTION": "Production records, assay runs and results for MSC-derived exosome lots. "
    "Instruments post runs (JSON or ASM) and raw export files with their API key "
    "(`Authorization: Api-Key <key>`); every error is JSON with a stable `code` "
    "(assays/api/errors.py).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Several records have a "status": one named enum each.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "assays.models.AssayRun.Status",
        "InstrumentStatusEnum": "assays.models.Instrument.Status",
        "InstrumentFileStatusEnum": "assays.models.InstrumentFile.Status",
        "CultureBatchStatusEnum": "batches.models.CultureBatch.Status",
        "LotStatusEnum": "batches.models.ExosomeLot.Status",
        "AliquotStatusEnum": "batches.models.Aliquot.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # pgserver narrates every start and stop at INFO; only its problems matter.
    "loggers": {
        "pgserver": {"level": "WARNING"},
        # WeasyPrint reports every CSS property it skips in inline SVG; only errors matter.
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "ERROR"},
    },
}
