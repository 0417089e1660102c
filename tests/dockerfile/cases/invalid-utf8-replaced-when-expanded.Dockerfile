FROM scratch
ENV A=café
RUN echo café
