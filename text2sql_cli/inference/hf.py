"""Local models through transformers (+ peft): a t2s run dir (base + LoRA adapter), a merged or
plain model directory, or a hub id.

Invariants:
- Prompt ids come from `prompts.encode`, the function training uses: no second tokenisation path.
- An adapter that fails to load (missing weights, keys that do not match the base) raises
  ModelLoadError; the base model is never scored under the adapter's name.
- Greedy decoding; a row stops at EOS or when its decoded tail contains a template stop marker.
  Left padding plus the attention mask keep a row's greedy output the same alone or in a batch.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    RUN_FILE,
    adapter_sha256,
    check_adapter_weights,
    has_adapter_weights,
    read_run,
)
from text2sql_cli.errors import EnvironmentNotSupported, ModelLoadError, T2SError, UsageError
from text2sql_cli.inference import InferSettings
from text2sql_cli.inference.backend import Generation, Item, resolve_template
from text2sql_cli.prompts import PromptTemplate, encode

CPU_AUTO_BATCH = 32  # measured on 2 cores with the tiny model: 32 beat 8, 16 and 64
CUDA_AUTO_START = 128  # first try on a GPU; halved on every out-of-memory


@dataclass(frozen=True)
class ModelSpec:
    """What `--model` (and `--base`) point at, resolved before anything heavy loads."""

    given: str
    weights: str  # the causal LM to load: the base for an adapter, else the model itself
    adapter: str | None = None
    tokenizer_from: str = ""
    template_dir: str | None = None


def _local(path: str) -> str:
    p = Path(path).expanduser()
    return str(p.resolve()) if p.exists() else path


def resolve_model(model: str, base: str | None = None) -> ModelSpec:
    """A run dir with adapter_config.json -> base + adapter; anything else loads as a model."""
    path = Path(model).expanduser()
    if path.is_dir() and (path / ADAPTER_CONFIG).is_file():
        base_id = base or _base_from_run(path)
        if not base_id:
            raise ModelLoadError(
                f"{path}: cannot tell which base model the adapter belongs to",
                hint="pass --base MODEL (adapter_config.json and run.json name none)",
            )
        has_tokenizer = (path / "tokenizer_config.json").is_file()
        return ModelSpec(
            given=model,
            weights=_local(base_id),
            adapter=str(path.resolve()),
            tokenizer_from=str(path.resolve()) if has_tokenizer else _local(base_id),
            template_dir=str(path.resolve()),
        )
    if path.exists() and not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{path}: not a model directory (no config.json or {ADAPTER_CONFIG})",
            hint="give a t2s run dir, a merged model dir or a hub model id",
        )
    if base is not None:
        raise UsageError(
            f"--base is for adapter run dirs, and {model} has no {ADAPTER_CONFIG}",
            hint="drop --base to run this model as it is",
        )
    weights = _local(model)
    return ModelSpec(
        given=model,
        weights=weights,
        tokenizer_from=weights,
        template_dir=weights if path.is_dir() else None,
    )


def _base_from_run(path: Path) -> str | None:
    try:
        adapter_cfg = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{path / ADAPTER_CONFIG}: unreadable ({err})") from None
    if adapter_cfg.get("base_model_name_or_path"):
        return str(adapter_cfg["base_model_name_or_path"])
    if (path / RUN_FILE).is_file():
        return read_run(path).base_model
    return None


def check_quant(quant: str) -> None:
    """4-bit needs CUDA and bitsandbytes; say so before any loading starts."""
    if quant == "none":
        return
    import torch

    if not torch.cuda.is_available():
        raise EnvironmentNotSupported(
            "--quant 4bit needs a CUDA GPU and this machine has none",
            hint="drop --quant (CPU runs in fp32) or run on a GPU machine",
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise EnvironmentNotSupported(
            "--quant 4bit needs bitsandbytes", hint="pip install bitsandbytes"
        ) from None


def _dtype_for(precision: str, device) -> tuple[Any, str]:
    import torch

    if precision == "auto":
        if device.type == "cuda":
            # Native bf16 only (Ampere+); emulated bf16 on a T4/V100 is slow, fp16 is not.
            precision = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
        else:
            precision = "fp32"
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision], precision


class TailStop:
    """StoppingCriteria: a row is done once the decoded text it generated contains a stop marker.

    Only the last few generated tokens are decoded each step (a marker of n bytes spans at most n
    tokens, and it can only complete at the newest token), so the check costs O(1) per step and
    never looks at the prompt, which contains the markers itself.
    """

    def __init__(self, tokenizer, stops: tuple[str, ...], prompt_len: int):
        self.tokenizer = tokenizer
        self.stops = tuple(s for s in stops if s)
        self.prompt_len = prompt_len
        self.window = max((len(s.encode("utf-8")) for s in self.stops), default=0) + 2

    def __call__(self, input_ids, scores=None, **kwargs):
        import torch

        tails = input_ids[:, self.prompt_len :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tails, skip_special_tokens=True)
        done = [any(s in text for s in self.stops) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


@dataclass
class HFBackend:
    spec: ModelSpec
    model: Any
    tokenizer: Any
    template: PromptTemplate
    generation_config: Any
    precision: str
    quant: str
    device: Any
    batch_size: int
    auto_batch: bool
    notes: list[str] = field(default_factory=list)
    name: str = "hf"
    samples: int = 1  # candidates per prompt (--candidates); > 1 samples them in one generate call
    seed: int = 0

    @classmethod
    def load(
        cls, cfg: InferSettings, *, model: str, base: str | None = None, device: Any = None
    ) -> HFBackend:
        if cfg.base_url or cfg.model_name:
            raise UsageError(
                "--base-url/--model-name are for --backend openai", hint="or drop them for a local model"
            )
        check_quant(cfg.quant)
        import torch

        spec = resolve_model(model, base)
        notes: list[str] = []
        template = resolve_template(spec.template_dir, cfg.template, notes)
        if device is None:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype, precision = _dtype_for(cfg.precision, device)
        from text2sql_cli.quiet import quiet_known_noise

        with quiet_known_noise():  # our progress goes to stderr; per-file loading bars would bury it
            tokenizer = _load_tokenizer(spec, notes)
            lm = _load_model(spec, cfg.quant, dtype, device)
        fixed = cfg.fixed_batch_size()
        if fixed is None:
            size = CUDA_AUTO_START if device.type == "cuda" else CPU_AUTO_BATCH
            how = "halving on out-of-memory" if device.type == "cuda" else "a CPU default"
            notes.append(f"--batch-size auto: starting at {size} ({how})")
        generation_config = _greedy_config(lm, tokenizer, cfg.max_new_tokens)
        if cfg.candidates > 1:
            from text2sql_cli.inference.sampling import sampling_config

            generation_config = sampling_config(
                generation_config, n=cfg.candidates, temperature=cfg.temperature, top_p=cfg.top_p
            )
            torch.manual_seed(cfg.seed)  # the same command on the same machine samples the same candidates
        return cls(
            spec=spec,
            model=lm,
            tokenizer=tokenizer,
            template=template,
            generation_config=generation_config,
            precision=precision,
            quant=cfg.quant,
            device=device,
            batch_size=fixed or size,
            auto_batch=fixed is None,
            notes=notes,
            samples=cfg.candidates,
            seed=cfg.seed,
        )

    # -- the Backend interface ---------------------------------------------------------------
    def prepare(self, item: Item) -> list[int]:
        ids, _ = encode(self.template, self.tokenizer, item.ddl, item.question)
        return ids

    def cost(self, prepared: list[int]) -> int:
        return len(prepared)

    def generate(self, prepared: list[list[int]]) -> list[Generation]:
        """Generate in chunks of `batch_size`; with auto, halve it on CUDA out-of-memory."""
        import torch

        out: list[Generation] = []
        start = 0
        while start < len(prepared):
            chunk = prepared[start : start + self.batch_size]
            try:
                generations = self._generate_padded(chunk)
            except (torch.OutOfMemoryError, RuntimeError) as error:
                if not _is_oom(error):
                    raise
                if not self.auto_batch or self.batch_size == 1:
                    raise T2SError(
                        f"out of GPU memory at batch size {self.batch_size}",
                        hint="lower --batch-size, --max-new-tokens, or use --quant 4bit",
                    ) from None
                torch.cuda.empty_cache()
                self.batch_size = max(1, self.batch_size // 2)
                continue
            out.extend(generations)
            start += len(chunk)
        return out

    def _generate_padded(self, batch: list[list[int]]) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=self.device)
        attention = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device
        )
        stop = StoppingCriteriaList([TailStop(self.tokenizer, self.template.stop, width)])
        recorder = None
        if self.samples > 1:
            from text2sql_cli.inference.sampling import token_logprobs

            eos = self.generation_config.eos_token_id
            recorder = token_logprobs(eos if isinstance(eos, list) else [eos], self.tokenizer.pad_token_id)
        # Room for every new token (+1: shared_prefill leaves the last prompt token to generate)
        reserve = self.generation_config.max_new_tokens + 1
        if recorder is None:
            from text2sql_cli.inference.kvcache import reserved_cache

            inputs = {"input_ids": input_ids, "attention_mask": attention}
            inputs["cache"] = reserved_cache(self.model, reserve)
        else:
            from text2sql_cli.inference.sampling import shared_prefill

            inputs = shared_prefill(self.model, input_ids, attention, self.samples, reserve)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                generation_config=self.generation_config,
                stopping_criteria=stop,
                logits_processor=LogitsProcessorList([recorder] if recorder else []),
            )
        texts = self.tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        if recorder is None:
            return [Generation(raw=t) for t in texts]
        # shared_prefill keeps a prompt's N samples next to each other
        n, lps = self.samples, recorder.finish(output[:, width:])
        return [
            Generation(
                raw=texts[i * n],
                candidates=tuple(texts[i * n : i * n + n]),
                logprobs=tuple(lps[i * n : i * n + n]),
            )
            for i in range(len(batch))
        ]

    def provenance(self) -> dict[str, Any]:
        from importlib.metadata import version

        g = self.generation_config
        return {
            "backend": "hf",
            "model": self.spec.given,
            "weights": self.spec.weights,
            "adapter": self.spec.adapter,
            "adapter_sha256": adapter_sha256(self.spec.adapter) if self.spec.adapter else None,
            "template": {k: v for k, v in self.template.to_dict().items() if k != "description"},
            "precision": self.precision,
            "quant": None if self.quant == "none" else "4bit-nf4",
            "generation": {
                "do_sample": bool(g.do_sample),
                "num_beams": 1,
                **(
                    {
                        "temperature": g.temperature,
                        "top_p": g.top_p,
                        "top_k": g.top_k or None,  # None: no top-k cut (0 in transformers' words)
                        "candidates": self.samples,
                        "seed": self.seed,
                    }
                    if self.samples > 1
                    else {}
                ),
                "max_new_tokens": g.max_new_tokens,
                "stop": list(self.template.stop),
                "eos_token_id": g.eos_token_id,
                "repetition_penalty": g.repetition_penalty,
            },
            "device": str(self.device),
            "versions": {lib: version(lib) for lib in ("torch", "transformers", "peft")},
        }


def _load_tokenizer(spec: ModelSpec, notes: list[str]):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.tokenizer_from)
    except Exception as err:  # transformers raises OSError, ValueError, ... ; the message matters
        raise ModelLoadError(f"cannot load the tokenizer from {spec.tokenizer_from}: {err}") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ModelLoadError(f"{spec.tokenizer_from}: the tokenizer has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
        notes.append("the tokenizer has no pad token: padding with EOS (left side, masked)")
    return tokenizer


def _load_model(spec: ModelSpec, quant: str, dtype, device):
    from transformers import AutoModelForCausalLM

    # Straight onto this rank's device: under accelerate launch, loading to CPU first would hold
    # one full copy of the model in host RAM per process.
    kwargs: dict[str, Any] = {"dtype": dtype, "device_map": {"": device}}
    if quant == "4bit":
        from transformers import BitsAndBytesConfig

        # NF4 like t2s training's QLoRA (the book's inference used the FP4 default).
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(spec.weights, **kwargs)
    except Exception as err:
        raise ModelLoadError(
            f"cannot load model {spec.weights}: {type(err).__name__}: {err}",
            hint="check the path or hub id (offline machines need a local copy)",
        ) from None
    if spec.adapter:
        model = _attach_adapter(model, spec.adapter, merge=quant == "none")
    if quant == "none":
        model.to(device)
    model.eval()
    return model


def _attach_adapter(model, adapter_dir: str, *, merge: bool):
    """Load a LoRA adapter; any sign that its weights did not all land is an error."""
    from peft import PeftModel

    if not has_adapter_weights(adapter_dir):
        raise ModelLoadError(
            f"{adapter_dir}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})",
            hint="was training interrupted before saving?",
        )
    check_adapter_weights(adapter_dir)  # a damaged file, not a base/adapter mismatch
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            peft_model = PeftModel.from_pretrained(model, adapter_dir)
    except Exception as err:
        raise ModelLoadError(
            f"cannot load the adapter in {adapter_dir}: {type(err).__name__}: {err}",
            hint="is --base the model it was trained on?",
        ) from None
    missing = [str(w.message) for w in caught if "missing adapter keys" in str(w.message)]
    if missing:
        raise ModelLoadError(
            f"the adapter in {adapter_dir} did not load completely: {missing[0][:300]}",
            hint="is --base the model it was trained on?",
        )
    # Merging removes the LoRA detour from every forward pass; exact up to float rounding.
    return peft_model.merge_and_unload() if merge else peft_model


def _is_oom(error: BaseException) -> bool:
    """torch's OutOfMemoryError, or the plain RuntimeError some cuBLAS/bitsandbytes kernels raise."""
    import torch

    text = str(error)
    return (
        isinstance(error, torch.OutOfMemoryError) or "out of memory" in text.lower() or "ALLOC_FAILED" in text
    )


def _greedy_config(model, tokenizer, max_new_tokens: int):
    """The model's own generation config (EOS ids, repetition penalty), made greedy."""
    config = copy.deepcopy(model.generation_config)
    config.do_sample = False
    config.num_beams = 1
    for name in ("temperature", "top_p", "top_k", "typical_p", "min_p"):
        if hasattr(config, name):
            setattr(config, name, None)
    config.max_new_tokens = max_new_tokens
    config.max_length = None
    config.pad_token_id = tokenizer.pad_token_id
    if config.eos_token_id is None:
        config.eos_token_id = tokenizer.eos_token_id
    return config
