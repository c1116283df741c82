"""The guided first deployment (``llmctl deploy --guided``, ``D``, ``:deploy-new``)."""
