FROM scratch
RUN ["sh", "-c", "cat <<EOF"]
ENV A=1
