"""Switchboard's settings: one typed object read from the environment and an optional `.env`.

Every variable is listed in `VARIABLES` with its default and meaning; the README's configuration
table is that list. A bad value raises `SettingsError`, naming the variable, before anything starts.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from db.config import DEFAULT_DATABASE_URL

T = TypeVar("T")

DATABASE_SCHEMES = ("sqlite", "postgres", "asyncpg")
REDIS_SCHEMES = ("redis", "rediss", "unix")
MIN_SECRET_LENGTH = 32
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")
CRM_ALGORITHMS = ("HS256", *PUBLIC_KEY_ALGORITHMS)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
# Frontend dev servers: Vite (dev and preview), Create React App and Next.js, Vue CLI and webpack,
# Angular. Allowed from a browser by default in the embedded set-up only.
LOCAL_DEV_PORTS = (5173, 4173, 3000, 8080, 4200)
LOCAL_DEV_ORIGINS = tuple(
    f"http://{host}:{port}" for port in LOCAL_DEV_PORTS for host in ("localhost", "127.0.0.1")
)
DEFAULT_PORTS = {"http": 80, "https": 443}


class SettingsError(ValueError):
    """A configuration variable has a value Switchboard cannot use."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        "Database: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.",
    ),
    Variable("REDIS_URL", "", "Redis for pub/sub across processes; unset: in-process pub/sub."),
    Variable(
        "UNIPILE_DSN",
        "",
        "UniPile base URL (`https://apiN.unipile.com:PORT`); unset: the embedded sandbox.",
    ),
    Variable("UNIPILE_API_KEY", "", "UniPile access token; required with `UNIPILE_DSN`."),
    Variable(
        "SANDBOX_PORT",
        "8001",
        "Port of the embedded UniPile sandbox (when `UNIPILE_DSN` is unset).",
    ),
    Variable("SANDBOX_SEED", "7", "Seed of the sandbox's demo data."),
    Variable("SANDBOX_MESSAGE_INTERVAL", "0", "Seconds between generated demo messages; 0: off."),
    Variable(
        "WEBHOOK_SECRET",
        "",
        "Secret UniPile sends in the `Unipile-Auth` header; unset: generated under `DATA_DIR`.",
    ),
    Variable(
        "JWT_SECRET", "", "HS256 key that signs bearer tokens; unset: generated under `DATA_DIR`."
    ),
    Variable("TOKEN_TTL_HOURS", "24", "Lifetime of tokens printed by `switchboard token`."),
    Variable(
        "CRM_JWT_ISSUER",
        "",
        "`iss` of the tokens the CRM mints for its users; unset: only Switchboard's own tokens "
        "are accepted. Needs one of `CRM_JWT_SECRET`, `CRM_JWT_PUBLIC_KEY_FILE`, `CRM_JWKS_URL`.",
    ),
    Variable("CRM_JWT_AUDIENCE", "", "`aud` the CRM's tokens must carry; unset: not checked."),
    Variable("CRM_JWT_SECRET", "", "HS256 secret shared with the CRM (32 characters or more)."),
    Variable(
        "CRM_JWT_PUBLIC_KEY_FILE", "", "PEM file of the CRM's RSA or EC public key (RS256, ES256)."
    ),
    Variable(
        "CRM_JWKS_URL",
        "",
        "The CRM's JWKS (RS256, ES256); cached, and fetched again for a `kid` it does not hold.",
    ),
    Variable(
        "CRM_JWT_ALGORITHMS",
        "",
        "Comma-separated algorithms accepted from the CRM (HS256, RS256, ES256); unset: HS256 "
        "with a secret, RS256 and ES256 with public keys.",
    ),
    Variable("CRM_JWT_USER_CLAIM", "sub", "Claim with the user's id in the CRM."),
    Variable("CRM_JWT_EMAIL_CLAIM", "email", "Claim with the user's email address."),
    Variable("CRM_JWT_NAME_CLAIM", "name", "Claim with the user's display name (optional)."),
    Variable(
        "CRM_JWT_WORKSPACE_CLAIM", "workspace_id", "Claim with the workspace's id in the CRM."
    ),
    Variable(
        "CRM_JWT_WORKSPACE_NAME_CLAIM",
        "workspace_name",
        "Claim with the workspace's name, used when it is first provisioned (optional).",
    ),
    Variable(
        "CRM_JWT_ROLE_CLAIM",
        "role",
        "Claim with the user's role, `admin` or `member` (optional; absent: member).",
    ),
    Variable(
        "HOSTED_AUTH_TTL_MINUTES",
        "60",
        "How long a `connectAccount` link to UniPile's hosted auth stays valid.",
    ),
    Variable(
        "HOSTED_AUTH_SUCCESS_URL",
        "",
        "Page UniPile's hosted auth sends the user to once connected (the CRM's); unset: none.",
    ),
    Variable(
        "HOSTED_AUTH_FAILURE_URL",
        "",
        "Page UniPile's hosted auth sends the user to when connecting failed; unset: none.",
    ),
    Variable(
        "PUBLIC_URL",
        "",
        "URL where UniPile reaches this server's webhook; unset: `http://HOST:PORT`.",
    ),
    Variable("HOST", "127.0.0.1", "Interface to serve on."),
    Variable("PORT", "8000", "Port to serve on."),
    Variable("LOG_LEVEL", "INFO", "One of DEBUG, INFO, WARNING, ERROR, CRITICAL."),
    Variable(
        "LOG_FORMAT",
        "text",
        "`json`: one JSON object a line (the container image sets it), `text`: for a terminal. "
        "Each line carries its request id.",
    ),
    Variable(
        "METRICS_TOKEN",
        "",
        "Bearer token `/metrics` requires (32 characters or more); unset: `/metrics` is open.",
    ),
    Variable(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "",
        "OpenTelemetry collector's OTLP/HTTP base URL (`http://collector:4318`): traces go to its "
        "`/v1/traces`, and the SDK's other `OTEL_*` variables (`OTEL_SERVICE_NAME`, "
        "`OTEL_EXPORTER_OTLP_HEADERS`...) apply. Unset: no traces, and nothing of tracing loaded.",
    ),
    Variable("DATA_DIR", "var", "Folder for the SQLite file and generated secrets."),
    Variable(
        "CORS_ORIGINS",
        "",
        "Comma-separated origins (`https://crm.example.com`) whose pages may call the API and open "
        "its WebSocket, with credentials; `*` is refused. Unset: the local frontend dev servers "
        "(`http://localhost:` and `http://127.0.0.1:` ports 5173, 4173, 3000, 8080, 4200) "
        "without `UNIPILE_DSN`, none with it.",
    ),
    Variable(
        "PAGING_TTL_SECONDS",
        "3600",
        "How long a page's cursors stay valid after the page was read; an older cursor is "
        "`BAD_USER_INPUT` with `extensions.reason` `CURSOR_EXPIRED`. Kept in Redis with "
        "`REDIS_URL`, in process memory otherwise.",
    ),
    Variable(
        "LIVE_CACHE_SECONDS",
        "60",
        "Longest time a page of a UniPile list is served from the live cache; the webhooks that "
        "change it (and Switchboard's own sends and reads) end it sooner. 0: every read asks "
        "UniPile, but concurrent identical reads still share one call and the last good page "
        "still stands in when UniPile fails.",
    ),
    Variable(
        "LIVE_CACHE_ENTRIES",
        "256",
        "Most pages of UniPile lists the live cache holds per process, least recently used "
        "going first (a page of 200 emails is about 0.8 MB).",
    ),
    Variable(
        "KEPT_RESPONSE_BYTES",
        "33554432",
        "Most bytes of GraphQL answers each process keeps to give again to the same viewer's same "
        "query while nothing they were made of changed (never longer than LIVE_CACHE_SECONDS). "
        "0: every query is executed.",
    ),
    Variable(
        "SWITCHBOARD_REPORT_COST",
        "0",
        "1: each GraphQL response reports its database queries and UniPile calls.",
    ),
    Variable(
        "MAX_BODY_BYTES",
        "1048576",
        "Largest request body (1 MiB); a larger one is refused with 413 `REQUEST_TOO_LARGE` "
        "before it is read past the limit, with or without `Content-Length`.",
    ),
    Variable(
        "MAX_WEBHOOK_BYTES",
        "5242880",
        "Largest body of a UniPile webhook call (5 MiB: an email with its attachments' "
        "metadata fits); a larger one is refused with 413.",
    ),
    Variable(
        "MAX_QUERY_ALIASES",
        "250",
        "Most aliases in a GraphQL document, fragments included; more is `QUERY_TOO_COMPLEX`.",
    ),
    Variable(
        "MAX_QUERY_TOKENS",
        "20000",
        "Most tokens (comments included) in a GraphQL document; more is `QUERY_TOO_COMPLEX`, "
        "found while parsing.",
    ),
    Variable(
        "MAX_QUERY_DEPTH",
        "12",
        "Deepest nesting of fields in an operation, through fragments; deeper is "
        "`QUERY_TOO_COMPLEX`.",
    ),
    Variable(
        "UPSTREAM_BUDGET",
        "150",
        "Most UniPile requests (retries included) one GraphQL operation may make; the one past it "
        "fails the operation with `UPSTREAM_BUDGET_EXCEEDED` without being sent.",
    ),
    Variable(
        "UPSTREAM_DEADLINE_SECONDS",
        "8",
        "Time all the UniPile requests of one GraphQL operation have together, retries "
        "included; an account still waiting then is `UPSTREAM_UNAVAILABLE`.",
    ),
)


