"""Background jobs on the durable queue (the ``jobs`` table): the generic runner
(:mod:`.queue`), the jobs that wait for arXiv — pending submissions and indexing requests
(:mod:`.papers`) — and the thread that runs them in ``paperwire serve`` and ``paperwire
worker`` (:mod:`.worker`)."""

from __future__ import annotations

from .queue import Handler, QueueRunner, StepStats

__all__ = ["Handler", "QueueRunner", "StepStats"]
