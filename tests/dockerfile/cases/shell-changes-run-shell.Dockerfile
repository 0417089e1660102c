FROM scratch
SHELL ["/bin/bash", "-eo", "pipefail", "-c"]
RUN echo $HOME
