FROM scratch
COPY https://example.com/x /x
