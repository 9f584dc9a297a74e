"""Client settings: LLMSettings (T2S_LLM_RPM, T2S_LLM_TPM, ... and the OpenAI key), Endpoint (a base URL
and its key, shared by the judge and API-backed inference), EndpointSettings (the judge's model, base
URL, key, parse attempts, cost cap: T2S_JUDGE_*), ClientConfig built from them, safe key
resolution per base URL, the price table and the pre-call token estimate.

Keys: the OpenAI key is sent only to api.openai.com; another base URL gets only a key given for it
(`url_key` or the variable named by `key_env`), else none. Keys are SecretStr throughout.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from text2sql_cli.choices import BatchRetry
from text2sql_cli.config import T2SSettings
from text2sql_cli.errors import ConfigError

OPENAI_BASE_URL = "https://api.openai.com/v1"

# USD per 1M tokens (input, output), public list prices. A model matches its exact name or the
# longest entry followed by "-" (gpt-4-0613 -> gpt-4). Override or extend with T2S_LLM_PRICES.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-32k": (60.0, 120.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4-turbo-preview": (10.0, 30.0),
    "gpt-4-0125-preview": (10.0, 30.0),
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-3.5-turbo": (0.5, 1.5),
}


class LLMSettings(T2SSettings):
    """The OpenAI-compatible client's knobs (the shared T2S_LLM_* prefix) and the OpenAI key."""

    FIELDS_ARE_FLAGS = False
    FLAGS = {"rpm": "--rpm", "tpm": "--tpm", "llm_batch": "--batch", "llm_batch_retry": "--batch-retry"}

    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("T2S_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    rpm: int | None = Field(
        None,
        gt=0,
        validation_alias="T2S_LLM_RPM",
        description="most requests per minute (default: the server's announced limit, else 500)",
    )
    tpm: int | None = Field(
        None,
        gt=0,
        validation_alias="T2S_LLM_TPM",
        description="most tokens per minute (default: the server's announced limit, else 150000)",
    )
    llm_timeout_s: float = Field(60.0, gt=0, description="per-request timeout (ceiling of the adaptive one)")
    llm_timeout_floor_s: float = Field(1.0, gt=0, description="the adaptive timeout never goes below this")
    llm_hedge: bool = Field(True, description="send a second copy of a request slower than 1.5x the p95")
    llm_batch: bool = Field(False, description="send through the Batch API: half the price, within 24 h")
    llm_batch_retry: BatchRetry = Field(
        "online", description="rows a batch failed: ask again online or in a new batch"
    )
    llm_batch_poll_s: float = Field(30.0, gt=0, description="seconds between polls of a submitted batch")
    llm_max_attempts: int = Field(6, ge=1, description="attempts per request before 'error'")
    llm_concurrency: int = Field(64, ge=1, description="requests in flight at most")
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='JSON {"model": [usd_per_1m_in, usd_per_1m_out]}'
    )


@dataclass(frozen=True)
class ClientConfig:
    model: str
    base_url: str = OPENAI_BASE_URL
    api_key: SecretStr | None = field(default=None, repr=False)
    rpm: int | None = None  # upper bounds given by the user; None: the server's limits, else defaults
    tpm: int | None = None
    timeout_s: float = 60.0  # ceiling; the timeout adapts to observed latency (limits._Latency)
    timeout_floor_s: float = 1.0
    hedge: bool = True  # measured faster than the adaptive timeout alone (benchmarks/RESULTS.md)
    batch: bool = False  # the Batch API (llm_client.batch) instead of one request per row
    batch_retry: str = "online"
    batch_poll_s: float = 30.0
    max_attempts: int = 6
    concurrency: int = 64
    max_cost: float | None = None
    prices: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(PRICES))
    backoff_s: float = 0.5  # first retry waits 0.25-0.5 s, doubling each time (the SDK's start)
    backoff_max_s: float = 30.0
    # the options that set base_url and model on the command that built this client (error hints)
    url_flag: str = "--base-url"
    model_flag: str = "--model-name"

    @classmethod
    def build(
        cls,
        model: str,
        *,
        base_url: str | None = None,
        url_key: SecretStr | None = None,
        key_env: str | None = None,
        max_cost: float | None = None,
        require_key: bool = True,
        url_flag: str = "--judge-base-url",
        model_flag: str = "--model-name",
        **flags: Any,
    ) -> ClientConfig:
        """Config from flags (None = not given) > T2S_* env > .env > defaults, key resolved safely.
        `require_key=False` (dry runs, which send nothing) lets OpenAI's URL go without a key.
        `url_flag` and `model_flag` are the calling command's options for the base URL and the model
        (error hints name them)."""
        settings = LLMSettings.from_flags(**flags)
        url = (base_url or OPENAI_BASE_URL).rstrip("/")
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise ConfigError(f"base URL {url!r} is not an http(s) URL", hint="e.g. http://localhost:8000/v1")
        if urlparse(url).hostname == "api.openai.com" and urlparse(url).scheme != "https":
            raise ConfigError(
                f"base URL {url!r} would send the OpenAI key unencrypted; refused",
                hint=f"use {OPENAI_BASE_URL}",
            )
        if max_cost is not None and max_cost <= 0:
            raise ConfigError("--max-cost must be positive (USD)")
        prices = {**PRICES, **settings.llm_prices}
        if max_cost is not None and price_of(model, prices) is None:
            raise ConfigError(
                f"--max-cost needs a price for model {model!r}",
                hint=f"set T2S_LLM_PRICES='{{\"{model}\": [usd_per_1m_in, usd_per_1m_out]}}'",
            )
        return cls(
            model=model,
            base_url=url,
            api_key=resolve_key(
                url,
                url_key=url_key,
                key_env=key_env,
                openai_key=settings.openai_api_key,
                required=require_key,
                url_flag=url_flag,
            ),
            rpm=settings.rpm,
            tpm=settings.tpm,
            timeout_s=settings.llm_timeout_s,
            timeout_floor_s=settings.llm_timeout_floor_s,
            hedge=settings.llm_hedge,
            batch=settings.llm_batch,
            batch_retry=settings.llm_batch_retry,
            batch_poll_s=settings.llm_batch_poll_s,
            max_attempts=settings.llm_max_attempts,
            concurrency=settings.llm_concurrency,
            max_cost=max_cost,
            prices=prices,
            url_flag=url_flag,
            model_flag=model_flag,
        )

    def public_dump(self) -> dict[str, Any]:
        """For run metadata: everything but the key (only whether one is set)."""
        return {
            "model": self.model,
            "base_url": self.base_url,
            "api_key_set": self.api_key is not None,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "timeout_s": self.timeout_s,
            "timeout_floor_s": self.timeout_floor_s,
            "hedge": self.hedge,
            "batch": self.batch,
            "batch_retry": self.batch_retry if self.batch else None,
            "max_attempts": self.max_attempts,
            "max_cost": self.max_cost,
        }