@dataclass(frozen=True, slots=True)
class CrmTokenSettings:
    """How tokens minted by the CRM are verified and read; `issuer` None: not accepted."""

    issuer: str | None = None
    audience: str | None = None
    secret: str | None = None
    public_key_file: Path | None = None
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ()
    user_claim: str = "sub"
    email_claim: str = "email"
    name_claim: str = "name"
    workspace_claim: str = "workspace_id"
    workspace_name_claim: str = "workspace_name"
    role_claim: str = "role"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str | None
    unipile_dsn: str | None
    unipile_api_key: str | None
    sandbox_port: int
    sandbox_seed: int
    sandbox_message_interval: float
    webhook_secret: str | None
    jwt_secret: str | None
    token_ttl_hours: float
    crm_tokens: CrmTokenSettings
    hosted_auth_ttl_minutes: float
    hosted_auth_success_url: str | None
    hosted_auth_failure_url: str | None
    public_url: str
    host: str
    port: int
    log_level: str
    log_format: str
    metrics_token: str | None
    otlp_endpoint: str | None
    data_dir: Path
    report_cost: bool
    cors_origins: tuple[str, ...]
    paging_ttl_seconds: int
    live_cache_seconds: float
    live_cache_entries: int
    kept_response_bytes: int
    max_body_bytes: int
    max_webhook_bytes: int
    max_query_aliases: int
    max_query_tokens: int
    max_query_depth: int
    upstream_budget: int
    upstream_deadline_seconds: float

    @property
    def uses_sandbox(self) -> bool:
        return self.unipile_dsn is None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], env_file: Path | None = Path(".env")
    ) -> Settings:
        values = _merged(environ, env_file)
        host = _text(values, "HOST")
        port = _parse(values, "PORT", _port)
        dsn, api_key = _unipile(values)
        return cls(
            database_url=_parse(values, "DATABASE_URL", _database_url),
            redis_url=_optional(values, "REDIS_URL", _redis_url),
            unipile_dsn=dsn,
            unipile_api_key=api_key,
            sandbox_port=_parse(values, "SANDBOX_PORT", _port),
            sandbox_seed=_parse(values, "SANDBOX_SEED", int),
            sandbox_message_interval=_parse(values, "SANDBOX_MESSAGE_INTERVAL", _non_negative),
            webhook_secret=_optional(values, "WEBHOOK_SECRET", _secret),
            jwt_secret=_optional(values, "JWT_SECRET", _secret),
            token_ttl_hours=_parse(values, "TOKEN_TTL_HOURS", _positive),
            crm_tokens=_crm_tokens(values),
            hosted_auth_ttl_minutes=_parse(values, "HOSTED_AUTH_TTL_MINUTES", _positive),
            hosted_auth_success_url=_optional(values, "HOSTED_AUTH_SUCCESS_URL", _http_url),
            hosted_auth_failure_url=_optional(values, "HOSTED_AUTH_FAILURE_URL", _http_url),
            public_url=_optional(values, "PUBLIC_URL", _http_url) or f"http://{host}:{port}",
            host=host,
            port=port,
            log_level=_parse(values, "LOG_LEVEL", _log_level),
            log_format=_parse(values, "LOG_FORMAT", _log_format),
            metrics_token=_optional(values, "METRICS_TOKEN", _secret),
            otlp_endpoint=_optional(values, "OTEL_EXPORTER_OTLP_ENDPOINT", _http_url),
            data_dir=Path(_text(values, "DATA_DIR")),
            report_cost=_parse(values, "SWITCHBOARD_REPORT_COST", _flag),
            cors_origins=_optional(values, "CORS_ORIGINS", _origins)
            or (LOCAL_DEV_ORIGINS if dsn is None else ()),
            paging_ttl_seconds=_parse(values, "PAGING_TTL_SECONDS", _whole_positive),
            live_cache_seconds=_parse(values, "LIVE_CACHE_SECONDS", _non_negative),
            live_cache_entries=_parse(values, "LIVE_CACHE_ENTRIES", _whole_positive),
            kept_response_bytes=_parse(values, "KEPT_RESPONSE_BYTES", _whole_non_negative),
            max_body_bytes=_parse(values, "MAX_BODY_BYTES", _whole_positive),
            max_webhook_bytes=_parse(values, "MAX_WEBHOOK_BYTES", _whole_positive),
            max_query_aliases=_parse(values, "MAX_QUERY_ALIASES", _whole_positive),
            max_query_tokens=_parse(values, "MAX_QUERY_TOKENS", _whole_positive),
            max_query_depth=_parse(values, "MAX_QUERY_DEPTH", _whole_positive),
            upstream_budget=_parse(values, "UPSTREAM_BUDGET", _whole_positive),
            upstream_deadline_seconds=_parse(values, "UPSTREAM_DEADLINE_SECONDS", _positive),
        )

    def local_secret(self, name: str) -> str:
        """A secret kept in `DATA_DIR`, created on first use, for the embedded default set-up."""
        path = self.data_dir / f"{name}.secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    def signing_key(self) -> str:
        return self.jwt_secret or self.local_secret("jwt")

    def webhook_key(self) -> str:
        return self.webhook_secret or self.local_secret("webhook")


