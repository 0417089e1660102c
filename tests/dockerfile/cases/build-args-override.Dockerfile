ARG V=default
FROM scratch
ARG V
ARG W=w
ARG UNSET
ENV V=$V W=$W U=${UNSET-none}
