"""A transformers DynamicCache that appends in place instead of copying the whole cache every step.

    reserved_cache(model, reserve) -> DynamicCache   pass as `generate(..., cache=...)`

transformers' DynamicLayer appends each new token's keys and values with `torch.cat`, which
copies the whole cache (every row, every earlier position) on every decoding step: O(length^2)
memory traffic, and the largest single cost of sampling 8 candidates per prompt on a CPU (256 rows
x a few hundred prompt tokens, measured in benchmarks/RESULTS.md). Here each full-attention layer
keeps its keys and values in a buffer with `reserve` free positions and writes a new token into
it; `keys`/`values` are views of the filled part, so attention reads the same numbers in the same
shape as with torch.cat (a test checks the generations are identical). Sliding-window and other
layer kinds are left as transformers builds them.
"""

from __future__ import annotations

from typing import Any


def reserved_cache(model: Any, reserve: int) -> Any:
    """A DynamicCache for `model` whose full-attention layers have room for `reserve` more tokens."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=model.config)
    layer_cls = _reserved_layer_class()
    cache.layers = [layer_cls(reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


_CLASS = None


def _reserved_layer_class():
    """Defined on first use, so importing this module loads no transformers."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    from transformers.cache_utils import DynamicLayer

    class ReservedLayer(DynamicLayer):
        def __init__(self, reserve: int):
            super().__init__()
            self.reserve = max(1, reserve)
            self._buffers = None  # (keys, values), each [batch, heads, capacity, head_dim]

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            old = self.get_seq_length()
            new = old + key_states.shape[-2]
            if not self._owns_views() or new > self._buffers[0].shape[-2]:
                self._rebuffer(key_states, value_states, old, new)
            k, v = self._buffers
            k[..., old:new, :] = key_states
            v[..., old:new, :] = value_states
            self.keys, self.values = k[..., :new, :], v[..., :new, :]
            return self.keys, self.values

        def _owns_views(self) -> bool:
            """False once anything replaced keys/values (repeat_interleave, crop, select, reorder)."""
            if self._buffers is None or self.keys is None or self.keys.numel() == 0:
                return False
            k, v = self._buffers
            return (
                self.keys.data_ptr() == k.data_ptr()
                and self.values.data_ptr() == v.data_ptr()
                and self.keys.shape[:2] == k.shape[:2]
                and self.keys.stride() == k.stride()
            )

        def _rebuffer(self, key_states, value_states, old: int, new: int) -> None:
            """Fresh buffers with room for `reserve` more positions after `new`, holding the first `old`."""
            batch, heads, _, dim = key_states.shape
            shape = (batch, heads, new + self.reserve, dim)
            k = key_states.new_empty(shape)
            v = value_states.new_empty((batch, heads, new + self.reserve, value_states.shape[-1]))
            if old:
                k[..., :old, :] = self.keys
                v[..., :old, :] = self.values
            self._buffers = (k, v)

        def batch_repeat_interleave(self, repeats: int) -> None:
            """Each row `repeats` times (shared_prefill), into buffers that keep the free room."""
            length = self.get_seq_length()
            if length == 0:
                return
            repeated = []
            for filled in (self.keys, self.values):
                batch, heads, _, dim = filled.shape
                buffer = filled.new_empty((batch * repeats, heads, length + self.reserve, dim))
                buffer.view(batch, repeats, heads, -1, dim)[..., :length, :] = filled[:, None]
                repeated.append(buffer)
            self._buffers = tuple(repeated)
            self.keys, self.values = (b[..., :length, :] for b in self._buffers)

        def reset(self) -> None:
            self._buffers = None
            super().reset()

    _CLASS = ReservedLayer
    return _CLASS