def _merged(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    from_file = dotenv_values(env_file) if env_file is not None and env_file.exists() else {}
    defaults = {variable.name: variable.default for variable in VARIABLES}
    file_values = {key: value for key, value in from_file.items() if value is not None}
    known = {key: environ[key] for key in defaults if key in environ}
    return {**defaults, **file_values, **known}


def _text(values: Mapping[str, str], name: str) -> str:
    return values[name].strip()


def _parse(values: Mapping[str, str], name: str, parser: Callable[[str], T]) -> T:
    try:
        return parser(_text(values, name))
    except ValueError as error:
        raise SettingsError(name, str(error) or "invalid value") from None


def _optional(values: Mapping[str, str], name: str, parser: Callable[[str], T]) -> T | None:
    return _parse(values, name, parser) if _text(values, name) else None


def _unipile(values: Mapping[str, str]) -> tuple[str | None, str | None]:
    dsn = _optional(values, "UNIPILE_DSN", _http_url)
    api_key = _text(values, "UNIPILE_API_KEY") or None
    if dsn is not None and api_key is None:
        raise SettingsError("UNIPILE_API_KEY", "required when UNIPILE_DSN is set")
    return dsn, api_key


def _crm_tokens(values: Mapping[str, str]) -> CrmTokenSettings:
    issuer = _text(values, "CRM_JWT_ISSUER") or None
    secret = _optional(values, "CRM_JWT_SECRET", _secret)
    public_key_file = _optional(values, "CRM_JWT_PUBLIC_KEY_FILE", _readable_file)
    jwks_url = _optional(values, "CRM_JWKS_URL", _http_url)
    has_key = secret is not None or public_key_file is not None or jwks_url is not None
    if issuer is not None and not has_key:
        raise SettingsError(
            "CRM_JWT_ISSUER",
            "needs CRM_JWT_SECRET, CRM_JWT_PUBLIC_KEY_FILE or CRM_JWKS_URL to verify the tokens",
        )
    if issuer is None and has_key:
        raise SettingsError("CRM_JWT_ISSUER", "required with the CRM's token keys")
    algorithms = _optional(values, "CRM_JWT_ALGORITHMS", _algorithms) or _default_algorithms(
        secret is not None, public_key_file is not None or jwks_url is not None
    )
    return CrmTokenSettings(
        issuer=issuer,
        audience=_text(values, "CRM_JWT_AUDIENCE") or None,
        secret=secret,
        public_key_file=public_key_file,
        jwks_url=jwks_url,
        algorithms=algorithms,
        user_claim=_parse(values, "CRM_JWT_USER_CLAIM", _claim),
        email_claim=_parse(values, "CRM_JWT_EMAIL_CLAIM", _claim),
        name_claim=_parse(values, "CRM_JWT_NAME_CLAIM", _claim),
        workspace_claim=_parse(values, "CRM_JWT_WORKSPACE_CLAIM", _claim),
        workspace_name_claim=_parse(values, "CRM_JWT_WORKSPACE_NAME_CLAIM", _claim),
        role_claim=_parse(values, "CRM_JWT_ROLE_CLAIM", _claim),
    )


def _default_algorithms(has_secret: bool, has_public_keys: bool) -> tuple[str, ...]:
    return (("HS256",) if has_secret else ()) + (PUBLIC_KEY_ALGORITHMS if has_public_keys else ())


def _algorithms(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(entry.strip().upper() for entry in value.split(",") if entry))
    unknown = [name for name in names if name not in CRM_ALGORITHMS]
    if unknown or not names:
        raise ValueError(f"expected some of {', '.join(CRM_ALGORITHMS)}, got {value!r}")
    return names


def _claim(value: str) -> str:
    if not value:
        raise ValueError("a claim name is required")
    return value


def _readable_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"no file at {value!r}")
    return path


