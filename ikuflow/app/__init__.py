"""The use cases: the only way the CLI and the web read or change anything.

One module per family (documents, queries, scheduling, directory, outbox); each write is one
transaction through ``ikuflow.store``. The adapters (``ikuflow.cli``, and the web to come)
parse their input, call one use case and present its result; they hold no SQL and no rules.
"""
