FROM scratch
RUN echo a\\
RUN echo b
