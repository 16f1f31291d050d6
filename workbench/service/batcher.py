"""Dynamic batching: requests that arrive while the model is busy are scored together.

A model call has a fixed cost (pandas, scikit-learn's checks) far above the cost of one more
product, so eight concurrent one-product requests are answered much sooner as one batch of
eight than as eight calls in a row. Nothing waits on purpose: an idle service scores a request
at once; under load, the requests gathered during one call form the next call. Scoring runs in
a worker thread, so the event loop keeps reading and answering requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from starlette.concurrency import run_in_threadpool

from workbench.runs.predictor import Predictor, cleaned_text


class MicroBatcher:
    """``await batcher.predict(predictor, products, top_k, rule)`` -> ``(answers, cleaned inputs)``;
    requests are scored together when they share the predictor and the decision rule."""

    def __init__(self, max_products: int = 2_000):
        self.max_products = int(max_products)
        self._queue: deque = deque()
        self._running = False
        self.calls = 0

    async def predict(self, predictor: Predictor, products: list[dict[str, Any]],
                      top_k: int, rule: str = "argmax") -> tuple[list[dict], list[dict]]:
        """Score ``products`` (raw, as validated) in the next batch of their predictor and rule."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((predictor, products, top_k, rule, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    def _take(self) -> list[tuple]:
        first = self._queue.popleft()
        items, size = [first], len(first[1])
        while (self._queue and self._queue[0][0] is first[0] and self._queue[0][3] == first[3]
               and size + len(self._queue[0][1]) <= self.max_products):
            item = self._queue.popleft()
            items.append(item)
            size += len(item[1])
        return items

    async def _drain(self) -> None:
        try:
            while self._queue:
                items = self._take()
                predictor, rule = items[0][0], items[0][3]
                products = [p for item in items for p in item[1]]
                try:
                    answers, cleaned = await run_in_threadpool(_score, predictor, products,
                                                               max(item[2] for item in items), rule)
                except Exception as exc:  # every request of the batch learns it failed
                    for item in items:
                        if not item[4].done():
                            item[4].set_exception(exc)
                    continue
                self.calls += 1
                start = 0
                for _, chunk, top_k, _, future in items:
                    end = start + len(chunk)
                    mine = [{**a, "top_k": a["top_k"][:top_k]} for a in answers[start:end]]
                    if not future.done():
                        future.set_result((mine, cleaned[start:end]))
                    start = end
        finally:
            self._running = False


def _score(predictor: Predictor, products: list[dict], top_k: int,
           rule: str = "argmax") -> tuple[list[dict], list[dict]]:
    frame = Predictor.frame(products)
    answers = predictor.predict(products, top_k, frame, decision=rule)
    return answers, cleaned_text(frame)

