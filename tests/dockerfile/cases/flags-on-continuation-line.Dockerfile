FROM scratch
COPY \
  --link \
  --chmod=0644 a /b
