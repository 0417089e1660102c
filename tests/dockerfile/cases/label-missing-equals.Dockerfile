FROM scratch
LABEL a=1 b
