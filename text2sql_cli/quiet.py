"""Silence known-harmless library noise during t2s' own model work, and nothing else.

Each filter names one message from one source and lives only inside `quiet_known_noise()`: no
global filters, nothing at import time. Errors, and warnings not listed here, still show.

Why not simply avoid importing bitsandbytes without --quant: `import peft` imports it whenever it
is installed (peft/helpers.py), and get_peft_model imports peft's bnb layers too. Blocking that
import would poison peft's lru-cached availability checks for the rest of the process, so the one
message is filtered instead.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# bitsandbytes (CPU backend, at import) tries an optional CPU 4-bit matmul kernel from the
# `kernels` package. t2s never runs 4-bit on CPU (--quant needs CUDA), so the kernel is never used.
BNB_LOGGER = "bitsandbytes.backends.cpu.ops"
BNB_KERNEL_MESSAGE = "Failed to load CPU gemm_4bit_forward from kernels-community"
# peft 0.21 reads model.is_gradient_checkpointing, which transformers 5 deprecates; we set the
# new activation_checkpointing argument ourselves, so there is nothing for the user to change.
GC_DEPRECATION = r"`is_gradient_checkpointing` is deprecated"


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


@contextmanager
def quiet_known_noise() -> Iterator[None]:
    """Inside: no bitsandbytes kernel notice, no is_gradient_checkpointing FutureWarning, and no
    transformers "Loading weights" / "Writing model shards" bars (t2s shows its own progress; those
    bars finish in well under a second for the models here and would break up the rich display).
    Hub download bars stay on: a multi-GB download is long work worth watching."""
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    bnb_logger = logging.getLogger(BNB_LOGGER)
    drop = _DropMessage(BNB_KERNEL_MESSAGE)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hub_bars_were_off = hub_utils.are_progress_bars_disabled()
    bnb_logger.addFilter(drop)
    hf_logging.disable_progress_bar()  # also turns hub bars off; put those back as they were
    if not hub_bars_were_off:
        hub_utils.enable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=GC_DEPRECATION, category=FutureWarning)
            yield
    finally:
        bnb_logger.removeFilter(drop)
        if bars_were_on:
            hf_logging.enable_progress_bar()
            if hub_bars_were_off:
                hub_utils.disable_progress_bars()
