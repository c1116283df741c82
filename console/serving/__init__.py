"""Serving checks: ask a model a question and put load on it through the API server's service proxy.

- :mod:`.client`: one OpenAI-compatible request (chat, streamed) through ``services/NAME:PORT/proxy``, timed
  (TTFT, latency, tokens) over the console's own kube transport and credentials.
- :mod:`.loadtest`: the load generator — open loop at a fixed QPS (scheduled send times) or closed loop at a
  fixed concurrency — and the ``--find-max`` ramp.
- :mod:`.stats`: percentiles, the per-second series and the comparison of two saved results.

A domain package: no UI, CLI, wiring or sandbox imports.
"""
