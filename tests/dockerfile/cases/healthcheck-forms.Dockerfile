FROM scratch
HEALTHCHECK --interval=30s --retries=3 CMD ["curl", "-f", "http://x"]
HEALTHCHECK NONE
