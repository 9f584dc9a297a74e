"""t2s: build Text-to-SQL small LLMs. Importing this package loads no heavy library."""

__version__ = "0.1.0"
