"""The one OpenAI-compatible chat client; the code and its documentation live in `runner`."""

from text2sql_cli.llm_client.runner import (  # noqa: F401
    OPENAI_BASE_URL,
    PRICES,
    REUSED_STATUSES,
    BatchReport,
    ClientConfig,
    Estimate,
    LLMSettings,
    ParseError,
    Request,
    Result,
    approx_tokens,
    arun_batch,
    cache_key,
    estimate,
    is_openai_url,
    load_cache,
    price_of,
    prompt_hash,
    resolve_key,
    run_batch,
)
