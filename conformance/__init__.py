"""conformance: a contract-conformance test suite for chat-completions APIs."""

__version__ = "0.1.0"
