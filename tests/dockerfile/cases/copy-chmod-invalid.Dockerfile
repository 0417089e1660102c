FROM scratch
COPY --chmod=8777 a b
