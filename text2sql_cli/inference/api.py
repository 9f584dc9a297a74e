"""API models: any OpenAI-compatible server (a `vllm serve` or `transformers serve` of the merged
model, GPT-4).

The prompt is the one the model was trained with (`--template`, default ko-sql-bot; a `--model`
run dir's saved template if one is given). A plain template (ko-sql-bot, en-sql-bot, a template
file) goes as is to /v1/completions, with the template's stop markers as `stop`: a chat request
would wrap it in the server's chat template, a prompt the model never saw (or fail outright on a
tokenizer without one). A chat template goes to /v1/chat/completions as one user message, which the
server wraps in the tokenizer's chat template, as training did. Greedy (temperature 0), `max_tokens`
from --max-new-tokens. Requests go through the
shared `llm_client`: rate limits, retries, and its resume cache (`<cache>`, next to the output),
so a rerun after a crash sends only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.errors import UsageError
from text2sql_cli.inference import InferSettings
from text2sql_cli.inference.backend import Generation, Item, resolve_template
from text2sql_cli.prompts import PromptTemplate

API_BATCH = 64  # requests handed to the client at once; it paces and parallelises them itself


@dataclass
class OpenAIBackend:
    client: Any  # llm_client.ClientConfig
    template: PromptTemplate
    max_new_tokens: int
    cache_path: Path | None = None
    batch_size: int = API_BATCH
    notes: list[str] = field(default_factory=list)
    name: str = "openai"
    samples: int = 1  # --candidates: N requests per prompt, sampled (the shared client reads one choice)
    temperature: float = 0.0
    top_p: float = 1.0

    @classmethod
    def build(cls, cfg: InferSettings, *, model: str | None = None) -> OpenAIBackend:
        if cfg.quant != "none":
            raise UsageError("--quant is for the hf backend", hint="quantise on the server side instead")
        client = cfg.client()  # needs --model-name; the key rules are llm_client's
        notes: list[str] = []
        template = resolve_template(model, cfg.template, notes)
        fixed = cfg.fixed_batch_size()
        return cls(
            client=client,
            template=template,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=fixed or API_BATCH,
            notes=notes,
            samples=cfg.candidates,
            temperature=cfg.temperature if cfg.candidates > 1 else 0.0,
            top_p=cfg.top_p if cfg.candidates > 1 else 1.0,
        )

    def params(self) -> dict[str, Any]:
        stop = {} if self.template.chat or not self.template.stop else {"stop": list(self.template.stop)}
        if self.samples > 1:
            return {
                "temperature": self.temperature,
                "top_p": self.top_p,
                "max_tokens": self.max_new_tokens,
                **stop,
            }
        return {"temperature": 0, "max_tokens": self.max_new_tokens, **stop}

    def prepare(self, item: Item) -> tuple[str, str]:
        """(key, text): the user turn of a chat template, else the exact prompt training used."""
        if self.template.chat:  # the server applies the chat template, as training did
            return item.key, self.template.render_user(item.ddl, item.question)
        return item.key, self.template.render_prompt(item.ddl, item.question)

    def cost(self, prepared: tuple[str, str]) -> int:
        return len(prepared[1])

    def request(self, rid: str, text: str) -> Any:
        from text2sql_cli.llm_client import Request

        if self.template.chat:
            return Request(id=rid, messages=[{"role": "user", "content": text}])
        return Request(id=rid, messages=[], prompt=text)

    def generate(self, prepared: list[tuple[str, str]]) -> list[Generation]:
        from text2sql_cli.llm_client import run_batch

        # The row id keys the client's resume cache; ids must be unique within a call, so
        # repeated keys (possible in stream mode) get their position added.
        keys = [key for key, _ in prepared]
        if len(set(keys)) < len(keys):
            keys = [f"{n}:{key}" for n, key in enumerate(keys)]
        n = self.samples
        # N candidates = N requests, each its own id (`key#j`), so the resume cache keeps each sample
        requests = [
            self.request(key if n == 1 else f"{key}#{j}", text)
            for key, (_, text) in zip(keys, prepared)
            for j in range(n)
        ]
        report = run_batch(
            requests,
            self.client,
            cache_path=self.cache_path,
            params=self.params(),
            progress=False,
            label="prompts",
        )
        single = [
            Generation(raw=r.text)
            if r.status == "ok"
            else Generation(raw=None, error=f"{r.status}: {r.reason}")
            for r in report.results
        ]
        if n == 1:
            return single
        out = []
        for i in range(len(prepared)):
            group = single[i * n : i * n + n]
            texts = tuple(g.raw for g in group)
            if all(t is None for t in texts):  # no sample at all: the row is retried next run
                out.append(Generation(raw=None, error=group[0].error))
            else:
                first = next(t for t in texts if t is not None)
                out.append(Generation(raw=first, candidates=texts))
        return out

    def provenance(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "model": self.client.model,
            "weights": self.client.model,
            "base_url": self.client.base_url,
            "adapter": None,
            "adapter_sha256": None,
            "template": {k: v for k, v in self.template.to_dict().items() if k != "description"},
            "precision": None,
            "quant": None,
            "endpoint": "/v1/chat/completions" if self.template.chat else "/v1/completions",
            "generation": {
                **({"top_p": self.top_p, "candidates": self.samples} if self.samples > 1 else {}),
                "temperature": self.temperature if self.samples > 1 else 0,
                "max_tokens": self.max_new_tokens,
                "stop": list(self.template.stop),
            },
        }
