"""Use test-time compute as one step of an LCEL chain.

``as_runnable`` turns a strategy into a Runnable that takes a string or messages and returns the
chosen AIMessage, so it composes like a chat model: ``prompt | ttc | StrOutputParser()``.
``batch`` answers several inputs, ``max_concurrency`` caps how many run at once, and the tags
and callbacks in the config reach every model call.

Each reply is marked right or wrong against the sum: the embedded 270M base model often gets
these wrong, and a vote of a few samples only sometimes fixes that (see the README's first
command for a question where it does); with a real model behind ``as_runnable`` they come out
right.

Run it (about 20 s on two CPU cores)::

    python examples/lcel_chain.py
"""

from __future__ import annotations

import os

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langgraph_ttc import Majority, as_runnable
from langgraph_ttc.parsing import extract_answer

N = int(os.environ.get("TTC_N", "2"))  # samples per question
MAX_TOKENS = int(os.environ.get("TTC_MAX_TOKENS", "32"))

prompt = ChatPromptTemplate.from_messages([("human", "What is {a} + {b}?")])
ttc = as_runnable("local", Majority(n=N, max_tokens=MAX_TOKENS))

chain = prompt | ttc | StrOutputParser()


def main() -> None:
    # The runnable alone: a str in, the chosen AIMessage (with the vote's metadata) out.
    message = ttc.invoke("What is 6 + 6?")
    print(f"invoke: {message.text} {message.response_metadata['ttc']} [{mark(message.text, 12)}]")

    # In a chain: a dict in, a str out; batch runs at most max_concurrency inputs at once.
    questions = [{"a": 2, "b": 3}, {"a": 10, "b": 5}, {"a": 7, "b": 8}]
    replies = chain.batch(questions, config={"max_concurrency": 2, "tags": ["lcel-example"]})
    marks = [mark(r, q["a"] + q["b"]) for q, r in zip(questions, replies, strict=True)]
    for question, reply, verdict in zip(questions, replies, marks, strict=True):
        print(f"batch: {question['a']} + {question['b']} -> {reply} [{verdict}]")
    print(f"right: {marks.count('right')} of {len(marks)} (each the vote of {N} samples)")


def mark(reply: str, total: int) -> str:
    """``right`` when the reply's final answer is the sum, else ``wrong``."""
    return "right" if extract_answer(reply) == str(total) else "wrong"


if __name__ == "__main__":
    main()
