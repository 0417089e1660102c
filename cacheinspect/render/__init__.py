"""Pure formatters: a report dict in, a ``str`` out (tables, markdown, JSON, DOT, Mermaid, annotations)."""