def _database_url(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in DATABASE_SCHEMES or "://" not in value:
        raise ValueError(
            f"expected a URL starting with one of {_schemes(DATABASE_SCHEMES)}, got {value!r}"
        )
    return value


def _schemes(schemes: tuple[str, ...]) -> str:
    return ", ".join(f"{scheme}://" for scheme in schemes)


def _redis_url(value: str) -> str:
    if urlsplit(value).scheme not in REDIS_SCHEMES:
        raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError(f"expected a port from 1 to 65535, got {value!r}")
    return port


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(f"expected a positive number, got {value!r}")
    return number


def _whole_positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"expected a whole number of 1 or more, got {value!r}")
    return number


def _whole_non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"expected a whole number of 0 or more, got {value!r}")
    return number


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"expected zero or a positive number, got {value!r}")
    return number


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected 1 or 0, got {value!r}")


def _secret(value: str) -> str:
    # HS256 keys shorter than the hash are weak (RFC 7518, 3.2).
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters long")
    return value


def _origins(value: str) -> tuple[str, ...]:
    origins = [_origin(entry.strip()) for entry in value.split(",") if entry.strip()]
    return tuple(dict.fromkeys(origins))


def _origin(value: str) -> str:
    """`value` as a browser sends it in `Origin`: lowercase scheme and host, no default port."""
    if value == "*":
        raise ValueError(
            "'*' is not allowed: credentialed requests need each origin listed, "
            "such as https://crm.example.com"
        )
    expected = f"expected origins like https://crm.example.com, got {value!r}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(expected) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(expected)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"an origin is a scheme, host and optional port only, got {value!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def _log_format(value: str) -> str:
    log_format = value.lower()
    if log_format not in LOG_FORMATS:
        raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return log_format
