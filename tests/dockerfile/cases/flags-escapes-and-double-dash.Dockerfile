FROM scratch
COPY --chown=a\ b -- --chmod=755 /x