class Endpoint(BaseModel):
    """An OpenAI-compatible server and the key given for it: the fields and the client builder that
    the judge's EndpointSettings (T2S_JUDGE_*) and API-backed inference (inference.InferSettings,
    T2S_INFER_*) share. Each reads them under its own prefix, so no judge variable reaches `t2s
    infer` and no infer variable the judge; both resolve the key by one rule (`resolve_key`)."""

    base_url: str | None = Field(None, description="OpenAI-compatible base URL (default: OpenAI)")
    api_key: SecretStr | None = Field(
        None, description="key sent to that base URL only (the OpenAI key goes only to api.openai.com)"
    )

    def client_for(self, model: str, **options: Any) -> ClientConfig:
        """The client for `model` on this server; `options` are ClientConfig.build's (key_env,
        max_cost, require_key, url_flag, model_flag, and LLMSettings flags such as rpm, None = not
        given). Error
        hints name this class's flag for base_url (--judge-base-url, infer's --base-url)."""
        flag_of = getattr(type(self), "flag_of", None)
        options.setdefault("url_flag", (flag_of("base_url") if flag_of else None) or "--base-url")
        return ClientConfig.build(model, base_url=self.base_url, url_key=self.api_key, **options)


class EndpointSettings(T2SSettings, Endpoint):
    """The LLM judge's endpoint, shared by `t2s eval --judge` and `t2s filter --judge` (T2S_JUDGE_*).

    Which model, where, with which key, how many asks per row and the cost cap."""

    model_config = SettingsConfigDict(**{**T2SSettings.model_config, "env_prefix": "T2S_JUDGE_"})
    FLAGS = {
        "model": "--judge",
        "base_url": "--judge-base-url",
        "api_key": None,
        "api_key_env": "--judge-api-key-env",
        "parse_attempts": None,
        "max_cost": "--max-cost",
    }

    model: str | None = Field(None, description="judge model, e.g. gpt-4-turbo-preview")
    api_key_env: str | None = Field(None, description="name of the variable holding that key")
    parse_attempts: int = Field(3, ge=1, description="asks per row before 'unparseable'")
    max_cost: float | None = Field(None, gt=0, description="USD cap; rows past it are 'skipped'")

    def client(self, *, require_key: bool = True, **flags: Any) -> ClientConfig:
        """The client for this endpoint; `flags` are LLMSettings fields (rpm, tpm, ...), None = not
        given. `require_key=False` (dry runs, which send nothing) lets OpenAI's URL go without a key."""
        if not self.model:
            raise ConfigError(
                "no judge model", hint="pass --judge MODEL (e.g. gpt-4-turbo-preview) or set T2S_JUDGE_MODEL"
            )
        options = {"key_env": self.api_key_env, "max_cost": self.max_cost, "require_key": require_key}
        options["model_flag"] = self.flag_of("model")  # --judge (synth's teacher passes its own)
        return self.client_for(self.model, **{**options, **flags})


def is_openai_url(url: str) -> bool:
    """Only https://api.openai.com gets the OpenAI key."""
    parsed = urlparse(url)
    return parsed.hostname == "api.openai.com" and parsed.scheme == "https"


def resolve_key(
    base_url: str,
    *,
    url_key: SecretStr | None = None,
    key_env: str | None = None,
    openai_key: SecretStr | None = None,
    required: bool = True,
    url_flag: str = "--judge-base-url",
) -> SecretStr | None:
    """The key to send to `base_url`, or None to send none. Never the OpenAI key to another host."""
    if key_env:
        value = os.environ.get(key_env) or _dotenv_value(key_env)
        if not value:
            raise ConfigError(
                f"the environment variable {key_env} named for the key is not set",
                hint=f"export {key_env}=... or add it to .env",
            )
        return SecretStr(value)
    if url_key is not None:
        return url_key
    if is_openai_url(base_url):
        if openai_key is None and required:
            raise ConfigError(
                "no OpenAI API key",
                hint=(
                    f"export OPENAI_API_KEY=sk-... (or put it in .env), or use a local server with {url_flag}"
                ),
            )
        return openai_key
    return None  # a local or third-party server: no key unless one was given for it


def _dotenv_value(name: str) -> str | None:
    from dotenv import dotenv_values

    return dotenv_values(".env").get(name) if Path(".env").is_file() else None


def price_of(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name + "-")]
    return prices[max(matches, key=len)] if matches else None


def approx_tokens(text: str) -> int:
    """A deliberately high token count: UTF-8 bytes / 3 (about right for Korean, high for English)."""
    return math.ceil(len(text.encode("utf-8")) / 3)
