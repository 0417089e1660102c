FROM scratch
RUN echo a \
# a comment
  # indented comment
    b
